"""Ensembles (sim.engine.ensemble): batch invariance, summary, streaming, CLI, interruption.

The CLI tests at the end go through the run-folder writers (report/cli layer).
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sim import cli, output
from sim.core.model import GeoModel
from sim.engine import ensemble as ens
from sim.engine import store
from sim.scenario import Scenario

SEED = 11
#: Replications checked for batch invariance (0, inside a chunk, past the first chunks).
PROBE = (0, 7, 37)


@pytest.fixture(scope="module")
def short(short_loaded: Scenario) -> Scenario:
    return short_loaded


@pytest.fixture(scope="module")
def alone(short: Scenario) -> dict[int, np.ndarray]:
    """Each probed replication run on its own."""
    out = {}
    for k in PROBE:
        res = ens.run_ensemble(short, replication_ids=[k], seed=SEED)
        assert res.values is not None
        out[k] = res.values[0]
    return out


def rows_of(res: ens.EnsembleResult, k: int) -> np.ndarray:
    assert res.values is not None
    i = int(np.flatnonzero(res.replication_ids == k)[0])
    return res.values[i]


def test_timeseries_is_the_models_tidy_table(short: Scenario) -> None:
    res = ens.run_ensemble(short, replications=3, seed=5, chunk_size=2)
    ref = GeoModel(scenario=short, replications=3, rng=5).run().timeseries()
    pd.testing.assert_frame_equal(res.timeseries, ref)


@pytest.mark.parametrize(
    ("kwargs", "label"),
    [
        ({"replications": 10}, "batch of 10, one chunk"),
        ({"replications": 300}, "batch of 300, one chunk"),
        ({"replications": 60, "chunk_size": 7}, "batch of 60, chunks of 7"),
        ({"replication_ids": [37, 0, 7], "chunk_size": 2}, "just the probes, chunks of 2"),
    ],
)
def test_batch_invariance(
    short: Scenario, alone: dict[int, np.ndarray], kwargs: dict, label: str
) -> None:
    res = ens.run_ensemble(short, seed=SEED, **kwargs)
    for k in PROBE:
        if k in res.replication_ids:
            assert np.array_equal(rows_of(res, k), alone[k]), f"replication {k}: {label}"


def test_batch_invariance_on_a_process_pool(short: Scenario, alone: dict[int, np.ndarray]) -> None:
    ctx = multiprocessing.get_context("forkserver")  # no fork of a threaded process
    ctx.set_forkserver_preload(["sim.engine.ensemble", "sim.core.model"])
    with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        res = ens.run_ensemble(short, replications=40, seed=SEED, chunk_size=9, executor=pool)
    for k in PROBE:
        assert np.array_equal(rows_of(res, k), alone[k]), f"replication {k} on a pool"


def test_batch_invariance_through_map_only_executor(
    short: Scenario, alone: dict[int, np.ndarray]
) -> None:
    class MapOnly:
        def map(self, fn, items):
            return map(fn, items)

    res = ens.run_ensemble(short, replication_ids=[7, 37], seed=SEED, executor=MapOnly())
    for k in (7, 37):
        assert np.array_equal(rows_of(res, k), alone[k])


def test_seed_changes_every_replication(short: Scenario, alone: dict[int, np.ndarray]) -> None:
    other = ens.run_ensemble(short, replication_ids=[7], seed=SEED + 1)
    assert other.values is not None
    assert not np.array_equal(other.values[0], alone[7])


@pytest.fixture(scope="module")
def ensemble25(short: Scenario) -> ens.EnsembleResult:
    return ens.run_ensemble(short, replications=25, seed=3, chunk_size=10)


def direct_summary(df: pd.DataFrame) -> pd.DataFrame:
    g = df.groupby(["step", "date", "country", "partner", "metric"], sort=False)["value"]
    return pd.DataFrame(
        {
            "mean": g.mean(),
            "median": g.median(),
            "q05": g.quantile(0.05),
            "q95": g.quantile(0.95),
        }
    ).reset_index()


def test_summary_matches_pandas(ensemble25: ens.EnsembleResult) -> None:
    summary = ensemble25.summary
    assert tuple(summary.columns) == store.SUMMARY_COLUMNS
    direct = direct_summary(ensemble25.timeseries)
    keys = ["step", "date", "country", "partner", "metric"]
    merged = summary.merge(direct, on=keys, suffixes=("", "_pd"), validate="one_to_one")
    assert len(merged) == len(summary) == len(direct)
    for col in ("mean", "median", "q05", "q95"):
        np.testing.assert_allclose(merged[col], merged[f"{col}_pd"], rtol=1e-12, atol=1e-12)
    # The quantiles are real spreads, not a single replication repeated.
    gdp = summary[summary["metric"] == "gdp"]
    assert (gdp["q95"] >= gdp["median"]).all()
    assert (gdp["median"] >= gdp["q05"]).all()
    assert (gdp["q95"] > gdp["q05"]).any()


def test_streamed_parquet_and_spilled_summary(
    short: Scenario,
    ensemble25: ens.EnsembleResult,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store, "MEMORY_STORE_BYTES", 1)  # force the on-disk value store
    monkeypatch.setattr(store, "SUMMARY_BLOCK_BYTES", 8 * 25 * 1000)
    monkeypatch.setattr(store, "ROW_GROUP_REPLICATIONS", 4)
    path = tmp_path / "ts.parquet"
    res = ens.run_ensemble(short, replications=25, seed=3, chunk_size=6, out_path=path)
    assert res.values is None
    assert list(tmp_path.iterdir()) == [path]  # the spill file is gone
    pd.testing.assert_frame_equal(pd.read_parquet(path), ensemble25.timeseries)
    assert pq.ParquetFile(path).metadata.num_row_groups == 9  # chunks 6,6,6,6,1 in groups of <= 4
    pd.testing.assert_frame_equal(
        res.summary, ensemble25.summary, check_exact=False, rtol=1e-13, atol=1e-12
    )


def test_metric_subset(short: Scenario) -> None:
    res = ens.run_ensemble(short, replications=2, seed=4, metrics=["gdp", "influence_share"])
    ref = GeoModel(scenario=short, replications=2, rng=4).run().timeseries()
    ref = ref[ref["metric"].isin(["gdp", "influence_share"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(res.timeseries, ref)
    arr, countries, partners = res.metric_array("influence_share")
    assert arr.shape == (2, short.steps, 5, 5)
    np.testing.assert_allclose(arr.sum(axis=3), 1.0)
    assert countries == tuple(sorted(countries))
    assert partners == tuple(sorted(partners))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"replication_ids": [3, 3]},
        {"replication_ids": [-1]},
        {"replication_ids": []},
        {"replications": 0},
        {"replications": 2, "metrics": ["no_such_metric"]},
        {"replications": 2, "chunk_size": 0},
    ],
)
def test_bad_arguments(short: Scenario, kwargs: dict) -> None:
    with pytest.raises(ValueError, match=r"expected|must|unknown"):
        ens.run_ensemble(short, seed=1, **kwargs)


def test_parse_replication_ids() -> None:
    assert cli.parse_replication_ids("37,41") == [37, 41]
    assert cli.parse_replication_ids("0-3, 9") == [0, 1, 2, 3, 9]
    for bad in ("", "a", "3-1", "1,,2", "-2", "2-", "²", "0-99999999999"):
        with pytest.raises(ValueError, match=r"expected|empty|more than"):
            cli.parse_replication_ids(bad)


def test_interrupted_chunks_leave_no_spill_file(
    short: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "MEMORY_STORE_BYTES", 1)

    class InterruptAfterOne:
        def map(self, fn, items):
            yield fn(next(iter(items)))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ens.run_ensemble(
            short,
            replications=4,
            seed=1,
            chunk_size=2,
            executor=InterruptAfterOne(),
            out_path=tmp_path / "ts.parquet",
        )
    assert not list(tmp_path.glob(".values-*"))


# ----------------------------------------------------------------------------- CLI


def test_cli_replication_ids(
    baseline_path: Path, short: Scenario, alone: dict[int, np.ndarray], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    argv = ["run", str(baseline_path), "--set", "horizon.end=2026Q4", "--seed", str(SEED)]
    argv += ["--replication-ids", "37,7", "--out", str(out), "--no-plots"]
    argv += ["--parameter-uncertainty", "fixed"]  # `alone` runs the scenario's values
    assert cli.main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "scenario.yaml",
        "summary.parquet",
        "timeseries.parquet",
    ]
    df = pd.read_parquet(out / "timeseries.parquet")
    assert sorted(df["replication"].unique()) == [7, 37]
    names = output.check_metrics(None, short.vocab)
    layout = output.row_layout(names, short.steps, short.start_quarter, short.vocab)
    for k in (7, 37):
        assert np.array_equal(df.loc[df["replication"] == k, "value"].to_numpy(), alone[k])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["replication_ids"] == [7, 37]
    assert manifest["replications"] == 2
    assert manifest["rows"] == len(df) == 2 * layout.rows
    summary = pd.read_parquet(out / "summary.parquet")
    assert len(summary) == layout.rows


def test_cli_bad_ids_exit_2(baseline_path: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", str(baseline_path), "--replication-ids", "3,x", "--out", str(tmp_path)])
    assert exc.value.code == 2


#: ``python -c FOREGROUND ARGS...`` execs ``python ARGS...`` (same process) with SIGINT at its
#: default, as a terminal starts a foreground job.
FOREGROUND = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def _wait_for(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_leaves_nothing_complete(
    baseline_path: Path, repo_root: Path, tmp_path: Path, workers: int
) -> None:
    results = tmp_path / "results"
    earlier = results / "baseline" / "earlier-run"
    earlier.mkdir(parents=True)
    (earlier / "manifest.json").write_text("{}", encoding="utf-8")
    argv = [sys.executable, "-c", FOREGROUND, "-m", "sim", "run", str(baseline_path)]
    argv += ["--replications", "4000", "--workers", str(workers), "--no-plots"]
    # The numpy reference (no numba): a signal during a first compile is answered as
    # promptly, but llvmlite may then report a half-built object on stderr at exit.
    env = {**os.environ, "PYTHONPATH": str(repo_root), "CASIM_KERNELS": "0"}
    # Started as a terminal starts a foreground job, whose Ctrl-C this stands for: with
    # SIGINT at its default (FOREGROUND). Tests started in the background by a shell
    # without job control (as CI starts them) ignore SIGINT, every child inherits that,
    # and Python then leaves it ignored: the run would go on to the end.
    proc = subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        started = _wait_for(lambda: any((results / "baseline").glob(".*partial*")), 60)
        assert started, "the run never created its temporary folder"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        # A hang guard, not a speed test: an ignored Ctrl-C would let the run finish (exit 0).
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # reap it and close its pipes (no ResourceWarning later)
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err
    folders = [p for p in (results / "baseline").iterdir() if p != earlier]
    assert folders == []  # the temporary folder is gone, nothing renamed into place
    assert [p.name for p in earlier.iterdir()] == ["manifest.json"]
    assert (earlier / "manifest.json").read_text(encoding="utf-8") == "{}"


@pytest.mark.parametrize("seed", [0, 11, 2**32 - 1, 2**40 + 7, 2**130 + 5])
def test_fast_noise_seeding_is_numpys_seed_sequence(short: Scenario, seed: int) -> None:
    """draw_noise's vectorised seeding draws what one generator per stream draws."""
    from sim.core import noise  # noqa: PLC0415

    params = GeoModel(scenario=short, replications=1, collect=False).params
    ids = np.array([0, 3, 3, 2**32 - 1, 7])
    got = noise.draw_noise(params, seed, ids)
    for r, gens in enumerate(noise.replication_generators(seed, ids)):
        T, C = got.eps.shape[1:]
        np.testing.assert_array_equal(got.eps[r], gens[0].standard_normal((T, C)))
        np.testing.assert_array_equal(got.arrival[r], gens[1].random(got.arrival.shape[:0:-1]).T)
        np.testing.assert_array_equal(got.duration[r], gens[2].random(got.duration.shape[:0:-1]).T)
        np.testing.assert_array_equal(got.programme[r], gens[3].random(got.programme.shape[1:]))
        np.testing.assert_array_equal(got.named[r], gens[4].random(got.named.shape[1]))
