"""Model discrepancy in the backtest's bands (sim.studies.discrepancy)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.studies import discrepancy as dm
from sim.studies.backtest import backtest, summarise
from sim.vocab import DEFAULT

STATES = DEFAULT.states
PARTNERS = DEFAULT.partners


def _fit(sigma: float, tau: float = 0.0) -> dm.DiscrepancyFit:
    return dm.DiscrepancyFit(sigma={"*": sigma}, tau=tau)


def _annual(reps: int = 6, years: range = range(2010, 2016)) -> pd.DataFrame:
    """Per-replication annual shares (percent) that sum to 100 per state and year."""
    rng = np.random.default_rng(0)
    rows = []
    for k in range(reps):
        for y in years:
            for c in STATES:
                s = rng.dirichlet(np.ones(len(PARTNERS))) * 100.0
                rows += [
                    {"replication": k, "year": y, "country": c, "partner": p, "share_pct": v}
                    for p, v in zip(PARTNERS, s, strict=True)
                ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("sigma", [0.0, 0.3, 3.0, 30.0])
def test_perturbed_shares_stay_in_the_simplex(sigma: float) -> None:
    out = dm.apply_discrepancy(_annual(), _fit(sigma, 0.2), seed=4, base_year=2010)
    assert out["share_pct"].between(0.0, 100.0).all()
    sums = out.groupby(["replication", "year", "country"])["share_pct"].sum()
    np.testing.assert_allclose(sums, 100.0, atol=1e-9)
    assert set(out["partner"]) == set(PARTNERS)


def test_no_discrepancy_at_the_base_year() -> None:
    ann = _annual()
    out = dm.apply_discrepancy(ann, _fit(1.0, 0.5), seed=4, base_year=2010)
    key = ["replication", "year", "country", "partner"]
    both = ann.merge(out, on=key, suffixes=("", "_d"))
    base = both[both["year"] == 2010]
    np.testing.assert_allclose(base["share_pct"], base["share_pct_d"], rtol=1e-9)
    later = both[both["year"] > 2010]
    assert not np.allclose(later["share_pct"], later["share_pct_d"])


def test_discrepancy_draw_is_batch_invariant() -> None:
    fit = _fit(0.4, 0.1)
    all_ids = dm.discrepancy_paths(fit, 9, np.arange(8), 5, STATES, 5, key=2010)
    some = dm.discrepancy_paths(fit, 9, np.array([6, 2]), 5, STATES, 5, key=2010)
    np.testing.assert_array_equal(some, all_ids[[6, 2]])
    other_run = dm.discrepancy_paths(fit, 9, np.array([6]), 5, STATES, 5, key=2005)
    assert not np.array_equal(other_run[0], all_ids[6])


def test_bands_widen_monotonically_with_sigma() -> None:
    ann = _annual(reps=40)
    widths = []
    for sigma in (0.0, 0.1, 0.3, 1.0):
        pred = summarise(dm.apply_discrepancy(ann, _fit(sigma), seed=3, base_year=2010))
        later = pred[pred["year"] > 2010]
        widths.append(float((later["p95"] - later["p05"]).mean()))
    assert all(b > a for a, b in itertools.pairwise(widths))


@pytest.mark.parametrize(("sigma", "tau"), [(0.3, 0.0), (0.5, 0.2)])
def test_fit_recovers_a_known_random_walk(sigma: float, tau: float) -> None:
    rng = np.random.default_rng(11)
    rows = []
    for i in range(400):
        walk = np.cumsum(rng.normal(0.0, sigma, 5)) + rng.normal(0.0, tau, 5)
        rows += [
            {"country": f"S{i}", "partner": "P", "year": 2005 + h, "h": h, "resid": walk[h - 1]}
            for h in range(1, 6)
        ]
    fit = dm.fit_random_walk(pd.DataFrame(rows))
    assert fit.sigma["*"] == pytest.approx(sigma, rel=0.1)
    assert fit.tau == pytest.approx(tau, abs=0.08)
    assert fit.h_range == (1, 5)
    assert fit.n_series == 400


def test_fit_per_state_tells_states_apart() -> None:
    rng = np.random.default_rng(5)
    rows = []
    for c, sigma in (("A", 0.1), ("B", 0.8)):
        for p in range(200):
            walk = np.cumsum(rng.normal(0.0, sigma, 5))
            rows += [
                {"country": c, "partner": p, "year": 2005 + h, "h": h, "resid": walk[h - 1]}
                for h in range(1, 6)
            ]
    fit = dm.fit_random_walk(pd.DataFrame(rows), "country")
    assert fit.sigma["A"] < 0.2
    assert fit.sigma["B"] > 0.6
    assert dm.fit_best(pd.DataFrame(rows)).by == "country"


def test_backtest_discrepancy_widens_bands_and_keeps_the_median() -> None:
    off = backtest(replications=8, seed=2)
    on = backtest(replications=8, seed=2, discrepancy=True)
    pd.testing.assert_frame_equal(on.hindcast, off.hindcast)
    later = on.summary["year"] > on.summary["year"].min()
    w_on = (on.summary["p95"] - on.summary["p05"])[later].mean()
    w_off = (off.summary["p95"] - off.summary["p05"])[later].mean()
    assert w_on > w_off
    assert on.discrepancy is not None
    assert off.discrepancy is None
    assert "discrepancy" in on.bands
    assert off.bands == "stochastic noise only"
    # the noise-only bands are the plain ensemble quantiles
    pd.testing.assert_frame_equal(
        off.summary,
        summarise(off.annual).loc[lambda d: d["year"].between(2010, 2020)].reset_index(drop=True),
    )


def test_cli_discrepancy_off_and_on(tmp_path) -> None:
    args = ["backtest", "--replications", "4", "--seed", "2", "--no-plots",
            "--parameter-uncertainty", "fixed"]  # fmt: skip
    # With fixed parameters the default is off: the noise-only bands of before issue 10.
    assert main([*args, "--out", str(tmp_path / "off")]) == 0
    assert main([*args, "--discrepancy", "on", "--out", str(tmp_path / "on")]) == 0
    off = json.loads((tmp_path / "off" / "manifest.json").read_text())
    on = json.loads((tmp_path / "on" / "manifest.json").read_text())
    assert off["discrepancy"] is None
    assert on["discrepancy"]["h_fitted"] == [1, 5]
    assert on["discrepancy"]["years_fitted"] == [2006, 2010]
    assert "discrepancy" in on["band_note"]
    assert "Model discrepancy" in (tmp_path / "on" / "skill.md").read_text()
    a = (tmp_path / "off" / "hindcast.csv").read_bytes()
    assert a == (tmp_path / "on" / "hindcast.csv").read_bytes()
    cols = list(pd.read_csv(tmp_path / "on" / "hindcast_bands.csv").columns)
    assert cols == ["year", "country", "partner", "share_pct", "p05", "p95"]


def test_discrepancy_needs_the_in_sample_run_or_a_fit() -> None:
    from sim.scenario import ScenarioError  # noqa: PLC0415

    with pytest.raises(ScenarioError, match="in-sample"):
        backtest(replications=2, seed=1, in_sample=None, discrepancy=True)
    res = backtest(replications=2, seed=1, in_sample=None, discrepancy_fit=_fit(0.2),
                   discrepancy=True)  # fmt: skip
    assert res.discrepancy is not None
