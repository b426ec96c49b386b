"""``State``: the dynamic arrays of ODD section 2.2; the initial state; base-year calibration.

Every array with a leading ``R`` holds one row per replication. A few arrays have no
replication axis because only events change them, identically in every replication
(budgets, hedging, import propensity, EAEU membership, open options, sanctions,
scheduled route losses, pending price shocks).

The base-year calibration (ODD section 7.13) chooses the export and import constants
once, from the initial state, identically for every replication (or per replication
when the behavioural parameters are per replication, :mod:`sim.core.uncertainty`). Its outputs never
change afterwards and are kept apart from the state in a frozen :class:`Calibration`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from sim.core import mechanisms, phases, policies
from sim.vocab import CHANNELS

if TYPE_CHECKING:
    from sim.core.params import Params


@dataclass(eq=False)
class State:
    """The model's dynamic state (ODD section 2.2). Axis letters as in :mod:`sim.core.params`.

    Attributes:
        log_price, price: ``(R, C)`` log price and price.
        price_shock: ``(C,)`` log shocks of this quarter's events, pending (ODD 7.2).
        cap: ``(R, S, C)`` production capacity, units per year.
        productivity: ``(R, S, C)`` productivity multiplier.
        reserves: ``(R, S, C)`` reserves left (inf where not given).
        production: ``(R, S, C)`` output produced, units per year.
        shut_in: ``(R, S, C)`` exportable supply that found no route.
        route_cap: ``(R, K, C)`` route capacity (inf where not given).
        route_cost: ``(R, K)`` route cost, share of the price.
        contract_price: ``(K, C)`` route contract prices, NaN where a route sells at the
            market price (route_price events).
        route_flow: ``(R, S, C, K)`` last quarter's exports of each state's commodity on
            each route, units per year.
        route_losses: scheduled route losses ``(route, loss, end step)``.
        outage_left: ``(R, ND)`` quarters left of each stochastic outage.
        valid: ``(S, C, B, K)`` bool, options currently open.
        inv: ``(R, S, P)`` completed investment stock, USD bn.
        dipl: ``(R, S, I)`` diplomacy stock (powers and others).
        arms: ``(R, S, I)`` arms-transfer stock, TIV m.
        debt: ``(R, S, I)`` public external debt owed, USD bn.
        alliance: ``(S, I)`` alliance ties (bloc_join and bloc_leave events).
        offtake: ``(R, S, C, B)`` offtake shares in force: contracts plus equity offtake
            (:func:`sim.core.phases.update_access`).
        contract_offtake: ``(R, S, C, B)`` offtake shares of named projects' contracts.
        equity: ``(R, S, C, P)`` equity stock of each power in each resource sector,
            USD bn (completed resource investment since the base year, depreciating).
        offers: ``(R, P, S, SEC)`` money offered (then accepted) this quarter, USD bn.
        learned_bias: ``(R, P, S, SEC)`` the powers' learned allocation bias.
        pipeline: ``(R, max_lead, P, S, SEC)`` accepted money by due slot, USD bn
            (stored slot-major: each slot's cohorts are one contiguous block).
        programme_budget: ``(R, P)`` programme money this quarter, USD bn.
        budget: ``(P,)`` annual programme budgets (budget_change events); ``(R, P)`` when
            sampled per replication (:mod:`sim.core.uncertainty`).
        aim_state: ``(P, S)`` budget shares aimed at a state (budget_split).
        aim_sector: ``(P, S, SEC)`` budget shares aimed at a (state, sector).
        project_status: ``(R, J)`` named project 0 open, 1 completed, 2 failed.
        hedging: ``(S,)`` hedging strengths (reform events).
        imports_to_gdp: ``(S,)`` import propensities (reform events).
        eaeu: ``(S,)`` bool EAEU membership (bloc_join events).
        sanction_severity: ``(P,)``; sanction_by: ``(P, B)`` bool; sanction_end: ``(P,)``
            step at which each power's sanctions lapse.
        sanction_secondary: ``(P,)`` bool, the sanction also penalises third countries'
            trade with the target (the Central Asian states' sales to and imports from it).
        gdp: ``(R, S)`` GDP, USD bn per year.
        exports_volume: ``(R, S, C, B)`` exports, units per year.
        exports_value: ``(R, S, B)`` exports at world prices, USD bn per year.
        imports_value: ``(R, S, B)`` imports by source, USD bn per year.
        reexports_value: ``(R, S, B)`` the part of ``imports_value`` that is bazaar
            re-export trade, USD bn per year.
        export_revenue: ``(R, S)`` export netback revenue, USD bn per year.
        trade_share: ``(R, S, B)`` goods-trade share by partner.
        influence_stock: ``(R, S, I, CH)`` influence stock by channel.
        influence_share: ``(R, S, I)`` influence share (sum over channels).
        prev_influence_share: ``(R, S, I)`` the previous step's share.
        partner_pref: ``(R, S, B)`` partner terms of the export and import logits.
    """

    log_price: np.ndarray
    price: np.ndarray
    price_shock: np.ndarray
    cap: np.ndarray
    productivity: np.ndarray
    reserves: np.ndarray
    production: np.ndarray
    shut_in: np.ndarray
    route_cap: np.ndarray
    route_cost: np.ndarray
    contract_price: np.ndarray
    route_flow: np.ndarray
    outage_left: np.ndarray
    valid: np.ndarray
    inv: np.ndarray
    dipl: np.ndarray
    arms: np.ndarray
    debt: np.ndarray
    alliance: np.ndarray
    offtake: np.ndarray
    contract_offtake: np.ndarray
    equity: np.ndarray
    offers: np.ndarray
    learned_bias: np.ndarray
    pipeline: np.ndarray
    programme_budget: np.ndarray
    budget: np.ndarray
    aim_state: np.ndarray
    aim_sector: np.ndarray
    project_status: np.ndarray
    hedging: np.ndarray
    imports_to_gdp: np.ndarray
    eaeu: np.ndarray
    sanction_severity: np.ndarray
    sanction_by: np.ndarray
    sanction_end: np.ndarray
    sanction_secondary: np.ndarray
    gdp: np.ndarray
    exports_volume: np.ndarray
    exports_value: np.ndarray
    imports_value: np.ndarray
    reexports_value: np.ndarray
    export_revenue: np.ndarray
    trade_share: np.ndarray
    influence_stock: np.ndarray
    influence_share: np.ndarray
    prev_influence_share: np.ndarray
    partner_pref: np.ndarray
    route_losses: list[tuple[int, float, int]] = field(default_factory=list)

    @property
    def R(self) -> int:  # noqa: N802 - the replication axis letter, as model.R
        """Number of replications."""
        return self.gdp.shape[0]


@dataclass(frozen=True, eq=False)
class Calibration:
    """Base-year constants (ODD section 7.13), fixed after construction.

    Attributes:
        export_alpha: ``(S, B)`` export constants.
        import_alpha: ``(S, B)`` import constants.
        residual: ``(S, B)`` base-year trade shares reproduced minus the targets.
        route_alpha: ``(S, C, K)`` route constants (0 where no route share is targeted).
        route_residual: ``(S, C, K)`` base-year route shares reproduced minus the targets
            (0 where none is given).
        Each has a leading ``R`` axis when the behavioural parameters are per
        replication.
        route_load0: ``(K, C)`` base-year flow on each route, units per year (the flow a
            route has established, :func:`sim.core.mechanisms.ramp_ceiling`).
    """

    export_alpha: np.ndarray
    import_alpha: np.ndarray
    residual: np.ndarray
    route_alpha: np.ndarray
    route_residual: np.ndarray
    route_load0: np.ndarray


def initial_state(params: Params, R: int) -> State:  # long: one line per State field
    """The state at ``t = 0`` for ``R`` replications (ODD section 5).

    Trade shares start at the targets, imports at the target shares of base-year trade,
    the influence stock at the channel targets; then the states set their partner
    preferences (:func:`sim.core.policies.trade_preferences`).
    """
    n = params.shape
    S, P, B, C, SEC = n["S"], n["P"], n["B"], n["C"], n["SEC"]
    rep = partial(np.repeat, repeats=R, axis=0)
    log_price = rep(np.log(params.price0)[None])
    cap = rep(params.cap0[None]).astype(float)
    # Initial trade: target shares of the base-year trade total.
    exp_value = (params.cap0 * (1 - params.domestic) * params.price0 * params.value_factor).sum(
        axis=1
    )
    total0 = exp_value + params.imports_to_gdp0 * params.gdp0
    state = State(
        log_price=log_price,
        price=np.exp(log_price),
        price_shock=np.zeros(C),
        cap=cap,
        productivity=np.ones((R, S, C)),
        reserves=rep(params.reserves0[None]).astype(float),
        production=cap.copy(),
        shut_in=np.zeros((R, S, C)),
        route_cap=rep(params.route_cap0[None]).astype(float),
        route_cost=rep(params.route_cost[None]).astype(float),
        contract_price=params.contract_price0.copy(),
        route_flow=np.zeros((R, S, C, n["K"])),
        outage_left=np.zeros((R, n["ND"])),
        valid=params.valid_base.copy(),
        inv=rep(params.inv0[None]).astype(float),
        dipl=rep(params.dipl0[None]).astype(float),
        arms=rep(params.arms0[None]).astype(float),
        debt=rep(params.debt0[None]).astype(float),
        alliance=params.alliance0.copy(),
        offtake=np.zeros((R, S, C, B)),
        contract_offtake=np.zeros((R, S, C, B)),
        equity=np.zeros((R, S, C, P)),
        offers=np.zeros((R, P, S, SEC)),
        learned_bias=np.zeros((R, P, S, SEC)),
        # stored slot by slot: a step touches only its due and maturing slots (advance_pipeline)
        pipeline=np.zeros((params.max_lead, R, P, S, SEC)).transpose(1, 0, 2, 3, 4),
        programme_budget=np.zeros((R, P)),
        budget=params.budget0.copy(),
        aim_state=params.aim_state0.copy(),
        aim_sector=params.aim_sector0.copy(),
        project_status=np.zeros((R, n["J"]), dtype=int),
        hedging=params.hedging0.copy(),
        imports_to_gdp=params.imports_to_gdp0.copy(),
        eaeu=params.eaeu0.copy(),
        sanction_severity=np.zeros(P),
        sanction_by=np.zeros((P, B), dtype=bool),
        sanction_end=np.full(P, np.iinfo(np.int64).max),
        sanction_secondary=np.ones(P, dtype=bool),
        gdp=rep(params.gdp0[None]).astype(float),
        exports_volume=np.zeros((R, S, C, B)),
        exports_value=np.zeros((R, S, B)),
        imports_value=rep((params.trade_target * total0[:, None])[None]).astype(float),
        reexports_value=np.zeros((R, S, B)),
        export_revenue=np.zeros((R, S)),
        trade_share=rep(params.trade_target[None]).astype(float),
        influence_stock=np.zeros((R, S, n["I"], len(CHANNELS))),
        influence_share=np.zeros((R, S, n["I"])),
        prev_influence_share=np.zeros((R, S, n["I"])),
        partner_pref=np.zeros((R, S, B)),
    )
    raw, exposure = phases.channel_inputs(params, state)
    state.influence_stock = mechanisms.channel_targets(raw, params.channel_weights, exposure)
    state.influence_share = state.influence_stock.sum(axis=3)
    state.prev_influence_share = state.influence_share.copy()
    for s in range(S):
        state.partner_pref[:, s, :] = policies.trade_preferences(params, state, s)
    return state


def calibrate(params: Params, state: State) -> Calibration:
    """Choose partner and route constants so the base year matches its targets (ODD 7.13).

    Deterministic. With scenario-wide (scalar) behavioural parameters it is identical
    across replications and computed on the first replication of the initial
    ``state``; with per-replication parameters (:mod:`sim.core.uncertainty`) every
    replication gets its own constants (arrays with a leading ``R``). Replications
    with the same parameter values get the same constants, so each distinct parameter
    row is fitted once (:func:`distinct_rows`), and the rows are fitted together,
    each round computing only the rows still being fitted, so a row's constants do not
    depend on the other rows.

    1. Routes: where a scenario gives base-year route shares (``routes.<K>.base_share``),
       raise each targeted route's constant for that state and commodity by
       ``ln(target / share)`` and re-allocate until every share is within 1e-6 of its
       target (at most 100 rounds; :func:`_fit_routes`).
    2. Exports: where base-year exports to partner ``b`` alone would exceed 90% of its
       target share of total trade ``tau_b (X + M)``, lower the state's export constant
       for ``b`` by ``ln(limit / X_b)``, re-fit the route constants and re-allocate;
       repeat until no partner exceeds its limit (at most 50 rounds).
    3. Imports: partner ``b`` should then supply ``tau_b (X + M) - X_b - E_b`` of the
       ordinary imports (at least 0.1% of them), ``E_b`` being the bazaar re-export
       imports from ``b`` (:func:`sim.core.mechanisms.reexport_imports`); the import
       constants are the log shares of that mix less the other
       utility terms.

    So the model starts on the observed pattern; ``residual`` and ``route_residual``
    hold what is left.
    """
    if per_replication(params):
        rows, inverse = distinct_rows(params, state.R)
        out = [a[inverse] for a in _calibrate_rows(params, state, rows)]
    else:
        out = [a[0] for a in _calibrate_rows(params, state, np.zeros(1, dtype=np.int64))]
    for a in out:
        a.flags.writeable = False
    return Calibration(*out)


def _calibrate_rows(params: Params, state: State, rows: np.ndarray) -> list[np.ndarray]:
    """:func:`calibrate` of the replications ``rows``: its six arrays, one row each."""
    output = phases.planned_output(params, state, 0)[rows]
    n = len(rows)
    m = params.imports_to_gdp0 * params.gdp0
    export_alpha = np.zeros((n, len(params.vocab.states), len(params.vocab.partners)))
    route_alpha = np.zeros((n, *params.route_base_share.shape))
    fit = partial(_fit_routes, params, state, export_alpha, route_alpha, output=output, rows=rows)
    flows = x = None
    active = np.arange(n)  # rows some partner's exports still exceed
    for _ in range(50):
        f = fit(active)
        xa = phases.export_values(params, state, f, rows[active])  # (active, S, B)
        if flows is None or x is None:
            flows, x = f, xa  # the first round computes every row
        else:
            flows[:, active], x[active] = f, xa
        limit = 0.9 * params.trade_target * (xa.sum(axis=2) + m)[:, :, None]
        excess = xa > limit * (1 + 1e-6)
        if not excess.any():
            break
        ratio = np.divide(limit, xa, out=np.ones_like(xa), where=excess)
        export_alpha[active] += np.log(np.maximum(ratio, 1e-12))
        active = active[excess.any(axis=(1, 2))]
    assert flows is not None
    assert x is not None
    reexp = mechanisms.reexport_imports(
        m[None], params.reexport_share, state.eaeu, params.reexport_eaeu_loss
    )[0]  # (S, B)
    m = m * (1.0 - params.reexport_share.sum(axis=1))  # ordinary imports
    known = x + reexp  # (n, S, B)
    want = params.trade_target * (known.sum(axis=2) + m)[:, :, None] - known
    want = np.maximum(want, 1e-3 * np.maximum(m, 1e-9)[:, None])
    other_terms = phases.import_terms(params, state)[rows]
    import_alpha = _fit_imports(params, want / want.sum(axis=2, keepdims=True)) - other_terms
    # Base-year trade shares the calibrated model reproduces, minus the targets.
    imp = _base_import_shares(params, import_alpha + other_terms)
    residual = mechanisms.trade_shares(x, imp * m[:, None] + reexp) - params.trade_target
    volume = phases.route_volumes(params, flows)  # (n, S, C, K)
    target = params.route_base_share
    route_residual = np.where(np.isfinite(target), route_shares(volume) - target, 0.0)
    load0 = volume.sum(axis=1).transpose(0, 2, 1)  # (n, K, C)
    return [export_alpha, import_alpha, residual, route_alpha, route_residual, load0]


def _fit_imports(params: Params, target: np.ndarray) -> np.ndarray:
    """Import utilities that reproduce the ``(n, S, B)`` target import mix.

    One logit: the log shares. Goods groups (ODD 7.12): Berry's contraction over the
    groups' partner priors at the base-year group shares
    (:func:`sim.core.mechanisms.fit_grouped_constants`).
    """
    if params.import_weight0.shape[1] == 0:
        return np.log(target)
    w0 = np.broadcast_to(params.import_weight0, (target.shape[0], *params.import_weight0.shape))
    return mechanisms.fit_grouped_constants(target, params.import_log_prior, w0)


def _base_import_shares(params: Params, util: np.ndarray) -> np.ndarray:
    """``(n, S, B)`` import mix at the base-year group shares (one logit without groups)."""
    if params.import_weight0.shape[1] == 0:
        return mechanisms.masked_softmax(util, np.ones(util.shape, dtype=bool), axes=(2,))
    w0 = np.broadcast_to(params.import_weight0, (util.shape[0], *params.import_weight0.shape))
    return mechanisms.grouped_import_shares(util, params.import_log_prior, w0)


def distinct_rows(params: Params, R: int) -> tuple[np.ndarray, np.ndarray]:
    """Replications with distinct behavioural parameters, and each replication's one.

    Returns:
        ``(rows, inverse)``: the first replication of each distinct parameter row, and
        for each of the ``R`` replications the position of its row in ``rows``.
    """
    cols = [np.broadcast_to(np.asarray(getattr(params, n), float), (R,)) for n in _SAMPLED_SCALARS]
    weights = np.asarray(params.channel_weights, dtype=float)
    key = np.column_stack(
        [*cols, np.broadcast_to(weights.reshape(-1, weights.shape[-1]), (R, weights.shape[-1]))]
    )
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    return first.astype(np.int64), inverse.reshape(-1)


def per_replication(params: Params) -> bool:
    """Whether any behavioural parameter is per replication (``sim.core.uncertainty``)."""
    return any(np.ndim(getattr(params, name)) > 0 for name in _SAMPLED_SCALARS) or (
        np.ndim(params.channel_weights) > 1
    )


_SAMPLED_SCALARS = (
    "price_sensitivity",
    "alignment_sensitivity",
    "hedging_scale",
    "eaeu_preference",
    "influence_decay",
    "award_sensitivity",
    "route_ramp",
)


def route_shares(volume: np.ndarray) -> np.ndarray:
    """Each route's share of a state's exports of a commodity, from ``(..., S, C, K)`` flows."""
    total = volume.sum(axis=-1, keepdims=True)
    return np.divide(volume, total, out=np.zeros_like(volume), where=total > 0)


def _fit_routes(
    params: Params,
    state: State,
    export_alpha: np.ndarray,
    route_alpha: np.ndarray,
    active: np.ndarray,
    *,
    output: np.ndarray,
    rows: np.ndarray,
) -> np.ndarray:
    """:func:`_fit_routes_reference`, compiled (:func:`sim.core.kernels.fit_route_constants`).

    The kernel does the reference's floating-point operations in its order (bit for bit
    up to ``exp`` and ``log``; ``tests/test_kernels.py``). ``CASIM_KERNELS=0`` runs the
    reference.
    """
    kernels = mechanisms.compiled()
    if kernels is None or state.offtake[rows].any():
        return _fit_routes_reference(
            params, state, export_alpha, route_alpha, active, output=output, rows=rows
        )
    opt, sub = params.options, rows[active]
    exp_pen, _ = phases.sanction_terms(params, state)
    bloc = phases.eaeu_terms(params, state, sub)
    base = params.demand[opt.c, opt.b] + export_alpha[active][..., opt.s, opt.b]
    base = base + exp_pen[opt.b, opt.k] + bloc[..., opt.s, opt.b]
    beta = phases.per_rep(params.price_sensitivity, 2, sub)
    supply = output[active] * (1.0 - params.domestic)
    has = np.isfinite(params.route_base_share)
    ra = route_alpha[active].reshape(len(active), -1)
    flows = kernels.fit_route_constants(
        np.array(np.broadcast_to(base, (len(active), opt.n)), dtype=float, order="C"),
        np.ascontiguousarray(state.partner_pref[sub]),
        np.ascontiguousarray(phases.effective_route_cost(state, sub), dtype=float),
        np.array(beta, dtype=float, ndmin=1).ravel(),
        ra,
        np.ascontiguousarray(supply.reshape(len(active), -1), dtype=float),
        np.ascontiguousarray(state.route_cap[sub].reshape(len(active), -1), dtype=float),
        (opt.s, opt.b, opt.k, opt.sck, state.valid[opt.s, opt.c, opt.b, opt.k]),
        (opt.group_start, opt.group_ids, opt.sub, opt.kc, np.zeros((0, 0))),
        (np.flatnonzero(has), params.route_base_share[has]),
        (opt.shape[3], 4, 100),
    )
    route_alpha[active] = ra.reshape(route_alpha[active].shape)
    return flows.T


def _fit_routes_reference(
    params: Params,
    state: State,
    export_alpha: np.ndarray,
    route_alpha: np.ndarray,
    active: np.ndarray,
    *,
    output: np.ndarray,
    rows: np.ndarray,
) -> np.ndarray:
    """Fit the route constants of the ``active`` rows (in place) to the base-year shares.

    ``export_alpha`` ``(n, S, B)``, ``route_alpha`` ``(n, S, C, K)`` and ``output``
    ``(n, S, C)`` hold the ``n`` rows being calibrated, replications ``rows`` of the
    state. Each round multiplies every targeted route's weight in the logit by target /
    share (iterative proportional fitting) in the rows not yet within 1e-6 of every
    target, re-allocating only those rows; untargeted routes keep constant 0 and share
    the rest. Stops when every row has converged, or after 100 rounds (a target beyond
    a route's capacity stays unmet: ``route_residual``). Returns the ``(O, active)``
    flows, each row's from its last allocation.
    """
    target = params.route_base_share
    has = np.isfinite(target)
    flows: np.ndarray | None = None
    pending = np.arange(len(active))  # positions in ``active`` not yet converged
    for _ in range(100):
        sub = active[pending]
        f, _ = phases.trade_flows(
            params,
            state,
            export_alpha[sub],
            output[sub],
            np.ones((len(sub), len(params.route_names))),
            rows[sub],
            route_alpha=route_alpha[sub],
        )
        if flows is None:
            flows = f  # the first round computes every active row
        else:
            flows[:, pending] = f
        if not has.any():
            break
        share = route_shares(phases.route_volumes(params, f))[:, has]  # (pending, targets)
        open_rows = np.abs(share - target[has]).max(axis=1) >= 1e-6
        if not open_rows.any():
            break
        step = np.log(target[has] / np.maximum(share[open_rows], 1e-12))
        moved = route_alpha[sub[open_rows]]
        moved[:, has] += step
        route_alpha[sub[open_rows]] = moved
        pending = pending[open_rows]
    assert flows is not None
    return flows
