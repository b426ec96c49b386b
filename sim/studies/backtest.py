"""Hindcast 2010-2020: run ``scenarios/hindcast_2010.yaml`` and score it (``casim backtest``).

The backtest writes a folder with

* ``hindcast.csv``: ``year,country,partner,share_pct`` for every year 2010-2020, each of
  the five states and each partner CHN, RUS, JPN, USA, EU (275 rows): the state's
  goods-trade share (exports + imports, the reference data's definition) in percent;
* ``hindcast_bands.csv``: the same with the 5% and 95% ensemble quantiles;
* ``plots/hindcast_<STATE>.png``: simulated shares with 5-95% bands against every
  reference point the repository holds;
* ``skill.md``: the error at each reference point inside the hindcast horizon, next to
  the persistence forecast (2010 shares held constant);
* ``manifest.json``: what was run (as :mod:`sim.runner` writes for ``casim run``).

Annual values: for each replication the year's four quarterly shares are averaged (an
annual trade share is a ratio of annual flows, close to the mean of the quarterly
ratios), then the ensemble median (and the 5% / 95% quantiles) is taken across
replications.

The trade shares of 2011-2020 in the reference series are held back from this
repository on purpose; the skill table here can only use the points the repository
holds (2010 in sample, and Kazakhstan-China 2011 from national statistics). The target
in issue 4 (MAE over 2011-2020 at least 30% below persistence) is measured elsewhere.
"""

from __future__ import annotations

import importlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim import metrics
from sim.countries import NAMES, STATES
from sim.runner import atomic_dir, base_manifest, check_out_dir, write_manifest
from sim.scenario import Scenario, ScenarioError, load_scenario

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "data"
#: The hindcast scenario ``casim backtest`` runs.
HINDCAST_SCENARIO = REPO_ROOT / "scenarios" / "hindcast_2010.yaml"
#: Reference series (IMF DOTS, mirror method), 2005-2010.
REFERENCE_CSV = DATA_DIR / "trade_shares_2005_2010.csv"
#: National statistics and other sources (different method), 2011 and 2021-2024.
RECENT_CSV = DATA_DIR / "trade_recent.csv"
#: Partners reported in ``hindcast.csv`` (ROW is the remainder).
PARTNERS_OUT: tuple[str, ...] = ("CHN", "RUS", "JPN", "USA", "EU")
#: Partners the issue's skill target is about.
SKILL_PARTNERS: tuple[str, ...] = ("CHN", "RUS", "JPN", "USA")
HINDCAST_COLUMNS: tuple[str, ...] = ("year", "country", "partner", "share_pct")
DEFAULT_REPLICATIONS = 200
#: ``trade_recent.csv`` indicators that are shares of a state's goods trade.
SHARE_INDICATORS = ("trade_share_national", "trade_share")

_YEAR_RE = re.compile(r"^\s*(\d{4})")


# ----------------------------------------------------------------------------- simulation


def simulate_trade_shares(
    scenario: Scenario, replications: int, seed: int, executor: Any = None
) -> pd.DataFrame:
    """Run ``replications`` replications and return the tidy ``trade_share`` rows.

    Uses :func:`sim.ensemble.run_ensemble` when that module exists, otherwise
    :class:`~sim.model.GeoModel` directly (it is vectorised over replications).

    Args:
        scenario: the resolved scenario.
        replications: ensemble size.
        seed: the ensemble's seed.
        executor: passed to ``run_ensemble`` (ignored without it).

    Returns:
        Tidy rows (:data:`sim.metrics.COLUMNS`) of the metric ``trade_share``.
    """
    try:
        ensemble = importlib.import_module("sim.ensemble")
    except ModuleNotFoundError:
        ensemble = None
    if ensemble is not None and hasattr(ensemble, "run_ensemble"):
        try:
            result = ensemble.run_ensemble(
                scenario,
                replications=replications,
                seed=seed,
                executor=executor,
                metrics=("trade_share",),
            )
        except TypeError:  # an ensemble API without metric selection
            result = ensemble.run_ensemble(
                scenario, replications=replications, seed=seed, executor=executor
            )
        ts = result.timeseries
        return ts[ts["metric"] == "trade_share"].reset_index(drop=True)
    from sim.model import GeoModel  # noqa: PLC0415 - heavy import only when simulating

    model = GeoModel(scenario=scenario, replications=replications, rng=seed).run()
    return metrics.to_tidy(
        model.history, model.replication_ids, model.start_quarter, metrics=("trade_share",)
    )


def annual_shares(tidy: pd.DataFrame) -> pd.DataFrame:
    """Per-replication annual shares in percent: the mean of each year's quarters.

    Args:
        tidy: tidy rows with ``metric == "trade_share"`` (other metrics are ignored).

    Returns:
        Columns ``replication, year, country, partner, share_pct``.
    """
    rows = tidy[tidy["metric"] == "trade_share"]
    year = pd.DatetimeIndex(rows["date"]).year.astype("int64")
    out = (
        rows.assign(year=year)
        .groupby(["replication", "year", "country", "partner"], as_index=False)["value"]
        .mean()
    )
    out["share_pct"] = out.pop("value") * 100.0
    return out


def summarise(annual: pd.DataFrame) -> pd.DataFrame:
    """Ensemble median and 5% / 95% quantiles of annual shares.

    Returns:
        Columns ``year, country, partner, share_pct, p05, p95`` (all partners present).
    """
    g = annual.groupby(["year", "country", "partner"])["share_pct"]
    out = pd.concat(
        {"share_pct": g.median(), "p05": g.quantile(0.05), "p95": g.quantile(0.95)}, axis=1
    )
    return out.reset_index()


def hindcast_table(summary: pd.DataFrame, years: range | None = None) -> pd.DataFrame:
    """The ``hindcast.csv`` table: one row per (year, state, partner in :data:`PARTNERS_OUT`).

    Shares are clipped to [0, 100] against floating-point round-off only.
    """
    keep = summary[summary["partner"].isin(PARTNERS_OUT)]
    if years is not None:
        keep = keep[keep["year"].isin(list(years))]
    order = {p: i for i, p in enumerate(PARTNERS_OUT)}
    state_order = {s: i for i, s in enumerate(STATES)}
    keep = keep.assign(
        _s=keep["country"].map(state_order), _p=keep["partner"].map(order)
    ).sort_values(["year", "_s", "_p"])
    out = keep[list(HINDCAST_COLUMNS)].reset_index(drop=True)
    out["share_pct"] = out["share_pct"].clip(0.0, 100.0).round(4)
    return out


# ----------------------------------------------------------------------------- reference


def load_reference(path: Path = REFERENCE_CSV) -> pd.DataFrame:
    """The reference series (IMF DOTS, mirror method): ``year, country, partner, share_pct``."""
    ref = pd.read_csv(path)
    return ref[["year", "country", "partner", "share_pct"]].astype({"year": int})


def load_recent_points(path: Path = RECENT_CSV) -> pd.DataFrame:
    """Share points from ``trade_recent.csv`` for single states and the reported partners.

    These come from national statistics and other sources (a different method from the
    reference series) and some cover part of a year; ``period`` keeps the original label.

    Returns:
        Columns ``year, country, partner, share_pct, period, source``.
    """
    raw = pd.read_csv(path, dtype=str)
    rows = raw[
        raw["indicator"].isin(SHARE_INDICATORS)
        & raw["country"].isin(STATES)
        & raw["partner"].isin(PARTNERS_OUT)
    ]
    out = []
    for r in rows.itertuples(index=False):
        m = _YEAR_RE.match(str(r.year))
        if not m:
            continue
        out.append(
            {
                "year": int(m.group(1)),
                "country": r.country,
                "partner": r.partner,
                "share_pct": float(r.value),
                "period": str(r.year),
                "source": str(r.source),
            }
        )
    cols = ["year", "country", "partner", "share_pct", "period", "source"]
    return pd.DataFrame(out, columns=cols)


# ----------------------------------------------------------------------------- skill


def skill_points(
    summary: pd.DataFrame,
    reference: pd.DataFrame,
    recent: pd.DataFrame,
    base_year: int,
    last_year: int,
) -> pd.DataFrame:
    """Model and persistence errors at every reference point inside the horizon.

    Persistence is the reference value of ``base_year`` held constant.

    Returns:
        Columns ``year, country, partner, source, reference, model, persistence,
        err_model, err_persistence`` (errors absolute, in percentage points).
    """
    base = reference[reference["year"] == base_year].set_index(["country", "partner"])
    med = summary.set_index(["year", "country", "partner"])["share_pct"]
    pts = [
        reference.assign(source="IMF DOTS (mirror)"),
        recent.drop(columns=["period"]).assign(
            source=recent["source"].map(lambda s: f"national statistics: {s}")
        ),
    ]
    pts = pd.concat(pts, ignore_index=True)
    pts = pts[(pts["year"] >= base_year) & (pts["year"] <= last_year)]
    rows = []
    for r in pts.itertuples(index=False):
        key = (r.year, r.country, r.partner)
        if key not in med.index or (r.country, r.partner) not in base.index:
            continue
        model = float(med.loc[key])
        pers = float(base.loc[(r.country, r.partner), "share_pct"])
        rows.append(
            {
                "year": r.year,
                "country": r.country,
                "partner": r.partner,
                "source": r.source,
                "reference": r.share_pct,
                "model": model,
                "persistence": pers,
                "err_model": abs(model - r.share_pct),
                "err_persistence": abs(pers - r.share_pct),
            }
        )
    return pd.DataFrame(rows)


def skill_markdown(points: pd.DataFrame, meta: dict[str, Any]) -> str:
    """``skill.md``: the point table and MAE summaries, model vs persistence."""
    lines = [
        "# Hindcast skill",
        "",
        f"Scenario `{meta['scenario']}`, {meta['replications']} replications, seed "
        f"{meta['seed']}. Model: ensemble median of annual shares (mean of the year's "
        "quarters per replication). Persistence: the 2010 reference share held constant.",
        "",
        "The reference series for 2011-2020 is held back from this repository, so only "
        "the points it holds inside 2010-2020 can be scored here: 2010 (in sample: the "
        "model is calibrated to reproduce it, and persistence equals it by construction) "
        "and the 2011 Kazakhstan-China share from national statistics (a different method "
        "from the IMF DOTS mirror series; compare levels with care).",
        "",
        "## Points",
        "",
        "| year | state | partner | source | reference % | model % | persistence % "
        "| model error pp | persistence error pp |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines.extend(
        f"| {r.year} | {r.country} | {r.partner} | {r.source} | {r.reference:.2f} "
        f"| {r.model:.2f} | {r.persistence:.2f} | {r.err_model:.2f} "
        f"| {r.err_persistence:.2f} |"
        for r in points.itertuples(index=False)
    )
    lines += ["", "## Mean absolute error (percentage points)", ""]
    lines += [
        "| points | n | model MAE | persistence MAE |",
        "| --- | --- | --- | --- |",
    ]
    groups = {
        "2010, all partners (in sample)": points[points["year"] == 2010],
        "2010, CHN/RUS/JPN/USA (in sample)": points[
            (points["year"] == 2010) & points["partner"].isin(SKILL_PARTNERS)
        ],
        "after 2010 (out of sample)": points[points["year"] > 2010],
    }
    for label, g in groups.items():
        if g.empty:
            lines.append(f"| {label} | 0 | - | - |")
            continue
        lines.append(
            f"| {label} | {len(g)} | {g['err_model'].mean():.2f} "
            f"| {g['err_persistence'].mean():.2f} |"
        )
    lines += [
        "",
        "Out-of-sample skill on 2011-2020 (the issue's target: model MAE over CHN, RUS, JPN "
        "and USA at least 30% below persistence) can only be measured against the "
        "held-back series; `hindcast.csv` holds everything needed to do so.",
        "",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- plots


def plot_state(
    state: str,
    summary: pd.DataFrame,
    reference: pd.DataFrame,
    recent: pd.DataFrame,
    n_replications: int,
) -> Figure:
    """One state's simulated shares (median, 5-95% band) against the reference points."""
    from sim.plots import POWER_COLOURS  # noqa: PLC0415 - matplotlib styling only

    fig = Figure(figsize=(11.0, 6.5), layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    sim = summary[summary["country"] == state]
    ref = reference[reference["country"] == state]
    rec = recent[recent["country"] == state]
    for ax, partner in zip(axes, PARTNERS_OUT, strict=False):
        colour = POWER_COLOURS[partner]
        s = sim[sim["partner"] == partner].sort_values("year")
        ax.fill_between(s["year"], s["p05"], s["p95"], color=colour, alpha=0.2, linewidth=0)
        ax.plot(s["year"], s["share_pct"], color=colour, linewidth=2)
        r = ref[ref["partner"] == partner]
        ax.plot(r["year"], r["share_pct"], "o", color="black", markersize=5)
        n = rec[rec["partner"] == partner]
        ax.plot(
            n["year"], n["share_pct"], "^", markerfacecolor="white", color="black", markersize=7
        )
        ax.axvline(2010, color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"{NAMES[partner]}")
        ax.set_xlim(2004.5, 2024.5)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("% of goods trade")
        ax.grid(alpha=0.3)
    legend = axes[-1]
    legend.axis("off")
    legend.legend(
        handles=[
            Line2D([], [], color="black", linewidth=2, label="model: median (2010-2020)"),
            Patch(color="grey", alpha=0.3, label="model: 5-95% band"),
            Line2D(
                [], [], marker="o", color="black", linestyle="", label="IMF DOTS, mirror (ref.)"
            ),
            Line2D(
                [],
                [],
                marker="^",
                markerfacecolor="white",
                color="black",
                linestyle="",
                label="national statistics / other\n(different method)",
            ),
            Line2D([], [], color="grey", linestyle=":", label="hindcast start"),
        ],
        loc="center",
        frameon=False,
    )
    legend.text(
        0.5,
        0.02,
        f"{n_replications} replications; 2011-2020 reference held back",
        ha="center",
        transform=legend.transAxes,
        fontsize=8,
    )
    fig.suptitle(f"{NAMES[state]}: trade shares, hindcast from 2010")
    return fig


# ----------------------------------------------------------------------------- entry point


@dataclass
class BacktestResult:
    """What :func:`backtest` computed (also written by :func:`run_backtest`)."""

    scenario: Scenario
    seed: int
    replications: int
    annual: pd.DataFrame
    summary: pd.DataFrame
    hindcast: pd.DataFrame
    points: pd.DataFrame
    reference: pd.DataFrame
    recent: pd.DataFrame
    timings: dict[str, float]


def backtest(
    scenario: Scenario | str | Path = HINDCAST_SCENARIO,
    *,
    replications: int = DEFAULT_REPLICATIONS,
    seed: int | None = None,
    overrides: list[str] | None = None,
    workers: int = 1,
) -> BacktestResult:
    """Run the hindcast ensemble and compute the tables (nothing is written).

    Args:
        scenario: the hindcast scenario (a path or a loaded scenario).
        replications: ensemble size (at least 1).
        seed: ensemble seed; default the scenario's.
        overrides: ``--set`` style overrides when ``scenario`` is a path.
        workers: worker processes for the ensemble (needs :mod:`sim.ensemble`).

    Raises:
        ScenarioError: for bad input.
    """
    if replications < 1:
        raise ScenarioError("--replications", "", f"expected at least 1, got {replications}")
    t0 = time.perf_counter()
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, overrides or [])
    seed = scenario.seed if seed is None else seed
    if workers > 1:
        from sim.ensemble import process_pool  # noqa: PLC0415

        with process_pool(workers) as pool:
            tidy = simulate_trade_shares(scenario, replications, seed, executor=pool)
    else:
        tidy = simulate_trade_shares(scenario, replications, seed)
    t_sim = time.perf_counter() - t0
    annual = annual_shares(tidy)
    summary = summarise(annual)
    first = scenario.start_quarter // 4
    last = (scenario.start_quarter + scenario.steps - 1) // 4
    table = hindcast_table(summary, range(first, last + 1))
    reference = load_reference()
    recent = load_recent_points()
    points = skill_points(summary, reference, recent, base_year=first, last_year=last)
    return BacktestResult(
        scenario=scenario,
        seed=seed,
        replications=replications,
        annual=annual,
        summary=summary,
        hindcast=table,
        points=points,
        reference=reference,
        recent=recent,
        timings={"simulate": round(t_sim, 4)},
    )


def run_backtest(
    replications: int = DEFAULT_REPLICATIONS,
    seed: int | None = None,
    out: str | Path | None = None,
    *,
    scenario: str | Path = HINDCAST_SCENARIO,
    results: str | Path = "results",
    plots: bool = True,
    workers: int = 1,
) -> Path:
    """Run the hindcast and write its folder (atomically: temp folder, then rename).

    Args:
        replications: ensemble size.
        seed: ensemble seed; default the scenario's.
        out: output folder (must not exist or be empty); default
            ``results/backtest/<UTC time>-s<seed>-<digest8>``.
        scenario: the hindcast scenario file.
        results: results root for the default folder.
        plots: also draw the per-state figures.
        workers: worker processes for the ensemble.

    Returns:
        The folder written.

    Raises:
        ScenarioError: for bad input, before anything is written.
    """
    from sim.runner import default_run_dir  # noqa: PLC0415

    final = Path(out) if out is not None else None
    if final is not None:
        check_out_dir(final)
    res = backtest(scenario, replications=replications, seed=seed, workers=workers)
    if final is None:
        final = default_run_dir(Path(results), "backtest", res.seed, res.scenario.digest())
    with atomic_dir(final) as tmp:
        t0 = time.perf_counter()
        res.hindcast.to_csv(tmp / "hindcast.csv", index=False)
        bands = res.summary[res.summary["partner"].isin(PARTNERS_OUT)]
        bands.round(4).to_csv(tmp / "hindcast_bands.csv", index=False)
        meta = {"scenario": res.scenario.name, "replications": replications, "seed": res.seed}
        (tmp / "skill.md").write_text(skill_markdown(res.points, meta), encoding="utf-8")
        res.points.round(4).to_csv(tmp / "skill_points.csv", index=False)
        written: list[str] = []
        if plots:
            (tmp / "plots").mkdir()
            for state in STATES:
                fig = plot_state(state, res.summary, res.reference, res.recent, replications)
                name = f"hindcast_{state}.png"
                fig.savefig(tmp / "plots" / name, dpi=110)
                written.append(name)
        manifest = base_manifest(res.scenario, scenario, [], res.seed)
        manifest |= {
            "kind": "backtest",
            "replications": replications,
            "rows": len(res.hindcast),
            "plots": written,
            "skill": _skill_summary(res.points),
            "timings_s": res.timings | {"write": round(time.perf_counter() - t0, 4)},
        }
        write_manifest(tmp, manifest)
    return final


def _skill_summary(points: pd.DataFrame) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, g in (
        ("in_sample_2010", points[points["year"] == 2010]),
        ("out_of_sample", points[points["year"] > 2010]),
    ):
        out[label] = {
            "n": len(g),
            "mae_model_pp": float(np.round(g["err_model"].mean(), 4)) if len(g) else None,
            "mae_persistence_pp": float(np.round(g["err_persistence"].mean(), 4))
            if len(g)
            else None,
        }
    return out
