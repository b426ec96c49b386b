"""Mechanisms of sim.core.mechanisms, each on its own, on small random arrays."""

from __future__ import annotations

import numpy as np
import pytest

from sim.core import mechanisms

R, S, C, B, K = 3, 2, 2, 3, 4


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


# ----------------------------------------------------------------------------- logit


@pytest.mark.parametrize("axes", [(1,), (2,), (1, 2)])
def test_masked_softmax_sums_to_one_over_available_options(rng, axes) -> None:
    util = rng.normal(scale=5.0, size=(4, 5, 6))
    mask = rng.random((4, 5, 6)) < 0.6
    p = mechanisms.masked_softmax(util, mask, axes=axes)
    total = p.sum(axis=axes)
    any_available = mask.any(axis=axes)
    np.testing.assert_allclose(total[any_available], 1.0, rtol=0, atol=1e-12)
    assert (total[~any_available] == 0).all()
    assert (p[~mask] == 0).all()
    assert (p[mask] > 0).all()


def test_masked_softmax_is_zero_where_nothing_is_available() -> None:
    util = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    mask = np.array([[False, False, False], [True, False, True]])
    p = mechanisms.masked_softmax(util, mask, axes=(1,))
    np.testing.assert_array_equal(p[0], 0.0)
    np.testing.assert_allclose(p[1], [1 / (1 + np.e**2), 0.0, np.e**2 / (1 + np.e**2)])


def test_masked_softmax_is_stable_for_huge_utilities() -> None:
    util = np.array([[1000.0, 999.0, -1000.0]])
    p = mechanisms.masked_softmax(util, np.ones_like(util, dtype=bool), axes=(1,))
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p[0, :2], [1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1))])


def test_masked_softmax_orders_by_utility(rng) -> None:
    util = rng.normal(size=(1, 7))
    p = mechanisms.masked_softmax(util, np.ones_like(util, dtype=bool), axes=(1,))
    np.testing.assert_array_equal(np.argsort(p[0]), np.argsort(util[0]))


# ----------------------------------------------------------------------------- exports


def _export_problem(rng: np.random.Generator, capacity: np.ndarray | None = None):
    supply = rng.uniform(1.0, 10.0, size=(R, S, C))
    util = rng.normal(size=(R, S, C, B, K))
    valid = rng.random((S, C, B, K)) < 0.7
    valid[:, :, 0, 0] = True  # every (state, commodity) has at least one option
    if capacity is None:
        capacity = rng.uniform(0.5, 6.0, size=(R, K, C))
    offtake = np.zeros((R, S, C, B))
    return supply, util, valid, capacity, offtake


def _route_load(flows: np.ndarray) -> np.ndarray:
    """``(R, K, C)`` load on each route."""
    return np.moveaxis(flows.sum(axis=(1, 3)), 1, 2)


@pytest.mark.parametrize("seed", range(5))
def test_allocate_exports_conserves_supply_and_respects_capacity(seed) -> None:
    rng = np.random.default_rng(seed)
    supply, util, valid, capacity, offtake = _export_problem(rng)
    flows, shut_in = mechanisms.allocate_exports(supply, util, valid, capacity, offtake)
    assert (flows >= 0).all()
    assert (shut_in >= 0).all()
    np.testing.assert_allclose(flows.sum(axis=(3, 4)) + shut_in, supply, rtol=1e-12, atol=1e-9)
    assert (_route_load(flows) <= capacity * (1 + 1e-9)).all()
    assert (flows[:, ~valid] == 0).all()


def test_allocate_exports_capacity_binds_and_some_supply_is_shut_in(rng) -> None:
    # Total supply far exceeds total capacity: every route fills up, the rest is shut in.
    supply, util, valid, _, offtake = _export_problem(rng)
    valid[:] = True
    capacity = np.full((R, K, C), 0.5)
    flows, shut_in = mechanisms.allocate_exports(supply * 10, util, valid, capacity, offtake)
    np.testing.assert_allclose(_route_load(flows), capacity, rtol=1e-9)
    np.testing.assert_allclose(shut_in.sum(axis=1), (supply * 10).sum(axis=1) - 0.5 * K)


def test_allocate_exports_reroutes_around_a_full_route(rng) -> None:
    supply, util, valid, _, offtake = _export_problem(rng)
    valid[:] = True
    util[..., 0] += 5.0  # route 0 is by far the most attractive
    unlimited = np.full((R, K, C), np.inf)
    free_flows, _ = mechanisms.allocate_exports(supply, util, valid, unlimited, offtake)
    tight = unlimited.copy()
    tight[:, 0, :] = 0.1 * _route_load(free_flows)[:, 0, :]
    flows, shut_in = mechanisms.allocate_exports(supply, util, valid, tight, offtake)
    np.testing.assert_allclose(_route_load(flows)[:, 0, :], tight[:, 0, :], rtol=1e-9)
    # The excess moved to the other (unlimited) routes: nothing is shut in.
    np.testing.assert_allclose(shut_in, 0.0, atol=1e-9)
    assert flows[..., 1:].sum() > free_flows[..., 1:].sum()


def test_allocate_exports_shuts_in_everything_when_all_routes_are_closed(rng) -> None:
    supply, util, valid, _, offtake = _export_problem(rng)
    closed = np.zeros((R, K, C))
    flows, shut_in = mechanisms.allocate_exports(supply, util, valid, closed, offtake)
    np.testing.assert_array_equal(flows, 0.0)
    np.testing.assert_allclose(shut_in, supply)


def test_allocate_exports_shuts_in_supply_without_any_valid_option(rng) -> None:
    supply, util, valid, capacity, offtake = _export_problem(rng)
    valid[1, 0] = False  # state 1 cannot export commodity 0 anywhere
    flows, shut_in = mechanisms.allocate_exports(supply, util, valid, capacity, offtake)
    np.testing.assert_array_equal(flows[:, 1, 0], 0.0)
    np.testing.assert_allclose(shut_in[:, 1, 0], supply[:, 1, 0])


@pytest.mark.parametrize("share", [0.3, 0.8, 1.0])
def test_allocate_exports_offtake_goes_to_the_offtake_buyer(rng, share) -> None:
    supply, util, valid, _, offtake = _export_problem(rng)
    valid[:] = True
    util[..., 2, :] -= 20.0  # buyer 2 is unattractive: only the offtake sends it anything
    capacity = np.full((R, K, C), np.inf)
    offtake[:, :, :, 2] = share
    flows, shut_in = mechanisms.allocate_exports(supply, util, valid, capacity, offtake)
    to_buyer = flows[:, :, :, 2, :].sum(axis=-1)
    np.testing.assert_allclose(to_buyer, share * supply, rtol=1e-6)
    np.testing.assert_allclose(flows.sum(axis=(3, 4)) + shut_in, supply, rtol=1e-12)


def test_allocate_exports_ignores_offtake_by_a_buyer_without_a_route(rng) -> None:
    supply, util, valid, _, offtake = _export_problem(rng)
    valid[:, :, 2, :] = False
    offtake[:, :, :, 2] = 0.5
    capacity = np.full((R, K, C), np.inf)
    flows, shut_in = mechanisms.allocate_exports(supply, util, valid, capacity, offtake)
    np.testing.assert_array_equal(flows[:, :, :, 2], 0.0)
    np.testing.assert_allclose(flows.sum(axis=(3, 4)), supply, rtol=1e-12)
    np.testing.assert_allclose(shut_in, 0.0, atol=1e-9)


# ----------------------------------------------------------------------------- influence


def test_channel_targets_sum_to_one_per_state(rng) -> None:
    raw = rng.uniform(0.0, 3.0, size=(R, 5, 5, 4))
    raw[0, 0, :, 2] = 0.0  # a channel nobody holds in one state
    weights = np.array([1.0, 2.0, 0.5, 1.0])
    z = mechanisms.channel_targets(raw, weights, np.ones((R, 5, 4)))
    assert (z >= 0).all()
    np.testing.assert_allclose(z.sum(axis=(2, 3)), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(z[0, 0, :, 2], 0.0)
    # Elsewhere each channel carries its weight's share.
    np.testing.assert_allclose(z[1, 1].sum(axis=0), weights / weights.sum(), rtol=1e-12)


def test_channel_targets_are_zero_where_no_channel_is_present() -> None:
    raw = np.zeros((1, 2, 3, 4))
    raw[0, 1, 0, 0] = 1.0
    z = mechanisms.channel_targets(raw, np.ones(4), np.ones((1, 2, 4)))
    np.testing.assert_array_equal(z[0, 0], 0.0)
    assert z[0, 1, 0, 0] == pytest.approx(1.0)


def test_channel_targets_grow_with_a_holders_channel(rng) -> None:
    raw = rng.uniform(0.1, 1.0, size=(1, 1, 5, 4))
    more = raw.copy()
    more[0, 0, 2, 1] *= 3.0
    exposure = np.ones((1, 1, 4))
    before = mechanisms.channel_targets(raw, np.ones(4), exposure)[0, 0, 2].sum()
    after = mechanisms.channel_targets(more, np.ones(4), exposure)[0, 0, 2].sum()
    assert after > before
    # A larger exposure to the channel the holder leads raises its target too.
    lead = raw.copy()
    lead[0, 0, 2, 1] = 10.0
    exposed = exposure.copy()
    exposed[0, 0, 1] = 3.0
    base = mechanisms.channel_targets(lead, np.ones(4), exposure)[0, 0, 2].sum()
    assert mechanisms.channel_targets(lead, np.ones(4), exposed)[0, 0, 2].sum() > base


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.5, 1.0])
def test_smooth_stock_keeps_sums_and_interpolates(rng, rate) -> None:
    def unit(shape):
        x = rng.random(shape)
        return x / x.sum(axis=(2, 3), keepdims=True)

    stock, target = unit((R, 5, 5, 4)), unit((R, 5, 5, 4))
    new = mechanisms.smooth_stock(stock, target, rate)
    np.testing.assert_allclose(new.sum(axis=(2, 3)), 1.0, rtol=1e-12)
    assert (new >= np.minimum(stock, target) - 1e-15).all()
    assert (new <= np.maximum(stock, target) + 1e-15).all()
    if rate == 0.0:
        np.testing.assert_array_equal(new, stock)
    if rate == 1.0:
        np.testing.assert_array_equal(new, target)


def test_trade_shares_sum_to_one_and_handle_no_trade() -> None:
    exports = np.array([[[1.0, 0.0, 3.0], [0.0, 0.0, 0.0]]])
    imports = np.array([[[0.0, 2.0, 2.0], [0.0, 0.0, 0.0]]])
    shares = mechanisms.trade_shares(exports, imports)
    np.testing.assert_allclose(shares[0, 0], [0.125, 0.25, 0.625])
    np.testing.assert_array_equal(shares[0, 1], 0.0)


# ----------------------------------------------------------------------------- choices


def test_acceptance_decreases_with_share() -> None:
    share = np.linspace(0.0, 1.0, 21)
    a = mechanisms.acceptance(share, hedging=1.0, threshold=0.5)
    assert (np.diff(a) < 0).all()
    assert ((a > 0) & (a < 1)).all()
    assert mechanisms.acceptance(np.array(0.5), 1.0, 0.5) == pytest.approx(0.5)


def test_stronger_hedging_refuses_more_from_a_dominant_power() -> None:
    dominant = np.array(0.8)
    weak = mechanisms.acceptance(dominant, hedging=0.5, threshold=0.5)
    strong = mechanisms.acceptance(dominant, hedging=2.0, threshold=0.5)
    assert strong < weak < 0.5
    # Without hedging a state accepts half of every offer, whatever the share.
    flat = mechanisms.acceptance(np.linspace(0, 1, 5), hedging=0.0, threshold=0.5)
    np.testing.assert_allclose(flat, 0.5)


def test_hedging_penalty_grows_with_dependence() -> None:
    dep = np.array([0.0, 0.2, 0.6])
    np.testing.assert_allclose(mechanisms.hedging_penalty(dep, 1.5), [0.0, 0.6, 1.8])


def test_softmax_weights_sum_to_one_and_follow_scores(rng) -> None:
    score = rng.normal(size=(R, 5, 4))
    w = mechanisms.softmax_weights(score, temperature=3.0, axes=(1, 2))
    np.testing.assert_allclose(w.sum(axis=(1, 2)), 1.0)
    flat = score.reshape(R, -1)
    assert (np.argmax(w.reshape(R, -1), axis=1) == np.argmax(flat, axis=1)).all()
    uniform = mechanisms.softmax_weights(score, temperature=0.0, axes=(1, 2))
    np.testing.assert_allclose(uniform, 1 / 20)


# ----------------------------------------------------------------------------- prices


def test_mean_reverting_log_price_reverts_without_noise() -> None:
    mu = np.log(np.array([70.0, 250.0]))
    kappa = np.array([0.15, 0.1])
    sigma = np.array([0.2, 0.3])
    x = np.log(np.array([[120.0, 100.0]]))
    gaps = [np.abs(x - mu)]
    for _ in range(40):
        x = mechanisms.mean_reverting_log_price(x, mu, kappa, sigma, np.zeros_like(x))
        gaps.append(np.abs(x - mu))
    gaps = np.array(gaps)[:, 0]
    assert (np.diff(gaps, axis=0) < 0).all()
    # The gap shrinks by exactly (1 - kappa) each quarter.
    np.testing.assert_allclose(gaps[1:] / gaps[:-1], np.broadcast_to(1 - kappa, (40, 2)))
    np.testing.assert_allclose(gaps[-1], gaps[0] * (1 - kappa) ** 40)


def test_mean_reverting_log_price_noise_and_shock_add_on_top() -> None:
    mu, kappa, sigma = np.zeros(1), np.array([0.5]), np.array([0.1])
    x = np.array([[1.0]])
    base = mechanisms.mean_reverting_log_price(x, mu, kappa, sigma, np.zeros((1, 1)))
    noisy = mechanisms.mean_reverting_log_price(x, mu, kappa, sigma, np.full((1, 1), 2.0))
    shocked = mechanisms.mean_reverting_log_price(x, mu, kappa, sigma, np.zeros((1, 1)), shock=0.3)
    assert base[0, 0] == pytest.approx(0.5)
    assert noisy[0, 0] - base[0, 0] == pytest.approx(0.2)
    assert shocked[0, 0] - base[0, 0] == pytest.approx(0.3)


def test_mean_reverting_log_price_stays_at_the_mean_without_noise() -> None:
    mu = np.log(np.array([70.0]))
    x = mechanisms.mean_reverting_log_price(
        mu[None], mu, np.array([0.3]), np.array([1.0]), np.zeros((1, 1))
    )
    np.testing.assert_allclose(x, mu[None])


@pytest.mark.parametrize("with_offtake", [False, True])
def test_sparse_allocation_matches_dense_reference(with_offtake: bool) -> None:
    rng = np.random.default_rng(11)
    R, S, C, B, K = 6, 3, 2, 4, 5
    valid = rng.random((S, C, B, K)) < 0.4
    valid[0, 0, 0, 0] = True
    util = rng.normal(size=(R, S, C, B, K)) * 2
    supply = rng.random((R, S, C)) * 10
    capacity = np.where(rng.random((R, K, C)) < 0.5, rng.random((R, K, C)) * 3, np.inf)
    offtake = np.zeros((R, S, C, B))
    if with_offtake:
        offtake[:, 0, 0, 0] = 0.3
    dense_flows, dense_shut = mechanisms.allocate_exports(supply, util, valid, capacity, offtake)
    opt = mechanisms.ExportOptions(valid)
    u = util[:, opt.s, opt.c, opt.b, opt.k].T
    flows, shut = opt.allocate(supply, u, np.ones(opt.n, dtype=bool), capacity, offtake)
    np.testing.assert_allclose(flows.T, dense_flows[:, opt.s, opt.c, opt.b, opt.k], atol=1e-9)
    np.testing.assert_allclose(shut, dense_shut, atol=1e-9)
    # conservation in the sparse form
    shipped = mechanisms.segment_sum(flows, opt.group, S * C).T.reshape(R, S, C)
    np.testing.assert_allclose(shipped + shut, supply, atol=1e-9)
