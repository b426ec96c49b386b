"""Experiments: loader contract, samplers, batch invariance, resume, Dask, analyses."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.cli import main
from sim.engine.distributed import dask_executor
from sim.report.experiment_runs import parts_folder, run_experiment_folder, run_sensitivity
from sim.scenario import ScenarioError, with_overrides
from sim.scenario.experiment import load_experiment
from sim.studies import experiments as study

HEDGING = "uncertainties.behaviour.hedging"
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def write_experiment(folder: Path, **fields: Any) -> Path:
    """A small experiment on the baseline: two per-replication factors, early outcomes."""
    data: dict[str, Any] = {
        "scenario": str(SCENARIOS / "baseline.yaml"),
        "uncertainties": {
            "behaviour.channel_weights.trade": {"low": 0.5, "high": 1.5},
            "powers.JPN.budget": {"low": 0.2, "high": 3.0},
        },
        "outcomes": [
            {"name": "jpn_kaz", "metric": "influence_share", "country": "KAZ",
             "partner": "JPN", "at": "2026Q2"},
            {"name": "oil", "metric": "price_oil", "at": "2025Q4:2026Q2", "stat": "mean"},
        ],
        "sampler": "sobol",
        "samples": 4,
        "replications": 3,
        "seed": 5,
    }  # fmt: skip
    data |= fields
    path = folder / "exp.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def plan_of(path: Path, chunk: int | None = None) -> study.ExperimentPlan:
    exp, sc, cmp = load_experiment(path)
    return study.plan_experiment(exp, sc, cmp, chunk)


# ----------------------------------------------------------------------------- loader


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"uncertainties": {"behaviour.no_such": {"low": 0, "high": 1}}}, "behaviour.no_such"),
        ({"uncertainties": {"behaviour.hedging": {"low": 2, "high": 1}}}, HEDGING),
        ({"uncertainties": {"behaviour.hedging": {"lo": 1}}}, HEDGING),
        ({"uncertainties": {"behaviour.hedging": {"low": -5, "high": -1}}}, HEDGING),
        ({"sampler": "magic"}, "sampler"),
        ({"samples": 0}, "samples"),
        ({"outcomes": [{"name": "x", "metric": "gdp", "country": "KAZ", "vs": "compare_to"}]}, ""),
        ({"scenario": "missing.yaml"}, ""),
        ({"outcomes": [{"name": "x", "metric": "gdp", "country": "KAZ", "stat": "p99"}]}, "stat"),
    ],
)  # fmt: skip
def test_malformed_experiment_exits_2_with_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fields: dict[str, Any], key: str
) -> None:
    path = write_experiment(tmp_path, **fields)
    out = tmp_path / "out"
    assert main(["experiment", "run", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert key in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["exp.yaml"]


@pytest.mark.parametrize(
    "flags",
    [["--scheduler", "nowhere"], ["--resume"], ["--chunk-size", "0"], ["--workers", "0"]],
)
def test_bad_run_flags_exit_2_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    path = write_experiment(tmp_path)
    out = [] if "--resume" in flags else ["--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) if flags[-1] == "0" else contextlib.nullcontext():
        assert main(["experiment", "run", str(path), *out, *flags]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert [p.name for p in tmp_path.iterdir()] == ["exp.yaml"]


@pytest.mark.parametrize(
    ("outcome", "key"),
    [
        ({"name": "x", "metric": "nope"}, "outcomes.0.metric"),
        ({"name": "x", "metric": "gdp", "country": "XXX"}, "outcomes.0.country"),
        ({"name": "x", "metric": "gdp", "country": "KAZ", "partner": "JPN"}, "outcomes.0.partner"),
        ({"name": "x", "metric": "gdp", "country": "KAZ", "at": "2090Q1"}, "outcomes.0.at"),
    ],
)
def test_bad_outcomes_are_keyed_by_their_field(
    tmp_path: Path, outcome: dict[str, Any], key: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        plan_of(write_experiment(tmp_path, outcomes=[outcome]))
    assert info.value.path == key


def test_values_set_by_an_experiment_carry_their_provenance(tmp_path: Path) -> None:
    path = write_experiment(
        tmp_path,
        uncertainties={"prices.oil.long_run": {"low": 50.0, "high": 90.0}},
        sampler="lhs",
    )
    plan = plan_of(path)
    assert plan.slow == ("prices.oil.long_run",)
    sc = plan.chunks[0].scenario
    assert sc.prices["oil"].long_run == pytest.approx(plan.design["prices.oil.long_run"][0])
    assert "experiment" in str(sc.to_dict()["prices"]["oil"]["assumption"])


# ----------------------------------------------------------------------------- samplers


def test_sobol_design_has_n_times_d_plus_2_points_within_bounds(tmp_path: Path) -> None:
    plan = plan_of(write_experiment(tmp_path, samples=8))
    assert plan.points == 8 * (2 + 2)
    lo, hi = plan.design["powers.JPN.budget"].agg(["min", "max"])
    assert 0.2 <= lo < hi <= 3.0


def test_categorical_and_factorial_designs(tmp_path: Path) -> None:
    path = write_experiment(
        tmp_path,
        sampler="factorial",
        samples=3,
        uncertainties={
            "behaviour.hedging": {"low": 0.5, "high": 1.5},
            "behaviour.route_ramp": {"values": [0.05, 0.1]},
        },
    )
    plan = plan_of(path)
    assert plan.points == 3 * 2
    assert set(plan.design["behaviour.route_ramp"]) == {0.05, 0.1}
    assert plan.design["behaviour.hedging"].nunique() == 3
    assert "behaviour.route_ramp" in plan.slow  # a list goes through the scenario


# ----------------------------------------------------------------------------- numbers


def test_per_replication_budget_equals_a_scenario_with_that_budget(tmp_path: Path) -> None:
    plan = plan_of(write_experiment(tmp_path, samples=1, replications=2))
    assert "powers.JPN.budget" in plan.fast
    chunk = plan.chunks[0]
    fast = study.run_chunk(chunk)
    for i, point in enumerate(chunk.points):
        row = plan.design.iloc[point]
        sc = with_overrides(chunk.scenario, {k: float(row[k]) for k in plan.fast}, "test")
        alone = study._outcome_series(sc, chunk, (), np.empty((1, 0)))  # one point, scalar
        one = study.ExperimentChunk(0, (point,), sc, None, chunk.seed, 2, (), np.empty((1, 0)),
                                    (), chunk.outcomes)  # fmt: skip
        slow = study.run_chunk(one)
        assert alone.shape[0] == len(chunk.points) * 2
        np.testing.assert_allclose(fast[i], slow[0], rtol=1e-12, atol=1e-15)


def test_same_numbers_in_any_chunking(tmp_path: Path) -> None:
    path = write_experiment(tmp_path)
    whole = study.run_experiment(plan_of(path)).values
    pieces = study.run_experiment(plan_of(path, chunk=4)).values
    assert len(plan_of(path, chunk=4).chunks) > 1
    np.testing.assert_array_equal(whole, pieces)
    # common random numbers: the oil price (not influenced by either factor) is the
    # same at every design point for a given replication
    oil = whole[:, :, 1]
    np.testing.assert_allclose(oil, np.broadcast_to(oil[0], oil.shape))


def test_outcome_that_cannot_depend_on_a_parameter_has_total_index_near_zero(
    tmp_path: Path,
) -> None:
    plan = plan_of(write_experiment(tmp_path, samples=16, replications=2))
    res = study.run_experiment(plan)
    table = res.table()
    problem = study.salib_problem(plan.experiment)
    oil = study.sobol_indices(problem, table["oil"].to_numpy(), 1).set_index("parameter")
    assert np.allclose(oil["ST"], 0.0, atol=1e-9)  # world oil price: neither factor acts
    share = study.sobol_indices(problem, table["jpn_kaz"].to_numpy(), 1).set_index("parameter")
    assert share.loc["behaviour.channel_weights.trade", "ST"] > 0.1  # it weighs the share


def test_killed_and_resumed_equals_uninterrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_experiment(tmp_path)
    full = run_experiment_folder(path, out=tmp_path / "full", chunk_size=3)
    real, calls = study.run_chunk, []

    def dies_on_third(chunk: study.ExperimentChunk) -> np.ndarray:
        calls.append(chunk.index)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(chunk)

    monkeypatch.setattr(study, "run_chunk", dies_on_third)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        run_experiment_folder(path, out=out, chunk_size=3)
    assert not out.exists()
    assert len(list(parts_folder(out).glob("part-*.npy"))) == 2
    monkeypatch.setattr(study, "run_chunk", real)
    run_experiment_folder(path, out=out, chunk_size=3, resume=True)
    assert not parts_folder(out).exists()
    a = pd.read_parquet(full / "experiments.parquet")
    b = pd.read_parquet(out / "experiments.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_local_dask_cluster_gives_the_local_numbers(tmp_path: Path) -> None:
    path = write_experiment(tmp_path)
    local = study.run_experiment(plan_of(path, chunk=6)).values
    with warnings.catch_warnings():  # distributed's own start-up notices, this block only
        warnings.simplefilter("ignore", DeprecationWarning)
        with dask_executor("local", 2, processes=False) as ex:
            assert ex.workers == 2
            remote = study.run_experiment(plan_of(path, chunk=6), ex).values
    np.testing.assert_array_equal(local, remote)


# ----------------------------------------------------------------------------- analyses


def test_sensitivity_and_discover_write_their_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_experiment(tmp_path, samples=8, replications=2)
    out = tmp_path / "run"
    assert main(["experiment", "run", str(path), "--out", str(out)]) == 0
    assert main(["experiment", "sensitivity", str(out)]) == 0
    assert (out / "sensitivity_jpn_kaz.csv").exists()
    assert (out / "sensitivity_jpn_kaz.png").exists()
    median = pd.read_parquet(out / "experiments.parquet")["jpn_kaz"].median()
    capsys.readouterr()
    assert main(["experiment", "discover", str(out), "--outcome", "jpn_kaz",
                 "--where", f">= {median}"]) == 0  # fmt: skip
    for name in ("prim_trajectory.csv", "prim_trajectory.png", "prim_box.csv", "prim_box.yaml"):
        assert (out / name).exists()
    box = yaml.safe_load((out / "prim_box.yaml").read_text())
    assert set(box["set"]) <= {"powers.JPN.budget", "behaviour.channel_weights.trade"}
    assert main(["experiment", "discover", str(out), "--outcome", "nope", "--where", ">1"]) == 2
    assert main(["experiment", "discover", str(out), "--outcome", "oil", "--where", "~1"]) == 2


def test_morris_experiment_gets_elementary_effects(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, sampler="morris", samples=3, replications=2)
    out = run_experiment_folder(path, out=tmp_path / "run")
    assert len(pd.read_parquet(out / "experiments.parquet")) == 3 * (2 + 1)
    run_sensitivity(out)
    table = pd.read_csv(out / "sensitivity_oil.csv")
    assert {"mu_star", "sigma"} <= set(table.columns)
    assert np.allclose(table["mu_star"], 0.0)  # the oil price depends on neither input
