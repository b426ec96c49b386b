"""Figures of the studies: scenario comparisons and the hindcast, drawn from their tables.

Each function takes the table a study writes (``influence_bands.csv``,
``differences.csv``, ``hindcast_bands.csv`` and the reference points), so a saved
folder can be redrawn without rerunning anything. Panels follow the states, powers and
partners present in the tables, named and coloured by a :class:`~sim.vocab.Vocabulary`
(see :mod:`sim.report.style`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.report.style import (
    colour_map,
    date_axis,
    legend_panel,
    ordered,
    panel_grid,
    vocab_or_default,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sim.vocab import Vocabulary

#: Line style of each compared scenario, in command-line order.
LINE_STYLES: tuple[Any, ...] = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))
_BAND_ALPHA = 0.12


def _style(k: int) -> Any:
    return LINE_STYLES[k % len(LINE_STYLES)]


def _holder_handles(holders: Sequence[str], colours: dict[str, str], vocab: Vocabulary) -> list:
    return [Line2D([], [], color=colours[p], linewidth=2.5, label=vocab.name(p)) for p in holders]


def _series(rows: pd.DataFrame, *columns: str) -> list[np.ndarray]:
    """Dates and the given columns of ``rows``, sorted by date."""
    rows = rows.sort_values("date")
    return [pd.to_datetime(rows["date"]).to_numpy(), *(rows[c].to_numpy() for c in columns)]


def plot_influence_comparison(
    bands: pd.DataFrame, *, seed: int, replications: int, vocab: Vocabulary | None = None
) -> Figure:
    """Influence share per state: median lines and 90% bands, a line style per scenario.

    Args:
        bands: the ``influence_bands`` table (columns ``scenario, date, state, power,
            median, q05, q95``), scenarios in comparison order, the first the reference.
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
    top = float(bands["q95"].max()) * 1.05
    fig = Figure(figsize=(13, 7.5), layout="constrained")
    axes = panel_grid(fig, len(states) + 1, ncols=3)
    for s, (ax, state) in enumerate(zip(axes, states, strict=False)):
        of_state = bands[bands["state"] == state]
        for k, label in enumerate(labels):
            of_label = of_state[of_state["scenario"] == label]
            for power in holders:
                x, mid, lo, hi = _series(
                    of_label[of_label["power"] == power], "median", "q05", "q95"
                )
                colour = colours[power]
                ax.fill_between(x, lo, hi, color=colour, alpha=_BAND_ALPHA, linewidth=0)
                ax.plot(x, mid, color=colour, linestyle=_style(k), linewidth=1.6)
        ax.set_title(vocab.name(state))
        ax.set_ylim(0, top)
        ax.grid(alpha=0.3)
        date_axis(ax, maxticks=6)
        if s % 3 == 0:
            ax.set_ylabel("Influence share")
    handles = _holder_handles(holders, colours, vocab) + [
        Line2D([], [], color="black", linestyle=_style(k), label=lab)
        for k, lab in enumerate(labels)
    ]
    legend_panel(axes[-1], handles)
    fig.suptitle(
        f"Influence share by state: {' vs '.join(labels)}\n"
        f"{replications} common replications, seed {seed} (median, band 5-95%)"
    )
    return fig


def plot_paired_differences(
    diffs: pd.DataFrame, *, seed: int, replications: int, vocab: Vocabulary | None = None
) -> Figure:
    """Paired differences to the first scenario: median and 90% band per power.

    The dotted lines are the unpaired 90% band, to show how much pairing narrows it.

    Args:
        diffs: the ``differences`` table (columns ``scenario, reference, date, state,
            power, median, q05, q95, unpaired_q05, unpaired_q95``).
        seed: the common seed (for the title).
        replications: the number of common replications (for the title).
        vocab: Order, names and colours of the codes (default :data:`sim.vocab.DEFAULT`).

    Returns:
        The figure: one row per compared scenario, one column per state present.
    """
    vocab = vocab_or_default(vocab)
    reference = str(diffs["reference"].iloc[0])
    others = list(dict.fromkeys(diffs["scenario"]))
    states = ordered(diffs["state"], vocab.states)
    holders = ordered(diffs["power"], vocab.influencers)
    colours = colour_map(holders, vocab)
    fig = Figure(figsize=(3.2 * len(states), 3.4 * len(others) + 0.8), layout="constrained")
    axes = fig.subplots(len(others), len(states), sharex=True, sharey=True, squeeze=False)
    for r, label in enumerate(others):
        part = diffs[diffs["scenario"] == label]
        for s, state in enumerate(states):
            ax = axes[r, s]
            ax.axhline(0.0, color="black", linewidth=0.8)
            of_state = part[part["state"] == state]
            for power in holders:
                x, mid, lo, hi, ulo, uhi = _series(
                    of_state[of_state["power"] == power],
                    "median", "q05", "q95", "unpaired_q05", "unpaired_q95",
                )  # fmt: skip
                colour = colours[power]
                ax.fill_between(x, lo, hi, color=colour, alpha=0.2, linewidth=0)
                ax.plot(x, mid, color=colour, linestyle=_style(r + 1), linewidth=1.6)
                for band in (ulo, uhi):
                    ax.plot(x, band, color=colour, linestyle=":", linewidth=0.8)
            ax.set_title(f"{vocab.name(state)}\n{label} − {reference}", fontsize="medium")
            ax.grid(alpha=0.3)
            ax.xaxis.set_tick_params(labelbottom=True)
            date_axis(ax, maxticks=6)
            if s == 0:
                ax.set_ylabel("Difference in influence share")
    handles = [
        *_holder_handles(holders, colours, vocab),
        Patch(facecolor="grey", alpha=0.4, label="paired 90% band"),
        Line2D([], [], color="grey", linestyle=":", label="unpaired 90% band"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    fig.suptitle(
        f"Paired differences to {reference} ({replications} common "
        f"replications, seed {seed}; median, band 5-95%)"
    )
    return fig


def _hindcast_legend(first: int, last: int) -> list:
    return [
        Line2D([], [], color="black", linewidth=2, label=f"model: median ({first}-{last})"),
        Patch(color="grey", alpha=0.3, label="model: 5-95% band"),
        Line2D([], [], marker="o", color="black", linestyle="", label="IMF DOTS, mirror (ref.)"),
        Line2D(
            [],
            [],
            marker="^",
            markerfacecolor="white",
            color="black",
            linestyle="",
            label="national statistics / other\n(different method)",
        ),
        Line2D([], [], color="grey", linestyle=":", label="hindcast start"),
    ]


def plot_hindcast_state(
    state: str,
    summary: pd.DataFrame,
    reference: pd.DataFrame,
    recent: pd.DataFrame,
    n_replications: int,
    *,
    vocab: Vocabulary | None = None,
) -> Figure:
    """One state's simulated trade shares (median, 5-95% band) against the reference points.

    Args:
        state: the state's code.
        summary: annual shares in percent (columns ``year, country, partner, share_pct,
            p05, p95``); every partner but the vocabulary's residual market gets a panel.
        reference: reference points (``year, country, partner, share_pct``).
        recent: points from other sources (same columns).
        n_replications: ensemble size (for the note).
        vocab: Order, names and colours of the codes (default :data:`sim.vocab.DEFAULT`).

    Returns:
        The figure: one panel per partner, plus a legend panel.
    """
    vocab = vocab_or_default(vocab)
    sim = summary[summary["country"] == state]
    residual = vocab.partners[-1]
    partners = [p for p in ordered(sim["partner"], vocab.partners) if p != residual]
    colours = colour_map(partners, vocab)
    ref = reference[reference["country"] == state]
    rec = recent[recent["country"] == state]
    first, last = int(summary["year"].min()), int(summary["year"].max())
    years = pd.concat([summary["year"], reference["year"], recent["year"]])
    fig = Figure(figsize=(11.0, 6.5), layout="constrained")
    axes = panel_grid(fig, len(partners) + 1, ncols=3, share=False)
    for ax, partner in zip(axes, partners, strict=False):
        colour = colours[partner]
        s = sim[sim["partner"] == partner].sort_values("year")
        ax.fill_between(s["year"], s["p05"], s["p95"], color=colour, alpha=0.2, linewidth=0)
        ax.plot(s["year"], s["share_pct"], color=colour, linewidth=2)
        r = ref[ref["partner"] == partner]
        ax.plot(r["year"], r["share_pct"], "o", color="black", markersize=5)
        n = rec[rec["partner"] == partner]
        ax.plot(
            n["year"], n["share_pct"], "^", markerfacecolor="white", color="black", markersize=7
        )
        ax.axvline(first, color="grey", linestyle=":", linewidth=1)
        ax.set_title(vocab.name(partner))
        ax.set_xlim(years.min() - 0.5, years.max() + 0.5)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("% of goods trade")
        ax.grid(alpha=0.3)
    legend = axes[-1]
    legend_panel(legend, _hindcast_legend(first, last))
    legend.text(
        0.5,
        0.02,
        f"{n_replications} replications; {first + 1}-{last} reference held back",
        ha="center",
        transform=legend.transAxes,
        fontsize=8,
    )
    fig.suptitle(f"{vocab.name(state)}: trade shares, hindcast from {first}")
    return fig
