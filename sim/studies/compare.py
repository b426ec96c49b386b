"""Compare scenarios with common random numbers: influence curves, paired differences.

Every scenario runs the same replication ids from the same seed, so replication ``k``
of scenario B faces the same price shocks, outages and project draws as replication
``k`` of scenario A. The difference ``B_k - A_k`` then holds only the effect of the
scenario change, and its spread over ``k`` is much narrower than the spread of the
difference of two independent runs. Both are reported:

* **paired**: quantiles over ``k`` of ``B_k - A_k``;
* **unpaired**: quantiles of ``B_k - A_{k+s}`` pooled over the shifts ``s = 1..``
  :data:`UNPAIRED_SHIFTS` (mod the number of replications). Replications are
  independent and identically distributed, so re-pairing them this way gives draws of
  the difference of two independent runs without running anything again.

Outputs of :func:`write_comparison` (one folder):

* ``influence.png``: influence share per state over time, median line and 90% band
  (5-95%), one colour per power (:data:`sim.plots.POWER_COLOURS`), one line style per
  scenario;
* ``differences.png``: paired differences to the first scenario, median and 90% band,
  with the unpaired 90% band drawn as dotted lines for contrast;
* ``end_shares.csv`` / ``.md``: end-of-horizon influence shares with 90% intervals,
  the paired difference to the first scenario and both band widths;
* ``crossings.csv`` / ``.md``: rank crossings (one influencer overtaking another over a
  state) with the share of replications in which each happens and when;
* ``influence_bands.csv`` and ``differences.csv``: the numbers behind the figures.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from itertools import permutations
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.countries import INFLUENCERS, NAMES, STATES
from sim.ensemble import id_summary, process_pool, replication_id_array, run_ensemble
from sim.metrics import quarter_start
from sim.plots import POWER_COLOURS
from sim.scenario import Scenario, ScenarioError, coerce_scenario, load_scenario

if TYPE_CHECKING:
    from collections.abc import Sequence

    from matplotlib.axes import Axes

#: Lower and upper quantile of every interval and band (a 90% band).
INTERVAL = (0.05, 0.95)
#: Re-pairings pooled for the unpaired difference.
UNPAIRED_SHIFTS = 20
#: Line style of each scenario, in command-line order.
LINE_STYLES: tuple[Any, ...] = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))
#: Replications when the caller does not say.
DEFAULT_REPLICATIONS = 200
_BAND_ALPHA = 0.12
_DPI = 110


@dataclass(frozen=True)
class Comparison:
    """Influence shares of several scenarios over common replications.

    Attributes:
        labels: one unique label per scenario (its name, numbered if repeated).
        scenarios: the resolved scenarios, first is the reference.
        seed: the common seed.
        replication_ids: the common replication ids.
        dates: ``(T,)`` first day of each quarter.
        shares: ``(n_scenarios, R, T, S, I)`` influence shares, states in
            :data:`~sim.countries.STATES` order and holders in
            :data:`~sim.countries.INFLUENCERS` order.
    """

    labels: tuple[str, ...]
    scenarios: tuple[Scenario, ...]
    seed: int
    replication_ids: np.ndarray
    dates: np.ndarray
    shares: np.ndarray

    @property
    def paired(self) -> np.ndarray:
        """``(n_scenarios - 1, R, T, S, I)``: scenario minus the first, per replication."""
        return self.shares[1:] - self.shares[:1]


def unique_labels(names: Sequence[str]) -> tuple[str, ...]:
    """Scenario names, with ``" (2)"``, ``" (3)"`` ... appended to repeats."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return tuple(out)


def compare_scenarios(
    scenarios: Sequence[Scenario | str | Path],
    *,
    replications: int | None = DEFAULT_REPLICATIONS,
    seed: int | None = None,
    replication_ids: Sequence[int] | None = None,
    executor: Any = None,
    chunk_size: int | None = None,
    progress: bool = False,
) -> Comparison:
    """Run every scenario on the same replications and collect influence shares.

    Args:
        scenarios: two or more scenarios (objects or files); the first is the reference.
        replications: run ids ``0..replications-1``.
        seed: the common seed (default: the first scenario's ``seed``).
        replication_ids: run exactly these ids instead.
        executor: a :mod:`concurrent.futures` executor for the chunks, or None.
        chunk_size: replications per model.
        progress: show a progress bar per scenario on stderr.

    Returns:
        The :class:`Comparison`.

    Raises:
        ValueError: with fewer than two scenarios or different horizons.
    """
    loaded = [coerce_scenario(s) for s in scenarios]
    if len(loaded) < 2:
        msg = "expected at least two scenarios to compare"
        raise ValueError(msg)
    first = loaded[0]
    for sc in loaded[1:]:
        if (sc.start_quarter, sc.steps) != (first.start_quarter, first.steps):
            msg = (
                f"scenario {sc.name!r} runs {sc.horizon.start}..{sc.horizon.end}, but "
                f"{first.name!r} runs {first.horizon.start}..{first.horizon.end}; "
                "compared scenarios need the same horizon"
            )
            raise ValueError(msg)
    seed = first.seed if seed is None else int(seed)
    ids = replication_id_array(replications, replication_ids)
    pos_s = None
    pos_i = None
    arrays = []
    for sc in loaded:
        res = run_ensemble(
            sc,
            seed=seed,
            replication_ids=ids,
            executor=executor,
            chunk_size=chunk_size,
            metrics=("influence_share",),
            progress=progress,
        )
        arr, countries, partners = res.metric_array("influence_share")
        pos_s = [countries.index(s) for s in STATES]
        pos_i = [partners.index(i) for i in INFLUENCERS]
        arrays.append(arr[:, :, pos_s][:, :, :, pos_i])
    dates = np.array(
        [quarter_start(first.start_quarter + t) for t in range(first.steps)],
        dtype="datetime64[ns]",
    )
    return Comparison(
        labels=unique_labels([s.name for s in loaded]),
        scenarios=tuple(loaded),
        seed=seed,
        replication_ids=ids,
        dates=dates,
        shares=np.stack(arrays),
    )


# ----------------------------------------------------------------------------- statistics


def _band(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(q05, median, q95)`` of ``x`` along ``axis`` (linear interpolation)."""
    lo, hi = np.quantile(x, INTERVAL, axis=axis)
    return lo, np.median(x, axis=axis), hi


def unpaired_differences(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Draws of the difference of independent runs: ``b_k - a_{k+s}``, pooled over ``s``.

    Args:
        b: ``(R, ...)`` values of one scenario.
        a: ``(R, ...)`` values of the reference scenario.

    Returns:
        ``(R * n_shifts, ...)`` with ``n_shifts = min(UNPAIRED_SHIFTS, R - 1)``; empty
        when ``R == 1``.
    """
    R = len(a)
    shifts = range(1, min(UNPAIRED_SHIFTS, R - 1) + 1)
    if not shifts:
        return np.empty((0, *a.shape[1:]))
    return np.concatenate([b - np.roll(a, -s, axis=0) for s in shifts], axis=0)


def _grid_frame(cmp: Comparison, index: list[tuple[str, ...]]) -> pd.DataFrame:
    """Label columns (scenario, step, date, state, power) of a (k, T, S, I) grid."""
    T, S, H = len(cmp.dates), len(STATES), len(INFLUENCERS)
    k = len(index)
    return pd.DataFrame(
        {
            "scenario": np.repeat([x[0] for x in index], T * S * H),
            "step": np.tile(np.repeat(np.arange(T), S * H), k),
            "date": np.tile(np.repeat(cmp.dates, S * H), k),
            "state": np.tile(np.repeat(np.array(STATES), H), k * T),
            "power": np.tile(np.array(INFLUENCERS), k * T * S),
        }
    )


def influence_bands(cmp: Comparison) -> pd.DataFrame:
    """Median and 90% band of each influence share per scenario, step, state, power."""
    lo, mid, hi = _band(cmp.shares, axis=1)  # (n, T, S, I)
    out = _grid_frame(cmp, [(label,) for label in cmp.labels])
    out["median"], out["q05"], out["q95"] = mid.ravel(), lo.ravel(), hi.ravel()
    return out


def paired_differences(cmp: Comparison) -> pd.DataFrame:
    """Paired and unpaired difference bands of each scenario against the first.

    Returns:
        One row per (scenario, step, state, power) for every scenario but the first:
        ``median, q05, q95`` of the paired difference and ``unpaired_q05,
        unpaired_q95`` of the unpaired one.
    """
    frames = []
    ref = cmp.shares[0]
    for k, label in enumerate(cmp.labels[1:], start=1):
        lo, mid, hi = _band(cmp.shares[k] - ref, axis=0)
        ulo = np.full_like(lo, np.nan)
        uhi = np.full_like(hi, np.nan)
        for t in range(len(cmp.dates)):
            un = unpaired_differences(cmp.shares[k][:, t], ref[:, t])
            if len(un):
                ulo[t], uhi[t] = np.quantile(un, INTERVAL, axis=0)
        frame = _grid_frame(cmp, [(label,)])
        frame.insert(1, "reference", cmp.labels[0])
        frame["median"], frame["q05"], frame["q95"] = mid.ravel(), lo.ravel(), hi.ravel()
        frame["unpaired_q05"], frame["unpaired_q95"] = ulo.ravel(), uhi.ravel()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def end_shares(cmp: Comparison) -> pd.DataFrame:
    """End-of-horizon influence shares, intervals, and differences to the first scenario.

    Returns:
        One row per (state, power, scenario) with ``share_median, share_q05,
        share_q95`` and, except for the first scenario, ``diff_median, diff_q05,
        diff_q95`` (paired), ``paired_width`` and ``unpaired_width`` (widths of the 90%
        bands of the paired and unpaired differences) and ``width_ratio`` (paired over
        unpaired).
    """
    end = cmp.shares[:, :, -1]  # (n, R, S, I)
    lo, mid, hi = _band(end, axis=1)  # (n, S, I)
    rows = []
    for s, state in enumerate(STATES):
        for i, power in enumerate(INFLUENCERS):
            for k, label in enumerate(cmp.labels):
                row: dict[str, Any] = {
                    "state": state,
                    "power": power,
                    "scenario": label,
                    "share_median": mid[k, s, i],
                    "share_q05": lo[k, s, i],
                    "share_q95": hi[k, s, i],
                }
                if k > 0:
                    diff = end[k, :, s, i] - end[0, :, s, i]
                    dlo, dmid, dhi = _band(diff, axis=0)
                    un = unpaired_differences(end[k, :, s, i], end[0, :, s, i])
                    ulo, uhi = np.quantile(un, INTERVAL) if len(un) else (np.nan, np.nan)
                    width = dhi - dlo
                    row |= {
                        "diff_median": dmid,
                        "diff_q05": dlo,
                        "diff_q95": dhi,
                        "paired_width": width,
                        "unpaired_width": uhi - ulo,
                        "width_ratio": width / (uhi - ulo) if uhi > ulo else np.nan,
                    }
                rows.append(row)
    cols = [
        "state", "power", "scenario", "share_median", "share_q05", "share_q95",
        "diff_median", "diff_q05", "diff_q95", "paired_width", "unpaired_width", "width_ratio",
    ]  # fmt: skip
    return pd.DataFrame(rows).reindex(columns=cols)


def rank_crossings(cmp: Comparison) -> pd.DataFrame:
    """When one holder overtakes another over a state, and in how many replications.

    An overtaking of ``j`` by ``i`` happens at step ``t >= 1`` when ``i``'s share is at
    most ``j``'s at ``t - 1`` and above it at ``t``. For each scenario, state and
    ordered pair, the first such step of each replication is taken.

    Returns:
        One row per (scenario, state, overtaker, overtaken) that happens in at least one
        replication: ``replications_share`` (share of replications in which it happens),
        ``first_date_median``, ``first_date_q05``, ``first_date_q95`` (quarter of the
        first overtaking, over those replications, nearest-rank quantiles),
        ``ahead_at_start_share`` and ``ahead_at_end_share`` (share of all replications
        in which the overtaker is ahead at the first and last step).
    """
    rows = []
    for k, label in enumerate(cmp.labels):
        for s, state in enumerate(STATES):
            x = cmp.shares[k][:, :, s]  # (R, T, I)
            for i, j in permutations(range(len(INFLUENCERS)), 2):
                d = x[:, :, i] - x[:, :, j]
                up = (d[:, 1:] > 0) & (d[:, :-1] <= 0)
                happens = up.any(axis=1)
                if not happens.any():
                    continue
                first = up.argmax(axis=1)[happens] + 1
                q = np.quantile(first, (0.5, *INTERVAL), method="inverted_cdf")
                rows.append(
                    {
                        "scenario": label,
                        "state": state,
                        "overtaker": INFLUENCERS[i],
                        "overtaken": INFLUENCERS[j],
                        "replications_share": float(happens.mean()),
                        "first_date_median": cmp.dates[int(q[0])],
                        "first_date_q05": cmp.dates[int(q[1])],
                        "first_date_q95": cmp.dates[int(q[2])],
                        "ahead_at_start_share": float((d[:, 0] > 0).mean()),
                        "ahead_at_end_share": float((d[:, -1] > 0).mean()),
                    }
                )
    out = pd.DataFrame(
        rows,
        columns=[
            "scenario", "state", "overtaker", "overtaken", "replications_share",
            "first_date_median", "first_date_q05", "first_date_q95",
            "ahead_at_start_share", "ahead_at_end_share",
        ],
    )  # fmt: skip
    order = {label: n for n, label in enumerate(cmp.labels)}
    out["_k"] = out["scenario"].map(order)
    out["_s"] = out["state"].map(STATES.index)
    out = out.sort_values(["_k", "_s", "replications_share"], ascending=[True, True, False])
    return out.drop(columns=["_k", "_s"]).reset_index(drop=True)


# ----------------------------------------------------------------------------- figures


def _date_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _legend_handles(cmp: Comparison, styles: bool = True) -> list[Any]:
    handles: list[Any] = [
        Line2D([], [], color=POWER_COLOURS[p], linewidth=2.5, label=NAMES[p]) for p in INFLUENCERS
    ]
    if styles:
        handles += [
            Line2D([], [], color="black", linestyle=LINE_STYLES[k % len(LINE_STYLES)], label=lab)
            for k, lab in enumerate(cmp.labels)
        ]
    return handles


def plot_influence_comparison(cmp: Comparison) -> Figure:
    """Influence share per state: median lines and 90% bands, a line style per scenario."""
    fig = Figure(figsize=(13, 7.5), layout="constrained")
    axes = fig.subplots(2, 3, sharex=True, sharey=True).ravel()
    lo, mid, hi = _band(cmp.shares, axis=1)  # (n, T, S, I)
    for s, state in enumerate(STATES):
        ax = axes[s]
        for k in range(len(cmp.labels)):
            style = LINE_STYLES[k % len(LINE_STYLES)]
            for i, power in enumerate(INFLUENCERS):
                colour = POWER_COLOURS[power]
                ax.fill_between(
                    cmp.dates, lo[k, :, s, i], hi[k, :, s, i],
                    color=colour, alpha=_BAND_ALPHA, linewidth=0,
                )  # fmt: skip
                ax.plot(cmp.dates, mid[k, :, s, i], color=colour, linestyle=style, linewidth=1.6)
        ax.set_title(NAMES[state])
        ax.set_ylim(0, float(hi.max()) * 1.05)
        ax.grid(alpha=0.3)
        ax.xaxis.set_tick_params(labelbottom=True)
        _date_axis(ax)
        if s % 3 == 0:
            ax.set_ylabel("Influence share")
    axes[-1].set_axis_off()
    axes[-1].legend(handles=_legend_handles(cmp), loc="center", frameon=False)
    n = len(cmp.replication_ids)
    fig.suptitle(
        f"Influence share by state: {' vs '.join(cmp.labels)}\n"
        f"{n} common replications, seed {cmp.seed} (median, band 5-95%)"
    )
    return fig


def plot_paired_differences(cmp: Comparison, diffs: pd.DataFrame | None = None) -> Figure:
    """Paired differences to the first scenario: median and 90% band per power.

    The dotted lines are the unpaired 90% band, to show how much pairing narrows it.
    """
    diffs = paired_differences(cmp) if diffs is None else diffs
    others = cmp.labels[1:]
    fig = Figure(figsize=(16, 3.4 * len(others) + 0.8), layout="constrained")
    axes = fig.subplots(len(others), len(STATES), sharex=True, sharey=True, squeeze=False)
    for r, label in enumerate(others):
        style = LINE_STYLES[(r + 1) % len(LINE_STYLES)]
        part = diffs[diffs["scenario"] == label]
        for s, state in enumerate(STATES):
            ax = axes[r, s]
            ax.axhline(0.0, color="black", linewidth=0.8)
            for power in INFLUENCERS:
                colour = POWER_COLOURS[power]
                rows = part[(part["state"] == state) & (part["power"] == power)]
                x = rows["date"].to_numpy()
                ax.fill_between(x, rows["q05"], rows["q95"], color=colour, alpha=0.2, linewidth=0)
                ax.plot(x, rows["median"], color=colour, linestyle=style, linewidth=1.6)
                for col in ("unpaired_q05", "unpaired_q95"):
                    ax.plot(x, rows[col], color=colour, linestyle=":", linewidth=0.8)
            ax.set_title(f"{NAMES[state]}\n{label} − {cmp.labels[0]}", fontsize="medium")
            ax.grid(alpha=0.3)
            ax.xaxis.set_tick_params(labelbottom=True)
            _date_axis(ax)
            if s == 0:
                ax.set_ylabel("Difference in influence share")
    handles = [
        *_legend_handles(cmp, styles=False),
        Patch(facecolor="grey", alpha=0.4, label="paired 90% band"),
        Line2D([], [], color="grey", linestyle=":", label="unpaired 90% band"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    fig.suptitle(
        f"Paired differences to {cmp.labels[0]} ({len(cmp.replication_ids)} common "
        f"replications, seed {cmp.seed}; median, band 5-95%)"
    )
    return fig


# ----------------------------------------------------------------------------- tables


def markdown_table(df: pd.DataFrame, formats: dict[str, str] | None = None) -> str:
    """Render ``df`` as a GitHub Markdown table (no extra dependency).

    Args:
        df: the table.
        formats: ``format`` spec per column (e.g. ``{"share": ".1%"}``); NaN prints empty.
    """
    formats = formats or {}

    def cell(col: str, value: Any) -> str:
        if isinstance(value, float) and np.isnan(value):
            return ""
        if isinstance(value, pd.Timestamp | np.datetime64):
            return quarter_label(pd.Timestamp(value))
        if col in formats:
            return format(value, formats[col])
        return str(value)

    lines = [
        "| " + " | ".join(df.columns) + " |",
        "| " + " | ".join("---" for _ in df.columns) + " |",
    ]
    lines.extend(
        "| " + " | ".join(cell(c, v) for c, v in zip(df.columns, row, strict=True)) + " |"
        for row in df.itertuples(index=False)
    )
    return "\n".join(lines) + "\n"


def quarter_label(date: pd.Timestamp) -> str:
    """``2031-04-01`` -> ``"2031Q2"``."""
    return f"{date.year}Q{(date.month - 1) // 3 + 1}"


def _end_shares_markdown(table: pd.DataFrame, cmp: Comparison) -> str:
    pp = ".1f"
    view = pd.DataFrame(
        {
            "state": table["state"],
            "power": table["power"],
            "scenario": table["scenario"],
            "share % (90% interval)": [
                f"{m * 100:{pp}} ({lo * 100:{pp}}–{hi * 100:{pp}})"
                for m, lo, hi in zip(
                    table["share_median"], table["share_q05"], table["share_q95"], strict=True
                )
            ],
            "paired diff pp (90% band)": [
                "" if np.isnan(m) else f"{m * 100:+.2f} ({lo * 100:+.2f} to {hi * 100:+.2f})"
                for m, lo, hi in zip(
                    table["diff_median"], table["diff_q05"], table["diff_q95"], strict=True
                )
            ],
            "paired width pp": table["paired_width"] * 100,
            "unpaired width pp": table["unpaired_width"] * 100,
            "paired/unpaired": table["width_ratio"],
        }
    )
    head = (
        f"# End-of-horizon influence shares ({quarter_label(pd.Timestamp(cmp.dates[-1]))})\n\n"
        f"{len(cmp.replication_ids)} common replications, seed {cmp.seed}. Shares are "
        "medians over replications with 5-95% intervals. Differences are to "
        f"**{cmp.labels[0]}**, in percentage points: *paired* compares replication k with "
        "replication k (common random numbers); *unpaired* re-pairs replications as if "
        f"the runs were independent (shifts 1..{UNPAIRED_SHIFTS}). Widths are those of the "
        "90% bands.\n\n"
    )
    return head + markdown_table(
        view,
        {"paired width pp": ".2f", "unpaired width pp": ".2f", "paired/unpaired": ".2f"},
    )


def _crossings_markdown(table: pd.DataFrame, cmp: Comparison) -> str:
    view = table.rename(columns={"replications_share": "share of replications"})
    head = (
        "# Rank crossings\n\n"
        "An influencer overtakes another over a state when its influence share rises "
        "above the other's. Share of replications in which it happens at least once, and "
        "the quarter of the first overtaking (median and 5-95% range over those "
        f"replications). {len(cmp.replication_ids)} replications, seed {cmp.seed}.\n\n"
    )
    if table.empty:
        return head + "No crossings in any replication.\n"
    return head + markdown_table(
        view,
        {
            "share of replications": ".1%",
            "ahead_at_start_share": ".1%",
            "ahead_at_end_share": ".1%",
        },
    )


def write_comparison(cmp: Comparison, folder: Path) -> list[Path]:
    """Write figures and tables of a comparison into ``folder`` (created if missing).

    Returns:
        The files written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    diffs = paired_differences(cmp)
    for name, fig in (
        ("influence.png", plot_influence_comparison(cmp)),
        ("differences.png", plot_paired_differences(cmp, diffs)),
    ):
        fig.savefig(folder / name, dpi=_DPI)
        fig.clear()
        written.append(folder / name)
    end = end_shares(cmp)
    cross = rank_crossings(cmp)
    tables = {
        "influence_bands.csv": influence_bands(cmp),
        "differences.csv": diffs,
        "end_shares.csv": end,
        "crossings.csv": cross,
    }
    for name, table in tables.items():
        table.to_csv(folder / name, index=False)
        written.append(folder / name)
    (folder / "end_shares.md").write_text(_end_shares_markdown(end, cmp), encoding="utf-8")
    (folder / "crossings.md").write_text(_crossings_markdown(cross, cmp), encoding="utf-8")
    written += [folder / "end_shares.md", folder / "crossings.md"]
    return written


# ----------------------------------------------------------------------------- run folder


def run_compare(
    paths: Sequence[str | Path],
    *,
    replications: int | None = DEFAULT_REPLICATIONS,
    replication_ids: Sequence[int] | None = None,
    seed: int | None = None,
    workers: int = 1,
    chunk_size: int | None = None,
    out: str | Path | None = None,
    results: str | Path = "results",
    progress: bool = False,
    scenarios: Sequence[Scenario] | None = None,
) -> Path:
    """``casim compare``: run scenarios with common random numbers, write one folder.

    The folder (default ``results/compare/<UTC time>-s<seed>-<digest8>``) holds
    :func:`write_comparison`'s files, ``manifest.json`` and ``scenarios/<n>-<name>.yaml``;
    it is written under a temporary name and renamed into place at the end.

    Args:
        paths: scenario files; the first is the reference.
        replications: run ids ``0..replications-1`` of every scenario.
        replication_ids: run exactly these ids instead.
        seed: the common seed (default: the first scenario's).
        workers: processes; more than one uses a process pool.
        chunk_size: replications per model.
        out: the folder (must not exist or be empty).
        results: the results root for the default folder.
        progress: show progress bars on stderr.
        scenarios: ``paths`` already loaded (the CLI loads them before the heavy
            imports, so bad input fails fast); loaded here if None.

    Returns:
        The folder.

    Raises:
        ScenarioError: for bad input, before anything is written.
    """
    from sim import runner  # noqa: PLC0415

    t0 = time.perf_counter()
    if len(paths) < 2:
        raise ScenarioError(paths[0] if paths else "compare", "", "expected two or more scenarios")
    scenarios = [load_scenario(p) for p in paths] if scenarios is None else list(scenarios)
    first = scenarios[0]
    for p, sc in zip(paths[1:], scenarios[1:], strict=True):
        if (sc.start_quarter, sc.steps) != (first.start_quarter, first.steps):
            raise ScenarioError(
                p, "horizon",
                f"expected the horizon of {paths[0]} ({first.horizon.start}..{first.horizon.end})",
            )  # fmt: skip
    seed = first.seed if seed is None else seed
    if seed < 0:
        raise ScenarioError(paths[0], "--seed", f"expected a non-negative integer, got {seed}")
    if replications is None and replication_ids is None:
        replications = DEFAULT_REPLICATIONS
    try:
        ids = replication_id_array(replications, replication_ids)
    except ValueError as err:
        raise ScenarioError(paths[0], "--replications", str(err)) from None
    if workers < 1:
        raise ScenarioError(paths[0], "--workers", f"expected a positive integer, got {workers}")
    digest = hashlib.sha256("".join(s.digest() for s in scenarios).encode()).hexdigest()
    if out is not None:
        final = Path(out)
        runner.check_out_dir(final)
    else:
        final = runner.default_run_dir(Path(results), "compare", seed, digest)
    t_load = time.perf_counter() - t0
    with runner.atomic_dir(final) as tmp, contextlib.ExitStack() as stack:
        pool = stack.enter_context(process_pool(workers)) if workers > 1 else None
        t1 = time.perf_counter()
        cmp = compare_scenarios(
            scenarios,
            replication_ids=ids,
            seed=seed,
            executor=pool,
            chunk_size=chunk_size,
            progress=progress,
        )
        t2 = time.perf_counter()
        written = write_comparison(cmp, tmp)
        sc_dir = tmp / "scenarios"
        sc_dir.mkdir()
        for n, (label, sc) in enumerate(zip(cmp.labels, scenarios, strict=True)):
            safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in label)
            (sc_dir / f"{n}-{safe}.yaml").write_text(sc.to_yaml(), encoding="utf-8")
        t3 = time.perf_counter()
        manifest = {
            "kind": "compare",
            "scenarios": [
                {"label": lab, "name": sc.name, "file": str(p), "scenario_sha256": sc.digest()}
                for lab, sc, p in zip(cmp.labels, scenarios, paths, strict=True)
            ],
            "reference": cmp.labels[0],
            "seed": seed,
            "replications": len(ids),
            "replication_ids": id_summary(ids),
            "common_random_numbers": True,
            "interval": list(INTERVAL),
            "unpaired_shifts": UNPAIRED_SHIFTS,
            "horizon": {"start": first.horizon.start, "end": first.horizon.end},
            "steps": first.steps,
            "files": sorted(p.relative_to(tmp).as_posix() for p in written),
            "packages": runner.package_versions(),
            "git": runner.git_commit(),
            "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
            "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "timings_s": {
                "load": round(t_load, 4),
                "simulate": round(t2 - t1, 4),
                "write": round(t3 - t2, 4),
            },
        }
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8"
        )
    return final
