"""``casim compare``'s folder: tables in this process, figures in three forked ones.

:func:`write_comparison` writes the tables and figures of a
:class:`~sim.studies.compare.Comparison`. matplotlib is imported only where figures are
drawn (the forked processes, which :func:`sim.report.runs.run_compare` starts before the
simulation so that they have imported it meanwhile), so this module is cheap to import.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.core.uncertainty import band_label
from sim.engine.executors import Standby
from sim.report.tables import compare_markdown, crossings_markdown
from sim.scenario import format_quarter
from sim.studies.compare import (
    INTERVAL,
    UNPAIRED_SHIFTS,
    at_table,
    difference_series,
    influence_bands,
    rank_crossings,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import pandas as pd

    from sim.engine.runfolder import RunFolder
    from sim.studies.compare import Comparison, Window

#: What the forked drawing processes import (and warm up) while they wait; at last
#: ``gc.freeze`` moves what they hold then out of the garbage collector's passes, which
#: the many short-lived objects of a figure otherwise trigger over every module loaded.
FIGURE_MODULES = (
    "sim.report.study_figures:warm_up",
    "sim.engine.stats:warm_up",
    "gc:freeze",
)


def _difference_files(cmp: Comparison, out: Path) -> tuple[list[Path], float]:
    """``differences_<metric>.csv`` and ``.png`` of every metric.

    Returns:
        The files, and when the last table was written (:func:`time.perf_counter`).
    """
    from sim.report.study_figures import plot_difference_series  # noqa: PLC0415 - matplotlib

    series = {m: difference_series(cmp, m) for m in cmp.metrics}
    written = []
    for metric, table in series.items():
        table.to_csv(out / f"differences_{metric}.csv", index=False)
        written.append(out / f"differences_{metric}.csv")
    tables_done = time.perf_counter()
    kw = {"seed": cmp.seed, "replications": len(cmp.replication_ids), "vocab": cmp.vocab}
    for metric, table in series.items():
        fig = plot_difference_series(table, metric=metric, **kw)
        written.append(_save(fig, out / f"differences_{metric}.png", bands_of(cmp)))
    return written, tables_done


def _influence_files(cmp: Comparison, out: Path) -> tuple[list[Path], float]:
    """Influence bands, rank crossings (``.csv``, ``.md``) and ``influence.png``.

    Returns:
        The files, and when the last table was written (:func:`time.perf_counter`).
    """
    from sim.report.study_figures import plot_influence_comparison  # noqa: PLC0415

    bands, cross = influence_bands(cmp), rank_crossings(cmp)
    written = []
    for name, table in (("influence_bands.csv", bands), ("crossings.csv", cross)):
        table.to_csv(out / name, index=False)
        written.append(out / name)
    written.append(out / "crossings.md")
    written[-1].write_text(crossings_markdown(cross, cmp), encoding="utf-8")
    tables_done = time.perf_counter()
    n = len(cmp.replication_ids)
    fig = plot_influence_comparison(bands, seed=cmp.seed, replications=n, vocab=cmp.vocab)
    written.append(_save(fig, out / "influence.png", bands_of(cmp)))
    return written, tables_done


def _dot_figures(
    cmp: Comparison, out: Path, at_tables: Mapping[str, pd.DataFrame]
) -> tuple[list[Path], float]:
    """``compare_<metric>.png`` of every metric, from its ``at_<metric>`` table."""
    from sim.report.study_figures import plot_at_differences  # noqa: PLC0415 - matplotlib

    tables_done, n, written = time.perf_counter(), len(cmp.replication_ids), []
    for metric, at in at_tables.items():
        fig = plot_at_differences(at, replications=n, vocab=cmp.vocab)
        written.append(_save(fig, out / f"compare_{metric}.png", bands_of(cmp)))
    return written, tables_done


def write_comparison(
    folder: RunFolder,
    cmp: Comparison,
    paths: Sequence[str | Path],
    window: Window,
    standby: Sequence[Standby] = (),
) -> dict[str, Any]:
    """Write a comparison's tables, figures and resolved scenarios.

    Per metric: ``at_<metric>.csv`` (values and paired differences at ``window``),
    ``differences_<metric>.csv`` (every quarter) and their figures; ``compare.md`` with
    every metric's table; with influence shares also ``influence_bands.csv``,
    ``influence.png`` and the rank crossings (``crossings.csv`` / ``.md``). The
    differences (tables and figure), the influence files and the dot figures go to
    three forked processes (``standby``, forked early so that they have imported
    matplotlib meanwhile; forked here if not given) while this one writes the rest.
    Timings: ``write`` until every table is written, ``plots`` the rest.

    Args:
        folder: the open run folder.
        cmp: the comparison.
        paths: the scenario files, in comparison order (for the manifest).
        window: the quarter or window the tables and dot figures read.
        standby: up to three :class:`~sim.engine.executors.Standby` children to use.

    Returns:
        Manifest fields ``scenarios``, ``metrics``, ``at`` (label, first and last quarter,
        number of quarters), ``units`` (metric -> unit of its differences),
        ``interval``, ``unpaired_shifts`` and ``files`` (relative to the folder, sorted).
    """
    out, started = folder.path, time.perf_counter()
    helpers = [*standby, *(Standby() for _ in range(3 - len(standby)))]
    tasks = [helpers[0].submit(functools.partial(_difference_files, cmp, out))]
    if "influence_share" in cmp.metrics:
        tasks.append(helpers[1].submit(functools.partial(_influence_files, _influence(cmp), out)))
    at_tables = {m: at_table(cmp, m, window) for m in cmp.metrics}
    tasks.append(helpers[2].submit(functools.partial(_dot_figures, _light(cmp), out, at_tables)))
    written = []
    for metric, table in at_tables.items():
        table.to_csv(out / f"at_{metric}.csv", index=False)
        written.append(out / f"at_{metric}.csv")
    text = compare_markdown(list(at_tables.values()), cmp, window.label)
    written.append(folder.write_text("compare.md", text))
    for n, (label, sc) in enumerate(zip(cmp.labels, cmp.scenarios, strict=True)):
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in label)
        folder.write_text(f"scenarios/{n}-{safe}.yaml", sc.to_yaml())
    tables_done = [time.perf_counter()]
    for done in tasks:
        files, when = done()
        written += files
        tables_done.append(when)
    for helper in helpers:
        helper.close()  # one given nothing (no influence shares) leaves
    folder.timings["write"] = round(max(tables_done) - started, 4)
    folder.timings["plots"] = round(time.perf_counter() - max(tables_done), 4)
    return comparison_fields(cmp, paths, window, written, out)


def _influence(cmp: Comparison) -> Comparison:
    """``cmp`` with only its influence shares (what :func:`_influence_files` reads)."""
    return dataclasses.replace(cmp, metrics={"influence_share": cmp.metrics["influence_share"]})


def _light(cmp: Comparison) -> Comparison:
    """``cmp`` without its values (:func:`_dot_figures` reads only the labels)."""
    return dataclasses.replace(cmp, metrics={})


def comparison_fields(
    cmp: Comparison, paths: Sequence[str | Path], window: Window, written: list[Path], out: Path
) -> dict[str, Any]:
    """The manifest fields of :func:`write_comparison`."""
    start = cmp.scenarios[0].start_quarter
    return {
        "scenarios": [
            {"label": lab, "name": sc.name, "file": str(p), "scenario_sha256": sc.digest()}
            for lab, sc, p in zip(cmp.labels, cmp.scenarios, paths, strict=True)
        ],
        "metrics": list(cmp.metrics),
        "at": {
            "label": window.label,
            "first": format_quarter(start + window.first),
            "last": format_quarter(start + window.last),
            "quarters": window.quarters,
        },
        "units": {m: mv.unit for m, mv in cmp.metrics.items()},
        "interval": list(INTERVAL),
        "unpaired_shifts": UNPAIRED_SHIFTS,
        "files": sorted(p.relative_to(out).as_posix() for p in written),
    }


def bands_of(cmp: Comparison) -> str:
    """What a comparison's bands carry (:func:`sim.core.uncertainty.band_label`)."""
    if cmp.parameters is None:
        return band_label("fixed")
    return band_label("posterior", cmp.parameters.n)


def _save(fig: Any, path: Path, carry: str) -> Path:
    """Footnote what the bands carry, save at the study resolution (:func:`save_png`)."""
    from sim.report.style import STUDY_DPI, mark_bands, save_png  # noqa: PLC0415 - matplotlib

    mark_bands(fig, carry)
    save_png(fig, path, STUDY_DPI)
    return path
