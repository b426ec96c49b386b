"""Will a run fit? Memory and disk estimates, checked before anything runs or is written.

An ensemble holds ``replications x rows`` float64 values (rows per replication from
:func:`sim.output.row_layout`). Streamed to a run folder, the values stay in memory up to
:data:`sim.engine.store.MEMORY_STORE_BYTES` and are spilled to a file in the folder
beyond it, and the tidy rows go to ``timeseries.parquet`` (about
:data:`PARQUET_BYTES_PER_VALUE` bytes a value). Kept in memory (compare, backtest), all
values stay there. Chunks in flight add ``chunk x rows`` values twice each. The
estimates are lower bounds on need, so a run they refuse could not have finished.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from sim.engine.store import MEMORY_STORE_BYTES
from sim.output import row_layout
from sim.scenario import ScenarioError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sim.scenario import Scenario

#: Bytes per value of ``timeseries.parquet`` (measured: 5.7 on the baseline, all metrics).
PARQUET_BYTES_PER_VALUE = 5
MEMINFO = Path("/proc/meminfo")


def estimate(
    rows: int, replications: int, *, chunk_size: int, workers: int, stream: bool
) -> tuple[int, int]:
    """``(memory, disk)`` bytes a run of ``replications x rows`` values needs at least.

    Args:
        rows: values per replication.
        replications: how many replications.
        chunk_size: replications advanced together in one model.
        workers: worker processes (each holds up to two chunks).
        stream: whether the values are streamed to Parquet and may spill to disk.
    """
    values = rows * replications * 8
    spilled = stream and values > MEMORY_STORE_BYTES
    in_flight = (2 * workers if workers > 1 else 1) * min(chunk_size, replications) * rows * 16
    memory = (0 if spilled else values) + in_flight
    disk = (rows * replications * PARQUET_BYTES_PER_VALUE if stream else 0) + (
        values if spilled else 0
    )
    return memory, disk


def available_memory() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes, or None where it cannot be read."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def free_disk(folder: Path) -> int | None:
    """Free bytes where ``folder`` will be (its nearest existing ancestor), or None."""
    path = folder.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def human(n: float) -> str:
    """Bytes as ``1.5 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - the loop returns


def check_fits(
    source: str | Path,
    folder: Path,
    scenarios: Sequence[Scenario],
    metrics: Sequence[str],
    replications: int,
    *,
    chunk_size: int,
    workers: int,
    stream: bool = True,
) -> None:
    """Refuse a run whose estimated memory or disk need exceeds what is available.

    Args:
        source: the file named in the error.
        folder: the run folder to be written (its file system's free space counts).
        scenarios: the scenarios run (their values add up).
        metrics: the metric names recorded.
        replications: replications per scenario.
        chunk_size: replications per model.
        workers: worker processes.
        stream: as for :func:`estimate`.

    Raises:
        ScenarioError: keyed ``replications``, with the estimate and what is available.
    """
    rows = sum(row_layout(metrics, s.steps, s.start_quarter, s.vocab).rows for s in scenarios)
    memory, disk = estimate(
        rows, replications, chunk_size=chunk_size, workers=workers, stream=stream
    )
    have_memory, have_disk = available_memory(), free_disk(folder)
    for kind, need, have in (("memory", memory, have_memory), ("disk", disk, have_disk)):
        if have is not None and need > have:
            msg = (
                f"{replications:,} replications x {rows:,} values need about {human(need)} "
                f"of {kind}, but {human(have)} is available"
            )
            raise ScenarioError(source, "replications", msg)
