"""Scenario schema (pydantic v2) on the vocabulary of :mod:`sim.vocab`.

The schema checks types, ranges, codes, dates inside the horizon and references to
routes. Country codes are checked against the scenario's own vocabulary:
:data:`sim.vocab.DEFAULT` plus the actors the scenario declares under ``actors:``
(see :class:`Actor`), so a scenario can add a state or a power without code changes.
Every failure surfaces as :class:`ScenarioError`, whose ``str`` is the one-line message
the CLI prints: ``FILE: key.path: what was expected``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, Self, Union

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sim.vocab import (
    BLOCS,
    CHANNELS,
    COMMODITIES,
    DEFAULT,
    PRIORITIES,
    SECTORS,
    VALUE_FACTOR,
    Vocabulary,
)

MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 40
ACCUMULATING_LISTS = ("events", "projects", "disruptions")
#: Top-level keys whose numbers are run settings, not empirical values.
NO_PROVENANCE_NEEDED = ("seed", "horizon", "name", "description", "extends")

#: The vocabulary codes are checked against while a scenario validates (set by
#: :meth:`Scenario._with_vocabulary` from the scenario's ``actors``).
_ACTIVE: ContextVar[Vocabulary] = ContextVar("casim_vocabulary", default=DEFAULT)


def active_vocabulary() -> Vocabulary:
    """The vocabulary of the scenario being validated (the default outside validation)."""
    return _ACTIVE.get()


def _expected(options: tuple[str, ...]) -> str:
    """Options as pydantic words them: ``'a', 'b' or 'c'``."""
    quoted = [repr(o) for o in options]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _code(axis: str) -> AfterValidator:
    """A validator: the value must be a code on ``axis`` of the active vocabulary."""

    def check(value: str) -> str:
        options: tuple[str, ...] = getattr(_ACTIVE.get(), axis)
        if value not in options:
            raise PydanticCustomError(
                "literal_error", "Input should be {expected}", {"expected": _expected(options)}
            )
        return value

    return AfterValidator(check)


State = Annotated[str, _code("states")]
Power = Annotated[str, _code("powers")]
Market = Annotated[str, _code("markets")]
Partner = Annotated[str, _code("partners")]
TargetPartner = Annotated[str, _code("target_partners")]
#: An influence holder: a power or "others" (OTH, the rest of the world).
Holder = Annotated[str, _code("influencers")]
Commodity = Literal[COMMODITIES]  # the tuple unpacks: one literal per commodity
Sector = Literal[SECTORS]
Channel = Literal[CHANNELS]
Bloc = Literal[BLOCS]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
#: The largest magnitude any number in a scenario may have: every quantity the schema
#: takes (USD bn, Mt, tU, utility weights) is far below it, and it keeps products of a
#: few numbers finite in float64.
MAX_MAGNITUDE = 1e7
NonNeg = Annotated[float, Field(ge=0.0, le=MAX_MAGNITUDE)]
Positive = Annotated[float, Field(gt=0.0, le=MAX_MAGNITUDE)]
Signed = Annotated[float, Field(ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE)]


def _check_split(split: dict[str, Any]) -> dict[str, Any]:
    """A ``budget_split``: state -> share, or state -> {sector: share}; sum at most 1.

    Raises:
        ValueError: worded ``KEY: what was expected`` so the message names the key path.
    """
    total = 0.0
    for code, value in split.items():
        if isinstance(value, dict):
            for sector, share in value.items():
                if sector not in SECTORS:
                    msg = f"{code}.{sector}: unknown sector (expected one of {', '.join(SECTORS)})"
                    raise ValueError(msg)
                total += _split_share(share, f"{code}.{sector}")
        else:
            total += _split_share(value, code)
    if total > 1.0 + 1e-9:
        msg = (
            f"shares sum to {total:.3g}, expected at most 1 (the rest follows the power's own rule)"
        )
        raise ValueError(msg)
    return split


def _split_share(value: Any, key: str) -> float:
    """One share of a ``budget_split`` as a float in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        msg = f"{key}: expected a share in [0, 1] or a mapping sector -> share, got {value!r}"
        raise ValueError(msg)
    return float(value)


#: Aimed budget: state -> share of the budget, or state -> {sector: share}.
BudgetSplit = Annotated[dict[State, Any], AfterValidator(_check_split)]

type ProvenanceMap = dict[str, str | ProvenanceMap]
Provenance = str | ProvenanceMap | None

#: A scenario name is one safe path component: letters, digits, ``_`` and ``-``, dots
#: only inside (never ``.`` or ``..``), at most 64 characters.
NAME_RE = r"^[A-Za-z0-9_-](?:[A-Za-z0-9_.-]*[A-Za-z0-9_-])?$"
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


#: Years a scenario's quarters may lie in (horizons, event dates, project starts).
YEARS = (1990, 2100)


def parse_quarter(text: str) -> int:
    """Turn ``"2025Q1"`` into an absolute quarter number (year * 4 + quarter - 1).

    Raises:
        ValueError: if the text is not of the form ``YYYYQn`` or the year is outside
            :data:`YEARS`.
    """
    m = QUARTER_RE.match(text)
    if not m:
        msg = f"expected a quarter like 2025Q1, got {text!r}"
        raise ValueError(msg)
    if not YEARS[0] <= int(m.group(1)) <= YEARS[1]:
        msg = f"expected a quarter from {YEARS[0]}Q1 to {YEARS[1]}Q4, got {text!r}"
        raise ValueError(msg)
    return int(m.group(1)) * 4 + int(m.group(2)) - 1


def _quarter_in_range(text: str) -> str:
    parse_quarter(text)
    return text


def format_quarter(q: int) -> str:
    """Inverse of :func:`parse_quarter`."""
    return f"{q // 4}Q{q % 4 + 1}"


Quarter = Annotated[str, Field(pattern=QUARTER_RE.pattern), AfterValidator(_quarter_in_range)]


class Node(BaseModel):
    """Base for every schema node: unknown keys are errors, types are strict."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=False, allow_inf_nan=False)


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


class ImportComposition(Node):
    """A goods group's base-year share of a state's imports and its partner shares (ODD 7.12)."""

    share: Share
    partners: dict[TargetPartner, Share] = {}  # the rest of the group comes from OTH

    @model_validator(mode="after")
    def _partners_sum(self) -> Self:
        if sum(self.partners.values()) > 1.0 + 1e-9:
            raise ValueError("partners: shares sum above 1")
        return self


class ImportGroup(Sourced):
    """How a goods group's import bill moves: income and price elasticities (ODD 7.12)."""

    income_elasticity: Annotated[float, Field(ge=0.0, le=5.0)] = 1.0
    price: Commodity | None = None  # the commodity whose price indexes the group's bill
    price_elasticity: Annotated[float, Field(ge=0.0, le=5.0)] = 0.0


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
    domestic_use_path: dict[Commodity, dict[int, Share]] = {}  # annual domestic-use shares
    reexport_share: dict[Partner, Share] = {}  # bazaar re-exports: share of the import bill
    contract_floor: dict[Partner, dict[Commodity, dict[int, NonNeg]]] = {}  # take-or-pay volumes
    import_composition: dict[str, ImportComposition] = {}  # by goods group (import_groups)
    blocs: list[Bloc] = []
    trade_targets: dict[TargetPartner, Annotated[float, Field(ge=0, le=100)]]
    investment_stock: dict[Power, NonNeg] = {}
    hedging: NonNeg = 1.0
    # influence channels by holder (powers and OTH), ODD 7.15-7.16
    investment_others: NonNeg = 0.0  # USD bn: FDI stock of non-powers (OTH)
    diplomacy: dict[Holder, NonNeg] = {}  # initial stock (default: steady state)
    diplomacy_rate: dict[Holder, NonNeg] = {}  # per year (default: powers.*.diplomacy_rate)
    arms_stock: dict[Holder, NonNeg] = {}  # TIV m, depreciated deliveries
    arms_rate: dict[Holder, NonNeg] = {}  # TIV m per year
    bases: dict[Holder, NonNeg] = {}  # military presence index (1 = a division-size base)
    remittances: dict[Holder, NonNeg] = {}  # USD bn per year received
    debt: dict[Holder, NonNeg] = {}  # USD bn public external debt owed

    @model_validator(mode="after")
    def _composition_sum(self) -> Self:
        total = sum(g.share for g in self.import_composition.values())
        if self.import_composition and abs(total - 1.0) > 0.01:
            raise ValueError(f"import_composition: shares sum to {total:.3f}, expected 1")
        return self

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
    priorities: dict[Literal[PRIORITIES], NonNeg]
    sector_bias: dict[Sector, Signed] = {}
    import_need: dict[Commodity, NonNeg] = {}
    demand: dict[Commodity, Signed] = {}
    export_share_path: dict[int, Positive] = {}
    """Share (%) of world merchandise exports by year: supplier mass (ODD 7.14)."""
    budget_split: BudgetSplit = {}
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
    demand: dict[Commodity, Signed] = {}
    export_share_path: dict[int, Positive] = {}
    """Share (%) of world merchandise exports by year: supplier mass (ODD 7.14)."""


class Route(Sourced):
    """An export route: who can use it, for what, to whom, at what cost and capacity."""

    origins: list[State]
    commodities: list[Commodity]
    buyers: list[Partner]
    capacity: dict[Commodity, NonNeg] = {}
    cost: Share
    transit: list[Power] = []
    base_share: dict[State, dict[Commodity, Annotated[float, Field(gt=0.0, le=1.0)]]] = {}
    contract_price: dict[Commodity, Positive] = {}  # sold at this price, not the market's
    note: str = ""

    @model_validator(mode="after")
    def _contract_on_the_route(self) -> Self:
        for c in self.contract_price:
            if c not in self.commodities:
                msg = f"contract_price.{c}: {c} is not one of the route's commodities"
                raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _base_share_on_the_route(self) -> Self:
        for s, by_commodity in self.base_share.items():
            if s not in self.origins:
                raise ValueError(f"base_share.{s}: {s} is not one of the route's origins")
            for c in by_commodity:
                if c not in self.commodities:
                    msg = f"base_share.{s}.{c}: {c} is not one of the route's commodities"
                    raise ValueError(msg)
        return self


class Behaviour(Sourced):
    """Behavioural parameters (assumptions unless calibrated, see docs/calibration.md)."""

    price_sensitivity: NonNeg = 8.0
    alignment_sensitivity: NonNeg = 2.0
    hedging: NonNeg = 1.0
    eaeu_preference: NonNeg = 0.5
    eaeu_trade_cost: Annotated[float, Field(ge=0.0, le=0.5)] = 0.05
    """Tariff equivalent of EAEU members' duty-free trade with each other (exports and imports)."""
    reexport_eaeu_loss: Share = 0.5
    """Share of a state's bazaar re-export trade lost when it joins the EAEU."""
    import_adjustment: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    """Quarterly rate at which import shares move to their logit target (1: no inertia)."""
    supplier_mass_elasticity: Annotated[float, Field(ge=0.0, le=10.0)] = 0.0
    """Gamma: import utility gains gamma ln(m_p(t) / m_p(0)), m the world export share."""
    sanction_penalty: NonNeg = 3.0
    influence_decay: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05
    channel_weights: dict[Channel, NonNeg] = {}
    diplomacy_decay: Share = 0.1
    arms_depreciation: Share = 0.1  # per year, the arms-transfer stock
    debt_amortisation: Share = 0.05  # per year, debt owed to the powers
    lending_share: dict[Power, Share] = {}  # share of completed programme money lent
    remittance_oil_elasticity: dict[Holder, Annotated[float, Field(ge=-5.0, le=5.0)]] = {}
    investment_depreciation: Share = 0.05
    capital_intensity: dict[Commodity, NonNeg] = {}
    route_capital_intensity: NonNeg = 0.05
    route_cost_intensity: NonNeg = 0.01
    route_ramp: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    strategy_temperature: Positive = 3.0
    learned_weight: NonNeg = 0.5
    """Weight of a power's learned bias in its allocation score (priorities sum to 1)."""
    sector_return: dict[Sector, Annotated[float, Field(ge=-1.0, le=1.0)]] = {}
    """Expected annual return by sector for the "return" priority (default SECTOR_RETURN)."""
    award_sensitivity: NonNeg = 0.0
    """Alpha of contract awards: offtake and acceptance rise with the influence share."""
    acceptance_threshold: Share = 0.5
    revenue_multiplier: Annotated[float, Field(ge=0.0, le=5.0)] = 0.3
    resource_value_added: Share = 0.6


class Effects(Sourced):
    """What a project changes when (and only if) it completes."""

    capacity: dict[Commodity, Signed] = {}
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
    states: list[State] = Field(default_factory=lambda: list(_ACTIVE.get().states))
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
    secondary: bool = True
    """Whether third countries' trade with the target is penalised too (false: only transit)."""


class PriceShock(EventBase):
    """A jump in a commodity's log price (0.3 = +35%)."""

    type: Literal["price_shock"]
    commodity: Commodity
    size: Annotated[float, Field(ge=-3.0, le=3.0)]


class BlocJoin(EventBase):
    """A state joins a bloc (EAEU: trade; CSTO, SCO: the security channel's alliances)."""

    type: Literal["bloc_join"]
    state: State
    bloc: Bloc


class BlocLeave(EventBase):
    """A state leaves a bloc (Uzbekistan left the CSTO in 2012)."""

    type: Literal["bloc_leave"]
    state: State
    bloc: Bloc


class ArmsDeal(EventBase):
    """Arms deliveries from a supplier to a state: its arms stock rises by ``tiv``."""

    type: Literal["arms_deal"]
    state: State
    supplier: Holder
    tiv: NonNeg  # TIV m (SIPRI trend-indicator value)


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


class RoutePrice(EventBase):
    """A route's contract price for a commodity changes (None: sold at the market price)."""

    type: Literal["route_price"]
    route: str
    commodity: Commodity
    price: Positive | None = None


class BudgetChange(EventBase):
    """A power's annual programme budget changes."""

    type: Literal["budget_change"]
    power: Power
    budget: NonNeg
    budget_split: BudgetSplit | None = None


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
    BlocLeave,
    ArmsDeal,
    RouteCapacity,
    RouteAccess,
    RoutePrice,
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


class Actor(Node):
    """A state or power the scenario adds to :data:`sim.vocab.DEFAULT`."""

    role: Literal["state", "power"]
    name: Annotated[str, Field(min_length=1, max_length=80)]
    colour: Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")] | None = None


ActorCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


def _declared_vocabulary(data: Any) -> Vocabulary:
    """The default vocabulary plus the well-formed actors ``data`` declares.

    Lenient on purpose: malformed declarations are left to the schema, which reports
    them with their key path.
    """
    actors = data.get("actors") if isinstance(data, dict) else None
    if not isinstance(actors, dict):
        return DEFAULT
    extra: dict[str, tuple[Any, str, str | None]] = {}
    for code, spec in actors.items():
        if not isinstance(code, str) or code in DEFAULT.names or not isinstance(spec, dict):
            continue
        role, name, colour = spec.get("role"), spec.get("name", code), spec.get("colour")
        if role in ("state", "power") and isinstance(name, str):
            extra[code] = (role, name, colour if isinstance(colour, str) else None)
    return DEFAULT.with_actors(extra)


class Scenario(Sourced):
    """A complete, resolved scenario."""

    name: Annotated[str, Field(pattern=NAME_RE, max_length=64)]
    description: str
    extends: str | None = None
    actors: dict[ActorCode, Actor] = {}
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
    import_groups: dict[str, ImportGroup] = {}  # goods groups of the import bill (ODD 7.12)
    _vocab: Vocabulary = PrivateAttr(default=DEFAULT)

    @model_validator(mode="after")
    def _complete_and_consistent(self) -> Self:
        vocab = _ACTIVE.get()
        for code in self.actors:
            if code in DEFAULT.names:
                raise ValueError(f"actors.{code}: code is taken by the shipped vocabulary")
        _require_all(self.prices, COMMODITIES, "prices")
        _require_all(self.states, vocab.states, "states")
        _require_all(self.powers, vocab.powers, "powers")
        _require_all(self.markets, vocab.markets, "markets")
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
        self._check_base_shares()
        for code, st in self.states.items():
            for g in st.import_composition:
                if g not in self.import_groups:
                    known = ", ".join(self.import_groups) or "none"
                    msg = (
                        f"states.{code}.import_composition.{g}: not one of import_groups "
                        f"(known: {known})"
                    )
                    raise ValueError(msg)
        for code, p in self.powers.items():
            if p.corridor is not None and p.corridor not in self.routes:
                raise ValueError(f"powers.{code}.corridor: {_unknown(p.corridor, self.routes)}")
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _with_vocabulary(cls, data: Any, handler: Any) -> Any:
        """Validate country codes against the vocabulary this scenario declares.

        Defined after the other model validators so that it wraps them all.
        """
        vocab = _declared_vocabulary(data)
        token = _ACTIVE.set(vocab)
        try:
            scenario = handler(data)
        finally:
            _ACTIVE.reset(token)
        scenario._vocab = vocab.with_routes(
            {k: tuple(r.commodities) for k, r in scenario.routes.items()}
        )
        return scenario

    def _check_base_shares(self) -> None:
        """A state's base-year route shares of a commodity may not exceed 1 in total."""
        total: dict[tuple[str, str], float] = {}
        for route in self.routes.values():
            for s, by_commodity in route.base_share.items():
                for c, share in by_commodity.items():
                    total[s, c] = total.get((s, c), 0.0) + share
        for (s, c), value in total.items():
            if value > 1.0 + 1e-9:
                msg = (
                    f"routes: base_share of {s} {c} sums to {value:g} over the routes; "
                    "expected at most 1"
                )
                raise ValueError(msg)

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
        """The scenario's world: :data:`sim.vocab.DEFAULT` plus its declared ``actors``."""
        return self._vocab

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
