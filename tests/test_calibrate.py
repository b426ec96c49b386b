"""Calibration (sim.studies.calibrate) and ``casim calibrate`` (sim.cli, sim.report.runs)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import cli
from sim.scenario import ScenarioError
from sim.studies import calibrate as cal
from sim.studies.backtest import load_reference

#: A calibration small enough for a test: two grid points, no profile, one replication.
TINY = {
    "replications": 1,
    "grid": {"hedging": (0.5, 1.0)},
    "profile_grid": {},
    "bootstrap": 5,
    "refine_evals": 3,
    "noise_seeds": 2,
}


# ----------------------------------------------------------------------------- pieces


def test_zigzag_of_known_series() -> None:
    t = np.arange(8)
    flat = np.zeros(8)
    zig = np.where(t % 2 == 0, 0.0, 0.3)  # up 0.3, down 0.3, ... every quarter
    jump = np.where(t < 3, 0.0, 5.0)  # one step change: not an oscillation
    trend = 0.7 * t  # monotone: not an oscillation
    shares = np.stack([flat, zig, jump, trend], axis=-1)[None, :, None, :]  # (1, T, 1, 4)
    assert cal.zigzag(shares) == pytest.approx(0.3)
    assert cal.zigzag(shares[..., [0, 2, 3]]) == 0.0
    # median over replications: one oscillating replication of three does not count
    three = np.concatenate([shares[..., [1]], shares[..., [0]], shares[..., [0]]], axis=0)
    assert cal.zigzag(three) == 0.0


def test_point_errors_by_hand() -> None:
    ref = pd.DataFrame(
        {
            "year": [2005, 2005, 2006],
            "country": ["KAZ", "KAZ", "UZB"],
            "partner": ["CHN", "RUS", "EU"],
            "share_pct": [10.0, 20.0, 5.0],
        }
    )
    sim = pd.DataFrame(
        {
            "year": [2006, 2005, 2005, 2005],
            "country": ["UZB", "KAZ", "KAZ", "TJK"],
            "partner": ["EU", "RUS", "CHN", "CHN"],
            "share_pct": [7.5, 18.0, 10.25, 99.0],
        }
    )
    np.testing.assert_array_equal(cal.point_errors(sim, ref), [0.25, 2.0, 2.5])
    with pytest.raises(ValueError, match="every reference point"):
        cal.point_errors(sim.iloc[:2], ref)


def test_reference_points_and_persistence_errors() -> None:
    ref = cal.reference_points()
    assert len(ref) == 6 * 5 * 5  # years x states x partners (ROW is not scored)
    assert set(ref["partner"]) == set(cal.FIT_PARTNERS)
    pers = cal.persistence_errors(ref)
    assert pers.shape == (len(ref),)
    assert (pers[(ref["year"] == 2005).to_numpy()] == 0.0).all()
    raw = load_reference().set_index(["year", "country", "partner"])["share_pct"]
    k = ref.index[
        (ref["year"] == 2008) & (ref["country"] == "TKM") & (ref["partner"] == "RUS")
    ].item()
    assert pers[k] == pytest.approx(abs(raw[2008, "TKM", "RUS"] - raw[2005, "TKM", "RUS"]))


def _table(losses: list[float], admissible: list[bool]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "hedging": np.arange(len(losses), dtype=float),
            "loss": losses,
            "zigzag": 0.0,
            "start_residual": 0.0,
            "admissible": admissible,
        }
    )


def test_near_optimal_keeps_admissible_points_within_the_tolerance() -> None:
    table = _table([3.0, 3.05, 3.2, 2.0, 3.09], [True, True, True, False, True])
    near = cal.near_optimal(table, tolerance=0.1)
    assert list(near["hedging"]) == [0.0, 1.0, 4.0]  # 2.0 is lower but inadmissible


def test_cluster_bootstrap_is_reproducible_with_a_seed() -> None:
    ref = cal.reference_points()
    rng = np.random.default_rng(5)
    errors = rng.uniform(0, 5, size=(4, len(ref)))
    table = _table(list(errors.mean(axis=1)), [True, True, False, True])
    a = cal.cluster_bootstrap(table, errors, ref, n=30, seed=11)
    b = cal.cluster_bootstrap(table, errors, ref, n=30, seed=11)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["hedging", "loss"]
    assert len(a) == 30
    assert 2.0 not in set(a["hedging"])  # the inadmissible point is never picked
    c = cal.cluster_bootstrap(table, errors, ref, n=30, seed=12)
    assert not a.equals(c)
    # a point best in every cluster is always picked
    errors[1] = 0.0
    d = cal.cluster_bootstrap(table, errors, ref, n=10, seed=1)
    assert (d["hedging"] == 1.0).all()
    assert (d["loss"] == 0.0).all()


class _Bowl:
    """A cheap evaluator: the refinement only calls ``penalised_loss``."""

    def penalised_loss(self, params: dict[str, float]) -> float:
        return (params["hedging"] - 2.2) ** 2 + (params["eaeu_preference"] - 0.4) ** 2 + 1.0


def test_refine_improves_or_keeps_the_loss() -> None:
    ev = _Bowl()
    start = {"hedging": 1.0, "eaeu_preference": 0.0, "influence_decay": 0.05}
    stages: list[str] = []
    best, loss, nfev = cal.refine(
        ev, start, ["hedging", "eaeu_preference"], max_evals=40, progress=stages.append
    )
    assert loss <= ev.penalised_loss(start)
    assert loss == pytest.approx(ev.penalised_loss(best))
    assert best["influence_decay"] == 0.05  # held
    assert best["hedging"] == pytest.approx(2.2, abs=0.1)
    assert len(stages) == nfev
    assert set(stages) == {"refine"}
    # a start at the optimum stays there
    _, again, _ = cal.refine(ev, best, ["hedging", "eaeu_preference"], max_evals=10)
    assert again <= loss + 1e-12


def test_fit_years_and_planned_evaluations() -> None:
    from sim.scenario import load_scenario  # noqa: PLC0415

    sc = load_scenario(cal.CALIBRATION_SCENARIO)
    assert cal.fit_years(sc) == cal.FIT_YEARS
    assert cal.fit_years(sc, (2004, 2010, 2011)) == (2010,)
    n = cal.planned_evaluations(cal.DEFAULT_GRID, cal.PROFILE_GRID, 60)
    assert n == 441 + 6 + 60 + cal.NOISE_SEEDS + 2


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "key", "text"),
    [
        ({"grid": {"bogus": (1.0,)}}, "grid", "unknown parameter 'bogus'"),
        ({"profile_grid": {"bogus": (1.0,)}}, "profile_grid", "unknown parameter 'bogus'"),
        ({"grid": {"hedging": (9.0,)}}, "grid", "expected values in [0.0, 5.0]"),
        ({"grid": {"hedging": ()}}, "grid", "at least one value"),
        ({"grid": {"hedging": (1.0,)}, "profile_grid": {"hedging": (1.0,)}}, "profile_grid", ""),
        ({"replications": 0}, "replications", "expected an integer >= 1"),
        ({"noise_seeds": 1}, "noise_seeds", "expected an integer >= 2"),
        ({"seed": -1}, "seed", "non-negative"),
    ],
)
def test_bad_input_is_one_line_scenario_error(kwargs: dict, key: str, text: str) -> None:
    with pytest.raises(ScenarioError) as err:
        cal.calibrate(**kwargs)
    assert err.value.path == key
    assert text in err.value.message
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def tiny() -> tuple[cal.CalibrationResult, list[str]]:
    stages: list[str] = []
    return cal.calibrate(**TINY, progress=stages.append), stages


def test_tiny_calibration_returns_finite_parameters(
    tiny: tuple[cal.CalibrationResult, list[str]],
) -> None:
    res, stages = tiny
    assert set(res.best) == {"hedging"}
    assert all(math.isfinite(v) for v in res.best.values())
    assert 0.0 <= res.best["hedging"] <= cal.BOUNDS["hedging"][1]
    s = res.summary
    assert s["seed"] == cal.DEFAULT_SEED
    assert s["n_points"] == len(res.reference) == 150
    assert s["grid_points"] == len(res.grid) == 2
    assert res.grid_errors.shape == (2, 150)
    assert math.isfinite(s["loss_best"])
    assert s["loss_best"] == pytest.approx(s["loss_best_penalised"], abs=1e-12) or (
        s["zigzag_best"] > cal.ZIGZAG_MAX or s["start_residual_best"] > cal.RESIDUAL_MAX
    )
    assert s["loss_best_grid"] == pytest.approx(res.grid.loc[res.grid["admissible"], "loss"].min())
    assert len(res.bootstrap) == 5
    assert set(s["loss_by_state_best"]) == set(res.scenario.vocab.states)
    assert set(s["loss_by_year_best"]) == set(cal.FIT_YEARS)
    json.dumps(s)  # summary.json must be writable as is
    assert stages.count("grid") == 2
    assert stages.count("noise") == 2
    assert stages.count("final") == 2
    assert stages.count("refine") == s["refine_evaluations"]


def test_tiny_calibration_is_reproducible(
    tiny: tuple[cal.CalibrationResult, list[str]],
) -> None:
    res, _ = tiny
    table, errors = cal.grid_search(
        cal.Evaluator(res.scenario, 1, res.seed, res.reference, None), {"hedging": (0.5, 1.0)}
    )
    np.testing.assert_array_equal(errors, res.grid_errors)
    pd.testing.assert_series_equal(table["loss"], res.grid["loss"])


# ----------------------------------------------------------------------------- command line


def _parse(argv: list[str]) -> argparse.Namespace:
    return cli.build_parser().parse_args(argv)


def test_grid_choices_are_the_studys_grids() -> None:
    for name in cal.GRIDS:
        assert _parse(["calibrate", "--grid", name]).grid == name


def test_cli_unknown_parameter_is_a_one_line_error(tmp_path: Path) -> None:
    out = tmp_path / "cal"
    args = _parse(["calibrate", "--param", "bogus=1,2", "--out", str(out)])
    with pytest.raises(ScenarioError) as err:
        args.func(args)
    assert cli.flag_error(err.value).path == "--param"
    assert "unknown parameter 'bogus'" in str(err.value)
    assert "\n" not in str(err.value)
    assert not out.exists()


def test_cli_calibrate_writes_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(cal.GRIDS, "quick", ({"hedging": (0.5,)}, {}))
    out = tmp_path / "cal"
    argv = [
        "calibrate", "--grid", "quick", "--param", "eaeu_preference=0,0.5",
        "--replications", "1", "--workers", "1", "--bootstrap", "3", "--refine-evals", "2",
        "--seed", "4", "--out", str(out),
    ]  # fmt: skip
    args = _parse(argv)
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == str(out)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        ["bootstrap.csv", "grid.csv", "grid_errors.npy", "manifest.json", "summary.json"]
    )
    grid = pd.read_csv(out / "grid.csv")
    assert list(grid["eaeu_preference"]) == [0.0, 0.5]
    assert np.load(out / "grid_errors.npy").shape == (2, 150)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert summary["seed"] == manifest["seed"] == 4
    assert manifest["kind"] == "calibration"
    assert manifest["best"] == summary["best"]
    assert "calibrate" in manifest["timings_s"]
    assert not list(tmp_path.glob(".*partial*"))
