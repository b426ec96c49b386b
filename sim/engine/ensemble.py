"""Ensembles: many replications of one scenario, fast, batch-invariant, summarised.

:func:`run_ensemble` splits the replication ids into chunks and advances each chunk in
one :class:`~sim.core.model.GeoModel` (the model's arrays carry a leading replication axis,
so a chunk of 1,000 replications costs a fraction of 1,000 single runs). Chunks run on an
:class:`~sim.engine.executors.Executor`: in this process
(:class:`~sim.engine.executors.SequentialExecutor`, the default), on a
:func:`~sim.engine.executors.process_pool`, or on anything with ``submit`` (or, failing
that, ``map``).

Batch invariance: replication ``k``'s random numbers come from
``SeedSequence(seed, spawn_key=(k, stream))`` alone and nothing in a step mixes replications,
so replication ``k``'s rows are bitwise identical whether it runs alone, among 10 or
10,000 others, in any chunking, on any executor (``tests/test_ensemble.py`` checks it).

Output: the tidy table of :mod:`sim.output` (rows sorted by replication, step, metric,
country, partner exactly as :func:`sim.output.to_tidy` sorts them) and its summary
(:func:`sim.engine.store.summarise`). With ``out_path`` the tidy rows are streamed to
Parquet chunk by chunk and the values may spill to disk (:mod:`sim.engine.store`).

This module knows no command-line flags: bad arguments raise ``ValueError``, and
:func:`check_request` raises :class:`~sim.scenario.ScenarioError` keyed by parameter
name (``replications``, ``replication_ids``, ``metrics``, ``workers``, ``chunk_size``).
"""

from __future__ import annotations

import collections
import contextlib
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.core import observe
from sim.core.mechanisms import compiled
from sim.engine.buffers import chunk_buffer
from sim.engine.executors import (
    SequentialExecutor,
    executor_workers,
    runs_in_process,
    sigint_deferred,
)
from sim.engine.store import TidyWriter, ValueStore, summarise
from sim.output import RowLayout, check_metrics, raw_step_values, row_layout, tidy_frame
from sim.scenario import Scenario, ScenarioError, coerce_scenario

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    import xarray as xr

    from sim.core.model import GeoModel
    from sim.core.observe import Gather
    from sim.core.uncertainty import ParameterSample
    from sim.vocab import Vocabulary

#: Replications advanced together in one model unless ``chunk_size`` says otherwise.
DEFAULT_CHUNK_SIZE = 1000
#: Smallest default chunk when spreading over workers (smaller chunks lose the
#: vectorisation: one replication alone costs several times its share of a chunk).
MIN_CHUNK_SIZE = 32


# ----------------------------------------------------------------------------- worker


@dataclass(frozen=True)
class ChunkTask:
    """One chunk of replications for a worker (picklable).

    Attributes:
        scenario: the resolved scenario.
        seed: the ensemble seed.
        ids: replication ids of the chunk.
        metrics: metric names to report (validated, sorted).
        parameters: per-replication parameter draws (None: the scenario's values).
    """

    scenario: Scenario
    seed: int
    ids: tuple[int, ...]
    metrics: tuple[str, ...]
    parameters: ParameterSample | None = None


def simulate_chunk(task: ChunkTask, on_step: Callable[[int], None] | None = None) -> np.ndarray:
    """Advance one chunk of replications in one model and return their values.

    Args:
        task: what to run.
        on_step: called with the chunk size after each quarter (progress; in-process only).

    Returns:
        ``(len(task.ids), rows)`` float64 array in raw order (step by step, each step's
        row as :func:`sim.output.raw_step_values` lays it out).
    """
    from sim.core.model import GeoModel  # noqa: PLC0415 - workers import the model lazily

    model = GeoModel(
        scenario=task.scenario,
        replication_ids=list(task.ids),
        collect=False,
        rng=task.seed,
        parameters=task.parameters,
    )
    layout = row_layout(task.metrics, model.T, model.start_quarter, task.scenario.vocab)
    plan = observe.gather_plan(model, layout.metrics)
    raw = chunk_buffer((model.R, model.T, layout.per_step))  # reused once dropped
    for t in range(model.T):
        model.step()
        collect_step(model, layout, raw, t, plan)
        if on_step is not None:
            on_step(model.R)
    return raw.reshape(model.R, layout.rows)


def collect_step(
    model: GeoModel, layout: RowLayout, raw: np.ndarray, t: int, plan: Gather | None = None
) -> None:
    """Write the model's step-``t`` values of the layout's metrics into ``raw[:, t]``.

    ``raw`` is ``(R, T, per_step)``; each step's row is laid out as
    :func:`sim.output.raw_step_values` lays out :func:`sim.core.observe.snapshot` (which
    is what runs without the compiled kernels); the kernel
    (:func:`sim.core.kernels.gather_columns`) reads the state arrays directly, as
    ``plan`` (:func:`sim.core.observe.gather_plan` of the layout's metrics; built here
    when not given) says.
    """
    kernels = compiled()
    if kernels is None:
        raw_step_values(observe.snapshot(model, layout.metrics), layout, out=raw[:, t])
        return
    plan = observe.gather_plan(model, layout.metrics) if plan is None else plan
    arrays = kernels.float_rows(plan.arrays(model.state))
    kernels.gather_columns(arrays, (plan.bounds, plan.sources, plan.scales, plan.offsets), raw, t)


def _chunk_results(
    tasks: list[ChunkTask], executor: Any, on_step: Callable[[int], None] | None
) -> Iterator[np.ndarray]:
    """Chunk values in task order, by bounded ``submit`` (or by ``map`` without it).

    At most two chunks per worker are in flight (one on an in-process executor, which
    then gets ``on_step``), so finished chunks do not pile up in memory while earlier
    ones are being written.
    """
    if not hasattr(executor, "submit"):
        yield from executor.map(simulate_chunk, tasks)
        return
    in_process = runs_in_process(executor)
    window = 1 if in_process else 2 * executor_workers(executor)
    extra = (on_step,) if in_process and on_step is not None else ()
    pending: collections.deque[Any] = collections.deque()
    try:
        for task in tasks:
            # Ctrl-C is deferred while a pool may be starting a worker, never while an
            # in-process executor runs the chunk itself.
            with contextlib.nullcontext() if in_process else sigint_deferred():
                pending.append(executor.submit(simulate_chunk, task, *extra))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for fut in pending:
            fut.cancel()


# ----------------------------------------------------------------------------- API


@dataclass
class EnsembleResult:
    """What :func:`run_ensemble` returns.

    The values live in one compact float64 array (:attr:`raw`, 8 bytes per value);
    :attr:`data` labels it as an :class:`xarray.Dataset` without copying, and
    :meth:`to_dataframe` (or :meth:`tidy`) builds the tidy table on demand.

    Attributes:
        scenario: the resolved scenario.
        seed: the seed every replication's stream derives from.
        replication_ids: the replication ids, sorted.
        layout: the per-replication row layout.
        summary: mean, median, q05, q95 per (step, date, country, partner, metric);
            computed when the values were spilled, else on first access (then cached).
        raw: ``(replications, rows)`` values in raw order (see
            :attr:`sim.output.RowLayout.blocks`), or None when they were spilled to disk
            (read :attr:`path` instead).
        path: the Parquet file the tidy rows were streamed to, if any.
        timings_s: wall-clock seconds spent simulating (including writing) and summarising.
    """

    scenario: Scenario
    seed: int
    replication_ids: np.ndarray
    layout: RowLayout
    summary_frame: pd.DataFrame | None
    raw: np.ndarray | None = None
    path: Path | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    _data: Any = field(default=None, init=False, repr=False)

    @property
    def summary(self) -> pd.DataFrame:
        """Mean, median, q05, q95 per (step, date, country, partner, metric)."""
        if self.summary_frame is None:
            t0 = time.perf_counter()
            store = ValueStore(self.layout.rows)
            store.append(self._raw_or_raise(), len(self.raw))  # type: ignore[arg-type]
            self.summary_frame = summarise(store, self.layout)
            self.timings_s["summarise"] = round(time.perf_counter() - t0, 4)
        return self.summary_frame

    @property
    def values(self) -> np.ndarray | None:
        """``(replications, rows)`` values in tidy row order (a copy), None if spilled."""
        return None if self.raw is None else self.layout.to_tidy_order(self.raw)

    @property
    def data(self) -> xr.Dataset:
        """The values as an :class:`xarray.Dataset` (views of :attr:`raw`, no copy).

        See :func:`sim.engine.labelled.dataset` for its variables and dimensions.

        Raises:
            RuntimeError: if the values were spilled to disk.
        """
        if self._data is None:
            from sim.engine.labelled import dataset  # noqa: PLC0415 - xarray loads lazily

            self._data = dataset(self._raw_or_raise(), self.replication_ids, self.layout)
        return self._data

    def to_dataframe(self) -> pd.DataFrame:
        """The tidy table (the columns of ``timeseries.parquet``), built now."""
        if self.raw is not None:
            return tidy_frame(
                self.layout.to_tidy_order(self.raw), self.replication_ids, self.layout
            )
        if self.path is not None:
            return pd.read_parquet(self.path)
        msg = "no values kept in memory and no Parquet file"
        raise RuntimeError(msg)

    tidy = to_dataframe

    @property
    def timeseries(self) -> pd.DataFrame:
        """The tidy table; same as :meth:`to_dataframe` (kept for existing callers)."""
        return self.to_dataframe()

    def _raw_or_raise(self) -> np.ndarray:
        if self.raw is None:
            msg = "the values were spilled to disk; read the Parquet file instead"
            raise RuntimeError(msg)
        return self.raw

    def metric_array(self, metric: str) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
        """One metric's values as ``(replications, steps, countries, partners)`` (a copy).

        :attr:`data` has the same values labelled, in vocabulary order, without a copy.

        Returns:
            ``(array, countries, partners)``, the labels sorted as in the tidy table
            (``("",)`` where the metric has no such axis).

        Raises:
            RuntimeError: if the values were spilled to disk.
            KeyError: if the metric was not recorded.
        """
        raw = self._raw_or_raise()
        block = next((b for b in self.layout.blocks if b.name == metric), None)
        if block is None:
            msg = f"metric {metric!r} was not recorded"
            raise KeyError(msg)
        labels = [*block.labels, ("",), ("",)][:2]  # every one-axis metric is per country
        lay = self.layout
        arr = raw.reshape(len(raw), lay.steps, lay.per_step)[:, :, block.start : block.stop]
        arr = arr.reshape(len(raw), lay.steps, len(labels[0]), len(labels[1]))
        cs, ps = (np.argsort(np.array(lab, dtype=str), kind="stable") for lab in labels)
        countries = tuple(labels[0][i] for i in cs)
        partners = tuple(labels[1][i] for i in ps)
        return arr[:, :, cs][:, :, :, ps], countries, partners


def replication_id_array(
    replications: int | None, replication_ids: Sequence[int] | np.ndarray | None
) -> np.ndarray:
    """The sorted replication ids to run.

    Raises:
        ValueError: if the ids are empty, negative, repeated, or ``replications < 1``.
    """
    if replication_ids is None:
        n = 1 if replications is None else int(replications)
        if n < 1:
            msg = f"expected at least one replication, got {n}"
            raise ValueError(msg)
        return np.arange(n, dtype=np.int64)
    ids = np.asarray(list(replication_ids))
    if ids.ndim != 1 or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
        msg = "expected a non-empty list of integer replication ids"
        raise ValueError(msg)
    if (ids < 0).any():
        msg = "replication ids must be non-negative"
        raise ValueError(msg)
    if np.unique(ids).size != ids.size:
        msg = "replication ids must be distinct"
        raise ValueError(msg)
    return np.sort(ids).astype(np.int64)


def id_summary(ids: np.ndarray) -> list[int] | dict[str, int]:
    """Ids for a manifest: a list, or ``{"first", "last", "count"}`` for a full range."""
    if len(ids) > 100 and ids[-1] - ids[0] + 1 == len(ids):
        return {"first": int(ids[0]), "last": int(ids[-1]), "count": len(ids)}
    return [int(k) for k in ids]


def default_chunk_size(n: int, workers: int = 1) -> int:
    """Replications per model for ``n`` replications on ``workers`` processes.

    At most :data:`DEFAULT_CHUNK_SIZE`; with several workers, small enough that each
    gets about four chunks (load balance and progress), but not below
    :data:`MIN_CHUNK_SIZE`.
    """
    if workers <= 1:
        return min(n, DEFAULT_CHUNK_SIZE)
    per_worker = max(MIN_CHUNK_SIZE, math.ceil(n / (4 * workers)))
    return max(1, min(n, DEFAULT_CHUNK_SIZE, per_worker))


def check_request(
    source: str | Path,
    vocab: Vocabulary,
    *,
    replications: int | None = None,
    replication_ids: Sequence[int] | np.ndarray | None = None,
    metrics: Iterable[str] | None = None,
    workers: int = 1,
    chunk_size: int | None = None,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Check an ensemble request before anything runs or is written.

    Args:
        source: the scenario file named in error messages.
        vocab: the scenario's vocabulary (metric labels).
        replications: as for :func:`run_ensemble`.
        replication_ids: as for :func:`run_ensemble`.
        metrics: as for :func:`run_ensemble`.
        workers: processes the caller will use.
        chunk_size: as for :func:`run_ensemble`.

    Returns:
        ``(replication ids, metric names)`` as :func:`run_ensemble` uses them.

    Raises:
        ScenarioError: keyed by the parameter's name (the CLI maps it to its flag).
    """
    try:
        ids = replication_id_array(replications, replication_ids)
    except ValueError as err:
        key = "replication_ids" if replication_ids is not None else "replications"
        raise ScenarioError(source, key, str(err)) from None
    try:
        names = check_metrics(metrics, vocab)
    except ValueError as err:
        raise ScenarioError(source, "metrics", str(err)) from None
    if workers < 1:
        raise ScenarioError(source, "workers", f"expected a positive integer, got {workers}")
    if chunk_size is not None and chunk_size < 1:
        raise ScenarioError(source, "chunk_size", f"expected a positive integer, got {chunk_size}")
    return ids, names


def progress_bar(
    total: int, enabled: bool, *, unit: str = "rep", what: str = "replications"
) -> Any:
    """A tqdm bar on stderr that appears after one second, or None when not ``enabled``.

    Args:
        total: units of work.
        enabled: whether to show it (the CLI passes "stderr is a terminal").
        unit: tqdm's unit name.
        what: the units' name in the bar text (a description set later shows first).
    """
    if not enabled:
        return None
    from tqdm import tqdm  # noqa: PLC0415

    return tqdm(
        total=total,
        unit=unit,
        delay=1.0,
        file=sys.stderr,
        bar_format="{l_bar}{bar}| {n:.0f}/{total} " + what + " [{elapsed}<{remaining}]",
    )


def run_ensemble(
    scenario: Scenario | str | Path | dict[str, Any],
    replications: int | None = None,
    seed: int | None = None,
    executor: Any = None,
    chunk_size: int | None = None,
    replication_ids: Sequence[int] | np.ndarray | None = None,
    out_path: str | Path | None = None,
    metrics: Iterable[str] | None = None,
    progress: bool = False,
    parameters: ParameterSample | None = None,
    on_step: Callable[[int], None] | None = None,
) -> EnsembleResult:
    """Run many replications of a scenario; return the tidy table and its summary.

    Args:
        scenario: a :class:`Scenario`, a scenario file, or a resolved scenario mapping.
        replications: run ids ``0..replications-1`` (default 1).
        seed: the seed (default: the scenario's ``seed``).
        executor: an :class:`~sim.engine.executors.Executor` (or anything with ``map``)
            to run chunks on; None runs them in this process.
        chunk_size: replications per model (default :func:`default_chunk_size` for the
            executor's ``workers``).
        replication_ids: run exactly these ids instead (any order; results are sorted).
        out_path: stream the tidy rows to this Parquet file; the values are then kept in
            memory only while they fit :data:`sim.engine.store.MEMORY_STORE_BYTES`.
        metrics: report only these metrics (default all of
            :func:`sim.output.metric_layout`).
        progress: show a progress bar on stderr (after one second).
        parameters: a :class:`~sim.core.uncertainty.ParameterSample`: replication ``k``
            draws its behavioural parameters from it (from ``(seed, k)`` alone, so
            batch-invariant); None runs every replication on the scenario's values.
        on_step: called with the number of replications advanced after every quarter
            of a chunk run in this process (a dashboard's progress); chunks run by a
            pool report nothing.

    Returns:
        The :class:`EnsembleResult`.

    Raises:
        ValueError: on a bad seed, replication ids, chunk size or metric names.
    """
    sc = coerce_scenario(scenario)
    seed = sc.seed if seed is None else int(seed)
    if seed < 0:
        msg = f"expected a non-negative seed, got {seed}"
        raise ValueError(msg)
    ids = replication_id_array(replications, replication_ids)
    names = check_metrics(metrics, sc.vocab)
    layout = row_layout(names, sc.steps, sc.start_quarter, sc.vocab)
    executor = SequentialExecutor() if executor is None else executor
    workers = executor_workers(executor)
    size = default_chunk_size(len(ids), workers) if chunk_size is None else int(chunk_size)
    if size < 1:
        msg = f"expected a positive chunk size, got {size}"
        raise ValueError(msg)
    tasks = [
        ChunkTask(sc, seed, tuple(int(k) for k in ids[i : i + size]), names, parameters)
        for i in range(0, len(ids), size)
    ]
    path = Path(out_path) if out_path is not None else None
    summary, values, timings = _collect(tasks, ids, layout, executor, path, progress, on_step)
    return EnsembleResult(
        scenario=sc,
        seed=seed,
        replication_ids=ids,
        layout=layout,
        summary_frame=summary,
        raw=values,
        path=path,
        timings_s=timings,
    )


def _collect(
    tasks: list[ChunkTask],
    ids: np.ndarray,
    layout: RowLayout,
    executor: Any,
    path: Path | None,
    progress: bool,
    on_step: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame | None, np.ndarray | None, dict[str, float]]:
    """Run the chunks, store and stream their values; summarise spilled values.

    Returns:
        ``(summary or None if the values stay in memory, values or None if spilled,
        timings)``.
    """
    store = ValueStore(layout.rows, spill_dir=path.parent if path is not None else None)
    writer = TidyWriter(path, layout) if path is not None else None
    bar = progress_bar(len(ids), progress)
    steps = layout.steps

    def tick(n: int) -> None:
        if bar is not None:
            bar.update(n / steps)
        if on_step is not None:
            on_step(n)

    summary = None
    try:
        t0 = time.perf_counter()
        start = 0
        per_step = runs_in_process(executor) and (bar is not None or on_step is not None)
        for values in _chunk_results(tasks, executor, tick if per_step else None):
            chunk_ids = ids[start : start + len(values)]
            start += len(values)
            if bar is not None and not per_step:
                bar.update(len(values))
            if writer is not None:
                writer.write(values, chunk_ids)
            store.append(values, len(ids))
            del values
        if writer is not None:
            writer.close()
            writer = None
        t1 = time.perf_counter()
        if store.spilled:
            summary = summarise(store, layout)
        t2 = time.perf_counter()
        values_kept = None if store.spilled else store.array()
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
        store.close()
    timings = {"simulate": round(t1 - t0, 4)}
    if summary is not None:
        timings["summarise"] = round(t2 - t1, 4)
    return summary, values_kept, timings
