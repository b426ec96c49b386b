"""Hindcast 2010-2020: run ``scenarios/hindcast_2010.yaml`` and score it (numbers only).

:func:`backtest` runs the hindcast ensemble and returns a :class:`BacktestResult` with

* ``hindcast``: ``year,country,partner,share_pct`` for every year of the horizon, each
  state and each partner but the residual one (CHN, RUS, JPN, USA, EU in the shipped
  world: 11 x 5 x 5 = 275 rows): the state's goods-trade share (exports + imports, the
  reference data's definition) in percent;
* ``summary``: the same for every partner with the 5% and 95% ensemble quantiles;
* ``points``: the error at each reference point inside the hindcast horizon, next to
  the persistence forecast (base-year shares held constant);
* ``reference`` and ``recent``: the reference points the repository holds.

``casim backtest`` (:mod:`sim.report`) writes them as ``hindcast.csv``,
``hindcast_bands.csv``, ``skill_points.csv``, ``skill.md`` and one figure per state.

Annual values: for each replication the year's four quarterly shares are averaged (an
annual trade share is a ratio of annual flows, close to the mean of the quarterly
ratios), then the ensemble median (and the 5% / 95% quantiles) is taken across
replications.

The trade shares of 2011-2020 in the reference series are held back from this
repository on purpose; the skill table here can only use the points the repository
holds (2010 in sample, and Kazakhstan-China 2011 from national statistics). The target
in issue 4 (MAE over 2011-2020 at least 30% below persistence) is measured elsewhere.

States and partners come from the scenario's vocabulary (``scenario.vocab``).
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sim.core.uncertainty import ParameterSample, band_label
from sim.engine.ensemble import run_ensemble
from sim.engine.executors import process_pool
from sim.engine.runfolder import check_seed
from sim.scenario import Scenario, ScenarioError, load_scenario
from sim.vocab import DEFAULT, Vocabulary

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DATA_DIR = REPO_ROOT / "sim" / "data"
#: The hindcast scenario ``casim backtest`` runs.
HINDCAST_SCENARIO = REPO_ROOT / "scenarios" / "hindcast_2010.yaml"
#: Reference series (IMF DOTS, mirror method), 2005-2010.
REFERENCE_CSV = DATA_DIR / "trade_shares_2005_2010.csv"
#: National statistics and other sources (different method), 2011 and 2021-2024.
RECENT_CSV = DATA_DIR / "trade_recent.csv"
HINDCAST_COLUMNS: tuple[str, ...] = ("year", "country", "partner", "share_pct")
DEFAULT_REPLICATIONS = 200
#: ``trade_recent.csv`` indicators that are shares of a state's goods trade.
SHARE_INDICATORS = ("trade_share_national", "trade_share")

_YEAR_RE = re.compile(r"^\s*(\d{4})")


# ----------------------------------------------------------------------------- simulation


def simulate_trade_shares(
    scenario: Scenario,
    replications: int,
    seed: int,
    executor: Any = None,
    parameters: ParameterSample | None = None,
) -> pd.DataFrame:
    """Run ``replications`` replications and return the tidy ``trade_share`` rows.

    Args:
        scenario: the resolved scenario.
        replications: ensemble size.
        seed: the ensemble's seed.
        executor: an executor for the ensemble's chunks, or None (in process).
        parameters: per-replication parameter draws (None: the scenario's values).

    Returns:
        Tidy rows (:data:`sim.output.COLUMNS`) of the metric ``trade_share``.
    """
    result = run_ensemble(
        scenario,
        replications=replications,
        seed=seed,
        executor=executor,
        metrics=("trade_share",),
        parameters=parameters,
    )
    ts = result.timeseries
    return ts[ts["metric"] == "trade_share"].reset_index(drop=True)


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


def hindcast_table(
    summary: pd.DataFrame, years: range | None = None, vocab: Vocabulary = DEFAULT
) -> pd.DataFrame:
    """The ``hindcast.csv`` table: one row per (year, state, reported partner).

    Reported partners are ``vocab.target_partners`` (all but the residual one), in
    vocabulary order; states too. Shares are clipped to [0, 100] against floating-point
    round-off only.
    """
    partners = vocab.target_partners
    keep = summary[summary["partner"].isin(partners)]
    if years is not None:
        keep = keep[keep["year"].isin(list(years))]
    order = {p: i for i, p in enumerate(partners)}
    state_order = {s: i for i, s in enumerate(vocab.states)}
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


def load_recent_points(path: Path = RECENT_CSV, vocab: Vocabulary = DEFAULT) -> pd.DataFrame:
    """Share points from ``trade_recent.csv`` for single states and the reported partners.

    States are ``vocab.states``, reported partners ``vocab.target_partners``.

    These come from national statistics and other sources (a different method from the
    reference series) and some cover part of a year; ``period`` keeps the original label.

    Returns:
        Columns ``year, country, partner, share_pct, period, source``.
    """
    raw = pd.read_csv(path, dtype=str)
    rows = raw[
        raw["indicator"].isin(SHARE_INDICATORS)
        & raw["country"].isin(vocab.states)
        & raw["partner"].isin(vocab.target_partners)
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


# ----------------------------------------------------------------------------- entry point


@dataclass
class BacktestResult:
    """What :func:`backtest` computed.

    Attributes:
        scenario: the resolved hindcast scenario.
        seed: the ensemble's seed.
        replications: the ensemble size.
        annual: per-replication annual shares (:func:`annual_shares`).
        summary: median and 5% / 95% quantiles of the annual shares, every partner
            (:func:`summarise`).
        hindcast: the ``hindcast.csv`` table (:func:`hindcast_table`).
        points: model and persistence errors at the reference points
            (:func:`skill_points`).
        reference: the reference series (:func:`load_reference`).
        recent: the national-statistics points (:func:`load_recent_points`).
        timings: seconds per stage (``simulate``).
        parameters: the parameter sample the replications drew from (None: fixed).
    """

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
    parameters: ParameterSample | None = None

    @property
    def bands(self) -> str:
        """What the 5-95% bands carry (:func:`sim.core.uncertainty.band_label`)."""
        if self.parameters is None:
            return band_label("fixed")
        return band_label("posterior", self.parameters.n)

    @property
    def vocab(self) -> Vocabulary:
        """The actors of the hindcast scenario."""
        return self.scenario.vocab

    @property
    def partners(self) -> tuple[str, ...]:
        """Partners reported in ``hindcast`` and drawn per state (all but the residual)."""
        return self.vocab.target_partners

    @property
    def skill_partners(self) -> tuple[str, ...]:
        """Partners the skill target is about (the powers)."""
        return self.vocab.powers


def backtest(
    scenario: Scenario | str | Path = HINDCAST_SCENARIO,
    *,
    replications: int = DEFAULT_REPLICATIONS,
    seed: int | None = None,
    overrides: list[str] | None = None,
    workers: int = 1,
    executor: Any = None,
    parameters: ParameterSample | None = None,
) -> BacktestResult:
    """Run the hindcast ensemble and compute the tables (nothing is written).

    Args:
        scenario: the hindcast scenario (a path or a loaded scenario).
        replications: ensemble size (at least 1).
        seed: ensemble seed (non-negative); default the scenario's.
        overrides: ``--set`` style overrides when ``scenario`` is a path.
        workers: worker processes for the ensemble when no ``executor`` is given.
        executor: an executor for the ensemble's chunks (wins over ``workers``).
        parameters: per-replication parameter draws (:mod:`sim.core.uncertainty`);
            None runs every replication on the scenario's values.

    Raises:
        ScenarioError: for bad input (keys ``replications``, ``workers``, ``seed``).
    """
    source = scenario if not isinstance(scenario, Scenario) else scenario.name
    if replications < 1:
        raise ScenarioError(source, "replications", f"expected at least 1, got {replications}")
    if workers < 1:
        raise ScenarioError(source, "workers", f"expected a positive integer, got {workers}")
    t0 = time.perf_counter()
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, overrides or [])
    seed = check_seed(seed, scenario.seed, source)
    with contextlib.ExitStack() as stack:
        if executor is None and workers > 1:
            executor = stack.enter_context(process_pool(workers))
        tidy = simulate_trade_shares(scenario, replications, seed, executor, parameters)
    t_sim = time.perf_counter() - t0
    annual = annual_shares(tidy)
    summary = summarise(annual)
    first = scenario.start_quarter // 4
    last = (scenario.start_quarter + scenario.steps - 1) // 4
    table = hindcast_table(summary, range(first, last + 1), scenario.vocab)
    reference = load_reference()
    recent = load_recent_points(vocab=scenario.vocab)
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
        parameters=parameters,
    )
