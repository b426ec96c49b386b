"""Ensembles: many replications of one scenario, fast, batch-invariant, summarised.

:func:`run_ensemble` splits the replication ids into chunks and advances each chunk in
one :class:`~sim.model.GeoModel` (the model's arrays carry a leading replication axis,
so a chunk of 500 replications costs a fraction of 500 single runs). Chunks run in
this process or on any :mod:`concurrent.futures` executor.

Batch invariance: replication ``k``'s random numbers come from
``SeedSequence(seed, spawn_key=(k, stream))`` alone and nothing in a step mixes replications,
so replication ``k``'s rows are bitwise identical whether it runs alone, among 10 or
10,000 others, in any chunking, on any executor (``tests/test_ensemble.py`` checks it).

Output:

* ``timeseries``: the tidy table of :mod:`sim.metrics` (columns ``replication, step,
  date, country, partner, metric, value``), rows sorted by replication, step, metric,
  country, partner exactly as :func:`sim.metrics.to_tidy` sorts them.
* ``summary``: one row per ``(step, date, country, partner, metric)`` with the
  ``mean``, ``median`` and the 5% and 95% quantiles (``q05``, ``q95``, linear
  interpolation, as :meth:`pandas.Series.quantile`) over replications.

Memory: every replication's values are kept in one float64 array (replications x
rows per replication), which makes the summary exact. With ``out_path`` the tidy rows
are streamed to Parquet chunk by chunk and, when that array would exceed
:data:`MEMORY_STORE_BYTES`, it is spilled to a temporary file and summarised in column
blocks, so 10,000 replications x 64 quarters x every metric (282 million rows) stay
well under 4 GiB of resident memory.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import math
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim import metrics as metrics_mod
from sim.scenario import Scenario, ScenarioError, coerce_scenario, load_scenario

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

#: Replications advanced together in one model unless ``chunk_size`` says otherwise.
DEFAULT_CHUNK_SIZE = 500
#: Smallest default chunk when spreading over workers (smaller chunks lose the
#: vectorisation: one replication alone costs several times its share of a chunk).
MIN_CHUNK_SIZE = 32
#: The per-replication value array is spilled to disk beyond this many bytes.
MEMORY_STORE_BYTES = 1 << 30
#: Replications per Parquet row group (bounds the Arrow buffers of one write).
ROW_GROUP_REPLICATIONS = 64
#: Bytes of one column block read back when summarising a spilled store.
SUMMARY_BLOCK_BYTES = 64 << 20
#: Ensemble figures are drawn from at most this many replications (the first ids).
PLOT_REPLICATIONS = 200
#: Quantiles reported in the summary, by column name.
QUANTILES: dict[str, float] = {"q05": 0.05, "q95": 0.95}
SUMMARY_COLUMNS = ("step", "date", "country", "partner", "metric", "mean", "median", "q05", "q95")


# ----------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class RowLayout:
    """Where each of one replication's values goes in the tidy table.

    One replication contributes ``steps * per_step`` rows; ``step``, ``date``,
    ``country``, ``partner`` and ``metric`` label them in tidy-table order.

    Attributes:
        metrics: reported metric names (sorted).
        steps: number of quarters.
        start_quarter: absolute quarter of step 0.
        order: ``(per_step,)`` positions in the concatenated per-step snapshot (metrics
            in :attr:`metrics` order, each flattened C-order) of the tidy rows.
        step, date, country, partner, metric: ``(rows,)`` labels of the rows.
    """

    metrics: tuple[str, ...]
    steps: int
    start_quarter: int
    order: np.ndarray
    step: np.ndarray
    date: np.ndarray
    country: np.ndarray
    partner: np.ndarray
    metric: np.ndarray

    @property
    def per_step(self) -> int:
        """Rows per replication per step."""
        return len(self.order)

    @property
    def rows(self) -> int:
        """Rows per replication."""
        return len(self.step)

    def labels(self) -> pd.DataFrame:
        """The row labels as a DataFrame (``step, date, country, partner, metric``)."""
        return pd.DataFrame(
            {
                "step": self.step,
                "date": self.date,
                "country": self.country,
                "partner": self.partner,
                "metric": self.metric,
            }
        )

    def columns_of(self, metric: str) -> np.ndarray:
        """Row positions of one metric, in (step, country, partner) order."""
        return np.flatnonzero(self.metric == metric)


def check_metrics(names: Iterable[str] | None) -> tuple[str, ...]:
    """Validate metric names against :data:`sim.metrics.LAYOUT`; default all, sorted.

    Raises:
        ValueError: on an unknown or repeated name, or an empty selection.
    """
    if names is None:
        return tuple(sorted(metrics_mod.LAYOUT))
    chosen = tuple(names)
    unknown = [n for n in chosen if n not in metrics_mod.LAYOUT]
    if unknown:
        msg = f"unknown metric {unknown[0]!r}; expected one of {', '.join(metrics_mod.LAYOUT)}"
        raise ValueError(msg)
    if not chosen or len(set(chosen)) != len(chosen):
        msg = "expected a non-empty list of distinct metric names"
        raise ValueError(msg)
    return tuple(sorted(chosen))


def row_layout(names: tuple[str, ...], steps: int, start_quarter: int) -> RowLayout:
    """Build the :class:`RowLayout` of the given (validated) metrics."""
    entries: list[tuple[str, str, str]] = []
    for name in names:
        countries, partners = metrics_mod.LAYOUT[name]
        entries.extend((name, c, p) for c in countries or ("",) for p in partners or ("",))
    order = np.array(sorted(range(len(entries)), key=entries.__getitem__), dtype=np.int64)
    F = len(order)
    dates = np.array(
        [metrics_mod.quarter_start(start_quarter + t) for t in range(steps)], dtype="datetime64[ns]"
    )
    label = np.array([entries[i] for i in order], dtype=object).reshape(F, 3)
    return RowLayout(
        metrics=names,
        steps=steps,
        start_quarter=start_quarter,
        order=order,
        step=np.repeat(np.arange(steps, dtype=np.int64), F),
        date=np.repeat(dates, F),
        country=np.tile(label[:, 1], steps),
        partner=np.tile(label[:, 2], steps),
        metric=np.tile(label[:, 0], steps),
    )


# ----------------------------------------------------------------------------- worker


@dataclass(frozen=True)
class ChunkTask:
    """One chunk of replications for a worker (picklable).

    Attributes:
        scenario: the resolved scenario.
        seed: the ensemble seed.
        ids: replication ids of the chunk.
        metrics: metric names to report (validated, sorted).
    """

    scenario: Scenario
    seed: int
    ids: tuple[int, ...]
    metrics: tuple[str, ...]


def simulate_chunk(task: ChunkTask, on_step: Callable[[int], None] | None = None) -> np.ndarray:
    """Advance one chunk of replications in one model and return their values.

    Args:
        task: what to run.
        on_step: called with the chunk size after each quarter (progress; in-process only).

    Returns:
        ``(len(task.ids), rows)`` float64 array, row order of :func:`row_layout`.
    """
    from sim.model import GeoModel  # noqa: PLC0415 - workers import the model lazily

    model = GeoModel(
        scenario=task.scenario, replication_ids=list(task.ids), collect=False, rng=task.seed
    )
    layout = row_layout(task.metrics, model.T, model.start_quarter)
    R, F = model.R, layout.per_step
    by_step = np.empty((model.T, R, F))
    for t in range(model.T):
        model.step()
        snap = metrics_mod.snapshot(model)
        flat = np.concatenate([snap[name].reshape(R, -1) for name in task.metrics], axis=1)
        np.take(flat, layout.order, axis=1, out=by_step[t])
        if on_step is not None:
            on_step(R)
    return np.ascontiguousarray(by_step.transpose(1, 0, 2)).reshape(R, model.T * F)


def ignore_sigint() -> None:
    """Worker initializer: leave Ctrl-C to the parent, which stops the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def process_pool(workers: int) -> Iterator[concurrent.futures.ProcessPoolExecutor]:
    """A process pool whose workers ignore Ctrl-C and are terminated on any error.

    Workers come from a fork server (preloaded with the model), never from a fork of
    this possibly multi-threaded process. On a clean exit the pool shuts down normally.
    On an exception (including ``KeyboardInterrupt``) queued chunks are cancelled and
    the worker processes are terminated at once, so Ctrl-C returns promptly instead of
    waiting for running chunks.
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["sim.ensemble", "sim.model"])
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=ignore_sigint
    )
    try:
        yield pool
    except BaseException:
        processes = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            with contextlib.suppress(Exception):
                proc.terminate()
        raise
    else:
        pool.shutdown(wait=True)


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C back until the block ends (main thread only), then raise it.

    ``submit`` may be starting a worker process; interrupting it half-way leaves a
    child that is neither tracked (so not terminated) nor able to start once this
    process is gone, and it prints a traceback. Deferred, the interrupt arrives as
    soon as ``submit`` returns and :func:`process_pool` stops every worker.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def _executor_workers(executor: Any) -> int:
    return max(1, int(getattr(executor, "_max_workers", 1) or 1))


def _chunk_results(
    tasks: list[ChunkTask], executor: Any, on_step: Callable[[int], None] | None
) -> Iterator[np.ndarray]:
    """Chunk values in task order: in-process, by bounded ``submit``, or by ``map``.

    With ``submit`` at most two chunks per worker are in flight, so finished chunks do
    not pile up in memory while earlier ones are being written.
    """
    if executor is None:
        for task in tasks:
            yield simulate_chunk(task, on_step)
        return
    if not hasattr(executor, "submit"):
        yield from executor.map(simulate_chunk, tasks)
        return
    window = 2 * _executor_workers(executor)
    pending: collections.deque[concurrent.futures.Future[np.ndarray]] = collections.deque()
    try:
        for task in tasks:
            with sigint_deferred():
                pending.append(executor.submit(simulate_chunk, task))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for fut in pending:
            fut.cancel()


# ----------------------------------------------------------------------------- storage


class ValueStore:
    """Every replication's values, in memory or spilled to a temporary file.

    Chunks arrive as ``(r, rows)`` arrays in replication order. In memory they are
    concatenated; spilled, each chunk is written transposed (``rows x r``), so a block
    of columns is one contiguous read per chunk.
    """

    def __init__(self, rows: int, spill_dir: Path | None = None) -> None:
        self.rows = rows
        self.n = 0
        self._blocks: list[np.ndarray] = []
        self._spill_dir = spill_dir
        self._file: Any = None
        self._path: Path | None = None
        self._chunks: list[tuple[int, int]] = []  # (byte offset, replications)

    @property
    def spilled(self) -> bool:
        """Whether the values live in a file."""
        return self._file is not None

    def append(self, values: np.ndarray, expected_total: int) -> None:
        """Add a chunk; spill to disk once ``expected_total`` replications would not fit."""
        too_big = expected_total * self.rows * 8 > MEMORY_STORE_BYTES
        if self._spill_dir is not None and not self.spilled and too_big:
            fd, name = tempfile.mkstemp(prefix=".values-", suffix=".f64", dir=self._spill_dir)
            self._path = Path(name)
            self._file = os.fdopen(fd, "w+b")
            for block in self._blocks:
                self._write(block)
            self._blocks = []
        if self.spilled:
            self._write(values)
        else:
            self._blocks.append(values)
        self.n += len(values)

    def _write(self, values: np.ndarray) -> None:
        offset = self._file.tell()
        np.ascontiguousarray(values.T).tofile(self._file)
        self._chunks.append((offset, len(values)))

    def array(self) -> np.ndarray:
        """All values as one ``(n, rows)`` array (in-memory stores only)."""
        if self.spilled:
            msg = "the values were spilled to disk; read them block by block"
            raise RuntimeError(msg)
        if len(self._blocks) != 1:
            self._blocks = [np.concatenate(self._blocks, axis=0)]
        return self._blocks[0]

    def column_blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first column, (n, width) block)`` over all columns."""
        width = max(1, SUMMARY_BLOCK_BYTES // (8 * max(self.n, 1)))
        if not self.spilled:
            arr = self.array()
            for j0 in range(0, self.rows, width):
                yield j0, arr[:, j0 : j0 + width]
            return
        self._file.flush()
        for j0 in range(0, self.rows, width):
            j1 = min(self.rows, j0 + width)
            parts = []
            for offset, r in self._chunks:
                self._file.seek(offset + j0 * r * 8)
                part = np.fromfile(self._file, dtype=np.float64, count=(j1 - j0) * r)
                parts.append(part.reshape(j1 - j0, r))
            yield j0, np.concatenate(parts, axis=1).T

    def close(self) -> None:
        """Delete the spill file, if any."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None


def summarise(store: ValueStore, layout: RowLayout) -> pd.DataFrame:
    """Mean, median and 5%/95% quantiles over replications of every row.

    Quantiles use linear interpolation between order statistics, as pandas' default.
    """
    probs = {"median": 0.5, **QUANTILES}
    stats = {name: np.empty(layout.rows) for name in ("mean", *probs)}
    for j0, block in store.column_blocks():
        j1 = j0 + block.shape[1]
        stats["mean"][j0:j1] = block.mean(axis=0)
        q = np.quantile(block, list(probs.values()), axis=0)  # one partition for all three
        for i, name in enumerate(probs):
            stats[name][j0:j1] = q[i]
    out = layout.labels()
    for name, col in stats.items():
        out[name] = col
    return out[list(SUMMARY_COLUMNS)]


class TidyWriter:
    """Stream tidy rows to a Parquet file with the schema ``to_parquet`` gives the table."""

    def __init__(self, path: Path, layout: RowLayout) -> None:
        self.layout = layout
        sample = tidy_frame(np.zeros((1, 1)), np.zeros(1, dtype=np.int64), layout, columns=1)
        self.schema = pa.Table.from_pandas(sample, preserve_index=False).schema
        self._labels: dict[str, tuple[pa.Array, np.ndarray]] = {}
        for col in ("country", "partner", "metric"):
            labels = getattr(layout, col)
            uniq, codes = np.unique(labels.astype(str), return_inverse=True)
            self._labels[col] = (
                pa.array(uniq.tolist(), type=self.schema.field(col).type),
                codes.astype(np.int32),
            )
        self._writer = pq.ParquetWriter(path, self.schema)
        self.rows_written = 0

    def write(self, values: np.ndarray, ids: np.ndarray) -> None:
        """Append the rows of ``len(ids)`` replications (``values`` is ``(r, rows)``)."""
        lay = self.layout
        for i in range(0, len(ids), ROW_GROUP_REPLICATIONS):
            part, rid = values[i : i + ROW_GROUP_REPLICATIONS], ids[i : i + ROW_GROUP_REPLICATIONS]
            r = len(rid)
            cols: dict[str, pa.Array] = {
                "replication": pa.array(np.repeat(rid.astype(np.int64), lay.rows)),
                "step": pa.array(np.tile(lay.step, r)),
                "date": pa.array(np.tile(lay.date, r), type=self.schema.field("date").type),
            }
            for col, (uniq, codes) in self._labels.items():
                cols[col] = uniq.take(pa.array(np.tile(codes, r)))
            cols["value"] = pa.array(part.reshape(-1))
            table = pa.table([cols[n] for n in self.schema.names], schema=self.schema)
            self._writer.write_table(table, row_group_size=len(table))
            self.rows_written += len(table)

    def close(self) -> None:
        """Finish the file."""
        self._writer.close()


def tidy_frame(
    values: np.ndarray, ids: np.ndarray, layout: RowLayout, columns: int | None = None
) -> pd.DataFrame:
    """The tidy table of ``values`` (``(r, rows)``) for replication ``ids``.

    Args:
        values: per-replication values in layout order.
        ids: replication id of each row of ``values``.
        layout: the row layout.
        columns: use only the first ``columns`` rows of the layout (schema samples).
    """
    n = layout.rows if columns is None else columns
    r = len(ids)
    return pd.DataFrame(
        {
            "replication": np.repeat(np.asarray(ids, dtype=np.int64), n),
            "step": np.tile(layout.step[:n], r),
            "date": np.tile(layout.date[:n], r),
            "country": np.tile(layout.country[:n], r),
            "partner": np.tile(layout.partner[:n], r),
            "metric": np.tile(layout.metric[:n], r),
            "value": values[:, :n].reshape(-1),
        }
    )


# ----------------------------------------------------------------------------- API


@dataclass
class EnsembleResult:
    """What :func:`run_ensemble` returns.

    Attributes:
        scenario: the resolved scenario.
        seed: the seed every replication's stream derives from.
        replication_ids: the replication ids, sorted.
        layout: the per-replication row layout.
        summary: mean, median, q05, q95 per (step, date, country, partner, metric).
        values: ``(replications, rows)`` values in layout order, or None when they were
            spilled to disk (read :attr:`path` instead).
        path: the Parquet file the tidy rows were streamed to, if any.
        timings_s: wall-clock seconds spent simulating (including writing) and summarising.
    """

    scenario: Scenario
    seed: int
    replication_ids: np.ndarray
    layout: RowLayout
    summary: pd.DataFrame
    values: np.ndarray | None = None
    path: Path | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def timeseries(self) -> pd.DataFrame:
        """The tidy table (columns of ``timeseries.parquet``), built on first access."""
        if self.values is not None:
            return tidy_frame(self.values, self.replication_ids, self.layout)
        if self.path is not None:
            return pd.read_parquet(self.path)
        msg = "no values kept in memory and no Parquet file"
        raise RuntimeError(msg)

    def metric_array(self, metric: str) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
        """One metric's values as ``(replications, steps, countries, partners)``.

        Returns:
            ``(array, countries, partners)``, the labels sorted as in the tidy table
            (``("",)`` where the metric has no such axis).
        """
        if self.values is None:
            msg = "metric_array needs the values in memory"
            raise RuntimeError(msg)
        cols = self.layout.columns_of(metric)
        if cols.size == 0:
            msg = f"metric {metric!r} was not recorded"
            raise KeyError(msg)
        countries = tuple(dict.fromkeys(self.layout.country[cols]))
        partners = tuple(dict.fromkeys(self.layout.partner[cols]))
        arr = self.values[:, cols].reshape(
            len(self.replication_ids), self.layout.steps, len(countries), len(partners)
        )
        return arr, countries, partners


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


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm  # noqa: PLC0415

    return tqdm(
        total=total,
        unit="rep",
        delay=1.0,
        file=sys.stderr,
        bar_format="{l_bar}{bar}| {n:.0f}/{total} replications [{elapsed}<{remaining}]",
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
) -> EnsembleResult:
    """Run many replications of a scenario; return the tidy table and its summary.

    Args:
        scenario: a :class:`Scenario`, a scenario file, or a resolved scenario mapping.
        replications: run ids ``0..replications-1`` (default 1).
        seed: the seed (default: the scenario's ``seed``).
        executor: a :mod:`concurrent.futures` executor (anything with ``submit`` or
            ``map``) to run chunks on; None runs them in this process.
        chunk_size: replications per model (default :func:`default_chunk_size`).
        replication_ids: run exactly these ids instead (any order; results are sorted).
        out_path: stream the tidy rows to this Parquet file; the values are then kept in
            memory only while they fit :data:`MEMORY_STORE_BYTES`.
        metrics: report only these metrics (default all of :data:`sim.metrics.LAYOUT`).
        progress: show a progress bar on stderr (after one second).

    Returns:
        The :class:`EnsembleResult`.

    Raises:
        ValueError: on bad replication ids, chunk size or metric names.
    """
    sc = coerce_scenario(scenario)
    seed = sc.seed if seed is None else int(seed)
    if seed < 0:
        msg = f"expected a non-negative seed, got {seed}"
        raise ValueError(msg)
    ids = replication_id_array(replications, replication_ids)
    names = check_metrics(metrics)
    layout = row_layout(names, sc.steps, sc.start_quarter)
    workers = 1 if executor is None else _executor_workers(executor)
    size = default_chunk_size(len(ids), workers) if chunk_size is None else int(chunk_size)
    if size < 1:
        msg = f"expected a positive chunk size, got {size}"
        raise ValueError(msg)
    chunks = [ids[i : i + size] for i in range(0, len(ids), size)]
    tasks = [ChunkTask(sc, seed, tuple(int(k) for k in c), names) for c in chunks]

    path = Path(out_path) if out_path is not None else None
    store = ValueStore(layout.rows, spill_dir=path.parent if path is not None else None)
    writer = TidyWriter(path, layout) if path is not None else None
    bar = _progress_bar(len(ids), progress)
    steps = layout.steps

    def tick(n: int) -> None:
        bar.update(n / steps)

    try:
        t0 = time.perf_counter()
        start = 0
        in_process = executor is None and bar is not None
        for values in _chunk_results(tasks, executor, tick if in_process else None):
            chunk_ids = ids[start : start + len(values)]
            start += len(values)
            if bar is not None and not in_process:
                bar.update(len(values))
            if writer is not None:
                writer.write(values, chunk_ids)
            store.append(values, len(ids))
        if writer is not None:
            writer.close()
            writer = None
        t1 = time.perf_counter()
        summary = summarise(store, layout)
        t2 = time.perf_counter()
        values_kept = None if store.spilled else store.array()
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
        store.close()
    return EnsembleResult(
        scenario=sc,
        seed=seed,
        replication_ids=ids,
        layout=layout,
        summary=summary,
        values=values_kept,
        path=path,
        timings_s={"simulate": round(t1 - t0, 4), "summarise": round(t2 - t1, 4)},
    )


# ----------------------------------------------------------------------------- run folder


def id_summary(ids: np.ndarray) -> list[int] | dict[str, int]:
    """Ids for the manifest: a list, or ``{"first", "last", "count"}`` for a full range."""
    if len(ids) > 100 and ids[-1] - ids[0] + 1 == len(ids):
        return {"first": int(ids[0]), "last": int(ids[-1]), "count": len(ids)}
    return [int(k) for k in ids]


def run_ensemble_folder(
    path: str | Path,
    *,
    replications: int | None = None,
    replication_ids: Sequence[int] | None = None,
    seed: int | None = None,
    overrides: list[str] | None = None,
    workers: int = 1,
    chunk_size: int | None = None,
    metrics: Iterable[str] | None = None,
    out: str | Path | None = None,
    results: str | Path = "results",
    plots: bool = True,
    progress: bool = False,
    scenario: Scenario | None = None,
) -> Path:
    """Run an ensemble of a scenario file and write its run folder.

    The folder holds ``manifest.json``, ``scenario.yaml``, ``timeseries.parquet`` (every
    replication's tidy rows), ``summary.parquet`` (see :func:`summarise`) and, unless
    ``plots`` is false, ``plots/*.png`` drawn from the first
    :data:`PLOT_REPLICATIONS` replications. It is written under a temporary name and
    renamed into place at the end (:func:`sim.runner.atomic_dir`).

    Args:
        path: the scenario YAML file.
        replications: run ids ``0..replications-1``.
        replication_ids: run exactly these ids instead.
        seed: the seed; default the scenario's ``seed``.
        overrides: ``key.path=value`` strings (``--set``).
        workers: processes; more than one uses a :func:`process_pool`.
        chunk_size: replications per model.
        metrics: report only these metrics.
        out: the run folder (must not exist or be empty); default a new folder under
            ``results/<scenario>/``.
        results: the results root for the default folder.
        plots: also render the plots.
        progress: show a progress bar on stderr.
        scenario: ``path`` with ``overrides`` already loaded (the CLI loads it before
            the heavy imports, so bad input fails fast); loaded here if None.

    Returns:
        The run folder.

    Raises:
        ScenarioError: for bad input, before anything is written.
    """
    from sim import runner  # noqa: PLC0415 - keeps `casim validate` light

    overrides = list(overrides or [])
    t0 = time.perf_counter()
    if scenario is None:
        scenario = load_scenario(path, overrides)
    seed = runner.run_seed(scenario, seed, path)
    try:
        ids = replication_id_array(replications, replication_ids)
    except ValueError as err:
        flag = "--replication-ids" if replication_ids is not None else "--replications"
        raise ScenarioError(path, flag, str(err)) from None
    try:
        names = check_metrics(metrics)
    except ValueError as err:
        raise ScenarioError(path, "--metrics", str(err)) from None
    if workers < 1:
        raise ScenarioError(path, "--workers", f"expected a positive integer, got {workers}")
    if chunk_size is not None and chunk_size < 1:
        raise ScenarioError(path, "--chunk-size", f"expected a positive integer, got {chunk_size}")
    final = Path(out) if out is not None else None
    if final is not None:
        runner.check_out_dir(final)
    else:
        final = runner.default_run_dir(Path(results), scenario.name, seed, scenario.digest())
    t_load = time.perf_counter() - t0

    with runner.atomic_dir(final) as tmp, contextlib.ExitStack() as stack:
        pool = stack.enter_context(process_pool(workers)) if workers > 1 else None
        result = run_ensemble(
            scenario,
            seed=seed,
            replication_ids=ids,
            executor=pool,
            chunk_size=chunk_size,
            out_path=tmp / "timeseries.parquet",
            metrics=names,
            progress=progress,
        )
        t2 = time.perf_counter()
        result.summary.to_parquet(tmp / "summary.parquet", index=False)
        (tmp / "scenario.yaml").write_text(scenario.to_yaml(), encoding="utf-8")
        t_write = time.perf_counter() - t2
        t3 = time.perf_counter()
        written, plot_ids, plot_note = _ensemble_plots(result, tmp, plots)
        t_plot = time.perf_counter() - t3
        manifest = runner.base_manifest(scenario, path, overrides, seed)
        manifest |= {
            "replications": len(ids),
            "replication_ids": id_summary(ids),
            "metrics": list(names),
            "workers": workers,
            "chunk_size": chunk_size or default_chunk_size(len(ids), workers),
            "rows": int(len(ids) * result.layout.rows),
            "summary": {"quantiles": list(QUANTILES.values()), "method": "linear"},
            "plots": [p.name for p in written],
            "plots_replications": plot_ids,
            "plots_note": plot_note,
            "timings_s": {
                "load": round(t_load, 4),
                "simulate": result.timings_s["simulate"],
                "summarise": result.timings_s["summarise"],
                "write": round(t_write, 4),
                "plots": round(t_plot, 4),
            },
        }
        runner.write_manifest(tmp, manifest)
    return final


def _ensemble_plots(
    result: EnsembleResult, folder: Path, enabled: bool
) -> tuple[list[Path], int, str | None]:
    """Draw :func:`sim.plots.save_all` from the first :data:`PLOT_REPLICATIONS` ids."""
    if not enabled:
        return [], 0, None
    from sim import plots as plotting  # noqa: PLC0415 - matplotlib only when plotting

    ids = result.replication_ids[:PLOT_REPLICATIONS]
    if result.values is not None:
        df = tidy_frame(result.values[: len(ids)], ids, result.layout)
    else:
        df = pd.read_parquet(
            folder / "timeseries.parquet", filters=[("replication", "in", [int(k) for k in ids])]
        )
    try:
        written = plotting.save_all(df, folder / "plots")
    except ValueError as err:  # a metric subset without what the figures need
        return [], 0, f"plots skipped: {err}"
    note = None
    if len(ids) < len(result.replication_ids):
        note = f"figures drawn from the first {len(ids)} of {len(result.replication_ids)} ids"
    return written, len(ids), note
