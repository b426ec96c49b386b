"""Model mechanisms as pure numpy functions.

Every function here works on arrays whose leading axis is the replication axis ``R``
and has no side effects, so each mechanism can be tested on its own and the model can
advance many replications at once. Equations are given in each docstring and in
``docs/ODD.md``.
"""

from __future__ import annotations

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
    w = np.where(mask, np.exp(u), 0.0)
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


def hedging_penalty(dependence: np.ndarray, strength: np.ndarray | float) -> np.ndarray:
    r"""Marginal cost of deepening dependence under a Herfindahl concentration penalty.

    A state maximising :math:`U - h \cdot \mathrm{HHI}(d)` with :math:`\mathrm{HHI} =
    \sum_b d_b^2` sees a marginal penalty :math:`2 h d_b` on partner :math:`b`.
    """
    return 2.0 * strength * dependence


def acceptance(share: np.ndarray, hedging: np.ndarray | float, threshold: float) -> np.ndarray:
    r"""Share of a power's offered money a state accepts (multi-vector screening).

    .. math:: a_{sp} = \frac{1}{1 + \exp(10\, h_s (I_{sp} - \theta))}

    where :math:`I_{sp}` is the power's influence share over the state and
    :math:`\theta` the dependence the state tolerates.
    """
    return 1.0 / (1.0 + np.exp(10.0 * hedging * (share - threshold)))


def softmax_weights(score: np.ndarray, temperature: float, axes: tuple[int, ...]) -> np.ndarray:
    r"""Budget shares over options: :math:`w_j \propto \exp(\tau\, \mathrm{score}_j)`."""
    z = temperature * score
    z = z - z.max(axis=axes, keepdims=True)
    w = np.exp(z)
    return w / w.sum(axis=axes, keepdims=True)


def channel_targets(raw: np.ndarray, weights: np.ndarray) -> np.ndarray:
    r"""Influence each holder would have from current channels, per channel.

    Each channel is normalised across holders within the state (the holder's share of
    that channel), then channels are averaged with ``weights``:

    .. math:: z_{s,i,c} = \frac{w_c}{\sum_{c'} w_{c'}} \frac{x_{s,i,c}}{\sum_{i'} x_{s,i',c}}

    Channels nobody holds in a state are left out of its average, so
    :math:`\sum_{i,c} z_{s,i,c} = 1` whenever any channel is present.

    Args:
        raw: ``(R, S, I, CH)`` non-negative channel intensities.
        weights: ``(CH,)`` channel weights.

    Returns:
        ``(R, S, I, CH)`` target contributions summing to 1 over ``(I, CH)``.
    """
    total = raw.sum(axis=2, keepdims=True)
    shares = np.divide(raw, total, out=np.zeros_like(raw), where=total > 0)
    present = (total > 0) * weights  # (R, S, 1, CH)
    norm = present.sum(axis=3, keepdims=True)
    w = np.divide(present, norm, out=np.zeros_like(present), where=norm > 0)
    return shares * w


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
