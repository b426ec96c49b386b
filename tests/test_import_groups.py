"""Imports by goods group (ODD 7.12): hand-computed mechanisms, exact base-year
calibration, and the fuel-price effect on Russia's share of Uzbek imports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.core import mechanisms, phases
from sim.core.model import GeoModel
from sim.scenario import ScenarioError
from sim.scenario.load import load_scenario, resolve, validate
from sim.vocab import COMMODITIES

ROOT = Path(__file__).resolve().parent.parent
HINDCAST = ROOT / "scenarios" / "hindcast_2010.yaml"


def test_group_weights_hand_computed() -> None:
    got = mechanisms.import_group_weights(
        np.array([[0.5, 0.5]]),
        np.array([[2.0]]),
        np.array([[2.0, 1.0]]),
        np.array([1.0, 0.5]),
        np.array([1.0, 0.0]),
    )
    raw = np.array([0.5 * 2 * 2, 0.5 * np.sqrt(2.0)])
    assert np.allclose(got, raw / raw.sum())


def test_grouped_shares_hand_computed() -> None:
    prior = np.log(np.array([[[0.8, 0.2], [0.2, 0.8]]]))  # (S=1, G=2, B=2)
    w = np.array([[[0.75, 0.25]]])
    got = mechanisms.grouped_import_shares(np.zeros((1, 1, 2)), prior, w)
    assert np.allclose(got, [0.65, 0.35])
    # u = (ln 2, 0): group 1 1.6/1.8, group 2 0.4/1.2
    got = mechanisms.grouped_import_shares(np.array([[[np.log(2.0), 0.0]]]), prior, w)
    assert np.allclose(got[0, 0, 0], 0.75 * 1.6 / 1.8 + 0.25 * 0.4 / 1.2)


def test_fit_grouped_constants_hits_the_target() -> None:
    rng = np.random.default_rng(0)
    target = rng.dirichlet(np.ones(6), size=(3, 5))  # (N, S, B)
    prior = np.log(rng.dirichlet(np.ones(6), size=(5, 4)))  # (S, G, B)
    w = np.broadcast_to(rng.dirichlet(np.ones(4), size=5), (3, 5, 4))
    u = mechanisms.fit_grouped_constants(target, prior, w)
    assert np.allclose(mechanisms.grouped_import_shares(u, prior, w), target, atol=1e-12)
    # One group: the log shares themselves (up to a constant per row).
    one = mechanisms.fit_grouped_constants(target, prior[:, :1], np.ones((3, 5, 1)))
    shares = mechanisms.grouped_import_shares(one, prior[:, :1], np.ones((3, 5, 1)))
    assert np.allclose(shares, target, atol=1e-12)


def test_base_year_calibration_stays_exact_with_groups() -> None:
    m = GeoModel(scenario=HINDCAST, replications=1, collect=False, rng=1)
    assert m.params.import_weight0.shape[1] == 4
    assert np.abs(m.calibration.residual).max() < 1e-8


def _uzbek_russia(groups: bool, oil_factor: float) -> float:
    scenario = load_scenario(HINDCAST)
    if not groups:  # the switch: no import_groups, one import logit
        scenario = scenario.model_copy(update={"import_groups": {}})
    m = GeoModel(scenario=scenario, replications=1, collect=False, rng=1)
    state = m.state
    state.price = state.price.copy()
    oil = COMMODITIES.index("oil")
    state.price[:, oil] = m.params.price0[oil] * oil_factor
    state.gdp = m.params.gdp0[None].copy()
    util = m.calibration.import_alpha + phases.import_terms(m.params, state)
    shares = phases.import_shares(m.params, state, util)
    v = m.params.vocab
    return float(shares[0, v.states.index("UZB"), v.partners.index("RUS")])


def test_higher_oil_price_raises_russia_share_of_uzbek_imports() -> None:
    assert _uzbek_russia(True, 2.0) > _uzbek_russia(True, 1.0) + 1e-4
    # Without goods groups the oil price does not move the import mix.
    assert _uzbek_russia(False, 2.0) == pytest.approx(_uzbek_russia(False, 1.0), abs=1e-12)


def test_composition_must_name_a_group_and_sum_to_one() -> None:
    data = resolve(HINDCAST, ())
    comp = data["states"]["UZB"]["import_composition"]
    comp["fuel"] = comp.pop("fuels")
    with pytest.raises(ScenarioError, match=r"import_composition\.fuel: not one of import_groups"):
        validate(data, HINDCAST)
    with pytest.raises(ScenarioError, match="shares sum to"):
        load_scenario(HINDCAST, overrides=["states.UZB.import_composition.food.share=0.5"])
