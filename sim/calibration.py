"""Fit the behavioural parameters on 2005-2010 (``python -m sim.calibration``).

Method (docs/calibration.md has the results and their discussion):

1. ``scenarios/hindcast_2005.yaml`` starts the model in 2005 with the 2005 trade shares
   as targets and runs it to 2010 on realised prices and output.
2. The loss is the mean absolute error, in percentage points, between the simulated
   annual shares (ensemble median of the per-replication mean of each year's quarters)
   and the reference shares (IMF DOTS, mirror method) for 2006-2010, the five states and
   the partners CHN, RUS, JPN, USA and EU: 125 points. No data after 2010 is used.
3. A grid search over the free parameters with common random numbers (the same seed at
   every point), then a Nelder-Mead refinement from the best grid point.
4. Uncertainty: (a) the spread of the near-optimal set (grid points whose loss is within
   ``max(2 x seed-to-seed s.d. of the loss, 1% of the minimum)`` of the minimum: how flat
   the loss is); (b) a cluster bootstrap that resamples
   the 25 (state, year) clusters of reference points with replacement and re-picks the
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
#: Years scored (2005 is the base year, reproduced by construction).
FIT_YEARS: tuple[int, ...] = (2006, 2007, 2008, 2009, 2010)
#: Partners scored.
FIT_PARTNERS: tuple[str, ...] = ("CHN", "RUS", "JPN", "USA", "EU")
#: Free parameters and their search grids (``behaviour.<name>``).
DEFAULT_GRID: dict[str, tuple[float, ...]] = {
    "alignment_sensitivity": (0.0, 2.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 12.0),
    "hedging": (0.0, 1.0, 1.5, 2.0, 2.5, 3.0),
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


def simulated_shares(scenario: Scenario, replications: int, seed: int) -> pd.DataFrame:
    """Ensemble-median annual trade shares (percent) of one model run.

    Reads the model's history arrays directly (faster than the tidy table); the
    aggregation is the one :mod:`sim.backtest` uses.

    Returns:
        Columns ``year, country, partner, share_pct`` for whole years of the horizon.
    """
    model = GeoModel(scenario=scenario, replications=replications, rng=seed).run()
    arr = np.stack([h["trade_share"] for h in model.history], axis=1)  # (R, T, S, B)
    first_q = model.start_quarter
    years = (first_q + np.arange(arr.shape[1])) // 4
    rows = []
    for y in np.unique(years):
        sel = years == y
        if sel.sum() < 4:
            continue
        annual = arr[:, sel].mean(axis=1)  # (R, S, B)
        med = np.median(annual, axis=0) * 100.0
        for i, s in enumerate(STATES):
            for j, b in enumerate(PARTNERS):
                rows.append((int(y), s, b, float(med[i, j])))
    return pd.DataFrame(rows, columns=["year", "country", "partner", "share_pct"])


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

    def errors(self, params: Mapping[str, float]) -> np.ndarray:
        """Per-point absolute errors (pp) at ``params``."""
        sim = simulated_shares(with_behaviour(self.scenario, params), self.replications, self.seed)
        return point_errors(sim, self.ref)

    def loss(self, params: Mapping[str, float]) -> float:
        """Mean absolute error (pp) at ``params``."""
        return float(self.errors(params).mean())


def _errors_job(args: tuple[Evaluator, dict[str, float]]) -> np.ndarray:
    ev, params = args
    return ev.errors(params)


def persistence_errors(ref: pd.DataFrame, base_year: int = 2005) -> np.ndarray:
    """Errors of holding the base-year shares constant, in ``ref``'s order."""
    base = load_reference()
    base = base[base["year"] == base_year][["country", "partner", "share_pct"]]
    merged = ref.merge(base, on=["country", "partner"], suffixes=("", "_base"))
    return np.abs(merged["share_pct_base"].to_numpy() - merged["share_pct"].to_numpy())


# ----------------------------------------------------------------------------- search


def grid_search(
    ev: Evaluator,
    grid: Mapping[str, Iterable[float]],
    fixed: Mapping[str, float] | None = None,
    workers: int = 1,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Evaluate every grid point.

    Returns:
        ``(table, errors)``: one row per point (parameters and ``loss``) and the
        ``(points, n_ref)`` matrix of per-point errors.
    """
    names = list(grid)
    held = {k: v for k, v in (fixed or {}).items() if k not in grid}
    combos = [
        held | dict(zip(names, vals, strict=True)) for vals in itertools.product(*grid.values())
    ]
    jobs = [(ev, c) for c in combos]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            errs = list(pool.map(_errors_job, jobs, chunksize=4))
    else:
        errs = [_errors_job(j) for j in jobs]
    err = np.vstack(errs)
    table = pd.DataFrame(combos)
    table["loss"] = err.mean(axis=1)
    return table, err


def refine(
    ev: Evaluator, start: Mapping[str, float], names: Sequence[str], max_evals: int = 60
) -> tuple[dict[str, float], float, int]:
    """Nelder-Mead from ``start`` over ``names`` (other parameters held at ``start``).

    Parameters are searched on a scale where the grid step is about 1 and clipped to
    :data:`BOUNDS`.

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
        return ev.loss(dict(start) | dict(zip(names, x, strict=True)))

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
    """Grid points whose loss is within ``tolerance`` of the minimum."""
    return table[table["loss"] <= table["loss"].min() + tolerance]


def cluster_bootstrap(
    table: pd.DataFrame,
    errors: np.ndarray,
    ref: pd.DataFrame,
    n: int = 500,
    seed: int = 0,
) -> pd.DataFrame:
    """Re-pick the grid optimum on resampled (state, year) clusters of reference points.

    Returns:
        One row per bootstrap draw with the chosen grid point's parameters and loss.
    """
    rng = np.random.default_rng(seed)
    clusters = ref.groupby(["country", "year"]).indices
    groups = list(clusters.values())
    names = [c for c in table.columns if c != "loss"]
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
    losses = [Evaluator(ev.scenario, ev.replications, s, ev.ref).loss(params) for s in seeds]
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
    ev = Evaluator(scenario, replications, seed, ref)
    defaults = {n: float(getattr(scenario.behaviour, n)) for n in (*grid, *PROFILE_GRID)}
    fixed = {n: v for n, v in defaults.items() if n not in grid}
    table, errors = grid_search(ev, grid, fixed=fixed, workers=workers)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "grid.csv", index=False)
        np.save(out / "grid_errors.npy", errors)
    best_grid = table.loc[table["loss"].idxmin()].drop("loss").to_dict()
    # profile the weakly identified parameters around the grid optimum
    profiles = {}
    for name, values in PROFILE_GRID.items():
        ptab, _ = grid_search(ev, {name: values}, fixed=best_grid | {}, workers=workers)
        profiles[name] = ptab
        best_grid[name] = float(ptab.loc[ptab["loss"].idxmin(), name])
    names = [*grid, *PROFILE_GRID]
    best, best_loss, nfev = refine(ev, best_grid, names, max_evals=refine_evals)
    noise = seed_noise(ev, best, seeds=[seed + k for k in range(1, 6)])
    tolerance = max(2 * noise, 0.01 * float(table["loss"].min()))
    near = near_optimal(table, tolerance=tolerance)
    boot = cluster_bootstrap(table, errors, ref, n=bootstrap, seed=seed)
    pers = persistence_errors(ref)
    default_loss = ev.loss(defaults)
    best_errors = ev.errors(best)
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
        "best_grid": {k: float(v) for k, v in best_grid.items()},
        "loss_best_grid": float(table["loss"].min()),
        "best": best,
        "loss_best": best_loss,
        "refine_evaluations": nfev,
        "loss_persistence": float(pers.mean()),
        "loss_seed_sd": noise,
        "near_optimal_tolerance": tolerance,
        "near_optimal_count": len(near),
        "near_optimal_range": {n: [float(near[n].min()), float(near[n].max())] for n in grid},
        "bootstrap_quantiles": {
            n: [float(boot[n].quantile(q)) for q in (0.05, 0.5, 0.95)] for n in grid
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
