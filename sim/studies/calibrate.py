"""Fit the behavioural parameters on 2005-2010 (``python -m sim.calibration``).

Method (docs/calibration.md has the results and their discussion):

1. ``scenarios/hindcast_2005.yaml`` starts the model in 2005 with the 2005 trade shares
   as targets and runs it to 2010 on realised prices and output.
2. The loss is the mean absolute error, in percentage points, between the simulated
   annual shares (ensemble median of the per-replication mean of each year's quarters)
   and the reference shares (IMF DOTS, mirror method) for 2005-2010, the five states and
   the partners CHN, RUS, JPN, USA and EU: 150 points. No data after 2010 is used.
3. A grid search over the free parameters with common random numbers (the same seed at
   every point), then a Nelder-Mead refinement from the best grid point.
   A parameter vector is admissible only if (i) the quarterly trade shares show no
   persistent period-2 zigzag above :data:`ZIGZAG_MAX` (the lagged hedging penalty
   overshoots when it is strong, docs/calibration.md) and (ii) the 2010 hindcast can
   still start on its 2010 shares (base-year residual at most :data:`RESIDUAL_MAX`).
4. Uncertainty: (a) the spread of the near-optimal set (grid points whose loss is within
   ``max(2 x seed-to-seed s.d. of the loss, 1% of the minimum)`` of the minimum: how flat
   the loss is); (b) a cluster bootstrap that resamples
   the 30 (state, year) clusters of reference points with replacement and re-picks the
   grid optimum, reusing the stored per-point errors (no new model runs).

Also :func:`match_growth`, which derives the calibration run's non-resource growth
rates so the model's 2010 GDP equals the World Bank value.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.backtest import REPO_ROOT, load_reference
from sim.countries import PARTNERS, STATES
from sim.model import GeoModel
from sim.scenario import Scenario, load_scenario

#: The calibration run.
CALIBRATION_SCENARIO = REPO_ROOT / "scenarios" / "hindcast_2005.yaml"
#: Years scored. The base year 2005 is included: the import calibration reproduces it
#: only where the base-year export flows leave room (see ``GeoModel.calibration_residual``).
FIT_YEARS: tuple[int, ...] = (2005, 2006, 2007, 2008, 2009, 2010)
#: Largest admissible quarter-to-quarter zigzag of trade shares (pp, see :func:`zigzag`).
ZIGZAG_MAX = 0.5
#: The hindcast the fitted values are used in; it must start on its 2010 shares.
HINDCAST_SCENARIO = REPO_ROOT / "scenarios" / "hindcast_2010.yaml"
#: Largest admissible base-year residual of the hindcast (pp, ``calibration_residual``).
RESIDUAL_MAX = 1.0
#: Partners scored.
FIT_PARTNERS: tuple[str, ...] = ("CHN", "RUS", "JPN", "USA", "EU")
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
#: Bounds for the Nelder-Mead refinement.
BOUNDS: dict[str, tuple[float, float]] = {
    "price_sensitivity": (0.0, 40.0),
    "alignment_sensitivity": (0.0, 20.0),
    "hedging": (0.0, 5.0),
    "influence_decay": (0.005, 1.0),
    "eaeu_preference": (0.0, 5.0),
}


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
    """Ensemble-median annual trade shares (percent) of one model run, and its zigzag.

    Reads the model's history arrays directly (faster than the tidy table); the
    aggregation is the one :mod:`sim.backtest` uses.

    Returns:
        ``(shares, zigzag)``: columns ``year, country, partner, share_pct`` for whole
        years of the horizon, and :func:`zigzag` of the quarterly shares.
    """
    model = GeoModel(scenario=scenario, replications=replications, rng=seed).run()
    arr = np.stack([h["trade_share"] for h in model.history], axis=1) * 100.0  # (R, T, S, B)
    first_q = model.start_quarter
    years = (first_q + np.arange(arr.shape[1])) // 4
    rows = []
    for y in np.unique(years):
        sel = years == y
        if sel.sum() < 4:
            continue
        med = np.median(arr[:, sel].mean(axis=1), axis=0)  # (S, B)
        for i, s in enumerate(STATES):
            for j, b in enumerate(PARTNERS):
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
    """Absolute errors (pp) at each reference point, in ``ref``'s order."""
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


def persistence_errors(ref: pd.DataFrame, base_year: int = 2005) -> np.ndarray:
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
    workers: int = 1,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Evaluate every grid point.

    Returns:
        ``(table, errors)``: one row per point (parameters, ``loss``, ``zigzag`` and
        ``admissible``) and the ``(points, n_ref)`` matrix of per-point errors.
    """
    names = list(grid)
    held = {k: v for k, v in (fixed or {}).items() if k not in grid}
    combos = [
        held | dict(zip(names, vals, strict=True)) for vals in itertools.product(*grid.values())
    ]
    jobs = [(ev, c) for c in combos]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_errors_job, jobs, chunksize=4))
    else:
        results = [_errors_job(j) for j in jobs]
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
    ev: Evaluator, start: Mapping[str, float], names: Sequence[str], max_evals: int = 60
) -> tuple[dict[str, float], float, int]:
    """Nelder-Mead from ``start`` over ``names`` (other parameters held at ``start``).

    Parameters are searched on a scale where the grid step is about 1 and clipped to
    :data:`BOUNDS`; the loss is penalised beyond :data:`ZIGZAG_MAX`.

    Returns:
        ``(best parameters, best loss, evaluations used)``.
    """
    from scipy.optimize import minimize  # noqa: PLC0415 - only for the refinement

    scale = np.array([max(abs(start[n]), 0.5) * 0.5 for n in names])
    lo = np.array([BOUNDS[n][0] for n in names])
    hi = np.array([BOUNDS[n][1] for n in names])
    x0 = np.array([start[n] for n in names]) / scale

    def f(z: np.ndarray) -> float:
        x = np.clip(z * scale, lo, hi)
        return ev.penalised_loss(dict(start) | dict(zip(names, x, strict=True)))

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
    names = [
        c for c in table.columns if c not in ("loss", "zigzag", "start_residual", "admissible")
    ]
    rows = []
    for _ in range(n):
        pick = rng.integers(0, len(groups), len(groups))
        idx = np.concatenate([groups[k] for k in pick])
        loss = errors[:, idx].mean(axis=1)
        best = int(np.argmin(loss))
        rows.append(table.iloc[best][names].to_dict() | {"loss": float(loss[best])})
    return pd.DataFrame(rows)


def seed_noise(ev: Evaluator, params: Mapping[str, float], seeds: Sequence[int]) -> float:
    """Standard deviation of the loss across seeds at fixed ``params``."""
    losses = [
        Evaluator(ev.scenario, ev.replications, s, ev.ref, ev.hindcast).loss(params) for s in seeds
    ]
    return float(np.std(losses, ddof=1))


# ----------------------------------------------------------------------------- growth


def match_growth(
    scenario: Scenario, targets: Mapping[str, float], year: int, iterations: int = 30
) -> dict[str, float]:
    """Non-resource growth rates that make each state's mean GDP in ``year`` hit ``targets``.

    Bisection on ``states.<S>.growth`` in [-0.3, 0.3] with one replication (GDP barely
    depends on the random draws).
    """
    lo = np.full(len(STATES), -0.3)
    hi = np.full(len(STATES), 0.3)
    want = np.array([targets[s] for s in STATES])
    for _ in range(iterations):
        mid = (lo + hi) / 2
        states = {
            s: scenario.states[s].model_copy(update={"growth": float(mid[i])})
            for i, s in enumerate(STATES)
        }
        model = GeoModel(scenario=scenario.model_copy(update={"states": states}), rng=0)
        got = []
        while model.running:
            model.step()
            if model.year == year and model.t > 0:
                got.append(model.gdp[0].copy())
        gdp = np.mean(got, axis=0)
        hi = np.where(gdp > want, mid, hi)
        lo = np.where(gdp > want, lo, mid)
    return {s: round(float((lo[i] + hi[i]) / 2), 3) for i, s in enumerate(STATES)}


# ----------------------------------------------------------------------------- driver


def calibrate(
    scenario: Scenario | str | Path = CALIBRATION_SCENARIO,
    *,
    replications: int = 8,
    seed: int = 1,
    workers: int = 2,
    grid: Mapping[str, Sequence[float]] | None = None,
    bootstrap: int = 500,
    refine_evals: int = 60,
    out: Path | None = None,
) -> dict[str, Any]:
    """Run the whole calibration and return its results (tables and a summary).

    With ``out``, the grid table is written there as soon as it is complete.
    """
    t0 = time.perf_counter()
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    grid = dict(grid or DEFAULT_GRID)
    ref = reference_points()
    ev = Evaluator(scenario, replications, seed, ref, load_scenario(HINDCAST_SCENARIO))
    defaults = {n: float(getattr(scenario.behaviour, n)) for n in (*grid, *PROFILE_GRID)}
    fixed = {n: v for n, v in defaults.items() if n not in grid}
    table, errors = grid_search(ev, grid, fixed=fixed, workers=workers)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "grid.csv", index=False)
        np.save(out / "grid_errors.npy", errors)
    admissible = table[table["admissible"]]
    best_grid = admissible.loc[admissible["loss"].idxmin(), names_of(grid, PROFILE_GRID)].to_dict()
    # profile the weakly identified parameters around the grid optimum
    profiles = {}
    for name, values in PROFILE_GRID.items():
        ptab, _ = grid_search(ev, {name: values}, fixed=best_grid, workers=workers)
        profiles[name] = ptab
        pok = ptab[ptab["admissible"]]
        best_grid[name] = float(pok.loc[pok["loss"].idxmin(), name])
    names = [*grid, *PROFILE_GRID]
    best, best_loss, nfev = refine(ev, best_grid, names, max_evals=refine_evals)
    noise = seed_noise(ev, best, seeds=[seed + k for k in range(1, 6)])
    tolerance = max(2 * noise, 0.01 * float(admissible["loss"].min()))
    near = near_optimal(table, tolerance=tolerance)
    boot = cluster_bootstrap(table, errors, ref, n=bootstrap, seed=seed)
    pers = persistence_errors(ref)
    default_errors, default_zig, default_res = ev.evaluate(defaults)
    default_loss = float(default_errors.mean())
    best_errors, best_zig, best_res = ev.evaluate(best)
    summary = {
        "scenario": scenario.name,
        "replications": replications,
        "seed": seed,
        "fit_years": list(FIT_YEARS),
        "fit_partners": list(FIT_PARTNERS),
        "n_points": len(ref),
        "grid": {k: list(v) for k, v in grid.items()},
        "profile_grid": {k: list(v) for k, v in PROFILE_GRID.items()},
        "defaults": defaults,
        "loss_defaults": default_loss,
        "zigzag_defaults": default_zig,
        "start_residual_defaults": default_res,
        "start_residual_max": RESIDUAL_MAX,
        "zigzag_max": ZIGZAG_MAX,
        "grid_points": len(table),
        "grid_points_admissible": int(table["admissible"].sum()),
        "best_grid": {k: float(v) for k, v in best_grid.items()},
        "loss_best_grid": float(admissible["loss"].min()),
        "loss_best_grid_any": float(table["loss"].min()),
        "best": best,
        "loss_best": float(best_errors.mean()),
        "loss_best_penalised": best_loss,
        "zigzag_best": best_zig,
        "start_residual_best": best_res,
        "refine_evaluations": nfev,
        "loss_persistence": float(pers.mean()),
        "loss_seed_sd": noise,
        "near_optimal_tolerance": tolerance,
        "near_optimal_count": len(near),
        "near_optimal_range": {n: [float(near[n].min()), float(near[n].max())] for n in grid},
        "bootstrap_quantiles": {
            n: [float(boot[n].quantile(q)) for q in (0.05, 0.5, 0.95)] for n in grid
        },
        "loss_by_year_best": {
            int(y): float(best_errors[(ref["year"] == y).to_numpy()].mean()) for y in FIT_YEARS
        },
        "loss_by_year_persistence": {
            int(y): float(pers[(ref["year"] == y).to_numpy()].mean()) for y in FIT_YEARS
        },
        "loss_by_state_best": {
            s: float(best_errors[(ref["country"] == s).to_numpy()].mean()) for s in STATES
        },
        "loss_by_state_persistence": {
            s: float(pers[(ref["country"] == s).to_numpy()].mean()) for s in STATES
        },
        "loss_by_partner_best": {
            p: float(best_errors[(ref["partner"] == p).to_numpy()].mean()) for p in FIT_PARTNERS
        },
        "loss_by_partner_persistence": {
            p: float(pers[(ref["partner"] == p).to_numpy()].mean()) for p in FIT_PARTNERS
        },
        "cpu_seconds_wall": round(time.perf_counter() - t0, 1),
    }
    return {
        "summary": summary,
        "grid": table,
        "profiles": profiles,
        "bootstrap": boot,
        "near_optimal": near,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.calibration [--replications N] [--seed S] [--workers W] [--out DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m sim.calibration", description=__doc__)
    parser.add_argument("--replications", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bootstrap", type=int, default=500)
    parser.add_argument("--out", default="results/calibration", help="folder for the tables")
    args = parser.parse_args(argv)
    res = calibrate(
        replications=args.replications,
        seed=args.seed,
        workers=args.workers,
        bootstrap=args.bootstrap,
        out=Path(args.out),
    )
    out = Path(args.out)
    res["grid"].to_csv(out / "grid.csv", index=False)
    res["bootstrap"].to_csv(out / "bootstrap.csv", index=False)
    for name, tab in res["profiles"].items():
        tab.to_csv(out / f"profile_{name}.csv", index=False)
    (out / "summary.json").write_text(json.dumps(res["summary"], indent=2) + "\n")
    json.dump(res["summary"], sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
