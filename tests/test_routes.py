"""Export routes: base-year route shares, the re-routing ramp, the route_flow metric."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from sim.core import kernels, mechanisms, observe, phases
from sim.core.model import GeoModel
from sim.core.state import route_shares
from sim.output import metric_layout
from sim.scenario import ScenarioError
from sim.vocab import COMMODITIES

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import ScenarioBuilder

    from sim.scenario import Scenario

OIL = COMMODITIES.index("oil")
SHOCK = 2  # the closure starts in the third quarter (2025Q3)
CLOSED = 4  # ... and lasts four quarters


def _closure(data: dict[str, Any]) -> None:
    """CPC closed from 2025Q3 for a year; no random strikes, so every replication agrees."""
    data["disruptions"] = []
    data["events"] = [
        {
            "type": "route_disruption",
            "date": "2025Q3",
            "route": "CPC",
            "capacity_loss": 1.0,
            "duration_quarters": CLOSED,
            "assumption": "test",
        }
    ]


def _calm(data: dict[str, Any]) -> None:
    data["disruptions"] = []


def _run(scenario: Scenario, steps: int, replications: int = 2) -> list[dict[str, np.ndarray]]:
    model = GeoModel(scenario=scenario, replications=replications, rng=5, collect=False)
    out = []
    for _ in range(steps):
        model.step()
        snap = observe.snapshot(model)
        snap["shut_in"] = model.state.shut_in.copy()
        out.append(snap)
    return out


@pytest.fixture(scope="module")
def calm(build_scenario_session: ScenarioBuilder) -> Scenario:
    return build_scenario_session(_calm, overrides=["horizon.end=2027Q4"])


@pytest.fixture(scope="module")
def closure(build_scenario_session: ScenarioBuilder) -> Scenario:
    return build_scenario_session(_closure, overrides=["horizon.end=2027Q4"])


@pytest.fixture(scope="module")
def closure_run(closure: Scenario) -> list[dict[str, np.ndarray]]:
    return _run(closure, 10)


def _routes(scenario: Scenario) -> tuple[str, ...]:
    return scenario.vocab.routes_for("oil")


# ----------------------------------------------------------------------------- base year


def test_base_year_route_shares_match_their_targets(baseline_loaded: Scenario) -> None:
    model = GeoModel(scenario=baseline_loaded, rng=1, collect=False)
    target = model.params.route_base_share
    has = np.isfinite(target)
    assert has.any()
    assert np.abs(model.calibration.route_residual[has]).max() < 0.03
    s, k = model.params.vocab.index("state", "KAZ"), model.params.route_names.index("CPC")
    assert abs(target[s, OIL, k] - 0.80) <= 0.03  # about 80% of Kazakh crude (DOMAIN brief)


def test_base_year_shares_hold_in_the_first_quarter(calm: Scenario) -> None:
    """Without outages the first quarter's route mix is the fitted one, within 3 pp."""
    model = GeoModel(scenario=calm, rng=1, collect=False)
    model.step()
    shares = route_shares(model.state.route_flow[0])
    target = model.params.route_base_share
    has = np.isfinite(target)
    assert np.abs(shares[has] - target[has]).max() < 0.03
    kaz, chn = model.params.vocab.index("state", "KAZ"), model.params.vocab.index("partner", "CHN")
    kaz_oil = model.state.exports_volume[0, kaz, OIL]
    assert kaz_oil[chn] / kaz_oil.sum() < 0.05  # Kazakh-origin crude to China is small


def test_route_constants_leave_the_trade_shares_on_target(baseline_loaded: Scenario) -> None:
    model = GeoModel(scenario=baseline_loaded, rng=1, collect=False)
    assert np.abs(model.calibration_residual).max() < 0.03
    untargeted = ~np.isfinite(model.params.route_base_share)
    assert (model.calibration.route_alpha[untargeted] == 0.0).all()
    assert (model.calibration.route_residual[untargeted] == 0.0).all()


def test_without_targets_there_are_no_route_constants(build_scenario: ScenarioBuilder) -> None:
    def drop(data: dict[str, Any]) -> None:
        for route in data["routes"].values():
            route.pop("base_share", None)

    model = GeoModel(scenario=build_scenario(drop), rng=1, collect=False)
    assert (model.calibration.route_alpha == 0.0).all()


# ----------------------------------------------------------------------------- re-routing


def test_closure_cuts_exports_in_the_shock_quarter(
    calm: Scenario, closure_run: list[dict[str, np.ndarray]]
) -> None:
    base = _run(calm, SHOCK + 1)
    kaz = calm.vocab.states.index("KAZ")
    before = base[SHOCK]["exports_oil"][:, kaz].sum(axis=1)
    after = closure_run[SHOCK]["exports_oil"][:, kaz].sum(axis=1)
    assert (after < 0.9 * before).all()
    assert (
        closure_run[SHOCK]["shut_in"][:, kaz, OIL] > closure_run[0]["shut_in"][:, kaz, OIL]
    ).all()


def test_rerouting_builds_up_over_several_quarters(
    closure: Scenario, closure_run: list[dict[str, np.ndarray]]
) -> None:
    kaz, routes = closure.vocab.states.index("KAZ"), _routes(closure)
    others = [i for i, k in enumerate(routes) if k != "CPC"]
    moved = np.array([run["route_flow_oil"][:, kaz, others].sum(axis=1) for run in closure_run])
    gain = moved[SHOCK : SHOCK + CLOSED] - moved[SHOCK - 1]  # (quarters, R)
    assert (gain[0] > 0).all()
    assert (np.diff(gain, axis=0) > -1e-9).all()  # it keeps building up ...
    assert (gain[-1] > 1.5 * gain[0]).all()  # ... and the first quarter has a small part of it


def test_ramp_one_reroutes_at_once(build_scenario: ScenarioBuilder) -> None:
    """With route_ramp 1 (no limit) the whole re-routing happens in the shock quarter."""
    scen = build_scenario(_closure, overrides=["horizon.end=2027Q4", "behaviour.route_ramp=1"])
    run = _run(scen, SHOCK + 2)
    kaz, routes = scen.vocab.states.index("KAZ"), _routes(scen)
    others = [i for i, k in enumerate(routes) if k != "CPC"]
    moved = np.array([r["route_flow_oil"][:, kaz, others].sum(axis=1) for r in run])
    np.testing.assert_allclose(moved[SHOCK + 1], moved[SHOCK], rtol=1e-2)


def test_rise_per_quarter_stays_under_the_ramp(closure: Scenario) -> None:
    model = GeoModel(scenario=closure, replications=2, rng=5, collect=False)
    ramp, load0 = model.params.route_ramp, model.calibration.route_load0
    previous = None
    for _ in range(8):
        model.step()
        load = model.state.route_flow.sum(axis=1).transpose(0, 2, 1)  # (R, K, C)
        if previous is not None:
            limit = np.maximum(previous, load0) + ramp * model.state.route_cap
            assert (load <= limit * (1 + 1e-9) + 1e-9).all()
        previous = load


def test_kernels_and_numpy_agree_under_the_ramp(
    closure: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run() -> np.ndarray:
        model = GeoModel(scenario=closure, replications=2, rng=7, collect=False)
        for _ in range(SHOCK + 3):
            model.step()
        return model.state.route_flow.copy()

    fast = run()
    monkeypatch.setattr(kernels, "ENABLED", False)
    np.testing.assert_allclose(fast, run(), rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- the metric


def test_route_flow_sums_to_exports(closure: Scenario, closure_run: list[dict[str, Any]]) -> None:
    for snap in closure_run:
        for c in COMMODITIES:
            if not closure.vocab.routes_for(c):
                assert f"route_flow_{c}" not in snap
                continue
            by_route = snap[f"route_flow_{c}"]
            assert (by_route >= 0).all()
            np.testing.assert_allclose(
                by_route.sum(axis=2), snap[f"exports_{c}"].sum(axis=2), rtol=1e-9, atol=1e-9
            )


def test_route_flow_is_in_the_layout(baseline_loaded: Scenario) -> None:
    layout = metric_layout(baseline_loaded.vocab)
    states, routes = layout["route_flow_oil"]
    assert states == baseline_loaded.vocab.states
    assert "CPC" in routes
    assert "CA_CHINA_GAS" not in routes


def test_route_flow_respects_capacity(closure: Scenario) -> None:
    model = GeoModel(scenario=closure, replications=2, rng=5, collect=False)
    for _ in range(SHOCK + 2):
        model.step()
        load = model.state.route_flow.sum(axis=1).transpose(0, 2, 1)  # (R, K, C)
        avail = phases.route_availability(model.params, model.state)[:, :, None]
        cap = np.multiply(model.state.route_cap, avail, out=np.zeros_like(load), where=avail > 0)
        assert (load <= cap * (1 + 1e-9) + 1e-9).all()


# ----------------------------------------------------------------------------- mechanism, input


def test_ramp_ceiling_by_hand() -> None:
    load = np.array([[[2.0], [0.0], [5.0]]])  # (R=1, K=3, C=1)
    established = np.array([[4.0], [0.0], [1.0]])
    capacity = np.array([[[10.0], [np.inf], [20.0]]])
    got = mechanisms.ramp_ceiling(load, established, capacity, 0.25)
    np.testing.assert_array_equal(got, [[[4.0 + 2.5], [np.inf], [5.0 + 5.0]]])


@pytest.mark.parametrize(
    ("share", "match"),
    [({"UZB": {"oil": 0.5}}, "origins"), ({"KAZ": {"gas": 0.5}}, "commodities")],
)
def test_base_share_must_be_on_the_route(
    build_scenario: ScenarioBuilder, share: dict[str, Any], match: str
) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["routes"]["CPC"]["base_share"] = share

    with pytest.raises(ScenarioError, match=match):
        build_scenario(edit)


def test_base_shares_may_not_exceed_one(build_scenario: ScenarioBuilder) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["routes"]["ATYRAU_SAMARA"]["base_share"] = {"KAZ": {"oil": 0.5}}

    with pytest.raises(ScenarioError, match="sums to"):
        build_scenario(edit)


def test_hindcasts_need_no_route_shares(scenario_dir: Path) -> None:
    base = GeoModel(scenario=scenario_dir / "baseline.yaml", rng=1, collect=False)
    for name in ("hindcast_2005.yaml", "hindcast_2010.yaml"):
        model = GeoModel(scenario=scenario_dir / name, rng=1, collect=False)
        assert (model.calibration.route_alpha == 0.0).all()
        assert model.params.route_ramp == base.params.route_ramp  # one model everywhere
