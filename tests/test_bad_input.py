"""Bad input, class by class: one line naming the file and key path, nothing else.

Each row is a hostile input a user could give; the loader must refuse it with a
``ScenarioError`` (exit 2 in the CLI) whose message names the key path and says what was
expected.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sim.scenario import ScenarioError, load_scenario
from sim.scenario.load import MAX_EXTENDS_DEPTH

BASELINE = Path(__file__).resolve().parent.parent / "scenarios" / "baseline.yaml"


def refused(overrides: list[str], path: str = BASELINE) -> str:
    with pytest.raises(ScenarioError) as err:
        load_scenario(path, overrides)
    text = str(err.value)
    assert "\n" not in text
    return text


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("assignment", "key"),
    [
        ("powers.JPN.demand.oil=.nan", "powers.JPN.demand.oil"),
        ("powers.JPN.budget=.inf", "powers.JPN.budget"),
        ("powers.JPN.budget=-.inf", "powers.JPN.budget"),
        ("states.KAZ.gdp=1.0e+309", "states.KAZ.gdp"),
        ("states.KAZ.capacity.oil=.nan", "states.KAZ.capacity.oil"),
        ("behaviour.price_sensitivity=.inf", "behaviour.price_sensitivity"),
        ("prices.oil.path={2030: .nan}", "prices.oil.path.2030"),
        ("powers.CHN.sector_bias.energy=-.inf", "powers.CHN.sector_bias.energy"),
    ],
)
def test_non_finite_numbers_are_refused(assignment: str, key: str) -> None:
    text = refused([assignment])
    assert f": {key}: expected a finite number" in text


@pytest.mark.parametrize(
    "assignment",
    ["states.KAZ.gdp=1.0e+12", "powers.JPN.budget=2.0e+7", "markets.EU.demand.oil=-1.0e+8"],
)
def test_huge_numbers_are_out_of_range(assignment: str) -> None:
    assert "expected a value" in refused([assignment])


def test_negative_zero_is_an_ordinary_zero() -> None:
    assert load_scenario(BASELINE, ["powers.JPN.budget=-0.0"]).powers["JPN"].budget == 0.0


# ----------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "assignment",
    [
        "horizon.start=2250Q1",
        "horizon.end=2262Q4",
        "horizon.start=0000Q1",
        "horizon.end=9999Q1",
        "horizon.start=1989Q4",
    ],
)
def test_dates_outside_the_supported_range_are_refused(assignment: str) -> None:
    text = refused([assignment])
    assert "expected a quarter from 1990Q1 to 2100Q4" in text
    assert f": {assignment.split('=', maxsplit=1)[0]}: " in text


def test_project_starts_are_range_checked_too() -> None:
    assert ": projects.0.start: expected a quarter from 1990Q1" in refused(
        ["projects=[{name: x, power: JPN, state: KAZ, sector: mining, cost: 1, start: 1900Q1, "
         "lead_time_quarters: 1, completion_probability: 1, assumption: test}]"]
    )  # fmt: skip


# ----------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "a/b", "end.", "x" * 65, "a b", "é"])
def test_unsafe_names_are_refused(name: str) -> None:
    text = refused([f"name='{name}'"])
    assert ": name: expected a name of letters, digits, _ and - (dots only inside)" in text


@pytest.mark.parametrize("name", ["a", "a.b", "run_2-x", "x" * 64])
def test_safe_names_are_accepted(name: str) -> None:
    assert load_scenario(BASELINE, [f"name={name}"]).name == name


# ----------------------------------------------------------------------------- files


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    assert refused([], fifo).endswith("expected a regular file")


def test_a_device_is_refused_unread() -> None:
    assert refused([], Path("/dev/zero")).endswith("expected a regular file")


def test_a_directory_is_refused(tmp_path: Path) -> None:
    assert refused([], tmp_path).endswith("expected a regular file")


def test_a_symlink_loop_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    assert "loops or leads nowhere" in refused([], tmp_path / "a.yaml")
    child = tmp_path / "child.yaml"
    child.write_text("name: c\nextends: a.yaml\n", encoding="utf-8")
    assert ": extends: cannot resolve 'a.yaml'" in refused([], child)


def test_a_long_extends_chain_is_cut(tmp_path: Path) -> None:
    (tmp_path / "f0.yaml").write_text(BASELINE.read_text(encoding="utf-8"), encoding="utf-8")
    for i in range(1, 1000):
        (tmp_path / f"f{i}.yaml").write_text(f"extends: f{i - 1}.yaml\n", encoding="utf-8")
    text = refused([], tmp_path / "f999.yaml")
    assert f"more than {MAX_EXTENDS_DEPTH} levels of extends" in text


def test_a_chain_within_the_limit_loads(tmp_path: Path) -> None:
    (tmp_path / "f0.yaml").write_text(BASELINE.read_text(encoding="utf-8"), encoding="utf-8")
    for i in range(1, MAX_EXTENDS_DEPTH):
        (tmp_path / f"f{i}.yaml").write_text(f"extends: f{i - 1}.yaml\n", encoding="utf-8")
    assert load_scenario(tmp_path / f"f{MAX_EXTENDS_DEPTH - 1}.yaml").name == "baseline"


# ----------------------------------------------------------------------------- duplicate keys


@pytest.mark.parametrize(
    ("text", "key", "lines"),
    [
        ("name: a\ndescription: d\nname: b\n", "name", (1, 3)),
        ("events: []\nseed: 1\nevents: []\n", "events", (1, 3)),
        ("states:\n  KAZ:\n    gdp: 1\n    gdp: 2\n", "gdp", (3, 4)),
    ],
)
def test_duplicate_keys_are_refused(tmp_path: Path, text: str, key: str, lines: tuple) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(text, encoding="utf-8")
    message = refused([], path)
    assert f"duplicate key '{key}' (first at line {lines[0]}, again at line {lines[1]})" in message
