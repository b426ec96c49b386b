"""Model mechanisms as pure numpy functions (the equations of ODD section 7).

Every function here works on arrays whose leading axis is the replication axis ``R``
and has no side effects, so each mechanism can be tested on its own and the model can
advance many replications at once. Equations are given in each docstring and in
``docs/ODD.md``. The phases (:mod:`sim.core.phases`) and the agents' decision rules
(:mod:`sim.core.policies`) combine them.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

import numpy as np

NEG = -1e9  # utility of an option that does not exist (masked out of a logit)


def mean_reverting_log_price(
    log_price: np.ndarray,
    log_long_run: np.ndarray,
    reversion: np.ndarray,
    volatility: np.ndarray,
    eps: np.ndarray,
    shock: np.ndarray | float = 0.0,
) -> np.ndarray:
    r"""One quarter of a mean-reverting (Ornstein-Uhlenbeck) log price.

    .. math:: \ln p_{t+1} = \ln p_t + \kappa(\ln\mu - \ln p_t) + \sigma\varepsilon_t + s_t

    Args:
        log_price: ``(R, C)`` current log prices.
        log_long_run: ``(C,)`` log long-run means.
        reversion: ``(C,)`` speed of reversion per quarter, in [0, 1].
        volatility: ``(C,)`` standard deviation of the quarterly log change.
        eps: ``(R, C)`` standard normal draws.
        shock: ``(C,)`` deterministic log jumps this quarter (price_shock events).

    Returns:
        ``(R, C)`` new log prices.
    """
    return log_price + reversion * (log_long_run - log_price) + volatility * eps + shock


def masked_softmax(util: np.ndarray, mask: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    r"""Multinomial-logit choice probabilities over ``axes``, options outside ``mask`` excluded.

    .. math:: P_j = \frac{\exp(U_j)}{\sum_{j' \in \text{mask}} \exp(U_{j'})}

    Where no option is available the probabilities are all zero (nothing is allocated).
    """
    u = np.where(mask, util, NEG)
    u = u - u.max(axis=axes, keepdims=True)
    # exp of the masked entries (about NEG) would take numpy's slow underflow path.
    w = np.where(mask, np.exp(np.where(mask, u, 0.0)), 0.0)
    total = w.sum(axis=axes, keepdims=True)
    return np.divide(w, total, out=np.zeros_like(w), where=total > 0)


def allocate_exports(
    supply: np.ndarray,
    util: np.ndarray,
    valid: np.ndarray,
    capacity: np.ndarray,
    offtake: np.ndarray,
    passes: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Allocate export supply over (buyer, route) options with binding route capacities.

    A multinomial logit spreads each state's exportable supply of each commodity over
    the valid (buyer, route) pairs; contracted offtake shares go to their buyer first
    (over that buyer's routes, by the same logit). Where the load on a route exceeds its
    capacity all flows on it are scaled down pro rata and the excess is re-offered to the
    routes that still have room; what cannot be placed after ``passes`` rounds is shut in.

    Args:
        supply: ``(R, S, C)`` exportable supply, units per year.
        util: ``(R, S, C, B, K)`` utilities of each option.
        valid: ``(S, C, B, K)`` or broadcastable boolean: option exists.
        capacity: ``(R, K, C)`` effective route capacities (``inf`` where unlimited).
        offtake: ``(R, S, C, B)`` contracted shares of supply per buyer (sum <= 1).
        passes: re-allocation rounds for excess flow.

    Returns:
        ``(flows, shut_in)``: ``(R, S, C, B, K)`` allocated flows and ``(R, S, C)``
        supply that found no route. ``flows.sum((3, 4)) + shut_in == supply``.
    """
    valid = np.broadcast_to(valid, util.shape)
    p_joint = masked_softmax(util, valid, axes=(3, 4))
    p_route = masked_softmax(util, valid, axes=(4,))  # route choice given the buyer
    has_buyer = valid.any(axis=4)  # (R, S, C, B)
    off = np.where(has_buyer, offtake, 0.0)
    free = np.clip(1.0 - off.sum(axis=3, keepdims=True), 0.0, 1.0)  # (R, S, C, 1)
    flows = supply[..., None, None] * (free[..., None] * p_joint + off[..., None] * p_route)
    open_routes = np.ones(capacity.shape, dtype=bool)  # (R, K, C)
    for _ in range(passes):
        load = flows.sum(axis=(1, 3))  # (R, C, K)
        load = np.moveaxis(load, 1, 2)  # (R, K, C)
        over = load > capacity * (1 + 1e-12)
        if not over.any():
            break
        ratio = np.where(over, capacity / np.where(load > 0, load, 1.0), 1.0)  # (R, K, C)
        scale = np.moveaxis(ratio, 1, 2)[:, None, :, None, :]  # (R, 1, C, 1, K)
        kept = flows * scale
        excess = (flows - kept).sum(axis=(3, 4))  # (R, S, C)
        flows = kept
        open_routes &= ~over
        still = valid & np.moveaxis(open_routes, 1, 2)[:, None, :, None, :]
        p_more = masked_softmax(util, still, axes=(3, 4))
        flows = flows + excess[..., None, None] * p_more
    # Final clip: whatever still exceeds capacity is shut in.
    load = np.moveaxis(flows.sum(axis=(1, 3)), 1, 2)
    ratio = np.where(load > capacity, capacity / np.where(load > 0, load, 1.0), 1.0)
    flows = flows * np.moveaxis(ratio, 1, 2)[:, None, :, None, :]
    shut_in = np.clip(supply - flows.sum(axis=(3, 4)), 0.0, None)
    return flows, shut_in


def compiled() -> ModuleType | None:
    """:mod:`sim.core.kernels`, or None when ``CASIM_KERNELS=0`` turns the kernels off.

    Imported on first use, so that commands which never run the model do not pay for
    importing numba. Once imported, ``kernels.ENABLED`` (read from the environment then)
    decides, without looking the environment up again (the phases and the agents' rules
    ask a few dozen times a step).
    """
    kernels = sys.modules.get("sim.core.kernels")
    if kernels is None:
        if os.environ.get("CASIM_KERNELS", "1") == "0":
            return None
        from sim.core import kernels  # noqa: PLC0415 - numba loads only when a model runs

    return kernels if kernels.ENABLED else None


def segment_sum(values: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    """Sum the rows of a 2-D ``values`` into ``n`` bins by ``index``, in a fixed order.

    Compiled (:func:`sim.core.kernels.segment_sum`) unless ``CASIM_KERNELS=0``; the
    kernel adds in the order of :func:`segment_sum_reference` and agrees bit for bit.
    """
    kernels = compiled()
    if kernels is None:
        return segment_sum_reference(values, index, n)
    if values.T.flags.c_contiguous and not values.flags.c_contiguous:
        # a transposed (R, O) array: sum along its rows, same additions in the same order
        return kernels.segment_sum_rows(values.T, np.ascontiguousarray(index, np.int64), n).T
    return kernels.segment_sum(
        np.ascontiguousarray(values, dtype=np.float64),
        np.ascontiguousarray(index, dtype=np.int64),
        n,
    )


def segment_sum_reference(values: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    """:func:`segment_sum` in numpy: rows of ``values`` summed into ``n`` bins by ``index``.

    ``np.bincount`` accumulates element by element in array order, so every bin's sum
    has the same rounding whatever the number of columns (replications), unlike a BLAS
    matrix product, whose kernel (and so rounding) can change with the matrix shape.
    This keeps replication ``k``'s trajectory bit-for-bit identical in batches of any
    size.
    """
    cols = values.shape[1]
    flat = (np.asarray(index)[:, None] * cols + np.arange(cols)).ravel()
    out = np.bincount(flat, weights=values.ravel(), minlength=n * cols)
    return out.reshape(n, cols)


def sum_slots(values: np.ndarray) -> np.ndarray:
    """Sum a padded ``(G, W, R)`` array over its slot axis, slot by slot (fixed order)."""
    out = values[:, 0].copy()
    for w in range(1, values.shape[1]):
        out += values[:, w]
    return out


class ExportOptions:
    """The (state, commodity, buyer, route) options that exist, for fast allocation.

    Only about one in eight cells of the dense ``(S, C, B, K)`` option grid is a real
    option, so the model allocates over the list of real options (``O`` of them), with
    0/1 matrices that sum options into groups. :meth:`allocate` computes exactly what
    :func:`allocate_exports` computes on the dense grid (the tests check they agree).

    Args:
        valid: ``(S, C, B, K)`` boolean option grid.
    """

    def __init__(self, valid: np.ndarray) -> None:
        S, C, B, K = valid.shape
        self.shape = (S, C, B, K)
        # sorted by (s, c, b, k); contiguous, so the kernels compile one signature
        s, c, b, k = (np.ascontiguousarray(a) for a in np.nonzero(valid))
        self.s, self.c, self.b, self.k = s, c, b, k
        self.n = len(s)
        o = np.arange(self.n)
        self.group = s * C + c  # joint (buyer, route) choice is per (state, commodity)
        self.sub = (s * C + c) * B + b  # route choice given the buyer
        self.kc = k * C + c  # route capacities are per (route, commodity)

        self.sb = s * B + b
        self.n_sb_all = S * B
        self.sck = (s * C + c) * K + k  # route flows are reported per (state, commodity)
        self.n_sck_all = S * C * K
        self.n_groups_all, self.n_subs_all, self.n_kc = S * C, S * C * B, K * C
        self.seg_group = self._segments(self.group)
        self.seg_sub = self._segments(self.sub)
        #: ``(Q + 1,)`` first option of each (state, commodity, buyer) run, and the end.
        self.runs = np.r_[self.seg_sub[0], self.n].astype(np.int64)
        # Padded layout: group row g, slot w; padding slots point at a dummy route.
        starts, seg = self.seg_group
        self.group_ids = self.group[starts]
        self.group_start = np.r_[starts, self.n].astype(np.int64)
        self.n_groups = len(starts)
        slot = o - starts[seg]
        self.width = int(slot.max()) + 1 if self.n else 1
        self.pad = seg * self.width + slot
        self.kc_pad = np.full(self.n_groups * self.width, K * C)
        self.kc_pad[self.pad] = self.kc
        self.slot_group = np.repeat(np.arange(self.n_groups), self.width)

    @staticmethod
    def _segments(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Start offsets of the runs of equal ``index`` and each option's run number."""
        starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
        return starts, np.cumsum(np.r_[False, index[1:] != index[:-1]])

    def _softmax(self, util: np.ndarray, mask: np.ndarray | None, by: str) -> np.ndarray:
        """Logit probabilities within segments (``"group"`` or ``"sub"``); masked get 0.

        Works option-major: ``util`` and ``mask`` are ``(O, R)``; ``mask=None`` means
        every option is open.
        """
        starts, seg = self.seg_group if by == "group" else self.seg_sub
        big = util if mask is None else np.where(mask, util, -np.inf)
        # Subtracting each segment's maximum leaves the logit unchanged and keeps exp()
        # in range; masked entries become exp(-inf) = 0 (no underflow slow path).
        shift = np.maximum.reduceat(big, starts, axis=0)
        finite = np.isfinite(shift)
        shift = np.where(finite, shift, 0.0)[seg]
        w = np.exp(big - shift)
        total = segment_sum_reference(w, seg, len(starts))
        return w / np.where(total > 0, total, 1.0)[seg]

    def _overloaded(self, flat: np.ndarray, cap: np.ndarray) -> np.ndarray:
        """``(KC+1, R)``: where the load of the padded flows exceeds route capacity."""
        load = segment_sum_reference(flat, self.kc_pad, self.n_kc + 1)
        return load > cap * (1 + 1e-12)

    @staticmethod
    def _softmax_padded(util: np.ndarray) -> np.ndarray:
        """Joint logit per (state, commodity) on the padded ``(G, W, R)`` layout.

        Closed slots hold ``-inf`` and get probability 0. Computed in place on one
        temporary: this is the model's hot loop.
        """
        top = util.max(axis=1, keepdims=True)
        np.nan_to_num(top, copy=False, neginf=0.0)  # rows with no open slot
        w = util - top
        np.exp(w, out=w)
        total = sum_slots(w)[:, None, :]
        total[total == 0] = 1.0
        w /= total
        return w

    def allocate(
        self,
        supply: np.ndarray,
        util: np.ndarray,
        enabled: np.ndarray,
        capacity: np.ndarray,
        offtake: np.ndarray,
        passes: int = 4,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sparse :func:`allocate_exports`, compiled (:mod:`sim.core.kernels`).

        Computes what :meth:`allocate_reference` computes (to the last bit of ``exp``;
        ``tests/test_kernels.py`` checks it), one replication at a time. With
        ``CASIM_KERNELS=0`` it runs the reference.

        Args:
            supply: ``(R, S, C)`` exportable supply.
            util: ``(O, R)`` utility of each option (option-major).
            enabled: ``(O,)`` option currently open (route access events).
            capacity: ``(R, K, C)`` effective route capacities.
            offtake: ``(R, S, C, B)`` contracted shares.
            passes: re-allocation rounds.

        Returns:
            ``(flows, shut_in)``: ``(O, R)`` flows and ``(R, S, C)`` shut-in supply.
        """
        kernels = compiled()
        if kernels is None:
            return self.allocate_reference(supply, util, enabled, capacity, offtake, passes)
        R = util.shape[1]
        if offtake.any():
            off = np.ascontiguousarray(offtake.reshape(R, -1), dtype=float)
        else:
            off = np.zeros((0, 0))
        enabled = np.ascontiguousarray(enabled, dtype=bool)
        joint, route, finite = kernels.export_logit_shifts(
            np.ascontiguousarray(util.T, dtype=float),
            enabled,
            self.group_start,
            self.runs,
            self.sub,
            off,
        )
        np.exp(joint, out=joint)  # numpy's exp, as the reference's
        np.exp(route, out=route)
        flows, shut = kernels.allocate_export_options(
            joint,
            route,
            finite,
            enabled,
            np.ascontiguousarray(supply.reshape(R, -1), dtype=float),
            np.ascontiguousarray(capacity.reshape(R, -1), dtype=float),
            off,
            self.group_start,
            self.group_ids,
            self.sub,
            self.kc,
            passes,
        )
        return flows.T, shut.reshape(supply.shape)

    def allocate_reference(  # long: the model's hot loop, kept in one piece (see the docstring)
        self,
        supply: np.ndarray,
        util: np.ndarray,
        enabled: np.ndarray,
        capacity: np.ndarray,
        offtake: np.ndarray,
        passes: int = 4,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sparse :func:`allocate_exports` in numpy (the reference for the kernel).

        Options are laid out padded, ``(G, W, R)``: one row per (state, commodity) group
        that has options, ``W`` slots per row (closed slots have utility ``-inf``), so
        each logit is a plain reduction over one axis.

        Args:
            supply: ``(R, S, C)`` exportable supply.
            util: ``(O, R)`` utility of each option (option-major).
            enabled: ``(O,)`` option currently open (route access events).
            capacity: ``(R, K, C)`` effective route capacities.
            offtake: ``(R, S, C, B)`` contracted shares.
            passes: re-allocation rounds.

        Returns:
            ``(flows, shut_in)``: ``(O, R)`` flows and ``(R, S, C)`` shut-in supply.
        """
        R = util.shape[1]
        S, C, _, _ = self.shape
        G, W = self.n_groups, self.width
        up = np.full((G * W, R), -np.inf)
        up[self.pad] = util if enabled.all() else np.where(enabled[:, None], util, -np.inf)
        u3 = up.reshape(G, W, R)
        sup = supply.reshape(R, -1).T  # (SC, R)
        sup_g = sup[self.group_ids]  # (G, R)
        p3 = self._softmax_padded(u3)
        if offtake.any():
            u = util
            mask = np.broadcast_to(enabled[:, None], u.shape)
            p_route = self._softmax(u, mask, "sub")
            has_buyer = segment_sum_reference(mask.astype(float), self.sub, self.n_subs_all) > 0
            off = np.where(has_buyer, offtake.reshape(R, -1).T, 0.0)  # (SCB, R)
            B = self.shape[2]
            taken = segment_sum_reference(off, np.arange(self.n_subs_all) // B, self.n_groups_all)
            free = np.clip(1.0 - taken, 0.0, 1.0)  # (SC, R)
            p_joint = p3.reshape(G * W, R)[self.pad]
            flows_o = sup[self.group] * (free[self.group] * p_joint + off[self.sub] * p_route)
            flat = np.zeros((G * W, R))
            flat[self.pad] = flows_o
            flows3 = flat.reshape(G, W, R)
        else:
            flows3 = sup_g[:, None, :] * p3
        cap = np.vstack([capacity.reshape(R, -1).T, np.full((1, R), np.inf)])  # (KC+1, R)
        flat = flows3.reshape(G * W, R)  # a view: updates below change flows3
        open_kc = np.ones(cap.shape, dtype=bool)
        for _ in range(passes):
            over = self._overloaded(flat, cap)
            if not over.any():
                break
            # Only slots on an overloaded (route, commodity) change, and only their
            # groups receive re-offered supply: work on those rows alone.
            rows = np.flatnonzero(over.any(axis=1)[self.kc_pad])
            load = segment_sum_reference(flat[rows], self.kc_pad[rows], self.n_kc + 1)
            ratio = np.where(over, cap / np.where(load > 0, load, 1.0), 1.0)
            kept = flat[rows] * ratio[self.kc_pad[rows]]
            excess = segment_sum_reference(flat[rows] - kept, self.slot_group[rows], G)  # (G, R)
            flat[rows] = kept
            open_kc &= ~over
            groups = np.unique(self.slot_group[rows])
            # A logit restricted to the still-open options is the original choice
            # probabilities renormalised over them (no new exponentials needed).
            p_open = p3[groups] * open_kc[self.kc_pad.reshape(G, W)[groups]]
            total = sum_slots(p_open)[:, None, :]
            p_open /= np.where(total > 0, total, 1.0)
            flows3[groups] += excess[groups][:, None, :] * p_open
        over = self._overloaded(flat, cap)
        if over.any():
            rows = np.flatnonzero(over.any(axis=1)[self.kc_pad])
            load = segment_sum_reference(flat[rows], self.kc_pad[rows], self.n_kc + 1)
            ratio = np.where(over, cap / np.where(load > 0, load, 1.0), 1.0)
            flat[rows] *= ratio[self.kc_pad[rows]]
        shipped = np.zeros_like(sup)
        shipped[self.group_ids] = sum_slots(flows3)
        shut_in = np.clip(sup - shipped, 0.0, None).T.reshape(R, S, C)
        return flows3.reshape(G * W, R)[self.pad], shut_in


def ramp_ceiling(
    load: np.ndarray, established: np.ndarray, capacity: np.ndarray, ramp: float
) -> np.ndarray:
    r"""Ramp limit on a route's flow: re-routing onto a route takes time.

    A route's flow of a commodity can rise in one quarter by at most a share :math:`g`
    of the route's capacity above the flow it has established, the larger of last
    quarter's flow and the base-year flow:

    .. math:: \bar F_{kc,t} = \max(F_{kc,t-1}, F_{kc,0}) + g\, F^{\max}_{kc,t}

    The effective capacity is then :math:`\min(a_{k,t} F^{\max}_{kc,t}, \bar F_{kc,t})`
    (:func:`sim.core.phases.trade_flows`), so the capacity rationing of
    :func:`allocate_exports` re-offers what a route cannot take yet and shuts in what
    no route can. A route recovering from an outage returns to its base-year flow at
    once (the contracts and logistics exist); only flow above it ramps. This is a
    ramp-rate constraint as in unit-commitment models (Wood and Wollenberg, *Power
    Generation, Operation and Control*, 1996, ch. 5) applied to export routes; with
    :math:`g = 1` it never binds (a flow cannot exceed the capacity anyway).

    Args:
        load: ``(R, K, C)`` last quarter's flow on each route.
        established: ``(K, C)`` base-year flow on each route.
        capacity: ``(R, K, C)`` nominal route capacities (``inf`` where unlimited).
        ramp: :math:`g`, share of capacity by which a flow can rise per quarter.

    Returns:
        ``(R, K, C)`` the most each route can carry this quarter (``inf`` where unlimited).
    """
    return np.maximum(load, established) + ramp * capacity


def hedging_penalty(dependence: np.ndarray, strength: np.ndarray | float) -> np.ndarray:
    r"""Marginal cost of deepening dependence under a Herfindahl concentration penalty.

    A state maximising :math:`U - h \cdot \mathrm{HHI}(d)` with :math:`\mathrm{HHI} =
    \sum_b d_b^2` sees a marginal penalty :math:`2 h d_b` on partner :math:`b`.
    """
    return 2.0 * strength * dependence


def acceptance(
    share: np.ndarray, hedging: np.ndarray | float, threshold: float, favour: float = 0.0
) -> np.ndarray:
    r"""Share of a power's offered money a state accepts (multi-vector screening).

    .. math:: a_{sp} = \frac{1}{1 + \exp(10\, h_s (I_{sp} - \theta) - \alpha I_{sp})}

    where :math:`I_{sp}` is the power's influence share over the state,
    :math:`\theta` the dependence the state tolerates and :math:`\alpha` (``favour``,
    ``behaviour.award_sensitivity``) how much influence helps a power's projects through
    the approvals (Hirschman 1945; Kastner 2016 on influence and market access);
    :math:`\alpha = 0` is pure hedging.
    """
    return 1.0 / (1.0 + np.exp(10.0 * hedging * (share - threshold) - favour * share))


def offtake_by_capital_reference(
    equity: np.ndarray,
    capital_value: np.ndarray,
    influence: np.ndarray,
    contract: np.ndarray,
    alpha: float,
    ceiling: float = 0.9,
) -> np.ndarray:
    r"""Offtake shares earned by equity, weighted by influence, on top of contracts.

    A power that owns part of a resource sector's capital takes that part of its
    output (equity offtake, the partner's share of output in kind under production
    sharing and joint-venture marketing rights; Johnston 1994, *International Petroleum
    Fiscal Systems and Production Sharing Contracts*), and the state awards the offtake
    of its sector more readily to a power it is aligned with (Hirschman 1945):

    .. math:: o_{scp} = \min\!\Big(\frac{K_{scp}}{V_{sc}}, 1\Big)\,(1 + \alpha\, I_{sp}),
        \qquad V_{sc} = \frac{\mathrm{cap}_{sc}}{\kappa_c}

    with :math:`K` the power's equity stock (USD bn), :math:`V` the sector's capital
    value (capacity over the capital intensity :math:`\kappa`), :math:`I` the power's
    influence share over the state and :math:`\alpha` the award sensitivity. The
    earned shares are scaled down pro rata where contracts plus equity offtake would
    exceed ``ceiling`` of output: :math:`\sum_b c_{scb} + \sum_p o_{scp} \le 0.9`.

    Args:
        equity: ``(R, S, C, P)`` equity stocks, USD bn.
        capital_value: ``(R, S, C)`` sector capital values, USD bn (0: no sector).
        influence: ``(R, S, P)`` the powers' influence shares.
        contract: ``(R, S, C, B)`` contracted offtake shares (powers first on ``B``).
        alpha: award sensitivity (``behaviour.award_sensitivity``).
        ceiling: the most of a sector's output under offtake.

    Returns:
        ``(R, S, C, B)`` offtake shares in force: contracts plus the earned shares.
    """
    P = equity.shape[3]
    has = capital_value > 0
    ratio = np.divide(
        equity, capital_value[..., None], out=np.zeros_like(equity), where=has[..., None]
    )
    earned = np.minimum(ratio, 1.0) * (1.0 + alpha * influence[:, :, None, :])
    room = np.maximum(ceiling - contract.sum(axis=3), 0.0)  # (R, S, C)
    total = earned.sum(axis=3)
    scale = np.divide(room, total, out=np.ones_like(total), where=total > room)
    out = contract.copy()
    out[..., :P] += earned * scale[..., None]
    return out


def offtake_by_capital(
    equity: np.ndarray,
    capital_value: np.ndarray,
    influence: np.ndarray,
    contract: np.ndarray,
    alpha: float | np.ndarray,
    ceiling: float = 0.9,
) -> np.ndarray:
    """:func:`offtake_by_capital_reference` (the equation), compiled where shapes allow.

    The kernel (:func:`sim.core.kernels.offtake_by_capital`) does the reference's
    operations in its order and agrees bit for bit; it takes ``(R, ...)`` arrays of one
    ``R`` and an ``alpha`` that is a float or ``(R, 1, 1, 1)``. ``CASIM_KERNELS=0`` or
    other shapes run the reference.
    """
    kernels = compiled()
    R, S, C, P = equity.shape
    fits = (
        capital_value.shape == (R, S, C)
        and influence.shape == (R, S, P)
        and contract.shape[:3] == (R, S, C)
        and np.size(alpha) in (1, R)
    )
    if kernels is None or not fits:
        return offtake_by_capital_reference(
            equity, capital_value, influence, contract, alpha, ceiling
        )
    return kernels.offtake_by_capital(
        np.ascontiguousarray(equity, dtype=float),
        np.ascontiguousarray(capital_value, dtype=float),
        np.ascontiguousarray(influence, dtype=float),
        np.ascontiguousarray(contract, dtype=float),
        np.array(alpha, dtype=float, ndmin=1).ravel(),
        float(ceiling),
    )


def softmax_weights(score: np.ndarray, temperature: float, axes: tuple[int, ...]) -> np.ndarray:
    r"""Budget shares over options: :math:`w_j \propto \exp(\tau\, \mathrm{score}_j)`."""
    z = temperature * score
    z = z - z.max(axis=axes, keepdims=True)
    w = np.exp(z)
    return w / w.sum(axis=axes, keepdims=True)


def channel_targets_reference(
    raw: np.ndarray, weights: np.ndarray, exposure: np.ndarray
) -> np.ndarray:
    r"""Influence each holder would have from current channels, per channel (FBIC-style).

    Bandwidth x dependence, after the Formal Bilateral Influence Capacity index (Moyer,
    Sweijs, Burrows and Van Manen, "Power and Influence in a Globalized World", Atlantic
    Council / Pardee Center for International Futures, 2018): a holder's share of a
    channel counts as much as the state depends on that channel. With
    :math:`x_{s,i,c}` the holder's amount, :math:`d_{s,c}` the state's exposure (the
    channel's total over GDP for money channels, a fixed scale for index channels) and
    :math:`w_c` the channel weight,

    .. math:: z_{s,i,c} = \frac{w_c\, d_{s,c}\, x_{s,i,c} / \sum_{i'} x_{s,i',c}}
              {\sum_{c'} w_{c'} d_{s,c'}}

    where the sum over :math:`c'` runs over the channels somebody holds in the state.
    So :math:`0 \le z \le 1` and :math:`\sum_{i,c} z_{s,i,c} = 1` whenever any channel
    is present; doubling one holder's flow raises its share of that channel and the
    channel's exposure, and the same money weighs more in a smaller economy.

    Args:
        raw: ``(R, S, I, CH)`` non-negative channel amounts.
        weights: ``(CH,)`` channel weights, or ``(R, CH)`` one row per replication.
        exposure: ``(R, S, CH)`` non-negative exposure of each state to each channel.

    Returns:
        ``(R, S, I, CH)`` target contributions summing to 1 over ``(I, CH)``.
    """
    total = raw.sum(axis=2, keepdims=True)
    shares = np.divide(raw, total, out=np.zeros_like(raw), where=total > 0)
    w_c = weights if np.ndim(weights) == 1 else np.asarray(weights)[:, None, :]
    present = (total > 0) * (w_c * exposure)[:, :, None, :]  # (R, S, 1, CH)
    norm = present.sum(axis=3, keepdims=True)
    w = np.divide(present, norm, out=np.zeros_like(present), where=norm > 0)
    return shares * w


def channel_targets(raw: np.ndarray, weights: np.ndarray, exposure: np.ndarray) -> np.ndarray:
    """:func:`channel_targets_reference` (the equation), compiled where shapes allow.

    The kernel (:func:`sim.core.kernels.channel_targets`) agrees bit for bit; it runs
    for fewer than 8 channels (numpy sums longer rows pairwise) and ``(R, ...)``
    arrays of one ``R``. ``CASIM_KERNELS=0`` or other shapes run the reference.
    """
    kernels = compiled()
    R, S, _, CH = raw.shape
    w = np.asarray(weights, dtype=float).reshape(-1, CH)
    if kernels is None or CH >= 8 or exposure.shape != (R, S, CH) or len(w) not in (1, R):
        return channel_targets_reference(raw, weights, exposure)
    return kernels.channel_targets(
        np.ascontiguousarray(raw, dtype=float),
        np.ascontiguousarray(w),
        np.ascontiguousarray(exposure, dtype=float),
    )


def security_index(arms: np.ndarray, bases: np.ndarray, alliance: np.ndarray) -> np.ndarray:
    r"""Security ties of each holder with a state: arms share + bases + alliances.

    .. math:: x_{s,i} = \frac{A_{s,i}}{\sum_{i'} A_{s,i'}} + b_{s,i} + a_{s,i}

    with :math:`A` the depreciated arms-transfer stock (SIPRI TIV, perpetual inventory),
    :math:`b` the military presence index and :math:`a` the alliance ties (CSTO 1 for
    Russia; SCO 0.5 each for China and Russia). The three components are the
    arms-transfer, basing and alliance dimensions of security ties in FBIC (Moyer et
    al. 2018), given equal weight.

    Args:
        arms: ``(R, S, I)`` arms stocks.
        bases: ``(S, I)`` or ``(R, S, I)`` military presence.
        alliance: ``(S, I)`` or ``(R, S, I)`` alliance ties.

    Returns:
        ``(R, S, I)`` non-negative security ties.
    """
    total = arms.sum(axis=2, keepdims=True)
    share = np.divide(arms, total, out=np.zeros_like(arms), where=total > 0)
    return share + np.maximum(bases, 0.0) + np.maximum(alliance, 0.0)


def remittance_flows(base: np.ndarray, oil_ratio: np.ndarray, elasticity: np.ndarray) -> np.ndarray:
    r"""Remittances received, scaled by the oil price: :math:`M_{s,i} (p/p_0)^{\varepsilon_i}`.

    Russia's demand for migrant labour and the rouble follow the oil price, so do the
    migrants' transfers home (the 2014-2016 collapse; elasticity derived in
    docs/calibration.md, after Ratha et al., World Bank Migration and Development Brief
    24, 2015).

    Args:
        base: ``(S, I)`` base-year remittances, USD bn per year.
        oil_ratio: ``(R,)`` oil price over its base-year value.
        elasticity: ``(I,)`` elasticity of each sender's remittances to the oil price.

    Returns:
        ``(R, S, I)`` remittances, USD bn per year.
    """
    scale = np.power(np.maximum(oil_ratio, 1e-9)[:, None], elasticity[None, :])  # (R, I)
    return base[None] * scale[:, None, :]


def smooth_stock(stock: np.ndarray, target: np.ndarray, rate: float) -> np.ndarray:
    r"""Influence stock update: :math:`A_{t+1} = (1-\delta) A_t + \delta z_t`.

    Old influence decays at rate :math:`\delta` unless renewed by current channels.
    A convex combination keeps shares in [0, 1] summing to 1.
    """
    return (1.0 - rate) * stock + rate * target


def trade_shares(exports: np.ndarray, imports: np.ndarray) -> np.ndarray:
    r"""Goods-trade share of each partner: :math:`(X_{sb} + M_{sb}) / \sum_b (X_{sb} + M_{sb})`."""
    total = exports + imports
    denom = total.sum(axis=-1, keepdims=True)
    return np.divide(total, denom, out=np.zeros_like(total), where=denom > 0)


def resource_value_added(
    production: np.ndarray,
    price: np.ndarray,
    value_factor: np.ndarray,
    is_resource: np.ndarray,
    share: float,
) -> np.ndarray:
    r"""Resource value added per state: :math:`\rho \sum_{c \ne \text{other}} Q_{s,c} p_c v_c`.

    Args:
        production: ``(R, S, C)`` output, units per year.
        price: ``(R, C)`` prices.
        value_factor: ``(C,)`` USD bn per unit at a price of 1.
        is_resource: ``(C,)`` boolean, false for non-resource goods.
        share: :math:`\rho`, the share of output value that is domestic value added.

    Returns:
        ``(R, S)`` value added, USD bn per year.
    """
    value = production * (price * value_factor)[:, None, :]
    return (value * is_resource).sum(axis=2) * share


# ------------------------------------------------------------------ hindcast mechanisms


def bloc_preference(
    member: np.ndarray, partner_member: np.ndarray, tariff: float, beta: float | np.ndarray
) -> np.ndarray:
    r"""Utility of a customs union's tariff-equivalent cost advantage, on exports and imports.

    Members of a customs union (the Customs Union of 2010, the EAEU from 2015) trade with
    each other duty-free behind a common external tariff, so a member's trade with a
    member partner is cheaper by a tariff equivalent :math:`\tau` of its value than
    trade with a non-member. In a logit whose cost sensitivity is :math:`\beta` (the
    export netback term :math:`\beta(1 - c)` of ODD 7.11) that is a utility gain

    .. math:: u_{s,b} = \beta\, \tau\, m_s\, m_b

    with :math:`m_s, m_b \in \{0, 1\}` membership. Trade-cost preferences in a gravity
    or logit trade model (Anderson and van Wincoop 2003; Isakova, Koczan and Plekhanov
    2016, *How much do tariffs matter? Evidence from the customs union of Belarus,
    Kazakhstan and Russia*, Journal of Economic Policy Reform 19(2)).

    Args:
        member: ``(S,)`` membership of each state (bool or 0/1).
        partner_member: ``(B,)`` membership of each partner.
        tariff: :math:`\tau`, share of the traded value (``behaviour.eaeu_trade_cost``).
        beta: :math:`\beta` (``behaviour.price_sensitivity``): a float, or ``(R, 1, 1)``
            with one value per replication.

    Returns:
        ``(S, B)`` utility terms (0 where either side is not a member); ``(R, S, B)``
        with per-replication ``beta``.
    """
    m_s = np.asarray(member, dtype=float)
    m_b = np.asarray(partner_member, dtype=float)
    return beta * tariff * m_s[:, None] * m_b[None, :]


def contract_factor(contract: np.ndarray, market: np.ndarray) -> np.ndarray:
    r"""Price on a route over the market price: :math:`\pi_k = p^{\text{contract}}_k / p_c`.

    Pipeline gas in Central Asia is sold under bilateral contracts, not at one regional
    price: Gazprom paid Turkmenistan a fixed USD 240 per 1000 m3 under the 2010 contract
    while China's contracts were oil-indexed (Trend, 3 July 2019; Rzeczpospolita
    energia.rp.pl 2016). A route with a contract price (``routes.<K>.contract_price``)
    sells at that price; elsewhere :math:`\pi = 1`. The export netback of an option on
    route :math:`k` is then :math:`\pi_k (1 - c_k)` of the market price, so its utility
    term is :math:`\beta \pi_k (1 - c_k)` and its export value :math:`q\, p_c v_c \pi_k`.

    Args:
        contract: ``(K, C)`` contract prices, NaN where the route sells at market.
        market: ``(R, C)`` market prices.

    Returns:
        ``(R, K, C)`` price factors (1 where no contract applies).
    """
    ratio = contract[None, :, :] / np.where(market > 0, market, 1.0)[:, None, :]
    return np.where(np.isnan(ratio), 1.0, ratio)


def domestic_share(base: np.ndarray, path: tuple, t: int) -> np.ndarray:
    r"""Domestic-use share of output this step: the base share or its annual path.

    .. math:: d_{s,c,t} = \text{path}_{s,c}(\text{year}(t)) \text{ if given, else } d_{s,c}

    Exportable supply is :math:`Q (1 - d)` (ODD 7.11). Uzbekistan's gas turned from
    export to domestic use over 2010-2020: consumption over production 0.77 in 2010,
    0.86 in 2015, 0.91 in 2020 (BP Statistical Review 2021, energy_2005_2020.csv).

    Args:
        base: ``(S, C)`` base-year domestic-use shares.
        path: ``(state, commodity, (T,) shares)`` triples.
        t: step.

    Returns:
        ``(S, C)`` shares in [0, 1].
    """
    if not path:
        return base
    out = base.copy()
    for s, c, values in path:
        out[s, c] = values[t]
    return np.clip(out, 0.0, 1.0)


def take_or_pay_offtake(offtake: np.ndarray, floor: np.ndarray, supply: np.ndarray) -> np.ndarray:
    r"""Offtake shares with contracted volume floors (take-or-pay) served first.

    A long-term contract obliges the buyer to take at least a volume :math:`V_{scb}` a
    year (or pay for it: take-or-pay; Creti and Villeneuve 2004, "Long-term contracts
    and take-or-pay clauses in natural gas markets", *Energy Studies Review* 13(1)).
    With exportable supply :math:`Q_{sc}`, the buyer's share of supply is at least the
    floor's share while supply allows:

    .. math:: f_{scb} = \min(V_{scb} / Q_{sc}, 1), \qquad
              o'_{scb} = \max(o_{scb}, f_{scb})

    Buyers without a floor keep their offtake, scaled down pro rata where the shares
    would sum above 1; floors that alone exceed the supply share it in proportion to
    :math:`f`. :func:`allocate_exports` then sends each share to its buyer first.

    Args:
        offtake: ``(R, S, C, B)`` offtake shares in force (contracts plus equity).
        floor: ``(S, C, B)`` contracted volumes, units per year (0: none).
        supply: ``(R, S, C)`` exportable supply, units per year.

    Returns:
        ``(R, S, C, B)`` offtake shares, each ``(s, c)`` summing to at most 1.
    """
    q = supply[..., None]
    f = np.divide(floor, q, out=np.zeros(np.broadcast_shapes(floor.shape, q.shape)), where=q > 0)
    f = np.clip(f, 0.0, 1.0)
    has = floor > 0
    fixed = np.where(has, np.maximum(offtake, f), 0.0)
    rest = np.where(has, 0.0, offtake)
    fixed_sum = fixed.sum(axis=-1, keepdims=True)
    fixed = fixed / np.maximum(fixed_sum, 1.0)
    room = np.clip(1.0 - fixed.sum(axis=-1, keepdims=True), 0.0, 1.0)
    rest_sum = rest.sum(axis=-1, keepdims=True)
    rest = rest * np.divide(room, rest_sum, out=np.ones_like(rest_sum), where=rest_sum > room)
    return fixed + rest


def reexport_imports(
    imports: np.ndarray, share: np.ndarray, member: np.ndarray, loss: float
) -> np.ndarray:
    r"""Bazaar re-export trade counted as imports from its source (mirror method).

    Kyrgyzstan's and Tajikistan's bazaars (Dordoi, Kara-Suu, Korvon) import Chinese goods
    and re-export them, mostly unrecorded, to Kazakhstan, Uzbekistan and Russia. The
    mirror method counts China's exports to the bazaar state as that state's imports,
    but the onward sale is not in the state's exports, so China's share is inflated
    (README of the reference data; Kaminski and Mitra 2012, *Borderless Bazaars and
    Regional Integration in Central Asia*, World Bank). The trade exists because the
    bazaar state's tariff is below its neighbours'; joining their customs union (the
    EAEU's common external tariff) removes a share :math:`\ell` of it:

    .. math:: E_{s,b} = r_{s,b}\, M_s\, (1 - \ell\, m_s)

    with :math:`M_s` the state's import bill before re-exports, :math:`r_{s,b}` the
    base-year share of re-exports from source :math:`b` in it, :math:`m_s` EAEU
    membership and :math:`\ell` ``behaviour.reexport_eaeu_loss``.

    Args:
        imports: ``(R, S)`` import bill (imports_to_gdp x GDP), USD bn/yr.
        share: ``(S, B)`` re-export shares of the import bill by source.
        member: ``(S,)`` EAEU membership.
        loss: :math:`\ell`, share of re-exports lost on joining.

    Returns:
        ``(R, S, B)`` re-export imports by source, USD bn/yr (non-negative).
    """
    keep = 1.0 - loss * np.asarray(member, dtype=float)  # (S,)
    return imports[:, :, None] * share[None] * np.clip(keep, 0.0, 1.0)[None, :, None]


def partial_adjustment(previous: np.ndarray, target: np.ndarray, rate: float) -> np.ndarray:
    r"""Supplier-network inertia of import shares: :math:`\mu_t = (1-\rho)\mu_{t-1} + \rho\mu^*_t`.

    Importers keep buying from established suppliers (contracts, distribution networks,
    standards, credit), so the partner mix of imports moves toward the logit target
    :math:`\mu^*` only gradually: a partial-adjustment (Koyck) model of trade shares
    (Nerlove 1958; for trade-relationship persistence, Besedes and Prusa 2006, *Ins,
    outs, and the duration of trade*, Canadian Journal of Economics 39(1)). A convex
    combination keeps shares in [0, 1] summing to 1; :math:`\rho = 1` is no inertia.

    Args:
        previous: ``(..., B)`` last quarter's shares.
        target: ``(..., B)`` this quarter's logit shares.
        rate: :math:`\rho` per quarter (``behaviour.import_adjustment``).

    Returns:
        Shares like ``target``.
    """
    return (1.0 - rate) * previous + rate * target


def supplier_mass_utility(
    share: np.ndarray, base: np.ndarray, elasticity: float | np.ndarray
) -> np.ndarray:
    r"""Import utility from a supplier's economic mass (gravity's exporter term).

    In the structural gravity model a partner's exports to every destination scale with
    its supply capacity: :math:`X_{pi} \propto Y_p\, E_i\, \tau_{pi}^{1-\sigma} /
    (\Pi_p^{1-\sigma} P_i^{1-\sigma})` (Anderson and van Wincoop 2003, *Gravity with
    gravitas*, American Economic Review 93(1): 170-192; Head and Mayer 2014, *Handbook of
    International Economics* 4, ch. 3, for the exporter-mass elasticity near 1). In the
    import logit this is a utility term, relative to the base year,

    .. math:: u^{\mathrm{mass}}_{p,t} = \gamma \ln \frac{m_{p,t}}{m_{p,0}}

    with :math:`m_p` partner :math:`p`'s share of world merchandise exports. It is 0 in
    the base year, so the base-year calibration (ODD 7.13) is unchanged. A partner
    without data (NaN) gets 0.

    Args:
        share: ``(..., B)`` world export shares this step (NaN: no data).
        base: ``(..., B)`` the same in the base year.
        elasticity: :math:`\gamma` (``behaviour.supplier_mass_elasticity``); a scalar
            or an array broadcasting against the result.

    Returns:
        Utility terms like ``share``.
    """
    ok = np.isfinite(share) & np.isfinite(base) & (base > 0)
    ratio = np.divide(share, base, out=np.ones_like(share, dtype=float), where=ok)
    return elasticity * np.log(np.where(ok & (ratio > 0), ratio, 1.0))


def import_group_weights(
    base: np.ndarray,
    income_ratio: np.ndarray,
    price_ratio: np.ndarray,
    income_elasticity: np.ndarray,
    price_elasticity: np.ndarray,
) -> np.ndarray:
    r"""Shares of the import bill by goods group, moved by income and the fuel price.

    Each group's bill grows with the importer's income at its income elasticity and
    with its price index at its price elasticity; the total bill stays
    :math:`m_s Y_s` (ODD 7.12), so the groups' shares are

    .. math:: w_{s,g,t} = \frac{w_{s,g,0}\,(Y_{s,t}/Y_{s,0})^{\eta_g}\,(p_t/p_0)^{\varepsilon_g}}
        {\sum_{g'} w_{s,g',0}\,(Y_{s,t}/Y_{s,0})^{\eta_{g'}}\,(p_t/p_0)^{\varepsilon_{g'}}}

    Food's income elasticity is below 1 (Engel's law; Seale and Regmi 2006, *Review of
    Income and Wealth* 52(2): 185-203, about 0.5-0.7 for low- and middle-income
    countries); the fuel bill's value follows the oil price (:math:`\varepsilon = 1`,
    constant volumes at given income).

    Args:
        base: ``(S, G)`` base-year group shares of the import bill (rows sum to 1).
        income_ratio: ``(R, S)`` GDP over base-year GDP.
        price_ratio: ``(R, G)`` each group's price index over its base value (1: none).
        income_elasticity: ``(G,)`` :math:`\eta_g`.
        price_elasticity: ``(G,)`` :math:`\varepsilon_g`.

    Returns:
        ``(R, S, G)`` group shares, rows summing to 1.
    """
    inc = np.maximum(income_ratio, 1e-9)[:, :, None] ** income_elasticity
    price = np.maximum(price_ratio, 1e-9)[:, None, :] ** price_elasticity
    raw = base[None] * inc * price
    return raw / raw.sum(axis=2, keepdims=True)


def grouped_import_shares(
    util: np.ndarray, log_prior: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    r"""Import shares by partner when each goods group has its own partner logit.

    Group :math:`g` is sourced by a logit whose utility adds the log of the group's
    base-year partner shares :math:`\pi_{s,g,b}` (trade statistics by product group) to
    the partner terms common to all groups; the partner's share of the bill is the
    weighted mixture (a logit per group, as a mixed logit over goods; Berry,
    Levinsohn and Pakes 1995, *Econometrica* 63(4): 841-890):

    .. math:: \mu_{s,b} = \sum_g w_{s,g}\,\frac{\pi_{s,g,b}\,e^{u_{s,b}}}
        {\sum_{b'} \pi_{s,g,b'}\,e^{u_{s,b'}}}

    Args:
        util: ``(R, S, B)`` partner utility (calibrated constants plus the other terms).
        log_prior: ``(S, G, B)`` :math:`\ln \pi_{s,g,b}`.
        weights: ``(R, S, G)`` group shares of the bill (:func:`import_group_weights`).

    Returns:
        ``(R, S, B)`` partner shares of the bill, rows summing to 1.
    """
    u = util[:, :, None, :] + log_prior[None]
    e = np.exp(u - u.max(axis=3, keepdims=True))
    p = e / e.sum(axis=3, keepdims=True)
    return np.einsum("rsg,rsgb->rsb", weights, p)


def fit_grouped_constants(
    target: np.ndarray,
    log_prior: np.ndarray,
    weights: np.ndarray,
    tol: float = 1e-13,
    max_iter: int = 5000,
) -> np.ndarray:
    r"""Partner utilities that make the grouped import shares hit their targets.

    Berry's (1994, *RAND Journal of Economics* 25(2): 242-262) contraction for a mixed
    logit: starting from :math:`u = \ln q`,

    .. math:: u_{s,b} \leftarrow u_{s,b} + \ln q_{s,b} - \ln \mu_{s,b}(u)

    with :math:`\mu` of :func:`grouped_import_shares`, until
    :math:`\max |\mu - q| <` ``tol``. Each group's within-group partner shares stay its
    prior tilted by one factor :math:`e^{u_b}` per partner (biproportional fitting).
    With one group, or priors equal across groups, :math:`u = \ln q` at once.

    Args:
        target: ``(N, S, B)`` target partner shares of the bill, all positive.
        log_prior: ``(S, G, B)`` log group priors (finite).
        weights: ``(N, S, G)`` base-year group shares.
        tol: tolerance on the shares.
        max_iter: most rounds.

    Returns:
        ``(N, S, B)`` utilities :math:`u` (only up to a constant per row).
    """
    log_q = np.log(target)
    u = log_q.copy()
    for _ in range(max_iter):
        mu = grouped_import_shares(u, log_prior, weights)
        if np.max(np.abs(mu - target)) < tol:
            break
        u = u + log_q - np.log(mu)
    return u
