"""The tidy table, snapshots and Mesa model reporters (sim.metrics)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from sim import metrics
from sim.countries import CHANNELS, COMMODITIES, INFLUENCERS, PARTNERS, POWERS, STATES
from sim.model import GeoModel
from sim.scenario import Scenario, parse_quarter


@pytest.fixture(scope="module")
def model(short_loaded: Scenario) -> GeoModel:
    return GeoModel(scenario=short_loaded, replications=3, rng=9).run()


@pytest.fixture(scope="module")
def tidy(model: GeoModel) -> pd.DataFrame:
    return model.timeseries()


def _size(labels: tuple[str, ...] | None) -> int:
    return len(labels) if labels else 1


def test_layout_lists_the_required_metrics() -> None:
    required = {"influence_share", "trade_share", "gdp", *(f"influence_{c}" for c in CHANNELS)}
    assert required <= set(metrics.LAYOUT)


def test_snapshot_has_every_metric_with_the_layout_shape(model: GeoModel) -> None:
    snap = metrics.snapshot(model)
    assert set(snap) == set(metrics.LAYOUT)
    for name, (countries, partners) in metrics.LAYOUT.items():
        shape = (model.R, *(len(x) for x in (countries, partners) if x))
        assert snap[name].shape == shape, name


def test_snapshot_copies(model: GeoModel) -> None:
    snap = metrics.snapshot(model)
    snap["gdp"][:] = -1.0
    assert (model.gdp > 0).all()


def test_tidy_columns_types_and_size(model: GeoModel, tidy: pd.DataFrame) -> None:
    assert tuple(tidy.columns) == metrics.COLUMNS
    per_step = sum(_size(c) * _size(p) for c, p in metrics.LAYOUT.values())
    assert len(tidy) == model.R * model.T * per_step
    assert pd.api.types.is_integer_dtype(tidy.replication)
    assert pd.api.types.is_integer_dtype(tidy.step)
    assert pd.api.types.is_datetime64_any_dtype(tidy.date)
    assert pd.api.types.is_float_dtype(tidy.value)
    assert not tidy.duplicated(["replication", "step", "metric", "country", "partner"]).any()


def test_tidy_is_sorted(tidy: pd.DataFrame) -> None:
    keys = ["replication", "step", "metric", "country", "partner"]
    assert tidy.equals(tidy.sort_values(keys, kind="stable", ignore_index=True))


def test_tidy_labels_follow_the_layout(tidy: pd.DataFrame) -> None:
    for name, (countries, partners) in metrics.LAYOUT.items():
        sel = tidy[tidy.metric == name]
        assert set(sel.country) == set(countries or ("",)), name
        assert set(sel.partner) == set(partners or ("",)), name


def test_dates_are_quarter_starts(short_loaded: Scenario, tidy: pd.DataFrame) -> None:
    dates = tidy.drop_duplicates("step").set_index("step").date
    assert dates.iloc[0] == pd.Timestamp("2025-01-01")
    assert dates.iloc[-1] == pd.Timestamp("2026-10-01")
    assert len(dates) == short_loaded.steps
    for q, text in [
        (parse_quarter("2025Q1"), "2025-01-01"),
        (parse_quarter("2031Q3"), "2031-07-01"),
    ]:
        assert metrics.quarter_start(q) == pd.Timestamp(text)


def test_tidy_values_are_the_model_arrays(model: GeoModel, tidy: pd.DataFrame) -> None:
    last = tidy[tidy.step == model.T - 1]

    def values(metric: str) -> np.ndarray:
        return last[last.metric == metric].value.to_numpy()

    # Final-step arrays, flattened in (replication, country, partner) order (labels sort
    # alphabetically in the table, so reorder through the label tuples).
    def expected(arr: np.ndarray, countries, partners) -> np.ndarray:
        ci = np.argsort(countries) if countries else [0]
        pi = np.argsort(partners) if partners else [0]
        arr = arr.reshape(model.R, len(ci), len(pi))
        return arr[:, ci][:, :, pi].reshape(-1)

    np.testing.assert_array_equal(
        values("influence_share"), expected(model.influence_share, STATES, INFLUENCERS)
    )
    np.testing.assert_array_equal(
        values("trade_share"), expected(model.trade_share, STATES, PARTNERS)
    )
    np.testing.assert_array_equal(values("gdp"), expected(model.gdp, STATES, None))
    np.testing.assert_array_equal(values("investment_stock"), expected(model.inv, STATES, POWERS))
    np.testing.assert_array_equal(
        values("budget"), expected(model.programme_budget * 4, POWERS, None)
    )
    oil = COMMODITIES.index("oil")
    np.testing.assert_array_equal(values("price_oil"), model.price[:, oil])
    np.testing.assert_array_equal(
        values("exports_oil"), expected(model.exports_volume[:, :, oil], STATES, PARTNERS)
    )


def test_to_tidy_round_trips_synthetic_history() -> None:
    rng = np.random.default_rng(0)
    R, T = 2, 3
    history = [
        {
            "gdp": rng.random((R, len(STATES))),
            "budget": rng.random((R, len(POWERS))),
            "price_gas": rng.random(R),
        }
        for _ in range(T)
    ]
    ids = np.array([5, 9])
    df = metrics.to_tidy(history, ids, parse_quarter("2030Q2"))
    assert len(df) == R * T * (len(STATES) + len(POWERS) + 1)
    assert sorted(df.replication.unique()) == [5, 9]
    assert df.date.min() == pd.Timestamp("2030-04-01")
    for r, rid in enumerate(ids):
        for t in range(T):
            row = df[(df.replication == rid) & (df.step == t)]
            gdp = row[row.metric == "gdp"].set_index("country").value
            np.testing.assert_array_equal(gdp[list(STATES)].to_numpy(), history[t]["gdp"][r])
            budget = row[row.metric == "budget"].set_index("country").value
            np.testing.assert_array_equal(budget[list(POWERS)].to_numpy(), history[t]["budget"][r])
            assert row[row.metric == "price_gas"].value.item() == history[t]["price_gas"][r]
    only = metrics.to_tidy(history, ids, 8100, metrics=("price_gas",))
    assert set(only.metric) == {"price_gas"}
    assert len(only) == R * T


def test_to_tidy_of_no_history_is_empty_with_columns() -> None:
    df = metrics.to_tidy([], np.array([0]), 8100)
    assert tuple(df.columns) == metrics.COLUMNS
    assert df.empty


def test_timeseries_without_collection_is_empty(short_loaded: Scenario) -> None:
    model = GeoModel(scenario=short_loaded, rng=1, collect=False).run()
    assert model.timeseries().empty
    assert model.datacollector.get_model_vars_dataframe().empty  # switched off too


def test_model_reporters_are_replication_means(model: GeoModel, tidy: pd.DataFrame) -> None:
    frame = model.datacollector.get_model_vars_dataframe()
    assert len(frame) == model.T + 1  # the initial state, then every step
    assert set(frame.columns) == set(metrics.model_reporters())
    last = tidy[tidy.step == model.T - 1]
    for metric, country, partner, column in [
        ("influence_share", "KAZ", "CHN", "influence_share:KAZ:CHN"),
        ("trade_share", "TKM", "ROW", "trade_share:TKM:ROW"),
        ("gdp", "UZB", "", "gdp:UZB"),
        ("price_oil", "", "", "price:oil"),
    ]:
        sel = last[(last.metric == metric) & (last.country == country) & (last.partner == partner)]
        assert len(sel) == model.R
        assert frame[column].iloc[-1] == pytest.approx(sel.value.mean(), rel=1e-12)


def test_model_reporters_are_picklable() -> None:
    reporters = metrics.model_reporters()
    assert len(reporters) == len(STATES) * (len(INFLUENCERS) + len(PARTNERS) + 1) + 3
    restored = pickle.loads(pickle.dumps(reporters))
    assert set(restored) == set(reporters)
