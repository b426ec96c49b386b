"""``Params``: everything the model takes from a scenario, as frozen arrays.

:meth:`Params.from_scenario` reads the validated scenario once. After that nothing in
the step loop touches a pydantic object or parses a date: dated events are compiled
into a per-step schedule of plain records (:data:`EventRecord`), stochastic
disruptions and named projects into integer step arrays, and annual price and
production paths into per-step values.

Axes follow ``params.vocab`` (the scenario's :class:`~sim.vocab.Vocabulary`): ``S``
states, ``P`` powers, ``B`` partners (powers then markets), ``I`` influence holders
(powers then "others"), ``C`` commodities, ``SEC`` sectors, ``CH`` channels, ``K``
routes, ``ND`` stochastic disruptions, ``J`` named projects, ``T`` steps. Steps are
counted from the horizon start (``t = quarter - start_quarter``).

Behavioural scalars (``price_sensitivity``, ``influence_decay`` ...) are plain floats
from the scenario. With parameter uncertainty (:mod:`sim.core.uncertainty`) the sampled
ones become ``(R,)`` arrays (``channel_weights`` ``(R, CH)``), one value per
replication; the phases broadcast them over the replication axis through
:func:`per_rep`.

Event-driven quantities (budgets, hedging, import propensity, EAEU membership, open
options) start here (``budget0``, ``hedging0`` ...) but live in the
:class:`~sim.core.state.State`, because events change them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.core import mechanisms
from sim.scenario import parse_quarter
from sim.vocab import (
    ALLIANCES,
    CHANNELS,
    COMMODITIES,
    PRIORITIES,
    SECTOR_COMMODITIES,
    SECTORS,
    VALUE_FACTOR,
    Vocabulary,
)

if TYPE_CHECKING:
    from sim.scenario import Scenario

NEVER = np.iinfo(np.int64).max  # a step that never comes (open-ended windows, sanctions)
SINCE_EVER = np.iinfo(np.int64).min


# ------------------------------------------------------------------ event records


@dataclass(frozen=True)
class Summit:
    """Diplomacy stock of ``power`` with each of ``states`` rises by ``weight``."""

    power: int
    states: tuple[int, ...]
    weight: float


@dataclass(frozen=True)
class RouteLoss:
    """Route ``route`` loses ``loss`` of its capacity for ``duration`` steps."""

    route: int
    loss: float
    duration: int


@dataclass(frozen=True)
class Sanction:
    """Partners ``by`` sanction power ``target`` (``duration`` None: to the end)."""

    target: int
    by: tuple[bool, ...]
    severity: float
    duration: int | None
    secondary: bool = True


@dataclass(frozen=True)
class PriceShock:
    """A log jump ``size`` of commodity ``commodity``'s price this quarter."""

    commodity: int
    size: float


@dataclass(frozen=True)
class EaeuJoin:
    """State ``state`` joins (``member`` true) or leaves the EAEU."""

    state: int
    member: bool = True


@dataclass(frozen=True)
class AllianceChange:
    """State ``state``'s alliance ties change by ``delta`` (one entry per holder)."""

    state: int
    delta: tuple[float, ...]


@dataclass(frozen=True)
class ArmsDeal:
    """Holder ``holder``'s arms stock in state ``state`` rises by ``tiv`` (TIV m)."""

    state: int
    holder: int
    tiv: float


@dataclass(frozen=True)
class RouteCapacity:
    """Route ``route``'s capacity for ``commodity`` is set to ``capacity``."""

    route: int
    commodity: int
    capacity: float


@dataclass(frozen=True)
class RouteAccess:
    """State ``state`` loses (``open`` false) or regains the use of route ``route``."""

    route: int
    state: int
    open: bool


@dataclass(frozen=True)
class RoutePrice:
    """Route ``route`` sells ``commodity`` at contract price ``price`` (NaN: market)."""

    route: int
    commodity: int
    price: float


@dataclass(frozen=True)
class BudgetChange:
    """Power ``power``'s annual programme budget becomes ``budget``.

    ``split`` (None: unchanged) is the new aimed split as ``(aim_state (S,),
    aim_sector (S, SEC))``, see :func:`compile_split`.
    """

    power: int
    budget: float
    split: tuple[np.ndarray, np.ndarray] | None = None


@dataclass(frozen=True)
class Reform:
    """State ``state``'s hedging and/or import propensity change (None: unchanged)."""

    state: int
    hedging: float | None
    imports_to_gdp: float | None


type EventRecord = (
    Summit
    | RouteLoss
    | Sanction
    | PriceShock
    | EaeuJoin
    | AllianceChange
    | ArmsDeal
    | RouteCapacity
    | RouteAccess
    | RoutePrice
    | BudgetChange
    | Reform
)


@dataclass(frozen=True)
class NamedProject:
    """A named project compiled to indices; effects as (index..., amount) tuples.

    Attributes:
        power, state, buyer, sector: indices on the power, state, partner and sector
            axes.
        cost: USD bn; probability: completion probability.
        diplomacy: diplomacy-stock gain on completion.
        capacity, productivity, offtake: ``(commodity, amount)`` pairs.
        route_cost: ``(route, delta)`` pairs; route_capacity: ``(route, commodity,
            delta)`` triples, in scenario order.
    """

    power: int
    state: int
    buyer: int
    sector: int
    cost: float
    probability: float
    diplomacy: float
    capacity: tuple[tuple[int, float], ...]
    route_cost: tuple[tuple[int, float], ...]
    productivity: tuple[tuple[int, float], ...]
    route_capacity: tuple[tuple[int, int, float], ...]
    offtake: tuple[tuple[int, float], ...]


# ------------------------------------------------------------------ parameters


@dataclass(frozen=True, eq=False)
class Params:
    """Static inputs of one model, built by :meth:`from_scenario`; arrays are read-only.

    Shapes are in the comments; see the module docstring for the axis letters.
    """

    vocab: Vocabulary
    T: int
    start_quarter: int
    route_names: tuple[str, ...]
    value_factor: np.ndarray  # (C,) USD bn per unit at price 1
    is_resource: np.ndarray  # (C,) bool
    # prices
    price0: np.ndarray  # (C,)
    log_mu: np.ndarray  # (C,) log long-run price
    kappa: np.ndarray  # (C,) reversion per quarter
    sigma: np.ndarray  # (C,) quarterly volatility
    price_path: tuple[tuple[int, np.ndarray], ...]  # (commodity, (T,) price) per path
    # states
    gdp0: np.ndarray  # (S,)
    growth: np.ndarray  # (S,)
    imports_to_gdp0: np.ndarray  # (S,) initial; reform events change it (state)
    hedging0: np.ndarray  # (S,) initial; reform events change it (state)
    eaeu0: np.ndarray  # (S,) bool, initial EAEU membership
    cap0: np.ndarray  # (S, C)
    domestic: np.ndarray  # (S, C) domestic-use share
    decline: np.ndarray  # (S, C) annual decline
    reserves0: np.ndarray  # (S, C), inf where not given
    production_path: tuple[tuple[int, int, np.ndarray], ...]  # (state, commodity, (T,))
    domestic_path: tuple[tuple[int, int, np.ndarray], ...]  # (state, commodity, (T,) shares)
    contract_floor: tuple[tuple[int, int, int, np.ndarray], ...]  # (s, c, buyer, (T,) volumes)
    reexport_share: np.ndarray  # (S, B) bazaar re-exports as a share of the import bill
    # goods groups of the import bill (ODD 7.12); G = 0: one import logit
    import_weight0: np.ndarray  # (S, G) base-year group shares of ordinary imports
    import_log_prior: np.ndarray  # (S, G, B) log partner shares within each group
    import_income_el: np.ndarray  # (G,) income elasticities
    import_price_el: np.ndarray  # (G,) price elasticities
    import_price_c: np.ndarray  # (G,) int commodity indexing each group's price, -1: none
    export_share: np.ndarray  # (T, B) partners' world export shares (%) by step, NaN: none
    trade_target: np.ndarray  # (S, B)
    inv0: np.ndarray  # (S, P)
    # influence channels by holder (ODD 7.15-7.16; units in docs/scenarios.md)
    inv_others: np.ndarray  # (S,) USD bn, FDI stock of "others" (held constant)
    dipl0: np.ndarray  # (S, I) initial diplomacy stock
    dipl_rate: np.ndarray  # (S, I) diplomacy activity per year
    arms0: np.ndarray  # (S, I) arms-transfer stock, TIV m
    arms_rate: np.ndarray  # (S, I) arms deliveries, TIV m per year
    bases: np.ndarray  # (S, I) military presence index
    alliance0: np.ndarray  # (S, I) alliance ties (CSTO, SCO); bloc events change them
    remit0: np.ndarray  # (S, I) remittances, USD bn per year at base-year prices
    remit_elasticity: np.ndarray  # (I,) elasticity of remittances to the oil price
    debt0: np.ndarray  # (S, I) public external debt owed, USD bn
    lending_share: np.ndarray  # (P,) share of completed programme money lent
    # powers
    capability: np.ndarray  # (P,)
    budget0: np.ndarray  # (P,) initial annual budget; budget_change events change it
    aim_state0: np.ndarray  # (P, S) budget shares aimed at a state (sectors by own rule)
    aim_sector0: np.ndarray  # (P, S, SEC) budget shares aimed at a (state, sector)
    priorities: np.ndarray  # (P, 3) influence, resource security, return; rows sum to 1
    sector_bias: np.ndarray  # (P, SEC)
    import_need: np.ndarray  # (P, C)
    learning_rate: np.ndarray  # (P,)
    diplomacy_rate: np.ndarray  # (P,)
    completion: np.ndarray  # (P,) programme completion probability
    lead: np.ndarray  # (P,) int lead time, quarters
    max_lead: int  # pipeline slots: lead.max() + 1
    corridor: np.ndarray  # (P,) int route index, -1 for none
    # trade
    demand: np.ndarray  # (C, B) buyers' demand terms
    route_cost: np.ndarray  # (K,)
    route_cap0: np.ndarray  # (K, C), inf where not given
    contract_price0: np.ndarray  # (K, C) route contract prices, NaN: market price
    route_base_share: np.ndarray  # (S, C, K) base-year route share targets, NaN where none
    valid_base: np.ndarray  # (S, C, B, K) bool: options the routes define
    options: mechanisms.ExportOptions
    transit: np.ndarray  # (K, P) bool
    eaeu_partner: int  # partner index of the EAEU's preferred source (Russia)
    # investment and influence
    sector_split: np.ndarray  # (S, SEC, C)
    channel_weights: np.ndarray  # (CH,), or (R, CH) per replication
    capital_intensity: np.ndarray  # (C,)
    value_added0: np.ndarray  # (S,) base-year resource value added
    non_resource0: np.ndarray  # (S,) base-year non-resource GDP
    # behaviour (scalars; the sampled ones (R,) arrays, sim.core.uncertainty.FIELDS)
    price_sensitivity: float | np.ndarray
    alignment_sensitivity: float | np.ndarray
    hedging_scale: float | np.ndarray
    eaeu_preference: float | np.ndarray
    eaeu_trade_cost: float
    reexport_eaeu_loss: float
    import_adjustment: float
    supplier_mass_elasticity: float | np.ndarray
    sanction_penalty: float
    influence_decay: float | np.ndarray
    diplomacy_decay: float
    arms_depreciation: float
    debt_amortisation: float
    investment_depreciation: float
    route_capital_intensity: float
    route_cost_intensity: float
    route_ramp: float | np.ndarray
    strategy_temperature: float
    learned_weight: float
    sector_return: np.ndarray  # (SEC,) expected annual return by sector
    award_sensitivity: float | np.ndarray
    acceptance_threshold: float
    revenue_multiplier: float
    resource_value_added: float
    # schedules
    events: tuple[tuple[EventRecord, ...], ...]  # (T,) events of each step, in file order
    disruption_route: np.ndarray  # (ND,) int
    disruption_loss: np.ndarray  # (ND,)
    disruption_p_arrival: np.ndarray  # (ND,) quarterly arrival probability when live
    disruption_stay_positive: np.ndarray  # (ND,) bool: mean duration above one quarter
    disruption_log_stay: np.ndarray  # (ND,) log of the per-quarter continuation probability
    disruption_start: np.ndarray  # (ND,) int first live step (SINCE_EVER if open)
    disruption_end: np.ndarray  # (ND,) int last live step (NEVER if open)
    projects: tuple[NamedProject, ...]  # (J,)
    project_start: np.ndarray  # (J,) int step construction starts
    project_done: np.ndarray  # (J,) int step the project completes or fails
    programme_outlay: np.ndarray  # (T, P) named-project outlays from budgets, per quarter

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                value.flags.writeable = False

    @property
    def shape(self) -> dict[str, int]:
        """Axis sizes by letter (S, P, B, I, C, SEC, CH, K, ND, J, T)."""
        v = self.vocab
        return {
            "S": len(v.states),
            "P": len(v.powers),
            "B": len(v.partners),
            "I": len(v.influencers),
            "C": len(COMMODITIES),
            "SEC": len(SECTORS),
            "CH": len(CHANNELS),
            "K": len(self.route_names),
            "ND": len(self.disruption_route),
            "J": len(self.projects),
            "T": self.T,
        }

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> Params:
        """Compile a validated scenario.

        Raises:
            ValueError: if a state's resource value added exceeds its GDP at base-year
                prices (validation rejects such scenarios first; this is a guard).
        """
        kw = {"vocab": scenario.vocab, "T": scenario.steps}
        kw["start_quarter"] = scenario.start_quarter
        kw["route_names"] = tuple(scenario.routes)
        kw["value_factor"] = np.array([VALUE_FACTOR[c] for c in COMMODITIES])
        kw["is_resource"] = np.array([c != "other" for c in COMMODITIES])
        kw |= _prices(scenario)
        kw |= _states(scenario)
        kw |= _powers(scenario)
        kw |= _channels(scenario)
        kw |= _routes(scenario)
        kw |= _behaviour(scenario)
        kw["export_share"] = _export_share(scenario)
        kw |= _import_groups(scenario)
        kw |= _investment(kw)
        kw |= _schedules(scenario, kw["route_names"])
        kw["programme_outlay"] = _programme_outlay(scenario, kw)
        return cls(**kw)


def per_rep(value: float | np.ndarray, ndim: int, rows: slice = slice(None)) -> float | np.ndarray:
    """A behavioural parameter shaped to broadcast against ``(R, ...)`` arrays of ``ndim`` axes.

    A float stays a float; an ``(R,)`` array (one value per replication) becomes
    ``(R, 1, ..., 1)`` with ``ndim`` axes, restricted to ``rows``.
    """
    if np.ndim(value) == 0:
        return value
    arr = np.asarray(value)[rows]
    return arr.reshape(arr.shape[:1] + (1,) * (ndim - 1))


# ------------------------------------------------------------------ compilers


def path_value(path: dict[int, float], year: int) -> float:
    """Value of an annual path in ``year``: exact, else linear between listed years.

    Outside the listed years the first or last value holds.
    """
    if year in path:
        return path[year]
    years = sorted(path)
    if year < years[0]:
        return path[years[0]]
    if year > years[-1]:
        return path[years[-1]]
    lo = max(y for y in years if y <= year)
    hi = min(y for y in years if y >= year)
    w = (year - lo) / (hi - lo)
    return (1 - w) * path[lo] + w * path[hi]


def _per_step(path: dict[int, float], start_quarter: int, T: int) -> np.ndarray:
    """``(T,)`` values of an annual path at each step's calendar year."""
    return np.array([path_value(path, (start_quarter + t) // 4) for t in range(T)], dtype=float)


def _import_groups(sp: Scenario) -> dict[str, np.ndarray]:
    """Goods groups of the import bill (ODD 7.12): base weights, log partner priors.

    A state without ``import_composition`` gets equal weights and equal priors (its
    import logit is then the single logit). A partner's share within a group is floored
    at 0.1% (every partner can supply every group) and the row renormalised.
    """
    v, groups = sp.vocab, list(sp.import_groups)
    S, G, B = len(v.states), len(groups), len(v.partners)
    weight, prior = np.full((S, G), 1.0 / max(G, 1)), np.ones((S, G, B))
    for i, s in enumerate(v.states):
        comp = sp.states[s].import_composition
        if not comp:
            continue
        weight[i] = [comp[g].share if g in comp else 0.0 for g in groups]
        for j, g in enumerate(groups):
            part = comp[g].partners if g in comp else {}
            row = [part.get(b, 0.0) for b in v.target_partners]
            prior[i, j] = [*row, max(1.0 - sum(row), 0.0)]
    prior = np.maximum(prior / prior.sum(axis=2, keepdims=True), 1e-3)
    spec = [sp.import_groups[g] for g in groups]
    return {
        "import_weight0": weight / np.maximum(weight.sum(axis=1, keepdims=True), 1e-12),
        "import_log_prior": np.log(prior / prior.sum(axis=2, keepdims=True)),
        "import_income_el": np.array([x.income_elasticity for x in spec], dtype=float),
        "import_price_el": np.array([x.price_elasticity for x in spec], dtype=float),
        "import_price_c": np.array(
            [COMMODITIES.index(x.price) if x.price else -1 for x in spec], dtype=np.int64
        ),
    }


def _export_share(sp: Scenario) -> np.ndarray:
    """``(T, B)`` each partner's world export share (%) per step, NaN without a path.

    Annual values are interpolated linearly by quarter (a year's value at its first
    quarter); before the first and after the last listed year the end value holds.
    """
    v = sp.vocab
    paths = [sp.powers[p].export_share_path for p in v.powers]
    paths += [sp.markets[m].export_share_path for m in v.markets]
    out = np.full((sp.steps, len(v.partners)), np.nan)
    quarters = (sp.start_quarter + np.arange(sp.steps)) / 4.0
    for b, path in enumerate(paths):
        if path:
            out[:, b] = [path_value(path, q) for q in quarters]
    return out


def _prices(sp: Scenario) -> dict:
    pr = [sp.prices[c] for c in COMMODITIES]
    return {
        "price0": np.array([p.initial for p in pr]),
        "log_mu": np.log([p.long_run for p in pr]),
        "kappa": np.array([p.reversion for p in pr]),
        "sigma": np.array([p.volatility for p in pr]),
        "price_path": tuple(
            (i, _per_step(p.path, sp.start_quarter, sp.steps)) for i, p in enumerate(pr) if p.path
        ),
    }


def _states(sp: Scenario) -> dict:
    v = sp.vocab
    st = [sp.states[s] for s in v.states]
    tg = np.array([[x.trade_targets.get(b, 0.0) for b in v.target_partners] for x in st]) / 100
    per_c = {
        name: np.array([[getattr(x, name).get(c, 0.0) for c in COMMODITIES] for x in st])
        for name in ("capacity", "domestic_use", "decline")
    }
    return {
        "gdp0": np.array([x.gdp for x in st]),
        "growth": np.array([x.growth for x in st]),
        "imports_to_gdp0": np.array([x.imports_to_gdp for x in st]),
        "hedging0": np.array([x.hedging for x in st]),
        "eaeu0": np.array(["EAEU" in x.blocs for x in st]),
        "cap0": per_c["capacity"],
        "domestic": per_c["domestic_use"],
        "decline": per_c["decline"],
        "reserves0": np.array(
            [[x.reserves.get(c, np.inf) for c in COMMODITIES] for x in st], dtype=float
        ),
        "production_path": tuple(
            (i, COMMODITIES.index(c), _per_step(path, sp.start_quarter, sp.steps))
            for i, x in enumerate(st)
            for c, path in x.production_path.items()
        ),
        "domestic_path": tuple(
            (i, COMMODITIES.index(c), _per_step(path, sp.start_quarter, sp.steps))
            for i, x in enumerate(st)
            for c, path in x.domestic_use_path.items()
        ),
        "contract_floor": tuple(
            (
                i,
                COMMODITIES.index(c),
                v.partners.index(b),
                _per_step(path, sp.start_quarter, sp.steps),
            )
            for i, x in enumerate(st)
            for b, by_c in x.contract_floor.items()
            for c, path in by_c.items()
        ),
        "reexport_share": np.array(
            [[x.reexport_share.get(b, 0.0) for b in v.partners] for x in st], dtype=float
        ).reshape(len(st), len(v.partners)),
        "trade_target": np.concatenate([tg, 1.0 - tg.sum(axis=1, keepdims=True)], axis=1),
        "inv0": np.array([[x.investment_stock.get(p, 0.0) for p in v.powers] for x in st]),
    }


def _powers(sp: Scenario) -> dict:
    v = sp.vocab
    pw = [sp.powers[p] for p in v.powers]
    aims = [compile_split(x.budget_split, v.states) for x in pw]
    priorities = np.array([[x.priorities.get(k, 0.0) for k in PRIORITIES] for x in pw])
    priorities /= priorities.sum(axis=1, keepdims=True)
    lead = np.array([x.lead_time_quarters for x in pw], dtype=int)
    diplomacy_rate = np.array([x.diplomacy_rate for x in pw])
    return {
        "capability": np.array([x.capability for x in pw]),
        "budget0": np.array([x.budget for x in pw]),
        "aim_state0": np.array([a[0] for a in aims]).reshape(len(pw), len(v.states)),
        "aim_sector0": np.array([a[1] for a in aims]).reshape(len(pw), len(v.states), len(SECTORS)),
        "priorities": priorities,
        "sector_bias": np.array([[x.sector_bias.get(k, 0.0) for k in SECTORS] for x in pw]),
        "import_need": np.array([[x.import_need.get(c, 0.0) for c in COMMODITIES] for x in pw]),
        "learning_rate": np.array([x.learning_rate for x in pw]),
        "diplomacy_rate": diplomacy_rate,
        "completion": np.array([x.completion_probability for x in pw]),
        "lead": lead,
        "max_lead": int(lead.max()) + 1,
        "corridor": np.array([list(sp.routes).index(x.corridor) if x.corridor else -1 for x in pw]),
        # buyers' demand weights (powers, then markets): (C, B)
        "demand": np.array(
            [
                [
                    d.get(c, 0.0)
                    for d in [x.demand for x in pw] + [sp.markets[m].demand for m in v.markets]
                ]
                for c in COMMODITIES
            ]
        ),
    }


def _channels(sp: Scenario) -> dict:
    """Per-(state, holder) channel inputs; holders are the powers then "others".

    A state's diplomacy rate defaults to the power's ``diplomacy_rate`` (0 for others),
    its initial diplomacy stock to the steady state ``rate / (4 delta)``. Alliance ties
    follow the state's ``blocs`` (:data:`sim.vocab.ALLIANCES`).
    """
    v, b = sp.vocab, sp.behaviour
    st = [sp.states[s] for s in v.states]

    def table(name: str, default: dict[str, float] | None = None) -> np.ndarray:
        base = default or {}
        return np.array(
            [[getattr(x, name).get(h, base.get(h, 0.0)) for h in v.influencers] for x in st],
            dtype=float,
        )

    rate = table("diplomacy_rate", {p: sp.powers[p].diplomacy_rate for p in v.powers})
    steady = rate / 4.0 / max(b.diplomacy_decay, 1e-9)
    dipl0 = np.array(
        [[x.diplomacy.get(h, np.nan) for h in v.influencers] for x in st], dtype=float
    ).reshape(steady.shape)
    alliance = np.array(
        [
            [sum(ALLIANCES.get(bloc, {}).get(h, 0.0) for bloc in x.blocs) for h in v.influencers]
            for x in st
        ],
        dtype=float,
    ).reshape(steady.shape)
    return {
        "inv_others": np.array([x.investment_others for x in st], dtype=float),
        "dipl0": np.where(np.isnan(dipl0), steady, dipl0),
        "dipl_rate": rate,
        "arms0": table("arms_stock"),
        "arms_rate": table("arms_rate"),
        "bases": table("bases"),
        "alliance0": alliance,
        "remit0": table("remittances"),
        "remit_elasticity": np.array(
            [b.remittance_oil_elasticity.get(h, 0.0) for h in v.influencers], dtype=float
        ),
        "debt0": table("debt"),
        "lending_share": np.array([b.lending_share.get(p, 0.0) for p in v.powers], dtype=float),
    }


def _routes(sp: Scenario) -> dict:
    v = sp.vocab
    names = tuple(sp.routes)
    S, P, B, C, K = len(v.states), len(v.powers), len(v.partners), len(COMMODITIES), len(names)
    valid = np.zeros((S, C, B, K), dtype=bool)
    transit = np.zeros((K, P), dtype=bool)
    for k, name in enumerate(names):
        r = sp.routes[name]
        for s in r.origins:
            for c in r.commodities:
                for b in r.buyers:
                    valid[v.index("state", s), COMMODITIES.index(c), v.index("partner", b), k] = (
                        True
                    )
        for p in r.transit:
            transit[k, v.index("power", p)] = True
    route_cap0 = np.array(
        [[sp.routes[k].capacity.get(c, np.inf) for c in COMMODITIES] for k in names], dtype=float
    ).reshape(K, C)
    base_share = np.full((S, C, K), np.nan)
    contract = np.array(
        [[sp.routes[k].contract_price.get(c, np.nan) for c in COMMODITIES] for k in names],
        dtype=float,
    ).reshape(K, C)
    for k, name in enumerate(names):
        for s, by_commodity in sp.routes[name].base_share.items():
            for c, share in by_commodity.items():
                base_share[v.index("state", s), COMMODITIES.index(c), k] = share
    return {
        "route_cost": np.array([sp.routes[k].cost for k in names]),
        "route_cap0": route_cap0,
        "contract_price0": contract,
        "route_base_share": base_share,
        "valid_base": valid,
        "options": mechanisms.ExportOptions(valid),
        "transit": transit,
        "eaeu_partner": v.index("partner", "RUS"),
    }


def _behaviour(sp: Scenario) -> dict:
    b = sp.behaviour
    return {
        "channel_weights": np.array([b.channel_weights.get(ch, 1.0) for ch in CHANNELS]),
        "capital_intensity": np.array([b.capital_intensity.get(c, 0.0) for c in COMMODITIES]),
        "price_sensitivity": b.price_sensitivity,
        "alignment_sensitivity": b.alignment_sensitivity,
        "hedging_scale": b.hedging,
        "eaeu_preference": b.eaeu_preference,
        "eaeu_trade_cost": b.eaeu_trade_cost,
        "reexport_eaeu_loss": b.reexport_eaeu_loss,
        "import_adjustment": b.import_adjustment,
        "supplier_mass_elasticity": b.supplier_mass_elasticity,
        "sanction_penalty": b.sanction_penalty,
        "influence_decay": b.influence_decay,
        "diplomacy_decay": b.diplomacy_decay,
        "arms_depreciation": b.arms_depreciation,
        "debt_amortisation": b.debt_amortisation,
        "investment_depreciation": b.investment_depreciation,
        "route_capital_intensity": b.route_capital_intensity,
        "route_cost_intensity": b.route_cost_intensity,
        "route_ramp": b.route_ramp,
        "strategy_temperature": b.strategy_temperature,
        "learned_weight": b.learned_weight,
        "sector_return": np.array(
            [b.sector_return.get(k, SECTOR_RETURN[k]) for k in SECTORS], dtype=float
        ),
        "award_sensitivity": b.award_sensitivity,
        "acceptance_threshold": b.acceptance_threshold,
        "revenue_multiplier": b.revenue_multiplier,
        "resource_value_added": b.resource_value_added,
    }


#: Default expected annual return by sector, the "return" priority's score (assumption:
#: typical project IRRs for extractive, transport and other infrastructure);
#: ``behaviour.sector_return`` overrides it per sector.
SECTOR_RETURN = {"energy": 0.12, "mining": 0.15, "transport": 0.06, "other": 0.08}


def compile_split(split: dict[str, Any] | None, states: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """A validated ``budget_split`` as arrays ``(aim_state (S,), aim_sector (S, SEC))``.

    A number aims that share of the budget at the state (its sectors chosen by the
    power's own rule); a mapping aims each share at one (state, sector).
    """
    aim_state = np.zeros(len(states))
    aim_sector = np.zeros((len(states), len(SECTORS)))
    for code, value in (split or {}).items():
        s = states.index(code)
        if isinstance(value, dict):
            for sector, share in value.items():
                aim_sector[s, SECTORS.index(sector)] = share
        else:
            aim_state[s] = value
    aim_state.flags.writeable = False
    aim_sector.flags.writeable = False
    return aim_state, aim_sector


def sector_commodity_matrix(commodities: tuple[str, ...]) -> np.ndarray:
    """``(SEC, C)`` 0/1 matrix: which commodities each sector's projects produce."""
    out = np.zeros((len(SECTORS), len(commodities)))
    for i, sec in enumerate(SECTORS):
        for c in SECTOR_COMMODITIES[sec]:
            out[i, commodities.index(c)] = 1.0
    return out


def _investment(kw: dict) -> dict:
    """Sector split and base-year value added (from the arrays compiled so far)."""
    cap0, price0, vf = kw["cap0"], kw["price0"], kw["value_factor"]
    # How a state's completed sector investment splits over commodities: energy and
    # mining money goes to the sector's commodities in proportion to the state's
    # base-year output value; where a state has none of them (hydropower in Tajikistan,
    # say) it raises non-resource ("other") exports instead.
    base = sector_commodity_matrix(COMMODITIES)  # (SEC, C)
    value = cap0 * price0 * vf  # (S, C)
    split = base[None] * value[:, None, :]
    total = split.sum(axis=2, keepdims=True)
    other = np.zeros(len(COMMODITIES))
    other[COMMODITIES.index("other")] = 1.0
    split = np.where(total > 0, split / np.where(total > 0, total, 1.0), other)
    split[:, SECTORS.index("transport"), :] = 0.0  # transport builds route capacity instead
    va0 = mechanisms.resource_value_added(
        cap0[None], price0[None], vf, kw["is_resource"], kw["resource_value_added"]
    )[0]
    non_resource0 = kw["gdp0"] - va0
    if (non_resource0 <= 0).any():
        bad = kw["vocab"].states[int(np.argmax(non_resource0 <= 0))]
        msg = f"{bad}: resource value added exceeds GDP at base-year prices"
        raise ValueError(msg)
    return {"sector_split": split, "value_added0": va0, "non_resource0": non_resource0}


def _schedules(sp: Scenario, route_names: tuple[str, ...]) -> dict:
    """Events per step; disruption windows and project dates as step numbers."""
    q0 = sp.start_quarter
    events: list[list[EventRecord]] = [[] for _ in range(sp.steps)]
    for ev in sp.events:
        record = _compile_event(ev, sp.vocab, route_names)
        if record is not None:
            events[parse_quarter(ev.date) - q0].append(record)
    ds = sp.disruptions
    rate = np.array([d.rate_per_year for d in ds])
    stay = 1.0 - 1.0 / np.array([d.mean_duration_quarters for d in ds])
    projects = [_compile_project(p, sp.vocab, route_names) for p in sp.projects]
    start = np.array([parse_quarter(p.start) - q0 for p in sp.projects], dtype=int)
    return {
        "events": tuple(tuple(e) for e in events),
        "disruption_route": np.array([route_names.index(d.route) for d in ds], dtype=int),
        "disruption_loss": np.array([d.capacity_loss for d in ds], dtype=float),
        "disruption_p_arrival": 1.0 - np.exp(-rate / 4.0),
        "disruption_stay_positive": stay > 0,
        "disruption_log_stay": np.log(np.maximum(stay, 1e-12)),
        "disruption_start": np.array(
            [SINCE_EVER if d.start is None else parse_quarter(d.start) - q0 for d in ds],
            dtype=np.int64,
        ),
        "disruption_end": np.array(
            [NEVER if d.end is None else parse_quarter(d.end) - q0 for d in ds], dtype=np.int64
        ),
        "projects": tuple(projects),
        "project_start": start,
        "project_done": start + np.array([p.lead_time_quarters for p in sp.projects], dtype=int),
    }


def _compile_event(ev: Any, v: Vocabulary, routes: tuple[str, ...]) -> EventRecord | None:
    """One scenario event as a plain record (None for events without effect)."""
    match ev.type:
        case "summit":
            states = tuple(v.index("state", s) for s in ev.states)
            return Summit(v.index("power", ev.power), states, ev.weight)
        case "route_disruption":
            return RouteLoss(routes.index(ev.route), ev.capacity_loss, ev.duration_quarters)
        case "sanctions":
            by = tuple(b in ev.by for b in v.partners)
            target = v.index("power", ev.target)
            return Sanction(target, by, ev.severity, ev.duration_quarters, ev.secondary)
        case "price_shock":
            return PriceShock(COMMODITIES.index(ev.commodity), ev.size)
        case "bloc_join" | "bloc_leave":
            # EAEU membership changes import preferences; CSTO and SCO membership the
            # alliance component of the security channel.
            s, sign = v.index("state", ev.state), 1.0 if ev.type == "bloc_join" else -1.0
            if ev.bloc == "EAEU":
                return EaeuJoin(s, member=sign > 0)
            delta = tuple(sign * ALLIANCES[ev.bloc].get(h, 0.0) for h in v.influencers)
            return AllianceChange(s, delta)
        case "arms_deal":
            return ArmsDeal(v.index("state", ev.state), v.index("influencer", ev.supplier), ev.tiv)
        case "route_capacity":
            k, c = routes.index(ev.route), COMMODITIES.index(ev.commodity)
            return RouteCapacity(k, c, ev.capacity)
        case "route_access":
            return RouteAccess(routes.index(ev.route), v.index("state", ev.state), ev.open)
        case "route_price":
            price = np.nan if ev.price is None else ev.price
            return RoutePrice(routes.index(ev.route), COMMODITIES.index(ev.commodity), price)
        case "budget_change":
            split = None if ev.budget_split is None else compile_split(ev.budget_split, v.states)
            return BudgetChange(v.index("power", ev.power), ev.budget, split)
        case "reform":
            return Reform(v.index("state", ev.state), ev.hedging, ev.imports_to_gdp)
    msg = f"unknown event type {ev.type!r}"
    raise ValueError(msg)


def _compile_project(pr: Any, v: Vocabulary, routes: tuple[str, ...]) -> NamedProject:
    eff = pr.effects
    c = COMMODITIES.index
    return NamedProject(
        power=v.index("power", pr.power),
        state=v.index("state", pr.state),
        buyer=v.index("partner", pr.power),
        sector=SECTORS.index(pr.sector),
        cost=pr.cost,
        probability=pr.completion_probability,
        diplomacy=eff.diplomacy,
        capacity=tuple((c(k), d) for k, d in eff.capacity.items()),
        route_cost=tuple((routes.index(r), d) for r, d in eff.route_cost.items()),
        productivity=tuple((c(k), f) for k, f in eff.productivity.items()),
        route_capacity=tuple(
            (routes.index(r), c(k), d)
            for r, caps in eff.route_capacity.items()
            for k, d in caps.items()
        ),
        offtake=tuple((c(k), s) for k, s in eff.offtake.items()),
    )


def _programme_outlay(sp: Scenario, kw: dict) -> np.ndarray:
    """``(T, P)`` quarterly outlays of named projects paid from programme budgets.

    A project paid from its power's budget costs ``cost / lead`` per quarter while under
    construction (at least its start quarter).
    """
    v = sp.vocab
    out = np.zeros((sp.steps, len(v.powers)))
    start, done = kw["project_start"], kw["project_done"]
    for t in range(sp.steps):
        for i, pr in enumerate(sp.projects):
            if pr.from_budget and start[i] <= t < max(done[i], start[i] + 1):
                out[t, v.index("power", pr.power)] += pr.cost / max(pr.lead_time_quarters, 1)
    return out
