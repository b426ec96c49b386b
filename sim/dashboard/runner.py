"""Background runs for the dashboard: an edited scenario and its base on common numbers.

:func:`run_pair` runs ``n`` replications of the base and of the edited scenario on the same
seed and replication ids (common random numbers, as ``casim compare`` does), in this
thread, one chunk per scenario through :func:`sim.engine.ensemble.simulate_chunk`, so
the values are those ``casim run SCENARIO --replications n`` writes. It reports progress
after every quarter and stops at the next quarter when asked to. The base's values are
kept (a few, by scenario digest), so moving a lever re-runs only the edited scenario.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.engine.ensemble import ChunkTask, EnsembleResult, simulate_chunk
from sim.output import check_metrics, row_layout

if TYPE_CHECKING:
    from collections.abc import Callable

    from sim.scenario import Scenario

#: Replications of a dashboard run unless the form says otherwise.
DEFAULT_REPLICATIONS = 200
#: Most replications the form accepts.
MAX_REPLICATIONS = 5000
#: Metric families the views draw (prefixes of :func:`sim.output.metric_layout` names).
VIEW_METRICS = ("influence_", "trade_share", "gdp", "export_revenue", "route_flow_")
#: Smallest share of the run between two progress reports (each one redraws the page).
PROGRESS_EVERY = 0.1
#: Base results kept in memory.
_CACHE_SIZE = 4
_CACHE: OrderedDict[tuple[str, int, int], EnsembleResult] = OrderedDict()
_LOCK = threading.Lock()


class Cancelled(Exception):  # noqa: N818 - a user's choice, not an error
    """Raised inside a run when the user pressed cancel."""


@dataclass(frozen=True, eq=False)
class PairResult:
    """An edited scenario and its base, run on the same replications.

    Compared by identity (Solara compares a task's values; the arrays cannot be).

    Attributes:
        base: the base's ensemble.
        edited: the edited scenario's ensemble.
        seconds: wall-clock time of the run (the base may have come from memory).
    """

    base: EnsembleResult
    edited: EnsembleResult
    seconds: float


def view_metrics(scenario: Scenario) -> tuple[str, ...]:
    """The metrics the dashboard records for ``scenario``."""
    names = check_metrics(None, scenario.vocab)
    return tuple(m for m in names if m.startswith(VIEW_METRICS))


def run_one(
    scenario: Scenario,
    seed: int,
    n: int,
    on_step: Callable[[int], None] | None = None,
) -> EnsembleResult:
    """``n`` replications (ids ``0..n-1``) of ``scenario`` at ``seed``, in this thread."""
    names = view_metrics(scenario)
    ids = np.arange(n, dtype=np.int64)
    task = ChunkTask(scenario, seed, tuple(range(n)), names)
    t0 = time.perf_counter()
    raw = simulate_chunk(task, on_step)
    layout = row_layout(names, scenario.steps, scenario.start_quarter, scenario.vocab)
    return EnsembleResult(
        scenario=scenario,
        seed=seed,
        replication_ids=ids,
        layout=layout,
        summary_frame=None,
        raw=raw,
        timings_s={"simulate": round(time.perf_counter() - t0, 4)},
    )


def run_pair(
    base: Scenario,
    edited: Scenario,
    n: int,
    progress: Callable[[float], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> PairResult:
    """Run ``base`` and ``edited`` on the edited scenario's seed and ids ``0..n-1``.

    Args:
        base: the scenario to compare with.
        edited: the edited scenario.
        n: replications.
        progress: called with the share done (0 to 1) after every quarter.
        cancelled: polled after every quarter; True stops the run.

    Raises:
        Cancelled: when ``cancelled()`` turned True.
        ValueError: for ``n`` outside ``1..MAX_REPLICATIONS``.
    """
    if not 1 <= n <= MAX_REPLICATIONS:
        msg = f"expected 1 to {MAX_REPLICATIONS} replications, got {n}"
        raise ValueError(msg)
    t0 = time.perf_counter()
    seed = edited.seed
    key = (base.digest(), seed, n)
    with _LOCK:
        cached = _CACHE.get(key)
    todo = [edited] if cached is not None else [base, edited]
    total, done, shown = len(todo) * edited.steps * n, [0], [0.0]

    def step(k: int) -> None:
        done[0] += k
        if cancelled is not None and cancelled():
            raise Cancelled
        if progress is not None and done[0] / total - shown[0] >= PROGRESS_EVERY:
            shown[0] = done[0] / total
            progress(shown[0])

    results = [run_one(sc, seed, n, step) for sc in todo]
    if cached is None:
        cached = results[0]
        with _LOCK:
            _CACHE[key] = cached
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return PairResult(base=cached, edited=results[-1], seconds=time.perf_counter() - t0)


def prime(base: Scenario, seed: int, n: int = DEFAULT_REPLICATIONS) -> None:
    """Run the base now and keep its values, so the first run only runs the edit."""
    result = run_one(base, seed, n)
    with _LOCK:
        _CACHE[(base.digest(), seed, n)] = result


def warm_up(scenario: Scenario) -> float:
    """Compile the numba kernels (one short run); return the seconds it took."""
    t0 = time.perf_counter()
    run_one(scenario, scenario.seed, 2)
    return time.perf_counter() - t0
