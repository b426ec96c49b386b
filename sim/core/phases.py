"""The model's phases, one function per ODD submodel, in schedule order.

Each phase takes the static :class:`~sim.core.params.Params`, the
:class:`~sim.core.state.State` and the step's random numbers, and says in its
docstring which state fields it writes (``Writes:``); it touches no others. Helpers
that only read (``planned_output``, ``trade_flows`` ...) return arrays and write
nothing. ``t`` is the step number (quarters since the horizon start).

The agents' decisions (ODD 7.5, 7.6, 7.9, 7.17) are in :mod:`sim.core.policies`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.core import mechanisms
from sim.core.params import (
    AllianceChange,
    ArmsDeal,
    BudgetChange,
    EaeuJoin,
    PriceShock,
    Reform,
    RouteAccess,
    RouteCapacity,
    RouteLoss,
    RoutePrice,
    Sanction,
    Summit,
    per_rep,
)
from sim.vocab import CHANNELS, COMMODITIES, MONEY_CHANNELS, SECTORS

if TYPE_CHECKING:
    from types import ModuleType

    from sim.core.params import Params
    from sim.core.state import Calibration, State

NEVER = np.iinfo(np.int64).max
#: The most of a resource sector's output under offtake (contracts plus equity).
OFFTAKE_CEILING = 0.9
#: Channel order the compiled influence update assumes (:func:`_compiled_influence`).
_KERNEL_CHANNELS = ("trade", "investment", "diplomacy", "security", "remittances", "debt")


# ------------------------------------------------------------------ 7.1 events


def apply_events(params: Params, state: State, t: int) -> None:
    """ODD 7.1: lift lapsed sanctions and route losses, then apply this step's events.

    Writes: ``sanction_severity``, ``sanction_by``, ``sanction_end``, ``sanction_secondary``,
    ``route_losses``,
    ``dipl``, ``price_shock``, ``eaeu``, ``alliance``, ``arms``, ``route_cap``,
    ``valid``, ``contract_price``, ``budget``, ``aim_state``, ``aim_sector``, ``hedging``,
    ``imports_to_gdp``.
    """
    for p in np.flatnonzero(state.sanction_end <= t):
        state.sanction_severity[p] = 0.0
        state.sanction_by[p] = False
        state.sanction_end[p] = NEVER
    state.route_losses = [x for x in state.route_losses if x[2] > t]
    for ev in params.events[t]:
        _apply_event(params, state, ev, t)


def _apply_event(params: Params, state: State, ev: object, t: int) -> None:
    match ev:
        case Summit(power=p, states=states, weight=w):
            for s in states:
                state.dipl[:, s, p] += w
        case RouteLoss(route=k, loss=loss, duration=d):
            state.route_losses.append((k, loss, t + d))
        case Sanction(target=p, by=by, severity=sev, duration=d, secondary=secondary):
            state.sanction_severity[p] = sev
            state.sanction_by[p] = by
            state.sanction_secondary[p] = secondary
            state.sanction_end[p] = t + d if d is not None else NEVER
        case PriceShock(commodity=c, size=size):
            state.price_shock[c] += size
        case EaeuJoin(state=s, member=member):
            state.eaeu[s] = member
        case AllianceChange(state=s, delta=delta):
            state.alliance[s] = np.maximum(state.alliance[s] + np.array(delta), 0.0)
        case ArmsDeal(state=s, holder=i, tiv=tiv):
            state.arms[:, s, i] += tiv
        case RouteCapacity(route=k, commodity=c, capacity=cap):
            state.route_cap[:, k, c] = cap
        case RouteAccess(route=k, state=s, open=is_open):
            state.valid[s, :, :, k] = params.valid_base[s, :, :, k] if is_open else False
        case RoutePrice(route=k, commodity=c, price=price):
            state.contract_price[k, c] = price
        case BudgetChange(power=p, budget=b, split=split):
            state.budget[..., p] = b  # (P,) or (R, P) when budgets are sampled
            if split is not None:
                state.aim_state[p], state.aim_sector[p] = split
        case Reform(state=s, hedging=h, imports_to_gdp=m):
            if h is not None:
                state.hedging[s] = h
            if m is not None:
                state.imports_to_gdp[s] = m


# ------------------------------------------------------------------ 7.2 prices


def update_prices(params: Params, state: State, eps: np.ndarray, t: int) -> None:
    """ODD 7.2: mean-reverting log prices plus this quarter's shocks; price paths override.

    ``eps`` is ``(R, C)``, this step's standard normal innovations.

    Writes: ``log_price``, ``price``, ``price_shock`` (reset).
    """
    if t > 0:
        state.log_price = mechanisms.mean_reverting_log_price(
            state.log_price, params.log_mu, params.kappa, params.sigma, eps, state.price_shock
        )
    else:
        state.log_price = state.log_price + state.price_shock
    state.price_shock = np.zeros_like(state.price_shock)
    state.price = np.exp(state.log_price)
    for c, path in params.price_path:
        state.price[:, c] = path[t]
        state.log_price[:, c] = np.log(state.price[:, c])


# ------------------------------------------------------------------ 7.3 outages


def draw_outages(
    params: Params, state: State, u_arrival: np.ndarray, u_duration: np.ndarray, t: int
) -> None:
    """ODD 7.3: count running outages down, then start new ones where they arrive.

    An outage of a live disruption arrives with probability ``1 - exp(-rate/4)`` unless
    one is running; its duration is geometric with the given mean (at least 1).
    ``u_arrival`` and ``u_duration`` are ``(R, ND)``, this step's uniforms.

    Writes: ``outage_left``.
    """
    if not len(params.disruption_route):
        return
    state.outage_left = np.maximum(state.outage_left - 1.0, 0.0)
    live = (params.disruption_start <= t) & (t <= params.disruption_end)
    p_arrive = np.where(live, params.disruption_p_arrival, 0.0)
    arrive = (u_arrival < p_arrive) & (state.outage_left <= 0)
    dur = np.where(
        params.disruption_stay_positive,
        1 + np.floor(np.log1p(-u_duration) / params.disruption_log_stay),
        1,
    )
    state.outage_left = np.where(arrive, dur, state.outage_left)


def route_availability(params: Params, state: State) -> np.ndarray:
    """``(R, K)`` share of each route's capacity usable this quarter (reads only)."""
    avail = np.ones((state.R, len(params.route_names)))
    for k, loss, _end in state.route_losses:
        avail[:, k] *= 1.0 - loss
    for j, k in enumerate(params.disruption_route):
        active = state.outage_left[:, j] > 0
        avail[:, k] *= np.where(active, 1.0 - params.disruption_loss[j], 1.0)
    return avail


# ------------------------------------------------------------------ 7.4 budgets


def set_programme_budgets(params: Params, state: State, t: int) -> None:
    """ODD 7.4: quarterly programme money, budget/4 less named projects under construction.

    Writes: ``programme_budget``.
    """
    # budget is (P,), or (R, P) when an experiment samples it per replication
    state.programme_budget[:] = np.maximum(state.budget / 4.0 - params.programme_outlay[t], 0.0)


# ------------------------------------------------------------------ 7.7, 7.8 projects


def advance_projects(params: Params, state: State, u_programme: np.ndarray, t: int) -> np.ndarray:
    """ODD 7.7: accepted offers enter the pipeline; this slot's cohorts mature.

    ``u_programme`` is ``(R, P, S, SEC)``, this step's completion uniforms. Returns the
    ``(R, P, S, SEC)`` money of the cohorts that completed this quarter.

    Writes: ``pipeline``, ``offers`` (emptied).
    """
    slot = t % params.max_lead
    kernels = mechanisms.compiled()
    slots = state.pipeline.transpose(1, 0, 2, 3, 4)  # stored slot-major (initial_state)
    if kernels is not None and _fits(slots, state.offers):
        due = (t + np.asarray(params.lead, dtype=np.int64)) % params.max_lead
        completion = _floats(params.completion)
        # the step's slice of the noise is read in place (no copy)
        u = u_programme if _fits_any_layout(u_programme) else _floats(u_programme)
        return kernels.advance_pipeline(slots, state.offers, u, completion, due, slot)
    for p in range(len(params.lead)):
        due = (t + params.lead[p]) % params.max_lead
        state.pipeline[:, due, p] += state.offers[:, p]
    state.offers[:] = 0.0
    maturing = state.pipeline[:, slot].copy()
    state.pipeline[:, slot] = 0.0
    done = u_programme < params.completion[None, :, None, None]
    return np.where(done, maturing, 0.0)


def complete_programme(params: Params, state: State, amount: np.ndarray) -> None:
    """ODD 7.7: effects of completed programme cohorts: stock, capacity, corridors.

    ``amount`` is the ``(R, P, S, SEC)`` completed money (from :func:`advance_projects`).

    Completed money in a resource sector also becomes the power's equity in the
    commodities it builds (see :func:`update_access`).

    Writes: ``inv``, ``cap``, ``equity``, ``route_cap``, ``route_cost``.
    """
    kernels = mechanisms.compiled()
    if kernels is not None and _compiled_programme(kernels, params, state, amount):
        return
    state.inv += amount.sum(axis=3).transpose(0, 2, 1)
    if kernels is None:
        by_commodity = np.einsum("rpse,sec->rscp", amount, params.sector_split)
    else:  # the same products and sums, in einsum's order (tests/test_kernels.py)
        split = np.ascontiguousarray(params.sector_split, dtype=float)
        by_commodity = kernels.sector_commodities(np.ascontiguousarray(amount, dtype=float), split)
    state.equity += by_commodity * params.is_resource[None, None, :, None]
    state.cap += by_commodity.sum(axis=3) * params.capital_intensity
    transport = amount[..., SECTORS.index("transport")].sum(axis=2)  # (R, P)
    for p, k in enumerate(params.corridor):
        if k >= 0:
            gain = 1.0 + params.route_capital_intensity * transport[:, p]
            state.route_cap[:, k, :] *= gain[:, None]
            cheaper = 1.0 + params.route_cost_intensity * transport[:, p]
            state.route_cost[:, k] /= cheaper


def _compiled_programme(
    kernels: ModuleType, params: Params, state: State, amount: np.ndarray
) -> bool:
    """:func:`complete_programme` by :func:`sim.core.kernels.programme_effects`, bit for bit.

    The kernel does the numpy branch's operations in its order; it covers fewer than 8
    powers, states and sectors (numpy adds their sums in index order). False (the numpy
    branch runs) otherwise.
    """
    inplace = (state.inv, state.equity, state.cap, state.route_cap, state.route_cost)
    if max(amount.shape[1:]) >= 8 or not _fits(*inplace):
        return False
    split = (
        _floats(params.sector_split),
        _floats(params.is_resource),
        _floats(params.capital_intensity),
    )
    corridor = (
        np.array(params.corridor, dtype=np.int64),
        SECTORS.index("transport"),
        float(params.route_capital_intensity),
        float(params.route_cost_intensity),
    )
    kernels.programme_effects(
        _floats(amount), split, corridor, inplace[:3], (state.route_cap, state.route_cost)
    )
    return True


def _fits(*arrays: np.ndarray) -> bool:
    """Whether arrays a kernel updates in place are C-ordered floats (one signature)."""
    return all(x.flags.c_contiguous and x.dtype == float for x in arrays)


def _fits_any_layout(x: np.ndarray) -> bool:
    """Whether a kernel compiled for any layout reads ``x`` as it is: a writable float array.

    Strided, or C-ordered (:func:`sim.core.kernels.warm_up` compiles both signatures).
    """
    return x.dtype == float and x.flags.writeable and x.flags.aligned


def complete_named(params: Params, state: State, u_named: np.ndarray, t: int) -> None:
    """ODD 7.8: named projects due and unresolved complete (with their effects) or fail.

    ``u_named`` is ``(R, J)``, one uniform per project.

    A completed project's cost in a resource sector becomes its power's equity there,
    as programme money does.

    Writes: ``project_status``, ``inv``, ``equity``, ``dipl``, ``cap``, ``route_cost``,
    ``productivity``, ``route_cap``, ``contract_offtake``.
    """
    due = (params.project_done <= t) & (state.project_status[0] == 0)
    for i in np.flatnonzero(due):
        pr = params.projects[i]
        ok = u_named[:, i] < pr.probability
        state.project_status[:, i] = np.where(ok, 1, 2)
        s, p = pr.state, pr.power
        state.inv[:, s, p] += np.where(ok, pr.cost, 0.0)
        share = params.sector_split[s, pr.sector] * params.is_resource  # (C,)
        state.equity[:, s, :, p] += np.where(ok, pr.cost, 0.0)[:, None] * share[None, :]
        state.dipl[:, s, p] += np.where(ok, pr.diplomacy, 0.0)
        for c, delta in pr.capacity:
            state.cap[:, s, c] = np.maximum(state.cap[:, s, c] + np.where(ok, delta, 0.0), 0.0)
        for k, delta in pr.route_cost:
            state.route_cost[:, k] = np.clip(
                state.route_cost[:, k] + np.where(ok, delta, 0.0), 0, 1
            )
        for c, frac in pr.productivity:
            state.productivity[:, s, c] *= np.where(ok, 1.0 + frac, 1.0)
        for k, c, delta in pr.route_capacity:
            state.route_cap[:, k, c] += np.where(ok, delta, 0.0)
        for c, frac in pr.offtake:
            room = 0.9 - state.contract_offtake[:, s, c].sum(axis=1)
            state.contract_offtake[:, s, c, pr.buyer] += np.where(ok, np.minimum(frac, room), 0.0)


def update_access(params: Params, state: State) -> None:
    """ODD 7.8a: equity depreciates; offtake in force = contracts + equity offtake.

    Each power takes the share of a resource sector's output its equity owns, raised by
    its influence share over the state with the award sensitivity
    (:func:`sim.core.mechanisms.offtake_by_capital`); the sector's capital value is its
    capacity over the capital intensity.

    Compiled (:func:`sim.core.kernels.access_offtake`, bit for bit) unless
    ``CASIM_KERNELS=0``; the kernel overwrites last step's ``offtake`` array (nothing
    else holds it), or a new one when that shares memory with an input.

    Writes: ``equity``, ``offtake``.
    """
    keep = (1.0 - params.investment_depreciation) ** 0.25
    kernels = mechanisms.compiled()
    alpha = np.array(params.award_sensitivity, dtype=float, ndmin=1).reshape(-1)
    P = len(params.vocab.powers)
    inputs = (state.equity, state.cap, state.influence_share, state.contract_offtake)
    if kernels is not None and len(alpha) in (1, state.R) and _fits(*inputs):
        intensity = _floats(params.capital_intensity)
        sector = np.asarray((intensity > 0) & params.is_resource, dtype=bool)
        out = state.offtake  # last step's, overwritten: nothing else holds it
        if not (
            _fits(out)
            and out.shape == state.contract_offtake.shape
            and not any(np.may_share_memory(out, x) for x in inputs)
        ):
            out = np.empty(state.contract_offtake.shape)
        kernels.access_offtake(
            state.equity, state.cap, float(keep), (intensity, sector),
            state.influence_share, state.contract_offtake, alpha, OFFTAKE_CEILING, out,
        )  # fmt: skip
        state.offtake = out
        return
    state.equity *= keep
    intensity = params.capital_intensity
    value = np.divide(
        state.cap,
        intensity,
        out=np.zeros_like(state.cap),
        where=(intensity > 0) & params.is_resource,
    )
    state.offtake = mechanisms.offtake_by_capital(
        state.equity,
        value,
        state.influence_share[:, :, :P],
        state.contract_offtake,
        per_rep(params.award_sensitivity, 4),
        OFFTAKE_CEILING,
    )


# ------------------------------------------------------------------ 7.10, 7.11 trade


def planned_output(params: Params, state: State, t: int) -> np.ndarray:
    """``(R, S, C)`` ODD 7.10: capacity x productivity (or the path), within reserves.

    Compiled (:func:`sim.core.kernels.output_within_reserves`, bit for bit) unless
    ``CASIM_KERNELS=0``.
    """
    kernels = mechanisms.compiled()
    if kernels is not None and _fits(state.cap, state.productivity, state.reserves):
        given = np.zeros(state.cap.shape[1:], dtype=bool)
        value = np.zeros(state.cap.shape[1:])
        for s, c, path in params.production_path:
            given[s, c], value[s, c] = True, path[t]
        return kernels.output_within_reserves(
            state.cap, state.productivity, state.reserves, (given, value)
        )
    out = state.cap * state.productivity
    for s, c, path in params.production_path:
        out[:, s, c] = path[t]
    reserves_rate = np.where(np.isfinite(state.reserves), state.reserves * 4.0, np.inf)
    return np.minimum(out, reserves_rate)


def sanction_terms(params: Params, state: State) -> tuple[np.ndarray, np.ndarray]:
    """Utility penalties from sanctions: exports ``(B, K)`` and imports ``(B,)``.

    A sanction without ``secondary`` reach penalises only the sanctioning partners'
    purchases over routes through the target, not the states' trade with the target.
    """
    pen = params.sanction_penalty
    B, K = len(params.vocab.partners), len(params.route_names)
    exp_pen = np.zeros((B, K))
    imp_pen = np.zeros(B)
    for p in np.flatnonzero(state.sanction_severity > 0):
        sev = state.sanction_severity[p] * pen
        if state.sanction_secondary[p]:
            exp_pen[p, :] -= sev
            imp_pen[p] -= sev
        exp_pen[np.ix_(state.sanction_by[p], params.transit[:, p])] -= 0.5 * sev
    return exp_pen, imp_pen


def trade_flows(
    params: Params,
    state: State,
    export_alpha: np.ndarray,
    output: np.ndarray,
    avail: np.ndarray,
    rows: slice = slice(None),
    *,
    route_alpha: np.ndarray | None = None,
    ceiling: np.ndarray | None = None,
    domestic: np.ndarray | None = None,
    floor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """ODD 7.11: ``(O, R)`` export flows over the real options and ``(R, S, C)`` shut-in.

    ``rows`` restricts the computation to some replications (``output``, ``avail`` and
    ``ceiling`` are given for those rows only). A route whose availability is 0 has no
    capacity, even where its capacity is unlimited. ``route_alpha`` are the ``(S, C, K)``
    route constants of the calibration (ODD 7.13; none: 0); they enter each option's
    static utility term, so the compiled and the numpy utilities both get them.
    With per-replication parameters the constants are ``(R, S, B)`` and ``(R, S, C, K)``
    for the ``rows``. ``ceiling`` is the ``(R, K, C)`` ramp limit
    (:func:`sim.core.mechanisms.ramp_ceiling`; none: no limit) under which the effective
    capacities are capped. ``domestic`` is this step's ``(S, C)`` domestic-use share (none:
    the base year's). A route with a contract price nets back ``pi (1 - cost)`` of the
    market price (:func:`sim.core.mechanisms.contract_factor`): it enters as the effective
    route cost ``1 - pi (1 - cost)``. EAEU members' exports to members get the customs
    union's preference (:func:`sim.core.mechanisms.bloc_preference`). ``floor`` is this
    step's ``(S, C, B)`` contracted volumes (:func:`contract_floor`; none: no floors),
    served first (:func:`sim.core.mechanisms.take_or_pay_offtake`).
    """
    opt = params.options
    supply = output * (1.0 - (params.domestic if domestic is None else domestic))
    exp_pen, _ = sanction_terms(params, state)
    bloc = eaeu_terms(params, state, rows)
    beta = per_rep(params.price_sensitivity, 2, rows)
    # Built replication-major, (R, O), and used through its (O, R) transpose: the
    # compiled allocation reads one replication's options contiguously.
    kernels = mechanisms.compiled()
    cost = effective_route_cost(state, rows)
    if kernels is not None:
        parts = (export_alpha, exp_pen, bloc, route_alpha)
        util = compiled_utilities(kernels, params, state, parts, beta, cost, rows).T
    else:
        static = params.demand[opt.c, opt.b] + export_alpha[..., opt.s, opt.b]
        static = static + exp_pen[opt.b, opt.k] + bloc[..., opt.s, opt.b]
        if route_alpha is not None:
            static = static + route_alpha[..., opt.s, opt.c, opt.k]
        pref = np.take(state.partner_pref[rows].reshape(-1, opt.n_sb_all), opt.sb, axis=1)
        route_cost = np.take(cost, opt.k, axis=1)  # (R, O)
        util = (beta * (1.0 - route_cost) + pref + np.atleast_2d(static)).T
    capacity = effective_capacity(state.route_cap[rows], avail, ceiling)
    enabled = state.valid[opt.s, opt.c, opt.b, opt.k]
    offtake = state.offtake[rows]
    if floor is not None and floor.any():
        offtake = mechanisms.take_or_pay_offtake(offtake, floor, supply)
    return opt.allocate(supply, util, enabled, capacity, offtake)


def effective_capacity(
    route_cap: np.ndarray, avail: np.ndarray, ceiling: np.ndarray | None
) -> np.ndarray:
    """``(R, K, C)`` capacities of :func:`trade_flows`: ``min(cap x avail, ceiling)``.

    ``route_cap`` is ``(R, K, C)``, ``avail`` the ``(R, K)`` usable shares and
    ``ceiling`` the ramp limit (none: no limit). A route whose availability is not
    positive has no capacity (``inf * 0`` would be NaN, no limit at all). Compiled
    (:func:`sim.core.kernels.route_capacity`, bit for bit) unless ``CASIM_KERNELS=0``.
    Reads only.
    """
    kernels = mechanisms.compiled()
    given = (route_cap, avail) if ceiling is None else (route_cap, avail, ceiling)
    if (
        kernels is not None
        and _fits(*given)
        and all(x.flags.writeable for x in given)
        and avail.shape == route_cap.shape[:2]
        and (ceiling is None or ceiling.shape == route_cap.shape)
    ):
        none = np.zeros((0, 0, 0))
        return kernels.route_capacity(route_cap, avail, none if ceiling is None else ceiling)
    share = np.broadcast_to(avail[:, :, None], route_cap.shape)
    capacity = np.multiply(route_cap, share, out=np.zeros_like(route_cap), where=share > 0)
    if ceiling is not None:
        np.minimum(capacity, ceiling, out=capacity)
    return capacity


def contract_floor(params: Params, t: int) -> np.ndarray | None:
    """``(S, C, B)`` contracted (take-or-pay) volumes at step ``t``; None without any."""
    if not params.contract_floor:
        return None
    v = params.vocab
    out = np.zeros((len(v.states), len(params.domestic[0]), len(v.partners)))
    for s, c, b, values in params.contract_floor:
        out[s, c, b] = values[t]
    return out


def compiled_utilities(
    kernels: ModuleType,
    params: Params,
    state: State,
    parts: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None],
    beta: float | np.ndarray,
    cost: np.ndarray,
    rows: slice | np.ndarray,
) -> np.ndarray:
    """``(R, O)`` option utilities of :func:`trade_flows` from the compiled kernel.

    ``parts`` are the export constants, sanction penalties, customs-union terms and
    route constants (or None) as :func:`trade_flows` has them; the kernel sums the
    static term in the numpy branch's order (:func:`sim.core.kernels.option_utilities`).
    """
    export_alpha, exp_pen, bloc, route_alpha = parts
    opt = params.options
    S, B = export_alpha.shape[-2:]
    routes = np.zeros((0, 1, 1, 1)) if route_alpha is None else route_alpha
    # Writable C-ordered float copies (calibration constants are read-only), so that
    # the kernel is compiled for one signature only (kernels.warm_up).
    return kernels.option_utilities(
        np.ascontiguousarray(state.partner_pref[rows]),
        np.ascontiguousarray(cost, dtype=float),
        (
            np.array(params.demand, dtype=float, order="C"),
            np.array(export_alpha.reshape(-1, S, B), dtype=float, order="C"),
            np.array(exp_pen, dtype=float, order="C"),
            np.array(np.reshape(bloc, (-1, S, B)), dtype=float, order="C"),
            np.array(routes.reshape(-1, *routes.shape[-3:]), dtype=float, order="C"),
        ),
        np.array(beta, dtype=float, ndmin=1).ravel(),
        opt.s,
        opt.c,
        opt.b,
        opt.k,
    )


def contract_factors(state: State, rows: slice = slice(None)) -> np.ndarray:
    """``(R, K)`` each route's price over the market price (1 without a contract; reads only).

    A route's contract covers one commodity (the pipelines'); where a route has
    contract prices for several, their factors multiply (not used by the shipped
    scenarios).
    """
    factor = mechanisms.contract_factor(state.contract_price, state.price[rows])
    return factor.prod(axis=2)


def effective_route_cost(state: State, rows: slice = slice(None)) -> np.ndarray:
    """``(R, K)`` route cost net of contract prices: ``1 - pi (1 - cost)`` (reads only)."""
    if np.isnan(state.contract_price).all():
        return state.route_cost[rows]
    return 1.0 - contract_factors(state, rows) * (1.0 - state.route_cost[rows])


def eaeu_terms(params: Params, state: State, rows: slice = slice(None)) -> np.ndarray:
    """``(S, B)`` customs-union preference of members' trade with members (reads only).

    ``(R, S, B)`` for the ``rows`` when ``price_sensitivity`` is per replication.
    """
    partner = np.zeros(len(params.vocab.partners))
    partner[params.eaeu_partner] = 1.0
    beta = per_rep(params.price_sensitivity, 3, rows)
    return mechanisms.bloc_preference(state.eaeu, partner, params.eaeu_trade_cost, beta)


def export_values(
    params: Params, state: State, flows: np.ndarray, rows: slice = slice(None)
) -> np.ndarray:
    """``(R, S, B)`` export values (USD bn/yr) at route prices from ``(O, R)`` flows."""
    opt = params.options
    unit_value = np.take(state.price[rows] * params.value_factor, opt.c, axis=1).T  # (O, R)
    unit_value = unit_value * np.take(contract_factors(state, rows), opt.k, axis=1).T
    S, B = len(params.vocab.states), len(params.vocab.partners)
    value = mechanisms.segment_sum(flows * unit_value, opt.sb, S * B)
    return value.T.reshape(flows.shape[1], S, -1)


def route_volumes(params: Params, flows: np.ndarray) -> np.ndarray:
    """``(R, S, C, K)`` flow of each state's commodity on each route, from ``(O, R)`` flows."""
    opt = params.options
    S, C, _, K = opt.shape
    volume = mechanisms.segment_sum(flows, opt.sck, opt.n_sck_all)  # (SCK, R)
    return volume.T.reshape(flows.shape[1], S, C, K)


def ramp_limit(params: Params, calib: Calibration, state: State) -> np.ndarray | None:
    """``(R, K, C)`` most each route can carry this quarter (ODD 7.11 re-routing lag).

    None when ``route_ramp`` is 1 (the limit never binds). Compiled
    (:func:`sim.core.kernels.ramp_ceiling`, bit for bit) unless ``CASIM_KERNELS=0``.
    Reads only.
    """
    if np.all(np.asarray(params.route_ramp) >= 1.0):
        return None
    ramp = per_rep(params.route_ramp, 3)
    kernels = mechanisms.compiled()
    if kernels is not None and state.route_flow.shape[1] < 8 and _fits(state.route_cap):
        _, K, C = state.route_cap.shape
        return kernels.ramp_ceiling(
            _floats(state.route_flow),
            _floats(calib.route_load0).reshape(-1, K, C),
            state.route_cap,
            _floats(ramp).reshape(-1),
        )
    load = state.route_flow.sum(axis=1).transpose(0, 2, 1)  # (R, K, C)
    return mechanisms.ramp_ceiling(load, calib.route_load0, state.route_cap, ramp)


def produce_and_trade(params: Params, calib: Calibration, state: State, t: int) -> None:
    """ODD 7.10-7.11: production, export allocation, shut-in, depletion and decline.

    Around the allocation, compiled (:func:`sim.core.kernels.trade_totals`,
    :func:`sim.core.kernels.settle_production`, bit for bit) unless ``CASIM_KERNELS=0``.

    Writes: ``shut_in``, ``production``, ``reserves``, ``cap``, ``route_flow``,
    ``exports_volume``, ``exports_value``, ``export_revenue``.
    """
    output = planned_output(params, state, t)
    avail = route_availability(params, state)
    flows, shut_in = trade_flows(
        params,
        state,
        calib.export_alpha,
        output,
        avail,
        route_alpha=calib.route_alpha,
        ceiling=ramp_limit(params, calib, state),
        domestic=mechanisms.domestic_share(params.domestic, params.domestic_path, t),
        floor=contract_floor(params, t),
    )
    state.shut_in = shut_in
    kernels = mechanisms.compiled()
    keep = (1.0 - params.decline) ** 0.25
    if kernels is not None and keep.shape == output.shape[1:] and _fits(output, shut_in, state.cap):
        # in place: nothing keeps last step's production or reserves (snapshots copy)
        prod = state.production
        if prod.shape != output.shape or not (_fits(prod) and prod.flags.writeable):
            state.production = np.empty(output.shape)
        state.reserves = _floats(state.reserves)
        kernels.settle_production(
            output, shut_in, state.reserves, state.cap, _floats(keep), state.production
        )
    else:
        state.production = np.maximum(output - shut_in, 0.0)
        finite = np.isfinite(state.reserves)
        state.reserves = np.where(
            finite, np.maximum(state.reserves - state.production / 4.0, 0.0), state.reserves
        )
        state.cap *= keep
    opt = params.options
    if kernels is not None and np.isnan(state.contract_price).all():
        kernels.trade_totals(
            np.ascontiguousarray(flows.T),
            state.price * params.value_factor,
            np.ascontiguousarray(state.route_cost),
            (opt.c, opt.k, opt.sub, opt.sb, opt.s, opt.sck),
            _totals_out(params, state),
        )
        return
    state.route_flow = route_volumes(params, flows)
    volume = mechanisms.segment_sum(flows, opt.sub, opt.n_subs_all)
    state.exports_volume = volume.T.reshape(state.exports_volume.shape)
    state.exports_value = export_values(params, state, flows)
    unit_value = np.take(state.price * params.value_factor, opt.c, axis=1).T  # (O, R)
    unit_value = unit_value * np.take(contract_factors(state), opt.k, axis=1).T
    netback = 1.0 - np.take(state.route_cost, opt.k, axis=1).T
    revenue = mechanisms.segment_sum(flows * unit_value * netback, opt.s, len(params.vocab.states))
    state.export_revenue = revenue.T


def _totals_out(params: Params, state: State) -> tuple[np.ndarray, ...]:
    """The ``(R, n)`` arrays :func:`sim.core.kernels.trade_totals` overwrites.

    Views of the state's ``exports_volume``, ``exports_value``, ``export_revenue`` and
    ``route_flow`` (nothing keeps last step's arrays: :func:`sim.core.observe.snapshot`
    copies), where they are writable C-ordered float arrays of their shapes; otherwise
    new arrays, which replace them.
    """
    S, C, B, K = params.options.shape
    R = state.R
    shapes = {
        "exports_volume": (R, S, C, B),
        "exports_value": (R, S, B),
        "export_revenue": (R, S),
        "route_flow": (R, S, C, K),
    }
    out = []
    for name, shape in shapes.items():
        x = getattr(state, name)
        if x.shape != shape or not (_fits(x) and x.flags.writeable):
            x = np.empty(shape)
            setattr(state, name, x)
        out.append(x.reshape(R, -1))
    return tuple(out)


# ------------------------------------------------------------------ 7.12-7.14 economy


def import_terms(params: Params, state: State) -> np.ndarray:
    """``(R, S, B)`` import utility terms other than the calibrated constants.

    EAEU members get ``eaeu_preference`` on imports from Russia plus the customs
    union's trade-cost preference (:func:`eaeu_terms`).
    """
    eaeu, imp_pen = _import_term_parts(params, state)
    return state.partner_pref + eaeu + imp_pen[None, None, :]


def _import_term_parts(params: Params, state: State) -> tuple[np.ndarray, np.ndarray]:
    """:func:`import_terms`' ``(1|R, S, B)`` customs-union terms and ``(B,)`` penalties."""
    _, imp_pen = sanction_terms(params, state)
    pref = per_rep(params.eaeu_preference, 2)
    eaeu = np.zeros((np.shape(pref)[0] if np.ndim(pref) else 1, *state.partner_pref.shape[1:]))
    eaeu[:, :, params.eaeu_partner] = pref * state.eaeu
    return eaeu + eaeu_terms(params, state), imp_pen


def import_shares(params: Params, state: State, util: np.ndarray) -> np.ndarray:
    """``(R, S, B)`` partner shares of ordinary imports, ODD 7.12 (reads only).

    One logit over ``util``; with goods groups (``import_groups``) a logit per group,
    each with its partner priors, mixed by the group shares of the bill, which move
    with GDP and each group's price (:func:`sim.core.mechanisms.import_group_weights`,
    :func:`sim.core.mechanisms.grouped_import_shares`).
    """
    if params.import_weight0.shape[1] == 0:
        return mechanisms.masked_softmax(util, np.ones(util.shape, dtype=bool), axes=(2,))
    c = np.maximum(params.import_price_c, 0)
    ratio = np.where(params.import_price_c >= 0, state.price[:, c] / params.price0[c], 1.0)
    weights = mechanisms.import_group_weights(
        params.import_weight0,
        state.gdp / params.gdp0,
        ratio,
        params.import_income_el,
        params.import_price_el,
    )
    return mechanisms.grouped_import_shares(util, params.import_log_prior, weights)


def update_economy(params: Params, calib: Calibration, state: State, t: int) -> None:
    """ODD 7.12, 7.14: GDP from resource value added and spillover; imports; trade shares.

    The import bill (``imports_to_gdp`` x GDP) is ordinary imports, spread over partners
    by the import logit (:func:`import_shares`: one, or one per goods group; with each
    partner's supplier mass, :func:`sim.core.mechanisms.supplier_mass_utility`), moved
    toward it at
    ``import_adjustment`` per quarter
    (:func:`sim.core.mechanisms.partial_adjustment`), plus bazaar re-export imports from
    their source (:func:`sim.core.mechanisms.reexport_imports`).

    Compiled (:func:`sim.core.kernels.economy_inputs` and
    :func:`sim.core.kernels.import_values` on either side of numpy's ``exp``, bit for
    bit) unless ``CASIM_KERNELS=0``.

    Writes: ``gdp``, ``imports_value``, ``reexports_value``, ``trade_share``.
    """
    kernels = mechanisms.compiled()
    if kernels is not None and _compiled_economy(kernels, params, calib, state, t):
        return
    va = mechanisms.resource_value_added(
        state.production,
        state.price,
        params.value_factor,
        params.is_resource,
        params.resource_value_added,
    )
    trend = (1.0 + params.growth) ** (t / 4.0)
    spill = 1.0 + params.revenue_multiplier * (va - params.value_added0) / params.gdp0
    non_resource = params.non_resource0 * trend * np.maximum(spill, 0.1)
    state.gdp = non_resource + va
    bill = state.imports_to_gdp * state.gdp  # (R, S)
    reexp = mechanisms.reexport_imports(
        bill, params.reexport_share, state.eaeu, params.reexport_eaeu_loss
    )
    imports = bill * (1.0 - params.reexport_share.sum(axis=1))
    mass = mechanisms.supplier_mass_utility(
        params.export_share[t], params.export_share[0], per_rep(params.supplier_mass_elasticity, 3)
    )
    shares = import_shares(params, state, calib.import_alpha + import_terms(params, state) + mass)
    if params.import_adjustment < 1.0 and t > 0:
        ordinary = state.imports_value - state.reexports_value
        total = ordinary.sum(axis=2, keepdims=True)
        prev = np.divide(ordinary, total, out=shares.copy(), where=total > 0)
        shares = mechanisms.partial_adjustment(prev, shares, params.import_adjustment)
    state.imports_value = shares * imports[:, :, None] + reexp
    state.reexports_value = reexp
    state.trade_share = mechanisms.trade_shares(state.exports_value, state.imports_value)


def _compiled_economy(
    kernels: ModuleType, params: Params, calib: Calibration, state: State, t: int
) -> bool:
    """:func:`update_economy` by the kernels, bit for bit; False where they do not fit.

    They cover one import logit (no goods groups) over fewer than 8 partners and
    commodities (numpy adds their sums in index order), with scalar or per-replication
    import constants, customs-union terms and supplier mass elasticity.
    """
    R, S, B = state.partner_pref.shape
    C = state.production.shape[2]
    eaeu, imp_pen = _import_term_parts(params, state)
    mass = mechanisms.supplier_mass_utility(
        params.export_share[t], params.export_share[0], per_rep(params.supplier_mass_elasticity, 3)
    )
    alpha = np.asarray(calib.import_alpha)
    scalars = (params.revenue_multiplier, params.resource_value_added, params.import_adjustment)
    if (
        params.import_weight0.shape[1] > 0
        or B >= 8
        or C >= 8
        or any(np.ndim(x) for x in scalars)
        or alpha.shape[-2:] != (S, B)
        or eaeu.shape[-2:] != (S, B)
        or np.shape(mass)[-1:] != (B,)
        or np.size(mass) not in (B, R * B)
    ):
        return False
    trend = (1.0 + params.growth) ** (t / 4.0)
    keep = np.clip(1.0 - params.reexport_eaeu_loss * np.asarray(state.eaeu, dtype=float), 0.0, 1.0)
    gdp, reexp, imports, u = kernels.economy_inputs(
        _floats(state.production),
        _floats(state.price),
        (_floats(params.value_factor), _floats(params.is_resource)),
        (
            float(params.resource_value_added),
            float(params.revenue_multiplier),
            *(_floats(x) for x in (params.value_added0, params.gdp0)),
            _floats(params.non_resource0 * trend),
            _floats(np.broadcast_to(state.imports_to_gdp, (S,))),
        ),
        (
            _floats(params.reexport_share),
            _floats(keep),
            _floats(1.0 - params.reexport_share.sum(axis=1)),
        ),
        (
            _floats(alpha).reshape(-1, S, B),
            _floats(state.partner_pref),
            _floats(eaeu).reshape(-1, S, B),
            _floats(imp_pen),
            _floats(mass).reshape(-1, B),
        ),
    )
    np.exp(u, out=u)  # numpy's exp, as masked_softmax's
    rate = float(params.import_adjustment) if t > 0 else 1.0
    state.imports_value, state.trade_share = kernels.import_values(
        u,
        imports,
        reexp,
        _floats(state.exports_value),
        (_floats(state.imports_value), _floats(state.reexports_value)),
        rate,
    )
    state.gdp = gdp
    state.reexports_value = reexp
    return True


# ------------------------------------------------------------------ 7.15, 7.16 influence


def channel_inputs(params: Params, state: State) -> tuple[np.ndarray, np.ndarray]:
    """``(R, S, I, CH)`` channel amounts and ``(R, S, CH)`` exposures, ODD 7.16 (reads only).

    Amounts: trade (exports + imports, USD bn/yr; "others" trade with the markets),
    investment (completed stock; "others" their FDI stock), diplomacy (stock), security
    (:func:`~sim.core.mechanisms.security_index`), remittances (USD bn/yr, scaled by
    the oil price) and debt (USD bn owed). Exposure: a money channel's total over GDP;
    1 for the index channels (diplomacy, security).
    """
    P = len(params.vocab.powers)
    R, S = state.R, len(params.vocab.states)
    raw = np.zeros((R, S, len(params.vocab.influencers), len(CHANNELS)))
    ch = {c: CHANNELS.index(c) for c in CHANNELS}
    trade = state.exports_value + state.imports_value  # (R, S, B)
    raw[:, :, :P, ch["trade"]] = trade[:, :, :P]
    raw[:, :, P, ch["trade"]] = trade[:, :, P:].sum(axis=2)
    raw[:, :, :P, ch["investment"]] = state.inv
    raw[:, :, P, ch["investment"]] = params.inv_others[None]
    raw[..., ch["diplomacy"]] = state.dipl
    raw[..., ch["security"]] = mechanisms.security_index(state.arms, params.bases, state.alliance)
    oil = COMMODITIES.index("oil")
    oil_ratio = state.price[:, oil] / params.price0[oil]
    raw[..., ch["remittances"]] = mechanisms.remittance_flows(
        params.remit0, oil_ratio, params.remit_elasticity
    )
    raw[..., ch["debt"]] = state.debt
    exposure = np.ones((R, S, len(CHANNELS)))
    for c in MONEY_CHANNELS:
        exposure[:, :, ch[c]] = raw[..., ch[c]].sum(axis=2) / state.gdp
    return raw, exposure


def accrue_debt(params: Params, state: State, amount: np.ndarray) -> None:
    """ODD 7.15: the lent part of completed programme money adds to the debt owed.

    ``amount`` is the ``(R, P, S, SEC)`` completed money (from :func:`advance_projects`).

    Writes: ``debt``.
    """
    P = len(params.vocab.powers)
    kernels = mechanisms.compiled()
    if kernels is not None and _fits(state.debt):
        lending = _floats(params.lending_share)
        kernels.add_sector_sums(state.debt, _floats(amount), lending)
        return
    lent = amount.sum(axis=3) * params.lending_share[None, :, None]  # (R, P, S)
    state.debt[:, :, :P] += lent.transpose(0, 2, 1)


def update_influence(params: Params, state: State) -> None:
    """ODD 7.15-7.16: stocks depreciate and renew; the influence stock moves to its target.

    Investment depreciates; diplomacy decays and renews at each (state, holder)'s rate;
    the arms stock depreciates and renews at its delivery rate; debt owed to the powers
    amortises (debt owed to others is rolled over).

    Writes: ``inv``, ``dipl``, ``arms``, ``debt``, ``influence_stock``,
    ``influence_share``, ``prev_influence_share``.
    """
    kernels = mechanisms.compiled()
    if kernels is not None and _compiled_influence(kernels, params, state):
        return
    P = len(params.vocab.powers)
    state.inv *= (1.0 - params.investment_depreciation) ** 0.25
    state.dipl = state.dipl * (1.0 - params.diplomacy_decay) + params.dipl_rate[None] / 4.0
    keep = (1.0 - params.arms_depreciation) ** 0.25
    state.arms = state.arms * keep + params.arms_rate[None] / 4.0
    state.debt[:, :, :P] *= (1.0 - params.debt_amortisation) ** 0.25
    raw, exposure = channel_inputs(params, state)
    target = mechanisms.channel_targets(raw, params.channel_weights, exposure)
    state.influence_stock = mechanisms.smooth_stock(
        state.influence_stock, target, per_rep(params.influence_decay, 4)
    )
    state.prev_influence_share = state.influence_share
    state.influence_share = state.influence_stock.sum(axis=3)


def _compiled_influence(kernels: ModuleType, params: Params, state: State) -> bool:
    """:func:`update_influence` by :func:`sim.core.kernels.influence_update`; False if unfit.

    The kernel does the numpy branch's operations in its order (bit for bit,
    ``tests/test_kernels.py``); it covers the shipped channels (fewer than 8 channels
    and holders, so that numpy adds their sums in index order) and scalar or
    per-replication decay and weights; other shapes run the numpy branch. It updates
    the stocks in place (the numpy branch makes new ``dipl``, ``arms`` and influence
    stock arrays; nothing else holds the old ones) and returns a new share, the old one
    becoming ``prev_influence_share``.
    """
    R, S, n_i, CH = state.influence_stock.shape
    weights = _floats(params.channel_weights).reshape(-1, CH)
    decay = _floats(per_rep(params.influence_decay, 1)).reshape(-1)
    inplace = (state.inv, state.debt, state.dipl, state.arms, state.influence_stock)
    if (
        CHANNELS != _KERNEL_CHANNELS
        or n_i >= 8
        or len(weights) not in (1, R)
        or len(decay) not in (1, R)
        or state.dipl.shape != (R, S, n_i)
        or not _fits(*inplace)
    ):
        return False
    oil = COMMODITIES.index("oil")
    oil_ratio = state.price[:, oil] / params.price0[oil]
    scale = np.power(np.maximum(oil_ratio, 1e-9)[:, None], params.remit_elasticity[None, :])
    fixed = (
        _floats(params.dipl_rate / 4.0),
        _floats(params.arms_rate / 4.0),
        _floats(np.maximum(params.bases, 0.0)).reshape(-1, S, n_i),
        _floats(np.maximum(state.alliance, 0.0)).reshape(-1, S, n_i),
        _floats(params.remit0),
        _floats(params.inv_others),
    )
    keep = (
        float((1.0 - params.investment_depreciation) ** 0.25),
        float(1.0 - params.diplomacy_decay),
        float((1.0 - params.arms_depreciation) ** 0.25),
        float((1.0 - params.debt_amortisation) ** 0.25),
    )
    money = np.array([c in MONEY_CHANNELS for c in CHANNELS])
    share = kernels.influence_update(
        inplace,
        tuple(_floats(x) for x in (state.exports_value, state.imports_value, state.gdp, scale)),
        fixed,
        keep,
        (weights, money, decay),
    )
    state.prev_influence_share = state.influence_share
    state.influence_share = share
    return True


def _floats(x: object) -> np.ndarray:
    """``x`` as a writable C-ordered float array (copied only when it is not one).

    Kernels are compiled for these only (:func:`sim.core.kernels.warm_up`); a read-only
    parameter array would be another signature, compiled during the run.
    """
    a = np.ascontiguousarray(x, dtype=float)
    return a if a.flags.writeable else a.copy()
