"""The ensemble result as labelled data (sim.engine.labelled) and its summary (sim.engine.store)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.engine import ensemble as ens
from sim.engine import store
from sim.engine.labelled import FAMILIES, family_of
from sim.output import quarter_start, row_layout
from sim.scenario import Scenario
from sim.vocab import COMMODITIES, DEFAULT


@pytest.fixture(scope="module")
def res(short_loaded: Scenario) -> ens.EnsembleResult:
    return ens.run_ensemble(short_loaded, replication_ids=[4, 1, 9], seed=2, chunk_size=2)


def test_dataset_is_a_view_of_the_values(res: ens.EnsembleResult) -> None:
    ds = res.data
    assert res.raw is not None
    for name in ds.data_vars:
        assert np.shares_memory(ds[name].values, res.raw), name
    assert ds.sizes["replication"] == 3
    assert list(ds["replication"].values) == [1, 4, 9]
    assert ds.sizes["step"] == res.layout.steps
    first = pd.Timestamp(ds["date"].values[0])
    assert first == quarter_start(res.layout.start_quarter)
    routes = {f"route_flow_{c}" for c in COMMODITIES if res.scenario.vocab.routes_for(c)}
    assert set(ds.data_vars) == {
        "budget", "export_revenue", "exports", "gdp", "influence", "investment_stock",
        "price", "production", "trade_share", *routes,
    }  # fmt: skip
    oil_routes = ds["route_flow_oil"].dims[3]
    assert ds["route_flow_oil"].dims[:3] == ("replication", "step", "country")
    assert list(ds[oil_routes].values) == list(res.scenario.vocab.routes_for("oil"))
    assert ds["influence"].dims == ("replication", "step", "channel", "country", "influencer")
    assert ds["exports"].dims == ("replication", "step", "commodity", "country", "partner")
    assert ds["budget"].dims == ("replication", "step", "power")
    for name in ds.data_vars:
        assert ds[name].attrs["units"], name
    assert "oil: Mt" in ds["exports"].attrs["units"]


def test_dataset_holds_every_tidy_value(res: ens.EnsembleResult) -> None:
    """Every row of the tidy table is the Dataset's value at its labels, and back."""
    ds = res.data
    tidy = res.to_dataframe()
    seen = 0
    for metric, rows in tidy.groupby("metric", sort=False):
        var, member = family_of(str(metric))
        da = ds[var]
        if member is not None:
            da = da.sel({FAMILIES[var][0]: member})
        axes = da.dims[2:]
        labels = [rows["country"], rows["partner"]][: len(axes)]
        index = {"replication": rows["replication"], "step": rows["step"]}
        index |= dict(zip(axes, labels, strict=True))
        picked = da.values[
            tuple(pd.Index(da[d].values).get_indexer(np.asarray(index[d])) for d in da.dims)
        ]
        np.testing.assert_array_equal(picked, rows["value"].to_numpy())
        seen += len(rows)
        # nothing else: the Dataset holds exactly this metric's values
        assert da.size == len(rows)
    assert seen == len(tidy) == res.layout.rows * 3


def test_tidy_and_values_keep_their_meaning(res: ens.EnsembleResult) -> None:
    tidy = res.tidy()
    pd.testing.assert_frame_equal(tidy, res.timeseries)
    values = res.values
    assert values is not None
    np.testing.assert_array_equal(values.reshape(-1), tidy["value"].to_numpy())


def test_summary_is_numpys_quantile_bit_for_bit(res: ens.EnsembleResult) -> None:
    values = res.values
    assert values is not None
    summary = res.summary
    np.testing.assert_array_equal(summary["mean"], values.mean(axis=0))
    np.testing.assert_array_equal(summary["median"], np.quantile(values, 0.5, axis=0))
    for name, p in store.QUANTILES.items():
        np.testing.assert_array_equal(summary[name], np.quantile(values, p, axis=0))


@pytest.mark.parametrize("n", [1, 2, 3, 20, 101])
def test_sorted_quantile_is_numpys(n: int) -> None:
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 40)) * 10.0 ** rng.integers(-6, 6, size=40)
    x[:, 0] = 1.5  # ties
    ordered = np.sort(x.T, axis=1)
    for p in (0.05, 0.5, 0.95, 0.0, 1.0):
        np.testing.assert_array_equal(store.sorted_quantile(ordered, p), np.quantile(x, p, axis=0))


def test_store_fills_one_array_in_place() -> None:
    st = store.ValueStore(rows=3)
    chunks = [np.full((2, 3), float(i)) for i in range(3)]
    for c in chunks:
        st.append(c, 6)
    arr = st.array()
    np.testing.assert_array_equal(arr, np.concatenate(chunks))
    assert np.shares_memory(st.array(), arr)  # the same array, not a fresh concatenation


def test_spilled_result_has_no_dataset(
    short_loaded: Scenario, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "MEMORY_STORE_BYTES", 1)
    spilled = ens.run_ensemble(short_loaded, replications=2, seed=2, out_path=tmp_path / "t.pq")
    with pytest.raises(RuntimeError, match="spilled"):
        _ = spilled.data
    assert len(spilled.to_dataframe()) == 2 * spilled.layout.rows


def test_summarise_matches_numpy_with_nan_and_spilled(tmp_path, monkeypatch) -> None:
    layout = row_layout(("budget", "gdp"), 3, 8100, DEFAULT)
    rng = np.random.default_rng(5)
    values = rng.normal(size=(11, layout.rows))
    values[4, 2] = np.nan
    for spill in (False, True):
        monkeypatch.setattr(store, "MEMORY_STORE_BYTES", 1 if spill else 1 << 30)
        st = store.ValueStore(layout.rows, spill_dir=tmp_path)
        st.append(values[:6], 11)
        st.append(values[6:], 11)
        assert st.spilled == spill
        summary = store.summarise(st, layout)
        st.close()
        tidy = values[:, layout.raw_position()]  # summary row j is raw column position[j]
        for name, p in (("median", 0.5), *store.QUANTILES.items()):
            np.testing.assert_array_equal(summary[name], np.quantile(tidy, p, axis=0))
        # spilled blocks are summed in another order (pairwise): the mean to rounding
        np.testing.assert_allclose(summary["mean"], tidy.mean(axis=0), rtol=1e-14)
