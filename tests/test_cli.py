"""The command line: bad input (exit 2, one line, nothing written) and runs end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sim.cli import EXIT_BAD_INPUT, main
from sim.scenario import Scenario, load_scenario

SHIPPED = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))
CASIM = Path(sys.executable).parent / "casim"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SHORT = "horizon.end=2026Q4"


def _alias_bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _event(text: str) -> str:
    return "{base}events:\n" + text


#: name -> (files to write, the file to run, extra args, file named, key path, fragment).
#: ``{base}`` in a file's text becomes an ``extends:`` line for the shipped baseline.
BAD_INPUT = {
    "malformed-yaml": (
        {"bad.yaml": "name: x\n  bad: [\n"},
        "bad.yaml",
        [],
        "bad.yaml",
        "",
        "malformed YAML: line 2",
    ),
    "not-a-mapping": (
        {"bad.yaml": "- a\n- b\n"},
        "bad.yaml",
        [],
        "bad.yaml",
        "",
        "expected a mapping at the top level, got a list",
    ),
    "empty-document": (
        {"bad.yaml": "# nothing\n"},
        "bad.yaml",
        [],
        "bad.yaml",
        "",
        "got an empty document",
    ),
    "unknown-key": (
        {"bad.yaml": "{base}behaviour:\n  hedgng: 1.0\n"},
        "bad.yaml",
        [],
        "bad.yaml",
        "behaviour.hedgng",
        "unknown key; did you mean 'hedging'?",
    ),
    "wrong-type": (
        {"bad.yaml": "{base}powers:\n  JPN:\n    budget: lots\n"},
        "bad.yaml",
        [],
        "bad.yaml",
        "powers.JPN.budget",
        "number",
    ),
    "negative-budget": (
        {"bad.yaml": "{base}powers:\n  JPN:\n    budget: -1.0\n"},
        "bad.yaml",
        [],
        "bad.yaml",
        "powers.JPN.budget",
        "greater than or equal to 0",
    ),
    "share-above-one": (
        {"bad.yaml": "{base}behaviour:\n  acceptance_threshold: 1.5\n"},
        "bad.yaml",
        [],
        "bad.yaml",
        "behaviour.acceptance_threshold",
        "less than or equal to 1",
    ),
    "unknown-country-code": (
        {"bad.yaml": _event("  - {type: summit, date: 2026Q1, power: JPX, assumption: test}\n")},
        "bad.yaml",
        [],
        "bad.yaml",
        "events.0.power",
        "unknown code 'JPX'; did you mean 'JPN'?",
    ),
    "unknown-state-key": (
        {"bad.yaml": "{base}states:\n  KAZZ: {gdp: 1.0}\n"},
        "bad.yaml",
        [],
        "bad.yaml",
        "states.KAZZ",
        "did you mean 'KAZ'?",
    ),
    "event-outside-horizon": (
        {"bad.yaml": _event("  - {type: summit, date: 2041Q1, power: JPN, assumption: test}\n")},
        "bad.yaml",
        [],
        "bad.yaml",
        "events.0.date",
        "outside the horizon 2025Q1..2040Q4",
    ),
    "no-provenance": (
        {"bad.yaml": _event("  - {type: price_shock, date: 2026Q1, commodity: oil, size: 0.3}\n")},
        "bad.yaml",
        [],
        "bad.yaml",
        "events.0.size",
        "needs a `source`",
    ),
    "extends-cycle": (
        {"a.yaml": "extends: b.yaml\nname: a\n", "b.yaml": "extends: a.yaml\nname: b\n"},
        "a.yaml",
        [],
        "b.yaml",
        "extends",
        "inheritance cycle: a.yaml -> b.yaml -> a.yaml",
    ),
    "missing-parent": (
        {"bad.yaml": "extends: nowhere.yaml\nname: x\n"},
        "bad.yaml",
        [],
        "bad.yaml",
        "extends",
        "parent scenario 'nowhere.yaml' not found",
    ),
    "missing-file": ({}, "nope.yaml", [], "nope.yaml", "", "no such file"),
    "python-object-tag": (
        {"bad.yaml": "name: !!python/object/apply:os.system ['touch pwned']\n"},
        "bad.yaml",
        [],
        "bad.yaml",
        "",
        "python/object/apply:os.system",
    ),
    "alias-bomb": (
        {"bad.yaml": _alias_bomb()},
        "bad.yaml",
        [],
        "bad.yaml",
        "",
        "aliases (*name) are not allowed",
    ),
    "set-unknown-path": (
        {},
        "BASELINE",
        ["--set", "powers.JPX.budget=3"],
        "baseline.yaml",
        "powers.JPX",
        "did you mean 'JPN'?",
    ),
    "set-not-an-assignment": (
        {},
        "BASELINE",
        ["--set", "powers.JPN.budget"],
        "baseline.yaml",
        "--set",
        "expected KEY.PATH=VALUE",
    ),
    "set-out-of-range": (
        {},
        "BASELINE",
        ["--set", "states.KAZ.trade_targets.EU=101"],
        "baseline.yaml",
        "states.KAZ.trade_targets.EU",
        "less than or equal to 100",
    ),
    "set-into-a-value": (
        {},
        "BASELINE",
        ["--set", "horizon.end.year=2030"],
        "baseline.yaml",
        "horizon.end.year",
        "which is a value",
    ),
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory (where a default run would create ``results/``)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def prepare(case: str, folder: Path, baseline: Path) -> tuple[Path, list[str], str, str, str]:
    files, target, extra, named, key, fragment = BAD_INPUT[case]
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(
            text.replace("{base}", f"extends: {baseline}\n"), encoding="utf-8"
        )
    path = baseline if target == "BASELINE" else folder / target
    return path, extra, named, key, fragment


def check_one_error_line(err: str, named: str, key: str, fragment: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("error: ")
    assert "Traceback" not in err
    where, _, _ = line.removeprefix("error: ").partition(": ")
    assert Path(where.split(" ")[0]).name == named
    if key:
        assert f": {key}: " in line
    assert fragment in line


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    case: str,
    tmp_path: Path,
    workdir: Path,
    baseline_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    inputs = tmp_path / "in"
    path, extra, named, key, fragment = prepare(case, inputs, baseline_path)
    before = sorted(p.name for p in inputs.iterdir())
    out = tmp_path / "out"

    assert main(["run", str(path), "--out", str(out), "--no-plots", *extra]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    check_one_error_line(captured.err, named, key, fragment)
    assert not out.exists()

    # The default run folder (results/ under the working directory) is not created either.
    assert main(["run", str(path), *extra]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    check_one_error_line(captured.err, named, key, fragment)
    assert list(workdir.iterdir()) == []
    assert sorted(p.name for p in inputs.iterdir()) == before
    assert not (tmp_path / "work" / "pwned").exists()


@pytest.mark.parametrize("case", ["unknown-key", "extends-cycle", "set-unknown-path"])
def test_validate_reports_bad_input_the_same_way(
    case: str, tmp_path: Path, baseline_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, extra, named, key, fragment = prepare(case, tmp_path / "in", baseline_path)
    assert main(["validate", str(path), *extra]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    check_one_error_line(captured.err, named, key, fragment)


@pytest.mark.parametrize(
    ("command", "case"),
    [
        ([str(CASIM), "validate"], "alias-bomb"),
        ([sys.executable, "-m", "sim", "validate"], "python-object-tag"),
        ([str(CASIM), "validate"], "unknown-key"),
    ],
    ids=["casim-alias-bomb", "python-m-sim-object-tag", "casim-unknown-key"],
)
def test_bad_input_in_a_real_process(
    command: list[str], case: str, tmp_path: Path, baseline_path: Path
) -> None:
    path, extra, named, key, fragment = prepare(case, tmp_path / "in", baseline_path)
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(
        [*command, str(path), *extra],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    check_one_error_line(proc.stderr, named, key, fragment)
    assert list(work.iterdir()) == []


def test_inconsistent_values_are_bad_input_too(
    workdir: Path, baseline_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(baseline_path), "--set", "states.KAZ.gdp=1", "--no-plots"])
    assert code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "states.KAZ.gdp" in err
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize(
    ("assignment", "key"),
    [("summit=1", "summit"), ("[v=1", "[v"), ("behaviour.dict=1", "behaviour.dict")],
)
def test_unknown_keys_that_look_like_type_tags(
    assignment: str, key: str, baseline_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(baseline_path), "--set", assignment]) == EXIT_BAD_INPUT
    check_one_error_line(capsys.readouterr().err, "baseline.yaml", key, "unknown key")


def test_bad_seed_is_a_usage_error(
    baseline_path: Path, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", str(baseline_path), "--seed", "-1"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("error: casim run: argument --seed: expected a non-negative integer")
    assert "Traceback" not in err
    assert list(workdir.iterdir()) == []


# ----------------------------------------------------------------------------- run


def test_run_end_to_end_with_plots(
    baseline_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["run", str(baseline_path), "--out", str(out), "--seed", "5"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out)
    assert captured.err == ""
    assert {p.name for p in out.iterdir()} == {
        "manifest.json",
        "scenario.yaml",
        "timeseries.parquet",
        "plots",
    }
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 5
    assert manifest["scenario_sha256"] == load_scenario(baseline_path).digest()
    assert {"mesa", "numpy"} <= set(manifest["packages"])
    assert {"commit", "dirty"} <= set(manifest["git"])
    assert manifest["timings_s"]["plots"] > 0
    pngs = sorted((out / "plots").glob("*.png"))
    assert sorted(p.name for p in pngs) == sorted(manifest["plots"])
    assert {"influence.png", "trade_shares.png", "channels.png", "japan_supply.png"} <= {
        p.name for p in pngs
    }
    for png in pngs:
        data = png.read_bytes()
        assert data.startswith(PNG_MAGIC)
        assert len(data) > 10_000, png.name
    df = pd.read_parquet(out / "timeseries.parquet")
    assert df.step.nunique() == 64
    assert {"influence_share", "trade_share", "gdp", "influence_diplomacy"} <= set(df.metric)


def test_run_with_overrides(
    baseline_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ["--set", SHORT, "--set", "powers.JPN.budget=5"]
    assert main(["run", str(baseline_path), "--out", str(out), "--no-plots", *args]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["overrides"] == [SHORT, "powers.JPN.budget=5"]
    assert manifest["steps"] == 8
    assert manifest["plots"] == []
    assert not (out / "plots").exists()
    df = pd.read_parquet(out / "timeseries.parquet")
    assert (df[(df.metric == "budget") & (df.country == "JPN")].value == 5.0).all()


def test_run_refuses_a_non_empty_out_folder(
    baseline_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    code = main(["run", str(baseline_path), "--out", str(out), "--set", SHORT, "--no-plots"])
    assert code == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    check_one_error_line(captured.err, "busy", "--out", "does not exist or is empty")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_run_default_folder_goes_under_results(
    baseline_path: Path, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(baseline_path), "--set", SHORT, "--no-plots", "--seed", "2"]) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert folder.parent == Path("results") / "baseline"
    assert (workdir / folder / "manifest.json").is_file()
    assert [p.name for p in (workdir / "results" / "baseline").iterdir()] == [folder.name]


# ----------------------------------------------------------------------------- validate, list


def test_validate_prints_the_resolved_scenario(
    baseline_path: Path, scenario: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(baseline_path), "--set", "powers.JPN.budget=2.5"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert data["name"] == "baseline"
    assert data["powers"]["JPN"]["budget"] == 2.5
    assert data["powers"]["JPN"]["assumption"]["budget"] == "override: --set powers.JPN.budget=2.5"
    expected = load_scenario(baseline_path, ["powers.JPN.budget=2.5"])
    assert Scenario.model_validate(data).digest() == expected.digest() != scenario.digest()


def test_validate_output_reloads(
    scenario_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(scenario_dir / "cpc_disruption.yaml")]) == 0
    resolved = tmp_path / "resolved.yaml"
    resolved.write_text(capsys.readouterr().out, encoding="utf-8")
    assert main(["validate", str(resolved)]) == 0
    assert load_scenario(resolved) == load_scenario(
        scenario_dir / "cpc_disruption.yaml"
    ).model_copy(update={"extends": None})


def test_list_shows_every_shipped_scenario(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(SHIPPED)
    for path, line in zip(SHIPPED, lines, strict=True):
        name, _, description = line.partition(" ")
        assert name == path.stem
        text = path.read_text(encoding="utf-8")
        first_words = " ".join(yaml.load(text, Loader=yaml.CSafeLoader)["description"].split()[:4])
        assert description.strip().startswith(first_words)


def test_list_marks_invalid_files(
    tmp_path: Path, baseline_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "good.yaml").write_text(
        f"extends: {baseline_path}\nname: good\ndescription: A fine one.\n", encoding="utf-8"
    )
    (tmp_path / "broken.yaml").write_text("a: [\n", encoding="utf-8")
    assert main(["list", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("broken")
    assert "(invalid: malformed YAML" in out[0]
    assert out[1].split() == ["good", "A", "fine", "one."]


def test_list_of_a_missing_folder_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list", "--dir", str(tmp_path / "nope")]) == EXIT_BAD_INPUT
    check_one_error_line(capsys.readouterr().err, "nope", "", "no such folder")


def test_python_m_sim_list(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "list"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert names == [p.stem for p in SHIPPED]
    assert proc.stderr == ""


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("error: casim: ")
    assert "casim --help" in err
