"""Markdown tables of the studies, and the skill summary a backtest manifest holds.

Everything here turns a study's result tables into text; nothing is computed that the
studies do not already report, except summary means of their errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.core.uncertainty import band_label
from sim.output import metric_kind, metric_unit
from sim.studies.compare import UNPAIRED_SHIFTS, diff_columns, quarter_label, value_columns
from sim.vocab import DEFAULT

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sim.studies.compare import Comparison
    from sim.vocab import Vocabulary


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


def _num(x: float, fmt: str) -> str:
    return "" if pd.isna(x) else format(x, fmt)


def at_markdown(
    table: pd.DataFrame, replications: int, carries: str = "stochastic noise only"
) -> str:
    """One metric's section of ``compare.md``: values and paired differences at a window.

    Args:
        table: the metric's :func:`~sim.studies.compare.at_table` (``at_<metric>.csv``).
        replications: the number of common replications.
        carries: what the bands carry (:func:`sim.core.uncertainty.band_label`).
    """
    metric, at = str(table["metric"].iloc[0]), str(table["at"].iloc[0])
    share = metric_kind(metric) == "share"
    v = value_columns(metric_kind(metric))
    d = diff_columns(metric_kind(metric))
    tag = "pp" if share else "pct"
    unit = "pp" if share else "% of reference"
    vfmt, dfmt = (".1f", "+.2f") if share else (".4g", "+.2f")
    unit_of_value = metric_unit(metric) or "own unit"
    value_head = "share % (5-95%)" if share else f"value, {unit_of_value} (5-95%)"
    view = pd.DataFrame(
        {
            "country": table["country"].fillna(""),
            "partner": table["partner"].fillna(""),
            "scenario": table["scenario"],
            value_head: [
                f"{_num(m, vfmt)} ({_num(lo, vfmt)}–{_num(hi, vfmt)})"
                for m, lo, hi in zip(table[v[0]], table[v[1]], table[v[2]], strict=True)
            ],
            f"paired diff {unit} (5-95%)": [
                "" if pd.isna(m) else f"{m:{dfmt}} ({_num(lo, dfmt)} to {_num(hi, dfmt)})"
                for m, lo, hi in zip(table[d[0]], table[d[1]], table[d[2]], strict=True)
            ],
            f"paired width {unit}": table[f"paired_width_{tag}"],
            f"unpaired width {unit}": table[f"unpaired_width_{tag}"],
            "paired/unpaired": table["width_ratio"],
        }
    )
    view = view.loc[
        :, [c for c in view.columns if c not in ("country", "partner") or view[c].any()]
    ]
    what = (
        "Shares in percent; differences in percentage points (pp)"
        if share
        else "Values in the metric's unit (docs/outputs.md); differences in percent of "
        "the reference, per replication, then summarised"
    )
    quarters = "the quarter" if ":" not in at else "the mean of the window's quarters"
    head = (
        f"## {metric} at {at}\n\n{what}. Each replication's value is {quarters}; "
        f"differences are paired (replication k against replication k of the reference, "
        f"{replications} common replications): median and 5-95% band, which carries "
        f"{carries}.\n\n"
    )
    widths = {c: ".2f" for c in view.columns if "width" in c or c == "paired/unpaired"}
    return head + markdown_table(view, widths)


def compare_markdown(tables: Sequence[pd.DataFrame], cmp: Comparison, at: str) -> str:
    """``compare.md``: every compared metric at ``at`` (:func:`at_markdown` sections)."""
    head = (
        f"# Comparison at {at}\n\n"
        f"Scenarios {', '.join(cmp.labels)}; differences are to **{cmp.labels[0]}**. "
        f"{len(cmp.replication_ids)} common replications, seed {cmp.seed}. *Paired* "
        "compares replication k with replication k (common random numbers); *unpaired* "
        f"re-pairs replications as if the runs were independent (shifts "
        f"1..{UNPAIRED_SHIFTS}). Widths are those of the 90% (5-95%) bands.\n\n"
    )
    n = len(cmp.replication_ids)
    carries = band_label("fixed")
    if cmp.parameters is not None:
        carries = band_label("posterior", cmp.parameters.n)
    return head + "\n".join(at_markdown(t, n, carries) for t in tables)


def crossings_markdown(table: pd.DataFrame, cmp: Comparison) -> str:
    """``crossings.md``: the rank crossings of a comparison."""
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


def _num(value: Any, fmt: str = ".2f") -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and np.isnan(value))
        else format(value, fmt)
    )


def _stats_cells(row: Any) -> str:
    return (
        f"{row.n} | {_num(row.mae_model)} | {_num(row.mae_persistence)} | {_num(row.ratio)} "
        f"| {_num(row.coverage, '.0%')}"
    )


_STATS_HEAD = "n | model MAE pp | persistence MAE pp | ratio | 90% band coverage"


def _runs_lines(points: pd.DataFrame, runs: Sequence[dict[str, Any]]) -> list[str]:
    """The table of runs and the points each can score."""
    lines = [
        "| run | scenario years | simulated | points it can score |",
        "| --- | --- | --- | --- |",
    ]
    for run in runs:
        pts = points[points["run"] == run["name"]]
        kinds = [
            f"{sample}: {g['year'].min()}"
            + (f"-{g['year'].max()}" if g["year"].max() > g["year"].min() else "")
            + f" {method} ({len(g)})"
            for (sample, method), g in pts.groupby(["sample", "method"], sort=False)
        ]
        lines.append(
            f"| {run['name']} | {run['base_year']}-{run['horizon_last']} "
            f"| {run['base_year']}-{run['last_year']} | {'; '.join(kinds) or 'none'} |"
        )
    return lines


def _discrepancy_lines(fit: dict[str, Any] | None) -> list[str]:
    """What the skill report says about the model-discrepancy term (nothing if off)."""
    if not fit:
        return []
    sig = ", ".join(f"{k if k != '*' else 'all states'} {v:.3f}" for k, v in fit["sigma"].items())
    h0, h1 = fit["h_fitted"]
    y0, y1 = fit["years_fitted"]
    offset = f", persistent offset beta = {fit['beta']:.3f}" if fit.get("offset") else ""
    return [
        "",
        "Model discrepancy (the model's structural error, Kennedy and O'Hagan 2001): each "
        "replication's shares are moved, in additive log-ratio space against the residual "
        "partner (`ln(s_p / s_ROW)`), by its own random walk from the run's base year, "
        "`d(h) = sigma (e_1 + ... + e_h) + tau u_h`, then mapped back (shares stay in [0, 1] "
        "and sum to 1). The median is the model's. Fitted by maximum likelihood on the "
        f"in-sample run's residuals ({fit['n_points']} points, {y0}-{y1}, leads h = {h0}-{h1} "
        f"years): sigma per year {sig}; tau = {fit['tau']:.3f}{offset}; log-likelihood "
        f"{fit['loglik']:.1f}, AIC {fit['aic']:.1f} (the lowest of sigma pooled or per state, "
        "with or without an offset). **The fit is in sample and sees leads up to "
        f"{h1} years; that the error keeps growing like a random walk to the hindcast's "
        "longer leads (up to 14 years) is an assumption.** The in-sample coverage below is "
        "therefore not a test of the band.",
    ]


def _skill_intro(meta: dict[str, Any], runs: Sequence[dict[str, Any]]) -> list[str]:
    last = max((r["horizon_last"] for r in runs), default=2020)
    return [
        "# Hindcast skill",
        "",
        f"Scenario `{meta['scenario']}`, {meta['replications']} replications, seed "
        f"{meta['seed']}. Model: the ensemble median of annual shares (mean of the year's "
        "quarters per replication; the value of `hindcast.csv`), with the ensemble mean and "
        "the 5-95% band next to it. Persistence: the run's base-year reference share held "
        "constant. Errors are absolute, in percentage points; ratio = model MAE / "
        "persistence MAE (below 1: the model beats persistence).",
        "",
        "## What the bands carry",
        "",
        f"The 90% band (5% to 95% of replications) carries **{meta['band_note']}**. "
        "Uncertainty it does not name (parameters, model structure, the reference data's "
        "method) is not in it, and its coverage below says how often the reference points "
        "fall inside it.",
        *_discrepancy_lines(meta.get("discrepancy")),
        "",
        "## Runs and the points each can score",
        "",
        "A run scores the reference points of the years it simulates. The IMF DOTS mirror "
        "series (`sim/data/trade_shares_2005_2010.csv`) ends in 2010: the hindcast from 2010 "
        "can score only its base year (2010), the in-sample run (2005 data, the fitted "
        "behaviour) scores 2005-2010, on which the parameters were fitted. The national "
        "statistics and other compilers' figures (`sim/data/trade_recent.csv`) are a "
        "different method (own declarations, not mirror data; some cover part of a year, see "
        f"`period`). Points after {last} are scored by the hindcast carried on past its "
        "horizon: no dated events there, the paths the scenario lists past it (a projection). "
        "The held-back 2011-2020 DOTS series is scored outside this repository from "
        "`hindcast.csv` and `hindcast_bands.csv`.",
        "",
    ]


def skill_markdown(
    points: pd.DataFrame,
    meta: dict[str, Any],
    powers: tuple[str, ...] = DEFAULT.powers,
    vocab: Vocabulary = DEFAULT,
) -> str:
    """``skill.md``: runs, what the bands carry, MAE and coverage summaries, every point.

    Args:
        points: the skill points of a backtest (:data:`sim.studies.backtest.SKILL_COLUMNS`).
        meta: ``scenario``, ``replications``, ``seed``, ``band_note`` (what the bands
            carry) and ``runs`` (``name, base_year, horizon_last, last_year`` each).
        powers: partners of the powers-only headline group.
        vocab: the order of states and partners in the per-pair tables.
    """
    from sim.studies.backtest import skill_by_pair, skill_groups  # noqa: PLC0415

    runs = meta.get("runs", [])
    lines = [*_skill_intro(meta, runs), *_runs_lines(points, runs)]
    lines += ["", "## Summary per period and source", ""]
    lines += [f"| points | {_STATS_HEAD} |", "| --- | --- | --- | --- | --- | --- |"]
    lines += [
        f"| {r.group} | {_stats_cells(r)} |"
        for r in skill_groups(points, powers).itertuples(index=False)
    ]
    lines += ["", "Base-year points: persistence is exact by construction (ratio -)."]
    pairs = skill_by_pair(points, vocab)
    for run, g in pairs.groupby("run", sort=False):
        lines += ["", f"## Per state and partner: {run} (base year left out)", ""]
        lines += [
            f"| state | partner | {_STATS_HEAD} |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        lines += [f"| {r.country} | {r.partner} | {_stats_cells(r)} |" for r in g.itertuples()]
    lines += ["", "## Points", "", *_points_lines(points), ""]
    return "\n".join(lines)


def _points_lines(points: pd.DataFrame) -> list[str]:
    lines = [
        "| year | state | partner | run | period | method | sample | reference % | model % "
        "| mean % | p05 % | p95 % | in band | persistence % | model error pp "
        "| persistence error pp | source |",
        "| --- " * 17 + "|",
    ]
    lines.extend(
        f"| {r.year} | {r.country} | {r.partner} | {r.run} | {r.period} | {r.method} "
        f"| {r.sample} | {r.reference:.2f} | {r.model:.2f} | {r.model_mean:.2f} "
        f"| {r.p05:.2f} | {r.p95:.2f} | {'yes' if r.inside_band else 'no'} "
        f"| {r.persistence:.2f} | {r.err_model:.2f} | {r.err_persistence:.2f} | {r.source} |"
        for r in points.itertuples(index=False)
    )
    return lines


def skill_summary(points: pd.DataFrame, powers: tuple[str, ...] = DEFAULT.powers) -> dict[str, Any]:
    """The ``skill`` entry of a backtest manifest: MAE, ratio and coverage per group."""
    from sim.studies.backtest import skill_groups  # noqa: PLC0415

    def num(value: Any) -> float | None:
        return None if pd.isna(value) else round(float(value), 4)

    return {
        r.group: {
            "n": int(r.n),
            "mae_model_pp": num(r.mae_model),
            "mae_persistence_pp": num(r.mae_persistence),
            "ratio": num(r.ratio),
            "coverage_90": num(r.coverage),
        }
        for r in skill_groups(points, powers).itertuples(index=False)
    }
