"""Shared fixtures: scenario paths, loaded scenarios, a scenario builder, result folders.

Paths are absolute (built from this file's location), so tests do not depend on the
working directory. Session-scoped scenario objects are handed out as deep copies, so a
test that edits its scenario cannot leak into another.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sim.scenario import Scenario, apply_override, resolve, validate

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENARIO_DIR = REPO_ROOT / "scenarios"
#: Short horizon used to keep model runs fast (8 quarterly steps).
SHORT_HORIZON = "horizon.end=2026Q4"

type ScenarioBuilder = Callable[..., Scenario]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def scenario_dir() -> Path:
    return SCENARIO_DIR


@pytest.fixture(scope="session")
def baseline_path() -> Path:
    return SCENARIO_DIR / "baseline.yaml"


@pytest.fixture(scope="session")
def baseline_raw(baseline_path: Path) -> dict[str, Any]:
    """The baseline's resolved raw mapping (YAML parsing is the slow part of loading).

    Do not mutate; ``build_scenario`` works on deep copies.
    """
    return resolve(baseline_path)


@pytest.fixture(scope="session")
def baseline_loaded(baseline_path: Path, baseline_raw: dict[str, Any]) -> Scenario:
    """The baseline, loaded once per session; use ``scenario`` to get a private copy."""
    return validate(copy.deepcopy(baseline_raw), baseline_path)


@pytest.fixture(scope="session")
def short_loaded(build_scenario_session: ScenarioBuilder) -> Scenario:
    return build_scenario_session(overrides=[SHORT_HORIZON])


@pytest.fixture
def scenario(baseline_loaded: Scenario) -> Scenario:
    """The baseline scenario (2025Q1-2040Q4), a private deep copy."""
    return baseline_loaded.model_copy(deep=True)


@pytest.fixture
def short_scenario(short_loaded: Scenario) -> Scenario:
    """The baseline cut to 2025Q1-2026Q4 (8 steps), a private deep copy."""
    return short_loaded.model_copy(deep=True)


@pytest.fixture
def tmp_results(tmp_path: Path) -> Path:
    """A results root that does not exist yet (tests check whether runs create it)."""
    return tmp_path / "results"


@pytest.fixture(scope="session")
def build_scenario_session(baseline_path: Path, baseline_raw: dict[str, Any]) -> ScenarioBuilder:
    """Session-scoped ``build_scenario`` (for module- or session-scoped fixtures)."""
    return _builder(baseline_path, baseline_raw)


@pytest.fixture
def build_scenario(build_scenario_session: ScenarioBuilder) -> ScenarioBuilder:
    """Factory: resolve a scenario file, edit the raw mapping, validate the result.

    ``build_scenario(edit=fn, overrides=[...], path=...)`` applies ``--set`` style
    ``overrides`` after inheritance, then ``edit(data)`` (in place) on the raw mapping,
    then the full validation (schema and provenance) a file would get. ``path``
    defaults to the baseline.
    """
    return build_scenario_session


def _builder(baseline_path: Path, baseline_raw: dict[str, Any]) -> ScenarioBuilder:
    def build(
        edit: Callable[[dict[str, Any]], None] | None = None,
        *,
        overrides: list[str] | tuple[str, ...] = (),
        path: Path | None = None,
    ) -> Scenario:
        if path is None:
            path = baseline_path
            data = copy.deepcopy(baseline_raw)
            for assignment in overrides:
                apply_override(data, assignment, path)
        else:
            data = resolve(path, overrides)
        if edit is not None:
            edit(data)
        return validate(data, path)

    return build
