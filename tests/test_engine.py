"""The engine's executors (sim.engine.executors), request checks and the run studies."""

from __future__ import annotations

import concurrent.futures
import os
import signal
from contextlib import nullcontext

import numpy as np
import pandas as pd
import pytest

from sim.core.model import GeoModel
from sim.engine import ensemble as ens
from sim.engine.executors import (
    Executor,
    SequentialExecutor,
    executor_workers,
    process_pool,
    runs_in_process,
    sigint_deferred,
)
from sim.scenario import Scenario, ScenarioError
from sim.studies.run import RunResult, run_many, run_single

SEED = 11


def test_sequential_executor_runs_at_once() -> None:
    ex = SequentialExecutor()
    assert isinstance(ex, Executor)
    assert executor_workers(ex) == 1
    assert runs_in_process(ex)
    calls: list[int] = []
    fut = ex.submit(lambda x, y=0: calls.append(x) or x + y, 2, y=3)
    assert calls == [2]  # ran during submit
    assert fut.done()
    assert fut.result() == 5


def test_sequential_executor_hands_errors_to_the_future() -> None:
    fut = SequentialExecutor().submit(int, "x")
    with pytest.raises(ValueError, match="invalid literal"):
        fut.result()

    def interrupt() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        SequentialExecutor().submit(interrupt)


def test_workers_come_from_the_public_attribute() -> None:
    class Custom:
        workers = 3

        def submit(self, fn, /, *args, **kwargs):
            return SequentialExecutor().submit(fn, *args, **kwargs)

    assert isinstance(Custom(), Executor)
    assert executor_workers(Custom()) == 3
    assert not runs_in_process(Custom())
    assert executor_workers(object()) == 1


def test_sequential_executor_passes_the_progress_callback(short_loaded: Scenario) -> None:
    ticks: list[int] = []
    task = ens.ChunkTask(short_loaded, SEED, (0, 5), ("gdp",))
    values = SequentialExecutor().submit(ens.simulate_chunk, task, ticks.append).result()
    assert ticks == [2] * short_loaded.steps
    assert values.shape == (2, short_loaded.steps * len(short_loaded.vocab.states))


def test_sequential_and_process_pool_give_identical_results(short_loaded: Scenario) -> None:
    kwargs = {"replications": 12, "seed": SEED, "chunk_size": 5}
    seq = ens.run_ensemble(short_loaded, executor=SequentialExecutor(), **kwargs)
    default = ens.run_ensemble(short_loaded, **kwargs)
    with process_pool(2) as pool:
        assert pool.workers == 2
        assert executor_workers(pool) == 2
        assert not runs_in_process(pool)
        par = ens.run_ensemble(short_loaded, executor=pool, **kwargs)
    assert seq.values is not None
    assert par.values is not None
    assert np.array_equal(seq.values, par.values)
    assert np.array_equal(seq.values, default.values)
    pd.testing.assert_frame_equal(seq.summary, par.summary, check_exact=True)


def test_process_pool_stops_its_workers_on_error() -> None:
    """Workers stopped and the pool's thread ended (its pipe closed before exit)."""
    started: list[object] = []

    def use_then_interrupt() -> concurrent.futures.Executor:
        with process_pool(1) as pool:
            assert pool.submit(sum, [1, 2]).result() == 3
            started.extend(pool._processes.values())  # what terminate stops
            started.append(pool._executor_manager_thread)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        use_then_interrupt()
    *workers, thread = started
    assert workers
    assert not any(proc.is_alive() for proc in workers)
    assert not thread.is_alive()


@pytest.mark.parametrize("handler", [signal.default_int_handler, signal.SIG_IGN])
def test_sigint_deferred_holds_ctrl_c_and_leaves_an_ignored_one_ignored(handler: object) -> None:
    """Ctrl-C inside the block is raised when it ends; an ignored SIGINT stays ignored."""
    previous = signal.signal(signal.SIGINT, handler)
    reached = False
    try:
        expected = pytest.raises(KeyboardInterrupt) if callable(handler) else nullcontext()
        with expected, sigint_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            reached = True
        assert signal.getsignal(signal.SIGINT) is handler
    finally:
        signal.signal(signal.SIGINT, previous)
    assert reached


def test_default_chunk_size() -> None:
    assert ens.default_chunk_size(10) == 10
    assert ens.default_chunk_size(10_000) == ens.DEFAULT_CHUNK_SIZE
    assert ens.default_chunk_size(1000, workers=4) == 63
    assert ens.default_chunk_size(100, workers=4) == ens.MIN_CHUNK_SIZE
    assert ens.default_chunk_size(5, workers=4) == 5


def test_id_summary() -> None:
    assert ens.id_summary(np.array([3, 7])) == [3, 7]
    assert ens.id_summary(np.arange(5, 205)) == {"first": 5, "last": 204, "count": 200}


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"replications": 0}, "replications"),
        ({"replication_ids": [1, 1]}, "replication_ids"),
        ({"metrics": ["nope"]}, "metrics"),
        ({"workers": 0}, "workers"),
        ({"chunk_size": 0}, "chunk_size"),
    ],
)
def test_check_request_names_the_parameter(short_loaded: Scenario, kwargs: dict, key: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        ens.check_request("s.yaml", short_loaded.vocab, **kwargs)
    assert exc.value.path == key
    assert "--" not in str(exc.value)


def test_check_request_returns_ids_and_metrics(short_loaded: Scenario) -> None:
    ids, names = ens.check_request(
        "s.yaml", short_loaded.vocab, replication_ids=[9, 2], metrics=["gdp", "budget"]
    )
    assert ids.tolist() == [2, 9]
    assert names == ("budget", "gdp")


# ------------------------------------------------------------------ studies


def test_run_single_is_replication_zero(short_loaded: Scenario) -> None:
    res = run_single(short_loaded, seed=SEED)
    assert isinstance(res, RunResult)
    assert res.seed == SEED
    assert set(res.timings) == {"simulate", "tidy"}
    model = GeoModel(scenario=short_loaded, rng=SEED).run()
    pd.testing.assert_frame_equal(res.timeseries, model.timeseries(), check_exact=True)
    assert res.calibration_residual_max_pp == float(abs(model.calibration_residual).max() * 100)
    assert run_single(short_loaded).seed == short_loaded.seed
    with pytest.raises(ValueError, match="non-negative"):
        run_single(short_loaded, seed=-1)


def test_run_many_is_run_ensemble(short_loaded: Scenario) -> None:
    many = run_many(short_loaded, seed=SEED, replication_ids=[0, 7], metrics=["gdp"])
    ref = ens.run_ensemble(short_loaded, seed=SEED, replication_ids=[0, 7], metrics=["gdp"])
    assert isinstance(many, ens.EnsembleResult)
    assert np.array_equal(many.values, ref.values)
    single = run_single(short_loaded, seed=SEED).timeseries
    gdp = single[single.metric == "gdp"].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        many.timeseries[many.timeseries.replication == 0].reset_index(drop=True), gdp
    )


def test_map_only_executors_still_work(short_loaded: Scenario) -> None:
    class MapOnly:
        def map(self, fn, items):
            return map(fn, items)

    res = ens.run_ensemble(short_loaded, replications=3, seed=SEED, executor=MapOnly())
    ref = ens.run_ensemble(short_loaded, replications=3, seed=SEED)
    assert np.array_equal(res.values, ref.values)
    assert not isinstance(MapOnly(), concurrent.futures.Executor)
