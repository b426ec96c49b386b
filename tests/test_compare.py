"""Scenario comparison (sim.studies.compare): common random numbers, units, windows,
tables, crossings, and ``casim compare``'s folder (figures, Markdown, manifest, redraw).
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import cli
from sim.scenario import Scenario
from sim.studies import compare as cmp_mod
from sim.vocab import DEFAULT, Vocabulary

STATES = DEFAULT.states
INFLUENCERS = DEFAULT.influencers
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Folder writing, Markdown and the CLI moved to sim/report (re-point these tests there).
needs_report = pytest.mark.skipif(
    importlib.util.find_spec("sim.report") is None,
    reason="casim compare's files are written by sim.report (not in this branch)",
)


@pytest.fixture(scope="module")
def push(build_scenario_session) -> Scenario:
    """The short baseline with a weighty China-Central Asia summit in 2025Q2."""

    def edit(data: dict) -> None:
        data["name"] = "push"
        data["events"] = [
            *data.get("events", []),
            {
                "type": "summit",
                "date": "2025Q2",
                "power": "CHN",
                "weight": 3.0,
                "assumption": "test scenario: a summit worth three",
            },
        ]

    return build_scenario_session(edit, overrides=["horizon.end=2026Q4"])


@pytest.fixture(scope="module")
def self_comparison(short_loaded: Scenario) -> cmp_mod.Comparison:
    return cmp_mod.compare_scenarios([short_loaded, short_loaded], replications=30, seed=9)


@pytest.fixture(scope="module")
def push_comparison(short_loaded: Scenario, push: Scenario) -> cmp_mod.Comparison:
    return cmp_mod.compare_scenarios([short_loaded, push], replications=40, seed=9)


def end(cmp: cmp_mod.Comparison, metric: str = "influence_share") -> pd.DataFrame:
    """The ``at`` table of the last quarter (the default window)."""
    T = len(cmp.dates)
    return cmp_mod.at_table(cmp, metric, cmp_mod.Window(T - 1, T - 1, "end"))


def test_scenario_against_itself_has_zero_paired_difference(
    self_comparison: cmp_mod.Comparison,
) -> None:
    cmp = self_comparison
    assert cmp.labels == ("baseline", "baseline (2)")
    assert cmp.shares.shape == (2, 30, 8, len(STATES), len(INFLUENCERS))
    assert np.all(cmp.paired == 0.0)
    diffs = cmp_mod.difference_series(cmp, "influence_share")
    assert (diffs[["diff_pp_median", "diff_pp_q05", "diff_pp_q95"]] == 0.0).all().all()
    second = end(cmp)
    second = second[second["scenario"] == "baseline (2)"]
    cols = ["diff_pp_median", "diff_pp_q05", "diff_pp_q95", "paired_width_pp"]
    assert (second[cols] == 0.0).all().all()
    # Unpaired draws of the same scenario still differ: that spread is the noise.
    assert (second["unpaired_width_pp"] > 0).any()


def test_pairing_narrows_the_difference_bands(push_comparison: cmp_mod.Comparison) -> None:
    other = end(push_comparison)
    other = other[other["scenario"] == "push"]
    assert (other["paired_width_pp"] <= other["unpaired_width_pp"]).mean() > 0.8
    assert other["width_ratio"].median() < 0.8
    chn = other[other["partner"] == "CHN"]
    assert (chn["diff_pp_median"] > 0).all()  # a Chinese summit raises Chinese influence


def test_end_shares_intervals_in_percent_and_pp(push_comparison: cmp_mod.Comparison) -> None:
    table = end(push_comparison)
    assert len(table) == len(STATES) * len(INFLUENCERS) * 2
    assert (table["share_pct_q05"] <= table["share_pct_median"]).all()
    assert (table["share_pct_median"] <= table["share_pct_q95"]).all()
    assert table["share_pct_median"].max() > 1.0  # percent, not fractions
    first = table[table["scenario"] == "baseline"]
    assert first["diff_pp_median"].isna().all()
    # Direct computation of one cell, in percentage points.
    x = push_comparison.shares[:, :, -1, STATES.index("KGZ"), INFLUENCERS.index("CHN")]
    row = table[
        (table["country"] == "KGZ") & (table["partner"] == "CHN") & (table["scenario"] == "push")
    ]
    d = pd.Series(100 * (x[1] - x[0]))
    assert row["diff_pp_median"].item() == pytest.approx(d.median(), abs=1e-12)
    assert row["diff_pp_q05"].item() == pytest.approx(d.quantile(0.05), abs=1e-12)
    assert row["diff_pp_q95"].item() == pytest.approx(d.quantile(0.95), abs=1e-12)


def test_unpaired_differences_never_pair_a_replication_with_itself() -> None:
    a = np.arange(5.0)[:, None]
    un = cmp_mod.unpaired_differences(a, a)
    assert un.shape == (5 * 4, 1)
    assert (un != 0).all()
    assert cmp_mod.unpaired_differences(a[:1], a[:1]).shape == (0, 1)


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("R", [2, 3, 21, 64])
def test_unpaired_band_is_numpys_quantile_bit_for_bit(monkeypatch, compiled: bool, R: int):
    """The fast unpaired band equals numpy's quantiles of the pooled draws, step by step.

    Ties, zero references (levels: 0 or left out) and all-undefined cells included.
    """
    from sim.engine import stats  # noqa: PLC0415

    monkeypatch.setattr(stats, "ENABLED", compiled)
    monkeypatch.setattr(stats, "BLOCK_BYTES", 8 * 20 * R * 3)  # several blocks
    rng = np.random.default_rng(R)
    a, b = rng.normal(size=(2, R, 6, 2, 3)).round(1)  # rounded: many ties
    a[0, 1, 0, 0] = 0.0
    a[:, 2, 1, 1] = b[:, 2, 1, 1] = 0.0  # 0 -> 0 everywhere: changes of 0
    a[:, 3, 1, 2] = 0.0  # only undefined changes: NaN
    for kind in ("share", "level"):
        lo, hi = cmp_mod.unpaired_band(b, a, kind)
        for t in range(a.shape[1]):
            pool = cmp_mod.unpaired_differences(b[:, t], a[:, t], kind)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # the all-NaN cell
                want = np.nanquantile(pool, cmp_mod.INTERVAL, axis=0)
            np.testing.assert_array_equal(lo[t], want[0])
            np.testing.assert_array_equal(hi[t], want[1])


def synthetic(
    shares: np.ndarray, vocab: Vocabulary = DEFAULT, **others: np.ndarray
) -> cmp_mod.Comparison:
    """A comparison of given influence shares (and other metrics' ``(n, R, T, C, P)``)."""
    T = shares.shape[2]
    arrays = {"influence_share": shares} | others
    return cmp_mod.Comparison(
        labels=tuple("abcdefgh"[: shares.shape[0]]),
        scenarios=(),
        seed=0,
        replication_ids=np.arange(shares.shape[1]),
        dates=pd.date_range("2025-01-01", periods=T, freq="QS").to_numpy(),
        metrics={m: cmp_mod.metric_values(m, a, vocab) for m, a in arrays.items()},
        vocab=vocab,
    )


def test_rank_crossings_counts_replications_and_dates() -> None:
    R, T = 4, 6
    shares = np.zeros((1, R, T, len(STATES), len(INFLUENCERS)))
    shares[..., 1] = 0.5  # RUS flat at 0.5 everywhere
    chn = np.full((R, T), 0.4)
    chn[0, 3:] = 0.6  # replication 0: CHN overtakes RUS in step 3
    chn[1, 2:] = 0.6  # replication 1: in step 2
    shares[0, :, :, STATES.index("KAZ"), 0] = chn
    table = cmp_mod.rank_crossings(synthetic(shares))
    row = table[(table["state"] == "KAZ") & (table["overtaker"] == "CHN")]
    assert len(row) == 1
    row = row.iloc[0]
    assert row["overtaken"] == "RUS"
    assert row["replications_share"] == 0.5
    assert row["first_date_q05"] == pd.Timestamp("2025-07-01")
    assert row["first_date_q95"] == pd.Timestamp("2025-10-01")
    assert row["ahead_at_start_share"] == 0.0
    assert row["ahead_at_end_share"] == 0.5
    others = table[(table["state"] != "KAZ")]
    assert others.empty  # ties (0 vs 0) are never crossings


def test_frames_take_their_labels_from_the_vocabulary() -> None:
    """A sixth state and a fifth power get rows like every other actor."""
    vocab = DEFAULT.with_actors(
        {"AFG": ("state", "Afghanistan", None), "IND": ("power", "India", None)}
    )
    S, H = len(vocab.states), len(vocab.influencers)
    rng = np.random.default_rng(0)
    shares = rng.dirichlet(np.ones(H), size=(2, 6, 5, S))  # (n, R, T, S, I)
    cmp = synthetic(shares, vocab)
    bands = cmp_mod.influence_bands(cmp)
    assert len(bands) == 2 * 5 * S * H
    assert list(bands["state"].unique()) == list(vocab.states)
    assert list(bands["power"].unique()) == list(vocab.influencers)
    table = end(cmp)
    row = table[
        (table["country"] == "AFG") & (table["partner"] == "IND") & (table["scenario"] == "b")
    ]
    d = pd.Series(100 * shares[1, :, -1, -1, vocab.influencers.index("IND")])
    assert row["share_pct_median"].item() == pytest.approx(d.median(), abs=1e-12)
    diffs = cmp_mod.difference_series(cmp, "influence_share")
    assert set(diffs["country"]) == set(vocab.states)
    cross = cmp_mod.rank_crossings(cmp)
    assert {"AFG"} <= set(cross["state"])
    assert {"IND"} <= set(cross["overtaker"])


def test_quarter_label() -> None:
    assert cmp_mod.quarter_label(pd.Timestamp("2031-04-01")) == "2031Q2"
    assert cmp_mod.quarter_label(pd.Timestamp("2030-12-01")) == "2030Q4"


def test_compare_rejects_a_negative_seed(short_loaded: Scenario) -> None:
    with pytest.raises(ValueError, match="seed"):
        cmp_mod.compare_scenarios([short_loaded, short_loaded], replications=2, seed=-1)


@needs_report
def test_markdown_table() -> None:
    """Re-point to sim.report (markdown_table moved there)."""
    from sim.report import tables  # noqa: PLC0415 - only with the report layer

    df = pd.DataFrame({"a": ["x", "y"], "b": [0.1234, np.nan]})
    text = tables.markdown_table(df, {"b": ".1%"})
    assert text.splitlines() == ["| a | b |", "| --- | --- |", "| x | 12.3% |", "| y |  |"]


def write_short(path: Path, baseline: Path, extra: str = "") -> Path:
    path.write_text(f"extends: {baseline}\nhorizon:\n  end: 2026Q4\n{extra}", encoding="utf-8")
    return path


@needs_report
def test_cli_compare_writes_the_folder(baseline_path: Path, tmp_path: Path) -> None:
    a = write_short(tmp_path / "a.yaml", baseline_path)
    extra = (
        "name: push\nevents:\n  - type: summit\n    date: 2025Q2\n    power: CHN\n"
        "    weight: 3.0\n    assumption: test scenario\n"
    )
    b = write_short(tmp_path / "b.yaml", baseline_path, extra)
    out = tmp_path / "cmp"
    argv = ["compare", str(a), str(b), "--replications", "12", "--seed", "4", "--out", str(out)]
    assert cli.main(argv) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            "at_influence_share.csv",
            "compare.md",
            "compare_influence_share.png",
            "crossings.csv",
            "crossings.md",
            "differences_influence_share.csv",
            "differences_influence_share.png",
            "influence.png",
            "influence_bands.csv",
            "manifest.json",
            "scenarios",
        ]
    )
    for png in ("influence.png", "compare_influence_share.png"):
        assert (out / png).read_bytes()[:8] == PNG_MAGIC
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 4
    assert manifest["replications"] == 12
    assert [s["label"] for s in manifest["scenarios"]] == ["baseline", "push"]
    # The default: influence shares at the last quarter.
    assert manifest["metrics"] == ["influence_share"]
    assert manifest["at"] == {"label": "2026Q4", "first": "2026Q4", "last": "2026Q4", "quarters": 1}
    assert manifest["units"] == {"influence_share": "pp"}
    end = pd.read_csv(out / "at_influence_share.csv")
    assert {"paired_width_pp", "unpaired_width_pp", "width_ratio"} <= set(end.columns)
    text = (out / "compare.md").read_text(encoding="utf-8")
    assert "| KAZ | CHN | push |" in text
    assert not list(tmp_path.glob(".*partial*"))


@needs_report
def test_cli_compare_rejects_different_horizons(baseline_path: Path, tmp_path: Path) -> None:
    a = write_short(tmp_path / "a.yaml", baseline_path)
    out = tmp_path / "cmp"
    assert cli.main(["compare", str(a), str(baseline_path), "--out", str(out)]) == 2
    assert not out.exists()


@needs_report
def test_cli_compare_needs_two_scenarios(baseline_path: Path, tmp_path: Path) -> None:
    assert cli.main(["compare", str(baseline_path), "--out", str(tmp_path / "x")]) == 2


def test_forked_and_in_process_comparisons_agree(short_loaded: Scenario, push: Scenario) -> None:
    """Scenarios run two at a time (the second in a forked child) give the same numbers."""
    from sim.engine.executors import SequentialExecutor  # noqa: PLC0415

    scenarios = [short_loaded, push, short_loaded]  # a pair, then one alone
    forked = cmp_mod.compare_scenarios(scenarios, replications=4, seed=3)
    here = cmp_mod.compare_scenarios(
        scenarios, replications=4, seed=3, executor=SequentialExecutor()
    )
    np.testing.assert_array_equal(forked.shares, here.shares)
    np.testing.assert_array_equal(forked.shares[0], forked.shares[2])


def test_run_aside_returns_the_result_or_runs_it_here() -> None:
    import os  # noqa: PLC0415

    from sim.engine.executors import run_aside  # noqa: PLC0415

    parent = os.getpid()
    assert run_aside(lambda: np.arange(3) * 2)().tolist() == [0, 2, 4]

    def fails_in_a_child() -> int:
        if os.getpid() != parent:
            raise SystemExit(3)
        return 7

    assert run_aside(fails_in_a_child)() == 7  # the child failed: computed here


def test_standby_runs_one_task_in_its_child_or_here() -> None:
    import functools  # noqa: PLC0415
    import os  # noqa: PLC0415

    from sim.engine.executors import Standby, fork_is_safe  # noqa: PLC0415

    forks = fork_is_safe()
    with Standby("json") as first, Standby("sim.engine.stats:warm_up") as second:
        # The second child was forked after the first's pipes: it must not block the first.
        assert (first.submit(os.getpid)() != os.getpid()) == forks  # ran in the child
        doubled = functools.partial(np.multiply, np.arange(3), 2)
        assert second.submit(doubled)().tolist() == [0, 2, 4]

    def local() -> int:  # a local function does not pickle: it runs here
        return os.getpid()

    assert Standby().submit(local)() == os.getpid()
    with Standby():  # closed without a task: its child leaves
        pass


def test_standby_group_runs_each_task_in_its_own_child_after_one_import() -> None:
    import os  # noqa: PLC0415

    from sim.engine.executors import Standby, fork_is_safe  # noqa: PLC0415

    forks = fork_is_safe()
    members = Standby.group(3, "json")
    assert len(members) == 3
    # The first's result is awaited while the third has no task yet (as compare does
    # without influence shares): no member may wait for another.
    waits = [m.submit(os.getpid) for m in members[:2]]
    pids = [wait() for wait in waits]
    assert all((pid != os.getpid()) == forks for pid in pids)  # ran in the children
    assert (len(set(pids)) == 2) == forks  # side by side, one child each
    for m in members:
        m.close()  # the unused one leaves
    assert not any(m.active for m in members)
    assert Standby.group(0) == []


# ------------------------------------------------------------------- metrics, units, windows


def test_change_is_pp_for_shares_and_percent_of_the_reference_for_levels() -> None:
    a, b = np.array([0.2, 0.5, 0.0, 0.0]), np.array([0.3, 0.25, 0.0, 0.1])
    np.testing.assert_allclose(cmp_mod.change(b, a, "share"), [10.0, -25.0, 0.0, 10.0])
    level = cmp_mod.change(b, a, "level")
    np.testing.assert_allclose(level[:3], [50.0, -50.0, 0.0])
    assert np.isnan(level[3])  # a change from zero has no percent


def test_metric_kinds_come_from_the_names_of_the_layout() -> None:
    from sim.output import metric_kind, metric_layout, metric_unit  # noqa: PLC0415

    kinds = {m: metric_kind(m) for m in metric_layout(DEFAULT)}
    assert {m for m, k in kinds.items() if k == "share"} == {
        "influence_share",
        "trade_share",
        *(m for m in kinds if m.startswith("influence_")),
    }
    assert kinds["gdp"] == kinds["export_revenue"] == "level"
    assert metric_kind("route_flow_oil") == "level"  # a metric added later
    assert metric_unit("route_flow_oil") == "Mt/yr"
    assert metric_unit("gdp") == "USD bn/yr"
    assert metric_unit("price_oil") == "USD/bbl"


def test_window_mean_comes_before_the_paired_change() -> None:
    """Over a window: each replication's mean of the quarters, then the change."""
    R, T, S = 3, 4, len(STATES)
    rng = np.random.default_rng(0)
    shares = rng.dirichlet(np.ones(len(INFLUENCERS)), size=(2, R, T, S))
    gdp = rng.uniform(1.0, 10.0, size=(2, R, T, S, 1))
    cmp = synthetic(shares, gdp=gdp)
    window = cmp_mod.Window(1, 3, "2025Q2:2025Q4")
    table = cmp_mod.at_table(cmp, "gdp", window)
    row = table[(table["country"] == "UZB") & (table["scenario"] == "b")]
    s = STATES.index("UZB")
    a, b = gdp[0, :, 1:4, s, 0].mean(axis=1), gdp[1, :, 1:4, s, 0].mean(axis=1)
    d = pd.Series(100 * (b - a) / a)
    assert row["diff_pct_median"].item() == pytest.approx(d.median(), rel=1e-12)
    assert row["diff_pct_q05"].item() == pytest.approx(d.quantile(0.05), rel=1e-12)
    wrong = np.median(100 * (gdp[1, :, 1:4, s, 0] / gdp[0, :, 1:4, s, 0] - 1).mean(axis=1))
    assert row["diff_pct_median"].item() != pytest.approx(wrong, rel=1e-9)
    assert row["level_median"].item() == pytest.approx(np.median(b), rel=1e-12)
    assert row["at"].item() == "2025Q2:2025Q4"
    assert "share_pct_median" not in table.columns  # a level has no share column


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, (7, 7, "2026Q4")),
        ("2025Q3", (2, 2, "2025Q3")),
        ("2025Q2:2026Q1", (1, 4, "2025Q2:2026Q1")),
        (" 2025Q1 : 2025Q1 ", (0, 0, "2025Q1")),
    ],
)
def test_parse_at(text: str | None, expected: tuple[int, int, str]) -> None:
    w = cmp_mod.parse_at(text, 2025 * 4, 8)
    assert (w.first, w.last, w.label) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2027Q1", "outside the horizon"),
        ("2024Q4:2025Q2", "outside the horizon"),
        ("2026Q1:2025Q1", "ends before it starts"),
        ("2025-Q1", "got '2025-Q1'"),
        ("2025Q1:2025Q2:2025Q3", "got"),
        ("", "got ''"),
    ],
)
def test_parse_at_rejects(text: str, why: str) -> None:
    with pytest.raises(ValueError, match="expected a quarter like 2028Q4") as err:
        cmp_mod.parse_at(text, 2025 * 4, 8)
    assert why in str(err.value)
    assert "2025Q1..2026Q4" in str(err.value)


@pytest.fixture(scope="module")
def four_folder(tmp_path_factory: pytest.TempPathFactory, baseline_path: Path) -> Path:
    """``casim compare`` of four scenarios over three metrics, in a window.

    b and c add a Chinese summit in 2025Q2 of weight 1 and 3; d is the baseline renamed.
    """
    tmp = tmp_path_factory.mktemp("four")
    files = [write_short(tmp / "a.yaml", baseline_path)]
    for name, weight in (("b", 1.0), ("c", 3.0)):
        extra = (
            f"name: {name}\nevents:\n  - type: summit\n    date: 2025Q2\n    power: CHN\n"
            f"    weight: {weight}\n    assumption: test scenario\n"
        )
        files.append(write_short(tmp / f"{name}.yaml", baseline_path, extra))
    files.append(write_short(tmp / "d.yaml", baseline_path, "name: d\n"))
    out = tmp / "cmp"
    argv = ["compare", *map(str, files), "--replications", "6", "--seed", "2"]
    argv += ["--metrics", "gdp,trade_share,influence_share", "--at", "2025Q3:2026Q2"]
    argv += ["--out", str(out)]
    assert cli.main(argv) == 0
    return out


def test_four_scenarios_write_every_metric_in_its_unit(four_folder: Path) -> None:
    out = four_folder
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["metrics"] == ["gdp", "trade_share", "influence_share"]
    assert manifest["at"]["label"] == "2025Q3:2026Q2"
    assert manifest["at"]["quarters"] == 4
    assert manifest["units"] == {"gdp": "%", "trade_share": "pp", "influence_share": "pp"}
    for metric in manifest["metrics"]:
        for name in (f"compare_{metric}.png", f"differences_{metric}.png"):
            assert (out / name).read_bytes()[:8] == PNG_MAGIC
    gdp = pd.read_csv(out / "at_gdp.csv", keep_default_na=False, na_values=[""])
    assert "diff_pct_median" in gdp.columns
    assert "level_median" in gdp.columns
    assert list(dict.fromkeys(gdp["scenario"])) == ["baseline", "b", "c", "d"]
    trade = pd.read_csv(out / "at_trade_share.csv", keep_default_na=False, na_values=[""])
    assert {"diff_pp_median", "share_pct_median"} <= set(trade.columns)
    # A weightier Chinese summit raises China's influence more; d changes nothing.
    infl = pd.read_csv(out / "at_influence_share.csv", keep_default_na=False, na_values=[""])
    chn = infl[infl["partner"] == "CHN"].groupby("scenario")["diff_pp_median"].mean()
    assert chn["c"] > chn["b"] > 0
    for table, col in ((gdp, "diff_pct_median"), (trade, "diff_pp_median"), (infl, "diff_pp_q95")):
        assert (table.loc[table["scenario"] == "d", col] == 0).all()
    series = pd.read_csv(out / "differences_trade_share.csv")
    assert {"diff_pp_q05", "unpaired_pp_q95"} <= set(series.columns)
    text = (out / "compare.md").read_text(encoding="utf-8")
    assert "## gdp at 2025Q3:2026Q2" in text
    assert "paired diff % of reference" in text
    assert "value, USD bn/yr (5-95%)" in text
    assert "paired diff pp" in text


def test_table_csv_and_figure_agree(four_folder: Path) -> None:
    """The Markdown table and the figure show the CSV's numbers, in the CSV's unit."""
    from sim.report.redraw import read_comparison_table  # noqa: PLC0415
    from sim.report.study_figures import plot_at_differences  # noqa: PLC0415

    table = read_comparison_table(four_folder / "at_gdp.csv")
    row = table[(table["country"] == "KAZ") & (table["scenario"] == "c")].iloc[0]
    text = (four_folder / "compare.md").read_text(encoding="utf-8")
    cell = (
        f"{row['diff_pct_median']:+.2f} ({row['diff_pct_q05']:+.2f} to {row['diff_pct_q95']:+.2f})"
    )
    gdp_section = text.split("## gdp")[1].split("## ")[0]
    (line,) = [x for x in gdp_section.splitlines() if x.startswith("| KAZ | c | ")]
    assert cell in line
    fig = plot_at_differences(table, replications=6)
    (ax,) = fig.axes
    assert "% of baseline" in ax.get_xlabel()
    whiskers = [tuple(line.get_xdata()) for line in ax.lines if len(line.get_xdata()) == 2]
    assert (row["diff_pct_q05"], row["diff_pct_q95"]) in whiskers
    dots = [line.get_xdata()[0] for line in ax.lines if line.get_marker() == "D"]
    assert row["diff_pct_median"] not in dots  # c is the second scenario: squares
    squares = [line.get_xdata()[0] for line in ax.lines if line.get_marker() == "s"]
    assert row["diff_pct_median"] in squares


def test_casim_plot_redraws_every_metric(four_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "redrawn"
    assert cli.main(["plot", str(four_folder), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "compare_gdp.png",
        "compare_influence_share.png",
        "compare_trade_share.png",
        "differences_gdp.png",
        "differences_influence_share.png",
        "differences_trade_share.png",
        "influence.png",
    ]


def test_casim_runs_lists_what_was_compared(
    four_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert cli.main(["runs", "--json", "--dir", str(four_folder.parent)]) == 0
    rows = json.loads(capsys.readouterr().out)
    (row,) = [r for r in rows if r["kind"] == "compare"]
    assert row["detail"] == "gdp,trade_share,influence_share@2025Q3:2026Q2"
    assert cli.main(["runs", "--dir", str(four_folder.parent)]) == 0
    assert "gdp,trade_share,influence_share@2025Q3:2026Q2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--metrics", "gdp,nonsense"], "--metrics: unknown metric 'nonsense'; expected one of"),
        (["--metrics", "gdp,gdp"], "--metrics: expected distinct metric names"),
        (["--metrics", ","], "--metrics: expected a non-empty list"),
        (["--at", "2030Q1"], "--at: expected a quarter like 2028Q4 or a window like"),
        (["--at", "2026Q2:2025Q2"], "--at: expected a quarter like 2028Q4"),
        (["--at", "Q1 2026"], "--at: expected a quarter like 2028Q4"),
    ],
)
def test_cli_compare_bad_metrics_and_dates(
    baseline_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    expected: str,
) -> None:
    a = write_short(tmp_path / "a.yaml", baseline_path)
    out = tmp_path / "cmp"
    capsys.readouterr()
    assert cli.main(["compare", str(a), str(a), *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"error: {a}: {expected}")
    assert not out.exists()
    assert not list(tmp_path.glob(".*partial*"))
