"""Value buffers of chunk results, reused once nothing holds them.

A chunk's values (:func:`sim.engine.ensemble.simulate_chunk`: ``(R, T, per_step)``
floats, 305 MB for 1,000 replications of the baseline) are written into a fresh array
whose pages the kernel must fault in and zero as they are first touched. On a virtual
machine whose host takes back the pages a guest frees, that costs several times the
zeroing (measured here: 0.3-0.5 s per 1,000 replications once other work has freed and
reused memory, against about 0.03 s for pages the process already had). A process that
runs ensemble after ensemble (a notebook, the dashboard, an experiment's designs, the
chunks of a large run, a benchmark's rounds) therefore keeps the buffer of a chunk
result once nothing refers to it any more, and hands it to the next chunk of the same
shape: :func:`chunk_buffer`.

A buffer counts as free only when the last array that uses its memory is gone: the array
:func:`chunk_buffer` returns is a view of a :class:`_Lease` (through the buffer protocol),
and every array made from it (slices, reshapes, xarray's variables, Arrow's zero-copy
columns) keeps the lease alive; the lease's finaliser returns the buffer. A reused
buffer holds the old values until they are overwritten: every caller writes every value
(as with ``np.empty``). One free buffer of each shape is kept, at most :data:`KEEP_BYTES`
in all; the rest are freed as usual, and :func:`release` frees all of them.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Buffer

import numpy as np

#: The most bytes of free buffers a process keeps for reuse, over all shapes (an
#: assumption: about 3,500 baseline replications' values; a chunked run of the baseline
#: keeps one chunk's, 305 MB).
KEEP_BYTES = 1 << 30

# Reentrant, and nothing that could start a garbage collection (which may run a lease's
# finaliser) is allocated while it is held.
_LOCK = threading.RLock()
_FREE: dict[tuple[int, ...], np.ndarray] = {}  # one free buffer per shape
_kept = [0]  # bytes of the free buffers


class _Lease(Buffer):
    """Exports its buffer's memory; it lives as long as any array made from it."""

    __slots__ = ("__weakref__", "owner")

    def __init__(self, owner: np.ndarray) -> None:
        self.owner = owner

    def __buffer__(self, flags: int, /) -> memoryview:
        """The buffer's memory (writable)."""
        return memoryview(self.owner)

    def __release_buffer__(self, view: memoryview, /) -> None:
        """Release the view :meth:`__buffer__` gave."""
        view.release()


def chunk_buffer(shape: tuple[int, ...]) -> np.ndarray:
    """A float64 array of ``shape``, uninitialised: a free buffer of that shape, or new.

    Args:
        shape: the array's shape.

    Returns:
        A C-ordered, writable array; its memory returns to the free buffers when no
        array uses it any more.
    """
    shape = tuple(int(n) for n in shape)
    with _LOCK:
        owner = _FREE.pop(shape, None)
        if owner is not None:
            _kept[0] -= owner.nbytes
    if owner is None:
        owner = np.empty(shape)
    lease = _Lease(owner)
    done = weakref.finalize(lease, _give_back, owner)
    done.atexit = False  # nothing to keep at exit
    return np.frombuffer(lease, dtype=np.float64).reshape(shape)


def _give_back(owner: np.ndarray) -> None:
    """Keep ``owner`` for reuse if it is the only free one of its shape and within bounds.

    One per shape: a run's chunks then never hold more memory than without reuse (a
    chunk takes the free buffer if there is one; a new one only when there is none,
    as it would anyway).
    """
    shape, size = owner.shape, owner.nbytes
    with _LOCK:
        if shape not in _FREE and _kept[0] + size <= KEEP_BYTES:
            _FREE[shape] = owner
            _kept[0] += size


def kept_bytes() -> int:
    """Bytes of the free buffers kept for reuse."""
    with _LOCK:
        return _kept[0]


def release() -> int:
    """Free every kept buffer (memory goes back to the allocator); returns their bytes."""
    with _LOCK:
        freed = _kept[0]
        _FREE.clear()
        _kept[0] = 0
    return freed
