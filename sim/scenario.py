"""Scenario schema (pydantic v2), safe YAML loading, ``extends:`` inheritance and ``--set``.

A scenario is one YAML mapping. Loading it:

1. reads the file with a safe loader that refuses Python object tags and YAML aliases
   (so alias "bombs" cannot blow up memory) and files over 1 MiB;
2. follows ``extends:`` (a path relative to the file) and deep-merges parent and child:
   mappings merge key by key with the child winning, lists are replaced, except the
   lists ``events``, ``projects`` and ``disruptions``, which accumulate parent first;
3. applies ``--set key.path=value`` overrides (values parsed as YAML);
4. validates against the schema below (unknown keys, wrong types, out-of-range values,
   unknown country codes, events outside the horizon, unknown routes);
5. checks provenance: every number must be covered by a ``source`` or an
   ``assumption`` on its own mapping or an enclosing one (a string covers everything
   below; a mapping names the keys it covers).

Every failure raises :class:`ScenarioError`, whose ``str`` is the one-line message the
CLI prints: ``FILE: key.path: what was expected``.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self, Union, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim.countries import (
    BLOCS,
    CHANNELS,
    COMMODITIES,
    MARKETS,
    PARTNERS,
    POWERS,
    SECTORS,
    STATES,
    VALUE_FACTOR,
)
from sim.vocab import DEFAULT as DEFAULT_VOCAB
from sim.vocab import Vocabulary

MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 40
ACCUMULATING_LISTS = ("events", "projects", "disruptions")
#: Top-level keys whose numbers are run settings, not empirical values.
NO_PROVENANCE_NEEDED = ("seed", "horizon", "name", "description", "extends")

State = Literal["KAZ", "UZB", "KGZ", "TJK", "TKM"]
Power = Literal["CHN", "RUS", "JPN", "USA"]
Market = Literal["EU", "ROW"]
Partner = Literal["CHN", "RUS", "JPN", "USA", "EU", "ROW"]
Commodity = Literal["oil", "gas", "uranium", "gold", "copper", "critical_minerals", "other"]
Sector = Literal["energy", "mining", "transport", "other"]
Channel = Literal["trade", "investment", "diplomacy", "security"]
Bloc = Literal["EAEU", "CSTO"]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
NonNeg = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]
type ProvenanceMap = dict[str, str | ProvenanceMap]
Provenance = str | ProvenanceMap | None

QUARTER_RE = re.compile(r"^(\d{4})Q([1-4])$")


class ScenarioError(ValueError):
    """A scenario could not be loaded; ``str(err)`` is a one-line message."""

    def __init__(self, file: str | Path, path: str, message: str) -> None:
        self.file = _printable(_display_path(file))
        self.path = _printable(path)
        self.message = _printable(message)
        where = f"{self.file}: {self.path}: " if path else f"{self.file}: "
        super().__init__(where + self.message)


def _printable(text: str) -> str:
    """Escape control characters so a message always stays on one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _display_path(file: str | Path) -> str:
    """A file name as the user would type it: relative to the working folder if inside."""
    text = str(file)
    path = Path(text)
    if path.is_absolute():
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return text
    return text


def parse_quarter(text: str) -> int:
    """Turn ``"2025Q1"`` into an absolute quarter number (year * 4 + quarter - 1).

    Raises:
        ValueError: if the text is not of the form ``YYYYQn``.
    """
    m = QUARTER_RE.match(text)
    if not m:
        msg = f"expected a quarter like 2025Q1, got {text!r}"
        raise ValueError(msg)
    return int(m.group(1)) * 4 + int(m.group(2)) - 1


def format_quarter(q: int) -> str:
    """Inverse of :func:`parse_quarter`."""
    return f"{q // 4}Q{q % 4 + 1}"


Quarter = Annotated[str, Field(pattern=QUARTER_RE.pattern)]


class Node(BaseModel):
    """Base for every schema node: unknown keys are errors, types are strict."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=False)


class Sourced(Node):
    """A node that can carry provenance for the numbers below it."""

    source: Provenance = None
    assumption: Provenance = None


# ----------------------------------------------------------------------------- parts


class Horizon(Node):
    """Simulated period, inclusive, in quarters."""

    start: Quarter
    end: Quarter

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if parse_quarter(self.end) < parse_quarter(self.start):
            msg = f"end {self.end} is before start {self.start}"
            raise ValueError(msg)
        if parse_quarter(self.end) - parse_quarter(self.start) + 1 > 400:
            msg = "horizon is longer than 100 years"
            raise ValueError(msg)
        return self

    @property
    def steps(self) -> int:
        """Number of quarterly steps."""
        return parse_quarter(self.end) - parse_quarter(self.start) + 1


class PriceProcess(Sourced):
    """Mean-reverting log price: ln p' = ln p + reversion (ln long_run - ln p) + volatility e."""

    initial: Positive
    long_run: Positive
    reversion: Share = 0.1
    volatility: Annotated[float, Field(ge=0.0, le=2.0)] = 0.05
    path: dict[int, Positive] | None = None


class StateParams(Sourced):
    """A Central Asian state in the base year."""

    gdp: Positive
    growth: Annotated[float, Field(ge=-0.3, le=0.3)] = 0.03
    imports_to_gdp: Annotated[float, Field(ge=0.0, le=2.0)]
    capacity: dict[Commodity, NonNeg]
    domestic_use: dict[Commodity, Share] = {}
    decline: dict[Commodity, Share] = {}
    reserves: dict[Commodity, NonNeg] = {}
    production_path: dict[Commodity, dict[int, NonNeg]] = {}
    blocs: list[Bloc] = []
    security: dict[Power, Share] = {}
    trade_targets: dict[
        Literal["CHN", "RUS", "JPN", "USA", "EU"], Annotated[float, Field(ge=0, le=100)]
    ]
    investment_stock: dict[Power, NonNeg] = {}
    diplomacy: dict[Power, NonNeg] = {}
    hedging: NonNeg = 1.0

    @model_validator(mode="after")
    def _targets_sum(self) -> Self:
        total = sum(self.trade_targets.values())
        if total > 100.0 + 1e-9:
            msg = f"trade_targets sum to {total:.1f}%, expected at most 100%"
            raise ValueError(msg)
        return self


class PowerParams(Sourced):
    """A great power's Central Asia programme."""

    gdp: Positive
    capability: Annotated[float, Field(gt=0.0, le=1.0)]
    budget: NonNeg
    priorities: dict[Literal["influence", "resource_security", "return"], NonNeg]
    sector_bias: dict[Sector, float] = {}
    import_need: dict[Commodity, NonNeg] = {}
    demand: dict[Commodity, float] = {}
    learning_rate: Share = 0.2
    diplomacy_rate: NonNeg = 1.0
    completion_probability: Share = 0.8
    lead_time_quarters: Annotated[int, Field(ge=0, le=80)] = 8
    corridor: str | None = None

    @model_validator(mode="after")
    def _some_priority(self) -> Self:
        if sum(self.priorities.values()) <= 0:
            msg = "priorities: expected at least one of influence, resource_security, return > 0"
            raise ValueError(msg)
        return self


class MarketParams(Sourced):
    """A non-agent market (EU, rest of world)."""

    gdp: Positive
    demand: dict[Commodity, float] = {}


class Route(Sourced):
    """An export route: who can use it, for what, to whom, at what cost and capacity."""

    origins: list[State]
    commodities: list[Commodity]
    buyers: list[Partner]
    capacity: dict[Commodity, NonNeg] = {}
    cost: Share
    transit: list[Power] = []
    note: str = ""


class Behaviour(Sourced):
    """Behavioural parameters (assumptions unless calibrated, see docs/calibration.md)."""

    price_sensitivity: NonNeg = 8.0
    alignment_sensitivity: NonNeg = 2.0
    hedging: NonNeg = 1.0
    eaeu_preference: NonNeg = 0.5
    sanction_penalty: NonNeg = 3.0
    influence_decay: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05
    channel_weights: dict[Channel, NonNeg] = {}
    diplomacy_decay: Share = 0.1
    investment_depreciation: Share = 0.05
    capital_intensity: dict[Commodity, NonNeg] = {}
    route_capital_intensity: NonNeg = 0.05
    route_cost_intensity: NonNeg = 0.01
    strategy_temperature: Positive = 3.0
    acceptance_threshold: Share = 0.5
    revenue_multiplier: Annotated[float, Field(ge=0.0, le=5.0)] = 0.3
    resource_value_added: Share = 0.6


class Effects(Sourced):
    """What a project changes when (and only if) it completes."""

    capacity: dict[Commodity, float] = {}
    route_capacity: dict[str, dict[Commodity, NonNeg]] = {}
    route_cost: dict[str, Annotated[float, Field(ge=-0.5, le=0.5)]] = {}
    productivity: dict[Commodity, Annotated[float, Field(ge=-0.9, le=5.0)]] = {}
    diplomacy: NonNeg = 0.0
    offtake: dict[Commodity, Share] = {}


class Project(Sourced):
    """A named project: sector, target state, cost, lead time, completion risk, effects."""

    name: str
    power: Power
    state: State
    sector: Sector
    cost: NonNeg
    start: Quarter
    lead_time_quarters: Annotated[int, Field(ge=0, le=120)]
    completion_probability: Share
    effects: Effects = Effects()
    from_budget: bool = True


class EventBase(Sourced):
    """Fields every dated event has."""

    date: Quarter
    note: str = ""


class Summit(EventBase):
    """Diplomatic engagement: adds to the power's diplomacy stock with each state."""

    type: Literal["summit"]
    power: Power
    states: list[State] = list(STATES)
    weight: NonNeg = 1.0


class RouteDisruption(EventBase):
    """A route loses part of its capacity for some quarters."""

    type: Literal["route_disruption"]
    route: str
    capacity_loss: Share
    duration_quarters: Annotated[int, Field(ge=1, le=400)]


class Sanctions(EventBase):
    """Sanctions on a power: routes through it and sales to it are penalised."""

    type: Literal["sanctions"]
    target: Power
    by: list[Partner]
    severity: Share
    duration_quarters: Annotated[int, Field(ge=1, le=400)] | None = None


class PriceShock(EventBase):
    """A jump in a commodity's log price (0.3 = +35%)."""

    type: Literal["price_shock"]
    commodity: Commodity
    size: Annotated[float, Field(ge=-3.0, le=3.0)]


class BlocJoin(EventBase):
    """A state joins a bloc (EAEU, CSTO)."""

    type: Literal["bloc_join"]
    state: State
    bloc: Bloc


class RouteCapacity(EventBase):
    """A route's capacity is set to a new value (a pipeline line opens, a halt)."""

    type: Literal["route_capacity"]
    route: str
    commodity: Commodity
    capacity: NonNeg


class RouteAccess(EventBase):
    """A state loses (or regains) the use of a route, e.g. a buyer stops taking its gas."""

    type: Literal["route_access"]
    route: str
    state: State
    open: bool


class BudgetChange(EventBase):
    """A power's annual programme budget changes."""

    type: Literal["budget_change"]
    power: Power
    budget: NonNeg


class Reform(EventBase):
    """A state's openness changes: its hedging strength and import propensity."""

    type: Literal["reform"]
    state: State
    hedging: NonNeg | None = None
    imports_to_gdp: Annotated[float, Field(ge=0.0, le=2.0)] | None = None


EVENT_TYPES = (
    Summit,
    RouteDisruption,
    Sanctions,
    PriceShock,
    BlocJoin,
    RouteCapacity,
    RouteAccess,
    BudgetChange,
    Reform,
)
Event = Annotated[Union[EVENT_TYPES], Field(discriminator="type")]  # noqa: UP007 - built from a tuple


class StochasticDisruption(Sourced):
    """Random outages of a route: Poisson arrivals at ``rate_per_year``."""

    route: str
    rate_per_year: Annotated[float, Field(ge=0.0, le=12.0)]
    capacity_loss: Share
    mean_duration_quarters: Annotated[float, Field(ge=1.0, le=40.0)] = 1.0
    start: Quarter | None = None
    end: Quarter | None = None


class Scenario(Sourced):
    """A complete, resolved scenario."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    description: str
    extends: str | None = None
    horizon: Horizon
    seed: Annotated[int, Field(ge=0)] = 0
    behaviour: Behaviour = Behaviour()
    prices: dict[Commodity, PriceProcess]
    states: dict[State, StateParams]
    powers: dict[Power, PowerParams]
    markets: dict[Market, MarketParams]
    routes: dict[str, Route]
    projects: list[Project] = []
    events: list[Event] = []
    disruptions: list[StochasticDisruption] = []

    @model_validator(mode="after")
    def _complete_and_consistent(self) -> Self:
        _require_all(self.prices, COMMODITIES, "prices")
        _require_all(self.states, STATES, "states")
        _require_all(self.powers, POWERS, "powers")
        _require_all(self.markets, MARKETS, "markets")
        start, end = parse_quarter(self.horizon.start), parse_quarter(self.horizon.end)
        for i, ev in enumerate(self.events):
            q = parse_quarter(ev.date)
            if not start <= q <= end:
                msg = (
                    f"events.{i}.date: {ev.date} is outside the horizon "
                    f"{self.horizon.start}..{self.horizon.end}"
                )
                raise ValueError(msg)
            route = getattr(ev, "route", None)
            if route is not None and route not in self.routes:
                raise ValueError(f"events.{i}.route: {_unknown(route, self.routes)}")
        for i, pr in enumerate(self.projects):
            if parse_quarter(pr.start) > end:
                msg = f"projects.{i}.start: {pr.start} is after the horizon end {self.horizon.end}"
                raise ValueError(msg)
            for kind in ("route_capacity", "route_cost"):
                for r in getattr(pr.effects, kind):
                    if r not in self.routes:
                        msg = f"projects.{i}.effects.{kind}: {_unknown(r, self.routes)}"
                        raise ValueError(msg)
        for i, d in enumerate(self.disruptions):
            if d.route not in self.routes:
                raise ValueError(f"disruptions.{i}.route: {_unknown(d.route, self.routes)}")
        self._check_value_added()
        for code, p in self.powers.items():
            if p.corridor is not None and p.corridor not in self.routes:
                raise ValueError(f"powers.{code}.corridor: {_unknown(p.corridor, self.routes)}")
        return self

    def _check_value_added(self) -> None:
        """Base-year resource value added must leave room for a non-resource economy."""
        for code, st in self.states.items():
            va = self.behaviour.resource_value_added * sum(
                st.capacity.get(c, 0.0) * self.prices[c].initial * VALUE_FACTOR[c]
                for c in COMMODITIES
                if c != "other"
            )
            if va >= st.gdp:
                msg = (
                    f"states.{code}.gdp: {st.gdp:g} is below the resource value added at "
                    f"base-year prices ({va:.1f} USD bn); expected a larger GDP or smaller "
                    "capacity"
                )
                raise ValueError(msg)

    @property
    def vocab(self) -> Vocabulary:
        """The scenario's world: :data:`sim.vocab.DEFAULT` plus any declared actors."""
        return DEFAULT_VOCAB

    @property
    def start_quarter(self) -> int:
        """Absolute quarter number of the first step."""
        return parse_quarter(self.horizon.start)

    @property
    def steps(self) -> int:
        """Number of quarterly steps in the horizon."""
        return self.horizon.steps

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form of the resolved scenario (what ``scenario.yaml`` holds).

        Keys the files did not set (schema defaults) are left out, so the resolved form
        reloads and validates exactly like its sources.
        """
        data = self.model_dump(mode="python", exclude_none=True, exclude_unset=True)
        data.pop("extends", None)
        return data

    def to_yaml(self) -> str:
        """The resolved scenario as YAML text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)

    def digest(self) -> str:
        """SHA-256 of the resolved scenario's canonical JSON."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _require_all(mapping: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if k not in mapping]
    if missing:
        msg = f"{where}: missing {', '.join(missing)} (every one of {', '.join(keys)} is required)"
        raise ValueError(msg)


def _unknown(name: str, known: dict[str, Any] | tuple[str, ...]) -> str:
    hint = difflib.get_close_matches(name, list(known), n=1)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
    return f"unknown route {name!r}{suggestion} (known: {', '.join(known)})"


# ----------------------------------------------------------------------------- YAML


class _NoAliasLoader(yaml.SafeLoader):
    """Safe loader that refuses anchors and aliases (no alias bombs) and deep nesting."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in scenarios", event.start_mark
            )
        if getattr(self, "_depth", 0) > MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nesting deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def parse_yaml(text: str, file: str | Path) -> Any:
    """Parse YAML text safely; raise :class:`ScenarioError` with a one-line message."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ScenarioError(file, "", f"malformed YAML: {where}{problem}") from None
    except ValueError as err:  # e.g. an integer longer than Python's conversion limit
        raise ScenarioError(file, "", f"malformed YAML: {err}") from None


def read_yaml_file(path: Path) -> dict[str, Any]:
    """Read one scenario file into a mapping (no inheritance)."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise ScenarioError(path, "", f"cannot read file ({err.strerror})") from None
    if size > MAX_FILE_BYTES:
        raise ScenarioError(path, "", f"file is {size} bytes, expected at most {MAX_FILE_BYTES}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(path, "", f"cannot read file as UTF-8 text ({err})") from None
    data = parse_yaml(text, path)
    if not isinstance(data, dict):
        kind = "an empty document" if data is None else f"a {type(data).__name__}"
        raise ScenarioError(path, "", f"expected a mapping at the top level, got {kind}")
    return data


def deep_merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """Merge ``child`` over ``parent``: mappings recursively, child wins.

    Lists are replaced, except ``events``, ``projects`` and ``disruptions`` at the top
    level, which accumulate (parent's first).
    """
    out = copy.deepcopy(parent)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _resolve_extends(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    data = read_yaml_file(path)
    parent_ref = data.get("extends")
    if parent_ref is None:
        return data
    if not isinstance(parent_ref, str):
        raise ScenarioError(path, "extends", f"expected a file path, got {parent_ref!r}")
    if "\0" in parent_ref or not parent_ref.strip():
        raise ScenarioError(path, "extends", f"expected a file path, got {parent_ref!r}")
    parent = (path.parent / parent_ref).resolve()
    if not parent.exists() and not parent_ref.endswith((".yaml", ".yml")):
        parent = (path.parent / f"{parent_ref}.yaml").resolve()
    if not parent.is_file():
        raise ScenarioError(path, "extends", f"parent scenario {parent_ref!r} not found")
    if parent in seen:
        chain = " -> ".join(p.name for p in (*seen, parent))
        raise ScenarioError(path, "extends", f"inheritance cycle: {chain}")
    base = _resolve_extends(parent, (*seen, parent))
    merged = deep_merge(base, {k: v for k, v in data.items() if k not in ACCUMULATING_LISTS})
    for key in ACCUMULATING_LISTS:
        if key in data:
            if not isinstance(data[key], list):
                raise ScenarioError(path, key, f"expected a list, got {type(data[key]).__name__}")
            merged[key] = list(base.get(key) or []) + copy.deepcopy(data[key])
    merged["extends"] = parent_ref
    return merged


# ----------------------------------------------------------------------------- --set


def apply_override(data: dict[str, Any], assignment: str, file: str | Path) -> None:
    """Apply one ``key.path=value`` override in place (value parsed as YAML).

    Raises:
        ScenarioError: if the assignment is malformed or the path does not exist.
    """
    if "=" not in assignment:
        raise ScenarioError(file, "--set", f"expected KEY.PATH=VALUE, got {assignment!r}")
    key, raw = assignment.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ScenarioError(file, "--set", f"expected KEY.PATH=VALUE, got {assignment!r}")
    value = parse_yaml(raw, f"{file} (--set {key})")
    parts = key.split(".")
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        node = _descend(node, part, parts[: depth + 1], file)
    last = parts[-1]
    if isinstance(node, list):
        idx = _list_index(node, last, key, file)
        node[idx] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        where = ".".join(parts[:-1])
        raise ScenarioError(file, key, f"cannot set a key inside {where}, which is a value")


def _descend(node: Any, part: str, so_far: list[str], file: str | Path) -> Any:
    path = ".".join(so_far)
    if isinstance(node, dict):
        if part not in node:
            hint = difflib.get_close_matches(part, [str(k) for k in node], n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ScenarioError(file, path, f"no such key in the scenario{suggestion}")
        return node[part]
    if isinstance(node, list):
        return node[_list_index(node, part, path, file)]
    raise ScenarioError(file, path, "cannot descend into a value")


def _list_index(node: list[Any], part: str, path: str, file: str | Path) -> int:
    if not part.isdigit() or int(part) >= len(node):
        msg = f"expected a list index 0..{len(node) - 1}, got {part!r}"
        raise ScenarioError(file, path, msg)
    return int(part)


# ----------------------------------------------------------------------------- checks


def check_provenance(data: Any, file: str | Path) -> None:
    """Every number must be covered by a ``source`` or ``assumption``.

    A string covers every number below the mapping that holds it; a mapping covers the
    keys it names (recursively: ``{trade_targets: {EU: "..."}}`` covers one number).

    Raises:
        ScenarioError: naming the first uncovered number's key path.
    """
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        if key in NO_PROVENANCE_NEEDED or key in ("source", "assumption"):
            continue
        covered, maps = _child_provenance(data, key, [])
        _walk_provenance(value, [str(key)], covered=covered, maps=maps, file=file)


def _child_provenance(
    node: dict[str, Any], key: Any, maps: list[dict[str, Any]]
) -> tuple[bool, list[dict[str, Any]]]:
    """Whether ``node[key]`` is covered, and the provenance maps that apply below it."""
    candidates = list(maps)
    for field in ("source", "assumption"):
        prov = node.get(field)
        if isinstance(prov, str) and prov.strip():
            return True, []
        if isinstance(prov, dict):
            candidates.append(prov)
    covered = False
    below: list[dict[str, Any]] = []
    for prov in candidates:
        entry = prov.get(str(key), prov.get(key)) if isinstance(prov, dict) else None
        if isinstance(entry, str) and entry.strip():
            covered = True
        elif isinstance(entry, dict):
            below.append(entry)
    return covered, below


def _walk_provenance(
    node: Any, path: list[str], *, covered: bool, maps: list[dict[str, Any]], file: str | Path
) -> None:
    if isinstance(node, bool):
        return
    if isinstance(node, int | float):
        if not covered:
            msg = (
                "this number needs a `source` (dataset and year, or the article) or an `assumption`"
            )
            raise ScenarioError(file, ".".join(path), msg)
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("source", "assumption"):
                continue
            child_covered, child_maps = _child_provenance(node, key, maps)
            _walk_provenance(
                value,
                [*path, str(key)],
                covered=covered or child_covered,
                maps=child_maps,
                file=file,
            )
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk_provenance(value, [*path, str(i)], covered=covered, maps=maps, file=file)


def _format_validation_error(err: ValidationError, file: str | Path) -> ScenarioError:
    first = err.errors(include_url=False)[0]
    loc = [str(p) for p in first["loc"]]
    # Drop discriminator tags that pydantic inserts into union locations.
    loc = _user_location(loc)
    kind = first["type"]
    msg = first["msg"]
    value = first.get("input")
    path = ".".join(loc)
    if kind == "extra_forbidden":
        parent_fields = _fields_at(loc[:-1])
        hint = difflib.get_close_matches(loc[-1], parent_fields, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        allowed = f" (allowed: {', '.join(parent_fields)})" if parent_fields else ""
        return ScenarioError(file, path, f"unknown key{suggestion}{allowed}")
    if kind == "literal_error":
        expected = first.get("ctx", {}).get("expected", "")
        options = re.findall(r"'([^']+)'", expected)
        hint = difflib.get_close_matches(str(value), options, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        what = "unknown code" if set(options) & set(PARTNERS + STATES) else "unknown value"
        return ScenarioError(
            file, path, f"{what} {value!r}{suggestion} (expected one of {expected})"
        )
    if kind == "value_error":
        text = msg.removeprefix("Value error, ")
        inner = re.match(r"^([\w.]+): (.*)$", text)
        if inner:
            return ScenarioError(
                file, ".".join(filter(None, [path, inner.group(1)])), inner.group(2)
            )
        return ScenarioError(file, path, text)
    if kind == "missing":
        return ScenarioError(file, path, "required key is missing")
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    if kind == "string_pattern_mismatch":
        pattern = first.get("ctx", {}).get("pattern", "")
        what = (
            "a quarter like 2025Q1" if pattern == QUARTER_RE.pattern else f"text matching {pattern}"
        )
        return ScenarioError(file, path, f"expected {what}, got {value!r}")
    text = re.sub(r"^Input should be (greater|less)", r"expected a value \1", msg)
    text = re.sub(r"^Input should be ", "expected ", text)
    text = re.sub(r"^Input ", "value ", text)
    return ScenarioError(file, path, f"{text}, got {shown}")


#: Event ``type`` tags (pydantic inserts them into discriminated-union error locations).
_EVENT_TAGS = {get_args(cls.model_fields["type"].annotation)[0] for cls in EVENT_TYPES}


def _user_location(loc: list[str]) -> list[str]:
    """Drop the union-branch tags pydantic inserts into an error location.

    Only where pydantic puts them: an event type right after ``events.<index>``, and
    type names below a ``source`` or ``assumption`` (the provenance union). A user's own
    key that happens to look like a tag is kept.
    """
    out: list[str] = []
    for i, part in enumerate(loc):
        event_tag = (
            i >= 2 and loc[i - 2] == "events" and loc[i - 1].isdigit() and part in _EVENT_TAGS
        )
        type_tag = _is_type_tag(part) and any(p in ("source", "assumption") for p in loc[:i])
        key_tag = part == "[key]"  # pydantic marks an invalid mapping key this way
        if not (event_tag or type_tag or key_tag):
            out.append(part)
    return out


def _is_type_tag(part: str) -> bool:
    """Pydantic puts union branch names (``str``, ``dict[str,str]``) into locations."""
    return part in {"str", "int", "float", "bool", "list", "dict"} or "[" in part


def _fields_at(loc: list[str]) -> list[str]:
    """Field names allowed at a location of the schema (for "did you mean")."""
    model: Any = Scenario
    for part in loc:
        if model is None:
            return []
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            # Inside a dict or list: the value model is the annotation's last argument.
            continue
        model = _node_type(field.annotation)
    return list(model.model_fields) if hasattr(model, "model_fields") else []


def _node_type(annotation: Any) -> Any:
    origin_args = getattr(annotation, "__args__", ())
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in reversed(origin_args):
        found = _node_type(arg)
        if found is not None:
            return found
    return None


# ----------------------------------------------------------------------------- API


def resolve(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Read a scenario file, follow ``extends`` and apply overrides; return raw data."""
    file = Path(path)
    if not file.exists():
        raise ScenarioError(file, "", "no such file")
    data = _resolve_extends(file.resolve(), (file.resolve(),))
    for assignment in overrides:
        apply_override(data, assignment, file)
    return data


def validate(data: dict[str, Any], file: str | Path = "<scenario>") -> Scenario:
    """Check provenance and the schema; return the validated :class:`Scenario`."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise _format_validation_error(err, file) from None
    check_provenance(data, file)
    return scenario


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Load, resolve, override and validate a scenario file.

    Args:
        path: the YAML file.
        overrides: ``key.path=value`` strings, applied after inheritance.

    Returns:
        The validated scenario.

    Raises:
        ScenarioError: with a one-line ``FILE: key.path: expected ...`` message.
    """
    return validate(resolve(path, overrides), path)


def coerce_scenario(scenario: Scenario | str | Path | dict[str, Any]) -> Scenario:
    """Accept a loaded scenario, a path or a raw mapping and return a :class:`Scenario`."""
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, dict):
        return validate(scenario)
    return load_scenario(scenario)


__all__ = [
    "BLOCS",
    "CHANNELS",
    "SECTORS",
    "Scenario",
    "ScenarioError",
    "coerce_scenario",
    "format_quarter",
    "load_scenario",
    "parse_quarter",
]
