"""Figures of the studies: scenario comparisons and the hindcast, drawn from their tables.

Each function takes the table a study writes (``influence_bands.csv``,
``at_<metric>.csv``, ``differences_<metric>.csv``, ``hindcast_bands.csv`` and the
reference points), so a saved folder can be redrawn without rerunning anything.
Comparison figures show differences in the unit of their tables: percentage points
for shares, percent of the reference for levels (:func:`sim.output.metric_kind`).
Panels follow the states, powers and partners present in the tables, named and
coloured by a :class:`~sim.vocab.Vocabulary` (see :mod:`sim.report.style`).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullFormatter

from sim.output import metric_kind
from sim.report.style import (
    STUDY_DPI,
    colour_map,
    date_axis,
    figure_and_axes,
    legend_panel,
    mark_bands,
    ordered,
    panel_grid,
    save_png,
    vocab_or_default,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sim.vocab import Vocabulary

#: Line style of each compared scenario, in command-line order.
LINE_STYLES: tuple[Any, ...] = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))
_BAND_ALPHA = 0.12
#: Marker of each compared scenario (after the reference) in the dot-and-whisker figures.
MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def _style(k: int) -> Any:
    return LINE_STYLES[k % len(LINE_STYLES)]


def _holder_handles(holders: Sequence[str], colours: dict[str, str], vocab: Vocabulary) -> list:
    return [Line2D([], [], color=colours[p], linewidth=2.5, label=vocab.name(p)) for p in holders]


def _series(
    table: pd.DataFrame, keys: Sequence[str], *columns: str
) -> Callable[..., list[np.ndarray]]:
    """A lookup of the lines of ``table``: ``series(*key)`` -> dates and ``columns``.

    ``key`` holds one value per column of ``keys`` (a missing one reads ``""``); the
    rows come sorted by date, none for a key the table does not hold. The table is
    grouped once rather than filtered again for every line.
    """
    frame = table.assign(
        **{k: table[k].fillna("") for k in keys}, date=pd.to_datetime(table["date"])
    ).sort_values("date", kind="stable")
    rows = frame.groupby(list(keys), sort=False).indices
    arrays = [frame[c].to_numpy() for c in ("date", *columns)]
    none = np.array([], dtype=np.intp)

    def series(*key: str) -> list[np.ndarray]:
        at = rows.get(key, none)
        return [a[at] for a in arrays]

    return series


def warm_up() -> None:
    """Draw and save a small figure like the comparison's, into memory, and forget it.

    A process's first figure pays for loading the fonts, laying out its first texts
    and importing the PNG writer: a few tenths of a second that a forked drawing
    process (:class:`~sim.engine.executors.Standby`) pays here while it waits.
    """
    dates = np.array(["2025-01-01", "2030-01-01", "2040-10-01"], dtype="datetime64[ns]")
    fig = Figure(figsize=(4.0, 3.0), layout="constrained")
    left, right = panel_grid(fig, 2, ncols=2)
    left.fill_between(dates, [0.0, 1.0, 2.0], [1.0, 2.0, 3.0], alpha=_BAND_ALPHA, linewidth=0)
    left.plot(dates, [0.5, 1.5, 2.5], linestyle=_style(1))
    left.axhline(0.0, color="black", linewidth=0.8)
    left.set_title("Kazakhstan\nscenario − reference", fontsize="medium")
    left.set_ylabel("Influence share (%)")
    left.grid(alpha=0.3)
    date_axis(left, maxticks=6)
    right.plot(1.0, 0.0, marker=MARKERS[0], linestyle="")
    right.set_yticks([0], ["China"])
    right.set_xlabel("pp")
    handles = [Line2D([], [], label="China"), Patch(alpha=0.4, label="paired 5-95%")]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    right.legend(handles=handles, fontsize="small", title="scenario")
    fig.suptitle("Influence share by state (%)\n1000 common replications", fontsize="medium")
    mark_bands(fig, "stochastic noise only")
    save_png(fig, io.BytesIO(), STUDY_DPI)


def plot_influence_comparison(
    bands: pd.DataFrame, *, seed: int, replications: int, vocab: Vocabulary | None = None
) -> Figure:
    """Influence share per state in percent: median lines and 90% bands, a style per scenario.

    Args:
        bands: the ``influence_bands`` table (columns ``scenario, date, state, power,
            share_pct_median, share_pct_q05, share_pct_q95``), scenarios in comparison
            order, the first the reference.
        seed: the common seed (for the title).
        replications: the number of common replications (for the title).
        vocab: Order, names and colours of the codes (default :data:`sim.vocab.DEFAULT`).

    Returns:
        The figure: one panel per state present, plus a legend panel.
    """
    vocab = vocab_or_default(vocab)
    labels = list(dict.fromkeys(bands["scenario"]))
    states = ordered(bands["state"], vocab.states)
    holders = ordered(bands["power"], vocab.influencers)
    colours = colour_map(holders, vocab)
    cols = ("share_pct_median", "share_pct_q05", "share_pct_q95")
    top = float(bands[cols[2]].max()) * 1.05
    fig = Figure(figsize=(13, 7.5), layout="constrained")
    axes = panel_grid(fig, len(states) + 1, ncols=3)
    series = _series(bands, ("state", "scenario", "power"), *cols)
    for s, (ax, state) in enumerate(zip(axes, states, strict=False)):
        for k, label in enumerate(labels):
            for power in holders:
                x, mid, lo, hi = series(state, label, power)
                colour = colours[power]
                ax.fill_between(x, lo, hi, color=colour, alpha=_BAND_ALPHA, linewidth=0)
                ax.plot(x, mid, color=colour, linestyle=_style(k), linewidth=1.6)
        ax.set_title(vocab.name(state))
        ax.set_ylim(0, top)
        ax.grid(alpha=0.3)
        date_axis(ax, maxticks=6)
        if s % 3 == 0:
            ax.set_ylabel("Influence share (%)")
    handles = _holder_handles(holders, colours, vocab) + [
        Line2D([], [], color="black", linestyle=_style(k), label=lab)
        for k, lab in enumerate(labels)
    ]
    legend_panel(axes[-1], handles)
    fig.suptitle(
        f"Influence share by state (%): {' vs '.join(labels)}\n"
        f"{replications} common replications, seed {seed} (median; band 5-95% over "
        "replications)"
    )
    return fig


def unit_text(metric: str, reference: str) -> str:
    """What a difference of ``metric`` is measured in, for axis labels and headings."""
    if metric_kind(metric) == "share":
        return f"{metric} − {reference} (percentage points)"
    return f"{metric}: change vs {reference} (% of {reference})"


def band_text(replications: int, marks: str = "dot: median, bar") -> str:
    """What the marks and bands of a comparison figure carry."""
    return f"{marks}: 5-95% of the paired differences\nover {replications} common replications"


def _keys(table: pd.DataFrame, vocab: Vocabulary) -> tuple[list[str], list[str]]:
    """Countries and partners of a comparison table, in vocabulary order."""
    countries = ordered(table["country"].fillna(""), [*vocab.states, *vocab.powers])
    partners = ordered(table["partner"].fillna(""), vocab.influencers + vocab.markets)
    return countries or [""], partners or [""]


def _draw_dots(
    ax: Axes,
    diffs: pd.DataFrame,
    rows: list[tuple[str, str]],
    colours: dict[str, str],
    group: int,
) -> None:
    """Dots (medians) and whiskers (5-95%) of each scenario on ``rows`` of ``ax``.

    ``group`` rows make one block (a country's partners), separated by thin lines.
    """
    others = list(dict.fromkeys(diffs["scenario"]))
    mid, lo, hi = (c for c in diffs.columns if c.startswith("diff_"))
    step = 0.7 / max(1, len(others))
    for k, label in enumerate(others):
        part = diffs[diffs["scenario"] == label].set_index(["country", "partner"])
        for r, (c, p) in enumerate(rows):
            if (c, p) not in part.index:
                continue
            y = r + (k - (len(others) - 1) / 2) * step
            v = part.loc[(c, p)]
            colour = colours[p or c]
            ax.plot([v[lo], v[hi]], [y, y], color=colour, linewidth=1.4)
            ax.plot(v[mid], y, marker=MARKERS[k % len(MARKERS)], color=colour, linestyle="")
    ax.axvline(0.0, color="black", linewidth=0.8)
    if group > 1:
        for r in range(group, len(rows), group):
            ax.axhline(r - 0.5, color="grey", linewidth=0.5)
    ax.set_yticks(range(len(rows)), [" · ".join(x for x in cell if x) or "-" for cell in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.grid(alpha=0.3, axis="x")


def plot_at_differences(
    table: pd.DataFrame,
    ax: Axes | None = None,
    *,
    replications: int,
    vocab: Vocabulary | None = None,
) -> Figure:
    """Dot-and-whisker of one metric's paired differences to the reference, at a window.

    One row per partner (per country for a metric without partners), one marker shape
    per compared scenario (median) with its 5-95% band, coloured by partner (by
    country), so four scenarios stay readable. Without ``ax``, a metric with countries
    and partners gets one panel per country (a shared x axis); on a given ``ax`` all
    rows are drawn there, grouped by country.

    Args:
        table: the ``at_<metric>.csv`` table (:func:`sim.studies.compare.at_table`).
        ax: Axes to draw on; a new figure is created if omitted.
        replications: the number of common replications (for the label).
        vocab: Order, names and colours of the codes (default :data:`sim.vocab.DEFAULT`).

    Returns:
        The figure.
    """
    vocab = vocab_or_default(vocab)
    metric, at = str(table["metric"].iloc[0]), str(table["at"].iloc[0])
    diffs = table[table["reference"].notna()]
    reference = str(diffs["reference"].iloc[0])
    others = list(dict.fromkeys(diffs["scenario"]))
    countries, partners = _keys(diffs, vocab)
    colours = colour_map(partners if partners != [""] else countries, vocab)
    facets = ax is None and len(countries) > 1 and len(partners) > 1
    title = f"{metric} at {at}: difference to {reference}\n{band_text(replications)}"
    if facets:
        ncols = min(3, len(countries))
        nrows = -(-len(countries) // ncols)
        height = 0.3 * len(partners) * max(1, len(others)) ** 0.5 + 0.6
        fig = Figure(figsize=(4.2 * ncols, height * nrows + 1.3), layout="constrained")
        axes = panel_grid(fig, len(countries), ncols=ncols)
        for panel, country in zip(axes, countries, strict=True):
            _draw_dots(panel, diffs, [(country, p) for p in partners], colours, len(partners))
            panel.set_yticks(range(len(partners)), [vocab.name(p) for p in partners])
            panel.set_title(vocab.name(country))
            panel.set_xlabel("pp" if metric_kind(metric) == "share" else f"% of {reference}")
        target, heading = fig, fig.suptitle
    else:
        rows = [(c, p) for c in countries for p in partners]
        size = (8.0, 1.4 + 0.3 * len(rows) * max(1, len(others)) ** 0.5)
        fig, ax = figure_and_axes(ax, size)
        _draw_dots(ax, diffs, rows, colours, len(partners))
        ax.set_xlabel(unit_text(metric, reference))
        target, heading = ax, ax.set_title
    handles = [
        Line2D([], [], marker=MARKERS[k % len(MARKERS)], color="black", linestyle="", label=lab)
        for k, lab in enumerate(others)
    ]
    if facets:
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
        title = f"{unit_text(metric, reference)} at {at}\n{band_text(replications)}"
    else:
        target.legend(handles=handles, loc="best", fontsize="small", title="scenario")
    heading(title, fontsize="medium")
    return fig


def plot_difference_series(
    diffs: pd.DataFrame,
    *,
    metric: str,
    seed: int,
    replications: int,
    vocab: Vocabulary | None = None,
) -> Figure:
    """Paired differences of one metric to the first scenario over time, per country.

    Median line and 5-95% band of the paired differences per partner (one colour each),
    with the unpaired band as dotted lines to show how much pairing narrows it.

    Args:
        diffs: the ``differences_<metric>.csv`` table
            (:func:`sim.studies.compare.difference_series`).
        metric: the metric (its kind sets the unit on the axis).
        seed: the common seed (for the title).
        replications: the number of common replications (for the title).
        vocab: Order, names and colours of the codes (default :data:`sim.vocab.DEFAULT`).

    Returns:
        The figure: one row per compared scenario, one column per country.
    """
    vocab = vocab_or_default(vocab)
    reference = str(diffs["reference"].iloc[0])
    others = list(dict.fromkeys(diffs["scenario"]))
    countries, partners = _keys(diffs, vocab)
    colours = colour_map(partners if partners != [""] else countries, vocab)
    cols = [c for c in diffs.columns if c.startswith(("diff_", "unpaired_"))]
    fig = Figure(
        figsize=(3.2 * len(countries) + 0.5, 3.0 * len(others) + 1.2), layout="constrained"
    )
    axes = fig.subplots(len(others), len(countries), sharex=True, sharey=True, squeeze=False)
    series = _series(diffs, ("scenario", "country", "partner"), *cols)
    for r, label in enumerate(others):
        for s, country in enumerate(countries):
            ax = axes[r, s]
            ax.axhline(0.0, color="black", linewidth=0.8)
            for partner in partners:
                x, mid, lo, hi, ulo, uhi = series(label, country, partner)
                colour = colours[partner or country]
                ax.fill_between(x, lo, hi, color=colour, alpha=0.2, linewidth=0)
                ax.plot(x, mid, color=colour, linestyle=_style(r + 1), linewidth=1.6)
                for edge in (ulo, uhi):
                    ax.plot(x, edge, color=colour, linestyle=":", linewidth=0.8)
            title = vocab.name(country) if country else metric
            ax.set_title(f"{title}\n{label} − {reference}", fontsize="medium")
            ax.grid(alpha=0.3)
            ax.xaxis.set_tick_params(labelbottom=True)
            date_axis(ax, maxticks=6)
            if s == 0:
                ax.set_ylabel("pp" if metric_kind(metric) == "share" else f"% of {reference}")
    keys = partners if partners != [""] else countries
    handles = [
        *([] if keys == [""] else _holder_handles(keys, colours, vocab)),
        Patch(facecolor="grey", alpha=0.4, label="paired 5-95%"),
        Line2D([], [], color="grey", linestyle=":", label="unpaired 5-95%"),
    ]
    fig.legend(
        handles=handles, loc="outside lower center", ncols=min(8, len(handles)), frameon=False
    )
    fig.suptitle(
        f"{unit_text(metric, reference)}, seed {seed}\n"
        f"{band_text(replications, 'line: median, shaded band')}"
    )
    return fig


#: ``method`` of the reference series' points (filled markers).
DOTS_METHOD = "IMF DOTS, mirror"
#: Marker of a reference point by its ``method`` (:mod:`sim.studies.backtest`).
POINT_MARKERS: dict[str, str] = {
    DOTS_METHOD: "o",
    "national statistics": "^",
    "derived (partner-side or partial figures)": "s",
    "other compiler": "D",
}


def hindcast_caption(band_note: str, horizon_end: int | None, last: int) -> str:
    """The note under a hindcast figure: what the bands carry, where the projection starts."""
    text = f"Bands: 5-95% of replications, carrying {band_note}."
    if horizon_end is not None and horizon_end < last:
        text += (
            f"\nShaded years after {horizon_end}: the run carried on past its scenario "
            "(no dated events, no realised prices or output)."
        )
    return text


def _hindcast_legend(first: int, in_sample: bool) -> list:
    handles = [
        Line2D([], [], color="black", linewidth=2, label=f"model from {first}: median"),
        Line2D([], [], color="black", linewidth=0.8, linestyle=(0, (2, 2)), label="model: mean"),
        Patch(color="grey", alpha=0.3, label="model: 5-95% band"),
        Line2D([], [], color="grey", linewidth=1.2, linestyle=(0, (4, 2)),
               label=f"persistence ({first} held)"),
    ]  # fmt: skip
    if in_sample:
        handles.append(
            Line2D([], [], color="dimgrey", linewidth=1, linestyle=":", label="in-sample run")
        )
    handles += [
        Line2D([], [], marker=marker, color="black", linestyle="", markersize=5,
               markerfacecolor="black" if k == 0 else "white",
               label=method + (" (ref.)" if k == 0 else ""))
        for k, (method, marker) in enumerate(POINT_MARKERS.items())
    ]  # fmt: skip
    return handles


def _draw_model(ax: Axes, s: pd.DataFrame, colour: str, horizon_end: int | None) -> None:
    """Median, mean and band of one partner; years after ``horizon_end`` shaded."""
    ax.fill_between(s["year"], s["p05"], s["p95"], color=colour, alpha=0.25, lw=0)
    ax.plot(s["year"], s["share_pct"], color=colour, linewidth=2)
    if "mean" in s:
        ax.plot(s["year"], s["mean"], color="black", linewidth=0.8, linestyle=(0, (2, 2)))
    if horizon_end is not None and horizon_end < s["year"].max():
        ax.axvspan(horizon_end, s["year"].max() + 0.5, color="grey", alpha=0.1, lw=0)


def _draw_points(ax: Axes, points: pd.DataFrame) -> None:
    """Reference points, marker by ``method`` (an open triangle for another method)."""
    for method, pts in points.groupby("method", sort=False):
        filled = method == DOTS_METHOD
        ax.plot(pts["year"], pts["share_pct"], POINT_MARKERS.get(str(method), "^"),
                color="black", markersize=5 if filled else 6,
                markerfacecolor="black" if filled else "white", linestyle="")  # fmt: skip


def plot_hindcast_state(
    state: str,
    summary: pd.DataFrame,
    reference: pd.DataFrame,
    recent: pd.DataFrame,
    n_replications: int,
    *,
    vocab: Vocabulary | None = None,
    band_note: str | None = None,
    horizon_end: int | None = None,
    in_sample: pd.DataFrame | None = None,
) -> Figure:
    """One state's simulated trade shares against every reference point and persistence.

    Args:
        state: the state's code.
        summary: annual shares in percent of the hindcast run (columns ``year, country,
            partner, share_pct, p05, p95`` and optionally ``mean``); every partner but the
            vocabulary's residual market gets a panel.
        reference: the reference series (``year, country, partner, share_pct``); its
            value in the hindcast's first year, held constant, is the persistence line.
        recent: points from other sources (same columns, optionally ``method``: marker).
        n_replications: ensemble size (for the default band note).
        vocab: Order, names and colours of the codes (default :data:`sim.vocab.DEFAULT`).
        band_note: what the bands carry (the caption); default
            :func:`sim.studies.backtest.default_band_note`.
        horizon_end: the scenario's last year; later years of ``summary`` (the run
            carried on to reach later reference points) are drawn lighter.
        in_sample: the in-sample run's annual shares (same columns), drawn in grey.

    Returns:
        The figure: one panel per partner, plus a legend panel.
    """
    vocab = vocab_or_default(vocab)
    sim = summary[summary["country"] == state]
    residual = vocab.partners[-1]
    partners = [p for p in ordered(sim["partner"], vocab.partners) if p != residual]
    colours = colour_map(partners, vocab)
    first, last = int(summary["year"].min()), int(summary["year"].max())
    rec = recent if "method" in recent else recent.assign(method="national statistics")
    pts = pd.concat([reference.assign(method=DOTS_METHOD), rec], ignore_index=True)
    pts = pts[pts["country"] == state]
    base = reference[(reference["country"] == state) & (reference["year"] == first)]
    isr = None if in_sample is None else in_sample[in_sample["country"] == state]
    years = pd.concat([summary["year"], pts["year"]])
    fig = Figure(figsize=(11.0, 6.5), layout="constrained")
    axes = panel_grid(fig, len(partners) + 1, ncols=3, share=False)
    for ax, partner in zip(axes, partners, strict=False):
        if isr is not None:
            s = isr[isr["partner"] == partner].sort_values("year")
            ax.fill_between(s["year"], s["p05"], s["p95"], color="grey", alpha=0.15, lw=0)
            ax.plot(s["year"], s["share_pct"], color="dimgrey", linewidth=1, linestyle=":")
        _draw_model(ax, sim[sim["partner"] == partner].sort_values("year"), colours[partner],
                    horizon_end)  # fmt: skip
        b = base.loc[base["partner"] == partner, "share_pct"]
        if len(b):
            ax.hlines(b.iloc[0], first, last, color="grey", lw=1.2, linestyles=(0, (4, 2)))
        _draw_points(ax, pts[pts["partner"] == partner])
        ax.axvline(first, color="grey", linestyle=":", linewidth=1)
        ax.set_title(vocab.name(partner))
        ax.set_xlim(years.min() - 0.5, years.max() + 0.5)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("% of goods trade")
        ax.grid(alpha=0.3)
    legend_panel(axes[-1], _hindcast_legend(first, isr is not None))
    note = band_note or f"stochastic noise only ({n_replications} replications)"
    fig.supxlabel(hindcast_caption(note, horizon_end, last), fontsize="small")
    fig.suptitle(f"{vocab.name(state)}: trade shares, hindcast from {first}")
    return fig


def plot_prior_posterior(posterior: pd.DataFrame, table: pd.DataFrame) -> Figure:
    """Prior (flat on its scale, grey) against the weighted posterior histogram, per parameter.

    Args:
        posterior: the posterior sample (``weight`` and one column per parameter).
        table: :func:`sim.studies.calibrate.prior_posterior_table` (prior kind and bounds).

    Returns:
        The figure: one panel per parameter, log x axis for log-uniform priors.
    """
    fig = Figure(figsize=(13, 8), layout="constrained")
    axes = panel_grid(fig, len(table), ncols=4, share=False)
    w = posterior["weight"].to_numpy()
    for ax, row in zip(axes, table.itertuples(index=False), strict=False):
        log = row.prior == "loguniform"
        edges = np.geomspace(row.low, row.high, 25) if log else np.linspace(row.low, row.high, 25)
        x = posterior[row.parameter].to_numpy()
        dens, _ = np.histogram(x, bins=edges, weights=w)
        dens = dens / dens.sum()
        ax.stairs(np.full(len(edges) - 1, 1.0 / (len(edges) - 1)), edges, color="grey",
                  fill=True, alpha=0.3, label="prior")  # fmt: skip
        ax.stairs(dens, edges, color="C0", linewidth=1.6, label="posterior")
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        tag = "identified" if row.identified else "not identified"
        ax.set_title(f"{row.parameter.removeprefix('behaviour.')}\n({tag})", fontsize=9)
        ax.set_yticks([])
    axes[0].legend(fontsize=8)
    fig.suptitle("ABC on 2005-2010: prior (grey) and posterior (blue), share per bin")
    return fig
