"""A sixth state and a fifth power through every layer: no shape is hard-coded.

The fixture ``tests/fixtures/six_states.yaml`` declares a made-up state (XAF) and power
(XIN) on top of the baseline; it is run, run as an ensemble, compared and plotted through
the command line, and every figure is drawn.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.core.model import GeoModel
from sim.report.figures import FIGURES
from sim.scenario import load_scenario

SIX = Path(__file__).resolve().parent / "fixtures" / "six_states.yaml"
SHORT = ["horizon.end=2027Q4"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("six") / "run"
    assert main(["run", str(SIX), "--out", str(out)]) == 0
    return out


def test_the_model_has_six_states_and_five_powers() -> None:
    model = GeoModel(scenario=load_scenario(SIX, SHORT), replications=2).run()
    assert model.state.influence_share.shape == (2, 6, 6)  # states x (5 powers + others)
    assert model.state.trade_share.shape == (2, 6, 7)  # states x (5 powers + EU + ROW)
    assert len(model.states) == 6
    assert len(model.powers) == 5
    np.testing.assert_allclose(model.state.influence_share.sum(axis=2), 1.0)
    np.testing.assert_allclose(model.state.trade_share.sum(axis=2), 1.0)


def test_a_run_reports_the_new_actors(run_dir: Path) -> None:
    df = pd.read_parquet(run_dir / "timeseries.parquet")
    assert not df["value"].isna().any()
    share = df[df["metric"] == "influence_share"]
    assert set(share["country"]) == {"KAZ", "UZB", "KGZ", "TJK", "TKM", "XAF"}
    assert set(share["partner"]) == {"CHN", "RUS", "JPN", "USA", "XIN", "OTH"}
    sums = share.groupby(["step", "country"])["value"].sum()
    np.testing.assert_allclose(sums, 1.0)
    xin = share[(share["country"] == "XAF") & (share["partner"] == "XIN")]["value"]
    assert (xin > 0).all()  # the new power holds influence in the new state
    budget = df[(df["metric"] == "budget") & (df["country"] == "XIN")]
    assert budget["value"].iloc[-1] > budget["value"].iloc[0]  # its budget_change applied


def test_every_figure_is_drawn(run_dir: Path) -> None:
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(manifest["plots"]) == sorted(f"{name}.png" for name in FIGURES)
    for name in FIGURES:
        assert (run_dir / "plots" / f"{name}.png").stat().st_size > 10_000


def test_a_saved_run_redraws(run_dir: Path, tmp_path: Path) -> None:
    assert main(["plot", str(run_dir), "--out", str(tmp_path / "again")]) == 0
    assert sorted(p.name for p in (tmp_path / "again").glob("*.png")) == sorted(
        f"{name}.png" for name in FIGURES
    )


def test_an_ensemble(tmp_path: Path) -> None:
    out = tmp_path / "ens"
    args = ["run", str(SIX), "--replications", "3", "--out", str(out)]
    assert main([*args, *[x for s in SHORT for x in ("--set", s)]]) == 0
    summary = pd.read_parquet(out / "summary.parquet")
    trade = summary[(summary["metric"] == "trade_share") & (summary["country"] == "XAF")]
    assert set(trade["partner"]) == {"CHN", "RUS", "JPN", "USA", "XIN", "EU", "ROW"}
    assert len(list((out / "plots").glob("*.png"))) == len(FIGURES)


def test_a_comparison(tmp_path: Path) -> None:
    child = tmp_path / "more_xin.yaml"
    child.write_text(
        f"name: more_xin\nextends: {SIX}\ndescription: XIN spends more.\n"
        "powers: {XIN: {budget: 5.0, source: {budget: 'test: a larger budget'}}}\n",
        encoding="utf-8",
    )
    out = tmp_path / "cmp"
    assert main(["compare", str(SIX), str(child), "--replications", "4", "--out", str(out)]) == 0
    diffs = pd.read_csv(out / "differences_influence_share.csv")
    xaf = diffs[(diffs["country"] == "XAF") & (diffs["partner"] == "XIN")]
    assert len(xaf) > 0
    # A bigger XIN programme (until the fixture's 2027Q1 budget_change) raises XIN's share
    # while its money arrives; by 2040 the learned bias may have moved XIN's money away.
    assert xaf["diff_pp_median"].max() > 0
    assert (out / "influence.png").exists()
    assert (out / "compare_influence_share.png").exists()
