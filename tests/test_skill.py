"""Tests of the hindcast skill report (``skill.md``, ``skill_points.csv``) and its file contract.

The skill numbers are checked against a hand-made example; the folder of ``casim
backtest`` against its contract (the maintainers score the held-back 2011-2020 series
from ``hindcast.csv`` and ``hindcast_bands.csv``, so those must not change shape).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.report import runs, study_figures
from sim.report.redraw import redraw
from sim.report.tables import skill_markdown
from sim.scenario import load_scenario
from sim.studies import backtest as bt
from sim.vocab import DEFAULT

REPO_ROOT = Path(__file__).resolve().parent.parent
PARTNERS = ("CHN", "RUS", "JPN", "USA", "EU")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NOTE = "parameters drawn from a test posterior and stochastic noise (4 replications)"


# ----------------------------------------------------------------------------- hand-made example


def _summary(rows: list[tuple[int, str, float, float, float]]) -> pd.DataFrame:
    """KAZ rows ``(year, partner, median, p05, p95)``; the mean is the median + 0.5."""
    df = pd.DataFrame(rows, columns=["year", "partner", "share_pct", "p05", "p95"])
    return df.assign(country="KAZ", mean=df["share_pct"] + 0.5)


@pytest.fixture
def example() -> pd.DataFrame:
    """Two partners, base year 2010, one out-of-sample year and one projected year.

    Reference (DOTS): 2010 CHN 20, RUS 10. Recent: 2011 CHN 24 (national statistics),
    2023 RUS 13 (derived). Model: 2010 CHN 21 [20, 22], RUS 10 [9, 11]; 2011 CHN 22
    [21, 23]; 2023 RUS 12 [11.5, 13].
    """
    reference = pd.DataFrame(
        {"year": [2010, 2010], "country": "KAZ", "partner": ["CHN", "RUS"], "share_pct": [20, 10]}
    ).astype({"share_pct": float})
    recent = pd.DataFrame(
        {
            "year": [2011, 2023],
            "country": "KAZ",
            "partner": ["CHN", "RUS"],
            "share_pct": [24.0, 13.0],
            "period": ["2011", "2023"],
            "source": ["a", "b"],
            "method": [bt.METHOD_NATIONAL, bt.METHOD_DERIVED],
        }
    )
    summary = _summary(
        [
            (2010, "CHN", 21.0, 20.0, 22.0),
            (2010, "RUS", 10.0, 9.0, 11.0),
            (2011, "CHN", 22.0, 21.0, 23.0),
            (2023, "RUS", 12.0, 11.5, 13.0),
        ]
    )
    return bt.skill_points(
        summary, reference, recent, 2010, 2023, horizon_last=2020, run="hindcast"
    ).set_index(["year", "partner"])


def test_skill_points_by_hand(example: pd.DataFrame) -> None:
    chn11 = example.loc[(2011, "CHN")]
    assert chn11["persistence"] == pytest.approx(20.0)  # the base year held
    assert chn11["err_model"] == pytest.approx(2.0)
    assert chn11["err_persistence"] == pytest.approx(4.0)
    assert chn11["model_mean"] == pytest.approx(22.5)
    assert chn11["sample"] == bt.OUT_OF_SAMPLE
    rus23 = example.loc[(2023, "RUS")]
    assert rus23["err_model"] == pytest.approx(1.0)
    assert rus23["err_persistence"] == pytest.approx(3.0)
    assert rus23["sample"] == bt.PROJECTION
    assert rus23["method"] == bt.METHOD_DERIVED
    assert example.loc[(2010, "CHN")]["sample"] == bt.BASE_YEAR
    assert (example.loc[(2010, slice(None)), "err_persistence"] == 0).all()
    assert set(example.reset_index().columns) == set(bt.SKILL_COLUMNS)


def test_a_point_outside_the_band_is_flagged(example: pd.DataFrame) -> None:
    assert not example.loc[(2011, "CHN")]["inside_band"]  # 24 above [21, 23]
    assert example.loc[(2010, "RUS")]["inside_band"]  # 10 in [9, 11]


def test_band_edges_count_as_inside(example: pd.DataFrame) -> None:
    assert example.loc[(2023, "RUS")]["inside_band"]  # 13 == p95
    assert example.loc[(2010, "CHN")]["inside_band"]  # 20 == p05


def test_skill_stats_by_hand(example: pd.DataFrame) -> None:
    after = example[example.index.get_level_values("year") > 2010]
    stats = bt.skill_stats(after)
    assert stats["n"] == 2
    assert stats["mae_model"] == pytest.approx(1.5)  # (2 + 1) / 2
    assert stats["mae_persistence"] == pytest.approx(3.5)  # (4 + 3) / 2
    assert stats["ratio"] == pytest.approx(1.5 / 3.5)
    assert stats["coverage"] == pytest.approx(0.5)  # 2023 inside, 2011 outside
    assert bt.skill_stats(after.iloc[:0])["mae_model"] is None
    base = bt.skill_stats(example[example["sample"] == bt.BASE_YEAR])
    assert base["ratio"] is None  # persistence exact in the base year


def test_skill_groups_and_pairs(example: pd.DataFrame) -> None:
    points = example.reset_index()
    groups = bt.skill_groups(points, ("CHN", "RUS")).set_index("group")
    head = groups.loc["all points after 2010, every source"]
    assert head["n"] == 2
    assert head["ratio"] == pytest.approx(1.5 / 3.5)
    # one group per (run, sample, method) plus the two headlines
    assert len(groups) == 3 + 2
    pairs = bt.skill_by_pair(points)
    assert list(pairs["partner"]) == ["CHN", "RUS"]  # vocabulary order, base year left out
    assert list(pairs["n"]) == [1, 1]
    assert pairs["coverage"].tolist() == [0.0, 1.0]


def test_point_sample_and_method_labels() -> None:
    assert bt.point_sample(2005, 2005, 2010) == bt.BASE_YEAR
    assert bt.point_sample(2008, 2005, 2010) == bt.IN_SAMPLE
    assert bt.point_sample(2010, 2005, 2010) == bt.IN_SAMPLE
    assert bt.point_sample(2015, 2010, 2020) == bt.OUT_OF_SAMPLE
    assert bt.point_sample(2022, 2010, 2020) == bt.PROJECTION
    assert bt.recent_method("trade_share_national", "read") == bt.METHOD_NATIONAL
    assert bt.recent_method("trade_share_national", "derived") == bt.METHOD_DERIVED
    assert bt.recent_method("trade_share", "read") == bt.METHOD_OTHER


def test_every_held_point_is_scored_by_some_run() -> None:
    """The data's points fall inside the years the two runs simulate (2005-2024)."""
    ref = bt.load_reference()
    recent = bt.load_recent_points()
    assert ref["year"].min() >= load_scenario(bt.CALIBRATION_SCENARIO).start_quarter // 4
    assert bt.last_reference_year(ref, recent) == recent["year"].max()
    assert set(recent["method"]) <= {bt.METHOD_NATIONAL, bt.METHOD_DERIVED, bt.METHOD_OTHER}


def test_skill_markdown_states_what_the_bands_carry(example: pd.DataFrame) -> None:
    runs_meta = [{"name": "hindcast", "base_year": 2010, "horizon_last": 2020, "last_year": 2023}]
    meta = {"scenario": "x", "replications": 3, "seed": 1, "runs": runs_meta}
    text = skill_markdown(example.reset_index(), meta | {"band_note": bt.default_band_note(3)})
    assert "stochastic noise only (3 replications)" in text
    assert "| 2011 | KAZ | CHN |" in text
    assert "## Per state and partner: hindcast" in text
    assert "| KAZ | CHN | 1 | 2.00 | 4.00 | 0.50 | 0% |" in text
    text = skill_markdown(example.reset_index(), meta | {"band_note": NOTE})
    assert NOTE in text


def test_hindcast_caption_carries_the_band_note() -> None:
    text = study_figures.hindcast_caption(NOTE, 2020, 2024)
    assert NOTE in text
    assert "2020" in text
    assert "after" not in study_figures.hindcast_caption(NOTE, 2020, 2020)


# ----------------------------------------------------------------------------- runs


def test_carrying_the_hindcast_on_leaves_its_years_unchanged() -> None:
    sc = load_scenario(bt.HINDCAST_SCENARIO)
    longer = bt.carried_on(sc, 2024)
    assert longer.horizon.end == "2024Q4"
    assert bt.carried_on(sc, 2015) is sc
    a = bt.summarise(bt.annual_shares(bt.simulate_trade_shares(sc, 2, 5)))
    b = bt.summarise(bt.annual_shares(bt.simulate_trade_shares(longer, 2, 5)))
    assert set(b["year"]) == set(range(2010, 2025))
    m = a.merge(b, on=["year", "country", "partner"])
    assert len(m) == len(a)
    np.testing.assert_allclose(m["share_pct_x"], m["share_pct_y"])


def test_in_sample_run_uses_the_hindcast_behaviour() -> None:
    sc = load_scenario(bt.HINDCAST_SCENARIO)
    run = bt.in_sample_run(bt.CALIBRATION_SCENARIO, sc)
    assert run.behaviour == sc.behaviour
    assert run.horizon.start == "2005Q1"


# ----------------------------------------------------------------------------- folder contract


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("skill") / "run"
    return runs.run_backtest(4, 11, out, band_note=NOTE)


def test_hindcast_files_keep_their_contract(folder: Path) -> None:
    hind = pd.read_csv(folder / "hindcast.csv")
    assert list(hind.columns) == ["year", "country", "partner", "share_pct"]
    assert set(hind["year"]) == set(range(2010, 2021))
    assert set(hind["partner"]) == set(PARTNERS)
    assert set(hind["country"]) == set(DEFAULT.states)
    assert len(hind) == 11 * len(DEFAULT.states) * len(PARTNERS)
    assert hind["share_pct"].between(0.0, 100.0).all()
    bands = pd.read_csv(folder / "hindcast_bands.csv")
    assert list(bands.columns) == ["year", "country", "partner", "share_pct", "p05", "p95"]
    assert set(bands["year"]) == set(range(2010, 2021))
    assert set(bands["partner"]) == set(PARTNERS)
    assert bands[["share_pct", "p05", "p95"]].stack().between(0.0, 100.0).all()
    assert (bands["p05"] <= bands["p95"]).all()
    merged = hind.merge(bands, on=["year", "country", "partner"])
    np.testing.assert_allclose(merged["share_pct_x"], merged["share_pct_y"], atol=1e-4)


def test_skill_points_csv_and_manifest(folder: Path) -> None:
    pts = pd.read_csv(folder / "skill_points.csv")
    assert list(pts.columns) == list(bt.SKILL_COLUMNS)
    inside = (pts["p05"] <= pts["reference"]) & (pts["reference"] <= pts["p95"])
    at_edge = np.minimum(
        (pts["reference"] - pts["p05"]).abs(), (pts["reference"] - pts["p95"]).abs()
    ).le(1e-4)  # the file is rounded to 4 decimals
    assert (inside == pts["inside_band"])[~at_edge].all()
    # every reference point the repository holds is scored by at least one run
    held = len(bt.load_reference()) + len(bt.load_recent_points())
    assert len(pts.drop_duplicates(["year", "country", "partner", "source"])) == held
    assert set(pts["run"]) == {"hindcast_2005", "hindcast_2010"}
    assert pts.loc[pts["year"] < 2010, "run"].eq("hindcast_2005").all()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["band_note"] == NOTE
    assert [r["name"] for r in manifest["skill_runs"]] == ["hindcast_2005", "hindcast_2010"]
    head = manifest["skill"]["all points after 2010, every source"]
    assert head["n"] == int((pts["year"] > 2010).sum())
    assert 0.0 <= head["coverage_90"] <= 1.0
    assert NOTE in (folder / "skill.md").read_text(encoding="utf-8")
    bands = pd.read_csv(folder / "skill_bands.csv")
    assert bands.groupby("run")["year"].max().to_dict() == {
        "hindcast_2005": 2010,
        "hindcast_2010": bt.last_reference_year(),
    }


def test_backtest_figures_redraw_from_the_folder(folder: Path, tmp_path: Path) -> None:
    for state in DEFAULT.states:
        assert (folder / "plots" / f"hindcast_{state}.png").read_bytes()[:8] == PNG_MAGIC
    written, missing = redraw(folder, tmp_path)
    assert sorted(p.name for p in written) == sorted(f"hindcast_{s}.png" for s in DEFAULT.states)
    assert not missing


def test_outputs_doc_lists_the_skill_files() -> None:
    text = (REPO_ROOT / "docs" / "outputs.md").read_text(encoding="utf-8")
    for name in ("skill_points.csv", "skill_bands.csv", "inside_band", "band_note"):
        assert name in text
