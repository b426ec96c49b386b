"""Scenario loading: shipped files, inheritance, overrides, provenance, schema errors."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import pytest
import yaml

from sim.scenario import (
    Scenario,
    ScenarioError,
    apply_override,
    coerce_scenario,
    deep_merge,
    format_quarter,
    load_scenario,
    parse_quarter,
    parse_yaml,
    validate,
)
from sim.scenario.schema import MAX_DEPTH, MAX_FILE_BYTES

SHIPPED = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))

#: Shipped scenarios loaded once per module (tests must not mutate them).
load_shipped = functools.cache(load_scenario)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- shipped


def test_the_required_scenarios_are_shipped() -> None:
    names = {p.stem for p in SHIPPED}
    required = {
        "baseline",
        "japan_summit",
        "cpc_disruption",
        "us_c5plus1",
        "china_bri_push",
        "article",
    }
    assert required <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_scenario_loads(path: Path) -> None:
    s = load_shipped(path)
    assert s.name == path.stem
    assert s.description.strip()
    assert s.steps == parse_quarter(s.horizon.end) - parse_quarter(s.horizon.start) + 1 > 0
    assert len(s.digest()) == 64


def test_baseline_horizon(scenario: Scenario) -> None:
    assert (scenario.horizon.start, scenario.horizon.end) == ("2025Q1", "2040Q4")
    assert scenario.steps == 64


def test_loading_twice_gives_the_same_digest(baseline_path: Path, scenario: Scenario) -> None:
    assert load_scenario(baseline_path).digest() == scenario.digest()
    assert load_scenario(str(baseline_path)) == scenario


def test_digest_changes_with_any_value(build_scenario, scenario: Scenario) -> None:
    other = build_scenario(overrides=["behaviour.hedging=1.01"])
    assert other.digest() != scenario.digest()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_resolved_yaml_reloads_to_the_same_digest(path: Path, tmp_path: Path) -> None:
    s = load_shipped(path)
    assert "extends" not in yaml.safe_load(s.to_yaml())
    again = load_scenario(write(tmp_path, "resolved.yaml", s.to_yaml()))
    assert again.digest() == s.digest()
    assert again == s.model_copy(update={"extends": None})


def test_resolved_yaml_keeps_int_keyed_paths(build_scenario) -> None:
    def edit(d: dict) -> None:
        d["prices"]["oil"]["path"] = {2025: 75.0, 2030: 90.0}
        d["prices"]["oil"]["assumption"]["path"] = "test path"
        d["states"]["KAZ"]["production_path"] = {"oil": {2025: 90.0, 2026: 95.0}}
        d["states"]["KAZ"]["assumption"]["production_path"] = "test path"

    s = build_scenario(edit)
    again = Scenario.model_validate(yaml.safe_load(s.to_yaml()))
    assert again.prices["oil"].path == {2025: 75.0, 2030: 90.0}
    assert again.digest() == s.digest()


# ----------------------------------------------------------------------------- quarters


@pytest.mark.parametrize(("text", "q"), [("2025Q1", 8100), ("2025Q4", 8103), ("2040Q4", 8163)])
def test_quarters_round_trip(text: str, q: int) -> None:
    assert parse_quarter(text) == q
    assert format_quarter(q) == text


@pytest.mark.parametrize("text", ["2025Q0", "2025Q5", "2025-Q1", "25Q1", "2025q1", ""])
def test_bad_quarters_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="quarter"):
        parse_quarter(text)


# ----------------------------------------------------------------------------- inheritance


def test_deep_merge_child_wins_and_parent_is_untouched() -> None:
    parent = {"a": {"x": 1, "y": {"p": 1, "q": 2}}, "lst": [1, 2], "keep": 5}
    child = {"a": {"y": {"q": 20, "r": 30}}, "lst": [9], "new": 1}
    merged = deep_merge(parent, child)
    assert merged == {
        "a": {"x": 1, "y": {"p": 1, "q": 20, "r": 30}},
        "lst": [9],
        "keep": 5,
        "new": 1,
    }
    assert parent == {"a": {"x": 1, "y": {"p": 1, "q": 2}}, "lst": [1, 2], "keep": 5}
    merged["a"]["x"] = 99
    assert parent["a"]["x"] == 1


def test_extends_accumulates_events_and_disruptions(scenario_dir: Path, scenario: Scenario) -> None:
    child = load_shipped(scenario_dir / "cpc_disruption.yaml")
    assert child.extends == "baseline.yaml"
    # The baseline's stochastic CPC disruption comes first, the child's is added.
    assert len(child.disruptions) == len(scenario.disruptions) + 1
    assert child.disruptions[0] == scenario.disruptions[0]
    assert child.events
    assert all(ev.type == "route_disruption" for ev in child.events)
    # Everything the child does not mention is the baseline's.
    assert child.states == scenario.states
    assert child.powers == scenario.powers


def test_child_values_override_the_parent(
    tmp_path: Path, baseline_path: Path, scenario: Scenario
) -> None:
    path = write(
        tmp_path,
        "child.yaml",
        f"extends: {baseline_path}\nname: child\nhorizon: {{end: 2030Q4}}\n"
        "powers:\n  JPN:\n    budget: 4.5\n",
    )
    s = load_scenario(path)
    assert s.name == "child"
    assert s.horizon.start == "2025Q1"  # merged, not replaced
    assert s.horizon.end == "2030Q4"
    assert s.powers["JPN"].budget == 4.5
    assert s.powers["JPN"].priorities == scenario.powers["JPN"].priorities
    assert s.states == scenario.states


def test_extends_a_relative_parent_without_suffix(tmp_path: Path, baseline_path: Path) -> None:
    write(tmp_path, "base.yaml", baseline_path.read_text(encoding="utf-8"))
    write(tmp_path, "mid.yaml", "extends: base\nname: mid\n")
    s = load_scenario(write(tmp_path, "leaf.yaml", "extends: mid.yaml\nname: leaf\n"))
    assert s.name == "leaf"
    assert s.steps == 64


# ----------------------------------------------------------------------------- --set


def test_overrides_change_values(baseline_path: Path, scenario: Scenario) -> None:
    s = load_scenario(
        baseline_path,
        ["horizon.end=2026Q4", "powers.JPN.budget=5", "states.KAZ.capacity.oil=100.5"],
    )
    assert s.powers["USA"] == scenario.powers["USA"]
    assert s.steps == 8
    assert s.powers["JPN"].budget == 5.0
    assert s.states["KAZ"].capacity["oil"] == 100.5


def test_override_values_are_parsed_as_yaml(build_scenario) -> None:
    s = build_scenario(overrides=["states.KAZ.blocs=[CSTO]"])
    assert s.states["KAZ"].blocs == ["CSTO"]


def test_override_into_a_list(scenario_dir: Path) -> None:
    s = load_scenario(scenario_dir / "cpc_disruption.yaml", ["events.0.capacity_loss=0.9"])
    assert s.events[0].capacity_loss == 0.9


def test_overrides_are_validated_like_the_file(build_scenario) -> None:
    with pytest.raises(ScenarioError) as info:
        build_scenario(overrides=["powers.JPN.budget=-3"])
    assert info.value.path == "powers.JPN.budget"


@pytest.mark.parametrize(
    ("assignment", "path", "fragment"),
    [
        ("nokey", "--set", "KEY.PATH=VALUE"),
        ("=3", "--set", "KEY.PATH=VALUE"),
        ("powers..budget=3", "--set", "KEY.PATH=VALUE"),
        ("powers.JPX.budget=3", "powers.JPX", "did you mean 'JPN'"),
        ("horizon.end.x=1", "horizon.end.x", "which is a value"),
        ("routes.CPC.origins.7=KAZ", "routes.CPC.origins.7", "list index"),
        ("horizon.end=[1", "", "malformed YAML"),
    ],
)
def test_bad_overrides(
    baseline_path: Path, baseline_raw: dict, assignment: str, path: str, fragment: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        apply_override(copy.deepcopy(baseline_raw), assignment, baseline_path)
    assert info.value.path == path
    assert fragment in str(info.value)
    assert "baseline.yaml" in str(info.value)


# ----------------------------------------------------------------------------- YAML safety


def test_python_object_tags_are_refused() -> None:
    with pytest.raises(ScenarioError, match="malformed YAML"):
        parse_yaml("x: !!python/object/apply:os.system ['true']\n", "f.yaml")


def test_aliases_are_refused_before_expansion() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    with pytest.raises(ScenarioError, match="aliases"):
        parse_yaml("\n".join(lines), "bomb.yaml")


def test_deep_nesting_is_refused() -> None:
    text = "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    with pytest.raises(ScenarioError, match="nesting"):
        parse_yaml(text, "deep.yaml")


def test_huge_files_are_refused_unread(tmp_path: Path) -> None:
    path = write(tmp_path, "big.yaml", "# " + "x" * MAX_FILE_BYTES + "\n")
    with pytest.raises(ScenarioError, match="bytes"):
        load_scenario(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "nope.yaml")


# ----------------------------------------------------------------------------- validation


def _event(**fields) -> dict:
    return {"assumption": "test", **fields}


@pytest.mark.parametrize(
    ("edit", "path", "fragment"),
    [
        (lambda d: d["behaviour"].update(hedgng=1.0), "behaviour.hedgng", "did you mean 'hedging'"),
        (lambda d: d.update(evnts=[]), "evnts", "did you mean 'events'"),
        (lambda d: d["powers"]["JPN"].update(budget="lots"), "powers.JPN.budget", "number"),
        (lambda d: d["powers"]["JPN"].update(budget=-1.0), "powers.JPN.budget", "greater than"),
        (
            lambda d: d["powers"]["JPN"].update(completion_probability=1.5),
            "powers.JPN.completion_probability",
            "less than or equal to 1",
        ),
        (lambda d: d["states"].update(KAZZ=d["states"]["KAZ"]), "states.KAZZ", "'KAZ'"),
        (lambda d: d["states"].pop("TKM"), "states", "missing TKM"),
        (lambda d: d["horizon"].update(end="2024Q4"), "horizon", "before start"),
        (lambda d: d["horizon"].update(end="2040-12"), "horizon.end", "quarter like 2025Q1"),
        (
            lambda d: d["states"]["KAZ"]["trade_targets"].update(EU=80.0),
            "states.KAZ",
            "trade_targets sum",
        ),
        (
            lambda d: d["states"]["KAZ"].update(gdp=1.0),
            "states.KAZ.gdp",
            "resource value added",
        ),
        (
            lambda d: d.update(events=[_event(type="summit", date="2025Q2", power="JPX")]),
            "events.0.power",
            "did you mean 'JPN'",
        ),
        (
            lambda d: d.update(events=[_event(type="summit", date="2041Q1", power="JPN")]),
            "events.0.date",
            "outside the horizon",
        ),
        (
            lambda d: d.update(
                events=[
                    _event(
                        type="route_disruption",
                        date="2026Q1",
                        route="CPX",
                        capacity_loss=0.5,
                        duration_quarters=2,
                    )
                ]
            ),
            "events.0.route",
            "did you mean 'CPC'",
        ),
        (
            lambda d: d.update(
                events=[
                    _event(
                        type="route_disruption",
                        date="2026Q1",
                        route="CPC",
                        capacity_loss=1.2,
                        duration_quarters=2,
                    )
                ]
            ),
            "events.0.capacity_loss",
            "less than or equal to 1",
        ),
        (
            lambda d: d.update(events=[{"type": "coup", "date": "2026Q1", "assumption": "x"}]),
            "events.0",
            "coup",
        ),
        (
            lambda d: d.update(
                events=[
                    {
                        "type": "price_shock",
                        "date": "2026Q1",
                        "commodity": "oil",
                        "size": 0.3,
                    }
                ]
            ),
            "events.0.size",
            "needs a `source`",
        ),
    ],
    ids=[
        "unknown-key",
        "unknown-top-key",
        "wrong-type",
        "negative-budget",
        "share-above-1",
        "unknown-state",
        "missing-state",
        "horizon-reversed",
        "bad-quarter",
        "targets-over-100",
        "gdp-below-resource-output",
        "unknown-power",
        "event-outside-horizon",
        "unknown-route",
        "loss-above-1",
        "unknown-event-type",
        "no-provenance",
    ],
)
def test_schema_errors_name_the_key_path(build_scenario, edit, path: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as info:
        build_scenario(edit)
    err = info.value
    assert err.path == path
    assert fragment in err.message
    assert str(err).startswith(f"{err.file}: {path}: ")
    assert "\n" not in str(err)


def test_unknown_route_in_route_cost_names_route_cost(build_scenario) -> None:
    def edit(d):
        d["projects"] = [
            {
                "name": "x",
                "power": "JPN",
                "state": "KAZ",
                "sector": "transport",
                "cost": 1.0,
                "start": "2026Q1",
                "lead_time_quarters": 4,
                "completion_probability": 0.5,
                "effects": {"route_cost": {"MIDDLE_CORIDOR": -0.02}},
                "assumption": "test",
            }
        ]

    with pytest.raises(ScenarioError) as info:
        build_scenario(edit)
    assert info.value.path == "projects.0.effects.route_cost"


def test_coerce_scenario_accepts_objects_paths_and_mappings(
    baseline_path: Path, baseline_raw: dict, scenario: Scenario
) -> None:
    assert coerce_scenario(scenario) is scenario
    assert coerce_scenario(str(baseline_path)) == scenario
    assert coerce_scenario(copy.deepcopy(baseline_raw)) == scenario
    with pytest.raises(ScenarioError):
        coerce_scenario({"name": "x"})


def test_validate_reports_the_given_file_name(baseline_raw: dict) -> None:
    data = copy.deepcopy(baseline_raw)
    data["seed"] = -1
    with pytest.raises(ScenarioError, match=r"^my\.yaml: seed: "):
        validate(data, "my.yaml")


# ----------------------------------------------------------------------------- actors

SIX = Path(__file__).resolve().parent / "fixtures" / "six_states.yaml"


def test_declared_actors_extend_the_vocabulary() -> None:
    s = load_scenario(SIX)
    assert s.vocab.states[-1] == "XAF"
    assert s.vocab.powers[-1] == "XIN"
    assert s.vocab.partners == (*s.vocab.powers, "EU", "ROW")
    assert s.vocab.influencers[-2:] == ("XIN", "OTH")
    assert s.vocab.name("XAF") == "Xaferia (made up)"
    colours = [s.vocab.colour(c) for c in (*s.vocab.states, *s.vocab.influencers[:-1])]
    assert len(set(colours)) == len(colours)  # every actor keeps its own colour
    summit = next(ev for ev in s.events if ev.type == "summit" and ev.power == "XIN")
    assert summit.states == list(s.vocab.states)  # the default covers the declared state


def test_the_shipped_world_is_unchanged_without_actors(scenario: Scenario) -> None:
    assert scenario.vocab.states == ("KAZ", "UZB", "KGZ", "TJK", "TKM")
    assert scenario.vocab.powers == ("CHN", "RUS", "JPN", "USA")


def test_declared_actors_survive_the_resolved_yaml_and_pickling(tmp_path: Path) -> None:
    import pickle  # noqa: PLC0415

    s = load_scenario(SIX)
    again = write(tmp_path, "again.yaml", s.to_yaml())
    assert load_scenario(again).vocab == s.vocab
    assert pickle.loads(pickle.dumps(s)).vocab == s.vocab
    assert s.model_copy(deep=True).vocab == s.vocab


@pytest.mark.parametrize(
    ("edit", "path", "fragment"),
    [
        (["--set", "actors.XAF.role=market"], "actors.XAF.role", "unknown value 'market'"),
        (["--set", "actors.KAZ={role: state, name: K}"], "actors.KAZ", "taken"),
        (["--set", "projects.0.power=XIM"], "projects.0.power", "did you mean 'XIN'"),
        (["--set", "actors.XAF.colour=red"], "actors.XAF.colour", "expected text matching"),
    ],
)
def test_bad_actor_declarations(edit: list[str], path: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(SIX, [edit[1]])
    assert f": {path}: " in str(err.value)
    assert fragment in str(err.value)


def test_an_undeclared_code_is_still_an_unknown_code(baseline_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"states\.XAF: unknown code 'XAF'"):
        load_scenario(baseline_path, ["states.XAF={gdp: 1}"])


def test_a_declared_state_must_be_described(baseline_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"states: missing XAF"):
        load_scenario(baseline_path, ["actors={XAF: {role: state, name: X}}"])


# ----------------------------------------------------------------------------- override provenance


def _covering(data: dict, path: list[str]) -> list[str]:
    """Every provenance string that covers the value at ``path`` (walking down dicts)."""
    found: list[str] = []
    node = data
    for depth, part in enumerate(path):
        for field in ("source", "assumption"):
            prov = node.get(field) if isinstance(node, dict) else None
            for key in path[depth:]:
                if isinstance(prov, dict):
                    prov = prov.get(key)
                if isinstance(prov, str):
                    found.append(prov)
                    break
        node = node[int(part)] if isinstance(node, list) else node[part]
    return found


@pytest.mark.parametrize(
    "assignment",
    [
        "powers.JPN.budget=5",
        "states.KAZ.capacity.oil=100",
        "behaviour.price_sensitivity=4",
        "routes.CPC.capacity.oil=40",
        "prices.oil.initial=80",
    ],
)
def test_an_override_replaces_the_provenance(baseline_path: Path, assignment: str) -> None:
    key = assignment.split("=", 1)[0]
    scenario = load_scenario(baseline_path, [assignment])
    data = scenario.to_dict()
    assert _covering(data, key.split(".")) == [f"override: --set {assignment}"]
    reloaded = validate(yaml.safe_load(scenario.to_yaml()))
    assert reloaded.digest() == scenario.digest()


def test_other_values_keep_their_provenance(baseline_path: Path) -> None:
    before = load_scenario(baseline_path).to_dict()
    after = load_scenario(baseline_path, ["states.KAZ.capacity.oil=100"]).to_dict()
    for other in ("gas", "uranium"):
        path = ["states", "KAZ", "capacity", other]
        assert _covering(after, path) == _covering(before, path)


def test_an_override_inside_a_list_element(scenario_dir: Path) -> None:
    s = load_scenario(scenario_dir / "japan_summit.yaml", ["events.0.weight=3"])
    assert _covering(s.to_dict(), ["events", "0", "weight"])[-1].startswith("override: --set")


def test_overrides_of_run_settings_carry_no_note(baseline_path: Path) -> None:
    s = load_scenario(baseline_path, ["seed=7", "name=other"])
    assert "override" not in s.to_yaml()
