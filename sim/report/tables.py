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
from sim.report.style import quarter_label
from sim.studies.compare import UNPAIRED_SHIFTS, diff_columns, value_columns
from sim.vocab import DEFAULT

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sim.studies.compare import Comparison


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


def _skill_groups(points: pd.DataFrame, powers: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    in_sample = points[points["year"] == 2010]
    return {
        "2010, all partners (in sample)": in_sample,
        f"2010, {'/'.join(powers)} (in sample)": in_sample[in_sample["partner"].isin(powers)],
        "after 2010 (out of sample)": points[points["year"] > 2010],
    }


def skill_markdown(
    points: pd.DataFrame, meta: dict[str, Any], powers: tuple[str, ...] = DEFAULT.powers
) -> str:
    """``skill.md``: the point table and MAE summaries, model vs persistence.

    Args:
        points: the skill points of a backtest (one row per reference point).
        meta: ``scenario``, ``replications`` and ``seed`` of the run.
        powers: partners of the powers-only in-sample group.
    """
    lines = [
        "# Hindcast skill",
        "",
        f"Scenario `{meta['scenario']}`, {meta['replications']} replications, seed "
        f"{meta['seed']}. Model: ensemble median of annual shares (mean of the year's "
        "quarters per replication). Persistence: the 2010 reference share held constant. "
        f"The 5-95% bands carry {meta.get('bands', 'stochastic noise only')}.",
        "",
        "The reference series for 2011-2020 is held back from this repository, so only "
        "the points it holds inside 2010-2020 can be scored here: 2010 (in sample: the "
        "model is calibrated to reproduce it, and persistence equals it by construction) "
        "and the 2011 Kazakhstan-China share from national statistics (a different method "
        "from the IMF DOTS mirror series; compare levels with care).",
        "",
        "## Points",
        "",
        "| year | state | partner | source | reference % | model % | persistence % "
        "| model error pp | persistence error pp |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines.extend(
        f"| {r.year} | {r.country} | {r.partner} | {r.source} | {r.reference:.2f} "
        f"| {r.model:.2f} | {r.persistence:.2f} | {r.err_model:.2f} "
        f"| {r.err_persistence:.2f} |"
        for r in points.itertuples(index=False)
    )
    lines += ["", "## Mean absolute error (percentage points)", ""]
    lines += [
        "| points | n | model MAE | persistence MAE |",
        "| --- | --- | --- | --- |",
    ]
    for label, g in _skill_groups(points, powers).items():
        if g.empty:
            lines.append(f"| {label} | 0 | - | - |")
            continue
        lines.append(
            f"| {label} | {len(g)} | {g['err_model'].mean():.2f} "
            f"| {g['err_persistence'].mean():.2f} |"
        )
    lines += [
        "",
        "Out-of-sample skill on 2011-2020 (the issue's target: model MAE over "
        f"{', '.join(powers[:-1])} and {powers[-1]} at least 30% below persistence) can only "
        "be measured against the held-back series; `hindcast.csv` holds everything needed "
        "to do so.",
        "",
    ]
    return "\n".join(lines)


def skill_summary(points: pd.DataFrame) -> dict[str, Any]:
    """The ``skill`` entry of a backtest manifest: MAE in and out of sample."""
    out: dict[str, Any] = {}
    for label, g in (
        ("in_sample_2010", points[points["year"] == 2010]),
        ("out_of_sample", points[points["year"] > 2010]),
    ):
        out[label] = {
            "n": len(g),
            "mae_model_pp": float(np.round(g["err_model"].mean(), 4)) if len(g) else None,
            "mae_persistence_pp": float(np.round(g["err_persistence"].mean(), 4))
            if len(g)
            else None,
        }
    return out
