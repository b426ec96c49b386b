"""Fit the behavioural parameters on 2005-2010: a study returning a :class:`CalibrationResult`.

Method (docs/calibration.md has the results and their discussion):

1. ``scenarios/hindcast_2005.yaml`` starts the model in 2005 with the 2005 trade shares
   as targets and runs it to 2010 on realised prices and output.
2. The loss is the mean absolute error, in percentage points, between the simulated
   annual shares (ensemble median of the per-replication mean of each year's quarters)
   and the reference shares (IMF DOTS, mirror method) for 2005-2010, the five states and
   the partners CHN, RUS, JPN, USA and EU (every partner but the residual one): 150
   points. No data after 2010 is used.
3. A grid search over the free parameters with common random numbers (the same seed at
   every point), a profile of the weakly identified parameters at the grid optimum, then
   a Nelder-Mead refinement from there. A parameter vector is admissible only if (i) the
   quarterly trade shares show no persistent period-2 zigzag above :data:`ZIGZAG_MAX`
   (the lagged hedging penalty overshoots when it is strong, docs/calibration.md) and
   (ii) the 2010 hindcast can still start on its 2010 shares (base-year residual at most
   :data:`RESIDUAL_MAX`).
4. Uncertainty: (a) the spread of the near-optimal set (grid points whose loss is within
   ``max(2 x seed-to-seed s.d. of the loss, 1% of the minimum)`` of the minimum: how flat
   the loss is); (b) a cluster bootstrap that resamples the 30 (state, year) clusters of
   reference points with replacement and re-picks the grid optimum, reusing the stored
   per-point errors (no new model runs).

:func:`calibrate` runs all of it and returns the tables and a summary; it prints nothing
and writes nothing (``casim calibrate`` writes them). Grid points run on an executor
(:func:`sim.engine.executors.process_pool`) when one is given. Also :func:`match_growth`, which
derives the calibration run's non-resource growth rates so the model's 2010 GDP equals
the World Bank value.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.core.model import GeoModel
from sim.engine.ensemble import run_ensemble
from sim.engine.executors import process_pool
from sim.engine.runfolder import check_seed
from sim.scenario import Scenario, ScenarioError, load_scenario
from sim.studies.backtest import REPO_ROOT, load_reference
from sim.vocab import DEFAULT

#: The calibration run.
CALIBRATION_SCENARIO = REPO_ROOT / "scenarios" / "hindcast_2005.yaml"
#: Years scored. The base year 2005 is included: the import calibration reproduces it
#: only where the base-year export flows leave room (see ``GeoModel.calibration_residual``).
#: A shorter calibration run scores the ones its horizon covers in whole.
FIT_YEARS: tuple[int, ...] = (2005, 2006, 2007, 2008, 2009, 2010)
#: Largest admissible quarter-to-quarter zigzag of trade shares (pp, see :func:`zigzag`).
ZIGZAG_MAX = 0.5
#: The hindcast the fitted values are used in; it must start on its 2010 shares.
HINDCAST_SCENARIO = REPO_ROOT / "scenarios" / "hindcast_2010.yaml"
#: Largest admissible base-year residual of the hindcast (pp, ``calibration_residual``).
RESIDUAL_MAX = 1.0
#: Partners scored in the shipped world: every partner but the residual one (ROW).
#: :func:`calibrate` takes them from the scenario's vocabulary.
FIT_PARTNERS: tuple[str, ...] = DEFAULT.target_partners
#: Free parameters and their search grids (``behaviour.<name>``).
DEFAULT_GRID: dict[str, tuple[float, ...]] = {
    "alignment_sensitivity": (0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0),
    "hedging": (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5),
    "influence_decay": (0.02, 0.1, 0.3),
    "eaeu_preference": (0.0, 0.5, 1.0),
}
#: Parameters profiled one at a time around the optimum (weakly identified).
PROFILE_GRID: dict[str, tuple[float, ...]] = {
    "price_sensitivity": (2.0, 4.0, 8.0, 12.0, 16.0, 24.0),
}
#: A small grid for a quick look (about 20 model runs before the refinement).
QUICK_GRID: dict[str, tuple[float, ...]] = {
    "alignment_sensitivity": (0.0, 4.0),
    "hedging": (0.5, 1.0),
    "influence_decay": (0.05,),
    "eaeu_preference": (0.0, 0.5),
}
#: The profile of the quick grid.
QUICK_PROFILE_GRID: dict[str, tuple[float, ...]] = {"price_sensitivity": (4.0, 8.0, 12.0)}
#: Named (grid, profile grid) pairs (``casim calibrate --grid``).
GRIDS: dict[str, tuple[dict[str, tuple[float, ...]], dict[str, tuple[float, ...]]]] = {
    "full": (DEFAULT_GRID, PROFILE_GRID),
    "quick": (QUICK_GRID, QUICK_PROFILE_GRID),
}
#: Bounds for the Nelder-Mead refinement; also the parameters that may be calibrated.
BOUNDS: dict[str, tuple[float, float]] = {
    "price_sensitivity": (0.0, 40.0),
    "alignment_sensitivity": (0.0, 20.0),
    "hedging": (0.0, 5.0),
    "influence_decay": (0.005, 1.0),
    "eaeu_preference": (0.0, 5.0),
}
#: Seed of the calibration when the caller gives none (common random numbers).
DEFAULT_SEED = 1
#: Replications per parameter point.
DEFAULT_REPLICATIONS = 8
#: Seeds (``seed + 1 ..``) whose losses give the seed-to-seed noise.
NOISE_SEEDS = 5
#: Called with the stage's name (``grid``, ``profile``, ``refine``, ``noise``, ``final``)
#: after each model evaluation.
Progress = Callable[[str], None]
#: Columns of the grid table that are not parameters.
_RESULT_COLUMNS = ("loss", "zigzag", "start_residual", "admissible")


def _tick(progress: Progress | None, stage: str) -> None:
    if progress is not None:
        progress(stage)


# ----------------------------------------------------------------------------- simulation


def with_behaviour(scenario: Scenario, params: Mapping[str, float]) -> Scenario:
    """A copy of ``scenario`` with ``behaviour`` parameters replaced (validated)."""
    behaviour = scenario.behaviour.model_validate(
        scenario.behaviour.model_dump() | {k: float(v) for k, v in params.items()}
    )
    return scenario.model_copy(update={"behaviour": behaviour})


def zigzag(shares: np.ndarray) -> float:
    """Persistent period-2 oscillation of quarterly trade shares, in percentage points.

    For each replication, state and partner: the median over quarters of
    ``min(|d_t|, |d_t+1|)`` where consecutive changes ``d`` alternate in sign (0
    otherwise); then the median over replications and the maximum over (state,
    partner). One-off jumps (events, annual price steps) do not count; a lagged
    feedback that overshoots every quarter does.

    Args:
        shares: ``(R, T, S, B)`` quarterly shares in percent.
    """
    d = np.diff(shares, axis=1)
    alternate = np.sign(d[:, 1:]) * np.sign(d[:, :-1]) < 0
    z = np.where(alternate, np.minimum(np.abs(d[:, 1:]), np.abs(d[:, :-1])), 0.0)
    return float(np.median(np.median(z, axis=1), axis=0).max())


def simulate(scenario: Scenario, replications: int, seed: int) -> tuple[pd.DataFrame, float]:
    """Ensemble-median annual trade shares (percent) of one ensemble, and its zigzag.

    Runs :func:`sim.engine.ensemble.run_ensemble` (in this process) for ``trade_share`` only
    and aggregates its array: the aggregation :mod:`sim.studies.backtest` uses.

    Returns:
        ``(shares, zigzag)``: columns ``year, country, partner, share_pct`` for whole
        years of the horizon (states and partners in vocabulary order), and
        :func:`zigzag` of the quarterly shares.
    """
    res = run_ensemble(scenario, replications=replications, seed=seed, metrics=("trade_share",))
    raw, countries, partners = res.metric_array("trade_share")
    vocab = scenario.vocab
    pos_s = [countries.index(s) for s in vocab.states]
    pos_p = [partners.index(p) for p in vocab.partners]
    arr = raw[:, :, pos_s][:, :, :, pos_p] * 100.0  # (R, T, S, B)
    years = (scenario.start_quarter + np.arange(arr.shape[1])) // 4
    rows = []
    for y in np.unique(years):
        sel = years == y
        if sel.sum() < 4:
            continue
        med = np.median(arr[:, sel].mean(axis=1), axis=0)  # (S, B)
        for i, s in enumerate(vocab.states):
            for j, b in enumerate(vocab.partners):
                rows.append((int(y), s, b, float(med[i, j])))
    table = pd.DataFrame(rows, columns=["year", "country", "partner", "share_pct"])
    return table, zigzag(arr)


def simulated_shares(scenario: Scenario, replications: int, seed: int) -> pd.DataFrame:
    """Ensemble-median annual trade shares (percent): :func:`simulate` without the zigzag."""
    return simulate(scenario, replications, seed)[0]


def reference_points(
    years: Sequence[int] = FIT_YEARS, partners: Sequence[str] = FIT_PARTNERS
) -> pd.DataFrame:
    """Reference shares scored by the loss, in a fixed order."""
    ref = load_reference()
    ref = ref[ref["year"].isin(years) & ref["partner"].isin(partners)]
    return ref.sort_values(["year", "country", "partner"]).reset_index(drop=True)


def point_errors(sim: pd.DataFrame, ref: pd.DataFrame) -> np.ndarray:
    """Absolute errors (pp) at each reference point, in ``ref``'s order.

    Raises:
        ValueError: if ``sim`` lacks a reference point.
    """
    merged = ref.merge(sim, on=["year", "country", "partner"], how="left", suffixes=("", "_sim"))
    if merged["share_pct_sim"].isna().any():
        msg = "simulation does not cover every reference point"
        raise ValueError(msg)
    return np.abs(merged["share_pct_sim"].to_numpy() - merged["share_pct"].to_numpy())


@dataclass(frozen=True)
class Evaluator:
    """Loss of a parameter vector on the calibration run (picklable for worker pools)."""

    scenario: Scenario
    replications: int
    seed: int
    ref: pd.DataFrame
    hindcast: Scenario | None = None

    def evaluate(self, params: Mapping[str, float]) -> tuple[np.ndarray, float, float]:
        """Per-point absolute errors (pp), the zigzag (pp) and the hindcast's base residual."""
        sim, zig = simulate(with_behaviour(self.scenario, params), self.replications, self.seed)
        return point_errors(sim, self.ref), zig, self.start_residual(params)

    def start_residual(self, params: Mapping[str, float]) -> float:
        """Largest base-year residual (pp) of the hindcast at ``params`` (0 without one)."""
        if self.hindcast is None:
            return 0.0
        model = GeoModel(scenario=with_behaviour(self.hindcast, params), rng=0)
        return float(np.abs(model.calibration_residual).max() * 100.0)

    def errors(self, params: Mapping[str, float]) -> np.ndarray:
        """Per-point absolute errors (pp) at ``params``."""
        return self.evaluate(params)[0]

    def loss(self, params: Mapping[str, float]) -> float:
        """Mean absolute error (pp) at ``params``."""
        return float(self.errors(params).mean())

    def penalised_loss(self, params: Mapping[str, float]) -> float:
        """Loss plus steep penalties outside the admissible set (for the refinement)."""
        err, zig, res = self.evaluate(params)
        return (
            float(err.mean())
            + 10.0 * max(0.0, zig - ZIGZAG_MAX)
            + 10.0 * max(0.0, res - RESIDUAL_MAX)
        )


def _errors_job(args: tuple[Evaluator, dict[str, float]]) -> tuple[np.ndarray, float, float]:
    ev, params = args
    return ev.evaluate(params)


def persistence_errors(ref: pd.DataFrame, base_year: int = FIT_YEARS[0]) -> np.ndarray:
    """Errors of holding the base-year shares constant, in ``ref``'s order."""
    base = load_reference()
    base = base[base["year"] == base_year][["country", "partner", "share_pct"]]
    merged = ref.merge(base, on=["country", "partner"], suffixes=("", "_base"))
    return np.abs(merged["share_pct_base"].to_numpy() - merged["share_pct"].to_numpy())


# ----------------------------------------------------------------------------- search


def names_of(*grids: Mapping[str, Any]) -> list[str]:
    """Parameter names of one or more grids, in order."""
    return [n for g in grids for n in g]


def grid_search(
    ev: Evaluator,
    grid: Mapping[str, Iterable[float]],
    fixed: Mapping[str, float] | None = None,
    executor: Any = None,
    progress: Progress | None = None,
    stage: str = "grid",
) -> tuple[pd.DataFrame, np.ndarray]:
    """Evaluate every grid point.

    Args:
        ev: the evaluator.
        grid: parameter name -> values; every combination is evaluated.
        fixed: values of parameters not in ``grid``.
        executor: runs the points (anything with ``map``), or None for this process.
        progress: called with ``stage`` after each point.
        stage: the stage name passed to ``progress``.

    Returns:
        ``(table, errors)``: one row per point (parameters, ``loss``, ``zigzag``,
        ``start_residual`` and ``admissible``) and the ``(points, n_ref)`` matrix of
        per-point errors.
    """
    names = list(grid)
    held = {k: v for k, v in (fixed or {}).items() if k not in grid}
    combos = [
        held | dict(zip(names, vals, strict=True)) for vals in itertools.product(*grid.values())
    ]
    jobs = [(ev, c) for c in combos]
    if executor is not None:
        outcomes = executor.map(_errors_job, jobs, chunksize=4)
    else:
        outcomes = (_errors_job(j) for j in jobs)
    results = []
    for r in outcomes:
        results.append(r)
        _tick(progress, stage)
    err = np.vstack([r[0] for r in results])
    table = pd.DataFrame(combos)
    table["loss"] = err.mean(axis=1)
    table["zigzag"] = [r[1] for r in results]
    table["start_residual"] = [r[2] for r in results]
    table["admissible"] = (table["zigzag"] <= ZIGZAG_MAX) & (
        table["start_residual"] <= RESIDUAL_MAX
    )
    return table, err


def refine(
    ev: Evaluator,
    start: Mapping[str, float],
    names: Sequence[str],
    max_evals: int = 60,
    progress: Progress | None = None,
) -> tuple[dict[str, float], float, int]:
    """Nelder-Mead from ``start`` over ``names`` (other parameters held at ``start``).

    Parameters are searched on a scale where the grid step is about 1 and clipped to
    :data:`BOUNDS`; the loss is penalised outside the admissible set
    (:meth:`Evaluator.penalised_loss`).

    Returns:
        ``(best parameters, best penalised loss, evaluations used)``.
    """
    from scipy.optimize import minimize  # noqa: PLC0415 - only for the refinement

    scale = np.array([max(abs(start[n]), 0.5) * 0.5 for n in names])
    lo = np.array([BOUNDS[n][0] for n in names])
    hi = np.array([BOUNDS[n][1] for n in names])
    x0 = np.array([start[n] for n in names]) / scale

    def f(z: np.ndarray) -> float:
        x = np.clip(z * scale, lo, hi)
        value = ev.penalised_loss(dict(start) | dict(zip(names, x, strict=True)))
        _tick(progress, "refine")
        return value

    res = minimize(
        f,
        x0,
        method="Nelder-Mead",
        options={"maxfev": max_evals, "xatol": 0.02, "fatol": 1e-3, "initial_simplex": None},
    )
    best = dict(start) | {
        n: float(v) for n, v in zip(names, np.clip(res.x * scale, lo, hi), strict=True)
    }
    return best, float(res.fun), int(res.nfev)


def near_optimal(table: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """Admissible grid points whose loss is within ``tolerance`` of their minimum."""
    ok = table[table["admissible"]]
    return ok[ok["loss"] <= ok["loss"].min() + tolerance]


def cluster_bootstrap(
    table: pd.DataFrame,
    errors: np.ndarray,
    ref: pd.DataFrame,
    n: int = 500,
    seed: int = 0,
) -> pd.DataFrame:
    """Re-pick the admissible grid optimum on resampled (state, year) clusters of points.

    Returns:
        One row per bootstrap draw with the chosen grid point's parameters and loss.
    """
    rng = np.random.default_rng(seed)
    clusters = ref.groupby(["country", "year"]).indices
    groups = list(clusters.values())
    keep = table["admissible"].to_numpy()
    table, errors = table[keep].reset_index(drop=True), errors[keep]
    names = [c for c in table.columns if c not in _RESULT_COLUMNS]
    rows = []
    for _ in range(n):
        pick = rng.integers(0, len(groups), len(groups))
        idx = np.concatenate([groups[k] for k in pick])
        loss = errors[:, idx].mean(axis=1)
        best = int(np.argmin(loss))
        rows.append(table.iloc[best][names].to_dict() | {"loss": float(loss[best])})
    return pd.DataFrame(rows)


def seed_noise(
    ev: Evaluator,
    params: Mapping[str, float],
    seeds: Sequence[int],
    progress: Progress | None = None,
) -> float:
    """Standard deviation of the loss across seeds at fixed ``params``."""
    losses = []
    for s in seeds:
        losses.append(dataclasses.replace(ev, seed=s).loss(params))
        _tick(progress, "noise")
    return float(np.std(losses, ddof=1))


# ----------------------------------------------------------------------------- growth


def match_growth(
    scenario: Scenario, targets: Mapping[str, float], year: int, iterations: int = 30
) -> dict[str, float]:
    """Non-resource growth rates that make each state's mean GDP in ``year`` hit ``targets``.

    Bisection on ``states.<S>.growth`` in [-0.3, 0.3] with one replication (GDP barely
    depends on the random draws).
    """
    states = scenario.vocab.states
    lo = np.full(len(states), -0.3)
    hi = np.full(len(states), 0.3)
    want = np.array([targets[s] for s in states])
    for _ in range(iterations):
        mid = (lo + hi) / 2
        edited = {
            s: scenario.states[s].model_copy(update={"growth": float(mid[i])})
            for i, s in enumerate(states)
        }
        model = GeoModel(scenario=scenario.model_copy(update={"states": edited}), rng=0)
        got = []
        while model.running:
            model.step()
            if model.year == year and model.t > 0:
                got.append(model.state.gdp[0].copy())
        gdp = np.mean(got, axis=0)
        hi = np.where(gdp > want, mid, hi)
        lo = np.where(gdp > want, lo, mid)
    return {s: round(float((lo[i] + hi[i]) / 2), 3) for i, s in enumerate(states)}


# ----------------------------------------------------------------------------- study


def fit_years(scenario: Scenario, years: Sequence[int] = FIT_YEARS) -> tuple[int, ...]:
    """The ``years`` whose four quarters all lie inside the scenario's horizon."""
    first, end = scenario.start_quarter, scenario.start_quarter + scenario.steps
    return tuple(y for y in years if 4 * y >= first and 4 * y + 4 <= end)


def planned_evaluations(
    grid: Mapping[str, Sequence[float]],
    profile_grid: Mapping[str, Sequence[float]],
    refine_evals: int,
    noise_seeds: int = NOISE_SEEDS,
) -> int:
    """Model evaluations :func:`calibrate` plans (the refinement may use a few more)."""
    points = int(np.prod([len(v) for v in grid.values()]))
    return points + sum(len(v) for v in profile_grid.values()) + refine_evals + noise_seeds + 2


def check_grid(
    grid: Mapping[str, Sequence[float]],
    profile_grid: Mapping[str, Sequence[float]],
    source: str | Path,
) -> None:
    """Every searched parameter must be known (:data:`BOUNDS`) and its values in bounds.

    Raises:
        ScenarioError: otherwise (key ``grid`` or ``profile_grid``).
    """
    for key, table in (("grid", grid), ("profile_grid", profile_grid)):
        for name, values in table.items():
            if name not in BOUNDS:
                msg = f"unknown parameter {name!r}; expected one of {', '.join(BOUNDS)}"
                raise ScenarioError(source, key, msg)
            lo, hi = BOUNDS[name]
            if not values:
                raise ScenarioError(source, key, f"{name}: expected at least one value")
            outside = [v for v in values if not lo <= v <= hi]
            if outside:
                msg = f"{name}: expected values in [{lo}, {hi}], got {outside[0]}"
                raise ScenarioError(source, key, msg)
    both = [n for n in profile_grid if n in grid]
    if both:
        raise ScenarioError(source, "profile_grid", f"{both[0]!r} is also in the grid")


def _fit_years_or_fail(scenario: Scenario, source: str | Path) -> tuple[int, ...]:
    years = fit_years(scenario)
    if not years:
        msg = f"expected a horizon covering a whole year of {FIT_YEARS[0]}-{FIT_YEARS[-1]}"
        raise ScenarioError(source, "horizon", msg)
    return years


def _check_counts(source: str | Path, counts: Mapping[str, tuple[int, int]]) -> None:
    """``counts``: parameter name -> (value, smallest allowed value)."""
    for key, (value, least) in counts.items():
        if value < least:
            raise ScenarioError(source, key, f"expected an integer >= {least}, got {value}")


@dataclass
class CalibrationResult:
    """What :func:`calibrate` found.

    Attributes:
        scenario: the calibration run.
        seed: the common seed.
        summary: every headline number (``summary.json``; keys as documented in
            docs/calibration.md): defaults, best grid point, refined optimum, losses,
            near-optimal ranges, bootstrap quantiles, losses by year, state and partner.
        grid: one row per grid point: parameters, ``loss``, ``zigzag``,
            ``start_residual``, ``admissible``.
        grid_errors: ``(grid points, reference points)`` absolute errors (pp).
        profiles: per profiled parameter, its table (columns as ``grid``).
        bootstrap: one row per bootstrap draw: the chosen point's parameters and loss.
        near_optimal: the admissible grid points within the tolerance of the best.
        reference: the scored reference points (the columns of ``grid_errors``).
        best: the refined optimum (every searched parameter).
    """

    scenario: Scenario
    seed: int
    summary: dict[str, Any]
    grid: pd.DataFrame
    grid_errors: np.ndarray
    profiles: dict[str, pd.DataFrame]
    bootstrap: pd.DataFrame
    near_optimal: pd.DataFrame
    reference: pd.DataFrame
    best: dict[str, float]


@dataclass
class _Search:
    """Grid, profiles and refinement of one calibration."""

    table: pd.DataFrame
    errors: np.ndarray
    profiles: dict[str, pd.DataFrame]
    best_grid: dict[str, float]
    best: dict[str, float]
    best_penalised: float
    refine_evaluations: int


def _best_admissible(table: pd.DataFrame, names: Sequence[str], source: str | Path) -> pd.Series:
    ok = table[table["admissible"]]
    if ok.empty:
        msg = (
            f"no admissible grid point (zigzag <= {ZIGZAG_MAX} pp, hindcast start residual "
            f"<= {RESIDUAL_MAX} pp); widen the grid"
        )
        raise ScenarioError(source, "grid", msg)
    return ok.loc[ok["loss"].idxmin(), list(names)]


def _search(
    ev: Evaluator,
    grid: Mapping[str, Sequence[float]],
    profile_grid: Mapping[str, Sequence[float]],
    fixed: Mapping[str, float],
    *,
    executor: Any,
    refine_evals: int,
    progress: Progress | None,
    source: str | Path,
) -> _Search:
    """Grid search, profiles of :data:`PROFILE_GRID`-like parameters, Nelder-Mead."""
    table, errors = grid_search(ev, grid, fixed=fixed, executor=executor, progress=progress)
    names = names_of(grid, profile_grid)
    best_grid = _best_admissible(table, names, source).to_dict()
    profiles = {}
    for name, values in profile_grid.items():
        ptab, _ = grid_search(
            ev, {name: values}, fixed=best_grid, executor=executor, progress=progress,
            stage="profile",
        )  # fmt: skip
        profiles[name] = ptab
        best_grid[name] = float(_best_admissible(ptab, [name], source)[name])
    best, best_loss, nfev = refine(ev, best_grid, names, max_evals=refine_evals, progress=progress)
    return _Search(table, errors, profiles, best_grid, best, best_loss, nfev)


def calibrate(
    scenario: Scenario | str | Path = CALIBRATION_SCENARIO,
    *,
    replications: int = DEFAULT_REPLICATIONS,
    seed: int | None = None,
    workers: int = 1,
    executor: Any = None,
    grid: Mapping[str, Sequence[float]] | None = None,
    profile_grid: Mapping[str, Sequence[float]] | None = None,
    bootstrap: int = 500,
    refine_evals: int = 60,
    noise_seeds: int = NOISE_SEEDS,
    hindcast: Scenario | str | Path | None = HINDCAST_SCENARIO,
    overrides: Sequence[str] = (),
    progress: Progress | None = None,
) -> CalibrationResult:
    """Run the whole calibration and return its tables and summary (nothing is written).

    Args:
        scenario: the calibration run (a file or a loaded scenario). It scores the
            :data:`FIT_YEARS` its horizon covers in whole.
        replications: replications per parameter point.
        seed: the common seed (default :data:`DEFAULT_SEED`); the bootstrap uses it too,
            the seed noise ``seed + 1 .. seed + noise_seeds``.
        workers: processes for the grid points when no ``executor`` is given.
        executor: an executor for the grid points (wins over ``workers``).
        grid: parameter -> values searched on a full grid (default :data:`DEFAULT_GRID`).
        profile_grid: parameters profiled one at a time at the grid optimum (default
            :data:`PROFILE_GRID`).
        bootstrap: cluster-bootstrap draws.
        refine_evals: most evaluations of the Nelder-Mead refinement.
        noise_seeds: seeds for the seed-to-seed noise of the loss (at least 2).
        hindcast: the scenario that must still start on its base-year shares (None: no
            such admissibility condition).
        overrides: ``--set`` style overrides when ``scenario`` is a file.
        progress: called with the stage name after each model evaluation
            (:func:`planned_evaluations` says how many to expect).

    Raises:
        ScenarioError: for bad input (keys ``replications``, ``workers``, ``bootstrap``,
            ``refine_evals``, ``noise_seeds``, ``seed``, ``grid``, ``profile_grid``,
            ``horizon``), before any model runs; key ``grid`` also when no grid point
            is admissible.
    """
    t0 = time.perf_counter()
    source = scenario.name if isinstance(scenario, Scenario) else scenario
    grid = dict(DEFAULT_GRID if grid is None else grid)
    profile = dict(PROFILE_GRID if profile_grid is None else profile_grid)
    counts = {
        "replications": (replications, 1),
        "workers": (workers, 1),
        "bootstrap": (bootstrap, 1),
        "refine_evals": (refine_evals, 1),
        "noise_seeds": (noise_seeds, 2),
    }
    _check_counts(source, counts)
    check_grid(grid, profile, source)
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, list(overrides))
    seed = check_seed(seed, DEFAULT_SEED, source)
    years = _fit_years_or_fail(scenario, source)
    if hindcast is not None and not isinstance(hindcast, Scenario):
        hindcast = load_scenario(hindcast)
    ref = reference_points(years, scenario.vocab.target_partners)
    ev = Evaluator(scenario, replications, seed, ref, hindcast)
    defaults = {n: float(getattr(scenario.behaviour, n)) for n in (*grid, *profile)}
    fixed = {n: v for n, v in defaults.items() if n not in grid}
    with contextlib.ExitStack() as stack:
        if executor is None and workers > 1:
            executor = stack.enter_context(process_pool(workers))
        search = _search(
            ev, grid, profile, fixed, executor=executor, refine_evals=refine_evals,
            progress=progress, source=source,
        )  # fmt: skip
    noise = seed_noise(ev, search.best, [seed + k for k in range(1, noise_seeds + 1)], progress)
    admissible = search.table[search.table["admissible"]]
    tolerance = max(2 * noise, 0.01 * float(admissible["loss"].min()))
    near = near_optimal(search.table, tolerance=tolerance)
    boot = cluster_bootstrap(search.table, search.errors, ref, n=bootstrap, seed=seed)
    pers = persistence_errors(ref, base_year=years[0])
    at_defaults = ev.evaluate(defaults)
    _tick(progress, "final")
    at_best = ev.evaluate(search.best)
    _tick(progress, "final")
    summary = _summary(
        ev, grid, profile, defaults, search,
        uncertainty={"noise": noise, "tolerance": tolerance, "near": near, "boot": boot},
        pers=pers, at_defaults=at_defaults, at_best=at_best,
    )  # fmt: skip
    summary["cpu_seconds_wall"] = round(time.perf_counter() - t0, 1)
    return CalibrationResult(
        scenario=scenario,
        seed=seed,
        summary=summary,
        grid=search.table,
        grid_errors=search.errors,
        profiles=search.profiles,
        bootstrap=boot,
        near_optimal=near,
        reference=ref,
        best=search.best,
    )


def _summary(
    ev: Evaluator,
    grid: Mapping[str, Sequence[float]],
    profile: Mapping[str, Sequence[float]],
    defaults: dict[str, float],
    search: _Search,
    *,
    uncertainty: Mapping[str, Any],
    pers: np.ndarray,
    at_defaults: tuple[np.ndarray, float, float],
    at_best: tuple[np.ndarray, float, float],
) -> dict[str, Any]:
    """The headline numbers (``summary.json``).

    Longer than 60 lines: one flat dictionary literal, each entry one documented number.
    """
    ref, table = ev.ref, search.table
    vocab = ev.scenario.vocab
    partners = vocab.target_partners
    years = sorted({int(y) for y in ref["year"]})
    near, boot = uncertainty["near"], uncertainty["boot"]
    best_errors, best_zig, best_res = at_best

    def by(column: str, keys: Iterable[Any], err: np.ndarray) -> dict[Any, float]:
        return {k: float(err[(ref[column] == k).to_numpy()].mean()) for k in keys}

    return {
        "scenario": ev.scenario.name,
        "replications": ev.replications,
        "seed": ev.seed,
        "fit_years": years,
        "fit_partners": list(partners),
        "n_points": len(ref),
        "grid": {k: list(v) for k, v in grid.items()},
        "profile_grid": {k: list(v) for k, v in profile.items()},
        "defaults": defaults,
        "loss_defaults": float(at_defaults[0].mean()),
        "zigzag_defaults": at_defaults[1],
        "start_residual_defaults": at_defaults[2],
        "start_residual_max": RESIDUAL_MAX,
        "zigzag_max": ZIGZAG_MAX,
        "grid_points": len(table),
        "grid_points_admissible": int(table["admissible"].sum()),
        "best_grid": {k: float(v) for k, v in search.best_grid.items()},
        "loss_best_grid": float(table.loc[table["admissible"], "loss"].min()),
        "loss_best_grid_any": float(table["loss"].min()),
        "best": search.best,
        "loss_best": float(best_errors.mean()),
        "loss_best_penalised": search.best_penalised,
        "zigzag_best": best_zig,
        "start_residual_best": best_res,
        "refine_evaluations": search.refine_evaluations,
        "loss_persistence": float(pers.mean()),
        "loss_seed_sd": uncertainty["noise"],
        "near_optimal_tolerance": uncertainty["tolerance"],
        "near_optimal_count": len(near),
        "near_optimal_range": {n: [float(near[n].min()), float(near[n].max())] for n in grid},
        "bootstrap_quantiles": {
            n: [float(boot[n].quantile(q)) for q in (0.05, 0.5, 0.95)] for n in grid
        },
        "loss_by_year_best": by("year", years, best_errors),
        "loss_by_year_persistence": by("year", years, pers),
        "loss_by_state_best": by("country", vocab.states, best_errors),
        "loss_by_state_persistence": by("country", vocab.states, pers),
        "loss_by_partner_best": by("partner", partners, best_errors),
        "loss_by_partner_persistence": by("partner", partners, pers),
    }


# ----------------------------------------------------------------------------- ABC

#: Priors of the ABC (``casim calibrate --method abc``): key path -> (kind, low, high),
#: ``uniform`` or ``loguniform`` on [low, high]. The behavioural ranges bracket the
#: values the grid search considered plausible (:data:`BOUNDS`, narrowed to where the
#: hindcast runs without oscillating); the channel weights (trade is the numeraire:
#: only ratios matter) span a factor of 3 either side of the channel fit of
#: :mod:`sim.studies.channels` (assumption: that fit's own uncertainty is not
#: quantified). docs/calibration.md discusses them.
ABC_PRIORS: dict[str, tuple[str, float, float]] = {
    "behaviour.price_sensitivity": ("loguniform", 1.0, 40.0),
    "behaviour.alignment_sensitivity": ("uniform", 0.0, 20.0),
    "behaviour.hedging": ("uniform", 0.0, 2.0),
    "behaviour.eaeu_preference": ("uniform", 0.0, 2.0),
    "behaviour.influence_decay": ("loguniform", 0.002, 0.5),
    "behaviour.award_sensitivity": ("uniform", 0.0, 4.0),
    "behaviour.channel_weights.investment": ("loguniform", 0.157, 1.41),
    "behaviour.channel_weights.diplomacy": ("loguniform", 1.35, 12.1),
    "behaviour.channel_weights.security": ("loguniform", 0.0757, 0.681),
    "behaviour.channel_weights.remittances": ("loguniform", 0.72, 6.48),
    "behaviour.channel_weights.debt": ("loguniform", 6.8, 61.2),
}
#: Particles simulated per ABC generation (one replication each).
ABC_PARTICLES = 4000
#: ABC generations (the first samples the prior).
ABC_GENERATIONS = 5
#: Share of the prior sample kept by the first tolerance; later tolerances are the
#: median distance of the previous generation's accepted particles.
ABC_KEEP = 0.1
#: Replications of the posterior predictive check.
ABC_PREDICTIVE = 400


def _to_unit(values: np.ndarray, keys: Sequence[str]) -> np.ndarray:
    """Parameter values on the prior's uniform scale (log for log-uniform priors)."""
    out = np.array(values, dtype=float, copy=True)
    for j, k in enumerate(keys):
        if ABC_PRIORS[k][0] == "loguniform":
            out[:, j] = np.log(out[:, j])
    return out


def _from_unit(z: np.ndarray, keys: Sequence[str]) -> np.ndarray:
    out = np.array(z, dtype=float, copy=True)
    for j, k in enumerate(keys):
        if ABC_PRIORS[k][0] == "loguniform":
            out[:, j] = np.exp(out[:, j])
    return out


def _unit_bounds(keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    lo = np.array([ABC_PRIORS[k][1] for k in keys], dtype=float)
    hi = np.array([ABC_PRIORS[k][2] for k in keys], dtype=float)
    return _to_unit(lo[None], keys)[0], _to_unit(hi[None], keys)[0]


def abc_distances(
    scenario: Scenario, values: np.ndarray, keys: Sequence[str], seed: int, ref: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Per-particle distance (MAE, pp, over ``ref``) and zigzag (pp), one replication each.

    Particle ``i`` is replication ``i`` of one ensemble whose replication ``i`` runs on
    parameter row ``i`` (:class:`~sim.core.uncertainty.ParameterSample` ``by_id``): one
    batched run simulates every particle.
    """
    from sim.core.uncertainty import sample_from_table  # noqa: PLC0415

    sample = sample_from_table(pd.DataFrame(values, columns=list(keys)), by_id=True)
    res = run_ensemble(
        scenario, replications=len(values), seed=seed, metrics=("trade_share",), parameters=sample
    )
    raw, countries, partners = res.metric_array("trade_share")
    vocab = scenario.vocab
    arr = raw[:, :, [countries.index(s) for s in vocab.states]]
    arr = arr[:, :, :, [partners.index(p) for p in vocab.partners]] * 100.0  # (R, T, S, B)
    years = (scenario.start_quarter + np.arange(arr.shape[1])) // 4
    annual = {int(y): arr[:, years == y].mean(axis=1) for y in np.unique(years)}
    sim = np.stack(
        [
            annual[int(r.year)][:, vocab.states.index(r.country), vocab.partners.index(r.partner)]
            for r in ref.itertuples(index=False)
        ],
        axis=1,
    )  # (R, points)
    dist = np.abs(sim - ref["share_pct"].to_numpy()[None]).mean(axis=1)
    d = np.diff(arr, axis=1)
    alt = np.sign(d[:, 1:]) * np.sign(d[:, :-1]) < 0
    z = np.where(alt, np.minimum(np.abs(d[:, 1:]), np.abs(d[:, :-1])), 0.0)
    zig = np.median(z, axis=1).reshape(len(values), -1).max(axis=1)
    return dist, zig


def _propose(
    rng: np.random.Generator, pop: np.ndarray, w: np.ndarray, n: int, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """``n`` proposals on the unit scale, redrawn outside the prior.

    A weighted particle plus a Gaussian kernel of twice the population's covariance
    (Beaumont et al. 2009).
    """
    cov = 2.0 * np.atleast_2d(np.cov(pop, rowvar=False, aweights=w))
    chol = np.linalg.cholesky(cov + 1e-12 * np.eye(len(lo)))
    out = np.empty((0, len(lo)))
    while len(out) < n:
        pick = rng.choice(len(pop), size=2 * n, p=w)
        z = pop[pick] + rng.standard_normal((2 * n, len(lo))) @ chol.T
        out = np.vstack([out, z[((z >= lo) & (z <= hi)).all(axis=1)]])
    return out[:n]


def _pmc_weights(new: np.ndarray, pop: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Importance weights prior / proposal mixture (the prior is flat on the unit scale)."""
    cov = 2.0 * np.atleast_2d(np.cov(pop, rowvar=False, aweights=w))
    inv = np.linalg.inv(cov + 1e-12 * np.eye(new.shape[1]))
    diff = new[:, None, :] - pop[None, :, :]
    dens = np.exp(-0.5 * np.einsum("ijk,kl,ijl->ij", diff, inv, diff)) @ w
    weights = 1.0 / np.maximum(dens, 1e-300)
    return weights / weights.sum()


def start_residuals(hindcast: Scenario, values: np.ndarray, keys: Sequence[str]) -> np.ndarray:
    """Per-particle largest base-year residual (pp) of ``hindcast`` (batched calibration)."""
    from sim.core.uncertainty import sample_from_table  # noqa: PLC0415

    sample = sample_from_table(pd.DataFrame(values, columns=list(keys)), by_id=True)
    model = GeoModel(scenario=hindcast, replications=len(values), collect=False, parameters=sample)
    res = np.abs(model.calibration.residual) * 100.0
    return res.reshape(len(values), -1).max(axis=1)


@dataclass
class AbcResult:
    """What :func:`abc_calibrate` found.

    Attributes:
        posterior: one row per accepted particle of the last generation: ``draw``,
            ``weight`` and one column per parameter (the ``sim/data/posterior.csv`` form).
        generations: one row per generation: tolerance, proposals, accepted, effective
            sample size, seconds.
        prior_posterior: per parameter: prior bounds and quantiles, posterior quantiles,
            the ratio of their 90% widths and whether it is identified.
        particles: every simulated particle (generation, parameters, distance, zigzag,
            accepted).
        summary: the headline numbers (``summary.json``).
    """

    posterior: pd.DataFrame
    generations: pd.DataFrame
    prior_posterior: pd.DataFrame
    particles: pd.DataFrame
    summary: dict[str, Any]


def _admissible(
    dist: np.ndarray,
    zig: np.ndarray,
    eps: float,
    hindcast: Scenario | None,
    z: np.ndarray,
    keys: Sequence[str],
) -> np.ndarray:
    """Particles within ``eps`` that do not zigzag and (with a hindcast) start on its shares."""
    ok = (dist <= eps) & (zig <= ZIGZAG_MAX)
    if hindcast is not None and ok.any():
        idx = np.flatnonzero(ok)
        ok[idx] = start_residuals(hindcast, _from_unit(z[idx], keys), keys) <= RESIDUAL_MAX
    return ok


def abc_calibrate(
    scenario: Scenario,
    *,
    seed: int = DEFAULT_SEED,
    particles: int = ABC_PARTICLES,
    generations: int = ABC_GENERATIONS,
    keep: float = ABC_KEEP,
    hindcast: Scenario | None = None,
    progress: Progress | None = None,
) -> AbcResult:  # long: the generation loop reads best in one piece
    """ABC population Monte Carlo over :data:`ABC_PRIORS` on the calibration run.

    Generation 0 samples ``particles`` vectors from the prior and keeps the ``keep``
    share closest to the reference (tolerance ``eps_0``); each later generation
    proposes ``particles`` vectors from the previous population (weighted particle plus
    a Gaussian kernel of twice its covariance, on the prior's uniform scale), accepts
    those within ``eps_t`` = the median distance of the previous population, and
    weights them prior / proposal density (Beaumont, Cornuet, Marin and Robert 2009,
    *Biometrika* 96: 983). Distance: the mean absolute error (pp) of one replication's
    annual shares at the 150 reference points; a particle whose shares zigzag
    (:data:`ZIGZAG_MAX`) or whose ``hindcast`` cannot start on its shares
    (:data:`RESIDUAL_MAX`) is rejected. Every generation is one batched run.

    Raises:
        ValueError: if generation 0 accepts too few particles to go on (twice the number
            of parameters).
    """
    keys = list(ABC_PRIORS)
    lo, hi = _unit_bounds(keys)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0xABC,)))
    ref = reference_points(fit_years(scenario), scenario.vocab.target_partners)
    z = lo + (hi - lo) * rng.random((particles, len(keys)))
    gens, records = [], []
    pop = w = prev_dist = None
    for g in range(generations):
        t0 = time.perf_counter()
        if g > 0:
            z = _propose(rng, pop, w, particles, lo, hi)
        dist, zig = abc_distances(scenario, _from_unit(z, keys), keys, seed + g, ref)
        ok_d = dist[zig <= ZIGZAG_MAX]
        eps = float(np.quantile(ok_d, keep)) if g == 0 else float(np.median(prev_dist))
        ok = _admissible(dist, zig, eps, hindcast, z, keys)
        new_w = np.full(ok.sum(), 1.0 / max(ok.sum(), 1))
        if g > 0:
            new_w = _pmc_weights(z[ok], pop, w)
        records.append(pd.DataFrame(_from_unit(z, keys), columns=keys).assign(
            generation=g, distance=dist, zigzag=zig, accepted=ok))  # fmt: skip
        if ok.sum() < 2 * len(keys):
            break
        pop, w, prev_dist = z[ok], new_w, dist[ok]
        ess = float(1.0 / np.sum(w**2))
        gens.append({"generation": g, "tolerance_pp": eps, "proposals": particles,
                     "accepted": int(ok.sum()), "ess": ess,
                     "seconds": round(time.perf_counter() - t0, 1)})  # fmt: skip
        _tick(progress, f"generation {g}")
    if pop is None:
        msg = (
            f"generation 0 accepted fewer than {2 * len(keys)} of {particles} particles; "
            "expected more particles"
        )
        raise ValueError(msg)
    posterior = pd.DataFrame(_from_unit(pop, keys), columns=keys)
    posterior.insert(0, "weight", w)
    posterior.insert(0, "draw", np.arange(len(posterior)))
    rows = prior_posterior_table(posterior, keys)
    return AbcResult(
        posterior=posterior,
        generations=pd.DataFrame(gens),
        prior_posterior=rows,
        particles=pd.concat(records, ignore_index=True),
        summary={"seed": seed, "particles": particles, "generations": len(gens),
                 "keep": keep, "n_points": len(ref), "scenario": scenario.name,
                 "final_tolerance_pp": gens[-1]["tolerance_pp"],
                 "posterior_draws": len(posterior), "posterior_ess": gens[-1]["ess"]},
    )  # fmt: skip


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: Sequence[float]) -> np.ndarray:
    order = np.argsort(x)
    cdf = np.cumsum(w[order]) / w.sum()
    return np.interp(q, cdf - 0.5 * w[order] / w.sum(), x[order])


#: A parameter counts as identified when its posterior 90% interval is at most this
#: share of its prior's (on the prior's uniform scale).
IDENTIFIED_RATIO = 0.5


def prior_posterior_table(posterior: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Per parameter: prior and posterior 5/50/95% quantiles, width ratio, identified."""
    w = posterior["weight"].to_numpy()
    out = []
    for k in keys:
        kind, lo, hi = ABC_PRIORS[k]
        u = np.array([0.05, 0.5, 0.95])
        prior_q = lo * (hi / lo) ** u if kind == "loguniform" else lo + (hi - lo) * u
        post_q = _weighted_quantile(posterior[k].to_numpy(), w, [0.05, 0.5, 0.95])
        scale = np.log if kind == "loguniform" else (lambda v: v)
        span = scale(prior_q[2]) - scale(prior_q[0])
        ratio = float((scale(post_q[2]) - scale(post_q[0])) / span)
        out.append({"parameter": k, "prior": kind, "low": lo, "high": hi,
                    "prior_p05": prior_q[0], "prior_p50": prior_q[1], "prior_p95": prior_q[2],
                    "post_p05": post_q[0], "post_p50": post_q[1], "post_p95": post_q[2],
                    "post_mean": float(np.average(posterior[k], weights=w)),
                    "width_ratio": ratio, "identified": ratio <= IDENTIFIED_RATIO})  # fmt: skip
    return pd.DataFrame(out)


def posterior_predictive(
    scenario: Scenario, posterior: pd.DataFrame, seed: int, replications: int = ABC_PREDICTIVE
) -> dict[str, Any]:
    """In-sample check: the calibration run with posterior draws against the reference.

    Returns:
        ``mae_pp`` (ensemble median), ``mae_persistence_pp``, ``coverage_90`` (share of
        reference points inside the 5-95% band) and ``band_width_pp`` (mean width).
    """
    from sim.core.uncertainty import sample_from_table  # noqa: PLC0415

    sample = sample_from_table(posterior)
    res = run_ensemble(
        scenario, replications=replications, seed=seed, metrics=("trade_share",),
        parameters=sample,
    )  # fmt: skip
    raw, countries, partners = res.metric_array("trade_share")
    vocab = scenario.vocab
    years = (scenario.start_quarter + np.arange(raw.shape[1])) // 4
    ref = reference_points(fit_years(scenario), vocab.target_partners)
    sim = np.stack(
        [
            raw[:, years == r.year, countries.index(r.country), partners.index(r.partner)].mean(
                axis=1
            )
            * 100.0
            for r in ref.itertuples(index=False)
        ],
        axis=1,
    )
    lo, mid, hi = np.quantile(sim, [0.05, 0.5, 0.95], axis=0)
    obs = ref["share_pct"].to_numpy()
    err = np.abs(mid - obs)
    pers = persistence_errors(ref, base_year=int(ref["year"].min()))
    inside = (obs >= lo) & (obs <= hi)
    state = ref["country"].to_numpy()
    return {
        "replications": replications,
        "mae_pp": float(err.mean()),
        "mae_persistence_pp": float(pers.mean()),
        "coverage_90": float(inside.mean()),
        "band_width_pp": float((hi - lo).mean()),
        "by_state": {
            s: {
                "mae_pp": float(err[state == s].mean()),
                "mae_persistence_pp": float(pers[state == s].mean()),
                "coverage_90": float(inside[state == s].mean()),
            }
            for s in vocab.states
        },
    }
