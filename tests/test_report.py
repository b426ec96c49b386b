"""The report layer: figures from the data's labels, per-figure metric needs, casim plot."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import same_color
from matplotlib.figure import Figure

from sim.cli import EXIT_BAD_INPUT, main
from sim.report import figures, study_figures
from sim.report.style import colour_map, ordered
from sim.vocab import CHANNELS, DEFAULT, EXTRA_COLOURS, RESOURCES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SHORT = "horizon.end=2026Q4"
#: A made-up sixth state and fifth power (codes no vocabulary knows).
SIX_STATES = (*DEFAULT.states, "ZZA")
FIVE_POWERS = (*DEFAULT.powers, "ZZP")
#: The shipped world plus those two, declared (as a scenario's ``actors:`` would).
WIDER = DEFAULT.with_actors({"ZZA": ("state", "Zedland", None), "ZZP": ("power", "Zedpower", None)})
ALL_FIGURES = ["influence", "trade_shares", "channels", "japan_supply", "gdp"]


def tidy_frame(
    states: tuple[str, ...] = DEFAULT.states,
    powers: tuple[str, ...] = DEFAULT.powers,
    n_rep: int = 2,
    n_steps: int = 4,
) -> pd.DataFrame:
    """A small tidy table with every metric the figures read (made-up numbers)."""
    rng = np.random.default_rng(3)
    dates = pd.date_range("2025-01-01", periods=n_steps, freq="QS")
    holders, partners = (*powers, "OTH"), (*powers, *DEFAULT.markets)
    rows: list[pd.DataFrame] = []

    def add(metric: str, country: str, partner: str, values: np.ndarray, rep: int) -> None:
        rows.append(
            pd.DataFrame(
                {
                    "replication": rep,
                    "step": np.arange(n_steps),
                    "date": dates,
                    "country": country,
                    "partner": partner,
                    "metric": metric,
                    "value": values,
                }
            )
        )

    for rep in range(n_rep):
        for state in states:
            share = rng.dirichlet(np.ones(len(holders)), size=n_steps)
            for i, holder in enumerate(holders):
                add("influence_share", state, holder, share[:, i], rep)
                for channel in CHANNELS:
                    add(f"influence_{channel}", state, holder, share[:, i] / len(CHANNELS), rep)
            trade = rng.dirichlet(np.ones(len(partners)), size=n_steps)
            for i, partner in enumerate(partners):
                add("trade_share", state, partner, trade[:, i], rep)
            add("gdp", state, "", rng.uniform(10, 300) * np.ones(n_steps), rep)
            for commodity in RESOURCES:
                add(f"exports_{commodity}", state, "JPN", rng.uniform(1, 2, n_steps), rep)
        for commodity in RESOURCES:
            add(f"price_{commodity}", "", "", rng.uniform(50, 100, n_steps), rep)
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def tidy() -> pd.DataFrame:
    return tidy_frame()


@pytest.fixture(scope="module")
def tidy6() -> pd.DataFrame:
    return tidy_frame(SIX_STATES, FIVE_POWERS)


def data_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.lines or ax.collections or ax.patches]


# ----------------------------------------------------------------------------- labels


def test_ordered_puts_vocabulary_codes_first_and_keeps_unknown_ones() -> None:
    values = pd.Series(["ZZA", "UZB", "", "KAZ", "UZB"])
    assert ordered(values, DEFAULT.states) == ["KAZ", "UZB", "ZZA"]


def test_unknown_codes_get_their_own_colour() -> None:
    colours = colour_map(["CHN", "ZZP", "ZZQ"], DEFAULT)
    assert colours["CHN"] == DEFAULT.colours["CHN"]
    assert colours["ZZP"] in EXTRA_COLOURS
    assert len(set(colours.values())) == 3


# ----------------------------------------------------------------------------- figures


@pytest.mark.parametrize("name", ALL_FIGURES)
def test_each_figure_draws_from_a_minimal_frame(tidy: pd.DataFrame, name: str) -> None:
    fig = figures.FIGURES[name].draw(tidy, DEFAULT)
    assert isinstance(fig, Figure)
    assert data_axes(fig)


@pytest.mark.parametrize(
    ("metrics", "drawn"),
    [
        ({"influence_share"}, ["influence"]),
        ({"trade_share", "gdp"}, ["trade_shares", "gdp"]),
        ({f"influence_{c}" for c in CHANNELS}, ["channels"]),
        ({"exports_gold"}, ["japan_supply"]),
        ({"influence_trade", "price_oil"}, []),
    ],
)
def test_save_figures_draws_exactly_what_the_metrics_allow(
    tidy: pd.DataFrame, tmp_path: Path, metrics: set[str], drawn: list[str]
) -> None:
    paths, skipped = figures.save_figures(tidy[tidy["metric"].isin(metrics)], tmp_path / "p")
    assert [p.name for p in paths] == [f"{n}.png" for n in drawn]
    assert sorted(skipped) == sorted(set(ALL_FIGURES) - set(drawn))
    assert sorted(p.name for p in (tmp_path / "p").glob("*.png")) == sorted(p.name for p in paths)
    if not drawn:
        assert not (tmp_path / "p").exists()
    if "channels" in skipped and "influence_trade" in metrics:
        assert skipped["channels"] == [f"influence_{c}" for c in CHANNELS if c != "trade"]


@pytest.mark.parametrize("name", ["influence", "trade_shares"])
def test_six_states_get_six_panels_and_a_legend(tidy6: pd.DataFrame, name: str) -> None:
    fig = figures.FIGURES[name].draw(tidy6, DEFAULT)
    panels = data_axes(fig)
    assert [ax.get_title() for ax in panels] == [DEFAULT.name(s) for s in SIX_STATES]
    assert all(ax.collections or ax.lines for ax in panels)
    legends = [ax for ax in fig.axes if ax.get_legend() is not None]
    assert len(legends) == 1
    assert legends[0] not in panels


def test_a_declared_sixth_state_is_named_by_the_vocabulary(tidy6: pd.DataFrame) -> None:
    fig = figures.plot_influence(tidy6, vocab=WIDER)
    panels = data_axes(fig)
    assert panels[-1].get_title() == "Zedland"
    lines = {line.get_gid(): line for line in panels[0].lines}
    assert same_color(lines["ZZP"].get_color(), WIDER.colour("ZZP"))


def test_six_states_and_five_powers_in_every_run_figure(tidy6: pd.DataFrame) -> None:
    influence = data_axes(figures.plot_influence(tidy6))
    assert all(len(ax.lines) == len(FIVE_POWERS) + 1 for ax in influence)
    lines = {line.get_gid(): line for line in influence[0].lines}
    assert not same_color(lines["ZZP"].get_color(), lines["OTH"].get_color())
    assert len(data_axes(figures.plot_channels(tidy6))) == 2 * len(SIX_STATES)
    (gdp,) = data_axes(figures.plot_gdp(tidy6))
    assert [line.get_gid() for line in gdp.lines] == list(SIX_STATES)
    assert data_axes(figures.plot_japan_supply(tidy6))


def _bands(states: tuple[str, ...], holders: tuple[str, ...]) -> pd.DataFrame:
    dates = pd.date_range("2025-01-01", periods=4, freq="QS")
    index = pd.MultiIndex.from_product(
        [["base", "push"], range(4), states, holders], names=["scenario", "step", "state", "power"]
    )
    out = index.to_frame(index=False)
    out.insert(2, "date", dates[out["step"]])
    rng = np.random.default_rng(1)
    mid = rng.uniform(10, 40, len(out))
    out["share_pct_median"], out["share_pct_q05"], out["share_pct_q95"] = mid, mid - 5, mid + 5
    return out


def test_comparison_figures_with_six_states() -> None:
    bands = _bands(SIX_STATES, (*FIVE_POWERS, "OTH"))
    fig = study_figures.plot_influence_comparison(bands, seed=1, replications=3)
    panels = data_axes(fig)
    assert [ax.get_title() for ax in panels] == [DEFAULT.name(s) for s in SIX_STATES]
    assert next(ax for ax in fig.axes if ax.get_legend() is not None) not in panels
    diffs = bands[bands["scenario"] == "push"].copy()
    diffs = diffs.rename(
        columns={"state": "country", "power": "partner"}
        | {f"share_pct_{q}": f"diff_pp_{q}" for q in ("median", "q05", "q95")}
    )
    diffs.insert(1, "reference", "base")
    diffs["unpaired_pp_q05"], diffs["unpaired_pp_q95"] = diffs["diff_pp_q05"] - 1, 50.0
    fig = study_figures.plot_difference_series(
        diffs, metric="influence_share", seed=1, replications=3
    )
    assert len(data_axes(fig)) == len(SIX_STATES)
    assert all(ax.get_ylabel() in ("pp", "") for ax in data_axes(fig))


@pytest.mark.parametrize("years", [1, 12])
def test_save_png_paints_what_savefig_paints(years: int) -> None:
    """Drawn once with fixed ticks, a figure has the pixels of ``savefig``'s two draws.

    Four quarters have month ticks, four dates three years apart year ticks.
    """
    from PIL import Image  # noqa: PLC0415

    from sim.report.style import save_png  # noqa: PLC0415

    bands = _bands(DEFAULT.states[:2], ("CHN", "OTH"))
    bands["date"] = pd.date_range("2025-01-01", periods=4, freq=f"{3 * years}MS")[bands["step"]]
    old, new = io.BytesIO(), io.BytesIO()
    study_figures.plot_influence_comparison(bands, seed=1, replications=3).savefig(old, dpi=110)
    fig = study_figures.plot_influence_comparison(bands, seed=1, replications=3)
    save_png(fig, new, 110)
    assert np.array_equal(np.asarray(Image.open(old)), np.asarray(Image.open(new)))


def test_hindcast_figure_with_a_fifth_power() -> None:
    partners = (*FIVE_POWERS, *DEFAULT.markets)
    index = pd.MultiIndex.from_product(
        [range(2010, 2021), ["KAZ"], partners], names=["year", "country", "partner"]
    )
    summary = index.to_frame(index=False).assign(share_pct=10.0, p05=8.0, p95=12.0)
    points = pd.DataFrame(
        {"year": [2010], "country": ["KAZ"], "partner": ["CHN"], "share_pct": [20.0]}
    )
    fig = study_figures.plot_hindcast_state("KAZ", summary, points, points.iloc[:0], 5)
    titles = [ax.get_title() for ax in data_axes(fig)]
    # Without a vocabulary that declares it, the unknown power follows the known partners.
    assert titles == [DEFAULT.name(p) for p in (*DEFAULT.powers, "EU", "ZZP")]
    fig = study_figures.plot_hindcast_state("KAZ", summary, points, points.iloc[:0], 5, vocab=WIDER)
    titles = [ax.get_title() for ax in data_axes(fig)]
    assert titles == [WIDER.name(p) for p in (*FIVE_POWERS, "EU")]
    assert titles[4] == "Zedpower"


# ----------------------------------------------------------------------------- casim plot


def _pngs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.png"))


def test_casim_plot_redraws_a_run(
    baseline_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    argv = ["run", str(baseline_path), "--set", SHORT, "--no-plots", "--out", str(run)]
    assert main(argv) == 0
    assert not (run / "plots").exists()
    capsys.readouterr()
    assert main(["plot", str(run)]) == 0
    assert capsys.readouterr().out.strip() == str(run / "plots")
    assert _pngs(run / "plots") == sorted(f"{n}.png" for n in ALL_FIGURES)
    for png in (run / "plots").glob("*.png"):
        assert png.read_bytes().startswith(PNG_MAGIC)
    elsewhere = tmp_path / "elsewhere"
    assert main(["plot", str(run), "--out", str(elsewhere)]) == 0
    assert _pngs(elsewhere) == _pngs(run / "plots")


def test_casim_plot_redraws_an_ensemble_with_a_metric_subset(
    baseline_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ens = tmp_path / "ens"
    argv = ["run", str(baseline_path), "--set", SHORT, "--replications", "3"]
    argv += ["--metrics", "influence_share", "--out", str(ens)]
    assert main(argv) == 0
    manifest = json.loads((ens / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["plots"] == ["influence.png"]
    assert manifest["plots_replications"] == 3
    assert "trade_shares.png (trade_share)" in manifest["plots_note"]
    (ens / "plots" / "influence.png").unlink()
    capsys.readouterr()
    assert main(["plot", str(ens)]) == 0
    captured = capsys.readouterr()
    assert _pngs(ens / "plots") == ["influence.png"]
    assert "gdp.png not drawn" in captured.err


def test_casim_plot_redraws_a_comparison(baseline_path: Path, tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text(f"extends: {baseline_path}\nhorizon:\n  end: 2026Q4\n", encoding="utf-8")
    b = tmp_path / "b.yaml"
    b.write_text(f"extends: {a}\nname: b\npowers:\n  JPN:\n    budget: 3.0\n", encoding="utf-8")
    out = tmp_path / "cmp"
    assert main(["compare", str(a), str(b), "--replications", "3", "--out", str(out)]) == 0
    assert main(["plot", str(out)]) == 0
    assert _pngs(out / "plots") == [
        "compare_influence_share.png",
        "differences_influence_share.png",
        "influence.png",
    ]


@pytest.mark.parametrize("content", [{}, {"manifest.json": "{}"}, {"manifest.json": "not json"}])
def test_casim_plot_of_a_folder_that_is_not_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: dict[str, str]
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in content.items():
        (folder / name).write_text(text, encoding="utf-8")
    assert main(["plot", str(folder)]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"error: {folder}: expected a casim run folder "
        "(manifest.json and timeseries.parquet or .csv)\n"
    )
    assert sorted(p.name for p in folder.iterdir()) == sorted(content)
