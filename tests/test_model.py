"""GeoModel behaviour: shipped scenarios run, invariants, events, projects, replications."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import mesa
import numpy as np
import pandas as pd
import pytest

from sim.core import GeoModel, phases
from sim.core.agents import CentralAsianState, GreatPower
from sim.scenario import Scenario, ScenarioError, load_scenario
from sim.vocab import CHANNELS, COMMODITIES, DEFAULT

SHIPPED = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))
KEY = ["replication", "step", "country"]
# The shipped world (the scenarios these tests run).
STATES, POWERS = DEFAULT.states, DEFAULT.powers
PARTNERS, INFLUENCERS = DEFAULT.partners, DEFAULT.influencers


def run_recording_planned_output(model: GeoModel) -> list[np.ndarray]:
    """Run ``model``, returning each step's planned (capacity-derived) output."""
    planned: list[np.ndarray] = []
    original = phases.produce_and_trade

    def recording(params, calib, state, t) -> None:
        planned.append(phases.planned_output(params, state, t).copy())  # reads only
        original(params, calib, state, t)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(phases, "produce_and_trade", recording)
        model.run()
    return planned


def series(df: pd.DataFrame, metric: str, country: str = "", partner: str = "") -> pd.DataFrame:
    """``(step, replication)`` table of one metric."""
    sel = df[(df.metric == metric) & (df.country == country) & (df.partner == partner)]
    return sel.pivot(index="step", columns="replication", values="value")


def add_event(**event):
    def edit(data: dict) -> None:
        data.setdefault("events", []).append({**event, "assumption": "test event"})

    return edit


def run(scenario: Scenario, *, replications: int = 4, rng: int = 7) -> pd.DataFrame:
    return GeoModel(scenario=scenario, replications=replications, rng=rng).run().timeseries()


# ----------------------------------------------------------------------------- shipped


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_scenario_runs(path: Path) -> None:
    model = GeoModel(scenario=path, rng=1).run()
    assert not model.running
    assert model.t == model.spec.steps
    assert len(model.history) == model.spec.steps
    for snap in (model.history[0], model.history[-1]):
        for name, values in snap.items():
            assert np.isfinite(values).all(), name
    assert model.calibration_residual.shape == (len(STATES), len(PARTNERS))


def test_agents_are_the_nine_countries(short_scenario: Scenario) -> None:
    model = GeoModel(scenario=short_scenario, rng=1)
    assert [a.code for a in model.agents_by_type[CentralAsianState]] == list(STATES)
    assert [a.code for a in model.agents_by_type[GreatPower]] == list(POWERS)
    assert len(model.agents) == 9
    assert [a.index for a in model.states] == list(range(len(STATES)))


def test_bad_replication_ids_are_rejected(short_scenario: Scenario) -> None:
    for ids in ([], [-1], [[0, 1]]):
        with pytest.raises(ValueError, match="replication ids"):
            GeoModel(scenario=short_scenario, replication_ids=ids, rng=1)


def test_stepping_past_the_horizon_does_nothing(short_scenario: Scenario) -> None:
    model = GeoModel(scenario=short_scenario, rng=1).run()
    before = model.state.gdp.copy()
    model.step()
    assert model.t == short_scenario.steps
    np.testing.assert_array_equal(model.state.gdp, before)
    assert len(model.history) == short_scenario.steps


# ----------------------------------------------------------------------------- reproducibility


def test_same_seed_gives_identical_timeseries(short_scenario: Scenario) -> None:
    a = run(short_scenario, replications=2, rng=42)
    b = run(short_scenario, replications=2, rng=42)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_default_seed_is_the_scenarios(short_scenario: Scenario) -> None:
    a = GeoModel(scenario=short_scenario).run().timeseries()
    b = GeoModel(scenario=short_scenario, rng=short_scenario.seed).run().timeseries()
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_different_seeds_differ(short_scenario: Scenario) -> None:
    a = run(short_scenario, replications=2, rng=42)
    b = run(short_scenario, replications=2, rng=43)
    assert a[["replication", "step", "metric", "country", "partner"]].equals(
        b[["replication", "step", "metric", "country", "partner"]]
    )
    assert not np.array_equal(a.value, b.value)
    oil_a, oil_b = series(a, "price_oil"), series(b, "price_oil")
    assert (oil_a.iloc[1:] != oil_b.iloc[1:]).all().all()


def test_replications_differ_from_each_other(short_scenario: Scenario) -> None:
    oil = series(run(short_scenario, replications=3, rng=42), "price_oil")
    assert oil.iloc[0].nunique() == 1  # same initial price
    assert oil.iloc[-1].nunique() == 3


@pytest.mark.parametrize("ids", [[2], [3, 1]])
def test_replication_k_in_a_batch_equals_replication_k_alone(
    short_scenario: Scenario, ids: list[int]
) -> None:
    batch = run(short_scenario, replications=4, rng=11)
    alone = GeoModel(scenario=short_scenario, replication_ids=ids, rng=11).run().timeseries()
    assert sorted(alone.replication.unique()) == sorted(ids)
    for k in ids:
        pd.testing.assert_frame_equal(
            batch[batch.replication == k].reset_index(drop=True),
            alone[alone.replication == k].reset_index(drop=True),
            check_exact=True,
        )


def test_mesa_batch_run(monkeypatch: pytest.MonkeyPatch, repo_root: Path) -> None:
    monkeypatch.chdir(repo_root)
    results = mesa.batch_run(
        GeoModel,
        parameters={"scenario": "scenarios/baseline.yaml"},
        rng=[1, 2, 3],
        max_steps=20,
        display_progress=False,
    )
    assert len(results) == 3
    assert sorted(r["rng"] for r in results) == [1, 2, 3]
    for row in results:
        assert row["Step"] == 20
        assert row["scenario"] == "scenarios/baseline.yaml"
        for s in STATES:
            total = sum(row[f"influence_share:{s}:{i}"] for i in INFLUENCERS)
            assert total == pytest.approx(1.0)
            assert sum(row[f"trade_share:{s}:{b}"] for b in PARTNERS) == pytest.approx(1.0)
            assert row[f"gdp:{s}"] > 0
    assert len({r["gdp:KAZ"] for r in results}) == 3


# ----------------------------------------------------------------------------- invariants


@pytest.fixture(scope="module", params=["baseline", "cpc_disruption"])
def invariant_run(request, scenario_dir: Path) -> tuple[GeoModel, pd.DataFrame]:
    scen = load_scenario(scenario_dir / f"{request.param}.yaml")
    model = GeoModel(scenario=scen, replications=8, rng=3)
    model.planned = run_recording_planned_output(model)
    return model, model.timeseries()


def _wide(df: pd.DataFrame, metric_prefix: str) -> pd.DataFrame:
    sel = df[df.metric.str.startswith(metric_prefix)]
    return sel.pivot_table(
        index=[*KEY, "partner"], columns="metric", values="value", aggfunc="first"
    )


def test_run_covers_every_replication_step_and_metric(invariant_run) -> None:
    model, df = invariant_run
    assert sorted(df.replication.unique()) == list(range(8))
    assert sorted(df.step.unique()) == list(range(model.spec.steps))
    counts = df.groupby(["replication", "step"]).size()
    assert counts.nunique() == 1
    dates = df.drop_duplicates("step").date
    assert dates.is_monotonic_increasing
    assert (dates.dt.day == 1).all()
    assert set(dates.dt.month) == {1, 4, 7, 10}


def test_no_nan_or_inf_anywhere(invariant_run) -> None:
    model, df = invariant_run
    assert df.value.notna().all()
    assert np.isfinite(df.value).all()
    for name in ("gdp", "influence_share", "trade_share", "inv", "cap", "price", "dipl"):
        assert np.isfinite(getattr(model.state, name)).all(), name


@pytest.mark.parametrize("metric", ["influence_share", "trade_share"])
def test_shares_are_in_unit_interval_and_sum_to_one(invariant_run, metric: str) -> None:
    _, df = invariant_run
    sel = df[df.metric == metric]
    assert sel.value.between(0.0, 1.0).all()
    totals = sel.groupby(KEY).value.sum()
    assert len(totals) == 8 * sel.step.nunique() * len(STATES)
    np.testing.assert_allclose(totals, 1.0, rtol=0, atol=1e-9)


def test_influence_channels_are_non_negative_and_add_up(invariant_run) -> None:
    _, df = invariant_run
    wide = _wide(df, "influence_")
    channels = [f"influence_{ch}" for ch in CHANNELS]
    assert (wide[channels] >= 0).all().all()
    np.testing.assert_allclose(wide[channels].sum(axis=1), wide["influence_share"], atol=1e-12)
    # Every channel matters somewhere (the breakdown is not degenerate). The fitted
    # weights leave investment small (docs/calibration.md section 8): 0.1 pp somewhere.
    assert (wide[channels].max() > 1e-3).all()


def test_exports_never_exceed_production(invariant_run) -> None:
    _, df = invariant_run
    for c in COMMODITIES:
        exports = df[df.metric == f"exports_{c}"].groupby(KEY).value.sum()
        production = df[df.metric == f"production_{c}"].set_index(KEY).value
        exports, production = exports.align(production)
        assert (exports >= 0).all()
        assert (exports <= production * (1 + 1e-9) + 1e-9).all(), c


def test_production_never_exceeds_planned_output(invariant_run) -> None:
    model, _ = invariant_run
    assert len(model.planned) == len(model.history)
    for planned, snap in zip(model.planned, model.history, strict=True):
        for i, c in enumerate(COMMODITIES):
            produced = snap[f"production_{c}"]
            assert (produced >= 0).all()
            assert (produced <= planned[:, :, i] * (1 + 1e-12) + 1e-12).all(), c


@pytest.mark.parametrize("metric", ["budget", "investment_stock", "export_revenue", "gdp"])
def test_money_is_never_negative(invariant_run, metric: str) -> None:
    _, df = invariant_run
    values = df[df.metric == metric].value
    assert len(values) > 0
    assert (values >= 0).all()
    assert (df[df.metric.str.startswith("price_")].value > 0).all()


def test_budget_metric_matches_the_scenario_budgets(invariant_run) -> None:
    model, df = invariant_run
    # Named projects only ever reduce the programme budget (these runs change no budget).
    assert not any(ev.type == "budget_change" for ev in model.spec.events)
    for p in POWERS:
        b = df[(df.metric == "budget") & (df.country == p)].value
        assert (b <= model.spec.powers[p].budget + 1e-12).all()


# ----------------------------------------------------------------------------- calibration


def test_base_year_calibration_reproduces_trade_targets(scenario: Scenario) -> None:
    model = GeoModel(scenario=scenario, rng=1)
    target = np.array(
        [
            [scenario.states[s].trade_targets.get(b, 0.0) / 100 for b in PARTNERS[:-1]]
            for s in STATES
        ]
    )
    target = np.column_stack([target, 1 - target.sum(axis=1)])
    assert model.calibration_residual.shape == (len(STATES), len(PARTNERS))
    assert np.abs(model.calibration_residual).max() < 0.03
    np.testing.assert_allclose(model.calibration_residual.sum(axis=1), 0.0, atol=1e-12)
    model.step()
    assert np.abs(model.state.trade_share[0] - target).max() < 0.03


# ----------------------------------------------------------------------------- events


@pytest.fixture(scope="module")
def events_base(build_scenario_session) -> tuple[Scenario, pd.DataFrame]:
    scen = build_scenario_session(overrides=["horizon.end=2027Q4"])
    return scen, run(scen)


def test_cpc_disruption_cuts_kazakh_revenue_and_reroutes_oil(
    build_scenario_session, events_base
) -> None:
    _, base = events_base
    scen = build_scenario_session(
        add_event(
            type="route_disruption",
            date="2026Q1",
            route="CPC",
            capacity_loss=0.6,
            duration_quarters=3,
        ),
        overrides=["horizon.end=2027Q4"],
    )
    hit = run(scen)
    before, during = slice(0, 3), slice(4, 6)  # steps 0-3 = 2025; 4-6 = 2026Q1-Q3
    rev_b, rev_h = series(base, "export_revenue", "KAZ"), series(hit, "export_revenue", "KAZ")
    pd.testing.assert_frame_equal(rev_h.loc[before], rev_b.loc[before], check_exact=True)
    assert (rev_h.loc[during] < rev_b.loc[during]).all().all()
    # Oil that cannot use CPC goes to China by pipeline (the only non-CPC route to CHN)
    oil_chn = "exports_oil", "KAZ", "CHN"
    assert (series(hit, *oil_chn).loc[during] > series(base, *oil_chn).loc[during]).all().all()
    # ... and what finds no route is shut in: Kazakh oil output falls.
    prod = "production_oil", "KAZ"
    assert (series(hit, *prod).loc[during] < series(base, *prod).loc[during]).all().all()
    # Uzbekistan exports no oil: its revenue is untouched in the first disrupted quarter.
    uzb = "export_revenue", "UZB"
    np.testing.assert_array_equal(series(hit, *uzb).loc[4], series(base, *uzb).loc[4])


def test_price_shock_raises_revenue(build_scenario_session, events_base) -> None:
    _, base = events_base
    scen = build_scenario_session(
        add_event(type="price_shock", date="2026Q1", commodity="oil", size=0.3),
        overrides=["horizon.end=2027Q4"],
    )
    shocked = run(scen)
    rev_b, rev_s = series(base, "export_revenue", "KAZ"), series(shocked, "export_revenue", "KAZ")
    pd.testing.assert_frame_equal(rev_s.loc[:3], rev_b.loc[:3], check_exact=True)
    assert (rev_s.loc[4:] > rev_b.loc[4:]).all().all()
    ratio = series(shocked, "price_oil").loc[4:] / series(base, "price_oil").loc[4:]
    assert (ratio > 1).all().all()
    # The shock decays: mean reversion pulls the ratio back towards 1.
    assert (ratio.diff().iloc[1:] < 0).all().all()


def test_price_shock_has_its_documented_size(build_scenario_session, events_base) -> None:
    _, base = events_base
    scen = build_scenario_session(
        add_event(type="price_shock", date="2026Q1", commodity="oil", size=0.3),
        overrides=["horizon.end=2027Q4"],
    )
    ratio = series(run(scen), "price_oil").loc[4] / series(base, "price_oil").loc[4]
    np.testing.assert_allclose(ratio, np.exp(0.3), rtol=1e-9)


def test_summit_raises_the_powers_diplomacy_channel(build_scenario_session, events_base) -> None:
    _, base = events_base
    scen = build_scenario_session(
        add_event(type="summit", date="2026Q1", power="JPN", states=["KAZ", "UZB"], weight=1.0),
        overrides=["horizon.end=2027Q4"],
    )
    summit = run(scen)
    for state in ("KAZ", "UZB"):
        key = "influence_diplomacy", state, "JPN"
        b, s = series(base, *key), series(summit, *key)
        pd.testing.assert_frame_equal(s.loc[:3], b.loc[:3], check_exact=True)
        assert (s.loc[4:] > b.loc[4:]).all().all()
        share = "influence_share", state, "JPN"
        assert (series(summit, *share).loc[4:] > series(base, *share).loc[4:]).all().all()
    # A state that was not at the summit gets no diplomacy from it.
    key = "influence_diplomacy", "KGZ", "JPN"
    np.testing.assert_allclose(series(summit, *key), series(base, *key), rtol=1e-9)


def _project(probability: float) -> dict:
    return {
        "name": "test copper mine",
        "power": "JPN",
        "state": "KAZ",
        "sector": "mining",
        "cost": 2.0,
        "start": "2025Q3",
        "lead_time_quarters": 4,  # completes in 2026Q3 = step 6
        "completion_probability": probability,
        "from_budget": False,
        "effects": {"capacity": {"copper": 300.0}},
        "assumption": "test project",
    }


@pytest.mark.parametrize("probability", [0.0, 1.0])
def test_project_changes_capacity_only_when_it_completes(
    build_scenario_session, events_base, probability: float
) -> None:
    _, base = events_base
    scen = build_scenario_session(
        lambda d: d.setdefault("projects", []).append(_project(probability)),
        overrides=["horizon.end=2027Q4"],
    )
    model = GeoModel(scenario=scen, replications=4, rng=7)
    done = 6
    cap0 = model.state.cap[:, STATES.index("KAZ"), COMMODITIES.index("copper")].copy()
    jumps = []
    for _ in range(scen.steps):
        before = model.state.cap[:, STATES.index("KAZ"), COMMODITIES.index("copper")].copy()
        model.step()
        after = model.state.cap[:, STATES.index("KAZ"), COMMODITIES.index("copper")]
        jumps.append(after - before)
    df = model.timeseries()
    copper_b = series(base, "production_copper", "KAZ")
    copper = series(df, "production_copper", "KAZ")
    pd.testing.assert_frame_equal(
        copper.loc[: done - 1], copper_b.loc[: done - 1], check_exact=True
    )
    if probability == 0.0:
        # A failed project with its own money leaves no trace at all.
        pd.testing.assert_frame_equal(df, base, check_exact=True)
        assert (model.state.project_status[:, 0] == 2).all()
    else:
        assert (model.state.project_status[:, 0] == 1).all()
        np.testing.assert_allclose(copper.loc[done] - copper_b.loc[done], 300.0, rtol=1e-9)
        assert (copper.loc[done:] > copper_b.loc[done:] + 250).all().all()
        assert (jumps[done] >= 300.0 - 1e-9).all()
        assert (model.state.cap[:, 0, COMMODITIES.index("copper")] >= cap0 + 300.0).all()
        inv = series(df, "investment_stock", "KAZ", "JPN")
        inv_b = series(base, "investment_stock", "KAZ", "JPN")
        assert (inv.loc[done:] > inv_b.loc[done:] + 1.5).all().all()


# ----------------------------------------------------------------------------- disruptions


def _outage_scenario(build_scenario_session, **disruption) -> Scenario:
    def edit(d: dict) -> None:
        d["disruptions"] = [
            {"route": "CPC", "capacity_loss": 0.5, "assumption": "test", **disruption}
        ]

    return build_scenario_session(edit, overrides=["horizon.end=2028Q4"])


def _cpc_availability(model: GeoModel) -> np.ndarray:
    """``(T, R)`` CPC availability per step."""
    k = model.params.route_names.index("CPC")
    out = []
    while model.running:
        model.step()
        out.append(phases.route_availability(model.params, model.state)[:, k].copy())
    return np.array(out)


def test_no_stochastic_outage_before_its_window(build_scenario_session) -> None:
    scen = _outage_scenario(build_scenario_session, rate_per_year=12.0, start="2027Q1")
    avail = _cpc_availability(GeoModel(scenario=scen, replications=16, rng=5, collect=False))
    assert (avail[:8] == 1.0).all()
    assert (avail[8] == 0.5).mean() > 0.8  # p(arrival) = 1 - exp(-3) per quarter


def test_stochastic_outages_end(build_scenario_session) -> None:
    # One-quarter outages arriving at 1/yr: about 22% of quarters are disrupted.
    scen = _outage_scenario(build_scenario_session, rate_per_year=1.0, mean_duration_quarters=1.0)
    avail = _cpc_availability(GeoModel(scenario=scen, replications=16, rng=5, collect=False))
    disrupted = (avail < 1.0).mean()
    assert 0.1 < disrupted < 0.35


def test_stochastic_outages_stop_after_their_window(build_scenario_session) -> None:
    scen = _outage_scenario(build_scenario_session, rate_per_year=12.0, end="2026Q4")
    avail = _cpc_availability(GeoModel(scenario=scen, replications=16, rng=5, collect=False))
    assert (avail[9:] == 1.0).all()


def test_full_outage_of_a_route_closes_it_without_nan(build_scenario_session) -> None:
    # Regression: availability 0 times an unlimited capacity gave NaN (a RuntimeWarning,
    # and a NaN limit that left the route open).
    def edit(d: dict) -> None:
        d["events"] = [
            {
                "type": "route_disruption",
                "date": "2025Q2",
                "route": "CPC",
                "capacity_loss": 1.0,
                "duration_quarters": 8,
                "assumption": "test",
            }
        ]
        d["routes"]["CPC"]["capacity"] = {}  # unlimited: the NaN case

    scen = build_scenario_session(edit, overrides=["horizon.end=2026Q4"])
    model = GeoModel(scenario=scen, rng=1)
    k = model.params.route_names.index("CPC")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.step()
        model.step()  # 2025Q2: CPC is out
    avail = phases.route_availability(model.params, model.state)
    assert (avail[:, k] == 0.0).all()
    output = phases.planned_output(model.params, model.state, model.t - 1)
    flows, _ = phases.trade_flows(
        model.params, model.state, model.calibration.export_alpha, output, avail
    )
    assert np.isfinite(flows).all()
    assert (flows[model.params.options.k == k] == 0.0).all()


# ----------------------------------------------------------------------------- Mesa conventions


def test_default_model_runs_from_any_working_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    model = GeoModel()
    assert model.spec.name == "baseline"
    assert model.seed == model.spec.seed
    model.step()
    assert model.t == 1


def test_overrides_change_the_scenario(short_scenario: Scenario) -> None:
    model = GeoModel(scenario=short_scenario, overrides={"powers.JPN.budget": 2.0}, rng=1)
    assert model.spec.powers["JPN"].budget == 2.0
    assert model.state.budget[POWERS.index("JPN")] == 2.0
    assert short_scenario.powers["JPN"].budget != 2.0  # the given scenario is untouched
    numpy_value = GeoModel(
        scenario=short_scenario, overrides={"behaviour.hedging": np.float64(1.5)}, rng=1
    )
    assert numpy_value.params.hedging_scale == 1.5


def test_overrides_apply_to_a_scenario_file(baseline_path: Path) -> None:
    model = GeoModel(scenario=baseline_path, overrides={"horizon.end": "2025Q4"})
    assert model.T == 4


@pytest.mark.parametrize(
    "overrides", [{"powers.JPN.budgett": 1.0}, {"powers.XXX.budget": 1.0}, {"seed": -1}]
)
def test_bad_overrides_raise_scenario_errors(short_scenario: Scenario, overrides: dict) -> None:
    with pytest.raises(ScenarioError):
        GeoModel(scenario=short_scenario, overrides=overrides)


def test_mesa_batch_run_sweeps_overrides(short_scenario: Scenario) -> None:
    results = mesa.batch_run(
        GeoModel,
        parameters={
            "scenario": [short_scenario],
            "overrides": [{"powers.JPN.budget": 0.5}, {"powers.JPN.budget": 5.0}],
        },
        rng=[1],
        max_steps=2,
        display_progress=False,
    )
    assert len(results) == 2
    assert {r["overrides"]["powers.JPN.budget"] for r in results} == {0.5, 5.0}
    assert all(r["Step"] == 2 for r in results)


def test_seed_from_a_generator_is_drawn_from_it(short_scenario: Scenario) -> None:
    model = GeoModel(scenario=short_scenario, rng=np.random.default_rng(5))
    assert model.seed == int(np.random.default_rng(5).integers(np.iinfo(np.int32).max))
    with pytest.raises(TypeError, match="rng"):
        GeoModel(scenario=short_scenario, rng="five")


def test_datacollector_records_the_initial_state(short_scenario: Scenario) -> None:
    model = GeoModel(scenario=short_scenario, replications=2, rng=1)
    frame = model.datacollector.get_model_vars_dataframe()
    assert len(frame) == 1
    assert frame["gdp:KAZ"].iloc[0] == pytest.approx(short_scenario.states["KAZ"].gdp)
    model.run()
    assert len(model.datacollector.get_model_vars_dataframe()) == short_scenario.steps + 1


def test_nothing_is_collected_when_collect_is_false(short_scenario: Scenario) -> None:
    model = GeoModel(scenario=short_scenario, rng=1, collect=False).run()
    assert model.history == []
    assert model.datacollector.get_model_vars_dataframe().empty


# ----------------------------------------------------------------------------- phases


def _writes(func) -> set[str]:
    """State fields a phase's docstring lists under ``Writes:``."""
    text = " ".join(func.__doc__.split("Writes:")[1].split())
    return {part.split("``")[1] for part in text.split(",") if "``" in part}


def _changed(before, after) -> set[str]:
    out = set()
    for name, value in vars(before).items():
        new = getattr(after, name)
        same = (
            value == new
            if isinstance(value, list)
            else value.shape == new.shape and np.array_equal(value, new, equal_nan=True)
        )
        if not same:
            out.add(name)
    return out


def test_phases_write_only_what_they_declare(build_scenario_session) -> None:
    summit = add_event(type="summit", date="2025Q3", power="JPN", states=["KAZ"], weight=1.0)
    reform = add_event(type="reform", date="2025Q3", state="UZB", hedging=0.5)

    def edit(data: dict) -> None:
        summit(data)
        reform(data)

    scen = build_scenario_session(edit, overrides=["horizon.end=2026Q4"])
    model = GeoModel(scenario=scen, replications=2, rng=3)
    model.step()
    model.step()
    p, n, t, calib = model.params, model.noise, model.t, model.calibration
    calls = [
        (phases.apply_events, (p, model.state, t)),
        (phases.update_prices, (p, model.state, n.eps[:, t], t)),
        (phases.draw_outages, (p, model.state, n.arrival[:, t], n.duration[:, t], t)),
        (phases.set_programme_budgets, (p, model.state, t)),
        (phases.produce_and_trade, (p, calib, model.state, t)),
        (phases.update_economy, (p, calib, model.state, t)),
        (phases.update_influence, (p, model.state)),
    ]
    for func, args in calls:
        before = copy.deepcopy(model.state)
        func(*args)
        assert _changed(before, model.state) <= _writes(func), func.__name__
    before = copy.deepcopy(model.state)
    phases.planned_output(p, model.state, t)
    phases.import_terms(p, model.state)
    phases.channel_inputs(p, model.state)
    assert not _changed(before, model.state)
