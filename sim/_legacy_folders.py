"""TEMPORARY: today's run-folder writers for ``casim run``, rebuilt on the new layers.

The report/cli helper replaces this module (writers that fill a
:class:`~sim.engine.runfolder.RunFolder` from :mod:`sim.studies.run` results); it exists
only so ``sim/cli.py`` keeps working on the engine branch. Files, manifest fields and
their values are those of the former ``sim.runner.run_scenario`` and
``sim.ensemble.run_ensemble_folder``.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from sim.engine.ensemble import check_request, default_chunk_size, id_summary, run_ensemble
from sim.engine.executors import process_pool
from sim.engine.runfolder import RunFolder, base_manifest
from sim.engine.store import QUANTILES
from sim.output import tidy_frame
from sim.scenario import Scenario, load_scenario
from sim.studies.run import run_single

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from sim.engine.ensemble import EnsembleResult

#: Ensemble figures are drawn from at most this many replications (the first ids).
PLOT_REPLICATIONS = 200


def run_scenario(
    path: str | Path,
    *,
    overrides: list[str] | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
    results: str | Path = "results",
    plots: bool = True,
) -> Path:
    """Run one replication of a scenario and write its run folder."""
    overrides = list(overrides or [])
    t0 = time.perf_counter()
    scenario = load_scenario(path, overrides)
    folder = RunFolder.prepare(
        name=scenario.name,
        digest=scenario.digest(),
        seed=seed,
        default_seed=scenario.seed,
        source=path,
        out=out,
        results=results,
        started=t0,
    )
    from sim import plots as plotting  # noqa: PLC0415 - heavy imports after the checks

    with folder:
        result = run_single(scenario, seed=folder.seed)
        df = result.timeseries
        with folder.timed("write"):
            df.to_parquet(folder.path / "timeseries.parquet", index=False)
            folder.write_text("scenario.yaml", scenario.to_yaml())
        with folder.timed("plots"):
            written = plotting.save_all(df, folder.path / "plots") if plots else []
        manifest = base_manifest(scenario, path, overrides, folder.seed)
        manifest |= {
            "replications": 1,
            "replication_ids": [0],
            "rows": len(df),
            "plots": [p.name for p in written],
            "calibration_residual_max_pp": result.calibration_residual_max_pp,
            "timings_s": {
                "simulate": result.timings["simulate"],
                "write": round(folder.timings["write"] + result.timings["tidy"], 4),
            },
        }
        folder.write_manifest(manifest)
    return folder.final


def run_ensemble_folder(
    path: str | Path,
    *,
    replications: int | None = None,
    replication_ids: Sequence[int] | None = None,
    seed: int | None = None,
    overrides: list[str] | None = None,
    workers: int = 1,
    chunk_size: int | None = None,
    metrics: Iterable[str] | None = None,
    out: str | Path | None = None,
    results: str | Path = "results",
    plots: bool = True,
    progress: bool = False,
    scenario: Scenario | None = None,
) -> Path:
    """Run an ensemble of a scenario file and write its run folder."""
    overrides = list(overrides or [])
    t0 = time.perf_counter()
    if scenario is None:
        scenario = load_scenario(path, overrides)
    ids, names = check_request(
        path,
        scenario.vocab,
        replications=replications,
        replication_ids=replication_ids,
        metrics=metrics,
        workers=workers,
        chunk_size=chunk_size,
    )
    folder = RunFolder.prepare(
        name=scenario.name,
        digest=scenario.digest(),
        seed=seed,
        default_seed=scenario.seed,
        source=path,
        out=out,
        results=results,
        started=t0,
    )
    with folder, contextlib.ExitStack() as stack:
        pool = stack.enter_context(process_pool(workers)) if workers > 1 else None
        result = run_ensemble(
            scenario,
            seed=folder.seed,
            replication_ids=ids,
            executor=pool,
            chunk_size=chunk_size,
            out_path=folder.path / "timeseries.parquet",
            metrics=names,
            progress=progress,
        )
        with folder.timed("write"):
            result.summary.to_parquet(folder.path / "summary.parquet", index=False)
            folder.write_text("scenario.yaml", scenario.to_yaml())
        with folder.timed("plots"):
            written, plot_ids, plot_note = _ensemble_plots(result, folder.path, plots)
        manifest = base_manifest(scenario, path, overrides, folder.seed)
        manifest |= {
            "replications": len(ids),
            "replication_ids": id_summary(ids),
            "metrics": list(names),
            "workers": workers,
            "chunk_size": chunk_size or default_chunk_size(len(ids), workers),
            "rows": int(len(ids) * result.layout.rows),
            "summary": {"quantiles": list(QUANTILES.values()), "method": "linear"},
            "plots": [p.name for p in written],
            "plots_replications": plot_ids,
            "plots_note": plot_note,
            "timings_s": {
                "simulate": result.timings_s["simulate"],
                "summarise": result.timings_s["summarise"],
            },
        }
        folder.write_manifest(manifest)
    return folder.final


def _ensemble_plots(
    result: EnsembleResult, folder: Path, enabled: bool
) -> tuple[list[Path], int, str | None]:
    """Draw :func:`sim.plots.save_all` from the first :data:`PLOT_REPLICATIONS` ids."""
    if not enabled:
        return [], 0, None
    from sim import plots as plotting  # noqa: PLC0415 - matplotlib only when plotting

    ids = result.replication_ids[:PLOT_REPLICATIONS]
    if result.values is not None:
        df = tidy_frame(result.values[: len(ids)], ids, result.layout)
    else:
        df = pd.read_parquet(
            folder / "timeseries.parquet", filters=[("replication", "in", [int(k) for k in ids])]
        )
    try:
        written = plotting.save_all(df, folder / "plots")
    except ValueError as err:  # a metric subset without what the figures need
        return [], 0, f"plots skipped: {err}"
    note = None
    if len(ids) < len(result.replication_ids):
        note = f"figures drawn from the first {len(ids)} of {len(result.replication_ids)} ids"
    return written, len(ids), note
