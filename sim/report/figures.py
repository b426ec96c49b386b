"""Figures of one run or an ensemble, drawn from the tidy table; which figure needs what.

Every function takes the tidy DataFrame (columns ``replication``, ``step``, ``date``,
``country``, ``partner``, ``metric``, ``value``; see :data:`COLUMNS`) and returns a
:class:`matplotlib.figure.Figure`. Nothing here runs the model.

Figures are built with :class:`~matplotlib.figure.Figure` directly rather than through
``pyplot``: no backend is selected, no global figure registry grows, and
``fig.savefig`` renders with Agg. Across replications, lines are medians and bands the
5-95% range; stacked areas and bars use replication means, because means of parts
still add up to the mean of the whole (medians need not).

Panels and lines follow the codes present in the data, ordered, named and coloured by
a :class:`~sim.vocab.Vocabulary` (see :mod:`sim.report.style`): a sixth state gets a
seventh panel, never the legend's. :data:`FIGURES` says which metrics each figure
needs; :func:`save_figures` draws every figure whose metrics the data holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.report.style import (
    BAND_ALPHA,
    DPI,
    colour_map,
    date_axis,
    figure_and_axes,
    legend_panel,
    mark_bands,
    new_figure,
    ordered,
    panel_grid,
    quarter_label,
    root_figure,
    vocab_or_default,
)
from sim.vocab import (
    CHANNEL_STYLE,
    CHANNELS,
    COMMODITY_COLOURS,
    RESOURCES,
    UNITS,
    VALUE_FACTOR,
    Vocabulary,
)

#: Columns the tidy output must have.
COLUMNS: tuple[str, ...] = ("replication", "step", "date", "country", "partner", "metric", "value")


# --------------------------------------------------------------------------- helpers


def _check_columns(df: pd.DataFrame) -> None:
    """Raise ValueError unless ``df`` has every column of the tidy output."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        msg = f"data lacks column(s) {missing}; expected columns {list(COLUMNS)}"
        raise ValueError(msg)


def _metric_rows(df: pd.DataFrame, metric: str, *, who: str) -> pd.DataFrame:
    """Return the rows of one metric, or raise a ValueError naming the caller.

    Args:
        df: Tidy output.
        metric: Exact metric name.
        who: Name of the plotting function, for the error message.

    Returns:
        The rows whose ``metric`` equals ``metric``.

    Raises:
        ValueError: If a column is missing or the metric has no rows.
    """
    _check_columns(df)
    rows = df[df["metric"] == metric]
    if rows.empty:
        present = sorted(map(str, pd.unique(df["metric"])))
        msg = (
            f"{who} needs metric {metric!r}, which is not in the data (metrics present: {present})"
        )
        raise ValueError(msg)
    return rows


def _n_replications(df: pd.DataFrame) -> int:
    """Return the number of distinct replications in ``df``."""
    return int(df["replication"].nunique())


def _replication_note(n: int, what: str = "median, band 5-95%") -> str:
    """Return a short subtitle saying how replications were summarised."""
    return "1 replication" if n == 1 else f"{n} replications ({what})"


def _dates(frame: pd.DataFrame) -> np.ndarray:
    """Return the ``date`` column as a numpy datetime64 array (matplotlib plots it natively)."""
    return pd.to_datetime(frame["date"]).to_numpy()


def quantile_band(
    df: pd.DataFrame,
    metric: str,
    q: tuple[float, float, float] = (0.05, 0.5, 0.95),
) -> pd.DataFrame:
    """Summarise one metric across replications.

    Args:
        df: Tidy output.
        metric: Exact metric name, e.g. ``"influence_share"``.
        q: Lower, central and upper quantile.

    Returns:
        One row per ``step``, ``date``, ``country`` and ``partner``, sorted by those keys,
        with the quantiles in columns ``lo``, ``mid`` and ``hi``.

    Raises:
        ValueError: If the metric is absent or ``q`` is not three increasing numbers in [0, 1].
    """
    if len(q) != 3 or not 0.0 <= q[0] <= q[1] <= q[2] <= 1.0:
        msg = f"q must be three increasing quantiles in [0, 1], got {q!r}"
        raise ValueError(msg)
    rows = _metric_rows(df, metric, who="quantile_band")
    keys = ["step", "date", "country", "partner"]
    band = rows.groupby(keys, observed=True, sort=True)["value"].quantile(list(q)).unstack(level=-1)
    band.columns = ["lo", "mid", "hi"]
    return band.reset_index()


def _mean_over_replications(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Return the replication mean of ``value`` for each combination of ``keys``."""
    return rows.groupby(keys, observed=True, sort=True)["value"].mean().reset_index()


def _line_with_band(
    ax: Axes, frame: pd.DataFrame, colour: str, label: str, gid: str, *, band: bool
) -> None:
    """Draw the median line of ``frame`` and, if asked, its 5-95% band."""
    x = _dates(frame)
    ax.plot(x, frame["mid"].to_numpy(), color=colour, label=label, gid=gid, linewidth=1.8)
    if band:
        ax.fill_between(
            x,
            frame["lo"].to_numpy(),
            frame["hi"].to_numpy(),
            color=colour,
            alpha=BAND_ALPHA,
            linewidth=0,
            gid=f"{gid}-band",
        )


# --------------------------------------------------------------------------- figures


def plot_influence(
    df: pd.DataFrame, fig: Figure | None = None, *, vocab: Vocabulary | None = None
) -> Figure:
    """Plot each influencer's share of influence over time, one panel per state.

    Metric used: ``influence_share`` (country a state, partner an influencer).

    Args:
        df: Tidy output of one or many replications.
        fig: Empty figure to draw on; a new one is created if omitted.
        vocab: Order, names and colours of the codes (default :data:`sim.vocab.DEFAULT`;
            codes it lacks are drawn too, see :mod:`sim.report.style`).

    Returns:
        The figure: one panel per state present, plus a legend panel. With several
        replications, lines are medians and shaded bands the 5-95% range.

    Raises:
        ValueError: If ``influence_share`` is missing.
    """
    rows = _metric_rows(df, "influence_share", who="plot_influence")
    band = quantile_band(rows, "influence_share")
    n_rep = _n_replications(rows)
    vocab = vocab_or_default(vocab)
    states = ordered(band["country"], vocab.states)
    powers = ordered(band["partner"], vocab.influencers)
    colours = colour_map(powers, vocab)

    fig = new_figure(fig, (12.0, 7.0))
    axes = panel_grid(fig, len(states) + 1, ncols=3)
    for ax, state in zip(axes, states, strict=False):
        of_state = band[band["country"] == state]
        for power in powers:
            _line_with_band(
                ax,
                of_state[of_state["partner"] == power],
                colours[power],
                vocab.name(power),
                power,
                band=n_rep > 1,
            )
        ax.set_title(vocab.name(state))
        ax.set_ylim(0.0, 1.0)
        ax.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=1.0))
        if ax.get_subplotspec().is_first_col():  # the panels share y: label it once a row
            ax.set_ylabel("Share of influence (%)")
        ax.set_xlabel("Quarter")
        ax.grid(alpha=0.3)
        date_axis(ax)
    handles = [Line2D([], [], color=colours[p], linewidth=2.5, label=vocab.name(p)) for p in powers]
    if n_rep > 1:
        handles.append(Patch(facecolor="grey", alpha=BAND_ALPHA, label="5-95% of replications"))
    legend_panel(axes[-1], handles, "Influencer")
    fig.suptitle(f"Influence shares by state\n{_replication_note(n_rep)}", fontsize="x-large")
    return fig


def plot_trade_shares(
    df: pd.DataFrame, fig: Figure | None = None, *, vocab: Vocabulary | None = None
) -> Figure:
    """Plot each state's trade by partner over time as stacked areas, one panel per state.

    Metric used: ``trade_share`` (country a state, partner a trade partner). Areas are
    replication means, so they stack to 100%.

    Args:
        df: Tidy output of one or many replications.
        fig: Empty figure to draw on; a new one is created if omitted.
        vocab: Order, names and colours of the codes (default :data:`sim.vocab.DEFAULT`).

    Returns:
        The figure: one panel per state present, plus a legend panel.

    Raises:
        ValueError: If ``trade_share`` is missing.
    """
    rows = _metric_rows(df, "trade_share", who="plot_trade_shares")
    mean = _mean_over_replications(rows, ["step", "date", "country", "partner"])
    n_rep = _n_replications(rows)
    vocab = vocab_or_default(vocab)
    states = ordered(mean["country"], vocab.states)
    partners = ordered(mean["partner"], vocab.partners)
    colours = colour_map(partners, vocab)

    fig = new_figure(fig, (12.0, 7.0))
    axes = panel_grid(fig, len(states) + 1, ncols=3)
    for ax, state in zip(axes, states, strict=False):
        wide = (
            mean[mean["country"] == state]
            .pivot_table(index="date", columns="partner", values="value", observed=True)
            .reindex(columns=partners)
            .fillna(0.0)
            .sort_index()
        )
        ax.stackplot(
            wide.index.to_numpy(),
            wide.to_numpy().T,
            colors=[colours[p] for p in partners],
            labels=[vocab.name(p) for p in partners],
            edgecolor="white",
            linewidth=0.4,
        )
        ax.set_title(vocab.name(state))
        ax.set_ylim(0.0, 1.0)
        ax.margins(x=0)
        ax.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=1.0))
        if ax.get_subplotspec().is_first_col():  # the panels share y: label it once a row
            ax.set_ylabel("Share of trade (%)")
        ax.set_xlabel("Quarter")
        date_axis(ax)
    # Legend top-down in the same order as the stack reads top-down.
    handles = [Patch(facecolor=colours[p], label=vocab.name(p)) for p in reversed(partners)]
    legend_panel(axes[-1], handles, "Trade partner")
    fig.suptitle(
        f"Trade shares by state (exports + imports)\n{_replication_note(n_rep, 'mean')}",
        fontsize="x-large",
    )
    return fig


def _pick_step(rows: pd.DataFrame, year: int | None) -> tuple[int, pd.Timestamp]:
    """Return the last step (and its date) overall, or within ``year``."""
    steps = rows[["step", "date"]].drop_duplicates().sort_values("step")
    if year is not None:
        in_year = steps[pd.to_datetime(steps["date"]).dt.year == year]
        if in_year.empty:
            first, last = pd.to_datetime(steps["date"]).dt.year.agg(["min", "max"])
            msg = f"plot_channels: year {year} is outside the data ({first}-{last})"
            raise ValueError(msg)
        steps = in_year
    last = steps.iloc[-1]
    return int(last["step"]), pd.Timestamp(last["date"])


def _channel_bars(
    ax: Axes,
    table: pd.DataFrame,
    powers: list[str],
    channels: list[str],
    palette: dict[str, str],
    *,
    diverging: bool,
) -> None:
    """Draw one horizontal bar per power, split into channel segments.

    Args:
        ax: Panel to draw on.
        table: Channel contributions, index powers, columns channels.
        powers: Powers from top to bottom.
        channels: Channels in stacking order.
        palette: Colour of each power.
        diverging: Stack negative segments leftwards from zero (for changes).
    """
    y = np.arange(len(powers))
    values = table.reindex(index=powers, columns=channels).fillna(0.0).to_numpy()
    colours = [palette[p] for p in powers]
    right = np.zeros(len(powers))
    left = np.zeros(len(powers))
    for j, channel in enumerate(channels):
        alpha, hatch = CHANNEL_STYLE[channel]
        width = values[:, j]
        start = np.where(width >= 0, right, left) if diverging else right
        ax.barh(
            y,
            width,
            left=start,
            height=0.7,
            color=[(*to_rgb(c), alpha) for c in colours],
            edgecolor=colours,
            hatch=hatch,
            linewidth=0.6,
            label=channel,
        )
        right = right + np.clip(width, 0, None) if diverging else right + width
        left = left + np.clip(width, None, 0) if diverging else left
    if diverging:
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.plot(values.sum(axis=1), y, "D", color="black", markersize=5, label="net change")
    ax.set_yticks(y, powers)
    for label, colour in zip(ax.get_yticklabels(), colours, strict=True):
        label.set_color(colour)
        label.set_fontweight("bold")
    ax.set_ylim(len(powers) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)


def _channel_means(
    df: pd.DataFrame, year: int | None
) -> tuple[pd.DataFrame, int, tuple[int, pd.Timestamp], tuple[int, pd.Timestamp]]:
    """Replication-mean channel contributions at the first and the chosen step.

    Returns:
        ``(means with a channel column, replications, (first step, date), (step, date))``.

    Raises:
        ValueError: If a channel metric is missing or ``year`` is outside the data.
    """
    metrics = [f"influence_{c}" for c in CHANNELS]
    _check_columns(df)
    missing = [m for m in metrics if not (df["metric"] == m).any()]
    if missing:
        msg = f"plot_channels needs metric(s) {missing}, which are not in the data"
        raise ValueError(msg)
    rows = df[df["metric"].isin(metrics)]
    n_rep = _n_replications(rows)
    step, date = _pick_step(rows, year)
    first_step = int(rows["step"].min())
    first_date = pd.Timestamp(rows.loc[rows["step"] == first_step, "date"].iloc[0])
    rows = rows[rows["step"].isin([first_step, step])]
    mean = _mean_over_replications(rows, ["step", "country", "partner", "metric"])
    mean["channel"] = mean["metric"].str.removeprefix("influence_")
    return mean, n_rep, (first_step, first_date), (step, date)


def _format_channel_axes(grid: np.ndarray, limit: float) -> None:
    """Percent axes: levels from 0, changes symmetric within ``limit`` (pp)."""
    for ax_level, ax_change in grid:
        ax_level.set_xlim(left=0.0)
        ax_level.xaxis.set_major_formatter(ticker.PercentFormatter(xmax=1.0, decimals=0))
        ax_change.set_xlim(-limit, limit)
        ax_change.xaxis.set_major_formatter(
            ticker.PercentFormatter(xmax=1.0, decimals=0 if limit >= 0.03 else 1, symbol=" pp")
        )
    grid[-1][0].set_xlabel("Share of influence (%)")
    grid[-1][1].set_xlabel("Change in share (percentage points)")
    for ax_level, _ in grid:
        ax_level.set_ylabel("Influencer")


def plot_channels(
    df: pd.DataFrame,
    fig: Figure | None = None,
    year: int | None = None,
    *,
    vocab: Vocabulary | None = None,
) -> Figure:
    """Break each influence share down by channel, and show what moved it.

    Metrics used: ``influence_<channel>`` for every channel in :data:`CHANNELS`
    (country a state, partner an influencer; the channels add up to ``influence_share``).
    One row per state. Left: each power's influence share at the chosen quarter, split
    into channel segments (power's colour; channel by shade and hatch). Right: the
    change of each channel's contribution since the first quarter, positive segments
    stacked rightwards and negative ones leftwards, the diamond marking the net change
    of the share: the segments say why the curve of :func:`plot_influence` moved.
    Values are replication means, so segments add up exactly.

    Args:
        df: Tidy output of one or many replications.
        fig: Empty figure to draw on; a new one is created if omitted.
        year: Calendar year to show (its last quarter in the data); default the last step.
        vocab: Order, names and colours of the codes (default :data:`sim.vocab.DEFAULT`).

    Returns:
        The figure: two panels per state present.

    Raises:
        ValueError: If a channel metric is missing or ``year`` is outside the data.
    """
    mean, n_rep, (first_step, first_date), (step, date) = _channel_means(df, year)
    vocab = vocab_or_default(vocab)
    states = ordered(mean["country"], vocab.states)
    powers = ordered(mean["partner"], vocab.influencers)
    palette = colour_map(powers, vocab)
    channels = list(CHANNELS)

    fig = new_figure(fig, (12.0, 2.0 * len(states) + 1.6))
    grid = fig.subplots(len(states), 2, sharex="col", squeeze=False)
    widest = 0.0
    for (ax_level, ax_change), state in zip(grid, states, strict=True):
        of_state = mean[mean["country"] == state]
        end = of_state[of_state["step"] == step].pivot_table(
            index="partner", columns="channel", values="value", observed=True
        )
        start = of_state[of_state["step"] == first_step].pivot_table(
            index="partner", columns="channel", values="value", observed=True
        )
        change = end.sub(start, fill_value=0.0)
        _channel_bars(ax_level, end, powers, channels, palette, diverging=False)
        _channel_bars(ax_change, change, powers, channels, palette, diverging=True)
        widest = max(
            widest,
            float(change.clip(lower=0).sum(axis=1).max()),
            float(-change.clip(upper=0).sum(axis=1).min()),
        )
        name = vocab.name(state)
        ax_level.set_title(f"{name}: influence share, {quarter_label(date)}", loc="left")
        ax_change.set_title(
            f"{name}: change since {quarter_label(first_date)}, by channel", loc="left"
        )
    _format_channel_axes(grid, max(widest, 0.01) * 1.1)
    handles = [
        Patch(
            facecolor=(*to_rgb("#555555"), CHANNEL_STYLE[c][0]),
            edgecolor="#555555",
            hatch=CHANNEL_STYLE[c][1],
            label=c.capitalize(),
        )
        for c in channels
    ]
    handles.append(Line2D([], [], marker="D", color="black", linestyle="none", label="Net change"))
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=len(handles),
        title="Channel (bars take the influencer's colour)",
    )
    fig.suptitle(
        f"Influence by channel: level and what moved it\n{_replication_note(n_rep, 'mean')}",
        fontsize="x-large",
    )
    return fig


def _japan_exports(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Return resource exports to Japan summed over states, and the commodities found.

    Raises:
        ValueError: If no resource exports to Japan are in the data.
    """
    _check_columns(df)
    metrics = [f"exports_{c}" for c in RESOURCES]
    rows = df[df["metric"].isin(metrics) & (df["partner"] == "JPN")]
    if rows.empty:
        msg = (
            "plot_japan_supply needs metric(s) exports_<commodity> with partner 'JPN' "
            f"for some of {list(RESOURCES)}; none is in the data"
        )
        raise ValueError(msg)
    total = (
        rows.groupby(["replication", "step", "date", "metric"], observed=True, sort=True)["value"]
        .sum()
        .reset_index()
    )
    total["commodity"] = total["metric"].str.removeprefix("exports_")
    return total, ordered(total["commodity"], RESOURCES)


def _japan_value(df: pd.DataFrame, volume: pd.DataFrame, ax: Axes, n_rep: int) -> None:
    """Draw Japan's resource imports in USD bn/yr (stacked means, median total with band)."""
    prices = df[df["metric"].isin([f"price_{c}" for c in RESOURCES])][
        ["replication", "step", "metric", "value"]
    ].copy()
    prices["commodity"] = prices["metric"].str.removeprefix("price_")
    merged = volume.merge(
        prices.drop(columns="metric").rename(columns={"value": "price"}),
        on=["replication", "step", "commodity"],
        how="left",
        validate="many_to_one",
    )
    factor = merged["commodity"].map(VALUE_FACTOR).astype(float)
    merged["usd_bn"] = merged["value"] * merged["price"] * factor
    commodities = ordered(merged["commodity"], RESOURCES)

    wide = (
        merged.pivot_table(
            index="date", columns="commodity", values="usd_bn", aggfunc="mean", observed=True
        )
        .reindex(columns=commodities)
        .fillna(0.0)
        .sort_index()
    )
    ax.stackplot(
        wide.index.to_numpy(),
        wide.to_numpy().T,
        colors=[COMMODITY_COLOURS[c] for c in commodities],
        labels=[c.replace("_", " ").capitalize() for c in commodities],
        edgecolor="white",
        linewidth=0.4,
        alpha=0.9,
    )
    total = merged.groupby(["replication", "date"], sort=True)["usd_bn"].sum()
    by_date = total.groupby(level="date").quantile([0.05, 0.5, 0.95]).unstack(level=-1)
    x = by_date.index.to_numpy()
    if n_rep > 1:
        for quantile, label in ((0.95, "Total, 95th percentile"), (0.05, "Total, 5th percentile")):
            ax.plot(
                x,
                by_date[quantile].to_numpy(),
                color="black",
                linewidth=0.9,
                linestyle="--",
                label=label,
            )
        ax.plot(x, by_date[0.5].to_numpy(), color="black", linewidth=1.8, label="Total, median")
    ax.set_ylim(bottom=0.0)
    ax.margins(x=0)
    ax.set_ylabel("Import value (USD bn/yr)")
    ax.set_xlabel("Quarter")
    ax.grid(alpha=0.3)
    date_axis(ax)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], labels[::-1], loc="upper left", fontsize="small", ncols=2)


def _japan_volumes(volume: pd.DataFrame, axes: list[Axes], n_rep: int) -> None:
    """Draw Japan's resource imports in physical units, one panel per commodity."""
    commodities = ordered(volume["commodity"], RESOURCES)
    band = (
        volume.groupby(["step", "date", "commodity"], sort=True)["value"]
        .quantile([0.05, 0.5, 0.95])
        .unstack(level=-1)
        .rename(columns={0.05: "lo", 0.5: "mid", 0.95: "hi"})
        .reset_index()
    )
    for ax, commodity in zip(axes, commodities, strict=True):
        colour = COMMODITY_COLOURS[commodity]
        _line_with_band(
            ax, band[band["commodity"] == commodity], colour, commodity, commodity, band=n_rep > 1
        )
        ax.set_title(commodity.replace("_", " ").capitalize())
        ax.set_ylabel(f"{UNITS[commodity]}/yr")
        ax.set_xlabel("Quarter")
        ax.set_ylim(bottom=0.0)
        ax.grid(alpha=0.3)
        date_axis(ax)


def plot_japan_supply(df: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """Plot Japan's resource imports from Central Asia (all states together).

    Metrics used: ``exports_<commodity>`` with partner ``JPN``, for the resource
    commodities (all but ``other``), summed over states. If ``price_<commodity>`` is
    in the data for every one of them, the figure shows import value in USD bn/yr
    (volume x price x :data:`~sim.vocab.VALUE_FACTOR`) stacked by commodity, plus
    the median total and its 5-95% band when there are several replications.
    Otherwise it shows physical volumes, one panel per commodity.

    Args:
        df: Tidy output of one or many replications.
        ax: Axes to draw on (in physical units its grid cell is split into panels);
            a new figure is created if omitted.

    Returns:
        The figure.

    Raises:
        ValueError: If there are no resource exports to Japan in the data.
    """
    volume, commodities = _japan_exports(df)
    n_rep = _n_replications(volume)
    priced = set(map(str, pd.unique(df.loc[df["metric"].str.startswith("price_"), "metric"])))
    title = "Japan's resource imports from Central Asia"
    if all(f"price_{c}" in priced for c in commodities):
        fig, ax = figure_and_axes(ax, (10.0, 5.5))
        _japan_value(df, volume, ax, n_rep)
        note = _replication_note(n_rep, "areas: mean; lines: median and 5-95% of the total")
        ax.set_title(f"{title}\n{note}")
        return fig

    ncols = 3
    nrows = math.ceil(len(commodities) / ncols)
    if ax is None:
        fig = Figure(figsize=(12.0, 3.2 * nrows + 0.8), layout="constrained")
        parent, cells = fig, fig.add_gridspec(nrows, ncols)
    else:
        spec = ax.get_subplotspec()
        if spec is None:
            msg = "plot_japan_supply: without prices it needs an axes placed on a grid"
            raise ValueError(msg)
        fig, parent = root_figure(ax), ax.figure
        ax.remove()
        cells = spec.subgridspec(nrows, ncols)
    axes = [parent.add_subplot(cells[i // ncols, i % ncols]) for i in range(len(commodities))]
    _japan_volumes(volume, axes, n_rep)
    heading = f"{title} (physical units; no prices in the data)\n{_replication_note(n_rep)}"
    if ax is None:
        fig.suptitle(heading, fontsize="x-large")
    else:  # leave the caller's figure title alone; name the subject on each panel
        for panel in axes:
            panel.set_title(f"Japan: {panel.get_title().lower()}")
    return fig


def plot_gdp(
    df: pd.DataFrame, ax: Axes | None = None, *, vocab: Vocabulary | None = None
) -> Figure:
    """Plot each state's GDP over time on a log scale.

    Metric used: ``gdp`` (USD bn/yr, country a state). A log scale puts Kazakhstan
    and Kyrgyzstan on one chart and makes equal growth rates equally steep, so swings
    driven by oil prices stand out.

    Args:
        df: Tidy output of one or many replications.
        ax: Axes to draw on; a new figure is created if omitted.
        vocab: Order, names and colours of the states (default :data:`sim.vocab.DEFAULT`).

    Returns:
        The figure.

    Raises:
        ValueError: If ``gdp`` is missing.
    """
    rows = _metric_rows(df, "gdp", who="plot_gdp")
    band = quantile_band(rows, "gdp")
    n_rep = _n_replications(rows)
    fig, ax = figure_and_axes(ax, (10.0, 5.5))
    vocab = vocab_or_default(vocab)
    states = ordered(band["country"], vocab.states)
    colours = colour_map(states, vocab)
    for state in states:
        _line_with_band(
            ax,
            band[band["country"] == state],
            colours[state],
            vocab.name(state),
            state,
            band=n_rep > 1,
        )
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ticker.StrMethodFormatter("{x:,.3g}"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_ylabel("GDP (USD bn/yr, log scale)")
    ax.set_xlabel("Quarter")
    ax.grid(alpha=0.3, which="major")
    date_axis(ax)
    ax.legend(loc="upper left", fontsize="small", ncols=max(1, len(states)))
    ax.set_title(f"GDP by state\n{_replication_note(n_rep)}")
    return fig


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class FigureSpec:
    """One figure of a run or an ensemble and the metrics it is drawn from.

    Attributes:
        name: the figure's name; its file is ``<name>.png``.
        draw: draws the figure from a tidy table with a vocabulary.
        needs: metrics that must all be in the data.
        needs_any: metrics of which at least one must be in the data (empty: none).
    """

    name: str
    draw: Callable[[pd.DataFrame, Vocabulary], Figure]
    needs: tuple[str, ...] = ()
    needs_any: tuple[str, ...] = ()

    @property
    def file(self) -> str:
        """The PNG file name."""
        return f"{self.name}.png"

    def missing(self, metrics: set[str] | frozenset[str]) -> list[str]:
        """The metrics this figure needs that ``metrics`` lacks (empty: it can be drawn)."""
        out = [m for m in self.needs if m not in metrics]
        if self.needs_any and not any(m in metrics for m in self.needs_any):
            out.append(" or ".join(self.needs_any))
        return out


#: Every figure of a run folder, in the order they are written.
FIGURES: dict[str, FigureSpec] = {
    spec.name: spec
    for spec in (
        FigureSpec(
            "influence", lambda df, v: plot_influence(df, vocab=v), needs=("influence_share",)
        ),
        FigureSpec(
            "trade_shares", lambda df, v: plot_trade_shares(df, vocab=v), needs=("trade_share",)
        ),
        FigureSpec(
            "channels",
            lambda df, v: plot_channels(df, vocab=v),
            needs=tuple(f"influence_{c}" for c in CHANNELS),
        ),
        FigureSpec(
            "japan_supply",
            lambda df, _v: plot_japan_supply(df),
            needs_any=tuple(f"exports_{c}" for c in RESOURCES),
        ),
        FigureSpec("gdp", lambda df, v: plot_gdp(df, vocab=v), needs=("gdp",)),
    )
}


def drawable(metrics: set[str] | frozenset[str]) -> tuple[list[FigureSpec], dict[str, list[str]]]:
    """Split :data:`FIGURES` into those ``metrics`` allow and the rest.

    Returns:
        ``(figures to draw, {name: missing metrics} of the others)``.
    """
    draw, skipped = [], {}
    for name, spec in FIGURES.items():
        missing = spec.missing(metrics)
        if missing:
            skipped[name] = missing
        else:
            draw.append(spec)
    return draw, skipped


def save_figures(
    df: pd.DataFrame,
    outdir: str | Path,
    *,
    vocab: Vocabulary | None = None,
    bands: str | None = None,
) -> tuple[list[Path], dict[str, list[str]]]:
    """Write, as PNG, every figure of :data:`FIGURES` whose metrics ``df`` holds.

    Args:
        df: Tidy output of one or many replications (any subset of the metrics).
        outdir: Folder to write into; created if a figure is drawn. Existing files of
            the same names are replaced.
        vocab: Order, names and colours of the codes (default :data:`sim.vocab.DEFAULT`).
        bands: what the bands carry (:func:`sim.core.uncertainty.band_label`), footnoted
            on every figure of several replications; None: no footnote.

    Returns:
        ``(paths written, in FIGURES order; {figure name: metrics it lacks} of the
        figures not drawn)``.
    """
    _check_columns(df)
    vocab = vocab_or_default(vocab)
    specs, skipped = drawable(set(map(str, pd.unique(df["metric"]))))
    outdir = Path(outdir)
    if specs:
        outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in specs:
        fig = spec.draw(df, vocab)
        mark_bands(fig, bands if _n_replications(df) > 1 else None)
        path = outdir / spec.file
        fig.savefig(path, dpi=DPI)
        fig.clear()  # figures made without pyplot are not registered: clearing frees them
        paths.append(path)
    return paths, skipped
