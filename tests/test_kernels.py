"""Compiled kernels (sim.core.kernels) against their numpy references.

``segment_sum`` must agree bit for bit (same additions in the same order). The export
allocation does every sum in the reference's order and takes numpy's ``exp`` of the same
exponents, so it agrees in value (``==``: a zero's sign or a NaN's payload may differ).
The whole-run comparisons allow 1e-12: the base-year route fit inside the kernels takes
the C library's ``exp``, which may differ from numpy's in the last bit.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from sim.core import kernels, mechanisms, observe, policies, uncertainty
from sim.core.model import GeoModel
from sim.scenario import Scenario
from sim.vocab import POWERS


def _problem(seed: int, offtake: bool, tight: bool):
    rng = np.random.default_rng(seed)
    R, S, C, B, K = 9, 4, 3, 5, 6
    valid = rng.random((S, C, B, K)) < 0.4
    valid[0, 0, 0, 0] = True
    valid[1, 1] = False  # a (state, commodity) without options
    opt = mechanisms.ExportOptions(valid)
    util = rng.normal(size=(opt.n, R)) * 2
    enabled = rng.random(opt.n) < 0.9
    supply = rng.random((R, S, C)) * 10
    scale = 0.5 if tight else 3.0
    capacity = np.where(rng.random((R, K, C)) < 0.6, rng.random((R, K, C)) * scale, np.inf)
    capacity[0, 0, 0] = 0.0  # a closed route
    off = np.zeros((R, S, C, B))
    if offtake:
        off[:, 0, 0, 0] = 0.3
        off[1:4, 2, :, 1] = rng.random((3, C)) * 0.5
        off[2, 3, 2, 4] = 0.95  # more than a buyer with routes can take
    return opt, supply, util, enabled, capacity, off


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("offtake", [False, True])
def test_allocation_kernel_equals_the_numpy_reference(seed: int, offtake: bool) -> None:
    opt, supply, util, enabled, capacity, off = _problem(seed, offtake, tight=seed % 2 == 0)
    flows, shut = opt.allocate(supply, util, enabled, capacity, off)
    ref_flows, ref_shut = opt.allocate_reference(supply, util, enabled, capacity, off)
    np.testing.assert_array_equal(flows, ref_flows)
    np.testing.assert_array_equal(shut, ref_shut)
    # Each replication alone gives the same numbers as in the batch (batch invariance).
    for r in (0, 5):
        one = opt.allocate(
            supply[r : r + 1], util[:, r : r + 1], enabled, capacity[r : r + 1], off[r : r + 1]
        )
        np.testing.assert_array_equal(one[0][:, 0], flows[:, r])
        np.testing.assert_array_equal(one[1][0], shut[r])


def _edge_problem(seed: int, offtake: bool):
    """Inputs where the kernel skips work: supply +0 and -0 (also with contracts), closed
    options and -inf utilities, ties, a NaN utility, supply and contracted share, contracted
    shares of -0, below 0 and above 1, closed and unlimited routes."""
    rng = np.random.default_rng(100 + seed)
    R, S, C, B, K = 8, 4, 3, 4, 5
    valid = rng.random((S, C, B, K)) < 0.5
    valid[:, :, 0, 0] = True
    opt = mechanisms.ExportOptions(valid)
    util = np.round(rng.normal(size=(opt.n, R)) * 3)  # ties
    util[rng.random(opt.n) < 0.2, 2] = -np.inf
    util[3, 3] = np.nan
    util[6, 6] = -np.inf
    enabled = rng.random(opt.n) < 0.85
    supply = rng.random((R, S, C)) * 10
    supply[1:, 0, :] = 0.0
    supply[1:, 1, 0] = -0.0
    supply[5, 2, 1] = np.nan
    capacity = np.where(rng.random((R, K, C)) < 0.6, rng.random((R, K, C)) * 2.0, np.inf)
    capacity[:, 0, 0] = 0.0
    off = np.zeros((R, S, C, B))
    if offtake:
        off[:, :, :, 1] = rng.random((R, S, C)) * 0.5
        off[:, 0, 1, 2] = -0.0
        off[6, 1, :, 2] = -0.2
        off[7, 0, 0, 1] = np.nan
        off[4, 2, 2, 3] = 1.5
    return opt, supply, util, enabled, capacity, off


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("offtake", [False, True])
@pytest.mark.parametrize("passes", [0, 1, 4])
def test_allocation_kernel_equals_the_reference_on_edge_cases(
    seed: int, offtake: bool, passes: int
) -> None:
    opt, supply, util, enabled, capacity, off = _edge_problem(seed, offtake)
    flows, shut = opt.allocate(supply, util, enabled, capacity, off, passes)
    with np.errstate(invalid="ignore"):
        ref = opt.allocate_reference(supply, util, enabled, capacity, off, passes)
    np.testing.assert_array_equal(flows, ref[0])
    np.testing.assert_array_equal(shut, ref[1])
    for r in (1, 3, 6):
        one = opt.allocate(
            supply[r : r + 1], util[:, r : r + 1], enabled, capacity[r : r + 1], off[r : r + 1],
            passes,
        )  # fmt: skip
        np.testing.assert_array_equal(one[0][:, 0], flows[:, r])
        np.testing.assert_array_equal(one[1][0], shut[r])


@pytest.mark.parametrize("cols", [1, 7])
def test_segment_sum_kernel_is_bincount_bit_for_bit(cols: int) -> None:
    rng = np.random.default_rng(cols)
    values = rng.normal(size=(200, cols)) * 10.0 ** rng.integers(-8, 8, size=(200, 1))
    index = rng.integers(0, 13, size=200)
    np.testing.assert_array_equal(
        kernels.segment_sum(values, index, 15),
        mechanisms.segment_sum_reference(values, index, 15),
    )


def test_baseline_run_with_kernels_matches_the_numpy_reference(
    baseline_loaded: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The baseline's 64 quarters, kernels on and off: the same trajectories to 1e-12."""

    def run() -> dict[str, np.ndarray]:
        model = GeoModel(scenario=baseline_loaded, replications=4, rng=3, collect=False)
        model.run()
        return {k: np.asarray(v, dtype=float) for k, v in observe.snapshot(model).items()}

    fast = run()
    monkeypatch.setattr(kernels, "ENABLED", False)
    slow = run()
    assert fast.keys() == slow.keys()
    for name in fast:
        np.testing.assert_allclose(fast[name], slow[name], rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("n", [3, 8, 12, 21, 64])
def test_pairwise_sum_is_numpys_sum_bit_for_bit(n: int) -> None:
    rng = np.random.default_rng(n)
    values = rng.random((50, n)) * 10.0 ** rng.integers(-6, 6, size=(50, n))
    for row in values:
        assert kernels._pairwise_sum(row, 0, n) == row.sum()


@pytest.mark.parametrize("sampled", [False, True])
def test_calibration_kernel_matches_the_numpy_reference(
    baseline_loaded: Scenario, monkeypatch: pytest.MonkeyPatch, sampled: bool
) -> None:
    """Base-year route fit compiled and in numpy: the same constants, shares and loads."""
    from sim.core import uncertainty  # noqa: PLC0415

    sample = uncertainty.load_sample(uncertainty.POSTERIOR_FILE) if sampled else None

    def build() -> GeoModel:
        return GeoModel(
            scenario=baseline_loaded, replications=6, rng=5, collect=False, parameters=sample
        )

    fast = build().calibration
    monkeypatch.setattr(kernels, "ENABLED", False)
    slow = build().calibration
    for name in ("export_alpha", "import_alpha", "route_alpha", "route_residual", "route_load0"):
        np.testing.assert_allclose(
            getattr(fast, name), getattr(slow, name), rtol=1e-12, atol=1e-12, err_msg=name
        )


def test_calibration_of_a_row_does_not_depend_on_the_others(baseline_loaded: Scenario) -> None:
    """Per-replication calibration: a replication's constants alone equal those in a batch."""
    from sim.core import uncertainty  # noqa: PLC0415

    sample = uncertainty.load_sample(uncertainty.POSTERIOR_FILE)
    batch = GeoModel(
        scenario=baseline_loaded, replication_ids=[3, 9, 3, 40], rng=5, collect=False,
        parameters=sample,
    ).calibration  # fmt: skip
    alone = GeoModel(
        scenario=baseline_loaded, replication_ids=[9], rng=5, collect=False, parameters=sample
    ).calibration
    for name in ("export_alpha", "import_alpha", "route_alpha", "route_load0"):
        np.testing.assert_array_equal(getattr(batch, name)[1], getattr(alone, name)[0])
        np.testing.assert_array_equal(getattr(batch, name)[0], getattr(batch, name)[2])


@pytest.mark.parametrize("seed", range(4))
def test_offtake_by_capital_kernel_equals_the_numpy_reference_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    R, S, C, P, B = 7, 5, 7, 4, 6
    equity = rng.random((R, S, C, P)) * 10.0 ** rng.integers(-3, 3, size=(R, S, C, P))
    value = np.where(rng.random((R, S, C)) < 0.3, 0.0, rng.random((R, S, C)) * 5)
    influence = rng.random((R, S, P))
    contract = np.where(rng.random((R, S, C, B)) < 0.5, 0.0, rng.random((R, S, C, B)) * 0.4)
    equity[0, 0, 0, 0] = np.nan
    alpha = rng.random((R, 1, 1, 1)) * 3 if seed % 2 else 1.7
    np.testing.assert_array_equal(
        mechanisms.offtake_by_capital(equity, value, influence, contract, alpha),
        mechanisms.offtake_by_capital_reference(equity, value, influence, contract, alpha),
    )


@pytest.mark.parametrize("seed", range(4))
def test_channel_targets_kernel_equals_the_numpy_reference_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    R, S, n_i, CH = 6, 5, 5, 6
    raw = np.where(rng.random((R, S, n_i, CH)) < 0.3, 0.0, rng.random((R, S, n_i, CH)))
    raw *= 10.0 ** rng.integers(-6, 6, size=raw.shape)
    raw[0, 0] = 0.0  # a state nobody holds anything in
    exposure = rng.random((R, S, CH)) * 10.0 ** rng.integers(-3, 3, size=(R, S, CH))
    weights = rng.random((R, CH)) if seed % 2 else rng.random(CH)
    np.testing.assert_array_equal(
        mechanisms.channel_targets(raw, weights, exposure),
        mechanisms.channel_targets_reference(raw, weights, exposure),
    )


@pytest.mark.parametrize("reps", [1, 3, 1000])
def test_sector_commodities_kernel_is_einsum_bit_for_bit(reps: int) -> None:
    rng = np.random.default_rng(reps)
    amount = rng.random((reps, 4, 5, 4)) * 10.0 ** rng.integers(-5, 5, size=(reps, 4, 5, 4))
    amount[0, 0, 0] = 0.0
    split = rng.random((5, 4, 7)) * 10.0 ** rng.integers(-5, 5, size=(5, 4, 7))
    np.testing.assert_array_equal(
        kernels.sector_commodities(amount, split), np.einsum("rpse,sec->rscp", amount, split)
    )


@pytest.mark.parametrize("reps", [1, 3, 70])
def test_gather_columns_writes_what_raw_step_values_writes(
    baseline_loaded: Scenario, reps: int
) -> None:
    """The compiled step collection (read from the state) writes, bit for bit, what the
    numpy reference (the snapshot's copies side by side) writes: all metrics, or some."""
    from sim.engine.ensemble import collect_step  # noqa: PLC0415
    from sim.output import metric_layout, raw_step_values, row_layout  # noqa: PLC0415

    model = GeoModel(scenario=baseline_loaded, replications=reps, collect=False, rng=5)
    vocab = baseline_loaded.vocab
    every = tuple(metric_layout(vocab))
    for names in (every, ("influence_share",), ("budget", "gdp"), every[::-1][:7]):
        layout = row_layout(names, model.T, model.start_quarter, vocab)
        raw = np.full((reps, 3, layout.per_step), np.nan)
        for t in range(3):
            model.step()
            collect_step(model, layout, raw, t)
            want = raw_step_values(observe.snapshot(model), layout)
            np.testing.assert_array_equal(raw[:, t].view(np.uint64), want.view(np.uint64))
        assert not np.isnan(raw).any()  # every cell written


def test_gather_columns_keeps_the_bits_of_special_values(baseline_loaded: Scenario) -> None:
    """NaN payloads (a signalling one too), -0.0 and inf: copied as they are where the
    factor is 1.0 and multiplied as numpy multiplies where not (``budget``, times 4)."""
    from sim.engine.ensemble import collect_step  # noqa: PLC0415
    from sim.output import raw_step_values, row_layout  # noqa: PLC0415

    model = GeoModel(scenario=baseline_loaded, replications=3, collect=False, rng=5)
    model.step()
    bits = [0x7FF0_0000_0000_0001, 0x7FF8_0000_0000_0ABC, 0xFFF8_0000_0000_0001]
    nans = np.array(bits, dtype=np.uint64).view(np.float64)
    special = np.concatenate([nans, [-0.0, np.inf, -np.inf, 0.0, 5e-324]])
    for attr in ("programme_budget", "gdp", "influence_share"):
        value = getattr(model.state, attr)
        value.reshape(-1)[:] = np.resize(special, value.size)
    layout = row_layout(
        ("budget", "gdp", "influence_share"), model.T, model.start_quarter, baseline_loaded.vocab
    )
    raw = np.full((3, model.T, layout.per_step), np.nan)
    collect_step(model, layout, raw, 1)
    with np.errstate(invalid="ignore"):  # 4 x the signalling NaN
        want = raw_step_values(observe.snapshot(model), layout)
    np.testing.assert_array_equal(raw[:, 1].view(np.uint64), want.view(np.uint64))
    collect_step(model, layout, raw, -1)  # the last step, as numpy indexes
    np.testing.assert_array_equal(raw[:, -1].view(np.uint64), want.view(np.uint64))
    with pytest.raises(IndexError):
        collect_step(model, layout, raw, model.T)


def _arrays_equal(fast: object, slow: object) -> list[str]:
    """Names of the state arrays that differ (NaN equal to NaN)."""
    return [
        name
        for name, value in vars(fast).items()
        if isinstance(value, np.ndarray)
        and not np.array_equal(value, getattr(slow, name), equal_nan=value.dtype.kind == "f")
    ]


def _model_mid_step(scenario: Scenario, sampled: bool, steps: int) -> GeoModel:
    """A 4-replication model after ``steps`` quarters and this quarter's offers (ODD 7.1-7.6)."""
    from sim.core import phases, uncertainty  # noqa: PLC0415

    sample = uncertainty.load_sample(uncertainty.POSTERIOR_FILE) if sampled else None
    model = GeoModel(scenario=scenario, replications=4, rng=7, collect=False, parameters=sample)
    for _ in range(steps):
        model.step()
    p, s, n, t = model.params, model.state, model.noise, model.t
    phases.apply_events(p, s, t)
    phases.update_prices(p, s, n.eps[:, t], t)
    phases.draw_outages(p, s, n.arrival[:, t], n.duration[:, t], t)
    phases.set_programme_budgets(p, s, t)
    model.powers.do("allocate_budget")
    model.states.do("screen_projects")
    return model


@pytest.mark.parametrize("sampled", [False, True])
@pytest.mark.parametrize("steps", [9, 14])
def test_programme_kernels_equal_the_numpy_phases_bit_for_bit(
    baseline_loaded: Scenario, monkeypatch: pytest.MonkeyPatch, sampled: bool, steps: int
) -> None:
    """advance_projects, complete_programme, accrue_debt: kernels on and off, same state."""
    from sim.core import phases  # noqa: PLC0415

    model = _model_mid_step(baseline_loaded, sampled, steps)
    p, n, t = model.params, model.noise, model.t
    out = {}
    for enabled in (True, False):
        monkeypatch.setattr(kernels, "ENABLED", enabled)
        state = copy.deepcopy(model.state)
        amount = phases.advance_projects(p, state, n.programme[:, t], t)
        phases.complete_programme(p, state, amount)
        phases.accrue_debt(p, state, amount)
        out[enabled] = state, amount
    assert out[True][1].any()  # some money completes
    np.testing.assert_array_equal(out[True][1], out[False][1])
    assert _arrays_equal(out[True][0], out[False][0]) == []
    assert kernels.programme_effects.signatures  # the compiled branch ran
    # the pipeline is stored slot by slot, the noise time by time (each step one block)
    assert model.state.pipeline.transpose(1, 0, 2, 3, 4).flags.c_contiguous
    assert n.programme[:, t].flags.c_contiguous
    assert kernels.advance_pipeline.signatures


@pytest.mark.parametrize("sectors", [3, 4])
def test_programme_effects_sums_in_index_order_for_any_sector_count(sectors: int) -> None:
    """programme_effects (the unrolled four-sector sums and the loop) against plain loops.

    Signed zeros, infinities and NaN in the completed money; zeros in the split.
    """
    rng = np.random.default_rng(sectors)
    R, P, S, C, K = 3, 2, 3, 5, 2
    amount = rng.random((R, P, S, sectors))
    amount[0, 0, 0, :] = -0.0
    amount[1, 1, 2, 0], amount[2, 0, 1, -1] = np.inf, np.nan
    split = rng.random((S, sectors, C)) * (rng.random((S, sectors, C)) < 0.5)
    resource, intensity = (rng.random(C) < 0.7) * 1.0, rng.random(C) + 0.5
    route = np.array([1, -1], dtype=np.int64)
    stocks = (rng.random((R, S, P)), -np.zeros((R, S, C, P)), rng.random((R, S, C)))
    routes = (rng.random((R, K, C)) + 1.0, rng.random((R, K)) + 1.0)
    expect = [x.copy() for x in stocks + routes]
    with np.errstate(invalid="ignore"):  # inf * 0 is NaN, as in the kernel
        for r in range(R):
            for s in range(S):
                for p in range(P):
                    acc = 0.0
                    for e in range(sectors):
                        acc += amount[r, p, s, e]
                    expect[0][r, s, p] += acc
                for c in range(C):
                    total = 0.0
                    for p in range(P):
                        acc = 0.0
                        for e in range(sectors):
                            acc += amount[r, p, s, e] * split[s, e, c]
                        expect[1][r, s, c, p] += acc * resource[c]
                        total += acc
                    expect[2][r, s, c] += total * intensity[c]
            spent = 0.0
            for s in range(S):
                spent += amount[r, 0, s, 1]
            expect[3][r, 1] *= 1.0 + 0.5 * spent
            expect[4][r, 1] /= 1.0 + 0.25 * spent
    kernels.programme_effects(
        amount, (split, resource, intensity), (route, 1, 0.5, 0.25), stocks, routes
    )
    for got, want in zip(stocks + routes, expect, strict=True):
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("sampled", [False, True])
@pytest.mark.parametrize("steps", [0, 9])
def test_influence_kernel_equals_the_numpy_phase_bit_for_bit(
    baseline_loaded: Scenario, monkeypatch: pytest.MonkeyPatch, sampled: bool, steps: int
) -> None:
    """update_influence (stocks, channel inputs, targets, smoothing): kernel on and off."""
    from sim.core import phases  # noqa: PLC0415

    model = _model_before_trade(baseline_loaded, sampled, steps)
    p, s, t = model.params, model.state, model.t
    phases.produce_and_trade(p, model.calibration, s, t)
    phases.update_economy(p, model.calibration, s, t)
    out = {}
    for enabled in (True, False):
        monkeypatch.setattr(kernels, "ENABLED", enabled)
        state = copy.deepcopy(s)
        phases.update_influence(p, state)
        out[enabled] = state
    assert _arrays_equal(out[True], out[False]) == []
    assert not np.array_equal(out[True].influence_stock, s.influence_stock)
    assert kernels.influence_update.signatures  # the compiled branch ran


@pytest.mark.parametrize("sampled", [False, True])
def test_ramp_kernel_equals_the_numpy_ramp_limit_bit_for_bit(
    baseline_loaded: Scenario, monkeypatch: pytest.MonkeyPatch, sampled: bool
) -> None:
    """ramp_limit on a run's route flows, with one ramp or one per replication."""
    import dataclasses  # noqa: PLC0415

    from sim.core import phases  # noqa: PLC0415

    model = _model_mid_step(baseline_loaded, sampled, 6)
    params = model.params
    if sampled:
        params = dataclasses.replace(params, route_ramp=np.array([0.05, 0.1, 0.5, 0.9]))
    out = {}
    for enabled in (True, False):
        monkeypatch.setattr(kernels, "ENABLED", enabled)
        out[enabled] = phases.ramp_limit(params, model.calibration, model.state)
    assert out[True] is not None
    assert np.isfinite(out[True]).any()
    np.testing.assert_array_equal(out[True], out[False])
    assert kernels.ramp_ceiling.signatures  # the compiled branch ran


@pytest.mark.parametrize("sampled", [False, True])
def test_screening_kernel_equals_the_numpy_product_bit_for_bit(
    baseline_loaded: Scenario, monkeypatch: pytest.MonkeyPatch, sampled: bool
) -> None:
    """The states' screening (offers times the accepted shares): kernel on and off."""
    model = _model_mid_step(baseline_loaded, sampled, 9)
    model.powers.do("allocate_budget")  # this quarter's offers, before any screening
    before = copy.deepcopy(model.state)
    out = {}
    for enabled in (True, False):
        monkeypatch.setattr(kernels, "ENABLED", enabled)
        model.state = copy.deepcopy(before)
        model.states.do("screen_projects")
        out[enabled] = model.state
    assert _arrays_equal(out[True], out[False]) == []
    assert not np.array_equal(out[True].offers, before.offers)  # some money refused
    assert kernels.scale_offers.signatures  # the compiled branch ran


@pytest.mark.parametrize("sampled", [False, True])
@pytest.mark.parametrize("steps", [9, 30])
def test_access_kernel_equals_the_numpy_phase_bit_for_bit(
    baseline_loaded: Scenario, monkeypatch: pytest.MonkeyPatch, sampled: bool, steps: int
) -> None:
    """update_access (equity depreciation, equity offtake): kernel on and off, same state."""
    from sim.core import phases  # noqa: PLC0415

    sample = _sample_per_replication(4) if sampled else None
    model = GeoModel(
        scenario=baseline_loaded, replications=4, rng=7, collect=False, parameters=sample
    )
    for _ in range(steps):
        model.step()
    if sampled:
        assert np.shape(model.params.award_sensitivity) == (4,)
    state = model.state
    assert state.equity.any()  # completed resource investment
    # contracts on some sectors (none in the baseline), one that leaves no room, a NaN
    rng = np.random.default_rng(steps)
    state.contract_offtake[:, :2] = rng.random(state.contract_offtake[:, :2].shape) * 0.2
    state.contract_offtake[0, 0, 0, :] = 0.5
    state.equity[1, 1, 1, 1] = np.nan
    out = {}
    for enabled in (True, False):
        monkeypatch.setattr(kernels, "ENABLED", enabled)
        copied = copy.deepcopy(state)
        phases.update_access(model.params, copied)
        out[enabled] = copied
    assert _arrays_equal(out[True], out[False]) == []
    assert not np.array_equal(out[True].offtake, state.contract_offtake)  # equity offtake
    assert kernels.access_offtake.signatures  # the compiled branch ran


def test_access_kernel_reuses_the_offtake_array_and_keeps_signed_zeros(
    baseline_loaded: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """update_access: zero equity of either sign, infinite capacity, bit for bit.

    The kernel writes into last step's offtake array, or into a new one when that is the
    contracts' own array (it reads the contracts).
    """
    from sim.core import phases  # noqa: PLC0415

    model = GeoModel(scenario=baseline_loaded, replications=4, rng=7, collect=False)
    for _ in range(12):
        model.step()
    state = model.state
    state.equity[0, :, :, 0] = -0.0
    state.equity[1, :, :, 1] = 0.0
    state.cap[2, 0, :] = np.inf
    out = {}
    for enabled in (True, False):
        monkeypatch.setattr(kernels, "ENABLED", enabled)
        copied = copy.deepcopy(state)
        last = copied.offtake
        phases.update_access(model.params, copied)
        out[enabled] = copied
        assert (copied.offtake is last) == enabled
    assert _arrays_equal(out[True], out[False]) == []
    for name in ("equity", "offtake"):
        fast, slow = getattr(out[True], name), getattr(out[False], name)
        np.testing.assert_array_equal(np.signbit(fast), np.signbit(slow))
    monkeypatch.setattr(kernels, "ENABLED", True)
    shared = copy.deepcopy(state)
    shared.offtake = shared.contract_offtake
    contract = shared.contract_offtake.copy()
    phases.update_access(model.params, shared)
    assert shared.offtake is not shared.contract_offtake
    np.testing.assert_array_equal(shared.contract_offtake, contract)
    np.testing.assert_array_equal(shared.offtake, out[False].offtake)


@pytest.mark.parametrize("sampled", [False, True])
def test_option_utilities_kernel_equals_the_numpy_branch_bit_for_bit(
    baseline_loaded: Scenario, monkeypatch: pytest.MonkeyPatch, sampled: bool
) -> None:
    """The export options' utilities trade_flows hands the allocation: kernel on and off."""
    from sim.core import phases  # noqa: PLC0415

    sample = uncertainty.load_sample(uncertainty.POSTERIOR_FILE) if sampled else None
    model = GeoModel(scenario=baseline_loaded, replications=4, rng=7, collect=False,
                     parameters=sample)  # fmt: skip
    for _ in range(12):
        model.step()
    p, s, calib = model.params, model.state, model.calibration
    if sampled:
        assert np.shape(p.price_sensitivity) == (4,)
    seen = {}
    allocate = type(p.options).allocate

    def spy(self, supply, util, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen[kernels.ENABLED] = np.array(util)
        return allocate(self, supply, util, *args, **kwargs)

    monkeypatch.setattr(type(p.options), "allocate", spy)
    output, avail = phases.planned_output(p, s, model.t), phases.route_availability(p, s)
    for enabled in (True, False):
        monkeypatch.setattr(kernels, "ENABLED", enabled)
        phases.trade_flows(p, s, calib.export_alpha, output, avail, route_alpha=calib.route_alpha)
    assert seen[True].shape == (p.options.n, 4)
    np.testing.assert_array_equal(seen[True], seen[False])


def _model_before_trade(scenario: Scenario, sampled: bool, steps: int) -> GeoModel:
    """:func:`_model_mid_step` advanced to just before ``produce_and_trade`` (ODD 7.10)."""
    from sim.core import phases  # noqa: PLC0415

    model = _model_mid_step(scenario, sampled, steps)
    p, s, n, t = model.params, model.state, model.noise, model.t
    amount = phases.advance_projects(p, s, n.programme[:, t], t)
    phases.complete_programme(p, s, amount)
    phases.accrue_debt(p, s, amount)
    phases.complete_named(p, s, n.named, t)
    phases.update_access(p, s)
    model.states.do("set_trade_preferences")
    return model


@pytest.mark.parametrize("sampled", [False, True])
@pytest.mark.parametrize("steps", [9, 14])
@pytest.mark.parametrize("hindcast", [False, True])
def test_production_and_trade_kernels_equal_the_numpy_phase_bit_for_bit(
    baseline_loaded: Scenario,
    monkeypatch: pytest.MonkeyPatch,
    sampled: bool,
    steps: int,
    hindcast: bool,
) -> None:
    """produce_and_trade around the allocation, kernels on and off, on a run's states.

    Planned output (the hindcast has production paths), totals, route flows,
    production, depletion and decline. The allocation is computed once and given to
    both (its ``exp`` may differ in the last bit between kernel and numpy); what it is
    given (the planned output, the ramp limit) must agree too.
    """
    from sim.core import phases  # noqa: PLC0415
    from sim.scenario import load_scenario  # noqa: PLC0415

    scenario = baseline_loaded
    if hindcast:
        scenario = load_scenario(Path(__file__).parents[1] / "scenarios" / "hindcast_2010.yaml")
    model = _model_before_trade(scenario, sampled, steps)
    assert not hindcast or model.params.production_path
    p, t = model.params, model.t
    allocate = phases.trade_flows
    given: dict[bool, tuple] = {}
    result: list[tuple[np.ndarray, np.ndarray]] = []

    def trade_flows(*args: object, **kwargs: object) -> tuple[np.ndarray, np.ndarray]:
        given[kernels.ENABLED] = (args[3], kwargs["ceiling"])
        if not result:
            result.append(allocate(*args, **kwargs))
        return result[0][0].copy(), result[0][1].copy()

    monkeypatch.setattr(phases, "trade_flows", trade_flows)
    out = {}
    for enabled in (True, False):
        monkeypatch.setattr(kernels, "ENABLED", enabled)
        state = copy.deepcopy(model.state)
        phases.produce_and_trade(p, model.calibration, state, t)
        out[enabled] = state
    for fast, slow in zip(given[True], given[False], strict=True):
        np.testing.assert_array_equal(fast, slow)
    assert _arrays_equal(out[True], out[False]) == []
    assert out[True].route_flow.any()
    assert np.isfinite(out[True].reserves).any()
    assert kernels.trade_totals.signatures  # the compiled branch ran


@pytest.mark.parametrize("seed", range(4))
def test_trade_totals_kernel_is_bincount_bit_for_bit(seed: int) -> None:
    """Totals of random flows with zeros, a NaN flow and non-finite prices and costs."""
    opt, *_ = _problem(seed, offtake=False, tight=False)
    rng = np.random.default_rng(seed)
    R, (S, C, _, K) = (7, 6, 1, 5)[seed], opt.shape  # in pairs, an odd one alone
    flows = np.where(rng.random((R, opt.n)) < 0.3, 0.0, rng.random((R, opt.n)) * 100)
    flows[:, rng.random(opt.n) < 0.2] = 0.0  # options that carry nothing
    flows[-1, 0] = -0.0
    flows[R // 2, -1] = np.nan
    unit_price = rng.random((R, C)) * 10.0 ** rng.integers(-3, 3, size=(R, C))
    unit_price[-1, 0] = np.inf  # 0 * inf is NaN: zero flows count in this replication
    cost = rng.random((R, K))
    cost[0, 0] = -np.inf
    # overwritten: rows with last step's values (here NaN) are zeroed before their sums
    got = tuple(np.full((R, n), np.nan) for n in (opt.n_subs_all, opt.n_sb_all, S, opt.n_sck_all))
    kernels.trade_totals(
        flows, unit_price, cost, (opt.c, opt.k, opt.sub, opt.sb, opt.s, opt.sck), got
    )  # fmt: skip
    with np.errstate(invalid="ignore"):  # 0 * inf
        value = flows.T * unit_price[:, opt.c].T
        want = [
            mechanisms.segment_sum_reference(x, index, n).T
            for x, index, n in (
                (flows.T, opt.sub, opt.n_subs_all),
                (value, opt.sb, opt.n_sb_all),
                (value * (1.0 - cost[:, opt.k].T), opt.s, S),
                (flows.T, opt.sck, opt.n_sck_all),
            )
        ]
    for name, a, b in zip(("volume", "value", "revenue", "route"), got, want, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert np.isnan(got[2][-1]).any()  # zero flows at an infinite price


def test_route_capacity_kernel_keeps_numpys_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Effective capacities with closed, NaN and partial routes, inf and NaN caps, ties."""
    from sim.core import phases  # noqa: PLC0415

    rng = np.random.default_rng(5)
    R, K, C = 5, 4, 3
    route_cap = rng.random((R, K, C)) * 10
    route_cap[0, 0], route_cap[0, 1, 0], route_cap[1, 1, 1] = np.inf, np.nan, 0.0
    avail = rng.random((R, K))
    avail[0, 0], avail[1, 0], avail[2, 2], avail[3, 1] = 0.0, np.nan, -0.5, 1.0
    ceiling = np.where(rng.random((R, K, C)) < 0.5, np.inf, rng.random((R, K, C)) * 10)
    ceiling[0, 1, 1], ceiling[2, 0, 0] = np.nan, -0.0
    ceiling[4, 3, 2] = route_cap[4, 3, 2] * avail[4, 3]  # a tie
    for limit in (None, ceiling):
        got = kernels.route_capacity(
            route_cap, avail, np.zeros((0, 0, 0)) if limit is None else limit
        )
        monkeypatch.setattr(kernels, "ENABLED", False)
        want = phases.effective_capacity(route_cap, avail, limit)
        monkeypatch.setattr(kernels, "ENABLED", True)
        np.testing.assert_array_equal(got, want)
        assert np.array_equal(np.signbit(got), np.signbit(want))
        np.testing.assert_array_equal(phases.effective_capacity(route_cap, avail, limit), want)
    assert kernels.route_capacity.signatures


def test_production_kernels_keep_numpys_rules() -> None:
    """Planned output and its settlement with inf and NaN reserves, capacity and shut-in."""
    from types import SimpleNamespace  # noqa: PLC0415

    from sim.core import phases  # noqa: PLC0415

    rng = np.random.default_rng(3)
    R, S, C = 5, 3, 4
    cap = rng.random((R, S, C)) * 10
    cap[0, 0, 0], cap[0, 0, 1] = np.nan, np.inf
    reserves = np.where(rng.random((R, S, C)) < 0.5, np.inf, rng.random((R, S, C)) * 3)
    reserves[1, 0, 0], reserves[1, 0, 1], reserves[1, 0, 2] = np.nan, 0.0, -np.inf
    state = SimpleNamespace(cap=cap, productivity=rng.random((R, S, C)) + 0.5, reserves=reserves)
    params = SimpleNamespace(production_path=((1, 2, np.array([7.0, np.nan])),))
    for t in (0, 1):
        want = phases.planned_output(params, SimpleNamespace(**vars(state), R=R), t)
        given = np.zeros((S, C), dtype=bool)
        given[1, 2] = True
        value = np.zeros((S, C))
        value[1, 2] = params.production_path[0][2][t]
        got = kernels.output_within_reserves(cap, state.productivity, reserves, (given, value))
        np.testing.assert_array_equal(got, want)
    shut_in = np.where(rng.random((R, S, C)) < 0.5, 0.0, rng.random((R, S, C)) * 20)
    shut_in[2, 1, 1] = np.nan
    keep = rng.random((S, C))
    production = np.maximum(got - shut_in, 0.0)
    left = np.where(np.isfinite(reserves), np.maximum(reserves - production / 4.0, 0.0), reserves)
    new_cap, new_reserves, out = cap.copy(), reserves.copy(), np.full((R, S, C), np.nan)
    kernels.settle_production(got, shut_in, new_reserves, new_cap, keep, out)
    np.testing.assert_array_equal(out, production)
    np.testing.assert_array_equal(new_reserves, left)
    np.testing.assert_array_equal(new_cap, cap * keep)


@pytest.mark.parametrize("sampled", [False, True])
@pytest.mark.parametrize("steps", [0, 9])
@pytest.mark.parametrize("adjustment", [1.0, 0.4])
def test_economy_kernels_equal_the_numpy_phase_bit_for_bit(
    baseline_loaded: Scenario,
    monkeypatch: pytest.MonkeyPatch,
    sampled: bool,
    steps: int,
    adjustment: float,
) -> None:
    """update_economy, kernels on and off (per-replication constants when ``sampled``).

    With an import adjustment below 1 the shares move from last quarter's.
    """
    import dataclasses  # noqa: PLC0415

    from sim.core import phases  # noqa: PLC0415

    model = _model_before_trade(baseline_loaded, sampled, steps)
    p, s, t = dataclasses.replace(model.params, import_adjustment=adjustment), model.state, model.t
    phases.produce_and_trade(p, model.calibration, s, t)
    s.exports_value[0, 0] = 0.0  # a state without exports in one replication
    s.partner_pref[1, 1, 0] = np.nan  # a NaN utility: no ordinary imports for that state
    out = {}
    for enabled in (True, False):
        monkeypatch.setattr(kernels, "ENABLED", enabled)
        state = copy.deepcopy(s)
        phases.update_economy(p, model.calibration, state, t)
        out[enabled] = state
    assert _arrays_equal(out[True], out[False]) == []
    if adjustment == 1.0:  # (with adjustment the shares also keep last quarter's mix)
        imports, reexports = out[True].imports_value[1, 1], out[True].reexports_value[1, 1]
        np.testing.assert_array_equal(imports, reexports)
    assert not np.array_equal(out[True].gdp, s.gdp)
    assert kernels.import_values.signatures  # the compiled branch ran


def _sample_per_replication(n: int) -> uncertainty.ParameterSample:
    """Hedging, award and alignment sensitivity and the powers' budgets drawn per replication."""
    keys = (
        "behaviour.hedging",
        "behaviour.award_sensitivity",
        "behaviour.alignment_sensitivity",
        *(f"powers.{p}.budget" for p in POWERS),
    )
    rng = np.random.default_rng(11)
    low = np.array([uncertainty.SUPPORT[k][0] for k in keys])
    values = low + rng.random((n, len(keys))) * np.array([3.0, 2.0, 4.0] + [40.0] * len(POWERS))
    return uncertainty.ParameterSample(keys, values, np.full(n, 1.0 / n), by_id=True)


@pytest.mark.parametrize("sampled", [False, True])
def test_decision_rule_kernels_equal_the_numpy_references_bit_for_bit(
    baseline_loaded: Scenario, sampled: bool
) -> None:
    """Allocation, learning, screening and trade preferences on real model states.

    The baseline's states after each of 20 quarters (with per-replication hedging,
    award and alignment sensitivities and budgets when ``sampled``): each compiled
    decision rule returns exactly the numpy reference's numbers.
    """
    sample = _sample_per_replication(5) if sampled else None
    model = GeoModel(
        scenario=baseline_loaded, replication_ids=[0, 1, 2, 3, 4], rng=7, collect=False,
        parameters=sample,
    )  # fmt: skip
    if sampled:
        assert np.shape(model.params.hedging_scale) == (5,)
    p, s = model.params, model.state
    for _ in range(20):
        model.step()
        for power in model.powers:
            i, score = power.index, power.resource_score
            same = np.array_equal(
                policies.allocation(p, s, i, score), policies.allocation_reference(p, s, i, score)
            )
            assert same, (model.t, power.code)
            same = np.array_equal(
                policies.learned_bias(p, s, i), policies.learned_bias_reference(p, s, i)
            )
            assert same, (model.t, power.code)
        for state in model.states:
            j = state.index
            assert np.array_equal(
                policies.acceptance(p, s, j), policies.acceptance_reference(p, s, j)
            ), (model.t, state.code)
            assert np.array_equal(
                policies.trade_preferences(p, s, j), policies.trade_preferences_reference(p, s, j)
            ), (model.t, state.code)
        _assert_rules_write_the_agents_slices(model)


def _assert_rules_write_the_agents_slices(model: GeoModel) -> None:
    """Each rule written straight into its agent's slice of a copy of the state (``into``).

    Compiled, a power's learned bias is updated in place (each element read, then
    written). The numbers are the references'; nothing outside the slice changes.
    """
    p, s = model.params, model.state
    state = copy.deepcopy(s)
    for power in model.powers:
        i, score = power.index, power.resource_score
        got = policies.allocation(p, state, i, score, into=state.offers)
        assert np.shares_memory(got, state.offers)
        assert np.array_equal(state.offers[:, i], policies.allocation_reference(p, s, i, score))
        policies.learned_bias(p, state, i, into=state.learned_bias)
        assert np.array_equal(state.learned_bias[:, i], policies.learned_bias_reference(p, s, i))
    for agent in model.states:
        j = agent.index
        policies.trade_preferences(p, state, j, into=state.partner_pref)
        want = policies.trade_preferences_reference(p, s, j)
        assert np.array_equal(state.partner_pref[:, j, :], want)
    assert set(_arrays_equal(state, s)) <= {"offers", "learned_bias", "partner_pref"}


def test_decision_rule_kernels_need_no_compile_during_a_run(baseline_loaded: Scenario) -> None:
    """``warm_up`` compiles the signatures a run uses: a run adds none (so none compiles)."""
    kernels.warm_up()
    names = ("allocation_logits", "allocation_offers", "learned_bias", "acceptance_exponent",
             "trade_preferences", "scale_offers", "access_offtake", "advance_pipeline",
             "option_utilities", "add_sector_sums", "programme_effects", "ramp_ceiling",
             "output_within_reserves", "settle_production", "trade_totals", "economy_inputs",
             "import_values")  # fmt: skip
    before = {name: len(getattr(kernels, name).signatures) for name in names}
    for sample in (None, _sample_per_replication(3)):
        GeoModel(
            scenario=baseline_loaded, replication_ids=[0, 1, 2], rng=1, collect=False,
            parameters=sample,
        ).run()  # fmt: skip
    assert {name: len(getattr(kernels, name).signatures) for name in names} == before


def test_decision_rule_kernels_keep_numpys_nan_and_zero_rules() -> None:
    """Edge cases: a NaN share and equal gains (no spread) give the reference's numbers."""
    share = np.array([[[0.0, 0.0, 0.0], [np.nan, 0.0, 0.0]]])  # (1, S=2, I=3)
    learned = np.zeros((1, 2, 2, 4))
    for p in (0, 1):  # a NaN gain; no spread in the gains
        got = np.empty((1, 1, 2, 4))
        kernels.learned_bias(share, np.zeros((1, 2, 3)), learned, p, 0.3, (got, 0))
        got = got[:, 0]
        gain = share[:, :, p] - 0.0
        rel = gain - gain.mean(axis=1, keepdims=True)
        scale = np.abs(rel).max(axis=1, keepdims=True)
        rel = np.divide(rel, scale, out=np.zeros_like(rel), where=scale > 0)
        want = (1.0 - 0.3) * learned[:, p] + 0.3 * rel[:, :, None]
        np.testing.assert_array_equal(got, want)
    values = np.array([[0.0, np.nan, 2.0, -1.0], [np.inf, 1.0, -np.inf, 0.0]])
    for row in values:
        assert np.array_equal(kernels._max_nan(row, 0, 4), row.max(), equal_nan=True)


def _allocation_numpy(influence, gdp, learned, static, p, weights, aim, budget):  # type: ignore[no-untyped-def]
    """:func:`sim.core.policies.allocation_reference` on the kernels' inputs (its operations)."""
    pr, res, ret, bias = static
    lw, temp = weights
    share = influence[:, :, p]
    leverage = 1.0 / np.sqrt(gdp)
    leverage = leverage / leverage.max(axis=1, keepdims=True)
    s_infl = ((1.0 - share) * leverage)[:, :, None] * np.ones(res.shape[1])
    s_ret = (1.0 - 0.5 * share)[:, :, None] * ret
    score = pr[0] * s_infl + pr[1] * res[None] + pr[2] * s_ret + bias[None, None, :]
    score = score + lw * learned[:, p]
    free = mechanisms.softmax_weights(score, temp, axes=(1, 2))
    within = mechanisms.softmax_weights(score, temp, axes=(2,))
    rest, aim_state, aim_sector = aim
    w = rest * free + aim_state[None, :, None] * within + aim_sector[None]
    z = temp * score  # the exponentials softmax_weights takes
    exps = np.exp([z - z.max(axis=(1, 2), keepdims=True), z - z.max(axis=2, keepdims=True)])
    return exps, budget[:, p, None, None] * w


@pytest.mark.parametrize(("S", "SEC"), [(5, 4), (1, 4), (9, 4), (5, 3), (2, 1), (3, 9)])
def test_allocation_kernels_equal_numpy_on_awkward_inputs(S: int, SEC: int) -> None:
    """allocation_logits, numpy's exp and allocation_offers against the reference's numpy.

    Four sectors (the model's, unrolled in the kernel) and other counts (a loop); ties,
    a zero and a NaN GDP (infinite leverage: NaN options), NaN and infinite learned
    biases, equal scores, more than 8 options per state. NaN where numpy has NaN (the
    exponentials too: a NaN option makes its state's and the free maximum NaN).
    """
    rng = np.random.default_rng(S * 10 + SEC)
    R, P, H = 40, 3, 4  # H holders of influence
    influence = rng.random((R, S, H))
    gdp = rng.lognormal(size=(R, S))
    learned = rng.uniform(-1.0, 1.0, (R, P, S, SEC))
    learned[1] = 0.5  # ties between sectors and states
    influence[1] = 0.25
    gdp[1] = 2.0
    gdp[2, 0] = 0.0
    gdp[3, -1] = np.nan
    learned[4, 1, 0, 0] = np.nan
    learned[10, 1, -1, -1] = np.nan  # NaN in each position of a state's options
    learned[11, 1, 0, SEC // 2] = np.nan
    learned[12, 1, S // 2, SEC - 2] = np.nan
    learned[5, 1, -1, -1] = np.inf
    learned[6, 1, 0, -1] = -np.inf
    learned[7, 1] = -np.inf
    learned[8, 1, :, 0] = 1e300  # overflow to inf in the score
    learned[9, 1, 0] = -0.0
    for p in range(P):
        pr = rng.random(3)
        static = (pr, rng.random((S, SEC)), rng.uniform(-1.0, 1.0, SEC), rng.normal(size=SEC))
        weights = (0.7, 3.0)
        aim = (0.6, rng.random(S) * 0.1, rng.random((S, SEC)) * 0.02)
        budget = rng.random((R, P)) * 5.0
        with np.errstate(all="ignore"):
            exps, want = _allocation_numpy(influence, gdp, learned, static, p, weights, aim, budget)
            z = kernels.allocation_logits(influence, gdp, learned, static, p, weights)
            np.exp(z, out=z)
        assert np.array_equal(z, exps, equal_nan=True), p
        with np.errstate(all="ignore"):
            got = np.full((R, P, S, SEC), -1.0)
            kernels.allocation_offers(z, aim, budget, p, (got, p))
        assert np.array_equal(got[:, p], want, equal_nan=True), p
        assert (got[:, :p] == -1.0).all()
        assert (got[:, p + 1 :] == -1.0).all()


@pytest.mark.parametrize(("R", "S"), [(1, 5), (64, 5), (130, 5), (70, 1), (20, 9)])
def test_learned_bias_kernel_equals_numpy_across_blocks(R: int, S: int) -> None:
    """learned_bias in blocks of replications (and one at a time from 8 states) == numpy.

    Block edges (a last, partial block), NaN and infinite gains, gains without spread, in
    place and into a new array.
    """
    rng = np.random.default_rng(R + S)
    P, H, SEC = 4, 5, 4  # H holders of influence
    share = rng.random((R, S, H))
    previous = rng.random((R, S, H))
    share[0, 0, 2] = np.nan
    share[R - 1, S - 1] = np.inf  # an infinite gain, not the first: a NaN spread
    if R > 3:
        previous[3] = share[3]  # no gain anywhere: no spread
    learned = rng.uniform(-1.0, 1.0, (R, P, S, SEC))
    for p in range(P):
        with np.errstate(invalid="ignore"):
            gain = share[:, :, p] - previous[:, :, p]
            rel = gain - gain.mean(axis=1, keepdims=True)
            scale = np.abs(rel).max(axis=1, keepdims=True)
            rel = np.divide(rel, scale, out=np.zeros_like(rel), where=scale > 0)
        want = (1.0 - 0.3) * learned[:, p] + 0.3 * rel[:, :, None]
        got = np.empty((R, 1, S, SEC))
        kernels.learned_bias(share, previous, learned, p, 0.3, (got, 0))
        assert np.array_equal(got[:, 0], want, equal_nan=True), p
        in_place = learned.copy()
        kernels.learned_bias(share, previous, in_place, p, 0.3, (in_place, p))
        assert np.array_equal(in_place[:, p], want, equal_nan=True), p
        others = [q for q in range(P) if q != p]
        assert np.array_equal(in_place[:, others], learned[:, others])


def _awkward_columns(n: int, seed: int) -> np.ndarray:
    """``(n, 16)`` values with every case the summary's selection must get right."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 16)) * 10.0 ** rng.integers(-6, 6, size=16)
    x[:, 0] = 1.5  # constant
    x[:, 1] = 0.0  # all zero
    x[:, 2] = rng.integers(0, 3, n)  # many ties, few values
    x[:, 3] = np.where(rng.random(n) < 0.5, -0.0, 0.0)  # signed zeros
    x[:, 4] = rng.choice([-np.inf, np.inf, 1.0, -2.0, 0.0], n)
    x[:, 5] = np.inf
    x[:, 6][rng.integers(n)] = np.nan
    x[:, 7] = rng.lognormal(0.0, 8.0, n) * rng.choice([-1.0, 1.0], n)  # heavy tails
    x[:, 8] = -3.25
    x[:, 9] = 1.0 + 1e-12 * rng.random(n)  # a narrow bulk and one huge value
    x[0, 9] = 1e300
    x[:, 10][rng.integers(n)] = -np.nan  # a NaN with the sign bit set
    x[:, 11] = -np.inf
    x[:, 12] = np.where(rng.random(n) < 0.9, 0.0, rng.normal(size=n))  # mostly zero
    x[:, 13] = rng.integers(-2, 2, n) * 5e-324  # subnormals
    x[:, 14] = np.round(rng.normal(size=n), 1)  # ties among many values
    return x


@pytest.mark.parametrize("n", [1, 2, 3, 7, 40, 1000])
def test_order_statistics_are_numpys_sort(n: int) -> None:
    """Every column's selected order statistics are ``np.sort``'s, in both layouts.

    NaN columns give NaN; ``-0.0`` and ``0.0`` may come in either order (numpy's sort
    leaves theirs arbitrary too), so values are compared with ``==``.
    """
    x = _awkward_columns(n, n)
    before = x.copy()
    full = np.arange(n) if n <= 40 else np.array([0, 49, 50, 499, 500, 949, 950, n - 1])
    want = np.sort(x, axis=0)[full].T
    want[np.isnan(x).any(axis=0)] = np.nan
    for ranks in (full, full[-1:], np.unique(full[[0, -1]])):
        padded = np.concatenate([np.ones((n, 3)), x], axis=1)  # columns 3..: x
        by_row = np.empty((16, len(ranks)), dtype=np.uint64)
        kernels.order_statistics(padded.view(np.uint64), False, 3, ranks, by_row, np.empty(0))
        by_column = np.empty((16, len(ranks)), dtype=np.uint64)
        kernels.order_statistics(
            np.ascontiguousarray(x.T).view(np.uint64), True, 0, ranks, by_column, np.empty(0)
        )
        expected = want[:, np.searchsorted(full, ranks)]
        np.testing.assert_array_equal(by_row.view(np.float64), expected)
        np.testing.assert_array_equal(by_column.view(np.float64), expected)
    assert np.array_equal(x.view(np.uint64), before.view(np.uint64))  # left as it was


def test_order_statistics_of_many_columns_cross_tiles() -> None:
    """More columns than a tile, some all alike: the same as sorting each."""
    rng = np.random.default_rng(3)
    n, cols = 101, 2 * kernels.SELECT_COLUMNS + 5
    x = rng.normal(size=(n, cols)) * rng.choice([0.0, 1.0, 1e9], size=cols)
    ranks = np.array([5, 6, 50, 95, 96])
    out = np.empty((cols, len(ranks)), dtype=np.uint64)
    kernels.order_statistics(x.view(np.uint64), False, 0, ranks, out, np.empty(0))
    np.testing.assert_array_equal(out.view(np.float64), np.sort(x, axis=0)[ranks].T)


def test_transpose_masks_transpose_eight_by_eight() -> None:
    """The shuffles of :func:`kernels._transpose8`, done in numpy, transpose an 8 x 8 block."""
    x = np.arange(64).reshape(8, 8)
    rows = list(x)
    for b, lo, hi in kernels._transpose_masks():
        for p in range(8):
            if not p & b:
                both = np.concatenate([rows[p], rows[p + b]])
                rows[p], rows[p + b] = both[lo], both[hi]
    np.testing.assert_array_equal(np.array(rows), x.T)


@pytest.mark.parametrize("rows", [8, 17])
def test_order_statistics_tiles_at_any_offset(rows: int) -> None:
    """Blocks of columns starting anywhere (unaligned 8 x 8 loads), ragged last rows."""
    rng = np.random.default_rng(rows)
    x = rng.normal(size=(rows, 300)) * 10.0 ** rng.integers(-5, 5, size=300)
    x[:, 7] = -0.0
    ranks = np.array([0, 1, rows // 2, rows - 1])
    want = np.sort(x, axis=0)[ranks].T
    for j0, j1 in ((1, 300), (5, 14), (8, 140), (0, 9)):
        out = np.empty((j1 - j0, len(ranks)), dtype=np.uint64)
        sums = np.empty(j1 - j0)
        kernels.order_statistics(x.view(np.uint64), False, j0, ranks, out, sums)
        np.testing.assert_array_equal(out.view(np.float64), want[j0:j1])
        np.testing.assert_array_equal(sums.view(np.uint64), x[:, j0:j1].sum(axis=0).view(np.uint64))


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 40, 1000])
def test_order_statistics_sums_are_numpys_mean_bit_for_bit(n: int) -> None:
    """The sums added while copying: ``sums / n`` is numpy's ``block.mean(axis=0)``.

    Blocks of two columns or more, cut from a wider array as the summary cuts them;
    signed zeros (a column of ``-0.0`` sums to ``+0.0`` in numpy), inf, NaN, heavy tails.
    """
    x = np.concatenate([_awkward_columns(n, n + 1) for _ in range(20)], axis=1)
    rng = np.random.default_rng(n)
    x[:, 16:32] = rng.normal(size=(n, 16)) * 10.0 ** rng.integers(-12, 12, size=(n, 16))
    x[:, 33] = -0.0
    ranks = np.array([0, n - 1])
    for j0, j1 in ((0, x.shape[1]), (3, 5), (1, 2 + kernels.SELECT_COLUMNS), (100, 320)):
        out = np.empty((j1 - j0, 2), dtype=np.uint64)
        sums = np.full(j1 - j0, np.nan)
        kernels.order_statistics(x.view(np.uint64), False, j0, ranks, out, sums)
        sums /= n
        with np.errstate(invalid="ignore"):  # inf - inf
            want = x[:, j0:j1].mean(axis=0)
        np.testing.assert_array_equal(sums.view(np.uint64), want.view(np.uint64))
        np.testing.assert_array_equal(out.view(np.float64)[:, 1], x[:, j0:j1].max(axis=0))
