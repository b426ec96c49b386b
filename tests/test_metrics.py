"""Snapshots and Mesa model reporters (sim.core.observe).

The tidy-table tests that lived here are in tests/test_output.py.
"""

from __future__ import annotations

import pickle

import pandas as pd
import pytest

from sim import output
from sim.core import observe as metrics
from sim.core.model import GeoModel
from sim.scenario import Scenario
from sim.vocab import DEFAULT


@pytest.fixture(scope="module")
def model(short_loaded: Scenario) -> GeoModel:
    return GeoModel(scenario=short_loaded, replications=3, rng=9).run()


@pytest.fixture(scope="module")
def tidy(model: GeoModel, short_loaded: Scenario) -> pd.DataFrame:
    return output.to_tidy(
        model.history, model.replication_ids, model.start_quarter, short_loaded.vocab
    )


def test_snapshot_has_every_metric_with_the_layout_shape(model: GeoModel) -> None:
    snap = metrics.snapshot(model)
    layout = output.metric_layout(model.params.vocab)
    assert set(snap) == set(layout)
    for name, (countries, partners) in layout.items():
        shape = (model.R, *(len(x) for x in (countries, partners) if x))
        assert snap[name].shape == shape, name


def test_snapshot_copies(model: GeoModel) -> None:
    snap = metrics.snapshot(model)
    snap["gdp"][:] = -1.0
    assert (model.state.gdp > 0).all()


def test_timeseries_without_collection_is_empty(short_loaded: Scenario) -> None:
    model = GeoModel(scenario=short_loaded, rng=1, collect=False).run()
    assert model.timeseries().empty
    assert model.datacollector.get_model_vars_dataframe().empty  # switched off too


def test_model_reporters_are_replication_means(model: GeoModel, tidy: pd.DataFrame) -> None:
    frame = model.datacollector.get_model_vars_dataframe()
    assert len(frame) == model.T + 1  # the initial state, then every step
    assert set(frame.columns) == set(metrics.model_reporters(model.params.vocab))
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
    reporters = metrics.model_reporters(DEFAULT)
    v = DEFAULT
    assert len(reporters) == len(v.states) * (len(v.influencers) + len(v.partners) + 1) + 3
    restored = pickle.loads(pickle.dumps(reporters))
    assert set(restored) == set(reporters)
