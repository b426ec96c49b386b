"""Background runs for the dashboard: an edited scenario and its base on common numbers.

:func:`run_pair` runs ``n`` replications of the base and of the edited scenario on the same
seed and replication ids (common random numbers, as ``casim compare`` does), in this
thread, one chunk per scenario through :func:`sim.engine.ensemble.simulate_chunk`, so
the values are those ``casim run SCENARIO --replications n`` writes. It reports progress
after every quarter and stops at the next quarter when asked to. The base's values are
kept (a few, by scenario digest), so moving a lever re-runs only the edited scenario.

:func:`start_warm` compiles the kernels and runs the base once, in a background thread,
when the first page is shown (so the page is served at once and shows a "warming up"
note until :func:`warm_done`); a run asked for meanwhile waits for that base rather
than running it a second time.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.output import check_metrics

if TYPE_CHECKING:
    from collections.abc import Callable

    from sim.engine.ensemble import EnsembleResult
    from sim.scenario import Scenario

#: Replications of a dashboard run unless the form says otherwise.
DEFAULT_REPLICATIONS = 200
#: Most replications the form accepts.
MAX_REPLICATIONS = 5000
#: Metric families the views draw (prefixes of :func:`sim.output.metric_layout` names).
VIEW_METRICS = ("influence_", "trade_share", "gdp", "export_revenue", "route_flow_")
#: Fewest seconds between two progress reports (each one redraws the run controls, in
#: the run's thread, holding the interpreter: a 1 s run gets one or two).
PROGRESS_EVERY_S = 0.5
#: Base results kept in memory.
_CACHE_SIZE = 4
_CACHE: OrderedDict[tuple[str, int, int], EnsembleResult] = OrderedDict()
_LOCK = threading.Lock()
#: Base runs under way (set when done), by the cache key.
_INFLIGHT: dict[tuple[str, int, int], threading.Event] = {}
#: Set when the warm-up (kernels and the base) has finished, or failed.
_WARM = threading.Event()
_WARM_STARTED = threading.Event()


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
        cpu_seconds: processor time of the run's thread (less than ``seconds`` when
            other work shares the machine).
    """

    base: EnsembleResult
    edited: EnsembleResult
    seconds: float
    cpu_seconds: float = 0.0


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
    # The engine (mesa, numba) is imported on first use, so the page shows before it.
    from sim.engine.ensemble import run_ensemble  # noqa: PLC0415

    names = view_metrics(scenario)
    return run_ensemble(
        scenario, replications=n, seed=seed, chunk_size=n, metrics=names, on_step=on_step
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
        progress: called with the share done (0 to 1) after a quarter, at most every
            :data:`PROGRESS_EVERY_S` seconds.
        cancelled: polled after every quarter; True stops the run.

    Raises:
        Cancelled: when ``cancelled()`` turned True.
        ValueError: for ``n`` outside ``1..MAX_REPLICATIONS``.
    """
    if not 1 <= n <= MAX_REPLICATIONS:
        msg = f"expected 1 to {MAX_REPLICATIONS} replications, got {n}"
        raise ValueError(msg)
    t0, c0 = time.perf_counter(), time.thread_time()
    seed = edited.seed
    key = (base.digest(), seed, n)
    _wait_for_warm_up(key, cancelled)
    with _LOCK:
        cached = _CACHE.get(key)
    todo = [edited] if cached is not None else [base, edited]
    total, done, last = len(todo) * edited.steps * n, [0], [time.perf_counter()]

    def step(k: int) -> None:
        done[0] += k
        if cancelled is not None and cancelled():
            raise Cancelled
        if progress is not None and time.perf_counter() - last[0] >= PROGRESS_EVERY_S:
            last[0] = time.perf_counter()
            progress(done[0] / total)

    results = [run_one(sc, seed, n, step) for sc in todo]
    if cached is None:
        cached = results[0]
        with _LOCK:
            _CACHE[key] = cached
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return PairResult(
        base=cached,
        edited=results[-1],
        seconds=time.perf_counter() - t0,
        cpu_seconds=time.thread_time() - c0,
    )


def _wait_for_warm_up(key: tuple[str, int, int], cancelled: Callable[[], bool] | None) -> None:
    """Wait while the warm-up or a run of this base is under way (checking ``cancelled``)."""
    while True:
        with _LOCK:
            busy = key in _INFLIGHT or (_WARM_STARTED.is_set() and not _WARM.is_set())
        if not busy:
            return
        if cancelled is not None and cancelled():
            raise Cancelled
        time.sleep(0.05)


def prime(base: Scenario, seed: int, n: int = DEFAULT_REPLICATIONS) -> None:
    """Run the base now and keep its values, so the first run only runs the edit.

    A :func:`run_pair` on the same base meanwhile waits for these values.
    """
    key = (base.digest(), seed, n)
    done = threading.Event()
    with _LOCK:
        if key in _CACHE or key in _INFLIGHT:
            return
        _INFLIGHT[key] = done
    try:
        result = run_one(base, seed, n)
        with _LOCK:
            _CACHE[key] = result
    finally:
        with _LOCK:
            _INFLIGHT.pop(key, None)
        done.set()


def warm_up(scenario: Scenario) -> float:
    """Compile the numba kernels (one short run); return the seconds it took."""
    t0 = time.perf_counter()
    run_one(scenario, scenario.seed, 2)
    return time.perf_counter() - t0


def start_warm(scenario: Scenario, base: Scenario) -> None:
    """Warm up once per process, in a background thread: kernels, then the base's run.

    Later calls do nothing; :func:`warm_done` turns True when it has finished (a failure
    only costs time later: the run reports its own error).
    """
    with _LOCK:
        if _WARM_STARTED.is_set():
            return
        _WARM_STARTED.set()

    def warm() -> None:
        try:
            with contextlib.suppress(Exception):  # the run itself reports errors
                warm_up(scenario)
                prime(base, scenario.seed)
        finally:
            _WARM.set()

    threading.Thread(target=warm, name="casim-warm", daemon=True).start()


def warm_done(timeout: float | None = 0.0) -> bool:
    """Whether the warm-up has finished (waiting up to ``timeout`` seconds; None: forever)."""
    return _WARM.wait(timeout)


def cached_pair(base: Scenario) -> PairResult | None:
    """A kept run of ``base`` (any seed) paired with itself, or None if none is kept."""
    digest = base.digest()
    with _LOCK:
        kept = [res for key, res in _CACHE.items() if key[0] == digest]
    return PairResult(kept[-1], kept[-1], 0.0) if kept else None
