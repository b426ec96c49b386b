"""Figures of experiments: ranked sensitivity bars and PRIM's peeling trajectory.

Each function takes the table ``casim experiment sensitivity`` or ``discover`` writes
(``sensitivity_<outcome>.csv``, ``prim_trajectory.csv``) and an optional axes, and
returns the figure; nothing here runs the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.report.style import figure_and_axes

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def plot_sensitivity(table: pd.DataFrame, outcome: str, ax: Axes | None = None) -> Figure:
    """Ranked horizontal bars of one outcome's sensitivity indices, largest on top.

    Args:
        table: ``parameter`` and either ``ST, ST_conf, S1, S1_conf`` (Sobol) or
            ``mu_star, mu_star_conf, sigma`` (Morris), one row per parameter.
        outcome: the outcome's name (title).
        ax: axes to draw on (default: a new figure).
    """
    fig, ax = figure_and_axes(ax, (7.0, 0.35 * len(table) + 1.6))
    sobol = "ST" in table.columns
    main, conf = ("ST", "ST_conf") if sobol else ("mu_star", "mu_star_conf")
    rows = table.sort_values(main, ascending=True)
    y = np.arange(len(rows))
    ax.barh(
        y,
        rows[main],
        xerr=rows[conf],
        color="#4c72b0",
        alpha=0.85,
        capsize=2,
        label="total index $S_T$ (95% CI)" if sobol else "Morris $\\mu^*$ (95% CI)",
    )
    if sobol:
        ax.barh(y, rows["S1"].clip(lower=0), height=0.4, color="#dd8452", label="first-order $S_1$")
    else:
        ax.plot(rows["sigma"], y, "o", color="#dd8452", label="Morris $\\sigma$")
    ax.set_yticks(y, rows["parameter"], fontsize=8)
    ax.axvline(0.0, color="0.5", linewidth=0.6)
    ax.set_xlabel("Sobol index" if sobol else "elementary effect")
    ax.set_title(f"What drives {outcome}", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def plot_prim_trajectory(
    trajectory: pd.DataFrame, chosen: int, ax: Axes | None = None, title: str = ""
) -> Figure:
    """PRIM's peeling trajectory: coverage against density, coloured by restricted inputs.

    Args:
        trajectory: ``coverage``, ``density``, ``res_dim`` per peeling step (``id``).
        chosen: the ``id`` of the chosen box (circled).
        ax: axes to draw on (default: a new figure).
        title: the condition, for the title.
    """
    fig, ax = figure_and_axes(ax, (5.5, 4.2))
    points = ax.scatter(
        trajectory["coverage"],
        trajectory["density"],
        c=trajectory["res_dim"],
        cmap="viridis",
        s=22,
        zorder=3,
    )
    row = trajectory.loc[trajectory["id"] == chosen].iloc[0]
    ax.scatter(
        [row["coverage"]],
        [row["density"]],
        s=140,
        facecolors="none",
        edgecolors="#c44e52",
        linewidths=1.8,
        zorder=4,
        label=f"chosen box {chosen}",
    )
    bar = fig.colorbar(points, ax=ax, label="inputs restricted")
    bar.set_ticks(range(int(trajectory["res_dim"].max()) + 1))
    ax.set_title(f"PRIM peeling trajectory{': ' + title if title else ''}", fontsize=10)
    ax.set_xlabel("coverage (share of the cases of interest inside the box)")
    ax.set_ylabel("density (share of the box's points that are cases)")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return fig
