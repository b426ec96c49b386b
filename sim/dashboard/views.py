"""The dashboard's views: plotly figures (values on hover) and tables of a paired run.

Every function takes a :class:`~sim.dashboard.runner.PairResult` (or one ensemble) and
returns a figure or a data frame; nothing here runs the model. A figure is a plain
plotly figure dict (``{"data": [...], "layout": {...}}``) holding only JSON values, built
in one go without plotly's validation (which took about a second per figure): the page
sends it as JSON text to plotly.js, and :func:`to_json` makes that text. Colours are
those of the PNG figures (:func:`sim.report.style.colour_map` on the scenario's
vocabulary, :data:`sim.vocab.CHANNEL_STYLE` for the channels,
:data:`sim.vocab.COMMODITY_COLOURS` for the route flows). Bands are the 5-95% quantiles
over the replications (a 90% band), medians are lines; the legend and titles say so.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.output import quarter_start
from sim.vocab import CHANNEL_STYLE, CHANNELS, COMMODITY_COLOURS

if TYPE_CHECKING:
    from sim.dashboard.runner import PairResult
    from sim.engine.ensemble import EnsembleResult

#: Quantiles of every band (5% and 95%: a 90% band over replications).
BAND = (0.05, 0.95)
#: Columns of the facet grids.
NCOLS = 3
#: Decimals kept of a plotted value (in the unit shown: %, pp, USD bn).
DECIMALS = 4
#: plotly's bar pattern for each hatch of :data:`sim.vocab.CHANNEL_STYLE` (plotly has no "o").
PATTERN = {"": "", "/": "/", ".": ".", "x": "x", "\\": "\\", "o": "+"}

Figure = dict[str, Any]


def colour_map(codes: list[str], vocab: Any) -> dict[str, str]:
    """:func:`sim.report.style.colour_map` (imported on first use: it imports matplotlib)."""
    from sim.report.style import colour_map as style_colours  # noqa: PLC0415

    return style_colours(codes, vocab)


def metric(res: EnsembleResult, name: str) -> tuple[np.ndarray, list[str], list[str]]:
    """``(values (R, T, countries, partners), countries, partners)`` in vocabulary order."""
    from sim.report.style import ordered  # noqa: PLC0415 - matplotlib on first use

    arr, countries, partners = res.metric_array(name)
    vocab = res.scenario.vocab
    cs = ordered(countries, vocab.states)
    ps = (
        ordered(partners, list(dict.fromkeys([*vocab.influencers, *vocab.partners])))
        if partners != ("",)
        else [""]
    )
    ci = [countries.index(c) for c in cs]
    pi = [partners.index(p) for p in ps]
    return arr[:, :, ci][:, :, :, pi], cs, ps


def dates(res: EnsembleResult) -> list[str]:
    """First day of each simulated quarter, ISO dates."""
    start = res.scenario.start_quarter
    return [quarter_start(start + t).strftime("%Y-%m-%d") for t in range(res.layout.steps)]


def values(arr: np.ndarray) -> list[float | None]:
    """``arr`` (1-D) as JSON numbers, rounded to :data:`DECIMALS`; NaN and inf as null."""
    out = np.round(np.asarray(arr, dtype=float), DECIMALS)
    return [v if np.isfinite(v) else None for v in out.tolist()]


def to_json(fig: Figure | None) -> str | None:
    """The figure as JSON text (None stays None)."""
    return None if fig is None else json.dumps(fig, separators=(",", ":"), allow_nan=False)


def _rgba(colour: str, alpha: float) -> str:
    colour = colour.lstrip("#")
    r, g, b = (int(colour[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _axis(k: int) -> str:
    """Plotly's suffix of panel ``k``'s axes ("" for the first, then "2", "3", ...)."""
    return "" if k == 0 else str(k + 1)


def quarter_label(res: EnsembleResult, step: int) -> str:
    """The quarter of ``step`` (negative: from the end) as ``2040Q4``."""
    day = dates(res)[step]
    return f"{day[:4]}Q{(int(day[5:7]) - 1) // 3 + 1}"


def grid(titles: list[str], title: str, *, share_x: bool = True, gap_px: int = 64) -> Figure:
    """An empty figure with one panel per title, :data:`NCOLS` a row, titles above.

    ``gap_px``: room between rows for the tick labels and the next row's titles.
    """
    rows = -(-len(titles) // NCOLS)
    row_px = 216 + gap_px
    layout: dict[str, Any] = {
        "title": {"text": title, "font": {"size": 14}},
        "height": row_px * rows + 80,
        "hovermode": "x unified",
        "margin": {"t": 80, "l": 50, "r": 20, "b": 40},
        "legend": {"orientation": "h", "y": -0.05, "yanchor": "top"},
        "annotations": [],
    }
    gap_x, gap_y = 0.04, gap_px / (row_px * rows)
    for k, text in enumerate(titles):
        row, col = divmod(k, NCOLS)
        x0, x1 = col / NCOLS + gap_x / 2, (col + 1) / NCOLS - gap_x / 2
        y1, y0 = 1 - row / rows - gap_y / 2, 1 - (row + 1) / rows + gap_y / 2
        s = _axis(k)
        layout[f"xaxis{s}"] = {"domain": [x0, x1], "anchor": f"y{s}"}
        if share_x and k:
            layout[f"xaxis{s}"]["matches"] = "x"
        layout[f"yaxis{s}"] = {"domain": [y0, y1], "anchor": f"x{s}"}
        layout["annotations"].append(
            {
                "text": f"<b>{text}</b>",
                "x": (x0 + x1) / 2,
                "y": y1,
                "xref": "paper",
                "yref": "paper",
                "xanchor": "center",
                "yanchor": "bottom",
                "showarrow": False,
            }
        )
    return {"data": [], "layout": layout}


def band_traces(x: list[str], q: np.ndarray, k: int, style: dict[str, Any]) -> list[Figure]:
    """5-95% band (one filled outline) and median line on panel ``k``.

    ``q`` holds (lo, median, hi) rows (3, T); ``style``: ``colour``, ``name``, ``legend``
    (show in the legend) and optionally ``dash``.
    """
    lo, med, hi = (values(row) for row in q)
    colour, name, s = style["colour"], style["name"], _axis(k)
    common = {"type": "scatter", "mode": "lines", "xaxis": f"x{s}", "yaxis": f"y{s}"}
    return [
        {
            **common,
            "x": x + x[::-1],
            "y": hi + lo[::-1],
            "fill": "toself",
            "fillcolor": _rgba(colour, 0.15),
            "line": {"width": 0},
            "name": f"{name} 5-95%",
            "legendgroup": name,
            "showlegend": False,
            "hoverinfo": "skip",
        },
        {
            **common,
            "x": x,
            "y": med,
            "line": {"color": colour, "dash": style.get("dash", "solid"), "width": 1.8},
            "name": name,
            "legendgroup": name,
            "showlegend": style["legend"],
            "customdata": [list(pair) for pair in zip(lo, hi, strict=True)],
            "hovertemplate": f"{name}: %{{y:.2f}} (5-95%: %{{customdata[0]:.2f}} to "
            "%{customdata[1]:.2f})<extra></extra>",
        },
    ]


def quantiles(arr: np.ndarray) -> np.ndarray:
    """5%, median and 95% over the first axis (replications): shape (3, *rest)."""
    return np.quantile(arr, [BAND[0], 0.5, BAND[1]], axis=0)


def band_figure(
    res: EnsembleResult, name: str, title: str, scale: float = 1.0, data: np.ndarray | None = None
) -> Figure:
    """One panel per state: median and 5-95% band of each partner of ``name``."""
    arr, states, partners = metric(res, name)
    q = quantiles((arr if data is None else data) * scale)
    colours = colour_map([p or s for p in partners for s in states], res.scenario.vocab)
    fig = grid(states, title)
    x = dates(res)
    for si, state in enumerate(states):
        for pi, partner in enumerate(partners):
            code = partner or state
            style = {"colour": colours[code], "name": code, "legend": si == 0 or not partner}
            fig["data"] += band_traces(x, q[:, :, si, pi], si, style)
    return fig


def influence_figure(pair: PairResult) -> Figure:
    """Influence shares of the edited scenario, per state, in %, with 5-95% bands."""
    n = len(pair.edited.replication_ids)
    title = f"Influence share, % (median; band: 5-95% over {n} replications)"
    return band_figure(pair.edited, "influence_share", title, scale=100.0)


def difference_figure(pair: PairResult) -> Figure:
    """Paired differences edited minus base of the influence shares, in pp."""
    base, _, _ = metric(pair.base, "influence_share")
    edited, _, _ = metric(pair.edited, "influence_share")
    n = len(pair.edited.replication_ids)
    title = (
        f"Paired difference edited − base, influence share in pp (median; band: 5-95% of "
        f"the {n} paired differences, common random numbers)"
    )
    return band_figure(pair.edited, "influence_share", title, 100.0, edited - base)


def difference_table(pair: PairResult, step: int = -1) -> pd.DataFrame:
    """Paired differences of the influence shares at one quarter, in pp.

    Returns:
        One row per (state, influencer): ``median``, ``q05``, ``q95`` of the paired
        differences and ``base`` and ``edited`` medians, all in percentage points.
    """
    base, states, holders = metric(pair.base, "influence_share")
    edited, _, _ = metric(pair.edited, "influence_share")
    lo, med, hi = quantiles((edited - base)[:, step] * 100.0)
    base_med = np.median(base[:, step], axis=0) * 100.0
    edited_med = np.median(edited[:, step], axis=0) * 100.0
    rows = [
        {
            "state": s,
            "influencer": h,
            "median_pp": med[i, j],
            "q05_pp": lo[i, j],
            "q95_pp": hi[i, j],
            "base_pct": base_med[i, j],
            "edited_pct": edited_med[i, j],
        }
        for i, s in enumerate(states)
        for j, h in enumerate(holders)
    ]
    return pd.DataFrame(rows)


def channel_figure(pair: PairResult, step: int = -1) -> Figure:
    """Median channel parts of each power's influence share at one quarter, stacked.

    Bars take the power's colour; a channel is told by its opacity and pattern, as in
    the PNG channel figure.
    """
    res = pair.edited
    names = [c for c in CHANNELS if f"influence_{c}" in res.layout.metrics]
    quarter = quarter_label(res, step)
    _, states, holders = metric(res, "influence_share")
    colours = colour_map(holders, res.scenario.vocab)
    fig = grid(states, f"Channels of the influence share at {quarter}, % (medians)", share_x=False)
    for channel in names:
        arr, _, _ = metric(res, f"influence_{channel}")
        med = np.median(arr[:, step], axis=0) * 100.0
        alpha, hatch = CHANNEL_STYLE.get(channel, (1.0, ""))
        for si in range(len(states)):
            s = _axis(si)
            fig["data"].append(
                {
                    "type": "bar",
                    "x": holders,
                    "y": values(med[si]),
                    "name": channel,
                    "legendgroup": channel,
                    "showlegend": si == 0,
                    "marker": {
                        "color": [_rgba(colours[h], alpha) for h in holders],
                        "line": {"color": [colours[h] for h in holders], "width": 0.8},
                        "pattern": {"shape": PATTERN.get(hatch[:1], "")},
                    },
                    "hovertemplate": f"{channel}: %{{y:.2f}}%<extra>%{{x}}</extra>",
                    "xaxis": f"x{s}",
                    "yaxis": f"y{s}",
                }
            )
    fig["layout"].update(barmode="relative", hovermode="closest")
    return fig


def trade_figure(pair: PairResult) -> Figure:
    """Trade shares of the edited scenario, per state, in %, with 5-95% bands."""
    return band_figure(
        pair.edited, "trade_share", "Trade shares, % (median; band: 5-95%)", scale=100.0
    )


def route_flow_figure(pair: PairResult, step: int = -1) -> Figure | None:
    """Median route flows per commodity at one quarter, base and edited (None if absent)."""
    names = [m for m in pair.edited.layout.metrics if m.startswith("route_flow_")]
    if not names:
        return None
    commodities = [m.removeprefix("route_flow_") for m in names]
    quarter = quarter_label(pair.edited, step)
    title = f"Route flows at {quarter}, per year in the commodity's units (medians; pale: base)"
    fig = grid(commodities, title, share_x=False, gap_px=130)
    for k, (name, commodity) in enumerate(zip(names, commodities, strict=True)):
        colour = COMMODITY_COLOURS.get(commodity, "#777777")
        for label, res, alpha in (("base", pair.base, 0.35), ("edited", pair.edited, 1.0)):
            arr, _, routes = metric(res, name)
            med = np.median(arr[:, step].sum(axis=1), axis=0)
            s = _axis(k)
            fig["data"].append(
                {
                    "type": "bar",
                    "x": routes,
                    "y": values(med),
                    "name": label,
                    "legendgroup": label,
                    "showlegend": k == 0,
                    "marker": {"color": _rgba(colour, alpha), "line": {"color": colour}},
                    "hovertemplate": f"{commodity} {label}: %{{y:.4g}}<extra>%{{x}}</extra>",
                    "xaxis": f"x{s}",
                    "yaxis": f"y{s}",
                }
            )
    fig["layout"].update(barmode="group", hovermode="closest")
    return fig


def economy_figure(pair: PairResult, name: str) -> Figure:
    """GDP or export revenue per state: edited (solid) and base (dashed), with bands."""
    long = {"gdp": "GDP", "export_revenue": "Export revenue"}.get(name, name)
    title = f"{long}, USD bn/yr (median; band: 5-95%; dashed: base)"
    edited, states, _ = metric(pair.edited, name)
    base, _, _ = metric(pair.base, name)
    q_edited, q_base = quantiles(edited[..., 0]), quantiles(base[..., 0])
    colours = colour_map(states, pair.edited.scenario.vocab)
    fig = grid(states, title)
    x = dates(pair.edited)
    for si, state in enumerate(states):
        style = {"colour": colours[state], "name": state, "legend": False}
        fig["data"] += band_traces(x, q_edited[:, :, si], si, style)
        base_style = {**style, "name": f"{state} base", "dash": "dash"}
        fig["data"] += band_traces(x, q_base[:, :, si], si, base_style)
    return fig


def summary_frame(pair: PairResult) -> pd.DataFrame:
    """Median and 5-95% of every recorded value, base and edited (the data download)."""
    frames = []
    for label, res in (("base", pair.base), ("edited", pair.edited)):
        data = res.layout.to_tidy_order(res.raw)
        lo, med, hi = quantiles(data)
        frame = res.layout.labels().assign(scenario=label, q05=lo, median=med, q95=hi)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
