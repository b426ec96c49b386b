"""The dashboard's views: plotly figures (values on hover) and tables of a paired run.

Every function takes a :class:`~sim.dashboard.runner.PairResult` (or one ensemble) and
returns a figure or a data frame; nothing here runs the model. Colours are those of the
PNG figures (:func:`sim.report.style.colour_map` on the scenario's vocabulary). Bands
are the 5-95% quantiles over the replications (a 90% band), medians are lines; the
legend and titles say so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sim.output import quarter_start
from sim.report.style import colour_map, ordered
from sim.vocab import CHANNELS

if TYPE_CHECKING:
    from sim.dashboard.runner import PairResult
    from sim.engine.ensemble import EnsembleResult

#: Quantiles of every band (5% and 95%: a 90% band over replications).
BAND = (0.05, 0.95)
#: Columns of the facet grids.
NCOLS = 3


def metric(res: EnsembleResult, name: str) -> tuple[np.ndarray, list[str], list[str]]:
    """``(values (R, T, countries, partners), countries, partners)`` in vocabulary order."""
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


def dates(res: EnsembleResult) -> pd.DatetimeIndex:
    """First day of each simulated quarter."""
    start = res.scenario.start_quarter
    return pd.DatetimeIndex([quarter_start(start + t) for t in range(res.layout.steps)])


def _rgba(colour: str, alpha: float) -> str:
    colour = colour.lstrip("#")
    r, g, b = (int(colour[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _grid(titles: list[str], title: str) -> go.Figure:
    rows = -(-len(titles) // NCOLS)
    fig = make_subplots(
        rows=rows, cols=NCOLS, subplot_titles=titles, shared_xaxes=True, vertical_spacing=0.08
    )
    fig.update_layout(title=title, height=280 * rows + 80, hovermode="x unified")
    return fig


def _band_traces(
    fig: go.Figure, x: pd.DatetimeIndex, values: np.ndarray, where: tuple[int, int], style: dict
) -> None:
    """Median line and 5-95% band of ``values`` (R, T) on subplot ``where``."""
    lo, med, hi = np.quantile(values, [BAND[0], 0.5, BAND[1]], axis=0)
    colour, name, show = style["colour"], style["name"], style["legend"]
    row, col = where
    common = {"legendgroup": name, "row": row, "col": col}
    fig.add_scatter(
        x=x, y=hi, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip", **common
    )
    fig.add_scatter(
        x=x,
        y=lo,
        mode="lines",
        line={"width": 0},
        fill="tonexty",
        fillcolor=_rgba(colour, 0.15),
        name=f"{name} 5-95%",
        showlegend=False,
        hoverinfo="skip",
        **common,
    )
    fig.add_scatter(
        x=x,
        y=med,
        mode="lines",
        line={"color": colour, "dash": style.get("dash", "solid")},
        name=name,
        showlegend=show,
        customdata=np.stack([lo, hi], axis=-1),
        hovertemplate=f"{name}: %{{y:.2f}} (5-95%: %{{customdata[0]:.2f}} to "
        "%{customdata[1]:.2f})<extra></extra>",
        **common,
    )


def band_figure(
    res: EnsembleResult, name: str, title: str, scale: float = 1.0, values: np.ndarray | None = None
) -> go.Figure:
    """One panel per state: median and 5-95% band of each partner of ``name``."""
    arr, states, partners = metric(res, name)
    arr = (arr if values is None else values) * scale
    colours = colour_map([p or s for p in partners for s in states], res.scenario.vocab)
    fig = _grid(states, title)
    x = dates(res)
    for si, state in enumerate(states):
        where = (si // NCOLS + 1, si % NCOLS + 1)
        for pi, partner in enumerate(partners):
            code = partner or state
            style = {"colour": colours[code], "name": code, "legend": si == 0 or not partner}
            _band_traces(fig, x, arr[:, :, si, pi], where, style)
    return fig


def influence_figure(pair: PairResult) -> go.Figure:
    """Influence shares of the edited scenario, per state, in %, with 5-95% bands."""
    n = len(pair.edited.replication_ids)
    title = f"Influence share, % (median; band: 5-95% over {n} replications)"
    return band_figure(pair.edited, "influence_share", title, scale=100.0)


def difference_figure(pair: PairResult) -> go.Figure:
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
    d = (edited - base)[:, step] * 100.0
    lo, med, hi = np.quantile(d, [BAND[0], 0.5, BAND[1]], axis=0)
    rows = [
        {
            "state": s,
            "influencer": h,
            "median_pp": med[i, j],
            "q05_pp": lo[i, j],
            "q95_pp": hi[i, j],
            "base_pct": np.median(base[:, step, i, j]) * 100.0,
            "edited_pct": np.median(edited[:, step, i, j]) * 100.0,
        }
        for i, s in enumerate(states)
        for j, h in enumerate(holders)
    ]
    return pd.DataFrame(rows)


def channel_figure(pair: PairResult, step: int = -1) -> go.Figure:
    """Median channel parts of each power's influence share at one quarter, stacked."""
    res = pair.edited
    names = [f"influence_{c}" for c in CHANNELS if f"influence_{c}" in res.layout.metrics]
    quarter = dates(res)[step]
    _, states, holders = metric(res, "influence_share")
    fig = _grid(states, f"Channels of the influence share at {quarter:%Y-%m}, % (medians)")
    palette = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]
    for k, name in enumerate(names):
        arr, _, _ = metric(res, name)
        med = np.median(arr[:, step], axis=0) * 100.0
        for si in range(len(states)):
            fig.add_bar(
                x=holders,
                y=med[si],
                name=name.removeprefix("influence_"),
                marker_color=palette[k % len(palette)],
                legendgroup=name,
                showlegend=si == 0,
                row=si // NCOLS + 1,
                col=si % NCOLS + 1,
            )
    fig.update_layout(barmode="stack")
    return fig


def trade_figure(pair: PairResult) -> go.Figure:
    """Trade shares of the edited scenario, per state, in %, with 5-95% bands."""
    return band_figure(
        pair.edited, "trade_share", "Trade shares, % (median; band: 5-95%)", scale=100.0
    )


def route_flow_figure(pair: PairResult, step: int = -1) -> go.Figure | None:
    """Median route flows per commodity at one quarter, base and edited (None if absent)."""
    names = [m for m in pair.edited.layout.metrics if m.startswith("route_flow_")]
    if not names:
        return None
    fig = _grid([m.removeprefix("route_flow_") for m in names], "Route flows (medians)")
    for k, name in enumerate(names):
        for label, res in (("base", pair.base), ("edited", pair.edited)):
            arr, _, routes = metric(res, name)
            med = np.median(arr[:, step].sum(axis=1), axis=0)
            fig.add_bar(
                x=routes,
                y=med,
                name=label,
                showlegend=k == 0,
                row=k // NCOLS + 1,
                col=k % NCOLS + 1,
            )
    return fig


def economy_figure(pair: PairResult, name: str) -> go.Figure:
    """GDP or export revenue per state: edited (solid) and base (dashed), with bands."""
    long = {"gdp": "GDP", "export_revenue": "Export revenue"}.get(name, name)
    title = f"{long}, USD bn/yr (median; band: 5-95%; dashed: base)"
    edited, states, _ = metric(pair.edited, name)
    base, _, _ = metric(pair.base, name)
    colours = colour_map(states, pair.edited.scenario.vocab)
    fig = _grid(states, title)
    x = dates(pair.edited)
    for si, state in enumerate(states):
        where = (si // NCOLS + 1, si % NCOLS + 1)
        style = {"colour": colours[state], "name": state, "legend": False}
        _band_traces(fig, x, edited[:, :, si, 0], where, style)
        base_style = {**style, "name": f"{state} base", "dash": "dash"}
        _band_traces(fig, x, base[:, :, si, 0], where, base_style)
    return fig


def summary_frame(pair: PairResult) -> pd.DataFrame:
    """Median and 5-95% of every recorded value, base and edited (the data download)."""
    frames = []
    for label, res in (("base", pair.base), ("edited", pair.edited)):
        values = res.layout.to_tidy_order(res.raw)
        lo, med, hi = np.quantile(values, [BAND[0], 0.5, BAND[1]], axis=0)
        frame = res.layout.labels().assign(scenario=label, q05=lo, median=med, q95=hi)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
