"""Chunks on a Dask cluster: an :class:`~sim.engine.executors.Executor` over ``distributed``.

``scheduler="local"`` starts a :class:`dask.distributed.LocalCluster` of ``workers``
single-threaded worker processes on this machine (``processes=False``: threads of this
process, for tests); ``scheduler="tcp://HOST:PORT"`` connects to a running scheduler
whose workers have casim installed (``dask scheduler`` and ``dask worker tcp://HOST:PORT
--nthreads 1`` start one). Chunk functions are plain picklable functions, so every
chunk gives the same numbers here as in this process.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


class DaskExecutor:
    """``submit`` onto a :class:`dask.distributed.Client` (futures with ``result``/``cancel``).

    Attributes:
        client: the client.
        workers: threads on the cluster's workers (chunks run at once).
        in_process: False (chunks run in the workers).
    """

    in_process = False

    def __init__(self, client: Any) -> None:
        self.client = client
        info = client.scheduler_info()
        threads = sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values())
        self.workers = max(1, threads)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Schedule ``fn(*args, **kwargs)`` on the cluster (never cached: ``pure=False``)."""
        return self.client.submit(fn, *args, pure=False, **kwargs)


@contextlib.contextmanager
def dask_executor(
    scheduler: str, workers: int = 2, *, processes: bool = True
) -> Iterator[DaskExecutor]:
    """A :class:`DaskExecutor` on a new local cluster or an existing scheduler.

    Args:
        scheduler: ``local`` or a scheduler address (``tcp://HOST:PORT``).
        workers: worker processes of a local cluster (one thread each).
        processes: local workers as processes (False: threads of this process).

    Raises:
        ValueError: for a scheduler that is neither ``local`` nor an address.
        OSError: if the scheduler cannot be reached.
    """
    from dask.distributed import Client, LocalCluster  # noqa: PLC0415 - optional, heavy

    if scheduler == "local":
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
            silence_logs=50,
        )
        with cluster, Client(cluster) as client:
            yield DaskExecutor(client)
        return
    if "://" not in scheduler:
        msg = f"expected local or a scheduler address like tcp://HOST:8786, got {scheduler!r}"
        raise ValueError(msg)
    with Client(scheduler, timeout="10s") as client:
        yield DaskExecutor(client)
