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
import dataclasses
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
from sim.scenario import Scenario, ScenarioError, load_scenario, with_overrides
from sim.studies.discrepancy import (
    DISCREPANCY_NOTE,
    DiscrepancyFit,
    apply_discrepancy,
    fit_best,
    residuals,
)
from sim.vocab import DEFAULT, Vocabulary

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DATA_DIR = REPO_ROOT / "sim" / "data"
#: The hindcast scenario ``casim backtest`` runs.
HINDCAST_SCENARIO = REPO_ROOT / "scenarios" / "hindcast_2010.yaml"
#: The in-sample run scored on 2005-2010 (the calibration run's 2005 data).
CALIBRATION_SCENARIO = REPO_ROOT / "scenarios" / "hindcast_2005.yaml"
#: Reference series (IMF DOTS, mirror method), 2005-2010.
REFERENCE_CSV = DATA_DIR / "trade_shares_2005_2010.csv"
#: National statistics and other sources (different method), 2011 and 2021-2024.
RECENT_CSV = DATA_DIR / "trade_recent.csv"
HINDCAST_COLUMNS: tuple[str, ...] = ("year", "country", "partner", "share_pct")
#: Columns of ``hindcast_bands.csv``.
BANDS_COLUMNS: tuple[str, ...] = (*HINDCAST_COLUMNS, "p05", "p95")
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
    """Ensemble median, mean and 5% / 95% quantiles of annual shares.

    Returns:
        Columns ``year, country, partner, share_pct`` (the median), ``p05, p95, mean``
        (all partners present).
    """
    g = annual.groupby(["year", "country", "partner"])["share_pct"]
    out = pd.concat(
        {
            "share_pct": g.median(),
            "p05": g.quantile(0.05),
            "p95": g.quantile(0.95),
            "mean": g.mean(),
        },
        axis=1,
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
        Columns ``year, country, partner, share_pct, period, source, method``
        (:func:`recent_method`).
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
                "method": recent_method(str(r.indicator), str(r.tag)),
            }
        )
    cols = ["year", "country", "partner", "share_pct", "period", "source", "method"]
    return pd.DataFrame(out, columns=cols)


# ----------------------------------------------------------------------------- skill

#: ``method`` of the reference series' points.
METHOD_DOTS = "IMF DOTS, mirror"
#: ``method`` of ``trade_recent.csv`` points: national statistics as read.
METHOD_NATIONAL = "national statistics"
#: ``method`` of ``trade_recent.csv`` points derived from partial or partner-side figures.
METHOD_DERIVED = "derived (partner-side or partial figures)"
#: ``method`` of ``trade_recent.csv`` points from other compilers (EDB, EU DG Trade).
METHOD_OTHER = "other compiler"
#: ``sample`` labels of a skill point.
BASE_YEAR, IN_SAMPLE, OUT_OF_SAMPLE, PROJECTION = (
    "base year",
    "in sample",
    "out of sample",
    "projection",
)
#: Last year the behavioural parameters were fitted on (``hindcast_2005.yaml``).
FIT_LAST_YEAR = 2010
SKILL_COLUMNS: tuple[str, ...] = (
    "run", "year", "period", "country", "partner", "source", "method", "sample",
    "reference", "model", "model_mean", "p05", "p95", "inside_band",
    "persistence", "err_model", "err_persistence",
)  # fmt: skip


def recent_method(indicator: str, tag: str) -> str:
    """The ``method`` label of a ``trade_recent.csv`` row (indicator and ``tag``)."""
    if tag == "derived":
        return METHOD_DERIVED
    return METHOD_NATIONAL if indicator == "trade_share_national" else METHOD_OTHER


def point_sample(year: int, base_year: int, horizon_last: int) -> str:
    """Whether a point of ``year`` is the run's base year, in sample, out of sample or beyond.

    In sample: up to :data:`FIT_LAST_YEAR` (the fit's years); projection: after the
    scenario's own horizon (no dated events there; paths only where the scenario lists them).
    """
    if year == base_year:
        return BASE_YEAR
    if year <= FIT_LAST_YEAR:
        return IN_SAMPLE
    return OUT_OF_SAMPLE if year <= horizon_last else PROJECTION


def reference_points(reference: pd.DataFrame, recent: pd.DataFrame) -> pd.DataFrame:
    """Every reference point: ``year, period, country, partner, share_pct, source, method``."""
    ref = reference.assign(
        period=reference["year"].astype(str), source="IMF DOTS (mirror)", method=METHOD_DOTS
    )
    rec = recent.copy()
    if "method" not in rec:
        rec["method"] = METHOD_NATIONAL
    if "period" not in rec:
        rec["period"] = rec["year"].astype(str)
    if "source" not in rec:
        rec["source"] = ""
    cols = ["year", "period", "country", "partner", "share_pct", "source", "method"]
    return pd.concat([ref[cols], rec[cols]], ignore_index=True)


def skill_points(
    summary: pd.DataFrame,
    reference: pd.DataFrame,
    recent: pd.DataFrame,
    base_year: int,
    last_year: int,
    *,
    horizon_last: int | None = None,
    run: str = "",
) -> pd.DataFrame:
    """Model and persistence against every reference point one run can score.

    A run can score the points of the years it simulates (``base_year`` to
    ``last_year``). Persistence is the reference value of ``base_year`` held constant.

    Args:
        summary: the run's annual shares (``share_pct`` the median, ``p05``, ``p95`` and
            optionally ``mean``).
        reference: the reference series (:func:`load_reference`).
        recent: points from other sources (:func:`load_recent_points`).
        base_year: the run's first year.
        last_year: the run's last simulated year.
        horizon_last: the last year of the scenario's own horizon (later years are a
            projection); default ``last_year``.
        run: the run's name, written in the ``run`` column.

    Returns:
        :data:`SKILL_COLUMNS`: errors absolute, in percentage points, of the median
        (``model``, the value of ``hindcast.csv``) and of persistence; ``inside_band``
        whether the reference lies within the 5-95% band.
    """
    horizon_last = last_year if horizon_last is None else horizon_last
    base = reference[reference["year"] == base_year].set_index(["country", "partner"])
    stats = summary.set_index(["year", "country", "partner"])
    pts = reference_points(reference, recent)
    pts = pts[pts["year"].between(base_year, last_year)]
    rows = []
    for r in pts.itertuples(index=False):
        key = (r.year, r.country, r.partner)
        if key not in stats.index or (r.country, r.partner) not in base.index:
            continue
        s = stats.loc[key]
        pers = float(base.loc[(r.country, r.partner), "share_pct"])
        rows.append(
            {
                "run": run,
                **{k: getattr(r, k) for k in ("year", "period", "country", "partner")},
                **{"source": r.source, "method": r.method},
                "sample": point_sample(r.year, base_year, horizon_last),
                "reference": r.share_pct,
                "model": float(s["share_pct"]),
                "model_mean": float(s.get("mean", s["share_pct"])),
                "p05": float(s["p05"]),
                "p95": float(s["p95"]),
                "inside_band": bool(s["p05"] <= r.share_pct <= s["p95"]),
                "persistence": pers,
                "err_model": abs(float(s["share_pct"]) - r.share_pct),
                "err_persistence": abs(pers - r.share_pct),
            }
        )
    return pd.DataFrame(rows, columns=list(SKILL_COLUMNS))


def skill_stats(points: pd.DataFrame) -> dict[str, float | int | None]:
    """MAE of model and persistence (pp), their ratio and the 90% band's coverage.

    Returns:
        ``n``, ``mae_model``, ``mae_persistence``, ``ratio`` (model / persistence; None
        when persistence is exact) and ``coverage`` (share of points inside the 5-95%
        band); None for an empty set.
    """
    n = len(points)
    if n == 0:
        return {"n": 0, "mae_model": None, "mae_persistence": None, "ratio": None, "coverage": None}
    mae_m = float(points["err_model"].mean())
    mae_p = float(points["err_persistence"].mean())
    return {
        "n": n,
        "mae_model": mae_m,
        "mae_persistence": mae_p,
        "ratio": mae_m / mae_p if mae_p > 0 else None,
        "coverage": float(points["inside_band"].astype(bool).mean()),
    }


def skill_groups(points: pd.DataFrame, powers: tuple[str, ...]) -> pd.DataFrame:
    """Skill per run, period (``sample``) and method, plus the headline groups.

    Headlines: every point after the fit's years (all sources, then the ``powers`` only).

    Returns:
        Columns ``group, run, sample, method`` and those of :func:`skill_stats`.
    """
    rows = []
    for (run, sample, method), g in points.groupby(["run", "sample", "method"], sort=False):
        years = f"{g['year'].min()}" + (
            f"-{g['year'].max()}" if g["year"].max() > g["year"].min() else ""
        )
        label = f"{run}: {years} {sample}, {method}"
        rows.append({"group": label, "run": run, "sample": sample, "method": method})
        rows[-1].update(skill_stats(g))
    after = points[points["year"] > FIT_LAST_YEAR]
    for label, g in (
        (f"all points after {FIT_LAST_YEAR}, every source", after),
        (
            f"all points after {FIT_LAST_YEAR}, {'/'.join(powers)}",
            after[after["partner"].isin(powers)],
        ),
    ):
        rows.append({"group": label, "run": "", "sample": "", "method": ""} | skill_stats(g))
    return pd.DataFrame(rows)


def skill_by_pair(points: pd.DataFrame, vocab: Vocabulary = DEFAULT) -> pd.DataFrame:
    """Skill per run, state and partner (base-year points left out: persistence is exact).

    Returns:
        Columns ``run, country, partner`` and those of :func:`skill_stats`, in run order
        then ``vocab`` order.
    """
    scored = points[points["sample"] != BASE_YEAR]
    rows = [
        {"run": run, "country": c, "partner": p} | skill_stats(g)
        for (run, c, p), g in scored.groupby(["run", "country", "partner"], sort=False)
    ]
    cols = ["run", "country", "partner", "n", "mae_model", "mae_persistence", "ratio", "coverage"]
    out = pd.DataFrame(rows, columns=cols)
    runs = {r: i for i, r in enumerate(dict.fromkeys(points["run"]))}
    rank = {c: i for i, c in enumerate((*vocab.states, *vocab.partners))}
    key = out.assign(
        _r=out["run"].map(runs),
        _s=out["country"].map(rank).fillna(len(rank)),
        _p=out["partner"].map(rank).fillna(len(rank)),
    )
    return out.loc[key.sort_values(["_r", "_s", "_p"], kind="stable").index].reset_index(drop=True)


# ----------------------------------------------------------------------------- entry point


def default_band_note(replications: int) -> str:
    """What the bands of a backtest with fixed parameters carry (the figures' caption)."""
    return f"stochastic noise only ({replications} replications)"


@dataclass(frozen=True)
class ScoredRun:
    """One simulated run of the skill report and the years it can score.

    Attributes:
        name: the scenario's name (the ``run`` column of the skill points).
        base_year: its first year (persistence holds this year's reference shares).
        horizon_last: the last year of the scenario's own horizon.
        last_year: the last year simulated (later than ``horizon_last`` when the run was
            carried on to reach later reference points: a projection).
        summary: annual median, mean and 5% / 95% quantiles (:func:`summarise`), every
            simulated year.
    """

    name: str
    base_year: int
    horizon_last: int
    last_year: int
    summary: pd.DataFrame


@dataclass
class BacktestResult:
    """What :func:`backtest` computed.

    Attributes:
        scenario: the resolved hindcast scenario.
        seed: the ensemble's seed.
        replications: the ensemble size.
        annual: per-replication annual shares of the hindcast (:func:`annual_shares`),
            including the projection years.
        summary: median, mean and 5% / 95% quantiles of the annual shares over the
            scenario's own horizon, every partner (:func:`summarise`).
        hindcast: the ``hindcast.csv`` table (:func:`hindcast_table`).
        points: model and persistence at every reference point a run can score
            (:func:`skill_points`, all runs).
        reference: the reference series (:func:`load_reference`).
        recent: the national-statistics points (:func:`load_recent_points`).
        timings: seconds per stage (``simulate``, ``in_sample``).
        runs: the runs scored: the hindcast (carried on to the last reference year) and,
            unless skipped, the in-sample run.
        parameters: the parameter sample the replications drew from (None: fixed).
        discrepancy: the model-discrepancy fit the bands carry (None: no discrepancy;
            :mod:`sim.studies.discrepancy`).
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
    runs: tuple[ScoredRun, ...] = ()
    parameters: ParameterSample | None = None
    discrepancy: DiscrepancyFit | None = None

    @property
    def bands(self) -> str:
        """What the 5-95% bands carry (:func:`sim.core.uncertainty.band_label`)."""
        if self.discrepancy is None:
            if self.parameters is None:
                return band_label("fixed")
            return band_label("posterior", self.parameters.n)
        parts = ["stochastic noise", DISCREPANCY_NOTE]
        if self.parameters is not None:
            parts.insert(0, f"parameter uncertainty (posterior, {self.parameters.n} draws)")
        return ", ".join(parts[:-1]) + f" and {parts[-1]}"

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


def last_reference_year(
    reference: pd.DataFrame | None = None, recent: pd.DataFrame | None = None
) -> int:
    """The last year of a reference point (default: the repository's data)."""
    reference = load_reference() if reference is None else reference
    recent = load_recent_points() if recent is None else recent
    return int(pd.concat([reference["year"], recent["year"]]).max())


def carried_on(scenario: Scenario, last_year: int) -> Scenario:
    """``scenario`` with its horizon carried on to the end of ``last_year`` (if later).

    The years added have no dated events (the scenario lists none after its horizon). Its
    annual paths (prices, output, domestic use, contract floors, export shares) continue
    where they list later years (``hindcast_2010.yaml`` lists realised prices to 2024) and
    hold their last value after that; the simulated years before are unchanged.
    """
    if last_year <= (scenario.start_quarter + scenario.steps - 1) // 4:
        return scenario
    return with_overrides(scenario, {"horizon.end": f"{last_year}Q4"}, origin="backtest")


def in_sample_run(path: str | Path, hindcast: Scenario) -> Scenario:
    """The in-sample run: ``path`` (2005 data) with the hindcast's (fitted) behaviour."""
    scenario = load_scenario(path)
    return scenario.model_copy(update={"behaviour": hindcast.behaviour})


def score_run(
    scenario: Scenario,
    replications: int,
    seed: int,
    executor: Any,
    last_year: int,
    parameters: ParameterSample | None = None,
) -> tuple[pd.DataFrame, ScoredRun]:
    """Simulate ``scenario`` carried on to ``last_year``; return its annual shares and run.

    ``parameters``: per-replication parameter draws (None: the scenario's values).
    """
    first = scenario.start_quarter // 4
    horizon_last = (scenario.start_quarter + scenario.steps - 1) // 4
    run = carried_on(scenario, last_year)
    tidy = simulate_trade_shares(run, replications, seed, executor=executor, parameters=parameters)
    annual = annual_shares(tidy)
    last = max(horizon_last, last_year)
    return annual, ScoredRun(scenario.name, first, horizon_last, last, summarise(annual))


def score_points(
    runs: list[ScoredRun], reference: pd.DataFrame, recent: pd.DataFrame
) -> pd.DataFrame:
    """The skill points of every run (:func:`skill_points`), one table."""
    return pd.concat(
        [
            skill_points(
                r.summary,
                reference,
                recent,
                r.base_year,
                r.last_year,
                horizon_last=r.horizon_last,
                run=r.name,
            )
            for r in runs
        ],
        ignore_index=True,
    )


def predictive_summary(summary: pd.DataFrame, predictive: pd.DataFrame) -> pd.DataFrame:
    """``summary`` with ``p05`` / ``p95`` from the predictive ensemble (model + discrepancy).

    The median (``share_pct``) and ``mean`` stay the model ensemble's: the discrepancy is
    zero-mean in log-ratio space and widens the bands only.
    """
    pred = summarise(predictive).set_index(["year", "country", "partner"])
    out = summary.set_index(["year", "country", "partner"])
    out[["p05", "p95"]] = pred.loc[out.index, ["p05", "p95"]].to_numpy()
    return out.reset_index()


def with_discrepancy(
    runs: list[tuple[pd.DataFrame, ScoredRun]],
    reference: pd.DataFrame,
    seed: int,
    vocab: Vocabulary,
    fit: DiscrepancyFit | None = None,
) -> tuple[list[ScoredRun], DiscrepancyFit]:
    """The runs with bands that carry the model discrepancy, and the fit they used.

    Unless ``fit`` is given, it is fitted (:func:`sim.studies.discrepancy.fit_best`) on
    the first run's residuals over its base year + 1 to :data:`FIT_LAST_YEAR` (the
    in-sample run).
    """
    if fit is None:
        first = runs[0][1]
        resid = residuals(first.summary, reference, first.base_year, FIT_LAST_YEAR, vocab)
        fit = fit_best(resid)
    out = []
    for annual, run in runs:
        pred = apply_discrepancy(annual, fit, seed, run.base_year, vocab)
        out.append(dataclasses.replace(run, summary=predictive_summary(run.summary, pred)))
    return out, fit


def backtest(
    scenario: Scenario | str | Path = HINDCAST_SCENARIO,
    *,
    replications: int = DEFAULT_REPLICATIONS,
    seed: int | None = None,
    overrides: list[str] | None = None,
    workers: int = 1,
    executor: Any = None,
    in_sample: str | Path | None = CALIBRATION_SCENARIO,
    parameters: ParameterSample | None = None,
    discrepancy: bool = False,
    discrepancy_fit: DiscrepancyFit | None = None,
) -> BacktestResult:
    """Run the hindcast ensemble and compute the tables (nothing is written).

    The hindcast is carried on past its horizon to the last year of a reference point
    (2024), so that the recent national statistics can be scored; ``hindcast`` and
    ``summary`` keep the scenario's own years.

    Args:
        scenario: the hindcast scenario (a path or a loaded scenario).
        replications: ensemble size (at least 1).
        seed: ensemble seed (non-negative); default the scenario's.
        overrides: ``--set`` style overrides when ``scenario`` is a path.
        workers: worker processes for the ensemble when no ``executor`` is given.
        executor: an executor for the ensemble's chunks (wins over ``workers``).
        in_sample: the scenario of the in-sample run scored on 2005-2010 (run with the
            hindcast's behaviour, same size and seed), or None to skip it.
        parameters: per-replication parameter draws (:mod:`sim.core.uncertainty`);
            None runs every replication on the scenario's values.
        discrepancy: widen the bands by the model discrepancy
            (:mod:`sim.studies.discrepancy`), fitted on the in-sample run unless
            ``discrepancy_fit`` is given. The medians do not change.
        discrepancy_fit: a fit to use instead of fitting one.

    Raises:
        ScenarioError: for bad input (keys ``replications``, ``workers``, ``seed``,
            ``discrepancy``: it needs the in-sample run or a fit).
    """
    source = scenario if not isinstance(scenario, Scenario) else scenario.name
    if replications < 1:
        raise ScenarioError(source, "replications", f"expected at least 1, got {replications}")
    if workers < 1:
        raise ScenarioError(source, "workers", f"expected a positive integer, got {workers}")
    if discrepancy and in_sample is None and discrepancy_fit is None:
        msg = "expected the in-sample run (to fit it on) or a fit"
        raise ScenarioError(source, "discrepancy", msg)
    t0 = time.perf_counter()
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, overrides or [])
    seed = check_seed(seed, scenario.seed, source)
    reference = load_reference()
    recent = load_recent_points(vocab=scenario.vocab)
    last_ref = last_reference_year(reference, recent)
    timings: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        if executor is None and workers > 1:
            executor = stack.enter_context(process_pool(workers))
        annual, run = score_run(scenario, replications, seed, executor, last_ref, parameters)
        timings["simulate"] = round(time.perf_counter() - t0, 4)
        scored = [(annual, run)]
        if in_sample is not None:
            t1 = time.perf_counter()
            sc = in_sample_run(in_sample, scenario)
            scored.insert(0, score_run(sc, replications, seed, executor, 0, parameters))
            timings["in_sample"] = round(time.perf_counter() - t1, 4)
    fit = None
    runs = [r for _, r in scored]
    if discrepancy:
        t2 = time.perf_counter()
        runs, fit = with_discrepancy(scored, reference, seed, scenario.vocab, discrepancy_fit)
        run = runs[-1]
        timings["discrepancy"] = round(time.perf_counter() - t2, 4)
    years = range(run.base_year, run.horizon_last + 1)
    summary = run.summary[run.summary["year"].isin(list(years))].reset_index(drop=True)
    points = score_points(runs, reference, recent)
    return BacktestResult(
        scenario=scenario,
        seed=seed,
        replications=replications,
        annual=annual,
        summary=summary,
        hindcast=hindcast_table(summary, years, scenario.vocab),
        points=points,
        reference=reference,
        recent=recent,
        timings=timings,
        runs=tuple(runs),
        parameters=parameters,
        discrepancy=fit,
    )
