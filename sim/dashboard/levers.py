"""The dashboard's levers: which scenario values it edits, their provenance, the edits.

A lever is a scenario key path (``powers.JPN.budget``, ``projects.3.cost``); an edit is
the text typed for it, parsed as YAML like ``--set`` parses its values. :func:`apply_edits`
applies the edits through the override machinery of :mod:`sim.scenario.load`
(:func:`~sim.scenario.load.set_value`), each recorded as ``set in dashboard: KEY=VALUE``,
and returns the CLI's one-line message (``FILE: key.path: what was expected``) for every
edit that fails, so the form shows it next to the field. :func:`export_yaml` writes the
edited scenario as a YAML file that ``extends`` the scenario file.
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sim.scenario import ScenarioError, load_scenario
from sim.scenario.load import parse_yaml, resolve, set_value, validate
from sim.scenario.schema import ACCUMULATING_LISTS, PowerParams, Scenario

#: The note every edited value carries as its assumption (``KEY=VALUE`` follows).
NOTE = "set in dashboard:"
#: Longest text a field takes.
MAX_TEXT = 200
#: Behavioural knobs shown as levers (``behaviour.<name>``).
BEHAVIOUR_KNOBS = (
    "price_sensitivity",
    "alignment_sensitivity",
    "hedging",
    "eaeu_preference",
    "sanction_penalty",
    "influence_decay",
    "strategy_temperature",
    "acceptance_threshold",
)
#: Price-process fields shown as levers (``prices.<commodity>.<field>``).
PRICE_FIELDS = ("initial", "long_run", "volatility")
#: Keys the exported file never repeats from its parent.
_HEADER_KEYS = ("name", "description", "extends")


@dataclass(frozen=True)
class Lever:
    """One editable value.

    Attributes:
        key: the scenario key path.
        group: the form section it is shown in.
        label: what the field is called.
        value: the value in the scenario (None when unset: the model's own rule decides).
        provenance: its ``source`` or ``assumption`` text ("" when none applies).
    """

    key: str
    group: str
    label: str
    value: Any
    provenance: str


@dataclass
class Edits:
    """What the form holds: typed text per lever key, and named projects switched off."""

    values: dict[str, str] = field(default_factory=dict)
    projects_off: set[int] = field(default_factory=set)

    def changed(self) -> bool:
        """Whether anything differs from the scenario."""
        return bool(self.values or self.projects_off)


def get_path(data: Any, key: str) -> Any:
    """The value at ``key`` in raw scenario data, or None if the path does not exist."""
    node = data
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def provenance_of(data: dict[str, Any], key: str) -> str:
    """The ``source`` or ``assumption`` covering the value at ``key`` (nearest first)."""
    parts = key.split(".")
    found = ""
    node: Any = data
    for depth, part in enumerate(parts):
        if isinstance(node, dict):
            for kind in ("source", "assumption"):
                text = _covering(node.get(kind), parts[depth:])
                if text:
                    found = f"{kind}: {text}"
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            break
    return " ".join(found.split())


def _covering(prov: Any, rest: list[str]) -> str:
    for part in rest:
        if isinstance(prov, str):
            return prov
        if not isinstance(prov, dict) or part not in prov:
            return ""
        prov = prov[part]
    return prov if isinstance(prov, str) else ""


def levers(data: dict[str, Any]) -> list[Lever]:
    """Every lever of a resolved scenario, in the order the form shows them."""
    out: list[tuple[str, str, str]] = []
    powers = list(data.get("powers", {}))
    states = list(data.get("states", {}))
    out += [(f"powers.{p}.budget", "Budgets (USD bn/yr)", p) for p in powers]
    out += [
        (f"powers.{p}.budget_split.{s}", "Budget split (share aimed at a state)", f"{p} → {s}")
        for p in powers
        for s in states
    ]
    for i, ev in enumerate(data.get("events", [])):
        if ev.get("type") == "summit":
            out.append((f"events.{i}.weight", "Summit weights", f"{ev['power']} {ev['date']}"))
        if ev.get("type") == "route_disruption":
            what = f"{ev['route']} {ev['date']}"
            out.append((f"events.{i}.capacity_loss", "Disruptions", f"{what}: capacity lost"))
            out.append((f"events.{i}.duration_quarters", "Disruptions", f"{what}: quarters"))
    for i, d in enumerate(data.get("disruptions", [])):
        what = f"{d['route']} random outages"
        out.append((f"disruptions.{i}.capacity_loss", "Disruptions", f"{what}: capacity lost"))
        out.append((f"disruptions.{i}.mean_duration_quarters", "Disruptions", f"{what}: quarters"))
    for i, pr in enumerate(data.get("projects", [])):
        group = "Named projects"
        out.append((f"projects.{i}.cost", group, f"{pr['name']}: cost"))
        out.append((f"projects.{i}.completion_probability", group, f"{pr['name']}: P(complete)"))
    for c in data.get("prices", {}):
        out += [(f"prices.{c}.{f}", "Prices", f"{c} {f}") for f in PRICE_FIELDS]
    out += [(f"behaviour.{k}", "Behaviour", k) for k in BEHAVIOUR_KNOBS]
    return [Lever(k, g, lab, get_path(data, k), provenance_of(data, k)) for k, g, lab in out]


# ----------------------------------------------------------------------------- edits


def apply_edits(
    data: dict[str, Any], edits: Edits, file: str | Path
) -> tuple[Scenario | None, dict[str, Any], dict[str, str]]:
    """Apply the edits to a copy of resolved scenario data and validate.

    Edits are applied one at a time, each validated; one that fails is left out and its
    one-line message kept. Projects switched off are removed last.

    Args:
        data: the resolved scenario data (:func:`sim.scenario.load.resolve`); not changed.
        edits: the form's edits.
        file: the scenario file (named in messages).

    Returns:
        ``(scenario or None, edited data, {key: message})``; the scenario is None only
        when the edits that passed one by one fail together.
    """
    out = copy.deepcopy(data)
    errors: dict[str, str] = {}
    for key, text in edits.values.items():
        trial = copy.deepcopy(out)
        try:
            set_edit(trial, key, text, file)
            validate(trial, file)
        except ScenarioError as err:
            errors[key] = str(err)
            continue
        out = trial
    projects = out.get("projects", [])
    for i in sorted(edits.projects_off, reverse=True):
        if i < len(projects):
            del projects[i]
    try:
        return validate(out, file), out, errors
    except ScenarioError as err:
        errors["projects"] = str(err)
        return None, out, errors


def set_edit(data: dict[str, Any], key: str, text: str, file: str | Path) -> None:
    """Set ``key`` to ``text`` parsed as YAML, noted ``set in dashboard: KEY=VALUE``.

    A missing last mapping on the path (``budget_split`` of a power that has none) is
    created when the schema has that field.

    Raises:
        ScenarioError: for text that is too long or not YAML, or a path that does not exist.
    """
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise ScenarioError(file, key, f"expected at most {MAX_TEXT} characters")
    if not text:
        raise ScenarioError(file, key, "expected a value, got nothing")
    value = parse_yaml(text, f"{file} ({key})")
    parent, _, _ = key.rpartition(".")
    holder, _, last = parent.rpartition(".")
    node = get_path(data, holder) if holder else data
    if isinstance(node, dict) and last not in node and last in PowerParams.model_fields:
        node[last] = {}
    set_value(data, key, value, file, note=f"{NOTE} {key}={text}")


# ----------------------------------------------------------------------------- export


def export_yaml(file: str | Path, edited: dict[str, Any], edits: Edits, name: str) -> str:
    """The edited scenario as YAML text that ``extends`` the scenario file.

    The file extends ``file`` (by absolute path, so it validates wherever it is saved)
    and holds only what differs: each changed value with its ``set in dashboard: ...``
    assumption. Lists (``events``, ``projects``, ``disruptions``) accumulate over
    ``extends``, so an edit of an inherited list entry makes the file extend the nearest
    ancestor that lacks it (or nothing) and repeat the entries after it.

    Args:
        file: the scenario file the dashboard loaded.
        edited: the edited, resolved data (:func:`apply_edits`).
        edits: the edits (which list entries they touch).
        name: the new scenario's name.
    """
    anchor, parent = _anchor(Path(file).resolve(), edits)
    child: dict[str, Any] = {"name": name}
    if anchor is not None:
        child["extends"] = str(anchor)
    child["description"] = f"{edited.get('description', '')} Edited in casim dashboard.".strip()
    skip = (*_HEADER_KEYS, *ACCUMULATING_LISTS)
    child |= {k: v for k, v in _diff(parent, edited).items() if k not in skip}
    for key in ACCUMULATING_LISTS:
        extra = edited.get(key, [])[len(parent.get(key, [])) :]
        if extra:
            child[key] = extra
    head = "# Written by casim dashboard: the changed values carry `set in dashboard: ...`.\n"
    return head + yaml.safe_dump(child, sort_keys=False, allow_unicode=True, width=100)


def _list_edits(edits: Edits) -> dict[str, int]:
    """List name -> smallest index an edit touches."""
    out: dict[str, int] = {}
    touched = [k.split(".")[:2] for k in edits.values]
    touched += [["projects", str(i)] for i in edits.projects_off]
    for head, idx in touched:
        if head in ACCUMULATING_LISTS and idx.isdigit():
            out[head] = min(out.get(head, int(idx)), int(idx))
    return out


def _anchor(file: Path, edits: Edits) -> tuple[Path | None, dict[str, Any]]:
    """The file to extend and its resolved data ({} when nothing can be extended)."""
    first = _list_edits(edits)
    path: Path | None = file
    while path is not None:
        data = resolve(path)
        if all(len(data.get(k, [])) <= i for k, i in first.items()):
            return path, data
        parent = yaml.safe_load(path.read_text(encoding="utf-8")).get("extends")
        path = (path.parent / parent).resolve() if parent else None
    return None, {}


def _diff(parent: Any, child: Any) -> dict[str, Any]:
    """The keys of mapping ``child`` that differ from ``parent`` (mappings recursively)."""
    out: dict[str, Any] = {}
    for key, value in child.items():
        old = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(value, dict) and isinstance(old, dict):
            sub = _diff(old, value)
            if sub:
                out[key] = sub
        elif key not in (parent or {}) or value != old:
            out[key] = copy.deepcopy(value)
    return out


def check_export(text: str, scenario: Scenario) -> Scenario:
    """Load exported text as ``casim validate`` would and check it is ``scenario``.

    Raises:
        ScenarioError: if it does not validate or resolves to other values.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "edited.yaml"
        path.write_text(text, encoding="utf-8")
        loaded = load_scenario(path)
    if model_values(loaded) != model_values(scenario):
        raise ScenarioError(path.name, "", "the exported file resolves to other values")
    return loaded


def model_values(scenario: Scenario) -> dict[str, Any]:
    """A scenario's values without names and provenance (what a run depends on)."""
    return _strip_provenance({k: v for k, v in scenario.to_dict().items() if k not in _HEADER_KEYS})


def _strip_provenance(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: _strip_provenance(v) for k, v in node.items() if k not in ("source", "assumption")
        }
    if isinstance(node, list):
        return [_strip_provenance(v) for v in node]
    return node
