"""Where an ensemble's values go: the value store, the summary, the Parquet writer.

Every replication's values are kept in one float64 array (replications x rows per
replication, filled in place chunk by chunk), which makes the summary exact. When that
array would exceed :data:`MEMORY_STORE_BYTES` and a spill folder is given (runs that
stream to Parquet), :class:`ValueStore` writes it to a temporary file instead and
:func:`summarise` reads it back in column blocks, so memory stays bounded whatever the
number of replications, and grows with it up to that bound (the threshold is small
enough that keeping the values costs no more than summarising spilled ones).
:class:`TidyWriter` streams the tidy rows to Parquet chunk by chunk.

The summary has one row per ``(step, date, country, partner, metric)`` with the
``mean``, ``median`` and the 5% and 95% quantiles (``q05``, ``q95``, linear
interpolation, as :meth:`pandas.Series.quantile`) over replications.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.core.mechanisms import compiled
from sim.output import tidy_frame

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd

    from sim.output import RowLayout

#: The per-replication value array is spilled to disk beyond this many bytes.
MEMORY_STORE_BYTES = 64 << 20
#: Replications per Parquet row group (bounds the Arrow buffers of one write).
ROW_GROUP_REPLICATIONS = 64
#: Row groups waiting for the Parquet writer thread (each about 30 MB).
WRITE_QUEUE = 2
#: Bytes of one column block read back when summarising a spilled store.
SUMMARY_BLOCK_BYTES = 64 << 20
#: Columns transposed and sorted at a time when summarising.
SORT_COLUMNS = 128
#: Quantiles reported in the summary, by column name.
QUANTILES: dict[str, float] = {"q05": 0.05, "q95": 0.95}
#: The empty ``sums`` of :func:`sim.core.kernels.order_statistics`: no column sums.
NO_SUMS = np.empty(0)
SUMMARY_COLUMNS = ("step", "date", "country", "partner", "metric", "mean", "median", "q05", "q95")


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
        self._full: np.ndarray | None = None  # preallocated when the total is known
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
            for block in [*self._blocks, *([self.array()] if self._full is not None else [])]:
                self._write(block)
            self._blocks, self._full = [], None
        if self.spilled:
            self._write(values)
        elif not self._blocks and (self._full is not None or len(values) < expected_total):
            # Fill one preallocated array: no second copy when the chunks are joined.
            if self._full is None:
                self._full = np.empty((expected_total, self.rows))
            self._full[self.n : self.n + len(values)] = values
        else:
            self._blocks.append(values)
        self.n += len(values)

    def _write(self, values: np.ndarray) -> None:
        """Append a chunk transposed, a block of columns at a time (no full copy)."""
        offset = self._file.tell()
        width = max(1, (8 << 20) // (8 * max(len(values), 1)))
        for j0 in range(0, values.shape[1], width):
            np.ascontiguousarray(values[:, j0 : j0 + width].T).tofile(self._file)
        self._chunks.append((offset, len(values)))

    def array(self) -> np.ndarray:
        """All values as one ``(n, rows)`` array (in-memory stores only)."""
        if self.spilled:
            msg = "the values were spilled to disk; read them block by block"
            raise RuntimeError(msg)
        if self._full is not None:
            return self._full[: self.n]
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

    The store holds raw-order values; the summary rows are in tidy order. Quantiles use
    linear interpolation between order statistics, exactly as :func:`numpy.quantile`
    (and pandas' default) computes them: ``x_(lo) + (x_(lo+1) - x_(lo)) t`` with
    ``(n - 1) p = lo + t`` (:func:`quantile_position`, :func:`lerp`). The order
    statistics come from the compiled selection (:func:`sim.core.kernels.order_statistics`,
    the six of them without sorting a column), or with ``CASIM_KERNELS=0`` from one sort
    per block of columns (:func:`summarise_reference`); the same numbers either way.
    The mean is numpy's (``block.mean(axis=0)``) in both: in memory, the selection
    adds each block's columns as numpy does while it copies them (the same sums, bit
    for bit; ``tests/test_kernels.py``) and they are divided by ``n`` here.
    """
    kernels = compiled()
    if kernels is None or store.n == 0:
        return summarise_reference(store, layout)
    probs = {"median": 0.5, **QUANTILES}
    n = store.n
    positions = {name: quantile_position(n, p) for name, p in probs.items()}
    ranks = np.unique([k for lo, hi, _ in positions.values() for k in (lo, hi)])
    bits = np.empty((layout.rows, len(ranks)), dtype=np.uint64)
    mean = np.empty(layout.rows)
    whole = None if store.spilled else np.ascontiguousarray(store.array())
    for j0, block in store.column_blocks():
        j1 = j0 + block.shape[1]
        if whole is not None and j1 - j0 > 1:  # (n, rows): a replication per row
            # the block's column sums, added as numpy's mean adds them, in the same pass
            kernels.order_statistics(
                whole.view(np.uint64), False, j0, ranks, bits[j0:j1], mean[j0:j1]
            )
            mean[j0:j1] /= n
            continue
        mean[j0:j1] = block.mean(axis=0)  # one column: numpy's pairwise sum
        if whole is not None:
            kernels.order_statistics(whole.view(np.uint64), False, j0, ranks, bits[j0:j1], NO_SUMS)
        else:  # read back transposed: (columns, n)
            by_column = np.ascontiguousarray(block.T).view(np.uint64)
            kernels.order_statistics(by_column, True, 0, ranks, bits[j0:j1], NO_SUMS)
    order = bits.view(np.float64)  # column k: order statistic ranks[k] of every row
    index = {int(k): i for i, k in enumerate(ranks)}
    nan = np.isnan(order[:, 0])  # a row with a NaN: NaN throughout
    stats = {"mean": mean}
    for name, (lo, hi, t) in positions.items():
        q = lerp(order[:, index[lo]], order[:, index[hi]], t)
        q[nan] = np.nan
        stats[name] = q
    return _summary_frame(stats, layout)


def summarise_reference(store: ValueStore, layout: RowLayout) -> pd.DataFrame:
    """:func:`summarise` in numpy: the order statistics from sorting every column.

    Columns are sorted :data:`SORT_COLUMNS` at a time, transposed so that each sorts
    contiguously (a sort of contiguous rows is several times faster than numpy's
    strided partition).
    """
    probs = {"median": 0.5, **QUANTILES}
    stats = {name: np.empty(layout.rows) for name in ("mean", *probs)}
    for j0, block in store.column_blocks():
        j1 = j0 + block.shape[1]
        stats["mean"][j0:j1] = block.mean(axis=0)
        for k0 in range(0, block.shape[1], SORT_COLUMNS):  # small tiles stay in cache
            k1 = min(block.shape[1], k0 + SORT_COLUMNS)
            ordered = np.ascontiguousarray(block[:, k0:k1].T)
            ordered.sort(axis=1)
            nan = np.isnan(ordered[:, -1])  # NaN sorts last; numpy's quantile is then NaN
            for name, p in probs.items():
                q = sorted_quantile(ordered, p)
                q[nan] = np.nan
                stats[name][j0 + k0 : j0 + k1] = q
    return _summary_frame(stats, layout)


def _summary_frame(stats: dict[str, np.ndarray], layout: RowLayout) -> pd.DataFrame:
    """The summary table: the labels and ``stats`` (raw order) in tidy row order."""
    out = layout.labels()
    position = layout.raw_position()
    for name, col in stats.items():
        out[name] = col[position]
    return out[list(SUMMARY_COLUMNS)]


def quantile_position(n: int, p: float) -> tuple[int, int, float]:
    """Ranks ``lo``, ``hi`` and weight ``t`` of quantile ``p`` of ``n`` values.

    Numpy's linear method: the virtual index ``(n - 1) p = lo + t``, ``hi = lo + 1``
    (``n - 1`` at most).
    """
    virtual = (n - 1) * p
    lo = int(np.floor(virtual))
    return lo, min(lo + 1, n - 1), virtual - lo


def lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """``a + (b - a) t``, computed as numpy's quantile computes it (its ``_lerp``).

    ``b - (b - a)(1 - t)`` when ``t >= 0.5``, operation for operation, so the result is
    numpy's bit for bit.
    """
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def sorted_quantile(ordered: np.ndarray, p: float) -> np.ndarray:
    """Quantile ``p`` of each row of ``ordered`` (sorted along its last axis).

    The linear method of :func:`numpy.quantile`, operation for operation (its
    ``_lerp``), so the result is bitwise the same for rows without NaN (numpy gives NaN
    for a row with any; :func:`summarise` does too).
    """
    lo, hi, t = quantile_position(ordered.shape[-1], p)
    return lerp(ordered[..., lo], ordered[..., hi], t)


class TidyWriter:
    """Stream tidy rows to a Parquet file with the schema ``to_parquet`` gives the table.

    Encoding Parquet costs about as much as simulating, and pyarrow does it without
    holding the GIL, so a background thread encodes and writes while the caller goes on
    simulating (at most :data:`WRITE_QUEUE` row groups wait). Columns other than
    ``value`` are dictionary-encoded (they repeat); ``pandas.read_parquet`` reads back
    exactly the frame ``DataFrame.to_parquet`` would have written.
    """

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
        # Labels go in as dictionary arrays (Parquet stores them dictionary-encoded
        # anyway, and need not hash 2 million strings per row group). The Arrow schema
        # is not stored, so readers see the plain string columns of the Parquet schema.
        self._write_schema = pa.schema(
            [
                pa.field(
                    f.name, pa.dictionary(pa.int32(), f.type) if f.name in self._labels else f.type
                )
                for f in self.schema
            ],
            metadata=self.schema.metadata,
        )
        dictionary = [n for n in self.schema.names if n != "value"]
        self._writer = pq.ParquetWriter(
            path, self._write_schema, use_dictionary=dictionary, store_schema=False
        )
        self.rows_written = 0
        self._label_columns: tuple[int, dict[str, pa.Array]] = (0, {})
        self._queue: queue.Queue[pa.Table | None] = queue.Queue(maxsize=WRITE_QUEUE)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="casim-parquet", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        """The writer thread: write queued tables until the ``None`` sentinel."""
        while (table := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._writer.write_table(table, row_group_size=len(table))
                except BaseException as err:  # re-raised in the caller by close()
                    self._error = err

    def _label_arrays(self, r: int) -> dict[str, pa.Array]:
        """The label columns of ``r`` replications' rows: built once, then sliced."""
        built, cols = self._label_columns
        if r > built:
            lay = self.layout
            cols = {
                "step": pa.array(np.tile(lay.step, r)),
                "date": pa.array(np.tile(lay.date, r), type=self.schema.field("date").type),
            }
            for col, (uniq, codes) in self._labels.items():
                cols[col] = pa.DictionaryArray.from_arrays(pa.array(np.tile(codes, r)), uniq)
            self._label_columns = (r, cols)
        n = r * self.layout.rows
        return {name: arr.slice(0, n) for name, arr in cols.items()}

    def write(self, values: np.ndarray, ids: np.ndarray) -> None:
        """Append the rows of ``len(ids)`` replications (``values`` is ``(r, rows)``, raw order)."""
        lay = self.layout
        for i in range(0, len(ids), ROW_GROUP_REPLICATIONS):
            rid = ids[i : i + ROW_GROUP_REPLICATIONS]
            part = lay.to_tidy_order(values[i : i + ROW_GROUP_REPLICATIONS])
            cols = self._label_arrays(len(rid))  # the same in every row group
            cols["replication"] = pa.array(np.repeat(rid.astype(np.int64), lay.rows))
            cols["value"] = pa.array(part.reshape(-1))
            table = pa.table([cols[n] for n in self.schema.names], schema=self._write_schema)
            self._raise_error()
            self._queue.put(table)
            self.rows_written += len(table)

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Wait for the queued rows, finish the file; re-raise a failed write."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._writer.close()
        self._raise_error()
