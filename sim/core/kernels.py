"""Compiled (numba) kernels for the model's hot loops.

A few small kernels, so that compiling them costs a few seconds once per machine
(``cache=True`` keeps the machine code in ``__pycache__`` next to this module, or under
``NUMBA_CACHE_DIR`` when that is set; later processes load it in well under a second):

* :func:`export_logit_shifts` and :func:`allocate_export_options` are
  :meth:`sim.core.mechanisms.ExportOptions.allocate` (the export allocation, about half
  of a step in numpy) on either side of numpy's ``exp``, one replication at a time;
* :func:`option_utilities` is the numpy around it in :func:`sim.core.phases.trade_flows`
  (each option's utility);
* :func:`segment_sum` and :func:`segment_sum_rows` are
  :func:`sim.core.mechanisms.segment_sum` (``np.bincount`` by row) for option-major and
  replication-major arrays;
* :func:`offtake_by_capital` is :func:`sim.core.mechanisms.offtake_by_capital_reference`
  (equity offtake, one sector at a time: its small sums over powers and buyers were a
  tenth of a step in numpy);
* :func:`influence_update` is the numpy branch of
  :func:`sim.core.phases.update_influence` (stock updates, channel inputs, targets,
  smoothing); :func:`advance_pipeline`, :func:`add_sector_sums` and
  :func:`programme_effects` are :func:`sim.core.phases.advance_projects`,
  :func:`sim.core.phases.complete_programme` and :func:`sim.core.phases.accrue_debt`;
  :func:`ramp_ceiling` is :func:`sim.core.phases.ramp_limit`. All bit for bit: they do
  the numpy branch's operations in its order (``np.power`` stays in numpy);
* :func:`output_within_reserves`, :func:`route_capacity`, :func:`trade_totals` and
  :func:`settle_production` are the numpy of :func:`sim.core.phases.produce_and_trade`
  around the allocation (planned output; the effective route capacities; volumes,
  values, revenues and route flows summed from the flows; production, depletion,
  decline), :func:`economy_inputs` and :func:`import_values`
  :func:`sim.core.phases.update_economy` on either side of the import logit's ``exp``
  (kept in numpy), bit for bit;
* :func:`allocation_logits` and :func:`allocation_offers` are
  :func:`sim.core.policies.allocation_reference` (a power's budget allocation) on either
  side of numpy's ``exp`` (kept in numpy so that the results are numpy's bit for bit);
  :func:`learned_bias`, :func:`acceptance_exponent` (``exp`` again in numpy; then
  :func:`scale_offers`) and :func:`trade_preferences` are the powers' learning and the
  states' screening and partner terms (:mod:`sim.core.policies`); the rules write
  straight into the agent's slice of the state;
* :func:`access_offtake` is all of :func:`sim.core.phases.update_access` (equity
  depreciation and :func:`offtake_by_capital` in one pass);
* :func:`gather_columns` is :func:`sim.output.raw_step_values` of
  :func:`sim.core.observe.snapshot` (a step's metrics side by side in a chunk's value
  array, read from the state; :func:`sim.engine.ensemble.collect_step`), written by
  non-temporal stores (:func:`_stream`: past the caches);
* :func:`order_statistics` gives the order statistics the ensemble summary's quantiles
  need (:func:`sim.engine.store.summarise`) by radix selection, not by sorting every
  column as :func:`sim.engine.store.summarise_reference` does: the same values (the
  bits of numpy's sort).

The allocation skips work whose result is known exactly (unlimited routes' loads and
scalings, the logits of groups without supply and of buyers without contracts, sums
of flows that did not change; see its docstring), so it returns bit for bit what the
straightforward loop returns. Its helpers are inlined (``inline="always"``): a call
that passes a dozen arrays cost more than the few options each one loops over.

The pure-numpy reference stays next to each (:mod:`sim.core.mechanisms`,
:mod:`sim.core.phases`; ``CASIM_KERNELS=0`` runs it), and ``tests/test_kernels.py``
checks they agree. Every kernel does the reference's floating-point operations in the
reference's order (sums in the order ``np.bincount`` adds), so the sums agree bit for
bit. ``exp`` stays numpy's: the allocation's exponents come from
:func:`export_logit_shifts` and numpy exponentiates them, as in the reference (numpy's
vectorised ``exp`` also costs a fraction of the C library's one value at a time). Only
the base-year route fit (:func:`fit_route_constants`, one row at a time inside a kernel)
takes the C library's ``exp``, which may differ from numpy's in the last bit (the tests
ask 1e-12 there).

Batch invariance: each kernel loops over replications on the outside and nothing in
the loop body reads another replication, so replication ``k``'s numbers do not depend
on the chunk it runs in (``tests/test_ensemble.py``).
"""

from __future__ import annotations

import math
import os
import time
from typing import TYPE_CHECKING, Any

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

if TYPE_CHECKING:
    from collections.abc import Callable

#: Whether the model uses the compiled kernels (``CASIM_KERNELS=0`` turns them off).
ENABLED = os.environ.get("CASIM_KERNELS", "1") != "0"
#: Replication rows :func:`gather_columns` copies at a time (the baseline's source rows
#: of a block: about 470 kB).
GATHER_ROWS = 64


@numba.njit(cache=True, nogil=True)
def segment_sum(values: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:  # pragma: no cover
    """Rows of ``values`` (``(m, cols)``) summed into ``n`` bins by ``index``, in row order."""
    cols = values.shape[1]
    out = np.zeros((n, cols))
    for i in range(values.shape[0]):
        row = out[index[i]]
        for j in range(cols):
            row[j] += values[i, j]
    return out


@numba.njit(cache=True, nogil=True)
def segment_sum_rows(  # pragma: no cover - compiled
    values: np.ndarray, index: np.ndarray, n: int
) -> np.ndarray:
    """:func:`segment_sum` of ``values.T``, transposed: ``(R, m)`` summed into ``(R, n)``.

    Each bin adds its columns in increasing column order, as ``np.bincount`` does.
    """
    R, m = values.shape
    out = np.zeros((R, n))
    for r in range(R):
        for i in range(m):
            out[r, index[i]] += values[r, i]
    return out


@numba.njit(cache=True, nogil=True)
def option_utilities(  # pragma: no cover - compiled; checked against the reference
    partner_pref: np.ndarray,
    route_cost: np.ndarray,
    parts: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    price_sensitivity: np.ndarray,
    s: np.ndarray,
    c: np.ndarray,
    b: np.ndarray,
    k: np.ndarray,
) -> np.ndarray:
    """``(R, O)`` export utilities: ``beta (1 - route cost) + partner term + static``.

    The static term is summed here in the reference's order: ``demand + export
    constant + sanction penalty + customs-union preference + route constant``.
    ``parts`` are ``demand`` ``(C, B)``, the export constants ``(1|R, S, B)``, the
    sanction penalties ``(B, K)``, the customs-union terms ``(1|R, S, B)`` and the route
    constants ``(1|R, S, C, K)`` (``(0, 1, 1, 1)``: none); a leading 1 is shared by
    every replication. ``price_sensitivity`` (beta) is ``(1,)`` or ``(R,)``.
    """
    _, export_alpha, _, bloc, route_alpha = parts
    R, S, B = partner_pref.shape
    n_opt, K = len(s), route_cost.shape[1]
    # the static term is computed once when no part of it varies by replication
    shared = export_alpha.shape[0] <= 1 and bloc.shape[0] <= 1 and route_alpha.shape[0] <= 1
    out = np.empty((R, n_opt))
    static = np.empty(n_opt)
    # Each route's price term and each (state, buyer) partner term once per replication
    # (the same numbers for every option that uses them), looked up by unsigned indices
    # (no negative-index check), so that the loop over the options vectorises.
    term, pref = np.empty(K), np.empty(S * B)
    route, partner = np.empty(n_opt, dtype=np.uint64), np.empty(n_opt, dtype=np.uint64)
    for o in range(n_opt):
        route[o], partner[o] = k[o], s[o] * B + b[o]
    for r in range(R):
        beta = price_sensitivity[r if price_sensitivity.shape[0] > 1 else 0]
        if r == 0 or not shared:
            _static_utilities(parts, r, s, c, b, k, static)
        for j in range(K):
            term[j] = beta * (1.0 - route_cost[r, j])
        for i in range(S):
            for j in range(B):
                pref[i * B + j] = partner_pref[r, i, j]
        for o in range(n_opt):
            out[r, o] = term[route[o]] + pref[partner[o]] + static[o]
    return out


@numba.njit(cache=True, nogil=True)
def _static_utilities(parts, r, s, c, b, k, static):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Replication ``r``'s static utility term of each option (see :func:`option_utilities`)."""
    demand, export_alpha, exp_pen, bloc, route_alpha = parts
    with_routes = route_alpha.shape[0] > 0
    ea = export_alpha[r if export_alpha.shape[0] > 1 else 0]
    bl = bloc[r if bloc.shape[0] > 1 else 0]
    for o in range(len(s)):
        st = demand[c[o], b[o]] + ea[s[o], b[o]]
        st = st + exp_pen[b[o], k[o]]
        st = st + bl[s[o], b[o]]
        if with_routes:
            st = st + route_alpha[r if route_alpha.shape[0] > 1 else 0, s[o], c[o], k[o]]
        static[o] = st


@numba.njit(cache=True, nogil=True)
def export_logit_shifts(  # pragma: no cover - compiled; checked against the reference
    util: np.ndarray,
    enabled: np.ndarray,
    group_start: np.ndarray,
    runs: np.ndarray,
    sub: np.ndarray,
    offtake: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The exponents of the allocation's two logits, for numpy's ``exp``.

    With ``u = util[r, o]`` for an open option and ``-inf`` for a closed one:

    * ``joint[r, o] = u - m_g``, ``m_g`` the largest ``u`` of the option's (state,
      commodity) group ``g`` (``group_start``; 0 where it is ``-inf``);
    * ``route[r, o] = u - m_q``, ``m_q`` the largest ``u`` of its buyer's run of routes
      ``q`` (``runs``; 0 where it is not finite), where :func:`allocate_export_options`
      needs it: the buyer has a contracted share other than ``+-0``, or some utility of
      the replication is neither finite nor ``-inf``; 0 elsewhere. A ``(0, O)`` array
      without offtake;
    * ``finite[r]``: every ``u`` of the replication is finite or ``-inf``.

    :func:`allocate_export_options` takes ``exp`` of both: the logits of
    :meth:`sim.core.mechanisms.ExportOptions.allocate_reference`, whose exponentials are
    numpy's too, so the two agree bit for bit.

    Args:
        util: ``(R, O)`` option utilities (replication-major).
        enabled: ``(O,)`` open options.
        group_start: ``(G + 1,)`` first option of each (state, commodity) group.
        runs: ``(Q + 1,)`` first option of each run of one (state, commodity, buyer).
        sub: ``(O,)`` the option's (state, commodity, buyer) index.
        offtake: ``(R, SCB)`` contracted shares, or ``(0, 0)`` when nobody has any.

    Returns:
        ``(joint, route, finite)``: ``(R, O)``, ``(R, O)`` or ``(0, O)``, and ``(R,)``.
    """
    R, n_opt = util.shape
    with_offtake = offtake.shape[0] > 0
    joint = np.empty((R, n_opt))
    route = np.empty((R if with_offtake else 0, n_opt))
    finite = np.empty(R, dtype=np.bool_)
    for r in range(R):
        u, row = joint[r], util[r]
        ok = True
        for o in range(n_opt):
            x = row[o] if enabled[o] else -np.inf
            u[o] = x
            ok = ok & (not np.isnan(x)) & (x != np.inf)
        finite[r] = ok
        # Unsigned bounds: no negative-index check in the loops over a run or a group.
        if with_offtake:
            rt = route[r]
            for o in range(n_opt):
                rt[o] = 0.0
            for q in range(len(runs) - 1):
                start, end = np.uint64(runs[q]), np.uint64(runs[q + 1])
                if ok and offtake[r, sub[start]] == 0.0:
                    continue  # no contract: its route probabilities are not used
                top = -np.inf
                for i in range(start, end):
                    top = max(top, u[i])
                if not np.isfinite(top):
                    top = 0.0
                for i in range(start, end):
                    rt[i] = u[i] - top
        for g in range(len(group_start) - 1):
            start, end = np.uint64(group_start[g]), np.uint64(group_start[g + 1])
            top = -np.inf
            for o in range(start, end):
                top = max(top, u[o])
            if top == -np.inf:
                top = 0.0
            for o in range(start, end):
                u[o] = u[o] - top
    return joint, route, finite


# long: one replication's whole allocation in one loop body, so that its few hundred
# options stay in cache; it mirrors ExportOptions.allocate_reference step by step.
@numba.njit(cache=True, nogil=True)
def allocate_export_options(  # pragma: no cover - compiled; checked against the reference
    joint: np.ndarray,
    route: np.ndarray,
    finite: np.ndarray,
    enabled: np.ndarray,
    supply: np.ndarray,
    capacity: np.ndarray,
    offtake: np.ndarray,
    group_start: np.ndarray,
    group_sc: np.ndarray,
    sub: np.ndarray,
    kc: np.ndarray,
    passes: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The export allocation over the real options, one replication at a time.

    Takes the logits' exponentials (``exp`` of :func:`export_logit_shifts`, normalised
    here in place) and does the reference's floating-point operations in its order,
    but skips work whose result is known exactly:

    * a (state, commodity) group without supply ships ``supply * p = supply`` (a signed
      zero) on every option whatever its probabilities, as long as they are finite and
      non-negative: every utility finite or ``-inf``, and with offtake every contracted
      share of the group finite and non-negative (then ``free p + off p_route`` is finite
      and ``>= +0``). Its probabilities are normalised only if a capacity pass re-offers
      supply to it (:func:`_plain_group`);
    * a route of unlimited capacity in every replication is never overloaded, so only
      the loads of the other routes are summed (each over its options in option order,
      as the reference's scatter-add does), and only their options are scaled in a
      pass when every flow is finite (``f - f * 1 = +0`` adds nothing to the excess;
      an excess never is ``-0``, so adding ``+-0`` leaves it as it is);
    * each group's shipped total is summed when its flows are set, and again only if
      a capacity pass changes them; the load check after the passes is skipped when
      the last one found no overloaded route (the flows have not changed since).

    Args:
        joint: ``(R, O)`` ``exp`` of the joint logit's exponents (overwritten).
        route: ``(R, O)`` ``exp`` of the route logit's exponents (overwritten); ``(0, O)``
            without offtake.
        finite: ``(R,)`` every utility of the replication finite or ``-inf``.
        enabled: ``(O,)`` open options.
        supply: ``(R, SC)`` exportable supply per (state, commodity).
        capacity: ``(R, KC)`` route capacities per (route, commodity).
        offtake: ``(R, SCB)`` contracted shares per (state, commodity, buyer); a ``(0, 0)``
            array when nobody has any.
        group_start: ``(G + 1,)`` first option of each (state, commodity) group.
        group_sc: ``(G,)`` the group's (state, commodity) index.
        sub: ``(O,)`` the option's (state, commodity, buyer) index.
        kc: ``(O,)`` the option's (route, commodity) index.
        passes: re-allocation rounds.

    Returns:
        ``(flows, shut_in)``: ``(R, O)`` and ``(R, SC)``.
    """
    R, n_opt = joint.shape
    G = len(group_sc)
    SC, KC = supply.shape[1], capacity.shape[1]
    with_offtake = offtake.shape[0] > 0
    SCB = offtake.shape[1]
    B = SCB // SC if with_offtake else 1
    kc_start, kc_opt = _options_by_route(kc, KC)
    limited, lim_start, lim_opt = _limited_options(capacity, kc, group_start)
    every = (group_start, np.arange(n_opt))
    if with_offtake:
        runs, has_buyer = _buyer_runs(sub, enabled, SCB)
    else:  # no route logits: one run per group
        runs, has_buyer = group_start, np.zeros(0, dtype=np.bool_)
    group_run = _first_runs(runs, group_start)
    flows_out = np.empty((R, n_opt))
    shut = np.empty((R, SC))
    p_route = np.empty(0)
    off = np.zeros(SCB)
    free = np.zeros(SC)
    over = np.zeros(KC, dtype=np.bool_)
    ratio = np.ones(KC)
    open_kc = np.ones(KC, dtype=np.bool_)
    excess = np.zeros(G)
    shipped = np.zeros(G)
    done = np.zeros(G, dtype=np.bool_)  # the group's probabilities p are computed
    moved = np.zeros(G, dtype=np.bool_)  # its flows changed since shipped was summed
    for r in range(R):
        f = flows_out[r]
        p = joint[r]  # exponentials; a group's probabilities once done[g]
        ok = finite[r]  # every utility finite or -inf: every probability finite and >= 0
        if with_offtake:
            p_route = route[r]
            _offtake_shares(offtake[r], has_buyer, B, off, free)
        # Joint logit over each (state, commodity) group's open options.
        for g in range(G):
            start, end, j = group_start[g], group_start[g + 1], group_sc[g]
            s = supply[r, j]
            moved[g] = False
            first, last = group_run[g], group_run[g + 1]
            if s == 0.0 and ok and _plain_group(off, sub, runs, first, last, with_offtake):
                for o in range(start, end):
                    f[o] = s
                shipped[g] = 0.0  # 0.0 + (+-0) + ... is +0
                done[g] = False
                continue
            _normalise(p, start, end, False)
            done[g] = True
            if with_offtake:
                shipped[g] = _offtake_flows(p, p_route, f, s, free[j], off, sub, runs, first,
                                            last, ok)  # fmt: skip
                continue
            total = 0.0
            for o in range(start, end):
                f[o] = s * p[o]
                total += f[o]
            shipped[g] = total
        # Capacity passes: scale overloaded routes down, re-offer the excess.
        for k in range(KC):
            open_kc[k] = True
        overloaded = _overloaded(f, kc_start, kc_opt, capacity[r], limited, over, ratio)
        all_finite = True
        if overloaded:
            for o in range(n_opt):
                all_finite = all_finite & (abs(f[o]) < np.inf)
        for _ in range(passes):
            if not overloaded:
                break
            at, opts = (lim_start, lim_opt) if all_finite else every
            for g in range(G):
                e = 0.0
                scaled = False
                for i in range(at[g], at[g + 1]):
                    o = opts[i]
                    rt = ratio[kc[o]]
                    kept = f[o] * rt
                    e += f[o] - kept
                    f[o] = kept
                    scaled = scaled | (rt != 1.0)
                excess[g] = e
                moved[g] = moved[g] | scaled
            for k in range(KC):
                open_kc[k] = open_kc[k] and not over[k]
            for g in range(G):
                if excess[g] == 0.0:
                    continue  # adding 0 * p changes nothing
                start, end = group_start[g], group_start[g + 1]
                if not done[g]:
                    _normalise(p, start, end, False)
                    done[g] = True
                total = 0.0
                for o in range(start, end):
                    total += p[o] * (1.0 if open_kc[kc[o]] else 0.0)
                if not total > 0:
                    total = 1.0
                for o in range(start, end):
                    f[o] += excess[g] * (p[o] * (1.0 if open_kc[kc[o]] else 0.0) / total)
                    all_finite = all_finite & (abs(f[o]) < np.inf)
                moved[g] = True
            overloaded = _overloaded(f, kc_start, kc_opt, capacity[r], limited, over, ratio)
        if overloaded:  # only the limited routes' ratios differ from 1 (f * 1 = f)
            for g in range(G):
                scaled = False
                for i in range(lim_start[g], lim_start[g + 1]):
                    o = lim_opt[i]
                    f[o] *= ratio[kc[o]]
                    scaled = scaled | (ratio[kc[o]] != 1.0)
                moved[g] = moved[g] | scaled
        for j in range(SC):
            shut[r, j] = supply[r, j]
        for g in range(G):
            shipped_g = shipped[g]
            if moved[g]:
                shipped_g = 0.0
                for o in range(group_start[g], group_start[g + 1]):
                    shipped_g += f[o]
            shut[r, group_sc[g]] = supply[r, group_sc[g]] - shipped_g
        for j in range(SC):
            shut[r, j] = max(shut[r, j], 0.0)
    return flows_out, shut


# The allocation's helpers below are inlined into it (numba IR inlining): calls with
# many array arguments, once per group or buyer, cost about a fifth of its time.
@numba.njit(cache=True, nogil=True, inline="always")
def _normalise(w, start, end, nan_as_one):  # type: ignore[no-untyped-def]  # pragma: no cover
    """A logit's probabilities: the exponentials ``w[start:end]`` over their sum, in place.

    A sum of 0 divides by 1, and so does a NaN sum when ``nan_as_one`` (the route
    logit's rule, ``total > 0``; the joint logit's is ``total == 0``), as the reference.
    """
    x = w[start:end]  # a view indexed from 0: the division loop vectorises
    total = 0.0
    for i in range(x.shape[0]):
        total += x[i]
    if total == 0.0 or (nan_as_one and not total > 0):
        total = 1.0
    for i in range(x.shape[0]):
        x[i] /= total


@numba.njit(cache=True, nogil=True, inline="always")
def _plain_group(off, sub, runs, first, last, with_offtake):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Whether a group's contracted shares (its runs ``first:last``) are finite and ``>= 0``.

    Then, with finite or ``-inf`` utilities, each of its flows ``s (free p + off
    p_route)`` is ``s`` when the supply ``s`` is ``+-0`` (:func:`allocate_export_options`):
    its buyers' shares are all of its (state, commodity)'s, so ``free`` is in ``[0, 1]``.
    """
    if not with_offtake:
        return True
    for q in range(first, last):
        a = off[sub[runs[q]]]
        if not (a >= 0.0 and a < np.inf):
            return False
    return True


@numba.njit(cache=True, nogil=True, inline="always")
def _offtake_shares(offtake, has_buyer, B, off, free):  # type: ignore[no-untyped-def]  # pragma: no cover
    """One replication's contracted shares and each (state, commodity)'s free share.

    ``off`` is 0 for a buyer without an open route; ``free = clip(1 - sum of off, 0, 1)``.
    """
    for j in range(len(off)):
        off[j] = offtake[j] if has_buyer[j] else 0.0
    for j in range(len(free)):
        taken = 0.0
        for b in range(B):
            taken += off[j * B + b]
        free[j] = min(max(1.0 - taken, 0.0), 1.0)


@numba.njit(cache=True, nogil=True, inline="always")
def _offtake_flows(p, p_route, f, s, free, off, sub, runs, first, last, finite):  # type: ignore[no-untyped-def]  # pragma: no cover
    """A group's flows with contracted offtake, ``s (free p + off p_route)``; their sum.

    ``p_route`` holds the route logit's exponentials; each buyer's (run ``first:last``)
    are normalised here. A buyer without contracted offtake (``off = +-0``) adds
    ``off * p_route``, a zero of ``off``'s sign whatever its (finite, non-negative)
    route probabilities, so those are set to 0 without normalising them when every
    utility is finite or ``-inf``.
    """
    total = 0.0
    for q in range(first, last):
        o, end = runs[q], runs[q + 1]
        a = off[sub[o]]
        if finite and a == 0.0:
            for i in range(o, end):
                p_route[i] = 0.0
        else:
            _normalise(p_route, o, end, True)
        for i in range(o, end):
            f[i] = s * (free * p[i] + a * p_route[i])
            total += f[i]
    return total


@numba.njit(cache=True, nogil=True)
def _options_by_route(kc, n):  # type: ignore[no-untyped-def]  # pragma: no cover
    """The options of each (route, commodity) ``k``: ``opt[start[k]:start[k + 1]]``, in order."""
    start = np.zeros(n + 1, dtype=np.int64)
    for o in range(len(kc)):
        start[kc[o] + 1] += 1
    for k in range(n):
        start[k + 1] += start[k]
    fill = start[:-1].copy()
    opt = np.empty(len(kc), dtype=np.int64)
    for o in range(len(kc)):
        opt[fill[kc[o]]] = o
        fill[kc[o]] += 1
    return start, opt


@numba.njit(cache=True, nogil=True)
def _limited_options(capacity, kc, group_start):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Routes with a finite capacity in some replication, and each group's options on them.

    The options of group ``g`` on such routes are ``opt[start[g]:start[g + 1]]``, in order.
    """
    R, KC = capacity.shape
    limited = np.zeros(KC, dtype=np.bool_)
    for r in range(R):
        for k in range(KC):
            limited[k] = limited[k] or capacity[r, k] != np.inf
    G = len(group_start) - 1
    start = np.zeros(G + 1, dtype=np.int64)
    opt = np.empty(len(kc), dtype=np.int64)
    n = 0
    for g in range(G):
        for o in range(group_start[g], group_start[g + 1]):
            if limited[kc[o]]:
                opt[n] = o
                n += 1
        start[g + 1] = n
    return np.flatnonzero(limited), start, opt


@numba.njit(cache=True, nogil=True, inline="always")
def _overloaded(f, kc_start, kc_opt, cap, limited, over, ratio):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Mark overloaded routes and their scale factors; any overloaded?

    A route's load is the sum of its options' flows in option order (the reference's
    scatter-add order); a route of unlimited capacity is never overloaded, so its load
    is not needed. Only the ``limited`` routes (finite somewhere) are looked at: the
    others keep ``over = False`` and ``ratio = 1``.
    """
    anywhere = False
    for k in limited:
        over[k] = False
        ratio[k] = 1.0
        if cap[k] == np.inf:
            continue
        load = 0.0
        for i in range(kc_start[k], kc_start[k + 1]):
            load += f[kc_opt[i]]
        over[k] = load > cap[k] * (1 + 1e-12)
        ratio[k] = cap[k] / (load if load > 0 else 1.0) if over[k] else 1.0
        anywhere = anywhere or over[k]
    return anywhere


@numba.njit(cache=True, nogil=True)
def _buyer_runs(sub, enabled, n_sub):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Start of each run of equal ``sub`` (a buyer's routes), and buyers with an open route."""
    n_opt = len(sub)
    starts = [0]
    has_buyer = np.zeros(n_sub, dtype=np.bool_)
    for o in range(n_opt):
        if o > 0 and sub[o] != sub[o - 1]:
            starts.append(o)
        has_buyer[sub[o]] = has_buyer[sub[o]] or enabled[o]
    starts.append(n_opt)
    return np.array(starts, dtype=np.int64), has_buyer


@numba.njit(cache=True, nogil=True)
def _first_runs(runs, group_start):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Each group's first run (``(G + 1,)``): runs of equal ``sub`` lie within one group."""
    G = len(group_start) - 1
    first = np.empty(G + 1, dtype=np.int64)
    q = 0
    for g in range(G):
        while runs[q] < group_start[g]:
            q += 1
        first[g] = q
    first[G] = len(runs) - 1
    return first


@numba.njit(cache=True, nogil=True, inline="always")
def _pairwise_sum(a: np.ndarray, start: int, n: int) -> float:  # pragma: no cover - compiled
    """``a[start:start + n].sum()`` in numpy's pairwise order (bit for bit, ``n <= 128``).

    In scalars and inlined: a call per element with an array argument (reference counts)
    or a scratch copy costs more than the additions.
    """
    if n < 8:
        res = 0.0
        for i in range(start, start + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[start], a[start + 1], a[start + 2], a[start + 3]
    r4, r5, r6, r7 = a[start + 4], a[start + 5], a[start + 6], a[start + 7]
    i = 8
    while i < n - (n % 8):
        j = start + i
        r0, r1, r2, r3 = r0 + a[j], r1 + a[j + 1], r2 + a[j + 2], r3 + a[j + 3]
        r4, r5, r6, r7 = r4 + a[j + 4], r5 + a[j + 5], r6 + a[j + 6], r7 + a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[start + i]
        i += 1
    return res


# long: one row's whole fit in one loop body, mirroring sim.core.state._fit_routes_reference.
@numba.njit(cache=True, nogil=True)
def fit_route_constants(  # pragma: no cover - compiled; checked against the reference
    base: np.ndarray,
    pref: np.ndarray,
    cost: np.ndarray,
    beta: np.ndarray,
    route_alpha: np.ndarray,
    supply: np.ndarray,
    capacity: np.ndarray,
    opts: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    alloc: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    targets: tuple[np.ndarray, np.ndarray],
    sizes: tuple[int, int, int],
) -> np.ndarray:
    """The base-year route fit (ODD 7.13 step 1) of each row, one row at a time.

    Args:
        base: ``(n, O)`` static option utilities without the route constants.
        pref: ``(n, S, B)`` partner terms.
        cost: ``(n, K)`` effective route costs.
        beta: ``(n,)`` or ``(1,)`` price sensitivity.
        route_alpha: ``(n, SCK)`` route constants, updated in place.
        supply: ``(n, SC)`` exportable supply.
        capacity: ``(n, KC)`` route capacities.
        opts: each option's ``s``, ``b``, ``k`` and ``sck`` index, and ``enabled``.
        alloc: ``group_start``, ``group_sc``, ``sub``, ``kc`` of the allocation and an
            empty ``(0, 0)`` offtake.
        targets: ``(T,)`` flat ``SCK`` positions with a target share, and the targets.
        sizes: ``(K, passes, rounds)``.

    Returns:
        ``(n, O)`` flows, each row's from its last allocation.
    """
    s, b, k, sck, enabled = opts
    group_start, group_sc, sub, kc, off = alloc
    pos, target = targets
    K, passes, rounds = sizes
    n, n_opt = base.shape
    flows = np.empty((n, n_opt))
    util = np.empty((1, n_opt))
    no_runs = np.zeros(0, dtype=np.int64)  # no offtake (off is (0, 0)): no route logits
    vol = np.zeros(route_alpha.shape[1])
    share = np.empty(len(pos))
    for r in range(n):
        bt = beta[r if beta.shape[0] > 1 else 0]
        for _ in range(rounds):
            for o in range(n_opt):
                st = base[r, o] + route_alpha[r, sck[o]]
                term = bt * (1.0 - cost[r, k[o]])
                util[0, o] = term + pref[r, s[o], b[o]] + st
            joint, route, finite = export_logit_shifts(util, enabled, group_start, no_runs, sub,
                                                       off)  # fmt: skip
            for o in range(n_opt):
                joint[0, o] = math.exp(joint[0, o])  # the C library's exp
            f, _ = allocate_export_options(joint, route, finite, enabled, supply[r : r + 1],
                                           capacity[r : r + 1], off, group_start, group_sc,
                                           sub, kc, passes)  # fmt: skip
            flows[r] = f[0]
            if len(pos) == 0:
                break
            vol[:] = 0.0
            for o in range(n_opt):
                vol[sck[o]] += f[0, o]
            worst = 0.0
            for j in range(len(pos)):
                total = _pairwise_sum(vol, (pos[j] // K) * K, K)
                share[j] = vol[pos[j]] / total if total > 0 else 0.0
                worst = max(worst, abs(share[j] - target[j]))
            if not worst >= 1e-6:
                break
            for j in range(len(pos)):
                route_alpha[r, pos[j]] += math.log(target[j] / max(share[j], 1e-12))
    return flows


@numba.njit(cache=True, nogil=True)
def offtake_by_capital(  # pragma: no cover - compiled; checked against the reference
    equity: np.ndarray,
    capital_value: np.ndarray,
    influence: np.ndarray,
    contract: np.ndarray,
    alpha: np.ndarray,
    ceiling: float,
) -> np.ndarray:
    """:func:`sim.core.mechanisms.offtake_by_capital_reference` one sector at a time.

    Args:
        equity: ``(R, S, C, P)`` equity stocks.
        capital_value: ``(R, S, C)`` sector capital values.
        influence: ``(R, S, P)`` influence shares.
        contract: ``(R, S, C, B)`` contracted offtake shares.
        alpha: ``(1,)`` or ``(R,)`` award sensitivity.
        ceiling: the most of a sector's output under offtake.

    Returns:
        ``(R, S, C, B)`` offtake shares in force. Sums over ``P`` and ``B`` add in
        numpy's order (:func:`_pairwise_sum`); ``minimum``/``maximum`` keep numpy's NaN
        and tie rules.
    """
    R, S, C, P = equity.shape
    B = contract.shape[3]
    out = contract.copy()
    earned = np.empty(P)
    for r in range(R):
        a = alpha[r if alpha.shape[0] > 1 else 0]
        for s in range(S):
            for c in range(C):
                cv = capital_value[r, s, c]
                for p in range(P):
                    ratio = equity[r, s, c, p] / cv if cv > 0 else 0.0
                    low = ratio if ratio <= 1.0 or math.isnan(ratio) else 1.0  # np.minimum
                    earned[p] = low * (1.0 + a * influence[r, s, p])
                left = ceiling - _pairwise_sum(contract[r, s, c], 0, B)
                room = left if left >= 0.0 or math.isnan(left) else 0.0  # np.maximum
                total = _pairwise_sum(earned, 0, P)
                scale = room / total if total > room else 1.0
                for p in range(P):
                    out[r, s, c, p] += earned[p] * scale
    return out


@numba.njit(cache=True, nogil=True)
def channel_targets(  # pragma: no cover - compiled; checked against the reference
    raw: np.ndarray, weights: np.ndarray, exposure: np.ndarray
) -> np.ndarray:
    """:func:`sim.core.mechanisms.channel_targets_reference` one state at a time.

    ``raw`` is ``(R, S, I, CH)``, ``weights`` ``(1, CH)`` or ``(R, CH)``, ``exposure``
    ``(R, S, CH)``. The sums start from 0 and add in numpy's order (over holders one
    after the other; over the fewer than 8 channels likewise).
    """
    R, S, n_i, CH = raw.shape
    out = np.empty_like(raw)
    total = np.empty(CH)
    w = np.empty(CH)
    for r in range(R):
        wr = weights[r if weights.shape[0] > 1 else 0]
        for s in range(S):
            for ch in range(CH):
                total[ch] = 0.0
            for i in range(n_i):
                for ch in range(CH):
                    total[ch] += raw[r, s, i, ch]
            norm = 0.0
            for ch in range(CH):
                w[ch] = (1.0 if total[ch] > 0 else 0.0) * (wr[ch] * exposure[r, s, ch])
                norm += w[ch]
            for ch in range(CH):
                w[ch] = w[ch] / norm if norm > 0 else 0.0
            for i in range(n_i):
                for ch in range(CH):
                    share = raw[r, s, i, ch] / total[ch] if total[ch] > 0 else 0.0
                    out[r, s, i, ch] = share * w[ch]
    return out


@numba.njit(cache=True, nogil=True)
def sector_commodities(amount: np.ndarray, split: np.ndarray) -> np.ndarray:  # pragma: no cover
    """``np.einsum("rpse,sec->rscp", amount, split)``: products summed over sectors in order."""
    R, P, S, _ = amount.shape
    C = split.shape[2]
    out = np.empty((R, S, C, P))
    for r in range(R):
        for s in range(S):
            for c in range(C):
                for p in range(P):
                    out[r, s, c, p] = _sector_sum(amount, split, r, p, s, c)
    return out


@numba.njit(cache=True, nogil=True)
def _sector_sum(  # pragma: no cover - compiled
    amount: np.ndarray, split: np.ndarray, r: int, p: int, s: int, c: int
) -> float:
    """Commodity ``c``'s part of power ``p``'s money in state ``s`` (sectors added in order)."""
    acc = 0.0
    for e in range(amount.shape[3]):
        acc += amount[r, p, s, e] * split[s, e, c]
    return acc


@intrinsic
def _stream(
    typingctx: object,  # noqa: ARG001 - numba's signature
    out: types.Type,
    r: types.Type,
    t: types.Type,
    j: types.Type,
    value: types.Type,  # noqa: ARG001
) -> tuple[types.Type, Callable] | None:
    """``out[r, t, j] = value`` by a non-temporal store (``out`` 3-D float64, indices in range).

    The value goes to memory past the caches, and its line is not read first.
    """
    if not (isinstance(out, types.Array) and out.ndim == 3 and out.dtype == types.float64):
        return None
    sig = types.void(out, r, t, j, types.float64)

    def codegen(context: Any, builder: ir.IRBuilder, sig: Any, args: Any) -> Any:
        array = context.make_array(sig.args[0])(context, builder, args[0])
        index = [context.cast(builder, args[i], sig.args[i], types.intp) for i in (1, 2, 3)]
        ptr = cgutils.get_item_pointer(
            context, builder, sig.args[0], array, index, wraparound=False, boundscheck=False
        )
        store = builder.store(args[4], ptr)
        store.set_metadata("nontemporal", builder.module.add_metadata([ir.IntType(32)(1)]))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _fence(typingctx: object) -> tuple[types.Type, Callable]:  # noqa: ARG001 - numba's
    """A full memory fence (it also orders the non-temporal stores before it)."""
    sig = types.void()

    def codegen(context: Any, builder: ir.IRBuilder, sig: Any, args: Any) -> Any:  # noqa: ARG001
        builder.fence("seq_cst")
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True, nogil=True)
def gather_columns(  # pragma: no cover - compiled; checked against the reference
    arrays: list,
    plan: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    out: np.ndarray,
    t: int,
) -> None:
    """Write one step's snapshot row into ``out[:, t]`` (``(R, T, F)``) from the state.

    ``out[r, t, j] = arrays[sources[s]][r, offsets[j]] * scales[s]`` for the columns
    ``j`` of run ``s`` (``bounds[s]:bounds[s + 1]``; ``plan`` is ``(bounds, sources,
    scales, offsets)``, a :class:`sim.core.observe.Gather`); a factor of 1.0 copies the
    value (no multiplication, as :meth:`sim.core.observe.Source.read`). What
    :func:`sim.output.raw_step_values` of :func:`sim.core.observe.snapshot` gives, without
    a copy per metric and a ``np.concatenate`` call per replication row and metric.

    Rows go in blocks of :data:`GATHER_ROWS` (a block's source rows stay in cache while
    its runs are read); each row's runs are written in column order by non-temporal
    stores: nothing reads the chunk's values back until the step loop is over, so
    caching them only displaced the state (and a cached store reads the line from
    memory first).

    Raises:
        IndexError: ``t`` or the plan's columns out of ``out``'s range.
    """
    bounds, sources, scales, offsets = plan
    R = out.shape[0]
    t = t + out.shape[1] if t < 0 else t  # as numpy indexes
    if t < 0 or t >= out.shape[1] or bounds[-1] > out.shape[2]:
        raise IndexError("gather_columns: step or columns out of range")
    for r0 in range(0, R, GATHER_ROWS):
        r1 = min(R, r0 + GATHER_ROWS)
        for s in range(len(sources)):
            src = arrays[sources[s]]
            j0, j1, scale = bounds[s], bounds[s + 1], scales[s]
            if scale == 1.0:
                for r in range(r0, r1):
                    for j in range(j0, j1):
                        _stream(out, r, t, j, src[r, offsets[j]])
            else:
                for r in range(r0, r1):
                    for j in range(j0, j1):
                        _stream(out, r, t, j, src[r, offsets[j]] * scale)
    _fence()


# ---- phases: influence, programme
@numba.njit(cache=True, nogil=True, error_model="numpy")  # x / 0 as numpy: inf, nan
def influence_update(  # pragma: no cover - compiled; checked against the reference
    stocks: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    flows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    fixed: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    keep: tuple[float, float, float, float],
    channel: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """:func:`sim.core.phases.update_influence` one replication at a time.

    Args:
        stocks: ``inv`` ``(R, S, P)``, ``debt``, ``dipl``, ``arms`` ``(R, S, I)`` and the
            influence stock ``(R, S, I, CH)``, all updated in place (each element from
            its own old value, as the reference computes its new arrays).
        flows: export and import values ``(R, S, B)``, GDP ``(R, S)`` and the
            remittance scale ``(R, I)`` (``np.power`` stays in numpy).
        fixed: diplomacy and arms renewal ``rate / 4`` ``(S, I)``, bases and alliance
            ties floored at 0 ``(1|R, S, I)``, base remittances ``(S, I)``, others' FDI
            ``(S,)``.
        keep: the quarterly keep factors of investment, diplomacy, arms and debt.
        channel: ``(1|R, CH)`` channel weights, ``(CH,)`` money channels and ``(1|R,)``
            influence decay.

    Returns:
        The new influence share ``(R, S, I)``. Channels in :data:`sim.vocab.CHANNELS`
        order (trade, investment, diplomacy, security, remittances, debt; ``money``
        flags the money channels). Every sum adds in numpy's order, as
        :func:`sim.core.phases.channel_inputs`, :func:`channel_targets` and
        :func:`sim.core.mechanisms.smooth_stock` do: fewer than 8 holders and channels
        (:func:`sim.core.phases._compiled_influence` checks), so in index order, written
        out in the loops (a view or a helper call per state cost more than the sums);
        the others' trade by :func:`_pairwise_sum`.
    """
    inv, debt, dipl, arms, stock = stocks
    exports, imports, gdp, remit_scale = flows
    dipl_add, arms_add, bases, alliance, remit0, inv_others = fixed
    weights, money, decay = channel
    R, S, n_i, CH = stock.shape
    P, B = inv.shape[2], exports.shape[2]
    share = np.empty((R, S, n_i))
    raw = np.empty((n_i, CH))
    trade = np.empty(B)
    w, total = np.empty(CH), np.empty(CH)
    for r in range(R):
        bs = bases[r if bases.shape[0] > 1 else 0]
        al = alliance[r if alliance.shape[0] > 1 else 0]
        rate = decay[r if decay.shape[0] > 1 else 0]
        wr = weights[r if weights.shape[0] > 1 else 0]
        for s in range(S):
            for p in range(P):
                inv[r, s, p] *= keep[0]
            arms_total = 0.0
            for i in range(n_i):
                dipl[r, s, i] = dipl[r, s, i] * keep[1] + dipl_add[s, i]
                arms[r, s, i] = arms[r, s, i] * keep[2] + arms_add[s, i]
                arms_total += arms[r, s, i]
                if i < P:
                    debt[r, s, i] *= keep[3]
            for b in range(B):
                trade[b] = exports[r, s, b] + imports[r, s, b]
            for i in range(n_i):
                raw[i, 0] = trade[i] if i < P else _pairwise_sum(trade, P, B - P)
                raw[i, 1] = inv[r, s, i] if i < P else inv_others[s]
                raw[i, 2] = dipl[r, s, i]
                a_share = arms[r, s, i] / arms_total if arms_total > 0 else 0.0
                raw[i, 3] = (a_share + bs[s, i]) + al[s, i]
                raw[i, 4] = remit0[s, i] * remit_scale[r, i]
                raw[i, 5] = debt[r, s, i]
            # targets: exposure (a money channel's total over GDP, 1 for the index
            # channels), then channel_targets's shares and weights, in its order
            norm = 0.0
            for ch in range(CH):
                acc = 0.0
                for i in range(n_i):
                    acc += raw[i, ch]
                total[ch] = acc
                exposure = acc / gdp[r, s] if money[ch] else 1.0
                w[ch] = (1.0 if acc > 0 else 0.0) * (wr[ch] * exposure)
                norm += w[ch]
            for ch in range(CH):
                w[ch] = w[ch] / norm if norm > 0 else 0.0
            for i in range(n_i):
                acc = 0.0
                for ch in range(CH):
                    target = (raw[i, ch] / total[ch] if total[ch] > 0 else 0.0) * w[ch]
                    x = (1.0 - rate) * stock[r, s, i, ch] + rate * target
                    stock[r, s, i, ch] = x
                    acc += x
                share[r, s, i] = acc
    return share


@numba.njit(cache=True, nogil=True)
def advance_pipeline(  # pragma: no cover - compiled; checked against the reference
    slots: np.ndarray,
    offers: np.ndarray,
    u: np.ndarray,
    completion: np.ndarray,
    due: np.ndarray,
    slot: int,
) -> np.ndarray:
    """:func:`sim.core.phases.advance_projects` one replication at a time.

    Args:
        slots: ``(L, R, P, S, SEC)`` accepted money by due slot, slot-major (the state's
            ``pipeline`` storage, updated in place): a step reads and writes a few
            contiguous slots rather than a few rows of every replication's block.
        offers: ``(R, P, S, SEC)`` accepted offers (added to their slot, then emptied).
        u: ``(R, P, S, SEC)`` completion uniforms (any layout: the step's slice of the
            noise is read where it is).
        completion: ``(P,)`` completion probabilities.
        due: ``(P,)`` each power's due slot.
        slot: this step's slot (its cohorts mature).

    Returns:
        ``(R, P, S, SEC)`` money of the cohorts that completed.
    """
    _, R, P, S, E = slots.shape
    out = np.empty((R, P, S, E))
    maturing = slots[slot]  # taken once: the loops index it from 0 (no negative-index check)
    for r in range(R):
        for p in range(P):
            d = due[p]
            for s in range(S):
                for e in range(E):
                    slots[d, r, p, s, e] += offers[r, p, s, e]
                    offers[r, p, s, e] = 0.0
        for p in range(P):
            c = completion[p]
            for s in range(S):
                for e in range(E):
                    money = maturing[r, p, s, e]
                    out[r, p, s, e] = money if u[r, p, s, e] < c else 0.0
                    maturing[r, p, s, e] = 0.0
    return out


@numba.njit(cache=True, nogil=True)
def add_sector_sums(  # pragma: no cover - compiled; checked against the reference
    into: np.ndarray, amount: np.ndarray, weight: np.ndarray
) -> None:
    """``into[:, :, :P] += (amount.sum(axis=3) * weight[None, :, None]).transpose(0, 2, 1)``.

    ``into`` is ``(R, S, >=P)`` (updated in place), ``amount`` ``(R, P, S, SEC)``,
    ``weight`` ``(P,)`` (ones: a plain sum, ``x * 1.0`` being ``x``); the sum over
    sectors adds in numpy's order (in index order for fewer than 8 sectors, else
    :func:`_pairwise_sum`). The loops index the arrays themselves: passing a row to a
    compiled helper costs a reference count update per call, which took most of the time.
    """
    R, P, S, E = amount.shape
    for r in range(R):
        am, row = amount[r], into[r]
        for s in range(S):
            for p in range(P):
                if E < 8:
                    acc = 0.0
                    for e in range(E):
                        acc += am[p, s, e]
                else:
                    acc = _pairwise_sum(am[p, s], 0, E)
                row[s, p] += acc * weight[p]


@numba.njit(cache=True, nogil=True, error_model="numpy")  # x / 0 as numpy: inf, nan
def programme_effects(  # pragma: no cover - compiled; checked against the reference
    amount: np.ndarray,
    split: tuple[np.ndarray, np.ndarray, np.ndarray],
    corridor: tuple[np.ndarray, int, float, float],
    stocks: tuple[np.ndarray, np.ndarray, np.ndarray],
    routes: tuple[np.ndarray, np.ndarray],
) -> None:
    """:func:`sim.core.phases.complete_programme`, one replication at a time.

    Args:
        amount: ``(R, P, S, SEC)`` completed money (fewer than 8 powers, states and
            sectors: numpy adds their sums in index order).
        split: ``(S, SEC, C)`` sector split, ``(C,)`` resource flags (1.0 or 0.0) and
            ``(C,)`` capital intensities.
        corridor: ``(P,)`` each power's corridor route (-1: none), the transport sector's
            index, and the route capital and cost intensities.
        stocks: ``(R, S, P)`` investment stock, ``(R, S, C, P)`` equity and ``(R, S, C)``
            capacity (updated in place).
        routes: ``(R, K, C)`` route capacities and ``(R, K)`` costs (updated in place).

    The stock gains ``sum_e amount[r, p, s, e]``; the commodity amounts
    ``x[r, s, c, p] = sum_e amount[r, p, s, e] split[s, e, c]`` are
    :func:`sector_commodities`'s; equity gains ``x * resource[c]`` and capacity
    ``(sum_p x) * intensity[c]``; a corridor's capacity is multiplied by
    ``1 + route_capital * spent`` and its cost divided by ``1 + route_cost * spent``,
    ``spent`` being the power's transport money summed over states. Every sum in index
    order, as numpy adds fewer than 8 terms. The sums are written out here (a call to a
    compiled helper with array arguments updates reference counts, which made the
    kernel several times slower); for the model's four sectors
    (:data:`sim.vocab.SECTORS`) the commodity sums are unrolled, with the state's
    split factors loaded once per commodity (the loop over sectors took most of the
    kernel's time in its own overhead; the sparse split skipped was no faster).
    """
    R, P, S, E = amount.shape
    sector_split, resource, intensity = split
    route, transport, route_capital, route_cost_intensity = corridor
    inv, equity, cap = stocks
    route_cap, route_cost = routes
    C = sector_split.shape[2]
    for r in range(R):
        am, iv, eq, cp = amount[r], inv[r], equity[r], cap[r]
        for s in range(S):
            for p in range(P):
                acc = 0.0
                for e in range(E):
                    acc += am[p, s, e]
                iv[s, p] += acc
            for c in range(C):
                total = 0.0
                if E == 4:  # the model's four sectors: the same sum, written out
                    f0, f1 = sector_split[s, 0, c], sector_split[s, 1, c]
                    f2, f3 = sector_split[s, 2, c], sector_split[s, 3, c]
                    for p in range(P):
                        acc = 0.0
                        acc += am[p, s, 0] * f0
                        acc += am[p, s, 1] * f1
                        acc += am[p, s, 2] * f2
                        acc += am[p, s, 3] * f3
                        eq[s, c, p] += acc * resource[c]
                        total += acc
                else:
                    for p in range(P):
                        acc = 0.0
                        for e in range(E):
                            acc += am[p, s, e] * sector_split[s, e, c]
                        eq[s, c, p] += acc * resource[c]
                        total += acc
                cp[s, c] += total * intensity[c]
        for p in range(P):
            k = route[p]
            if k < 0:
                continue
            spent = 0.0
            for s in range(S):
                spent += am[p, s, transport]
            gain = 1.0 + route_capital * spent
            for c in range(route_cap.shape[2]):
                route_cap[r, k, c] *= gain
            route_cost[r, k] /= 1.0 + route_cost_intensity * spent


@numba.njit(cache=True, nogil=True)
def ramp_ceiling(  # pragma: no cover - compiled; checked against the reference
    flow: np.ndarray, established: np.ndarray, capacity: np.ndarray, ramp: np.ndarray
) -> np.ndarray:
    """:func:`sim.core.phases.ramp_limit`: ``max(load, established) + ramp * capacity``.

    ``flow`` is last quarter's ``(R, S, C, K)`` route flow (its sum over states is the
    load, added in index order from 0 as numpy does for fewer than 8 states; the states
    are the outer loop, so that the flow is read in order),
    ``established`` ``(1|R, K, C)``, ``capacity`` ``(R, K, C)``, ``ramp`` ``(1|R,)``.
    ``np.maximum``'s rules: NaN wins, a tie gives the second argument.
    """
    R, S, C, K = flow.shape
    n = C * K  # a state's (commodity, route) flows, flat: the sum over states vectorises
    by_state = flow.reshape((R, S, n))
    out = np.empty((R, K, C))
    load = np.empty(n)
    for r in range(R):
        g = ramp[r if ramp.shape[0] > 1 else 0]
        est = r if established.shape[0] > 1 else 0
        for i in range(n):
            load[i] = 0.0
        for s in range(S):
            for i in range(n):
                load[i] += by_state[r, s, i]
        for k in range(K):
            for c in range(C):
                x, e = load[c * K + k], established[est, k, c]
                top = x if x > e or math.isnan(x) else e
                out[r, k, c] = top + g * capacity[r, k, c]
    return out


# ---- phases: production, trade totals, economy (ODD 7.10-7.14)


@numba.njit(cache=True, nogil=True)
def _maximum(a: float, b: float) -> float:  # pragma: no cover - compiled
    """``np.maximum(a, b)``: NaN if either is NaN, a tie gives ``b`` (as numpy's loops do)."""
    return a if a > b or math.isnan(a) else b


@numba.njit(cache=True, nogil=True)
def _minimum(a: float, b: float) -> float:  # pragma: no cover - compiled
    """``np.minimum(a, b)``: NaN if either is NaN, a tie gives ``b`` (as numpy's loops do)."""
    return a if a < b or math.isnan(a) else b


@numba.njit(cache=True, nogil=True)
def route_capacity(  # pragma: no cover - compiled; checked against the reference
    route_cap: np.ndarray, avail: np.ndarray, ceiling: np.ndarray
) -> np.ndarray:
    """:func:`sim.core.phases.effective_capacity`: ``min(route_cap x avail, ceiling)``.

    ``route_cap`` and ``ceiling`` are ``(R, K, C)`` (``ceiling`` ``(0, 0, 0)``: no
    limit), ``avail`` ``(R, K)``; where ``avail`` is not positive (or NaN) the capacity
    is 0. ``np.minimum``'s rules: NaN wins, a tie gives the ceiling.
    """
    R, K, C = route_cap.shape
    limit = ceiling.size > 0
    out = np.empty((R, K, C))
    for r in range(R):
        for k in range(K):
            a = avail[r, k]
            for c in range(C):
                x = route_cap[r, k, c] * a if a > 0.0 else 0.0
                out[r, k, c] = _minimum(x, ceiling[r, k, c]) if limit else x
    return out


@numba.njit(cache=True, nogil=True)
def output_within_reserves(  # pragma: no cover - compiled; checked against the reference
    cap: np.ndarray,
    productivity: np.ndarray,
    reserves: np.ndarray,
    path: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """:func:`sim.core.phases.planned_output`: ``min(cap * productivity, 4 * reserves)``.

    ``cap``, ``productivity`` and ``reserves`` are ``(R, S, C)``; ``path`` is an
    ``(S, C)`` flag of the production paths and their ``(S, C)`` values this step, which
    replace ``cap * productivity``. Reserves that are not finite set no limit.
    """
    given, value = path
    R, S, C = cap.shape
    out = np.empty((R, S, C))
    for r in range(R):
        for s in range(S):
            for c in range(C):
                x = value[s, c] if given[s, c] else cap[r, s, c] * productivity[r, s, c]
                left = reserves[r, s, c]
                out[r, s, c] = _minimum(x, left * 4.0 if np.isfinite(left) else np.inf)
    return out


@numba.njit(cache=True, nogil=True)
def settle_production(  # pragma: no cover - compiled; checked against the reference
    output: np.ndarray,
    shut_in: np.ndarray,
    reserves: np.ndarray,
    cap: np.ndarray,
    keep: np.ndarray,
    production: np.ndarray,
) -> None:
    """The end of :func:`sim.core.phases.produce_and_trade`: production, depletion, decline.

    ``production = max(output - shut_in, 0)`` (written into ``production``); finite
    ``reserves`` fall by a quarter's production (to at least 0, in place); ``cap``
    ``(R, S, C)`` is multiplied by ``keep`` ``(S, C)``, the quarterly survival of
    capacity (in place).
    """
    R, S, C = output.shape
    for r in range(R):
        for s in range(S):
            for c in range(C):
                q = _maximum(output[r, s, c] - shut_in[r, s, c], 0.0)
                production[r, s, c] = q
                x = reserves[r, s, c]
                reserves[r, s, c] = _maximum(x - q / 4.0, 0.0) if np.isfinite(x) else x
                cap[r, s, c] *= keep[s, c]


@numba.njit(cache=True, nogil=True)
def trade_totals(  # pragma: no cover - compiled; checked against the reference
    flows: np.ndarray,
    unit_price: np.ndarray,
    route_cost: np.ndarray,
    index: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    out: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """Volumes, values, netback revenues and route flows of ``(R, O)`` export flows.

    What :func:`sim.core.phases.produce_and_trade` sums with
    :func:`sim.core.mechanisms.segment_sum` (``np.bincount``): each group adds its
    options' terms in option order, starting from 0.

    Args:
        flows: ``(R, O)`` flows.
        unit_price: ``(R, C)`` price times value factor.
        route_cost: ``(R, K)`` route cost shares.
        index: each option's commodity and route, and its group for volume (state,
            commodity, buyer), value (state, buyer), revenue (state; options sorted by
            it) and route flow (state, commodity, route).
        out: the ``(R, n)`` volume (flow), value (``flow * unit price``), revenue
            (``value * (1 - route cost)``) and route flow sums, overwritten (each row is
            zeroed just before its sums, so that it is brought into cache once: the
            state's arrays of the last step are reused, without a fresh ``np.zeros``).

    An option without flow adds ``+0.0`` or ``-0.0`` to each sum, which leaves it as it
    was (a sum that starts from ``+0.0`` never becomes ``-0.0``), so it is skipped where
    prices and route costs are finite (where ``0 * price`` could be NaN it is not).
    Revenue and volume, whose options come in runs of one state and of one (state,
    commodity, buyer), are summed in a register over each run (written back when the
    run ends; a group met again is read back): adding each term to memory waited for
    the previous store. Replications go in pairs, so that the two chains of additions
    overlap (an odd last one is paired with itself, its twin's sums going to scratch);
    an option is skipped only where both have no flow, and as skipping is exact, each
    replication's sums are the same in any batch.
    """
    c, k, sub, sb, st, sck = index
    volume, value, revenue, route = out
    R, n_opt = flows.shape
    sizes = (volume.shape[1], value.shape[1], revenue.shape[1], route.shape[1])
    scratch = (np.empty(sizes[0]), np.empty(sizes[1]), np.empty(sizes[2]), np.empty(sizes[3]))
    for r in range(0, R, 2):
        q = min(r + 1, R - 1)
        fa, fb, pa, pb = flows[r], flows[q], unit_price[r], unit_price[q]
        ca, cb = route_cost[r], route_cost[q]
        vol_a, val_a, rev_a, rte_a = volume[r], value[r], revenue[r], route[r]
        vol_b, val_b, rev_b, rte_b = scratch
        if q > r:
            vol_b, val_b, rev_b, rte_b = volume[q], value[q], revenue[q], route[q]
        for x in (vol_a, val_a, rev_a, rte_a, vol_b, val_b, rev_b, rte_b):
            x[:] = 0.0
        if n_opt == 0:
            continue
        finite = True
        for j in range(pa.shape[0]):
            finite &= np.isfinite(pa[j]) & np.isfinite(pb[j])
        for j in range(ca.shape[0]):
            finite &= np.isfinite(ca[j]) & np.isfinite(cb[j])
        s_run, s_a, s_b = st[0], 0.0, 0.0  # the open runs and their sums so far
        b_run, b_a, b_b = sub[0], 0.0, 0.0
        for o in range(n_opt):
            f_a, f_b = fa[o], fb[o]
            if f_a == 0.0 and f_b == 0.0 and finite:
                continue
            if st[o] != s_run:
                rev_a[s_run] = s_a
                rev_b[s_run] = s_b
                s_run = st[o]
                s_a, s_b = rev_a[s_run], rev_b[s_run]
            if sub[o] != b_run:
                vol_a[b_run] = b_a
                vol_b[b_run] = b_b
                b_run = sub[o]
                b_a, b_b = vol_a[b_run], vol_b[b_run]
            co, ko, i, j = c[o], k[o], sb[o], sck[o]
            v_a, v_b = f_a * pa[co], f_b * pb[co]
            b_a += f_a
            b_b += f_b
            val_a[i] += v_a
            val_b[i] += v_b
            s_a += v_a * (1.0 - ca[ko])
            s_b += v_b * (1.0 - cb[ko])
            rte_a[j] += f_a
            rte_b[j] += f_b
        rev_a[s_run], rev_b[s_run] = s_a, s_b
        vol_a[b_run], vol_b[b_run] = b_a, b_b


@numba.njit(cache=True, nogil=True, error_model="numpy")  # x / 0 as numpy: inf, nan
def economy_inputs(  # pragma: no cover - compiled; checked against the reference
    production: np.ndarray,
    price: np.ndarray,
    goods: tuple[np.ndarray, np.ndarray],
    gdp_terms: tuple[float, float, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    reexport: tuple[np.ndarray, np.ndarray, np.ndarray],
    utility: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`sim.core.phases.update_economy` up to the import logit's ``exp``.

    Args:
        production: ``(R, S, C)`` output.
        price: ``(R, C)`` prices.
        goods: ``(C,)`` value factors and resource flags (1.0 or 0.0).
        gdp_terms: the value-added share and the revenue multiplier, and ``(S,)`` base
            value added, base GDP, non-resource GDP before the spillover (base times
            trend) and import propensity.
        reexport: ``(S, B)`` re-export shares of the bill, ``(S,)`` the share kept
            (membership loss, clipped) and ``(S,)`` one less the re-export shares.
        utility: the import constants ``(1|R, S, B)``, partner terms ``(R, S, B)``,
            customs-union terms ``(1|R, S, B)``, sanction penalties ``(B,)`` and supplier
            mass terms ``(1|R, B)``.

    Returns:
        GDP ``(R, S)``, re-export imports ``(R, S, B)``, ordinary imports ``(R, S)`` and
        the logit's utilities less their maximum ``(R, S, B)``
        (:func:`sim.core.mechanisms.masked_softmax` before ``exp``, which stays in numpy).
        In the numpy branch's order: value added
        ``share * sum_c (q * (p * v)) * resource`` (in index order, fewer than 8
        commodities), ``gdp = nr * max(1 + m (va - va0) / gdp0, 0.1) + va``, the bill
        ``propensity * gdp``, re-exports ``bill * share * keep``; the utility
        ``(constant + ((partner + union) + penalty)) + mass``; its maximum NaN if any is.
    """
    value_factor, resource = goods
    va_share, multiplier, va0, gdp0, non_resource, propensity = gdp_terms
    share, keep, ordinary = reexport
    alpha, partner, union, penalty, mass = utility
    R, S, C = production.shape
    B = share.shape[1]
    gdp, imports = np.empty((R, S)), np.empty((R, S))
    reexp, u = np.empty((R, S, B)), np.empty((R, S, B))
    unit = np.empty(C)
    for r in range(R):
        a = alpha[r if alpha.shape[0] > 1 else 0]
        un = union[r if union.shape[0] > 1 else 0]
        ms = mass[r if mass.shape[0] > 1 else 0]
        for c in range(C):
            unit[c] = price[r, c] * value_factor[c]
        for s in range(S):
            va = 0.0
            for c in range(C):
                va += (production[r, s, c] * unit[c]) * resource[c]
            va = va * va_share
            spill = 1.0 + multiplier * (va - va0[s]) / gdp0[s]
            g = non_resource[s] * _maximum(spill, 0.1) + va
            gdp[r, s] = g
            bill = propensity[s] * g
            imports[r, s] = bill * ordinary[s]
            us = u[r, s]
            for b in range(B):
                reexp[r, s, b] = bill * share[s, b] * keep[s]
                us[b] = (a[s, b] + ((partner[r, s, b] + un[s, b]) + penalty[b])) + ms[b]
            top = us[0]
            for b in range(1, B):
                if us[b] > top or math.isnan(us[b]):
                    top = us[b]
            for b in range(B):
                us[b] = us[b] - top
    return gdp, reexp, imports, u


@numba.njit(cache=True, nogil=True, error_model="numpy")  # x / 0 as numpy: inf, nan
def import_values(  # pragma: no cover - compiled; checked against the reference
    w: np.ndarray,
    imports: np.ndarray,
    reexp: np.ndarray,
    exports: np.ndarray,
    previous: tuple[np.ndarray, np.ndarray],
    rate: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The rest of :func:`sim.core.phases.update_economy` after the logit's ``exp``.

    Args:
        w: ``(R, S, B)`` the logit's weights (``exp`` of :func:`economy_inputs`'s
            utilities).
        imports: ``(R, S)`` ordinary imports.
        reexp: ``(R, S, B)`` re-export imports.
        exports: ``(R, S, B)`` export values.
        previous: last quarter's imports and re-export imports ``(R, S, B)``.
        rate: the import adjustment (below 1: shares move toward the logit's from last
            quarter's partner shares of ordinary imports, :func:`partial_adjustment`).

    Returns:
        ``(R, S, B)`` imports by partner (ordinary share times ordinary imports plus
        re-exports) and trade shares (exports plus imports over their total; 0 where it
        is not positive). Shares are the weights over their total (0 where it is not
        positive); every sum over partners in index order (fewer than 8 partners).
    """
    R, S, B = w.shape
    prev_imports, prev_reexp = previous
    adjust = rate < 1.0
    values, trade = np.empty((R, S, B)), np.empty((R, S, B))
    shares, old = np.empty(B), np.empty(B)
    for r in range(R):
        for s in range(S):
            total = 0.0
            for b in range(B):
                total += w[r, s, b]
            for b in range(B):
                shares[b] = w[r, s, b] / total if total > 0 else 0.0
            if adjust:
                total = 0.0
                for b in range(B):
                    old[b] = prev_imports[r, s, b] - prev_reexp[r, s, b]
                    total += old[b]
                for b in range(B):
                    before = old[b] / total if total > 0 else shares[b]
                    shares[b] = (1.0 - rate) * before + rate * shares[b]
            total = 0.0
            for b in range(B):
                x = shares[b] * imports[r, s] + reexp[r, s, b]
                values[r, s, b] = x
                trade[r, s, b] = exports[r, s, b] + x
                total += trade[r, s, b]
            for b in range(B):
                trade[r, s, b] = trade[r, s, b] / total if total > 0 else 0.0
    return values, trade


# ---- the agents' decision rules (sim.core.policies): allocation, learning, screening, trade
# Each agent calls its rule on its own index. No loop takes a view (a view per row or
# element costs a reference count) and the small helpers are inlined. Flat indices are
# avoided where a loop should vectorise (numba wraps a possibly negative index, and LLVM
# then scatters the stores).
#: Replications :func:`learned_bias` takes at a time (its scratch: a few kB).
LEARN_BLOCK = 64


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _max_nan(a: np.ndarray, start: int, n: int) -> float:  # pragma: no cover - compiled
    """``a[start:start + n].max()`` as numpy takes it: NaN if any element is NaN.

    Without branches on the data (a mispredicted branch per element cost more than the
    rest of :func:`allocation_logits`); a tie of ``-0.0`` and ``0.0`` may keep either,
    which no caller can tell apart (they subtract it or divide by it).
    """
    top = a[start]
    nan = math.isnan(top)
    for i in range(start + 1, start + n):
        x = a[i]
        nan = nan | math.isnan(x)
        top = x if x > top else top
    return np.nan if nan else top


@numba.njit(cache=True, nogil=True, error_model="numpy")
def allocation_logits(  # pragma: no cover - compiled; checked against the reference
    influence: np.ndarray,
    gdp: np.ndarray,
    learned: np.ndarray,
    static: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    p: int,
    weights: tuple[float, float],
) -> np.ndarray:
    """Power ``p``'s softmax exponents of :func:`sim.core.policies.allocation_reference`.

    ``tau * score`` less its maximum over ``(state, sector)`` (the free part) and over
    sectors (the part aimed at a state), the score as
    :func:`sim.core.policies.allocation_score` sums it, term by term in its
    order; the caller takes ``np.exp`` of both at once (numpy's, as the reference does).
    ``gdp ** -1/2`` is taken for all replications in one pass (it vectorises); with
    four sectors (the model's) each state's options are four scalars, their maximum a
    tree (exact in any order, NaN tracked on the side as numpy's ``max`` propagates
    it) and the free maximum the states' maximum; other sector counts loop.

    Args:
        influence: ``(R, S, I)`` influence shares.
        gdp: ``(R, S)`` GDP.
        learned: ``(R, P, S, SEC)`` learned biases.
        static: the power's priorities ``(3,)``, resource scores ``(S, SEC)``, normalised
            sector returns ``(SEC,)`` and sector bias ``(SEC,)``.
        p: the power.
        weights: ``behaviour.learned_weight`` and ``behaviour.strategy_temperature``.

    Returns:
        ``(2, R, S, SEC)``: the exponents over ``(state, sector)``, then over sectors.
    """
    pr, res, ret, bias = static
    lw, temp = weights
    p0, p1, p2 = pr[0], pr[1], pr[2]  # scalars, so that the loops need not reload them
    R, S = gdp.shape
    SEC = res.shape[1]
    n = S * SEC  # the (state, sector) options, flat
    out = np.empty((2, R, n))
    bias_now = learned.reshape((R, learned.shape[1], n))
    resource = np.empty(n)
    for s in range(S):
        for e in range(SEC):
            resource[s * SEC + e] = p1 * res[s, e]
    flat_gdp = gdp.reshape(R * S)
    lev = np.empty(R * S)
    for j in range(R * S):
        lev[j] = 1.0 / math.sqrt(flat_gdp[j])
    for r in range(R):
        top = _max_nan(lev, r * S, S)
        free_top, free_nan = -np.inf, False
        for s in range(S):
            share = influence[r, s, p]
            term = p0 * ((1.0 - share) * (lev[r * S + s] / top))
            keep = 1.0 - 0.5 * share
            j = s * SEC
            if SEC == 4:
                x0 = term + resource[j]
                x1 = term + resource[j + 1]
                x2 = term + resource[j + 2]
                x3 = term + resource[j + 3]
                x0 = ((x0 + p2 * (keep * ret[0])) + bias[0]) + lw * bias_now[r, p, j]
                x1 = ((x1 + p2 * (keep * ret[1])) + bias[1]) + lw * bias_now[r, p, j + 1]
                x2 = ((x2 + p2 * (keep * ret[2])) + bias[2]) + lw * bias_now[r, p, j + 2]
                x3 = ((x3 + p2 * (keep * ret[3])) + bias[3]) + lw * bias_now[r, p, j + 3]
                x0, x1, x2, x3 = temp * x0, temp * x1, temp * x2, temp * x3
                out[0, r, j], out[0, r, j + 1], out[0, r, j + 2], out[0, r, j + 3] = x0, x1, x2, x3
                low = x1 if x1 > x0 else x0
                high = x3 if x3 > x2 else x2
                high = high if high > low else low
                nan = math.isnan(x0) | math.isnan(x1) | math.isnan(x2) | math.isnan(x3)
                shift = np.nan if nan else high
                out[1, r, j], out[1, r, j + 1] = x0 - shift, x1 - shift
                out[1, r, j + 2], out[1, r, j + 3] = x2 - shift, x3 - shift
            else:
                high, nan = -np.inf, False
                for e in range(SEC):
                    x = term + resource[j + e]
                    x = ((x + p2 * (keep * ret[e])) + bias[e]) + lw * bias_now[r, p, j + e]
                    x = temp * x
                    out[0, r, j + e] = x
                    nan = nan | math.isnan(x)
                    high = x if x > high else high
                shift = np.nan if nan else high
                for e in range(SEC):
                    out[1, r, j + e] = out[0, r, j + e] - shift
            free_nan = free_nan | nan
            free_top = high if high > free_top else free_top
        shift = np.nan if free_nan else free_top
        for i in range(n):
            out[0, r, i] = out[0, r, i] - shift
    return out.reshape((2, R, S, SEC))


@numba.njit(cache=True, nogil=True, inline="always")
def _pairwise_sum_at(  # pragma: no cover - compiled
    a: np.ndarray, k: int, r: int, start: int, n: int
) -> float:
    """``a[k, r, start:start + n].sum()`` of a 3-d array, as :func:`_pairwise_sum` adds.

    Indexing the array itself, not a flat copy: the offsets stay provably non-negative
    (a flat index needs numpy's negative-index wrap, which kept a loop from vectorising).
    """
    if n < 8:
        res = 0.0
        for i in range(n):  # from 0: an index numba need not wrap
            res += a[k, r, start + i]
        return res
    r0, r1, r2, r3 = a[k, r, start], a[k, r, start + 1], a[k, r, start + 2], a[k, r, start + 3]
    r4, r5, r6, r7 = a[k, r, start + 4], a[k, r, start + 5], a[k, r, start + 6], a[k, r, start + 7]
    i = 8
    while i < n - (n % 8):
        j = start + i
        r0, r1 = r0 + a[k, r, j], r1 + a[k, r, j + 1]
        r2, r3 = r2 + a[k, r, j + 2], r3 + a[k, r, j + 3]
        r4, r5 = r4 + a[k, r, j + 4], r5 + a[k, r, j + 5]
        r6, r7 = r6 + a[k, r, j + 6], r7 + a[k, r, j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[k, r, start + i]
        i += 1
    return res


@numba.njit(cache=True, nogil=True, error_model="numpy")
def allocation_offers(  # pragma: no cover - compiled; checked against the reference
    weights: np.ndarray,
    aim: tuple[float, np.ndarray, np.ndarray],
    budget: np.ndarray,
    p: int,
    into: tuple[np.ndarray, int],
) -> None:
    """Power ``p``'s offers from the exponentials of :func:`allocation_logits`.

    ``budget (rest w_free + aim_state w_within + aim_sector)`` with each softmax
    normalised by its sum in numpy's order (:func:`_pairwise_sum` over the ``S * SEC`` and the
    ``SEC`` elements). ``weights`` is ``(2, R, S, SEC)``: the free and the within-state
    exponentials; ``aim`` is the unaimed share ``rest``, ``aim_state (S,)`` and
    ``aim_sector (S, SEC)``; ``budget`` is ``(R, P)``. Writes ``out[:, q]`` of
    ``into = (out, q)``, ``out`` ``(R, Q, S, SEC)`` (the offers and ``p``, or a new
    ``(R, 1, S, SEC)`` and 0). The sums read the exponentials where they are and the
    offers loop over the flat options (it vectorises).
    """
    rest, aim_state, aim_sector = aim
    out, q = into
    _, R, S, SEC = weights.shape
    n = S * SEC  # the (state, sector) options, flat: the element loop vectorises
    exps = weights.reshape((2, R, n))
    offers = out.reshape((R, out.shape[1], n))
    state_share, sector_share = np.empty(n), np.empty(n)
    for s in range(S):
        for e in range(SEC):
            state_share[s * SEC + e] = aim_state[s]
            sector_share[s * SEC + e] = aim_sector[s, e]
    within = np.empty(n)
    for r in range(R):
        total = _pairwise_sum_at(exps, 0, r, 0, n)
        for s in range(S):
            state_total = _pairwise_sum_at(exps, 1, r, s * SEC, SEC)
            for e in range(SEC):
                within[s * SEC + e] = state_total
        b = budget[r, p]
        for i in range(n):
            w = rest * (exps[0, r, i] / total) + state_share[i] * (exps[1, r, i] / within[i])
            offers[r, q, i] = b * (w + sector_share[i])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def learned_bias(  # pragma: no cover - compiled; checked against the reference
    influence: np.ndarray,
    previous: np.ndarray,
    learned: np.ndarray,
    p: int,
    rate: float,
    into: tuple[np.ndarray, int],
) -> None:
    """:func:`sim.core.policies.learned_bias_reference`, :data:`LEARN_BLOCK` replications at a time.

    ``influence``/``previous`` are ``(R, S, I)``, ``learned`` ``(R, P, S, SEC)``; the
    mean over states sums in numpy's order (:func:`_pairwise_sum`: one after another
    below 8 states), then divides. The gains, their mean, spread and scale are kept
    state-major for a block of replications, so that each step runs across the block
    (it vectorises). Writes ``out[:, q]`` of ``into = (out, q)``, ``out``
    ``(R, Q, S, SEC)``: ``learned`` itself and ``p`` (each element is read before it is
    written), or a new ``(R, 1, S, SEC)`` and 0.
    """
    out, q = into
    R, S = influence.shape[:2]
    SEC = learned.shape[3]
    n = S * SEC
    now = learned.reshape((R, learned.shape[1], n))
    new = out.reshape((R, out.shape[1], n))
    keep = 1.0 - rate
    if S >= 8:  # numpy's sum of 8 or more is pairwise: one replication at a time
        rel, spread = np.empty(S), np.empty(S)
        for r in range(R):
            for s in range(S):
                rel[s] = influence[r, s, p] - previous[r, s, p]
            mean = _pairwise_sum(rel, 0, S) / S
            for s in range(S):
                rel[s] = rel[s] - mean
            for s in range(S):
                spread[s] = abs(rel[s])
            scale = _max_nan(spread, 0, S)
            for s in range(S):
                g = rate * (rel[s] / scale if scale > 0 else 0.0)
                for e in range(SEC):
                    new[r, q, s * SEC + e] = keep * now[r, p, s * SEC + e] + g
        return
    B = LEARN_BLOCK
    gain = np.zeros((S, B))
    mean, scale, nan = np.zeros(B), np.zeros(B), np.zeros(B)
    for r0 in range(0, R, B):
        m = min(B, R - r0)  # the last block's other lanes keep the block before's numbers
        for s in range(S):
            for k in range(m):
                gain[s, k] = influence[r0 + k, s, p] - previous[r0 + k, s, p]
        for k in range(B):
            mean[k] = 0.0
        for s in range(S):
            for k in range(B):
                mean[k] += gain[s, k]
        for k in range(B):
            mean[k] = mean[k] / S
        for s in range(S):
            for k in range(B):
                gain[s, k] = gain[s, k] - mean[k]
        for k in range(B):  # _max_nan of the spread, across the block
            x = abs(gain[0, k])
            scale[k] = x
            nan[k] = 1.0 if math.isnan(x) else 0.0
        for s in range(1, S):
            for k in range(B):
                x = abs(gain[s, k])
                nan[k] = 1.0 if math.isnan(x) else nan[k]
                top = scale[k]
                scale[k] = x if x > top else top
        for k in range(B):
            scale[k] = np.nan if nan[k] != 0.0 else scale[k]
        for s in range(S):
            for k in range(B):
                x = scale[k]
                gain[s, k] = rate * (gain[s, k] / x if x > 0 else 0.0)
        for k in range(m):
            r = r0 + k
            for s in range(S):
                g = gain[s, k]
                for e in range(SEC):
                    new[r, q, s * SEC + e] = keep * now[r, p, s * SEC + e] + g


@numba.njit(cache=True, nogil=True, error_model="numpy")
def acceptance_exponent(  # pragma: no cover - compiled; checked against the reference
    influence: np.ndarray,
    s: int,
    n_powers: int,
    hedging: np.ndarray,
    threshold: float,
    favour: np.ndarray,
) -> np.ndarray:
    """``10 h (I - theta) - alpha I`` of :func:`sim.core.mechanisms.acceptance` for state ``s``.

    ``influence`` is ``(R, S, I)``; ``hedging`` and ``favour`` are ``(1,)`` or ``(R,)``.
    Returns ``(R, P)``; the caller takes ``1 / (1 + np.exp(.))`` (numpy's ``exp``).
    """
    R = influence.shape[0]
    out = np.empty((R, n_powers))
    for r in range(R):
        h = 10.0 * hedging[r if hedging.shape[0] > 1 else 0]
        a = favour[r if favour.shape[0] > 1 else 0]
        for q in range(n_powers):
            share = influence[r, s, q]
            out[r, q] = h * (share - threshold) - a * share
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def trade_preferences(  # pragma: no cover - compiled; checked against the reference
    influence: np.ndarray,
    trade_share: np.ndarray,
    s: int,
    n_powers: int,
    sensitivity: np.ndarray,
    hedging: np.ndarray,
    into: tuple[np.ndarray, int],
) -> None:
    """:func:`sim.core.policies.trade_preferences_reference` of state ``s``.

    ``influence`` is ``(R, S, I)`` (the others' share at ``I = n_powers``),
    ``trade_share`` ``(R, S, B)``; ``sensitivity`` and ``hedging`` ``(1,)`` or ``(R,)``.
    Writes ``out[:, q]`` of ``into = (out, q)``, ``out`` ``(R, Q, B)`` (the partner terms
    and ``s``, or a new ``(R, 1, B)`` and 0).
    """
    out, q = into
    R, _, B = trade_share.shape
    for r in range(R):
        a = sensitivity[r if sensitivity.shape[0] > 1 else 0]
        h = 2.0 * hedging[r if hedging.shape[0] > 1 else 0]
        for b in range(B):
            align = influence[r, s, b if b < n_powers else n_powers]
            out[r, q, b] = a * align - h * trade_share[r, s, b]


# ---- the ensemble summary's order statistics (sim.engine.store.summarise)
#: Columns :func:`order_statistics` copies at a time (128 x 1,000 replications: 1 MB).
SELECT_COLUMNS = 128
#: Buckets of the radix pass: ``2 ** SELECT_BITS``.
SELECT_BITS = 9
#: Buckets summed at a time while looking for the bucket of a rank.
SELECT_CHUNK = 16
#: Candidates sorted by insertion at most; more are narrowed down by buckets again.
SELECT_SMALL = 32
_SIGN = np.uint64(1 << 63)
_ONES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
_KEY_NEG_INF = np.uint64(0x000F_FFFF_FFFF_FFFF)  # the key of -inf; smaller keys are NaN
_KEY_POS_INF = np.uint64(0xFFF0_0000_0000_0000)  # the key of +inf; larger keys are NaN
_NAN_BITS = np.uint64(0x7FF8_0000_0000_0000)  # np.nan


def _transpose_masks() -> list[tuple[int, list[int], list[int]]]:
    """Shuffle masks of an 8 x 8 transpose: three rounds of pairs of rows.

    Round ``b`` (4, 2, 1) pairs rows ``p`` and ``p + b`` (``p & b == 0``) and swaps their
    off-diagonal ``b x b`` blocks: row ``p`` keeps its elements ``j`` with ``j & b == 0``
    and takes row ``p + b``'s ``j - b`` for the others (``lo``), row ``p + b`` the
    reverse (``hi``); indices as ``shufflevector``'s (8 and up: the second row).
    """
    rounds = []
    for b in (4, 2, 1):
        lo = [j if not j & b else 8 + j - b for j in range(8)]
        hi = [j + b if not j & b else 8 + j for j in range(8)]
        rounds.append((b, lo, hi))
    return rounds


def _transpose_codegen() -> Callable:
    """The code of :func:`_transpose8`."""

    def codegen(context: Any, builder: ir.IRBuilder, sig: Any, args: Any) -> Any:
        tile = context.make_array(sig.args[0])(context, builder, args[0])
        values = context.make_array(sig.args[1])(context, builder, args[1])
        i0, col, c0 = (context.cast(builder, args[k], sig.args[k], types.intp) for k in (2, 3, 4))
        vec = ir.VectorType(ir.IntType(64), 8)
        masks = ir.VectorType(ir.IntType(32), 8)

        def pointer(ty: types.Array, array: Any, index: list, to: ir.Type) -> Any:
            ptr = cgutils.get_item_pointer(
                context, builder, ty, array, index, wraparound=False, boundscheck=False
            )
            return builder.bitcast(ptr, to.as_pointer())

        rows = []
        for r in range(8):
            i = builder.add(i0, ir.Constant(i0.type, r))
            rows.append(builder.load(pointer(sig.args[1], values, [i, col], vec), align=8, typ=vec))
        # column sums: each row added in turn, as one column at a time would
        floats = ir.VectorType(ir.DoubleType(), 8)
        sums = context.make_array(sig.args[5])(context, builder, args[5])
        k0 = context.cast(builder, args[6], sig.args[6], types.intp)
        at = pointer(sig.args[5], sums, [k0], floats)
        total = builder.load(at, align=8, typ=floats)
        for row in rows:
            total = builder.fadd(total, builder.bitcast(row, floats))
        builder.store(total, at, align=8)
        x = rows
        for b, lo, hi in _transpose_masks():
            y = list(x)
            for p in range(8):
                if not p & b:
                    y[p] = builder.shuffle_vector(x[p], x[p + b], ir.Constant(masks, lo))
                    y[p + b] = builder.shuffle_vector(x[p], x[p + b], ir.Constant(masks, hi))
            x = y
        for c in range(8):
            j = builder.add(c0, ir.Constant(c0.type, c))
            builder.store(x[c], pointer(sig.args[0], tile, [j, i0], vec), align=8)
        return context.get_dummy_value()

    return codegen


def _uint64_matrices(*arrays: types.Type) -> bool:
    """Whether every type is a 2-D ``uint64`` array."""
    return all(
        isinstance(a, types.Array) and a.ndim == 2 and a.dtype == types.uint64 for a in arrays
    )


@intrinsic
def _transpose8(
    typingctx: object,  # noqa: ARG001 - numba's signature
    tile: types.Type,
    values: types.Type,
    i0: types.Type,
    col: types.Type,
    c0: types.Type,
    sums: types.Type,
    k0: types.Type,
) -> tuple[types.Type, Callable] | None:
    """``tile[c0 + c, i0 + r] = values[i0 + r, col + c]``, summed into ``sums[k0 + c]``.

    For ``r, c < 8`` (in range; the sums as float64). An 8 x 8 block transposed in
    registers: eight loads of eight consecutive values (a row each), 24 two-row shuffles,
    eight stores of eight (a tile row each). The eight rows are added to the sums in
    order, so each sum is the one column's, one row at a time.
    """
    if not (
        _uint64_matrices(tile, values)
        and isinstance(sums, types.Array)
        and sums.ndim == 1
        and sums.dtype == types.float64
    ):
        return None
    sig = types.void(tile, values, i0, col, c0, sums, k0)
    return sig, _transpose_codegen()


@numba.njit(cache=True, nogil=True)
def _float_of_key(k: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """The float64 bits whose order key (:func:`order_statistics`) is ``k``."""
    return k ^ _SIGN if k & _SIGN else ~k


@numba.njit(cache=True, nogil=True)
def _bucket_shift(span: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """The least ``s`` with ``span >> s`` below ``2 ** SELECT_BITS`` (the bucket width)."""
    s = np.uint64(0)
    while (span >> s) >= np.uint64(1 << SELECT_BITS):
        s += np.uint64(1)
    return s


@numba.njit(cache=True, nogil=True)
def _insertion_sort(a: np.ndarray, n: int) -> None:  # pragma: no cover - compiled
    """Sort ``a[:n]`` in place (few elements)."""
    for i in range(1, n):
        v = a[i]
        j = i - 1
        while j >= 0 and a[j] > v:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = v


@numba.njit(cache=True, nogil=True)
def _select_key(  # pragma: no cover - compiled; checked against numpy's sort
    keys: np.ndarray, n: int, r: int, spare: np.ndarray, hist: np.ndarray
) -> np.uint64:
    """The ``r``-th smallest (from 0) of ``keys[:n]``; ``keys`` and ``spare`` are scratch.

    Radix selection: count the keys by bucket of their range, keep the bucket holding
    rank ``r``, repeat. Each round leaves out the smallest or the largest key and divides
    the range by at least ``2 ** (SELECT_BITS - 1)``, so it ends within a few rounds
    (when at most :data:`SELECT_SMALL` keys are left, sorted, or all left are equal).
    """
    src, dst = keys, spare
    while n > SELECT_SMALL:
        lo = src[0]
        hi = src[0]
        for i in range(n):
            lo = min(lo, src[i])
            hi = max(hi, src[i])
        if lo == hi:
            return lo
        shift = _bucket_shift(hi - lo)
        hist[:] = 0
        for i in range(n):
            hist[(src[i] - lo) >> shift] += 1
        b = 0
        while hist[b] <= r:
            r -= hist[b]
            b += 1
        m = 0
        for i in range(n):
            k = src[i]
            dst[m] = k
            m += 1 if np.int64((k - lo) >> shift) == b else 0
        n = m
        src, dst = dst, src
    _insertion_sort(src, n)
    return src[r]


@numba.njit(cache=True, nogil=True)
def _column_order_statistics(  # pragma: no cover - compiled; checked against numpy's sort
    keys: np.ndarray,
    ranks: np.ndarray,
    out: np.ndarray,
    scratch: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """``out[q]`` = bits of the ``ranks[q]``-th smallest value of one column's ``keys``.

    ``keys`` are the column's values as order keys (:func:`order_statistics`; made here,
    in place). One pass finds the smallest and the largest key (NaN or a constant
    column ends there); one counts the keys into ``2 ** SELECT_BITS`` buckets of equal
    width over that range; the bucket of each rank follows from the counts; one pass
    gathers the keys of those buckets, and these few are sorted (or, if many, narrowed
    down by :func:`_select_key`). ``scratch`` is ``(hist, flag, group, work, spare, pos)``:
    ``flag`` all zero on entry and on return (only the ranks' buckets are cleared, kept
    in ``pos[m:]`` for ``m`` ranks).
    """
    hist, flag, group, work, spare, pos = scratch
    n = keys.shape[0]
    m = ranks.shape[0]
    lo = _ONES
    hi = np.uint64(0)
    for i in range(n):  # key: the bits, sign flipped if >= 0, all flipped if < 0
        u = keys[i]
        k = u ^ (((u >> np.uint64(63)) * _ONES) | _SIGN)
        keys[i] = k
        lo = min(lo, k)
        hi = max(hi, k)
    if lo < _KEY_NEG_INF or hi > _KEY_POS_INF:  # a NaN: numpy's quantile is NaN
        out[:] = _NAN_BITS
        return
    if lo == hi:  # constant: every order statistic is the value
        out[:] = _float_of_key(lo)
        return
    shift = _bucket_shift(hi - lo)
    nb = 1 << SELECT_BITS
    hist[:] = 0
    for i in range(n):
        hist[(keys[i] - lo) >> shift] += 1
    below = 0  # keys in the buckets before b
    gathered = 0  # keys in the flagged buckets up to b
    b = 0
    for q in range(m):  # ranks ascend: so do their buckets
        r = ranks[q]
        while b + SELECT_CHUNK <= nb:
            s = 0
            for e in range(b, b + SELECT_CHUNK):
                s += hist[e]
            if below + s > r:
                break
            below += s
            b += SELECT_CHUNK
        while below + hist[b] <= r:
            below += hist[b]
            b += 1
        pos[m + q] = b  # to clear its flag after
        if flag[b] == 0:
            flag[b] = np.uint64(1)
            gathered += hist[b]
        pos[q] = r - below + gathered - hist[b]  # its rank among the gathered keys
    end = np.uint64(0)  # unsigned: indexing with it needs no check for negative values
    for i in range(n):  # gather the flagged buckets' keys (in any order)
        k = keys[i]
        group[end] = k
        end += flag[(k - lo) >> shift]
    for q in range(m):
        flag[pos[m + q]] = 0
    f = np.int64(end)
    if f <= SELECT_SMALL:
        _insertion_sort(group, f)
        for q in range(m):
            out[q] = _float_of_key(group[pos[q]])
        return
    for q in range(m):
        work[:f] = group[:f]
        out[q] = _float_of_key(_select_key(work, f, pos[q], spare, hist))


@numba.njit(cache=True, nogil=True)
def order_statistics(  # pragma: no cover - compiled; checked against numpy's sort
    values: np.ndarray,
    by_column: bool,
    first: int,
    ranks: np.ndarray,
    out: np.ndarray,
    sums: np.ndarray,
) -> None:
    """Order statistics of columns ``first ..`` of ``values``, bits of numpy's sort.

    ``values`` are float64 bits (``uint64``): ``(n, columns)`` (a replication per row)
    or, with ``by_column``, ``(columns, n)``. ``out[j, q]`` becomes the bits of the
    ``ranks[q]``-th smallest (from 0; ``ranks`` ascending) of column ``first + j``, i.e.
    ``np.sort(column)[ranks[q]]``, or NaN for a column with a NaN (which numpy's
    quantile gives). ``-0.0`` counts below ``+0.0`` (numpy's sort leaves their order
    arbitrary: equal under ``==``).

    Unless ``sums`` is empty (it must be with ``by_column``), ``sums[j]`` becomes the
    sum of column ``first + j`` as numpy adds an ``(n, columns)`` block along axis 0
    (``np.add.reduce(block, axis=0)`` for a block of two or more columns): from
    ``+0.0``, row after row in order, so ``sums / n`` is ``block.mean(axis=0)`` bit
    for bit. It is added while the columns are copied (no second pass over them).

    Each float's order key is its bits with the sign bit flipped if the sign is ``+``
    and all bits flipped if ``-``: keys compare as unsigned integers as the floats do.
    Columns are copied :data:`SELECT_COLUMNS` at a time into a contiguous tile (a
    transposed copy of ``(n, columns)``, in 8 x 8 blocks transposed in registers by
    :func:`_transpose8`, the last rows and columns one by one), then selected one
    by one (:func:`_column_order_statistics`): a few passes over the column, no sort of
    it.
    """
    cols = out.shape[0]
    n = values.shape[1] if by_column else values.shape[0]
    nb = 1 << SELECT_BITS
    tile = np.empty((min(SELECT_COLUMNS, cols), n), dtype=np.uint64)
    floats = tile.view(np.float64)
    scratch = (
        np.zeros(nb, dtype=np.int32),
        np.zeros(nb, dtype=np.uint64),
        np.empty(n, dtype=np.uint64),
        np.empty(n, dtype=np.uint64),
        np.empty(n, dtype=np.uint64),
        np.empty(2 * ranks.shape[0], dtype=np.int64),
    )
    summed = sums.shape[0] > 0
    spare_sums = np.empty(tile.shape[0])
    n8 = n - n % 8
    for j0 in range(0, cols, SELECT_COLUMNS):
        w = min(SELECT_COLUMNS, cols - j0)
        if by_column:
            for c in range(w):
                tile[c] = values[first + j0 + c]
        else:
            col = first + j0
            w8 = w - w % 8
            block = sums[j0 : j0 + w] if summed else spare_sums[:w]  # spare: not wanted
            block[:] = 0.0
            for i0 in range(0, n8, 8):  # 8 x 8 blocks transposed in registers
                for c0 in range(0, w8, 8):
                    _transpose8(tile, values, i0, col + c0, c0, block, c0)
                for c in range(w8, w):
                    for i in range(i0, i0 + 8):
                        tile[c, i] = values[i, col + c]
                        block[c] += floats[c, i]
            for i in range(n8, n):
                for c in range(w):
                    tile[c, i] = values[i, col + c]
                    block[c] += floats[c, i]
        for c in range(w):
            _column_order_statistics(tile[c], ranks, out[j0 + c], scratch)


KERNELS = ("segment_sum", "segment_sum_rows", "option_utilities", "_static_utilities",
           "export_logit_shifts", "allocate_export_options", "_normalise", "_plain_group",
           "_offtake_shares", "_offtake_flows", "_options_by_route",
           "_limited_options", "_overloaded", "_buyer_runs", "_first_runs", "_pairwise_sum",
           "offtake_by_capital", "channel_targets", "sector_commodities", "_sector_sum",
           "fit_route_constants",
           "_max_nan", "allocation_logits", "_pairwise_sum_at", "allocation_offers",
           "learned_bias", "acceptance_exponent", "trade_preferences")  # fmt: skip
KERNELS += ("gather_columns",)
KERNELS += ("influence_update", "advance_pipeline", "add_sector_sums",
            "programme_effects", "ramp_ceiling")  # fmt: skip
KERNELS += ("order_statistics", "_column_order_statistics", "_select_key", "_insertion_sort",
            "_bucket_shift", "_float_of_key")  # fmt: skip
KERNELS += ("_maximum", "_minimum", "route_capacity", "output_within_reserves",
            "settle_production", "trade_totals", "economy_inputs", "import_values")  # fmt: skip


def float_rows(arrays: list[np.ndarray]) -> numba.typed.List:
    """``arrays`` (2-D, C-ordered float64) as the typed list :func:`gather_columns` takes."""
    out = numba.typed.List.empty_list(numba.types.Array(numba.float64, 2, "C"))
    for a in arrays:
        out.append(a)
    return out


def cache_report() -> str:
    """How many kernel signatures came from numba's cache and how many were compiled."""
    hits = misses = 0
    for name in KERNELS:
        stats = globals()[name].stats
        hits += sum(stats.cache_hits.values())
        misses += sum(stats.cache_misses.values())
    return f"{hits} loaded from the cache, {misses} compiled"


def warm_up() -> float:
    """Compile (or load from the cache) every kernel; return the seconds it took."""
    t0 = time.perf_counter()
    segment_sum(np.zeros((1, 1)), np.zeros(1, dtype=np.int64), 1)
    segment_sum_rows(np.zeros((1, 1)), np.zeros(1, dtype=np.int64), 1)
    zero = np.zeros(1, dtype=np.int64)
    one = np.zeros((1, 1))
    three, four = np.zeros((1, 1, 1)), np.zeros((1, 1, 1, 1))
    for routes in (np.zeros((0, 1, 1, 1)), four):
        option_utilities(
            three, one, (one, three, one, three, routes), np.ones(1), zero, zero, zero, zero
        )
    offtake_by_capital(four, three, three, four, np.ones(1), 0.9)
    frozen = np.zeros((1, 1))
    frozen.flags.writeable = False  # the calibration passes the read-only parameter array
    for weights in (one, frozen):
        channel_targets(four, weights, three)
    sector_commodities(four, three)
    for off in (np.zeros((0, 0)), np.zeros((1, 1))):
        two = np.array([0, 1])
        shifts = export_logit_shifts(one, np.ones(1, dtype=bool), two, two, zero, off)
        allocate_export_options(
            *shifts, np.ones(1, dtype=bool), np.ones((1, 1)), np.ones((1, 1)),
            off, np.array([0, 1]), zero, zero, zero, 1,
        )  # fmt: skip
    plan = (np.array([0, 1]), zero, np.ones(1), zero)  # one array, one column
    gather_columns(float_rows([one]), plan, np.zeros((1, 1, 1)), 0)
    fit_route_constants(
        one, np.zeros((1, 1, 1)), one, np.ones(1), one, np.ones((1, 1)), np.ones((1, 1)),
        (zero, zero, zero, zero, np.ones(1, dtype=bool)),
        (np.array([0, 1]), zero, zero, zero, np.zeros((0, 0))),
        (zero, np.ones(1)), (1, 4, 1),
    )  # fmt: skip
    # phases: influence, programme
    floats, ints = np.ones(1), np.zeros(1, dtype=np.int64)
    influence_update(  # six channels: the kernel writes each by its index
        (three, three, three, three, np.zeros((1, 1, 1, 6))), (three, three, one, one),
        (one, one, three, three, one, floats), (1.0, 1.0, 1.0, 1.0),
        (np.zeros((1, 6)), np.ones(6, dtype=bool), floats),
    )  # fmt: skip
    advance_pipeline(np.zeros((1, 1, 1, 1, 1)), four, four, floats, ints, 0)
    add_sector_sums(three, four, floats)
    programme_effects(
        four, (three, floats, floats), (ints, 0, 1.0, 1.0), (three, four, three), (three, one)
    )
    ramp_ceiling(four, three, three, floats)
    # phases: production, trade totals, economy
    flag = np.zeros((1, 1), dtype=bool)
    route_capacity(three, one, three)
    output_within_reserves(three, three, three, (flag, one))
    settle_production(three, three, three, three, one, three)
    trade_totals(one, one, one, (zero, zero, zero, zero, zero, zero), (one, one, one, one))
    economy_inputs(
        three, one, (floats, floats), (1.0, 1.0, floats, floats, floats, floats),
        (one, floats, floats), (three, three, three, floats, one),
    )  # fmt: skip
    import_values(three, one, three, three, (three, three), 1.0)
    # the agents' decision rules (sim.core.policies)
    allocation_logits(three, one, four, (np.ones(3), one, np.ones(1), np.ones(1)), 0, (1.0, 1.0))
    # each writes the agent's slice of the state array (or of a new one)
    allocation_offers(np.ones((2, 1, 1, 1)), (1.0, np.ones(1), one), one, 0, (four, 0))
    learned_bias(three, three, four, 0, 0.5, (four, 0))
    trade_preferences(three, three, 0, 1, np.ones(1), np.ones(1), (three, 0))
    acceptance_exponent(three, 0, 1, np.ones(1), 0.5, np.ones(1))
    # the ensemble summary (sim.engine.store)
    bits = np.zeros((1, 1), dtype=np.uint64)
    for sums in (np.zeros(0), np.zeros(1)):
        order_statistics(bits, False, 0, zero, bits, sums)
    _warm_up_access()
    return time.perf_counter() - t0


# ---- phases: access and screening
# sim.core.phases.update_access, the states' screening
# (sim.core.agents.CentralAsianState.screen_projects). No loop takes a view or calls a
# helper that is not inlined: either, per element, cost more than the arithmetic.


@numba.njit(cache=True, nogil=True, error_model="numpy")  # x / 0 as numpy: inf, nan
def access_offtake(  # pragma: no cover - compiled; checked against the reference
    equity: np.ndarray,
    cap: np.ndarray,
    keep: float,
    capital: tuple[np.ndarray, np.ndarray],
    influence: np.ndarray,
    contract: np.ndarray,
    alpha: np.ndarray,
    ceiling: float,
    out: np.ndarray,
) -> None:
    """:func:`sim.core.phases.update_access` one replication at a time.

    ``equity <- keep * equity``, then :func:`offtake_by_capital` of the sector capital
    values ``cap / intensity`` (0 outside resource sectors), in that kernel's order.

    Args:
        equity: ``(R, S, C, P)`` equity stocks (depreciated in place).
        cap: ``(R, S, C)`` capacities.
        keep: the quarterly keep factor of equity.
        capital: ``(C,)`` capital intensities and ``(C,)`` bool, a resource sector with
            a positive intensity.
        influence: ``(R, S, I)`` influence shares (the powers' are the first ``P``).
        contract: ``(R, S, C, B)`` contracted offtake shares.
        alpha: ``(1,)`` or ``(R,)`` award sensitivity.
        ceiling: the most of a sector's output under offtake.
        out: ``(R, S, C, B)``, written with the offtake shares in force (no other
            argument's memory: the caller passes last step's offtake or a new array).
    """
    R, S, C, P = equity.shape
    B = contract.shape[3]
    intensity, sector = capital
    earned, row, boost = np.empty(P), np.empty(B), np.empty(P)
    for r in range(R):
        a = alpha[r if alpha.shape[0] > 1 else 0]
        for s in range(S):
            for p in range(P):
                boost[p] = 1.0 + a * influence[r, s, p]
            for c in range(C):
                cv = cap[r, s, c] / intensity[c] if sector[c] else 0.0
                if cv > 0:
                    for p in range(P):
                        e = equity[r, s, c, p] * keep
                        equity[r, s, c, p] = e
                        ratio = e / cv
                        low = 1.0 if ratio > 1.0 else ratio  # np.minimum: NaN stays
                        earned[p] = low * boost[p]
                else:  # no capital value: the equity ratio is 0
                    for p in range(P):
                        equity[r, s, c, p] = equity[r, s, c, p] * keep
                        earned[p] = 0.0 * boost[p]
                for b in range(B):
                    row[b] = contract[r, s, c, b]
                    out[r, s, c, b] = row[b]
                left = ceiling - _pairwise_sum(row, 0, B)
                room = 0.0 if left < 0.0 else left  # np.maximum: NaN, -0.0 stay
                total = _pairwise_sum(earned, 0, P)
                scale = room / total if total > room else 1.0
                for p in range(P):
                    out[r, s, c, p] += earned[p] * scale


@numba.njit(cache=True, nogil=True)
def scale_offers(  # pragma: no cover - compiled; checked against the reference
    offers: np.ndarray, accept: np.ndarray, s: int
) -> None:
    """``offers[:, :, s, :] *= accept[:, :, None]``: state ``s`` keeps what it accepts.

    ``offers`` is ``(R, P, S, SEC)`` (updated in place), ``accept`` ``(R, P)``.
    """
    R, P, _, E = offers.shape
    for r in range(R):
        for p in range(P):
            a = accept[r, p]
            for e in range(E):
                offers[r, p, s, e] *= a


KERNELS += ("access_offtake", "scale_offers")


def _warm_up_access() -> None:
    """Compile (or load) the signatures of this section (called by :func:`warm_up`)."""
    one, three, four = np.zeros((1, 1)), np.zeros((1, 1, 1)), np.zeros((1, 1, 1, 1))
    floats = np.ones(1)
    access_offtake(
        four, three, 1.0, (floats, np.ones(1, dtype=bool)), three, four, floats, 0.9, four.copy()
    )
    scale_offers(four, one, 0)
    # the step's completion uniforms, a strided slice of the noise (phases.advance_projects)
    strided = np.zeros((2, 2, 1, 1, 2))[:, 0]
    advance_pipeline(np.zeros((1, 1, 1, 1, 1)), four, strided, floats, np.zeros(1, np.int64), 0)
