"""Experiments: a sampled design of scenario variants, run in batches, read as outcomes.

:func:`plan_experiment` turns a loaded experiment (:mod:`sim.scenario.experiment`) into
an :class:`ExperimentPlan`: the design (one row per design point, drawn by SALib's
samplers or a full factorial grid), the outcomes resolved to metric cells and quarter
windows, and the work split into :class:`ExperimentChunk` s of (design point,
replication) slots.

Speed: building a model costs a base-year calibration, so a chunk runs many design
points in ONE model. Its replication ids are ``0..R-1`` repeated once per design point
(the same id gives the same noise stream: common random numbers across points), and
the factors that are per-replication parameters (:data:`sim.core.uncertainty.FIELDS`:
behaviour, channel weights, the powers' budgets) come from a
:class:`~sim.core.uncertainty.SlotSample` holding each slot's design row. Any other key
path (events, scenario data) changes the scenario itself, so points that differ in
those get a scenario (and a model) of their own.

Batch invariance: slot (point ``i``, replication ``r``) draws its noise from
``SeedSequence(seed, spawn_key=(r, stream))`` and its parameters from design row ``i``
alone, so its numbers are the same in any chunking, on any executor, resumed or not.

This module writes no files: :func:`run_experiment` hands each finished chunk to a
callback (the run folder code stores it as a part) and takes the parts already done.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.core import observe
from sim.core.uncertainty import FIELDS, SlotSample
from sim.engine.executors import (
    SequentialExecutor,
    executor_workers,
    runs_in_process,
    sigint_deferred,
)
from sim.output import metric_layout
from sim.scenario import Scenario, ScenarioError, resolve, with_overrides
from sim.scenario.experiment import Choices, Experiment, Range, applies_to
from sim.studies.compare import parse_at

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

#: Design-point-replication slots per model (a chunk), unless told otherwise.
DEFAULT_CHUNK_SLOTS = 1000


# ----------------------------------------------------------------------------- design


@dataclass(frozen=True)
class OutcomeCell:
    """Where an outcome's numbers come from (resolved against the vocabulary).

    Attributes:
        name: the outcome's name.
        metric: the metric.
        index: indices into the snapshot array after its replication axis.
        first, last: the window's steps (inclusive).
        stat: ``median``, ``mean``, ``min`` or ``max`` over the window.
        vs: whether it is a paired change against the comparison scenario.
        relative: a relative (not absolute) change.
        label: the window as text.
    """

    name: str
    metric: str
    index: tuple[int, ...]
    first: int
    last: int
    stat: str
    vs: bool
    relative: bool
    label: str


def salib_problem(exp: Experiment) -> dict[str, Any]:
    """SALib's problem: a range's bounds, or ``[0, n]`` for a list of ``n`` values."""
    bounds = [
        [f.low, f.high] if isinstance(f, Range) else [0.0, float(len(f.values))]
        for f in exp.factors.values()
    ]
    return {"num_vars": len(bounds), "names": list(exp.factors), "bounds": bounds}


def sample_design(exp: Experiment) -> np.ndarray:
    """The raw design matrix ``(N, D)`` of the experiment's sampler (in SALib's bounds).

    ``sobol``: Saltelli-Sobol sample without second-order terms, ``N = samples * (D+2)``;
    ``morris``: ``samples`` trajectories of 4 levels, ``N = samples * (D+1)``; ``lhs``:
    ``samples`` Latin hypercube points; ``factorial``: ``samples`` evenly spaced levels
    per range times every listed value.
    """
    problem = salib_problem(exp)
    if exp.sampler == "factorial":
        axes = [
            np.linspace(f.low, f.high, exp.samples)
            if isinstance(f, Range)
            else np.arange(len(f.values)) + 0.5
            for f in exp.factors.values()
        ]
        mesh = np.meshgrid(*axes, indexing="ij")
        return np.stack([m.reshape(-1) for m in mesh], axis=1)
    from SALib.sample import latin, morris, sobol  # noqa: PLC0415 - heavy import

    if exp.sampler == "sobol":
        return sobol.sample(
            problem, exp.samples, calc_second_order=False, scramble=True, seed=exp.seed
        )
    if exp.sampler == "morris":
        return morris.sample(problem, exp.samples, num_levels=4, seed=exp.seed)
    return latin.sample(problem, exp.samples, seed=exp.seed)


def decode(exp: Experiment, raw: np.ndarray) -> pd.DataFrame:
    """Design values per key path: a range's number, or the listed value at ``floor(x)``."""
    cols: dict[str, Any] = {}
    for j, (key, f) in enumerate(exp.factors.items()):
        if isinstance(f, Choices):
            idx = np.clip(np.floor(raw[:, j]).astype(int), 0, len(f.values) - 1)
            cols[key] = pd.Series([f.values[i] for i in idx], dtype=object)
        else:
            cols[key] = raw[:, j]
    frame = pd.DataFrame(cols)
    for key, f in exp.factors.items():  # a list of numbers stays numeric (ints stay ints)
        if isinstance(f, Choices) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in f.values
        ):
            ints = all(isinstance(v, int) for v in f.values)
            frame[key] = frame[key].astype("int64" if ints else "float64")
    return frame


def resolve_outcomes(exp: Experiment, scenario: Scenario) -> tuple[OutcomeCell, ...]:
    """Check every outcome against the model's metrics and horizon.

    Raises:
        ScenarioError: keyed ``outcomes.N.field``.
    """
    known = metric_layout(scenario.vocab)
    cells = []
    for n, o in enumerate(exp.outcomes):
        where = f"outcomes.{n}"
        if o.metric not in known:
            msg = f"expected a metric name ({', '.join(sorted(known))}), got {o.metric!r}"
            raise ScenarioError(exp.file, f"{where}.metric", msg)
        index = []
        for field_name, labels in zip(("country", "partner"), known[o.metric], strict=True):
            value = getattr(o, field_name)
            if labels is None and value is not None:
                msg = f"no {field_name} ({o.metric} has no such axis), got {value!r}"
                raise ScenarioError(exp.file, f"{where}.{field_name}", f"expected {msg}")
            if labels is not None:
                if value not in labels:
                    msg = f"expected one of {', '.join(labels)}, got {value!r}"
                    raise ScenarioError(exp.file, f"{where}.{field_name}", msg)
                index.append(labels.index(value))
        try:
            window = parse_at(o.at, scenario.start_quarter, scenario.steps)
        except ValueError as err:
            raise ScenarioError(exp.file, f"{where}.at", str(err)) from None
        cells.append(
            OutcomeCell(
                o.name,
                o.metric,
                tuple(index),
                window.first,
                window.last,
                o.stat,
                o.vs is not None,
                o.change == "relative",
                window.label,
            )
        )
    return tuple(cells)


# ----------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class ExperimentChunk:
    """One unit of work: consecutive design points (all their replications), one model.

    Attributes:
        index: the chunk's number (names its part file).
        points: the design points, consecutive.
        scenario: the scenario of these points (slow factors applied).
        compare: the comparison scenario (its applicable slow factors applied) or None.
        seed: the experiment's seed.
        replications: replications per point (ids ``0..R-1``).
        keys: per-replication factors (key paths in :data:`FIELDS`).
        values: ``(len(points), len(keys))`` their design values.
        compare_keys: which of ``keys`` also apply to the comparison scenario.
        outcomes: what to read.
    """

    index: int
    points: tuple[int, ...]
    scenario: Scenario
    compare: Scenario | None
    seed: int
    replications: int
    keys: tuple[str, ...]
    values: np.ndarray
    compare_keys: tuple[bool, ...]
    outcomes: tuple[OutcomeCell, ...]


@dataclass
class ExperimentPlan:
    """What :func:`run_experiment` runs.

    Attributes:
        experiment: the validated experiment.
        design: design values per key path, one row per point.
        raw: the sampler's raw matrix (SALib bounds; for the analysis).
        outcomes: the resolved outcomes.
        fast: key paths run as per-replication parameters.
        slow: key paths that change the scenario (a model per distinct value set).
        on_compare: key paths that also apply to the comparison scenario.
        chunks: the work.
        digest: sha256 of everything that determines the numbers (checked on resume).
    """

    experiment: Experiment
    design: pd.DataFrame
    raw: np.ndarray
    outcomes: tuple[OutcomeCell, ...]
    fast: tuple[str, ...]
    slow: tuple[str, ...]
    on_compare: tuple[str, ...]
    chunks: list[ExperimentChunk] = field(default_factory=list)
    digest: str = ""

    @property
    def points(self) -> int:
        """Number of design points."""
        return len(self.design)


def plan_experiment(
    exp: Experiment,
    scenario: Scenario,
    compare: Scenario | None,
    chunk_slots: int | None = None,
) -> ExperimentPlan:
    """Sample the design, resolve the outcomes and split the work into chunks.

    Raises:
        ScenarioError: for a bad outcome (keyed ``outcomes.N.field``) or chunk size
            (keyed ``chunk_size``).
    """
    outcomes = resolve_outcomes(exp, scenario)
    if chunk_slots is not None and chunk_slots < 1:
        msg = f"expected a positive integer, got {chunk_slots}"
        raise ScenarioError(exp.file, "chunk_size", msg)
    raw = sample_design(exp)
    design = decode(exp, raw)
    fast = tuple(k for k in exp.factors if _is_fast(k, exp, scenario))
    slow = tuple(k for k in exp.factors if k not in fast)
    cmp_data = resolve(exp.compare_path()) if compare is not None else None
    on_compare = tuple(
        k
        for k, f in exp.uncertainties.items()
        if cmp_data is not None and applies_to(cmp_data, k, f, exp.origin())
    )
    plan = ExperimentPlan(exp, design, raw, outcomes, fast, slow, on_compare)
    plan.digest = _digest(plan, scenario, compare)
    plan.chunks = _chunks(plan, scenario, compare, chunk_slots or DEFAULT_CHUNK_SLOTS)
    return plan


def _is_fast(key: str, exp: Experiment, scenario: Scenario) -> bool:
    """A numeric factor that is a per-replication parameter of this scenario's model."""
    if key not in FIELDS or not isinstance(exp.factors[key], Range):
        return False
    return not key.startswith("powers.") or key.split(".")[1] in scenario.vocab.powers


def _digest(plan: ExperimentPlan, scenario: Scenario, compare: Scenario | None) -> str:
    blob = json.dumps(
        {
            "experiment": plan.experiment.model_dump(exclude={"file", "description"}),
            "scenario": scenario.digest(),
            "compare": compare.digest() if compare is not None else None,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode() + plan.raw.tobytes()).hexdigest()


def _chunks(
    plan: ExperimentPlan, scenario: Scenario, compare: Scenario | None, chunk_slots: int
) -> list[ExperimentChunk]:
    """Group points by their slow values (one scenario each), then cut into chunks."""
    exp, R = plan.experiment, plan.experiment.replications
    groups: dict[str, list[int]] = collections.defaultdict(list)
    for i, row in enumerate(plan.design[list(plan.slow)].itertuples(index=False)):
        groups[json.dumps([_plain(v) for v in row])].append(i)
    per_chunk = max(1, chunk_slots // R)
    fast_vals = plan.design[list(plan.fast)].to_numpy(dtype=float)
    cmp_mask = tuple(k in plan.on_compare for k in plan.fast)
    chunks: list[ExperimentChunk] = []
    for points in groups.values():
        sets = {k: _plain(plan.design[k].iloc[points[0]]) for k in plan.slow}
        sc = with_overrides(scenario, sets, exp.origin()) if sets else scenario
        cmp_sets = {k: v for k, v in sets.items() if k in plan.on_compare}
        cmp = compare
        if compare is not None and cmp_sets:
            cmp = with_overrides(compare, cmp_sets, exp.origin())
        for start in range(0, len(points), per_chunk):
            pts = tuple(points[start : start + per_chunk])
            chunks.append(
                ExperimentChunk(
                    len(chunks),
                    pts,
                    sc,
                    cmp,
                    exp.seed,
                    R,
                    plan.fast,
                    fast_vals[list(pts)],
                    cmp_mask,
                    plan.outcomes,
                )
            )
    return chunks


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


# ----------------------------------------------------------------------------- worker


def _outcome_series(
    scenario: Scenario, chunk: ExperimentChunk, keys: tuple[str, ...], values: np.ndarray
) -> np.ndarray:
    """Run one model over the chunk's slots; ``(slots, T, outcomes)`` outcome cells."""
    from sim.core.model import GeoModel  # noqa: PLC0415 - workers import the model lazily

    n, R = len(chunk.points), chunk.replications
    ids = np.tile(np.arange(R, dtype=np.int64), n)
    sample = SlotSample(keys, values, np.repeat(np.arange(n), R)) if keys else None
    model = GeoModel(
        scenario=scenario, replication_ids=ids, collect=False, rng=chunk.seed, parameters=sample
    )
    last = max(o.last for o in chunk.outcomes)
    out = np.empty((n * R, last + 1, len(chunk.outcomes)))
    for t in range(last + 1):
        model.step()
        snap = observe.snapshot(model, {o.metric for o in chunk.outcomes})
        for j, o in enumerate(chunk.outcomes):
            out[:, t, j] = snap[o.metric][(slice(None), *o.index)]
    return out


_STATS: dict[str, Callable[..., np.ndarray]] = {
    "median": np.median,
    "mean": np.mean,
    "min": np.min,
    "max": np.max,
}


def run_chunk(chunk: ExperimentChunk) -> np.ndarray:
    """Run one chunk (picklable; runs on any executor).

    Returns:
        ``(len(points), replications, outcomes)`` outcome values.
    """
    series = _outcome_series(chunk.scenario, chunk, chunk.keys, chunk.values)
    if chunk.compare is not None and any(o.vs for o in chunk.outcomes):
        mask = list(chunk.compare_keys)
        keys = tuple(k for k, m in zip(chunk.keys, mask, strict=True) if m)
        base = _outcome_series(chunk.compare, chunk, keys, chunk.values[:, mask])
    else:
        base = None
    result = np.empty((series.shape[0], len(chunk.outcomes)))
    for j, o in enumerate(chunk.outcomes):
        a = series[:, o.first : o.last + 1, j]
        if o.vs and base is not None:
            b = base[:, o.first : o.last + 1, j]
            with np.errstate(divide="ignore", invalid="ignore"):
                a = (a - b) / np.abs(b) if o.relative else a - b
        result[:, j] = _STATS[o.stat](a, axis=1)
    return result.reshape(len(chunk.points), chunk.replications, len(chunk.outcomes))


# ----------------------------------------------------------------------------- run


@dataclass
class ExperimentResult:
    """What :func:`run_experiment` returns.

    Attributes:
        plan: the plan run.
        values: ``(points, replications, outcomes)`` outcome values.
        resumed: chunks taken from earlier parts.
    """

    plan: ExperimentPlan
    values: np.ndarray
    resumed: int = 0

    def table(self) -> pd.DataFrame:
        """One row per design point: ``point``, inputs, then per outcome median, q05, q95, mean.

        The median over replications is the column named like the outcome.
        """
        frame = self.plan.design.copy()
        frame.insert(0, "point", np.arange(self.plan.points))
        for j, o in enumerate(self.plan.outcomes):
            v = self.values[:, :, j]
            frame[o.name] = np.median(v, axis=1)
            frame[f"{o.name}_q05"] = np.quantile(v, 0.05, axis=1)
            frame[f"{o.name}_q95"] = np.quantile(v, 0.95, axis=1)
            frame[f"{o.name}_mean"] = v.mean(axis=1)
        return frame

    def replications(self) -> pd.DataFrame:
        """One row per (point, replication) with each outcome's value."""
        N, R, _ = self.values.shape
        frame = pd.DataFrame(
            {"point": np.repeat(np.arange(N), R), "replication": np.tile(np.arange(R), N)}
        )
        for j, o in enumerate(self.plan.outcomes):
            frame[o.name] = self.values[:, :, j].reshape(-1)
        return frame


def run_experiment(
    plan: ExperimentPlan,
    executor: Any = None,
    done: dict[int, np.ndarray] | None = None,
    on_chunk: Callable[[int, np.ndarray], None] | None = None,
    on_points: Callable[[int], None] | None = None,
) -> ExperimentResult:
    """Run every chunk not in ``done``; return all outcome values.

    Args:
        plan: from :func:`plan_experiment`.
        executor: anything with ``submit`` (default: this process, one chunk at a time).
        done: chunk index -> values of chunks finished earlier (resume).
        on_chunk: called with (chunk index, values) as each chunk finishes (parts).
        on_points: called with the number of design points each chunk finished.
    """
    done = dict(done or {})
    R, K = plan.experiment.replications, len(plan.outcomes)
    values = np.full((plan.points, R, K), np.nan)
    for k, arr in done.items():
        values[list(plan.chunks[k].points)] = arr
        if on_points is not None:
            on_points(len(plan.chunks[k].points))
    todo = [c for c in plan.chunks if c.index not in done]
    for chunk, arr in _results(todo, executor or SequentialExecutor()):
        values[list(chunk.points)] = arr
        if on_chunk is not None:
            on_chunk(chunk.index, arr)
        if on_points is not None:
            on_points(len(chunk.points))
    return ExperimentResult(plan, values, resumed=len(done))


def _results(
    chunks: list[ExperimentChunk], executor: Any
) -> Iterator[tuple[ExperimentChunk, np.ndarray]]:
    """Chunk results in order, at most two chunks per worker in flight."""
    in_process = runs_in_process(executor)
    window = 1 if in_process else 2 * executor_workers(executor)
    pending: collections.deque[tuple[ExperimentChunk, Any]] = collections.deque()
    try:
        for chunk in chunks:
            with contextlib.nullcontext() if in_process else sigint_deferred():
                pending.append((chunk, executor.submit(run_chunk, chunk)))
            if len(pending) >= window:
                c, fut = pending.popleft()
                yield c, fut.result()
        while pending:
            c, fut = pending.popleft()
            yield c, fut.result()
    finally:
        for _, fut in pending:
            fut.cancel()


def expected_cost(plan: ExperimentPlan) -> dict[str, int]:
    """Models and replication-quarters a plan runs (for the manifest and the CLI note)."""
    models = len(plan.chunks) * (2 if any(o.vs for o in plan.outcomes) else 1)
    slots = plan.points * plan.experiment.replications
    return {"models": models, "slots": slots, "chunks": len(plan.chunks)}


# ----------------------------------------------------------------------------- analysis


def sobol_indices(problem: dict[str, Any], y: np.ndarray, seed: int) -> pd.DataFrame:
    """First-order and total Sobol indices with 95% bootstrap intervals (SALib).

    Args:
        problem: the SALib problem of the design (:func:`salib_problem`).
        y: ``(N (D + 2),)`` outcome of each design point, in design order.
        seed: the bootstrap's seed.

    Returns:
        ``parameter, S1, S1_conf, ST, ST_conf`` (``*_conf``: half-width of the 95%
        interval), sorted by ``ST``, largest first.
    """
    from SALib.analyze import sobol  # noqa: PLC0415 - heavy import

    with np.errstate(divide="ignore", invalid="ignore"):
        res = sobol.analyze(problem, y, calc_second_order=False, conf_level=0.95, seed=seed)
    frame = pd.DataFrame(
        {
            "parameter": problem["names"],
            "S1": res["S1"],
            "S1_conf": res["S1_conf"],
            "ST": res["ST"],
            "ST_conf": res["ST_conf"],
        }
    )
    return frame.sort_values("ST", ascending=False, ignore_index=True)


def morris_indices(
    problem: dict[str, Any], x: np.ndarray, y: np.ndarray, seed: int
) -> pd.DataFrame:
    """Morris elementary effects: ``parameter, mu, mu_star, mu_star_conf, sigma`` (SALib)."""
    from SALib.analyze import morris  # noqa: PLC0415 - heavy import

    res = morris.analyze(problem, x, y, conf_level=0.95, num_levels=4, seed=seed)
    frame = pd.DataFrame(
        {
            "parameter": problem["names"],
            "mu": res["mu"],
            "mu_star": res["mu_star"],
            "mu_star_conf": res["mu_star_conf"],
            "sigma": res["sigma"],
        }
    )
    return frame.sort_values("mu_star", ascending=False, ignore_index=True)


@dataclass(frozen=True)
class PrimResult:
    """A PRIM box (EMA Workbench): the peeling trajectory and the chosen box.

    Attributes:
        trajectory: ``id, coverage, density, mass, res_dim, n`` per peeling step.
        chosen: the ``id`` of the chosen box: the largest coverage with density at least
            ``threshold``, or the densest box if none reaches it.
        limits: ``parameter, low, high, restricted`` of the chosen box (``values`` lists
            the admitted values of a categorical input).
        cases: number of design points of interest; points: all design points.
    """

    trajectory: pd.DataFrame
    chosen: int
    limits: pd.DataFrame
    cases: int
    points: int


def prim_box(x: pd.DataFrame, y: np.ndarray, threshold: float = 0.8) -> PrimResult:
    """Run PRIM (EMA Workbench) for the design points ``y`` marks as cases of interest.

    Raises:
        ValueError: if no point, or every point, is a case.
    """
    import warnings  # noqa: PLC0415

    y = np.asarray(y, dtype=bool)
    if not y.any() or y.all():
        msg = f"expected some but not all design points to match, got {int(y.sum())} of {len(y)}"
        raise ValueError(msg)
    x = x.copy()
    for col in x.columns:  # strings as categories; integers as floats (PRIM pastes halves)
        if x[col].dtype == object:
            x[col] = x[col].astype(str).astype("category")
        elif pd.api.types.is_integer_dtype(x[col]):
            x[col] = x[col].astype(float)
    with warnings.catch_warnings():  # EMA Workbench 3.0 on pandas 3: local, known warnings
        warnings.filterwarnings("ignore", message=".*ipyparallel.*")
        warnings.filterwarnings("ignore", message="The inplace keyword")
        from ema_workbench.analysis import prim  # noqa: PLC0415 - heavy import

        box = prim.Prim(x, y).find_box()
    traj = box.peeling_trajectory[["id", "coverage", "density", "mass", "res_dim", "n"]].copy()
    ok = traj[traj["density"] >= threshold]
    pick = ok.loc[ok["coverage"].idxmax()] if len(ok) else traj.loc[traj["density"].idxmax()]
    chosen = int(pick["id"])
    return PrimResult(
        traj, chosen, _limits(box.box_lims[chosen], box.box_lims[0]), int(y.sum()), len(y)
    )


def _limits(lims: pd.DataFrame, initial: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for col in lims.columns:
        lo, hi = lims[col].iloc[0], lims[col].iloc[1]
        if isinstance(lo, set):  # categorical: the admitted values
            rows.append(
                {
                    "parameter": col,
                    "low": None,
                    "high": None,
                    "values": sorted(lo),
                    "restricted": lo != initial[col].iloc[0],
                }
            )
            continue
        restricted = bool(lo != initial[col].iloc[0] or hi != initial[col].iloc[1])
        rows.append(
            {
                "parameter": col,
                "low": float(lo),
                "high": float(hi),
                "values": None,
                "restricted": restricted,
            }
        )
    return pd.DataFrame(rows)
