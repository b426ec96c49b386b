"""The agents' decision rules: read the state and parameters, return arrays.

States (ODD 7.6, 7.9) screen the money powers offer and set the partner terms of their
trade logits; powers (ODD 7.5, 7.17) spread their programme budgets over (state,
sector) and learn from the influence it bought. The Mesa agents in
:mod:`sim.core.agents` call these with their own index; a rule that sets the agent's
slice of a state array is given that array as ``into`` and writes the decision into the
agent's slice only (the screening returns the accepted shares, which the state
applies). Nothing here writes anywhere else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.core import mechanisms
from sim.core.params import per_rep, sector_commodity_matrix
from sim.vocab import COMMODITIES, SECTORS

if TYPE_CHECKING:
    from sim.core.params import Params
    from sim.core.state import State


# ------------------------------------------------------------------ states


def alignment(params: Params, state: State) -> np.ndarray:
    """``(R, S, B)`` political alignment with each trade partner.

    A power's alignment is its influence share; every market takes the "others" share.
    """
    P, M = len(params.vocab.powers), len(params.vocab.markets)
    share = state.influence_share
    return np.concatenate([share[:, :, :P], *([share[:, :, P : P + 1]] * M)], axis=2)


def hedging_strength(params: Params, state: State, s: int) -> float | np.ndarray:
    """State ``s``'s hedging times the multiplier (``(R, 1)`` when it is per replication)."""
    if np.ndim(params.hedging_scale) == 0:
        return float(state.hedging[s] * params.hedging_scale)
    return state.hedging[s] * per_rep(params.hedging_scale, 2)


def acceptance(params: Params, state: State, s: int) -> np.ndarray:
    """ODD 7.6: ``(R, P)`` share of each power's offer state ``s`` accepts.

    Logistic in the power's influence share over the state: a state refuses more from
    a power that already dominates it; with ``behaviour.award_sensitivity`` above 0,
    influence also eases approval below that threshold. Compiled
    (:func:`sim.core.kernels.acceptance_exponent`, then numpy's ``exp``) unless
    ``CASIM_KERNELS=0``; bit for bit :func:`acceptance_reference`.
    """
    kernels = mechanisms.compiled()
    hedging = _rep_vector(hedging_strength(params, state, s), state.R)
    favour = _rep_vector(params.award_sensitivity, state.R)
    if kernels is None or hedging is None or favour is None:
        return acceptance_reference(params, state, s)
    z = kernels.acceptance_exponent(
        _c(state.influence_share), s, len(params.vocab.powers), hedging,
        float(params.acceptance_threshold), favour,
    )  # fmt: skip
    np.exp(z, out=z)  # 1 / (1 + exp(z)), in place
    z += 1.0
    return np.divide(1.0, z, out=z)


def acceptance_reference(params: Params, state: State, s: int) -> np.ndarray:
    """:func:`acceptance` in numpy (:func:`sim.core.mechanisms.acceptance`)."""
    share = state.influence_share[:, s, : len(params.vocab.powers)]  # (R, P)
    return mechanisms.acceptance(
        share,
        hedging_strength(params, state, s),
        params.acceptance_threshold,
        per_rep(params.award_sensitivity, 2),
    )


def trade_preferences(
    params: Params, state: State, s: int, into: np.ndarray | None = None
) -> np.ndarray:
    """ODD 7.9: ``(R, B)`` partner terms of state ``s``'s export and import utilities.

    Political alignment minus the hedging penalty on trade dependence (the gradient of
    a Herfindahl index). Written into ``into[:, s]`` when ``into`` is given (the
    state's partner terms, ``partner_pref``). Compiled
    (:func:`sim.core.kernels.trade_preferences`) unless ``CASIM_KERNELS=0``; bit for bit
    :func:`trade_preferences_reference`.
    """
    kernels = mechanisms.compiled()
    sensitivity = _rep_vector(params.alignment_sensitivity, state.R)
    hedging = _rep_vector(hedging_strength(params, state, s), state.R)
    if kernels is None or sensitivity is None or hedging is None or not _fits(into):
        return _write(into, s, trade_preferences_reference(params, state, s))
    target, q = _target(into, s, state.trade_share[:, s].shape)
    kernels.trade_preferences(
        _c(state.influence_share), _c(state.trade_share), s, len(params.vocab.powers),
        sensitivity, hedging, (target, q),
    )  # fmt: skip
    return target[:, q]


def trade_preferences_reference(params: Params, state: State, s: int) -> np.ndarray:
    """:func:`trade_preferences` in numpy."""
    align = alignment(params, state)[:, s, :]
    dep = state.trade_share[:, s, :]
    return per_rep(params.alignment_sensitivity, 2) * align - mechanisms.hedging_penalty(
        dep, hedging_strength(params, state, s)
    )


# ------------------------------------------------------------------ powers


def resource_score(params: Params, p: int) -> np.ndarray:
    """``(S, SEC)``: a state's weight in power ``p``'s resource-security motive.

    The state's share of regional base-year capacity value in each sector's goods,
    weighted by the power's import needs, scaled so the best option scores 1.
    """
    value = params.cap0 * params.price0 * params.value_factor * params.import_need[p]  # (S, C)
    share = value / np.maximum(value.sum(axis=0, keepdims=True), 1e-12)
    score = share @ sector_commodity_matrix(COMMODITIES).T  # (S, SEC)
    top = score.max()
    return score / top if top > 0 else score


def allocation(
    params: Params,
    state: State,
    p: int,
    res_score: np.ndarray,
    into: np.ndarray | None = None,
) -> np.ndarray:
    """ODD 7.5: ``(R, S, SEC)`` power ``p``'s offers of this quarter's programme money.

    The aimed part of the budget (``budget_split``) goes where it is aimed: a share
    aimed at a (state, sector) goes there; a share aimed at a state is spread over its
    sectors by a softmax of the score. The rest follows a softmax over (state, sector)
    of the score (:func:`allocation_score`). Written into ``into[:, p]`` when ``into``
    is given (the power's offers, ``offers``). Compiled
    (:func:`sim.core.kernels.allocation_logits` and
    :func:`~sim.core.kernels.allocation_offers` around numpy's ``exp``) unless
    ``CASIM_KERNELS=0``; bit for bit :func:`allocation_reference`.
    """
    kernels = mechanisms.compiled()
    weights = (params.learned_weight, params.strategy_temperature)
    if kernels is None or np.ndim(weights[0]) or np.ndim(weights[1]) or not _fits(into):
        return _write(into, p, allocation_reference(params, state, p, res_score))
    top = np.abs(params.sector_return).max()
    ret = params.sector_return / top if top > 0 else np.array(params.sector_return)
    static = (np.array(params.priorities[p]), _c(res_score), ret, np.array(params.sector_bias[p]))
    z = kernels.allocation_logits(
        _c(state.influence_share), _c(state.gdp), _c(state.learned_bias), static, p,
        (float(weights[0]), float(weights[1])),
    )  # fmt: skip
    np.exp(z, out=z)  # both softmaxes' exponentials in one call
    aim_state, aim_sector = state.aim_state[p], state.aim_sector[p]
    rest = max(1.0 - aim_state.sum() - aim_sector.sum(), 0.0)
    aim = (float(rest), np.array(aim_state), np.array(aim_sector))
    target, q = _target(into, p, z.shape[1:])
    kernels.allocation_offers(z, aim, _c(state.programme_budget), p, (target, q))
    return target[:, q]


def allocation_reference(params: Params, state: State, p: int, res_score: np.ndarray) -> np.ndarray:
    """:func:`allocation` in numpy (:func:`sim.core.mechanisms.softmax_weights`)."""
    score = allocation_score(params, state, p, res_score)
    temp = params.strategy_temperature
    free = mechanisms.softmax_weights(score, temp, axes=(1, 2))  # (R, S, SEC)
    within = mechanisms.softmax_weights(score, temp, axes=(2,))
    aim_state, aim_sector = state.aim_state[p], state.aim_sector[p]  # (S,), (S, SEC)
    rest = max(1.0 - aim_state.sum() - aim_sector.sum(), 0.0)
    w = rest * free + aim_state[None, :, None] * within + aim_sector[None]
    return state.programme_budget[:, p, None, None] * w


def allocation_score(params: Params, state: State, p: int, res_score: np.ndarray) -> np.ndarray:
    """``(R, S, SEC)`` power ``p``'s score of each (state, sector) (ODD 7.5).

    A priority-weighted sum of

    * influence: room to grow (1 - own share) times the leverage of money in a small
      economy (GDP^-1/2, normalised);
    * resource security: ``res_score`` (:func:`resource_score`);
    * return: the sector's expected return (``behaviour.sector_return``), discounted by
      political risk (own share);

    plus the power's fixed sector bias and its learned bias times
    ``behaviour.learned_weight``.
    """
    pr = params.priorities[p]  # (3,) influence, resource, return
    share = state.influence_share[:, :, p]  # (R, S)
    leverage = 1.0 / np.sqrt(state.gdp)  # (R, S)
    leverage = leverage / leverage.max(axis=1, keepdims=True)
    s_infl = ((1.0 - share) * leverage)[:, :, None] * np.ones(len(SECTORS))
    s_res = res_score[None, :, :]  # (1, S, SEC)
    top = np.abs(params.sector_return).max()
    ret = params.sector_return / top if top > 0 else params.sector_return
    s_ret = (1.0 - 0.5 * share)[:, :, None] * ret
    return (
        pr[0] * s_infl
        + pr[1] * s_res
        + pr[2] * s_ret
        + params.sector_bias[p][None, None, :]
        + params.learned_weight * state.learned_bias[:, p]
    )


def learned_bias(
    params: Params, state: State, p: int, into: np.ndarray | None = None
) -> np.ndarray:
    """ODD 7.17: ``(R, S, SEC)`` power ``p``'s new learned bias.

    An exponential average of the normalised relative influence gain, so it stays in
    [-1, 1]: ``b <- (1 - lr) b + lr g``. Written into ``into[:, p]`` when ``into`` is
    given (it may be ``learned_bias`` itself). Compiled
    (:func:`sim.core.kernels.learned_bias`) unless ``CASIM_KERNELS=0``; bit for bit
    :func:`learned_bias_reference`.
    """
    kernels = mechanisms.compiled()
    if kernels is None or not _fits(into):
        return _write(into, p, learned_bias_reference(params, state, p))
    # Straight into ``into[:, p]`` (in place when it is the state's array: each element
    # is read, then written): within a step, 0.9x the time of a new array copied in.
    target, q = _target(into, p, state.learned_bias[:, p].shape)
    kernels.learned_bias(
        _c(state.influence_share), _c(state.prev_influence_share), _c(state.learned_bias), p,
        float(params.learning_rate[p]), (target, q),
    )  # fmt: skip
    return target[:, q]


def learned_bias_reference(params: Params, state: State, p: int) -> np.ndarray:
    """:func:`learned_bias` in numpy."""
    gain = state.influence_share[:, :, p] - state.prev_influence_share[:, :, p]  # (R, S)
    rel = gain - gain.mean(axis=1, keepdims=True)
    scale = np.abs(rel).max(axis=1, keepdims=True)
    rel = np.divide(rel, scale, out=np.zeros_like(rel), where=scale > 0)
    lr = params.learning_rate[p]
    return (1.0 - lr) * state.learned_bias[:, p] + lr * rel[:, :, None]


# ------------------------------------------------------------------ compiled-kernel inputs


def _c(a: np.ndarray) -> np.ndarray:
    """``a`` as a C-contiguous float array (itself when it is one): the kernels' layout."""
    return np.ascontiguousarray(a, dtype=float)


def _fits(into: np.ndarray | None) -> bool:
    """Whether a kernel writes ``into`` itself: None (it allocates) or C-ordered floats."""
    return into is None or (
        into.dtype == float and into.flags.c_contiguous and into.flags.writeable
    )


def _target(into: np.ndarray | None, i: int, shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
    """Where a kernel writes a decision of ``shape``: ``into[:, i]``, or a new array."""
    return (into, i) if into is not None else (np.empty((shape[0], 1, *shape[1:])), 0)


def _write(into: np.ndarray | None, i: int, value: np.ndarray) -> np.ndarray:
    """``value``; written into ``into[:, i]`` (and that slice returned) when ``into`` is given."""
    if into is None:
        return value
    into[:, i] = value
    return into[:, i]


def _rep_vector(value: float | np.ndarray, R: int) -> np.ndarray | None:
    """A scalar-or-per-replication value as a ``(1,)`` or ``(R,)`` array; None otherwise."""
    arr = np.array(value, dtype=float, ndmin=1).reshape(-1)
    return arr if len(arr) in (1, R) else None
