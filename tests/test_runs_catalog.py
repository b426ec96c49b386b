"""The analyst's bookkeeping: folder tags, ``casim runs``, ``--format csv``, ``load_run``."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import sim
from sim.cli import EXIT_BAD_INPUT, main
from sim.engine.catalog import read_tidy
from sim.engine.runfolder import MAX_TAG, default_run_dir, override_tag
from sim.scenario import ScenarioError

SHORT = ["--set", "horizon.end=2026Q4"]
SAFE = re.compile(r"^[A-Za-z0-9_.=-]*$")


# ----------------------------------------------------------------------------- tags


@pytest.mark.parametrize(
    ("overrides", "tag"),
    [
        ([], ""),
        (["powers.JPN.budget=5"], "JPN.budget=5"),
        (["seed=7"], "seed=7"),
        (["events.0.weight=2"], "events.0.weight=2"),
        (["powers.JPN.budget = 5", "behaviour.hedging=2"], "JPN.budget=5_behaviour.hedging=2"),
        (["states.KAZ.diplomacy={CHN: 5}"], "KAZ.diplomacy=CHN.5"),
        (['prices.oil.assumption.path="what/if"'], "assumption.path=what.if"),
    ],
)
def test_override_tag_is_short_and_readable(overrides: list[str], tag: str) -> None:
    assert override_tag(overrides) == tag


def test_long_override_tags_are_cut_and_stay_distinct() -> None:
    many = [f"powers.{p}.budget={b}" for p in ("JPN", "CHN", "USA", "RUS") for b in (5,)]
    other = [*many[:3], "powers.RUS.budget=6"]
    tag, tag2 = override_tag(many), override_tag(other)
    assert len(tag) <= MAX_TAG
    assert SAFE.match(tag)
    assert tag.startswith("JPN.budget=5_CHN.budget=5")
    assert tag != tag2  # the hash suffix tells them apart
    weird = override_tag(["states.KAZ.note=../../etc/passwd\x00 é ; rm -rf /"])
    assert SAFE.match(weird)
    assert "/" not in weird
    assert not weird.startswith(".")


def test_plain_runs_keep_their_folder_names(tmp_path: Path) -> None:
    plain = default_run_dir(tmp_path, "baseline", 7, "52b08b28" * 8)
    assert re.fullmatch(r"\d{8}T\d{6}Z-s7-52b08b28", plain.name)
    tagged = default_run_dir(tmp_path, "baseline", 7, "52b08b28" * 8, "JPN.budget=5")
    assert tagged.name == f"{plain.name}-JPN.budget=5"


# ----------------------------------------------------------------------------- a results tree


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    return Path(out[-1])


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A results folder with runs of every format, and broken folders beside them."""
    work = tmp_path_factory.mktemp("catalog")
    scenarios = Path(__file__).resolve().parent.parent / "scenarios"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        argv = ["run", str(scenarios / "baseline.yaml"), "--no-plots", *SHORT]
        folders: dict[str, Path] = {}
        for name, extra in {
            "tagged": ["--set", "powers.JPN.budget=5", "--format", "both"],
            "csv_ensemble": ["--replications", "3", "--format", "csv"],
            "both_ensemble": ["--replications", "3", "--format", "both"],
        }.items():
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                assert main([*argv, *extra]) == 0
            folders[name] = work / printed.getvalue().strip()
        with contextlib.redirect_stdout(io.StringIO()):  # its events need the full horizon
            assert main(["run", str(scenarios / "japan_summit.yaml"), "--no-plots"]) == 0
    results = work / "results"
    (results / "baseline/no_manifest").mkdir()
    (results / "baseline/bad_json").mkdir()
    (results / "baseline/bad_json/manifest.json").write_text("{not json", encoding="utf-8")
    (results / "baseline/not_an_object").mkdir()
    (results / "baseline/not_an_object/manifest.json").write_text("[1, 2]", encoding="utf-8")
    (results / "baseline/.20261201T000000Z-s1-00000000.partial-123").mkdir()
    old = results / "old/20200101T000000Z-s1-00000000"
    shutil.copytree(folders["tagged"], old)
    manifest = json.loads((old / "manifest.json").read_text(encoding="utf-8"))
    manifest["created_utc"] = "2020-01-01T00:00:00+00:00"
    manifest["scenario"] = "old"
    (old / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return {"work": work, "results": results, "old": old, **folders}


def _runs_json(capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["runs", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_override_runs_are_named_by_their_tag(tree: dict[str, Any]) -> None:
    assert tree["tagged"].name.endswith("-horizon.end=2026Q4_JPN.budget=5")
    manifest = json.loads((tree["tagged"] / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["overrides"] == ["horizon.end=2026Q4", "powers.JPN.budget=5"]
    resolved = (tree["tagged"] / "scenario.yaml").read_text(encoding="utf-8")
    assert "override: --set powers.JPN.budget=5" in resolved


def test_runs_lists_every_folder_newest_first(
    tree: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tree["work"])
    rows = _runs_json(capsys)
    by_name = {Path(r["folder"]).name: r for r in rows}
    assert by_name["no_manifest"]["status"] == "missing manifest"
    assert by_name["bad_json"]["status"].startswith("corrupt manifest")
    assert by_name["not_an_object"]["status"].startswith("corrupt manifest")
    assert not any("partial" in name for name in by_name)
    assert len(rows) == 8  # 3 baseline runs, japan_summit, old, 3 broken folders
    tagged = by_name[tree["tagged"].name]
    assert tagged["overrides"] == ["horizon.end=2026Q4", "powers.JPN.budget=5"]
    assert (tagged["kind"], tagged["replications"], tagged["seed"]) == ("run", 1, 20251219)
    assert tagged["wall_s"] > 0
    assert by_name[tree["csv_ensemble"].name]["kind"] == "ensemble"
    created = [r["created"] for r in rows]
    assert created == sorted(created, reverse=True)
    assert rows[-1]["folder"].endswith(tree["old"].name)

    capsys.readouterr()
    assert main(["runs"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert lines[0].split()[:3] == ["folder", "kind", "scenario"]
    assert len(lines) == 1 + len(rows)
    assert any("(missing manifest)" in line for line in lines)
    assert any("(corrupt manifest)" in line for line in lines)
    assert any("powers.JPN.budget=5" in line for line in lines)


def test_runs_filters_by_scenario_and_date(
    tree: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tree["work"])
    japan = _runs_json(capsys, "--scenario", "japan_summit")
    assert [r["scenario"] for r in japan] == ["japan_summit"]
    baseline = _runs_json(capsys, "--scenario", "baseline")
    assert {r["scenario"] for r in baseline if r["status"] == "ok"} == {"baseline"}
    assert len(baseline) == 6  # with the broken folders under results/baseline
    recent = _runs_json(capsys, "--since", "2025-01-01")
    assert tree["old"].name not in {Path(r["folder"]).name for r in recent}
    assert len(recent) == 7
    assert _runs_json(capsys, "--since", "2999-01-01T00:00") == []
    rows = _runs_json(capsys, "--dir", str(tree["results"] / "old"))
    assert [Path(r["folder"]).name for r in rows] == [tree["old"].name]


def test_runs_bad_arguments_are_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["runs"]) == 0  # no results/ yet: an empty table
    assert capsys.readouterr().out.splitlines()[0].startswith("folder")
    assert main(["runs", "--dir", "nowhere"]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err.startswith("error: nowhere")
    with pytest.raises(SystemExit) as exc:
        main(["runs", "--since", "yesterday"])
    assert exc.value.code == EXIT_BAD_INPUT
    assert "--since" in capsys.readouterr().err


# ----------------------------------------------------------------------------- CSV and load_run


def test_csv_values_equal_the_parquet_ones(tree: dict[str, Any]) -> None:
    for key, stems in (("tagged", ["timeseries"]), ("both_ensemble", ["timeseries", "summary"])):
        folder = tree[key]
        for stem in stems:
            parquet = pd.read_parquet(folder / f"{stem}.parquet")
            csv = read_tidy(folder / f"{stem}.csv")
            pd.testing.assert_frame_equal(csv, parquet, check_dtype=False, check_exact=True)
    manifest = json.loads((tree["csv_ensemble"] / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "csv"
    assert manifest["data_files"] == ["summary.csv", "timeseries.csv"]
    assert sorted(p.name for p in tree["csv_ensemble"].iterdir()) == [
        "manifest.json",
        "scenario.yaml",
        "summary.csv",
        "timeseries.csv",
    ]


def test_load_run_reads_parquet_and_csv_folders(tree: dict[str, Any]) -> None:
    single = sim.load_run(tree["tagged"])
    assert single.summary is None
    assert single.manifest["overrides"][-1] == "powers.JPN.budget=5"
    assert "name: baseline" in single.scenario_yaml
    assert set(single.timeseries["replication"]) == {0}
    from_csv = sim.load_run(tree["csv_ensemble"])
    from_parquet = sim.load_run(tree["both_ensemble"])
    assert from_csv.summary is not None
    assert from_parquet.summary is not None
    pd.testing.assert_frame_equal(from_csv.timeseries, from_parquet.timeseries, check_dtype=False)
    pd.testing.assert_frame_equal(from_csv.summary, from_parquet.summary, check_dtype=False)
    assert set(from_csv.timeseries["replication"]) == {0, 1, 2}
    part = sim.load_run(tree["csv_ensemble"], replications=[1])
    assert set(part.timeseries["replication"]) == {1}
    assert len(part.timeseries) * 3 == len(from_csv.timeseries)
    for broken in ("no_manifest", "bad_json"):
        with pytest.raises(ScenarioError, match="manifest"):
            sim.load_run(tree["results"] / "baseline" / broken)


def test_plot_redraws_a_csv_only_folder(
    tmp_path: Path, baseline_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    extra = ["--replications", "2", "--format", "csv", "--metrics", "influence_share"]
    run = _run(["run", str(baseline_path), "--out", str(out), "--no-plots", *SHORT, *extra], capsys)
    assert not (run / "timeseries.parquet").exists()
    assert main(["plot", str(run)]) == 0
    assert (run / "plots/influence.png").stat().st_size > 0
