"""Run folders written by sim.report.runs.run_single (no plots here; see test_cli for those)."""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sim.core.model import GeoModel
from sim.engine import runfolder
from sim.report import runs
from sim.scenario import Scenario, ScenarioError, load_scenario

SHORT = ["horizon.end=2026Q4"]
REQUIRED_METRICS = {
    "influence_share",
    "trade_share",
    "gdp",
    "influence_trade",
    "influence_investment",
    "influence_diplomacy",
    "influence_security",
}


def run_short(baseline_path: Path, out: Path, **kwargs) -> Path:
    kwargs.setdefault("overrides", SHORT)
    kwargs.setdefault("plots", False)
    return runs.run_single(baseline_path, out=out, **kwargs)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Path:
    out = tmp_path_factory.mktemp("runner") / "run"
    return run_short(repo_root / "scenarios" / "baseline.yaml", out, seed=5)


@pytest.fixture(scope="module")
def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


def test_run_folder_holds_the_outputs(run_dir: Path) -> None:
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "manifest.json",
        "scenario.yaml",
        "timeseries.parquet",
    ]
    assert not list(run_dir.parent.glob(".*partial*"))


def test_manifest_describes_the_run(
    manifest: dict, short_scenario: Scenario, baseline_path: Path
) -> None:
    assert manifest["scenario"] == "baseline"
    assert manifest["scenario_sha256"] == short_scenario.digest()
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["scenario_sha256"])
    assert manifest["seed"] == 5
    assert manifest["overrides"] == SHORT
    assert manifest["scenario_file"] == str(baseline_path)
    assert manifest["steps"] == 8
    assert manifest["horizon"] == {"start": "2025Q1", "end": "2026Q4"}
    for name in ("mesa", "numpy", "pandas", "pydantic"):
        assert manifest["packages"][name] == importlib.metadata.version(name)
    assert manifest["packages"]["python"].startswith("3.")
    assert set(manifest["git"]) == {"commit", "dirty"}
    commit = manifest["git"]["commit"]
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}", commit)
    assert set(manifest["timings_s"]) >= {"load", "simulate", "write"}
    assert all(v >= 0 for v in manifest["timings_s"].values())
    assert manifest["plots"] == []
    assert 0 <= manifest["calibration_residual_max_pp"] < 3


def test_parquet_is_the_tidy_table(run_dir: Path, manifest: dict) -> None:
    df = pd.read_parquet(run_dir / "timeseries.parquet")
    columns = {"replication", "step", "date", "country", "partner", "metric", "value"}
    assert columns <= set(df.columns)
    assert len(df) == manifest["rows"]
    assert set(df.metric) >= REQUIRED_METRICS
    assert set(df.replication) == {0}
    assert sorted(df.step.unique()) == list(range(8))
    assert pd.api.types.is_datetime64_any_dtype(df.date)


def test_parquet_matches_a_direct_model_run(run_dir: Path, short_scenario: Scenario) -> None:
    df = pd.read_parquet(run_dir / "timeseries.parquet")
    direct = GeoModel(scenario=short_scenario, rng=5).run().timeseries()
    pd.testing.assert_frame_equal(df, direct, check_exact=True, check_dtype=False)


def test_scenario_yaml_is_the_resolved_scenario(run_dir: Path, short_scenario: Scenario) -> None:
    data = yaml.safe_load((run_dir / "scenario.yaml").read_text(encoding="utf-8"))
    assert data["horizon"] == {"start": "2025Q1", "end": "2026Q4"}
    assert Scenario.model_validate(data).digest() == short_scenario.digest()


def test_scenario_yaml_reloads_to_the_manifest_digest(run_dir: Path, manifest: dict) -> None:
    assert load_scenario(run_dir / "scenario.yaml").digest() == manifest["scenario_sha256"]


def test_same_seed_writes_byte_identical_parquet(
    baseline_path: Path, tmp_path: Path, run_dir: Path
) -> None:
    # run_dir was written with seed 5 by the same code path.
    again = run_short(baseline_path, tmp_path / "again", seed=5)
    other = run_short(baseline_path, tmp_path / "other", seed=4)
    for name in ("timeseries.parquet", "scenario.yaml"):
        assert (again / name).read_bytes() == (run_dir / name).read_bytes()
    ta, tc = (pd.read_parquet(p / "timeseries.parquet") for p in (again, other))
    assert ta[["step", "metric", "country", "partner"]].equals(
        tc[["step", "metric", "country", "partner"]]
    )
    assert not ta.value.equals(tc.value)


def test_overrides_change_the_digest_and_the_result(
    baseline_path: Path, tmp_path: Path, run_dir: Path, manifest: dict
) -> None:
    folder = run_short(
        baseline_path, tmp_path / "run", seed=5, overrides=[*SHORT, "powers.JPN.budget=5"]
    )
    new = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert new["overrides"] == [*SHORT, "powers.JPN.budget=5"]
    assert new["scenario_sha256"] != manifest["scenario_sha256"]
    df = pd.read_parquet(folder / "timeseries.parquet")
    old = pd.read_parquet(run_dir / "timeseries.parquet")

    def jpn_budget(frame: pd.DataFrame) -> pd.Series:
        return frame[(frame.metric == "budget") & (frame.country == "JPN")].value

    assert (jpn_budget(df) == 5.0).all()  # no named projects draw on it in the baseline
    assert (jpn_budget(old) == 0.8).all()


def test_default_folder_is_under_results_with_the_scenarios_seed(
    baseline_path: Path, tmp_results: Path, short_scenario: Scenario
) -> None:
    first = runs.run_single(baseline_path, overrides=SHORT, results=tmp_results, plots=False)
    second = runs.run_single(baseline_path, overrides=SHORT, results=tmp_results, plots=False)
    seed = short_scenario.seed
    manifest = json.loads((first / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == seed
    assert first.parent == tmp_results / "baseline"
    tag = re.escape(runfolder.override_tag(SHORT))  # the overrides name the folder too
    pattern = rf"\d{{8}}T\d{{6}}Z-s{seed}-{short_scenario.digest()[:8]}-{tag}"
    assert re.fullmatch(pattern, first.name)
    assert second != first
    assert re.fullmatch(rf"{pattern}(-2)?", second.name)
    assert sorted(p.name for p in (tmp_results / "baseline").iterdir()) == sorted(
        [first.name, second.name]
    )


def test_empty_out_folder_is_used(baseline_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert run_short(baseline_path, out, seed=1) == out
    assert (out / "manifest.json").is_file()


def test_non_empty_out_folder_is_refused_untouched(baseline_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("precious", encoding="utf-8")
    with pytest.raises(ScenarioError, match="does not exist or is empty") as info:
        run_short(baseline_path, out, seed=1)
    assert info.value.path == "out"
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text(encoding="utf-8") == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


def test_out_path_that_is_a_file_is_refused(baseline_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "file"
    out.write_text("x", encoding="utf-8")
    with pytest.raises(ScenarioError, match=": out: "):
        run_short(baseline_path, out, seed=1)
    assert out.read_text(encoding="utf-8") == "x"


def test_bad_scenario_writes_nothing(
    baseline_path: Path, tmp_path: Path, tmp_results: Path
) -> None:
    with pytest.raises(ScenarioError):
        runs.run_single(
            baseline_path, overrides=["powers.JPN.budget=-1"], results=tmp_results, plots=False
        )
    with pytest.raises(ScenarioError):
        runs.run_single(
            baseline_path, overrides=["powers.JPN.budget=-1"], out=tmp_path / "o", plots=False
        )
    assert not tmp_results.exists()
    assert not (tmp_path / "o").exists()


def test_negative_seed_is_refused(baseline_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=": seed: "):
        run_short(baseline_path, tmp_path / "o", seed=-1)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failed_run_leaves_no_folder(
    baseline_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException
) -> None:
    def explode(self):
        raise exc

    monkeypatch.setattr(GeoModel, "run", explode)
    out = tmp_path / "nested" / "run"
    with pytest.raises(type(exc)):
        run_short(baseline_path, out, seed=1)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # no half-written .partial folder


def test_failed_run_leaves_an_empty_out_folder_empty(
    baseline_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self):
        raise ZeroDivisionError

    monkeypatch.setattr(GeoModel, "timeseries", broken)
    out = tmp_path / "empty"
    out.mkdir()
    with pytest.raises(ZeroDivisionError):
        run_short(baseline_path, out, seed=1)
    assert out.is_dir()
    assert list(out.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_package_versions_and_git() -> None:
    versions = runfolder.package_versions()
    assert set(runfolder.PACKAGES) <= set(versions)
    assert versions["numpy"] == importlib.metadata.version("numpy")
    git = runfolder.git_commit()
    assert set(git) == {"commit", "dirty"}
