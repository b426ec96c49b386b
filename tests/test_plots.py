"""Tests of sim.report.figures on a small synthetic tidy output (no model run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import same_color
from matplotlib.figure import Figure

from sim.report import figures as plots
from sim.vocab import CHANNELS, COLOURS, COMMODITIES, DEFAULT, NAMES, VALUE_FACTOR

STATES = DEFAULT.states
INFLUENCERS = DEFAULT.influencers
PARTNERS = DEFAULT.partners

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

#: Rough 2023 magnitudes for the synthetic data (GDP in USD bn/yr).
GDP = {"KAZ": 260.0, "UZB": 90.0, "KGZ": 13.0, "TJK": 12.0, "TKM": 60.0}
PRICE = {
    "oil": 75.0,
    "gas": 250.0,
    "uranium": 60.0,
    "gold": 2000.0,
    "copper": 8500.0,
    "critical_minerals": 20000.0,
    "other": 1.0,
}


def make_tidy(n_rep: int = 2, n_steps: int = 8, seed: int = 0) -> pd.DataFrame:
    """Build a tidy output with every metric sim.report.figures reads, for all states."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2025-01-01", periods=n_steps, freq="QS")
    frames = []

    def add(rep: int, metric: str, country: str, partner: str, values: np.ndarray) -> None:
        frames.append(
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

    def shares(base: np.ndarray) -> np.ndarray:
        """Random-walk shares around ``base`` logits: (n_steps, k), rows summing to 1."""
        steps = rng.normal(scale=0.05, size=(n_steps, base.size))
        logits = base + np.cumsum(steps, axis=0)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    # Starting points shared by all replications; only the random walks differ.
    influence_base = {s: rng.normal(size=len(INFLUENCERS)) for s in STATES}
    channel_base = {s: rng.normal(size=(len(INFLUENCERS), len(CHANNELS))) for s in STATES}
    trade_base = {s: rng.normal(size=len(PARTNERS)) for s in STATES}
    for rep in range(n_rep):
        for state in STATES:
            influence = shares(influence_base[state])
            for i, power in enumerate(INFLUENCERS):
                add(rep, "influence_share", state, power, influence[:, i])
                split = shares(channel_base[state][i])
                for j, channel in enumerate(CHANNELS):
                    add(rep, f"influence_{channel}", state, power, influence[:, i] * split[:, j])
            trade = shares(trade_base[state])
            for i, partner in enumerate(PARTNERS):
                add(rep, "trade_share", state, partner, trade[:, i])
            growth = np.exp(np.cumsum(rng.normal(0.008, 0.02, size=n_steps)))
            add(rep, "gdp", state, "", GDP[state] * growth)
            add(rep, "export_revenue", state, "", 0.3 * GDP[state] * growth)
            for commodity in COMMODITIES:
                for partner in PARTNERS:
                    volume = rng.uniform(0.5, 2.0) * np.exp(
                        np.cumsum(rng.normal(0, 0.05, size=n_steps))
                    )
                    add(rep, f"exports_{commodity}", state, partner, volume)
        for commodity in COMMODITIES:
            walk = np.exp(np.cumsum(rng.normal(0, 0.05, size=n_steps)))
            add(rep, f"price_{commodity}", "", "", PRICE[commodity] * walk)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def tidy() -> pd.DataFrame:
    return make_tidy()


def data_axes(fig: Figure) -> list:
    """Axes of the figure that hold plotted data (lines, areas, bars)."""
    return [ax for ax in fig.axes if ax.lines or ax.collections or ax.patches]


def test_colours_cover_every_influencer_and_partner_and_are_distinct() -> None:
    codes = set(INFLUENCERS) | set(PARTNERS)
    assert codes <= set(COLOURS)
    powers = ["CHN", "RUS", "JPN", "USA", "EU"]
    colours = [COLOURS[c] for c in powers]
    assert len({c.lower() for c in colours}) == len(powers)


def test_quantile_band_orders_quantiles(tidy: pd.DataFrame) -> None:
    band = plots.quantile_band(tidy, "influence_share")
    assert list(band.columns) == ["step", "date", "country", "partner", "lo", "mid", "hi"]
    assert len(band) == 8 * len(STATES) * len(INFLUENCERS)
    assert (band["lo"] <= band["mid"]).all()
    assert (band["mid"] <= band["hi"]).all()


def test_quantile_band_rejects_bad_quantiles(tidy: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="increasing quantiles"):
        plots.quantile_band(tidy, "gdp", q=(0.9, 0.5, 0.1))


def test_plot_influence(tidy: pd.DataFrame) -> None:
    fig = plots.plot_influence(tidy)
    assert isinstance(fig, Figure)
    panels = data_axes(fig)
    assert len(panels) == len(STATES)
    assert [ax.get_title() for ax in panels] == [NAMES[s] for s in STATES]
    assert "Influence shares by state" in fig.get_suptitle()
    for ax in panels:
        assert ax.get_ylim() == (0.0, 1.0)
        # The panels share their y axis: only the first of each row is labelled.
        assert bool(ax.get_ylabel()) == ax.get_subplotspec().is_first_col()
        assert len(ax.lines) == len(INFLUENCERS)
        assert len(ax.collections) == len(INFLUENCERS)  # one 5-95% band per line
    legend_axes = [ax for ax in fig.axes if ax.get_legend() is not None]
    assert len(legend_axes) == 1


def test_influence_line_colours_match_power_colours(tidy: pd.DataFrame) -> None:
    fig = plots.plot_influence(tidy)
    for ax in data_axes(fig):
        lines = {line.get_gid(): line for line in ax.lines}
        for power in INFLUENCERS:
            assert same_color(lines[power].get_color(), COLOURS[power])
        assert lines["CHN"].get_label() == NAMES["CHN"]


def test_single_replication_draws_no_band(tidy: pd.DataFrame) -> None:
    fig = plots.plot_influence(tidy[tidy["replication"] == 0])
    panels = data_axes(fig)
    assert all(not ax.collections for ax in panels)
    assert "1 replication" in fig.get_suptitle()


def test_plot_trade_shares(tidy: pd.DataFrame) -> None:
    fig = plots.plot_trade_shares(tidy)
    panels = data_axes(fig)
    assert len(panels) == len(STATES)
    assert [ax.get_title() for ax in panels] == [NAMES[s] for s in STATES]
    for ax in panels:
        assert len(ax.collections) == len(PARTNERS)
        for area, partner in zip(ax.collections, PARTNERS, strict=True):
            assert same_color(area.get_facecolor()[0], COLOURS[partner])


def test_plot_channels(tidy: pd.DataFrame) -> None:
    fig = plots.plot_channels(tidy)
    panels = data_axes(fig)
    assert len(panels) == 2 * len(STATES)
    assert all(ax.get_title(loc="left") for ax in panels)
    assert "2026Q4" in panels[0].get_title(loc="left")  # last of 8 quarters from 2025Q1
    level = panels[0]
    # One bar per influencer and channel; the segments of a bar add up to its share.
    assert len(level.patches) == len(INFLUENCERS) * len(CHANNELS)
    widths = np.array([p.get_width() for p in level.patches]).reshape(len(CHANNELS), -1)
    shares = (
        tidy[(tidy["metric"] == "influence_share") & (tidy["country"] == STATES[0])]
        .query("step == 7")
        .groupby("partner")["value"]
        .mean()
        .reindex(list(INFLUENCERS))
        .to_numpy()
    )
    np.testing.assert_allclose(widths.sum(axis=0), shares)
    # Bars take the influencer's colour.
    assert same_color(level.patches[0].get_edgecolor(), COLOURS[INFLUENCERS[0]])


def test_plot_channels_year(tidy: pd.DataFrame) -> None:
    fig = plots.plot_channels(tidy, year=2025)
    assert "2025Q4" in data_axes(fig)[0].get_title(loc="left")
    with pytest.raises(ValueError, match=r"year 2050 is outside the data \(2025-2026\)"):
        plots.plot_channels(tidy, year=2050)


def test_plot_japan_supply_in_value(tidy: pd.DataFrame) -> None:
    fig = plots.plot_japan_supply(tidy)
    panels = data_axes(fig)
    assert len(panels) == 1
    ax = panels[0]
    assert "Japan" in ax.get_title()
    assert "USD bn" in ax.get_ylabel()
    resources = [c for c in COMMODITIES if c != "other"]
    assert len(ax.collections) == len(resources)  # stacked areas
    assert len(ax.lines) == 3  # total: 95th and 5th percentile, then median
    # Median total: volume x price x factor, summed over states and resource commodities.
    first = tidy[tidy["step"] == 0]
    totals = []
    for rep in (0, 1):
        of_rep = first[first["replication"] == rep]
        price = of_rep.set_index("metric")["value"]
        to_jpn = of_rep[of_rep["partner"] == "JPN"].groupby("metric")["value"].sum()
        totals.append(
            sum(to_jpn[f"exports_{c}"] * price[f"price_{c}"] * VALUE_FACTOR[c] for c in resources)
        )
    median_line = ax.lines[-1]
    assert median_line.get_ydata()[0] == pytest.approx(np.median(totals))


def test_plot_japan_supply_single_replication_has_no_median_line(tidy: pd.DataFrame) -> None:
    fig = plots.plot_japan_supply(tidy[tidy["replication"] == 0])
    (ax,) = data_axes(fig)
    assert not ax.lines
    assert len(ax.collections) == len(COMMODITIES) - 1


def test_plot_japan_supply_physical_without_prices(tidy: pd.DataFrame) -> None:
    no_prices = tidy[~tidy["metric"].str.startswith("price_")]
    fig = plots.plot_japan_supply(no_prices)
    panels = data_axes(fig)
    resources = [c for c in COMMODITIES if c != "other"]
    assert len(panels) == len(resources)
    assert panels[0].get_ylabel() == "Mt/yr"
    assert "physical units" in fig.get_suptitle()


def test_plot_japan_supply_physical_into_given_axes(tidy: pd.DataFrame) -> None:
    fig = Figure(figsize=(12, 8), layout="constrained")
    ax = fig.add_subplot()
    out = plots.plot_japan_supply(tidy[~tidy["metric"].str.startswith("price_")], ax=ax)
    assert out is fig
    assert ax not in fig.axes
    assert len(data_axes(fig)) == len(COMMODITIES) - 1


def test_plot_gdp(tidy: pd.DataFrame) -> None:
    fig = plots.plot_gdp(tidy)
    (ax,) = data_axes(fig)
    assert ax.get_yscale() == "log"
    assert "GDP" in ax.get_title()
    assert "USD bn" in ax.get_ylabel()
    assert [line.get_gid() for line in ax.lines] == list(STATES)


def test_plot_into_given_axes(tidy: pd.DataFrame) -> None:
    fig = Figure()
    ax = fig.add_subplot()
    assert plots.plot_gdp(tidy, ax=ax) is fig
    assert ax.lines


@pytest.mark.parametrize(
    ("function", "metric"),
    [
        (plots.plot_influence, "influence_share"),
        (plots.plot_trade_shares, "trade_share"),
        (plots.plot_channels, "influence_security"),
        (plots.plot_gdp, "gdp"),
    ],
)
def test_missing_metric_raises(tidy: pd.DataFrame, function, metric: str) -> None:
    with pytest.raises(ValueError, match=f"{function.__name__} needs metric.*{metric}"):
        function(tidy[tidy["metric"] != metric])


def test_japan_supply_without_exports_to_japan_raises(tidy: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="plot_japan_supply needs metric"):
        plots.plot_japan_supply(tidy[tidy["partner"] != "JPN"])


def test_missing_column_raises(tidy: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['date'\]"):
        plots.plot_influence(tidy.drop(columns="date"))


def test_save_figures_writes_pngs(tidy: pd.DataFrame, tmp_path: Path) -> None:
    outdir = tmp_path / "figures" / "nested"
    paths, skipped = plots.save_figures(tidy, outdir)
    names = ["influence.png", "trade_shares.png", "channels.png", "japan_supply.png", "gdp.png"]
    assert [p.name for p in paths] == names
    assert skipped == {}
    for path in paths:
        assert path.parent == outdir
        data = path.read_bytes()
        assert len(data) > 1000
        assert data.startswith(PNG_MAGIC)


def test_save_figures_skips_only_the_figure_whose_metric_is_missing(
    tidy: pd.DataFrame, tmp_path: Path
) -> None:
    paths, skipped = plots.save_figures(tidy[tidy["metric"] != "gdp"], tmp_path / "out")
    assert [p.name for p in paths] == [
        "influence.png",
        "trade_shares.png",
        "channels.png",
        "japan_supply.png",
    ]
    assert skipped == {"gdp": ["gdp"]}
    assert not (tmp_path / "out" / "gdp.png").exists()
