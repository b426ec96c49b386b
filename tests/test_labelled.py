"""The ensemble result as labelled data (sim.engine.labelled) and its summary (sim.engine.store)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.core import kernels
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


def _awkward_values(n: int, rows: int, seed: int) -> np.ndarray:
    """``(n, rows)`` values: ties, constant and zero columns, signed zeros, +-inf, NaN."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, rows)) * 10.0 ** rng.integers(-6, 6, size=rows)
    kind = np.arange(rows) % 9
    x[:, kind == 0] = 2.5
    x[:, kind == 1] = 0.0
    x[:, kind == 2] = rng.integers(0, 3, size=(n, int((kind == 2).sum())))
    x[:, kind == 3] = np.where(rng.random((n, int((kind == 3).sum()))) < 0.5, -0.0, 0.0)
    x[:, kind == 4] = rng.choice([-np.inf, np.inf, 1.0, 0.0], size=(n, int((kind == 4).sum())))
    x[rng.integers(n), kind == 5] = np.nan
    x[:, kind == 6] = np.inf
    x[:, kind == 7] = np.round(rng.normal(size=(n, int((kind == 7).sum()))), 1)  # ties
    return x


@pytest.mark.parametrize("n", [1, 2, 3, 7, 1000])
def test_summarise_is_the_reference_and_numpys_quantile(n, tmp_path, monkeypatch) -> None:
    """The compiled selection gives the numpy sort's summary, in memory and spilled.

    Bit for bit but for the sign of a zero (an order statistic of ``-0.0``s and
    ``0.0``s; numpy's sort leaves their order arbitrary): values compare with ``==``.
    """
    kernels.warm_up()
    compiled = list(kernels.order_statistics.signatures)
    layout = row_layout(("budget", "gdp"), 3, 8100, DEFAULT)
    values = _awkward_values(n, layout.rows, n)
    tidy = values[:, layout.raw_position()]
    for spill in (False, True):
        monkeypatch.setattr(store, "MEMORY_STORE_BYTES", 1 if spill else 1 << 30)
        st = store.ValueStore(layout.rows, spill_dir=tmp_path)
        st.append(values[: n // 2], n)
        st.append(values[n // 2 :], n)
        assert st.spilled == spill
        with np.errstate(invalid="ignore"):  # inf - inf in the means
            fast = store.summarise(st, layout)
            reference = store.summarise_reference(st, layout)
        st.close()
        pd.testing.assert_frame_equal(fast, reference, check_exact=True)
        bits = [frame["mean"].to_numpy().view(np.uint64) for frame in (fast, reference)]
        np.testing.assert_array_equal(*bits)  # the mean bit for bit, signed zeros too
        for name, p in (("median", 0.5), *store.QUANTILES.items()):
            with np.errstate(invalid="ignore"):
                want = np.quantile(tidy, p, axis=0)
            np.testing.assert_array_equal(fast[name], want)
    assert kernels.order_statistics.signatures == compiled  # warm_up's signature serves both


def test_summarise_without_kernels_is_the_reference(monkeypatch) -> None:
    """``CASIM_KERNELS=0``: the numpy sort, and the same table."""
    layout = row_layout(("budget", "gdp"), 3, 8100, DEFAULT)
    values = _awkward_values(50, layout.rows, 4)
    st = store.ValueStore(layout.rows)
    st.append(values, 50)
    with np.errstate(invalid="ignore"):
        fast = store.summarise(st, layout)
        monkeypatch.setenv("CASIM_KERNELS", "0")
        pd.testing.assert_frame_equal(store.summarise(st, layout), fast, check_exact=True)


def test_summary_of_a_baseline_ensemble_is_the_reference(baseline_loaded: Scenario) -> None:
    """1,000 replications of the baseline: the selection's summary is the sort's, bit for bit."""
    kernels.warm_up()
    compiled = list(kernels.order_statistics.signatures)
    res = ens.run_ensemble(baseline_loaded, replications=1000, seed=7)
    assert res.raw is not None
    st = store.ValueStore(res.layout.rows)
    st.append(res.raw, len(res.raw))
    reference = store.summarise_reference(st, res.layout)
    fast = res.summary
    for name in ("mean", "median", *store.QUANTILES):
        got, want = fast[name].to_numpy(), reference[name].to_numpy()
        assert np.array_equal(got.view(np.uint64), want.view(np.uint64)), name
    assert fast.drop(columns=["mean", "median", *store.QUANTILES]).equals(
        reference.drop(columns=["mean", "median", *store.QUANTILES])
    )
    assert kernels.order_statistics.signatures == compiled  # none compiled after warm_up
