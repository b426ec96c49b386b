"""Parameter uncertainty: per-replication draws from the posterior (sim.core.uncertainty)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.core.model import GeoModel
from sim.core.uncertainty import (
    FIELDS,
    POSTERIOR_FILE,
    ParameterSampleError,
    load_sample,
    sample_from_table,
)
from sim.engine.ensemble import run_ensemble
from sim.engine.executors import process_pool
from sim.scenario import load_scenario
from sim.studies.backtest import backtest
from sim.studies.compare import compare_scenarios
from sim.vocab import CHANNELS

SCENARIOS = "scenarios"


@pytest.fixture(scope="module")
def posterior():
    return load_sample()


@pytest.fixture(scope="module")
def hindcast():
    return load_scenario(f"{SCENARIOS}/hindcast_2005.yaml")


def _scenario_row(scenario) -> dict[str, float]:
    b = scenario.behaviour
    row = {
        "behaviour.price_sensitivity": b.price_sensitivity,
        "behaviour.alignment_sensitivity": b.alignment_sensitivity,
        "behaviour.hedging": b.hedging,
        "behaviour.eaeu_preference": b.eaeu_preference,
        "behaviour.influence_decay": b.influence_decay,
        "behaviour.award_sensitivity": b.award_sensitivity,
        "behaviour.route_ramp": b.route_ramp,
    }
    return row | {f"behaviour.channel_weights.{c}": b.channel_weights.get(c, 1.0) for c in CHANNELS}


def test_shipped_posterior_is_valid(posterior):
    assert posterior.n >= 50
    assert set(posterior.keys) <= set(FIELDS)
    assert np.isclose(posterior.weights.sum(), 1.0)
    assert len(posterior.digest) == 64


def test_equal_draws_reproduce_fixed_parameters(hindcast):
    """A sample whose only row is the scenario's values changes nothing (bit for bit)."""
    sample = sample_from_table(pd.DataFrame([_scenario_row(hindcast)]))
    a = GeoModel(scenario=hindcast, replications=3, collect=False, rng=5).run()
    b = GeoModel(scenario=hindcast, replications=3, collect=False, rng=5, parameters=sample).run()
    for name in ("trade_share", "influence_share", "gdp", "route_flow"):
        np.testing.assert_array_equal(getattr(a.state, name), getattr(b.state, name))
    np.testing.assert_array_equal(b.calibration.export_alpha[1], a.calibration.export_alpha)


def test_draws_come_from_the_posterior_support(posterior, hindcast):
    model = GeoModel(scenario=hindcast, replications=40, collect=False, rng=2, parameters=posterior)
    rows = model.parameter_rows
    assert rows.min() >= 0
    assert rows.max() < posterior.n
    for j, key in enumerate(posterior.keys):
        name, col = FIELDS[key]
        value = np.asarray(getattr(model.params, name))
        drawn = value if col is None else value[:, col]
        np.testing.assert_array_equal(drawn, posterior.values[rows, j])
        lo, hi = posterior.values[:, j].min(), posterior.values[:, j].max()
        assert ((drawn >= lo) & (drawn <= hi)).all()
    assert len(np.unique(rows)) > 10  # replications really draw different vectors


def test_posterior_draws_are_batch_invariant(posterior, hindcast):
    ids = list(range(10))
    whole = run_ensemble(
        hindcast, replication_ids=ids, seed=4, metrics=("trade_share",), parameters=posterior
    ).metric_array("trade_share")[0]
    alone = run_ensemble(
        hindcast, replication_ids=[7], seed=4, metrics=("trade_share",), parameters=posterior
    ).metric_array("trade_share")[0]
    np.testing.assert_array_equal(whole[7], alone[0])
    with process_pool(2) as pool:
        pooled = run_ensemble(
            hindcast, replication_ids=ids, seed=4, metrics=("trade_share",),
            parameters=posterior, executor=pool, chunk_size=3,
        ).metric_array("trade_share")[0]  # fmt: skip
    np.testing.assert_array_equal(whole, pooled)


def test_compare_uses_common_parameter_draws(posterior):
    """Replication k has the same draw in both scenarios: identical scenarios, zero diff."""
    base = load_scenario(f"{SCENARIOS}/baseline.yaml")
    a = GeoModel(scenario=base, replication_ids=[3, 8], collect=False, rng=9, parameters=posterior)
    other = base.model_copy(update={"name": "other"})
    b = GeoModel(scenario=other, replication_ids=[3, 8], collect=False, rng=9, parameters=posterior)
    np.testing.assert_array_equal(a.parameter_rows, b.parameter_rows)
    cmp = compare_scenarios(
        [base, other], replications=3, seed=9, metrics=("trade_share",), parameters=posterior
    )
    np.testing.assert_array_equal(
        cmp.metrics["trade_share"].values[0], cmp.metrics["trade_share"].values[1]
    )


def test_backtest_fixed_is_todays_and_posterior_is_wider(posterior):
    fixed = backtest(replications=12, seed=1)
    again = backtest(replications=12, seed=1, parameters=None)
    pd.testing.assert_frame_equal(fixed.summary, again.summary)
    post = backtest(replications=12, seed=1, parameters=posterior)
    width_fixed = (fixed.summary["p95"] - fixed.summary["p05"]).mean()
    width_post = (post.summary["p95"] - post.summary["p05"]).mean()
    assert width_post > width_fixed
    assert "posterior" in post.bands
    assert fixed.bands == "stochastic noise only"


def test_backtest_cli_fixed_equals_study_without_parameters(tmp_path):
    out = tmp_path / "bt"
    code = main(["backtest", "--replications", "4", "--seed", "2", "--no-plots",
                 "--parameter-uncertainty", "fixed", "--discrepancy", "off",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    res = backtest(replications=4, seed=2)
    written = pd.read_csv(out / "hindcast.csv")
    np.testing.assert_allclose(written["share_pct"], res.hindcast["share_pct"], atol=1e-4)
    assert "stochastic noise only" in (out / "skill.md").read_text()


@pytest.mark.parametrize(
    ("content", "what"),
    [
        ("draw,weight,behaviour.nonsense\n0,1,2\n", "unknown parameter"),
        ("draw,weight,behaviour.price_sensitivity\n0,1,-3\n", "expected numbers"),
        ("draw,weight,behaviour.price_sensitivity\n0,-1,3\n", "weight"),
        ("draw,weight\n", "expected at least one row"),
    ],
)
def test_bad_posterior_file_is_one_line_exit_2(tmp_path, capsys, content, what):
    bad = tmp_path / "posterior.csv"
    bad.write_text(content)
    with pytest.raises(ParameterSampleError, match=what):
        load_sample(bad)
    code = main(["backtest", "--replications", "2", "--posterior", str(bad),
                 "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert "--posterior" in err


def test_missing_posterior_file_is_exit_2(tmp_path, capsys):
    code = main(["backtest", "--posterior", str(tmp_path / "none.csv")])
    assert code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_manifest_records_mode_and_hash(tmp_path):
    out = tmp_path / "run"
    code = main(["run", f"{SCENARIOS}/baseline.yaml", "--replications", "2", "--metrics",
                 "gdp", "--no-plots", "--parameter-uncertainty", "posterior",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameter_uncertainty"] == "posterior"
    assert manifest["posterior"]["file"] == str(POSTERIOR_FILE)
    assert len(manifest["posterior"]["sha256"]) == 64


def test_run_and_compare_default_to_fixed(tmp_path):
    out = tmp_path / "run"
    code = main(["run", f"{SCENARIOS}/baseline.yaml", "--replications", "2", "--metrics",
                 "gdp", "--no-plots", "--out", str(out)])  # fmt: skip
    assert code == 0
    assert json.loads((out / "manifest.json").read_text())["parameter_uncertainty"] == "fixed"


def test_set_holds_a_sampled_parameter(tmp_path):
    out = tmp_path / "run"
    args = ["run", f"{SCENARIOS}/baseline.yaml", "--replications", "2", "--metrics", "gdp"]
    args += ["--no-plots", "--set", "behaviour.hedging=0.3", "--out", str(out)]
    args += ["--parameter-uncertainty", "posterior"]
    code = main(args)
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["posterior"]["held_by_overrides"] == ["behaviour.hedging"]


def test_abc_too_few_particles_is_an_error(hindcast):
    from sim.studies import calibrate as cal  # noqa: PLC0415

    with pytest.raises(ValueError, match="expected more particles"):
        cal.abc_calibrate(hindcast, seed=3, particles=20, generations=1)


def test_abc_posterior_lies_in_the_prior_and_is_loadable(hindcast, tmp_path):
    from sim.studies import calibrate as cal  # noqa: PLC0415

    res = cal.abc_calibrate(hindcast, seed=3, particles=150, generations=2, keep=0.4)
    post = res.posterior
    assert np.isclose(post["weight"].sum(), 1.0)
    for key, (_, lo, hi) in cal.ABC_PRIORS.items():
        assert post[key].between(lo, hi).all()
    assert res.generations["tolerance_pp"].is_monotonic_decreasing
    assert set(res.prior_posterior["parameter"]) == set(cal.ABC_PRIORS)
    path = tmp_path / "posterior.csv"
    post.to_csv(path, index=False)
    sample = load_sample(path)
    assert sample.n == len(post)
    assert set(sample.keys) == set(cal.ABC_PRIORS)
