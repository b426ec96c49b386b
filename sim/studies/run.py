"""Run a scenario: one replication (:func:`run_single`) or many (:func:`run_many`).

Both return result objects and write nothing but what they are asked to stream
(``out_path``); run folders are filled by the report layer on
:class:`~sim.engine.runfolder.RunFolder`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sim.engine.ensemble import EnsembleResult, run_ensemble
from sim.output import to_tidy
from sim.scenario import Scenario, coerce_scenario

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    import numpy as np
    import pandas as pd


@dataclass
class RunResult:
    """What :func:`run_single` returns.

    Attributes:
        scenario: the resolved scenario.
        seed: the seed of the run.
        timeseries: the tidy table (:data:`sim.output.COLUMNS`) of replication 0.
        calibration_residual_max_pp: largest base-year calibration residual, in
            percentage points.
        timings: wall-clock seconds: ``simulate`` (the model run) and ``tidy`` (building
            the table).
    """

    scenario: Scenario
    seed: int
    timeseries: pd.DataFrame
    calibration_residual_max_pp: float
    timings: dict[str, float] = field(default_factory=dict)


def run_single(
    scenario: Scenario | str | Path | dict[str, Any], *, seed: int | None = None
) -> RunResult:
    """Run one replication (id 0) of a scenario.

    Args:
        scenario: a :class:`Scenario`, a scenario file, or a resolved scenario mapping.
        seed: the seed (default: the scenario's ``seed``).

    Raises:
        ValueError: on a negative seed.
    """
    from sim.core.model import GeoModel  # noqa: PLC0415 - heavy import only when running

    sc = coerce_scenario(scenario)
    seed = sc.seed if seed is None else int(seed)
    if seed < 0:
        msg = f"expected a non-negative seed, got {seed}"
        raise ValueError(msg)
    t0 = time.perf_counter()
    model = GeoModel(scenario=sc, rng=seed).run()
    t1 = time.perf_counter()
    df = to_tidy(model.history, model.replication_ids, model.start_quarter, sc.vocab)
    t2 = time.perf_counter()
    return RunResult(
        scenario=sc,
        seed=seed,
        timeseries=df,
        calibration_residual_max_pp=float(abs(model.calibration_residual).max() * 100),
        timings={"simulate": round(t1 - t0, 4), "tidy": round(t2 - t1, 4)},
    )


def run_many(
    scenario: Scenario | str | Path | dict[str, Any],
    *,
    seed: int | None = None,
    replications: int | None = None,
    replication_ids: Sequence[int] | np.ndarray | None = None,
    executor: Any = None,
    chunk_size: int | None = None,
    metrics: Iterable[str] | None = None,
    out_path: str | Path | None = None,
    progress: bool = False,
) -> EnsembleResult:
    """Run an ensemble of a scenario (see :func:`sim.engine.ensemble.run_ensemble`)."""
    return run_ensemble(
        scenario,
        replications=replications,
        seed=seed,
        executor=executor,
        chunk_size=chunk_size,
        replication_ids=replication_ids,
        out_path=out_path,
        metrics=metrics,
        progress=progress,
    )
