"""The 2010-2020 mechanisms: EAEU trade-cost preference, contract gas prices, domestic-use
paths, bazaar re-exports, import inertia, take-or-pay floors, sanctions without secondary
reach (hand-computed references, monotone effects, invariants)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.core import mechanisms
from sim.core.model import GeoModel
from sim.core.params import Params
from sim.scenario.load import load_scenario
from sim.studies.backtest import carried_on, last_reference_year
from sim.vocab import COMMODITIES

ROOT = Path(__file__).resolve().parent.parent
HINDCAST = ROOT / "scenarios" / "hindcast_2010.yaml"


def run(overrides: dict, steps: int = 28, scenario: Path = HINDCAST) -> GeoModel:
    """A 2-replication hindcast run for ``steps`` quarters."""
    m = GeoModel(scenario=scenario, overrides=overrides, replications=2, collect=False, rng=3)
    for _ in range(steps):
        m.step()
    return m


# ---------------------------------------------------------------- pure mechanisms


def test_bloc_preference_hand_computed() -> None:
    got = mechanisms.bloc_preference(np.array([1, 0]), np.array([0, 1, 0]), 0.05, 8.0)
    assert np.allclose(got, [[0.0, 0.4, 0.0], [0.0, 0.0, 0.0]])


def test_contract_factor_hand_computed() -> None:
    contract = np.array([[np.nan, 240.0], [np.nan, np.nan]])  # (K=2, C=2)
    market = np.array([[1.0, 300.0]])
    got = mechanisms.contract_factor(contract, market)
    assert np.allclose(got, [[[1.0, 0.8], [1.0, 1.0]]])


def test_domestic_share_path_overrides_base() -> None:
    base = np.array([[0.5, 0.2]])
    got = mechanisms.domestic_share(base, ((0, 1, np.array([0.3, 0.9])),), 1)
    assert np.allclose(got, [[0.5, 0.9]])
    assert mechanisms.domestic_share(base, (), 1) is base


def test_reexport_imports_hand_computed() -> None:
    got = mechanisms.reexport_imports(
        np.array([[10.0, 4.0]]), np.array([[0.0, 0.0], [0.4, 0.0]]), np.array([0, 1]), 0.5
    )
    assert np.allclose(got, [[[0.0, 0.0], [0.8, 0.0]]])  # 4 x 0.4 x (1 - 0.5)


def test_supplier_mass_utility_hand_computed() -> None:
    share = np.array([14.6, 1.7, np.nan])
    base = np.array([7.3, 3.4, 5.0])
    got = mechanisms.supplier_mass_utility(share, base, 2.0)
    assert np.allclose(got, [2.0 * np.log(2.0), 2.0 * np.log(0.5), 0.0])  # no data: 0
    assert np.allclose(mechanisms.supplier_mass_utility(base, base, 3.0), 0.0)


def test_partial_adjustment_keeps_shares() -> None:
    prev, target = np.array([0.5, 0.5, 0.0]), np.array([0.1, 0.2, 0.7])
    got = mechanisms.partial_adjustment(prev, target, 0.25)
    assert np.allclose(got, [0.4, 0.425, 0.175])
    assert np.isclose(got.sum(), 1.0)


def test_take_or_pay_offtake_hand_computed() -> None:
    offtake = np.array([0.2, 0.5, 0.0]).reshape(1, 1, 1, 3)
    floor = np.array([0.0, 0.0, 6.0]).reshape(1, 1, 3)
    got = mechanisms.take_or_pay_offtake(offtake, floor, np.array([[[10.0]]]))
    # floor share 6 / 10 = 0.6; the others share 0.4 in proportion (0.2 : 0.5)
    assert np.allclose(got.ravel(), [0.4 * 2 / 7, 0.4 * 5 / 7, 0.6])
    # floors beyond supply share it in proportion: 0.8 and 0.6 over 1.4
    floor2 = np.array([0.0, 8.0, 6.0]).reshape(1, 1, 3)
    got2 = mechanisms.take_or_pay_offtake(np.zeros_like(offtake), floor2, np.array([[[10.0]]]))
    assert np.allclose(got2.ravel(), [0.0, 0.8 / 1.4, 0.6 / 1.4])
    # no supply: the floor takes nothing and offtake is kept
    got3 = mechanisms.take_or_pay_offtake(offtake, floor, np.array([[[0.0]]]))
    assert np.allclose(got3, offtake)


# ---------------------------------------------------------------- monotone effects


def test_joining_the_eaeu_raises_the_members_share_with_russia() -> None:
    """KGZ joins in 2015Q3: the larger the trade-cost preference, the larger Russia's share."""
    kgz, rus = 2, 1
    low = run({"behaviour.eaeu_trade_cost": 0.0}).state.trade_share[:, kgz, rus]
    high = run({"behaviour.eaeu_trade_cost": 0.1}).state.trade_share[:, kgz, rus]
    assert (high > low + 1e-3).all()


@pytest.mark.parametrize("state", [0, 1, 2, 3, 4])
def test_chinas_world_export_share_raises_its_import_share(state: int) -> None:
    """Supplier mass: the more China's share of world exports grows, the more it supplies."""
    chn = 0
    got = []
    for late in (10.4, 12.0, 14.0):  # China's world export share from 2012 on (2010: 10.4)
        path = {2010: 10.4, 2011: 10.4, 2012: late}
        m = run(
            {"behaviour.supplier_mass_elasticity": 1.0, "powers.CHN.export_share_path": path},
            steps=12,
        )
        imports = m.state.imports_value[:, state]
        got.append(imports[:, chn] / imports.sum(axis=1))
    assert (got[1] > got[0] + 1e-4).all()
    assert (got[2] > got[1] + 1e-4).all()


def test_eaeu_preference_reaches_exports_too() -> None:
    kgz, rus = 2, 1
    low = run({"behaviour.eaeu_trade_cost": 0.0}).state.exports_value[:, kgz, rus]
    high = run({"behaviour.eaeu_trade_cost": 0.1}).state.exports_value[:, kgz, rus]
    assert (high > low).all()


def test_reexports_raise_chinas_mirror_share_for_kgz() -> None:
    kgz, chn = 2, 0
    none = run({"states.KGZ.reexport_share.CHN": 0.0}, steps=4).state.trade_share[:, kgz, chn]
    some = run({"states.KGZ.reexport_share.CHN": 0.4}, steps=4).state.trade_share[:, kgz, chn]
    # calibrated to the same base year, so compare after the 2015 accession instead
    late_none = run({"states.KGZ.reexport_share.CHN": 0.0}).state.trade_share[:, kgz, chn]
    late_some = run({"states.KGZ.reexport_share.CHN": 0.4}).state.trade_share[:, kgz, chn]
    assert np.allclose(none, some, atol=0.02)  # the base year is calibrated either way
    assert (late_some < late_none).all()  # joining the EAEU removes part of the re-exports
    m = run({"states.KGZ.reexport_share.CHN": 0.4}, steps=4)
    assert (m.state.reexports_value[:, kgz, chn] > 0).all()
    assert (m.state.imports_value >= m.state.reexports_value - 1e-12).all()


def test_lower_gazprom_price_shifts_turkmen_gas_to_china() -> None:
    """A route_price event cutting Gazprom's price moves Turkmen gas toward China.

    (A contract price set from the base year on is absorbed by the calibration, so the
    test changes it in 2012 through the event record, as a scenario event would. The
    re-routing ramp is lifted so that one quarter shows the whole shift.)
    """
    from sim.core import phases  # noqa: PLC0415
    from sim.core.params import RoutePrice  # noqa: PLC0415

    tkm, gas = 4, COMMODITIES.index("gas")
    vol = {}
    for price in (400.0, 150.0):
        m = run({"behaviour.route_ramp": 1.0}, steps=8)
        k = m.params.route_names.index("CAC_GAS_TKM")
        phases._apply_event(m.params, m.state, RoutePrice(k, gas, price), m.t)
        m.step()
        vol[price] = m.state.exports_volume[:, tkm, gas, :]
    assert (vol[150.0][:, 0] > vol[400.0][:, 0]).all()  # China
    assert (vol[150.0][:, 1] < vol[400.0][:, 1]).all()  # Russia


def test_more_domestic_use_means_less_uzbek_gas_exported() -> None:
    uzb, gas = 1, COMMODITIES.index("gas")
    path = dict.fromkeys(range(2010, 2021), 0.95)
    path[2010] = 0.771
    high = run({"states.UZB.domestic_use_path.gas": path}, steps=8)
    base = run({}, steps=8)
    assert (
        high.state.exports_volume[:, uzb, gas].sum() < base.state.exports_volume[:, uzb, gas].sum()
    )


@pytest.mark.parametrize("volume", [0.0, 4.0, 8.0])
def test_a_larger_take_or_pay_floor_sends_more_uzbek_gas_to_russia(volume: float) -> None:
    uzb, rus, gas = 1, 1, COMMODITIES.index("gas")
    floor = {"states.UZB.contract_floor": {"RUS": {"gas": {2010: volume}}}}
    lower = run({"states.UZB.contract_floor": {"RUS": {"gas": {2010: volume / 2}}}}, steps=20)
    higher = run(floor, steps=20)
    to_rus = [m.state.exports_volume[:, uzb, gas, rus] for m in (lower, higher)]
    assert (to_rus[1] >= to_rus[0] - 1e-9).all()
    if volume > 0:
        assert (to_rus[1] > to_rus[0] + 1e-3).all()


def test_sanctions_without_secondary_reach_keep_russias_import_share() -> None:
    """The 2014 sanctions (2014Q3): without secondary reach Russia keeps more of KAZ imports."""
    kaz, rus = 0, 1
    path = "events"
    base = run({}, steps=24)
    events = [e.model_dump(exclude_none=True) for e in base.spec.events]
    for e in events:
        if e["type"] == "sanctions":
            e["secondary"] = True
    secondary = run({path: events}, steps=24)
    share = [
        m.state.imports_value[:, kaz, rus] / m.state.imports_value[:, kaz].sum(axis=1)
        for m in (secondary, base)
    ]
    assert (share[1] > share[0] + 1e-3).all()


@pytest.mark.parametrize("name", ["hindcast_2005", "hindcast_2010"])
def test_both_hindcasts_hold_the_take_or_pay_floors(name: str) -> None:
    """Gazprom's Uzbek contract and Karachaganak gas to Orenburg bind in both hindcasts."""
    params = Params.from_scenario(load_scenario(ROOT / "scenarios" / f"{name}.yaml"))
    v, gas = params.vocab, COMMODITIES.index("gas")
    rus = v.partners.index("RUS")
    floors = {(v.states[s], c, b): values for s, c, b, values in params.contract_floor}
    assert floors[("UZB", gas, rus)][0] > 0
    kaz = floors[("KAZ", gas, rus)]
    assert kaz[-1] > 0
    if name == "hindcast_2005":  # Karachaganak's agreement dates from 2007
        assert kaz[0] == 0
        assert kaz[8] > 0


def test_the_backtests_carried_on_years_follow_the_realised_paths() -> None:
    """Prices listed to the last reference year; carried on, 2021-24 are not 2020's values."""
    scenario = load_scenario(HINDCAST)
    last = last_reference_year()
    for c in ("oil", "gas"):
        assert max(scenario.prices[c].path) >= last
    params = Params.from_scenario(carried_on(scenario, last))
    oil = dict(params.price_path)[COMMODITIES.index("oil")]
    by_year = {(params.start_quarter + t) // 4: oil[t] for t in range(len(oil))}
    assert by_year[2022] == scenario.prices["oil"].path[2022] != by_year[2020]
    tkm = next(
        values
        for s, c, values in params.production_path
        if params.vocab.states[s] == "TKM" and COMMODITIES[c] == "gas"
    )
    assert tkm[-1] != tkm[(2020 - 2010) * 4]


# ---------------------------------------------------------------- invariants


@pytest.mark.parametrize("adjust", [1.0, 0.2])
def test_shares_stay_valid(adjust: float) -> None:
    m = run({"behaviour.import_adjustment": adjust}, steps=44)
    share = m.state.trade_share
    assert np.isfinite(share).all()
    assert (share >= 0).all()
    assert (share <= 1 + 1e-12).all()
    assert np.allclose(share.sum(axis=2), 1.0)
    assert np.isfinite(m.state.imports_value).all()


@pytest.mark.parametrize(
    "name", ["baseline", "china_bri_push", "cpc_disruption", "japan_summit", "us_c5plus1"]
)
def test_forward_scenarios_still_run(name: str) -> None:
    m = run({}, steps=6, scenario=ROOT / "scenarios" / f"{name}.yaml")
    assert np.isfinite(m.state.trade_share).all()
    assert np.allclose(m.state.trade_share.sum(axis=2), 1.0)
