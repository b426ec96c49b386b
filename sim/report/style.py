"""Shared figure helpers: labels and colours from the vocabulary and the data, grids.

Figures take their axes from the data: the codes present, ordered as the vocabulary
orders them, codes the vocabulary does not know appended in order of appearance. Names
and colours come from :mod:`sim.vocab`; an unknown code is named by itself and takes the
next free colour of :data:`sim.vocab.EXTRA_COLOURS` (grey when they run out), so a sixth
state or a fifth power drawn from a saved run gets its own panel and its own colour.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedFormatter, FixedLocator

from sim.vocab import DEFAULT, EXTRA_COLOURS, Vocabulary

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from matplotlib.axes import Axes
    from matplotlib.axis import Axis

#: Resolution of every PNG of the run and ensemble figures.
DPI = 120
#: Resolution of the comparison and hindcast figures (as they were first written).
STUDY_DPI = 110
#: Opacity of the 5-95% bands around median lines.
BAND_ALPHA = 0.15
#: zlib level of the PNGs of :func:`save_png` (1-9; matplotlib's default, 6, takes
#: about twice as long to encode for files some 5-10% smaller).
PNG_COMPRESSION = 1


def vocab_or_default(vocab: Vocabulary | None) -> Vocabulary:
    """``vocab``, or the shipped vocabulary when None."""
    return DEFAULT if vocab is None else vocab


def ordered(values: Iterable[object], order: Sequence[str]) -> list[str]:
    """The codes in ``values`` (without ``""``): those of ``order`` first, in its order.

    Codes ``order`` does not hold follow in order of first appearance.
    """
    seen = [str(v) for v in pd.unique(pd.Series(values, dtype=object))]
    present, known = set(seen), set(order)
    return [c for c in order if c in present] + [c for c in seen if c and c not in known]


def colour_map(codes: Iterable[str], vocab: Vocabulary) -> dict[str, str]:
    """One colour per code: the vocabulary's, else the next free extra colour."""
    used = set(vocab.colours.values())
    spare = iter(c for c in EXTRA_COLOURS if c not in used)
    out: dict[str, str] = {}
    for code in codes:
        out[code] = vocab.colours.get(code) or next(spare, vocab.colour(code))
    return out


def new_figure(fig: Figure | None, figsize: tuple[float, float]) -> Figure:
    """Return ``fig``, or a new constrained-layout figure of the given size."""
    return fig if fig is not None else Figure(figsize=figsize, layout="constrained")


def root_figure(ax: Axes) -> Figure:
    """Return the top-level figure holding ``ax`` (also when ``ax`` sits in a subfigure)."""
    return ax.figure.figure


def figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """Return the figure of ``ax`` and ``ax``, or a new figure with one axes."""
    if ax is not None:
        return root_figure(ax), ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def panel_grid(fig: Figure, n: int, ncols: int = 3, *, share: bool = True) -> list[Axes]:
    """Add ``n`` panels on a grid of ``ncols`` columns; hide the spare cells.

    The grid has as many rows as ``n`` needs, so callers ask for one panel per item
    plus one for the legend and no item's panel is ever given up to the legend.

    Args:
        fig: Figure to draw on.
        n: Number of panels wanted.
        ncols: Number of grid columns (fewer if ``n`` is smaller).
        share: Share both axes between the panels.

    Returns:
        The ``n`` panels in reading order. Every panel keeps its own x tick labels, so a
        panel above an empty slot still shows its axis.
    """
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    axes = fig.subplots(nrows, ncols, sharex=share, sharey=share, squeeze=False).ravel()
    for extra in axes[n:]:
        extra.set_axis_off()
    for ax in axes[:n]:
        ax.xaxis.set_tick_params(labelbottom=True)
    return list(axes[:n])


def legend_panel(ax: Axes, handles: list, title: str | None = None) -> None:
    """Turn ``ax`` into a panel holding only a legend."""
    ax.set_axis_off()
    ax.legend(handles=handles, loc="center", title=title, frameon=False, fontsize="medium")


def date_axis(ax: Axes, maxticks: int = 7) -> None:
    """Give ``ax`` compact automatic date ticks."""
    locator = mdates.AutoDateLocator(minticks=3, maxticks=maxticks)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def freeze_ticks(fig: Figure) -> None:
    """Fix the major ticks and labels of every linear axis at what they are now.

    matplotlib asks an axis' locator and formatter again on every layout pass and
    draw, a dozen times per saved figure (an automatic date locator builds a
    recurrence rule each time). Asked once here, with the data's limits and the
    figure's size, the same positions and labels are then held fixed. An axis whose
    formatter shows an offset (``1e6``, or a year under month ticks) keeps its ticker.
    Call it when everything is drawn and every limit set; shared axes share one ticker.
    """
    for ax in fig.axes:
        if ax.axison:
            for axis in (ax.xaxis, ax.yaxis):
                _freeze_axis(axis)


def _freeze_axis(axis: Axis) -> None:
    locator, formatter = axis.get_major_locator(), axis.get_major_formatter()
    if axis.get_scale() != "linear" or isinstance(formatter, FixedFormatter):
        return
    lo, hi = sorted(axis.get_view_interval())
    tol = 1e-10 * (hi - lo)  # as matplotlib keeps the ticks within the view
    locs = np.asarray(locator(), dtype=float)
    locs = locs[(locs >= lo - tol) & (locs <= hi + tol)]
    labels = formatter.format_ticks(locs)
    if formatter.get_offset():
        return
    axis.set_major_locator(FixedLocator(locs))
    axis.set_major_formatter(FixedFormatter(labels))


def save_png(fig: Figure, path: Path | BinaryIO, dpi: int) -> None:
    """Save ``fig`` as a PNG, drawn once, its ticks fixed first (:func:`freeze_ticks`).

    ``fig.savefig`` with a layout engine draws the whole figure twice: once, painting
    nothing, to run the layout, then again to paint. Here the figure is drawn once at
    ``dpi`` by its Agg canvas, the layout run at the start of that draw: the same pixels.
    """
    freeze_ticks(fig)
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    canvas.print_png(path, pil_kwargs={"compress_level": PNG_COMPRESSION})


def mark_bands(fig: Figure, carries: str | None) -> None:
    """Footnote what the figure's bands carry (``carries``; None: nothing to say)."""
    if carries:
        fig.text(0.995, 0.002, f"bands carry: {carries}", ha="right", va="bottom", fontsize=7)


def quarter_label(date: pd.Timestamp) -> str:
    """``2031-04-01`` -> ``"2031Q2"``."""
    return f"{date.year}Q{(date.month - 1) // 3 + 1}"
