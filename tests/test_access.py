"""Aimed budgets, equity offtake and the award sensitivity (issue 9, items 3, 4 and 6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.core import mechanisms
from sim.core.model import GeoModel
from sim.core.params import Params
from sim.scenario import ScenarioError, load_scenario
from sim.vocab import COMMODITIES

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.yaml"
SUMMIT = ROOT / "scenarios" / "japan_summit.yaml"


def run(path: Path, overrides: dict[str, object], reps: int = 3) -> GeoModel:
    return GeoModel(scenario=path, overrides=overrides, replications=reps, collect=False).run()


def refused(overrides: list[str], path: Path = BASELINE) -> str:
    with pytest.raises(ScenarioError) as err:
        load_scenario(path, overrides)
    text = str(err.value)
    assert "\n" not in text
    return text


# ------------------------------------------------------------------ mechanisms


def test_offtake_by_capital_matches_a_hand_computation() -> None:
    # One state, one commodity, two powers (two partners): capital value 10.
    equity = np.array([[[[2.0, 1.0]]]])
    value = np.array([[[10.0]]])
    influence = np.array([[[0.5, 0.0]]])
    contract = np.zeros((1, 1, 1, 2))
    out = mechanisms.offtake_by_capital(equity, value, influence, contract, alpha=2.0)
    # power 0: 2/10 * (1 + 2 * 0.5) = 0.4; power 1: 1/10 * 1 = 0.1
    np.testing.assert_allclose(out[0, 0, 0], [0.4, 0.1])
    # with contracts of 0.7 only 0.2 is left: earned shares scale by 0.2 / 0.5
    contract[..., 1] = 0.7
    out = mechanisms.offtake_by_capital(equity, value, influence, contract, alpha=2.0)
    np.testing.assert_allclose(out[0, 0, 0], [0.16, 0.74])


def test_offtake_share_rises_with_equity_and_stays_bounded() -> None:
    value = np.full((1, 1, 1), 5.0)
    influence = np.array([[[0.3]]])
    contract = np.zeros((1, 1, 1, 2))
    shares = [
        mechanisms.offtake_by_capital(np.array([[[[k]]]]), value, influence, contract, alpha=4.0)[
            0, 0, 0, 0
        ]
        for k in np.linspace(0, 50, 11)
    ]
    assert np.all(np.diff(shares) >= 0)
    assert shares[1] > shares[0]
    assert max(shares) <= 0.9 + 1e-12


def test_favour_raises_acceptance_of_an_influential_power() -> None:
    share = np.array([0.1, 0.3])
    plain = mechanisms.acceptance(share, 1.0, 0.5)
    favoured = mechanisms.acceptance(share, 1.0, 0.5, favour=4.0)
    assert np.all(favoured > plain)
    expected = 1.0 / (1.0 + np.exp(10.0 * (0.3 - 0.5) - 4.0 * 0.3))
    assert favoured[1] == pytest.approx(expected)


# ------------------------------------------------------------------ model behaviour

SHORT = {"horizon.end": "2032Q4"}


def test_a_budget_aimed_at_uzbekistan_raises_japans_influence_there_most() -> None:
    base = run(BASELINE, SHORT)
    aimed = run(BASELINE, {**SHORT, "powers.JPN.budget_split": {"UZB": 1.0}})
    v = base.params.vocab
    jpn, uzb = v.index("power", "JPN"), v.index("state", "UZB")
    gain = (aimed.state.influence_share - base.state.influence_share)[:, :, jpn].mean(axis=0)
    assert gain[uzb] > 0
    assert gain[uzb] > np.delete(gain, uzb).max()


def test_japans_offtake_share_rises_with_its_mining_investment() -> None:
    mining = run(BASELINE, {**SHORT, "powers.JPN.budget_split": {"KAZ": {"mining": 1.0}}})
    transport = run(BASELINE, {**SHORT, "powers.JPN.budget_split": {"KAZ": {"transport": 1.0}}})
    v = mining.params.vocab
    kaz, jpn = v.index("state", "KAZ"), v.index("partner", "JPN")
    u = COMMODITIES.index("uranium")
    more = mining.state.offtake[:, kaz, u, jpn]
    less = transport.state.offtake[:, kaz, u, jpn]
    assert np.all(more > less)
    assert np.all(mining.state.equity[:, kaz, u, jpn] > transport.state.equity[:, kaz, u, jpn])


def test_japan_summit_raises_japans_share_of_kazakh_uranium() -> None:
    end = {"horizon.end": "2031Q4"}
    base, summit = run(BASELINE, end), run(SUMMIT, end)
    v = base.params.vocab
    kaz, jpn = v.index("state", "KAZ"), v.index("partner", "JPN")
    u = COMMODITIES.index("uranium")

    def share(m: GeoModel) -> np.ndarray:
        vol = m.state.exports_volume[:, kaz, u]
        return vol[:, jpn] / vol.sum(axis=1)

    assert base.seed == summit.seed
    assert np.all(share(summit) > share(base))


@pytest.mark.parametrize("alpha", [0.0, 4.0])
def test_offtake_invariants(alpha: float) -> None:
    m = run(
        SUMMIT,
        {
            "horizon.end": "2032Q4",
            "behaviour.award_sensitivity": alpha,
            "powers.JPN.budget": 20.0,
            "powers.JPN.budget_split": {"KAZ": {"mining": 1.0}},
        },
        reps=2,
    )
    off = m.state.offtake
    assert np.isfinite(off).all()
    assert np.isfinite(m.state.equity).all()
    assert off.min() >= 0.0
    assert off.sum(axis=3).max() <= 0.9 + 1e-9
    assert np.isfinite(m.state.influence_share).all()


# ------------------------------------------------------------------ scenario input


def test_budget_split_is_compiled_and_leaves_the_rest_to_the_rule() -> None:
    sp = load_scenario(
        BASELINE, ["powers.JPN.budget_split={UZB: 0.5, KAZ: {mining: 0.2, transport: 0.1}}"]
    )
    p = Params.from_scenario(sp)
    v = p.vocab
    jpn, uzb, kaz = v.index("power", "JPN"), v.index("state", "UZB"), v.index("state", "KAZ")
    assert p.aim_state0[jpn, uzb] == 0.5
    assert p.aim_sector0[jpn, kaz].sum() == pytest.approx(0.3)
    m = GeoModel(scenario=sp, replications=2, collect=False)
    m.step()
    # Offers of the step: at least the aimed share goes to Uzbekistan.
    offers = m.state.pipeline.sum(axis=1)[:, jpn]  # (R, S, SEC), accepted money
    assert offers.sum() > 0


@pytest.mark.parametrize(
    ("assignment", "key", "words"),
    [
        ("powers.JPN.budget_split={UZB: 0.7, KAZ: 0.6}", "powers.JPN.budget_split", "sum to"),
        ("powers.JPN.budget_split={XYZ: 0.1}", "powers.JPN.budget_split.XYZ", "unknown code"),
        ("powers.JPN.budget_split={UZB: 1.5}", "powers.JPN.budget_split.UZB", "share in [0, 1]"),
        (
            "powers.JPN.budget_split={UZB: {mines: 0.1}}",
            "powers.JPN.budget_split.UZB.mines",
            "unknown sector",
        ),
    ],
)
def test_bad_budget_splits_name_the_key_path(assignment: str, key: str, words: str) -> None:
    text = refused([assignment])
    assert f": {key}: " in text
    assert words in text


def test_a_bad_split_on_a_budget_change_names_the_event() -> None:
    sp = load_scenario(SUMMIT)
    i = next(i for i, ev in enumerate(sp.events) if ev.type == "budget_change")
    text = refused([f"events.{i}.budget_split={{UZB: 0.9, KAZ: 0.9}}"], SUMMIT)
    assert f": events.{i}.budget_split: " in text


@pytest.mark.parametrize(
    ("assignment", "field", "value"),
    [
        ("powers.JPN.learning_rate=0.5", "learning_rate", 0.5),
        ("behaviour.learned_weight=0.25", "learned_weight", 0.25),
        ("behaviour.award_sensitivity=2", "award_sensitivity", 2.0),
        ("behaviour.strategy_temperature=1.5", "strategy_temperature", 1.5),
        ("behaviour.sector_return.mining=0.3", "sector_return", 0.3),
    ],
)
def test_behaviour_knobs_can_be_set(assignment: str, field: str, value: float) -> None:
    p = Params.from_scenario(load_scenario(BASELINE, [assignment]))
    got = getattr(p, field)
    if field == "learning_rate":
        got = got[p.vocab.index("power", "JPN")]
    elif field == "sector_return":
        got = got[1]  # mining
    assert float(got) == pytest.approx(value)
