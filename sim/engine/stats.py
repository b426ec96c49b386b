"""Order statistics for ``casim compare``'s unpaired bands, without numpy's overheads.

The unpaired band of a comparison (:func:`sim.studies.compare.unpaired_band`) takes the
5% and 95% quantiles of ``R * 20`` re-paired changes in every cell and quarter: 32
million values for 1,000 replications of the influence shares. :func:`numpy.quantile`
builds that pool in many passes and then partitions each cell's values around six
ranks at once, which takes numpy's slow multi-rank path. :func:`unpaired_interval`
fills the pool in one compiled pass (numba), partitions around one rank at a time
(numpy's fast single-rank path, twice) and interpolates exactly as
:func:`numpy.quantile` does with ``method="linear"``, so the numbers are the same bit
for bit (``tests/test_compare.py``). A block with an undefined change (a level whose
reference is 0) goes through :func:`numpy.nanquantile` itself. ``CASIM_KERNELS=0`` turns
the compiled fill off (numpy then builds the pool).
"""

from __future__ import annotations

import os
import warnings

import numba
import numpy as np

#: Whether the pool is filled by the compiled kernel (``CASIM_KERNELS=0`` turns it off).
ENABLED = os.environ.get("CASIM_KERNELS", "1") != "0"
#: Bytes of re-paired changes held at a time.
BLOCK_BYTES = 32 << 20


@numba.njit(cache=True, nogil=True)
def _fill_pool(a: np.ndarray, b: np.ndarray, shifts: int, level: bool, out: np.ndarray) -> None:
    """``out[m, (s - 1) R + k]`` = change from ``a[m, (k + s) % R]`` to ``b[m, k]``."""
    M, R = a.shape
    for m in range(M):
        for s in range(1, shifts + 1):
            base = (s - 1) * R
            for k in range(R):
                j = k + s
                j = j - R if j >= R else j
                av, bv = a[m, j], b[m, k]
                if not level:
                    out[m, base + k] = 100.0 * (bv - av)
                elif av == 0.0:
                    out[m, base + k] = 0.0 if bv == 0.0 else np.nan
                else:
                    out[m, base + k] = 100.0 * (bv - av) / abs(av)


def _pool(a: np.ndarray, b: np.ndarray, shifts: int, level: bool) -> np.ndarray:
    """The re-paired changes of ``(cells, R)`` values, one row per cell."""
    M, R = a.shape
    out = np.empty((M, shifts * R))
    if ENABLED:
        _fill_pool(a, b, shifts, level, out)
        return out
    for s in range(1, shifts + 1):
        ref = np.roll(a, -s, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = 100.0 * (b - ref) if not level else 100.0 * (b - ref) / np.abs(ref)
        if level:
            d = np.where(ref == 0, np.where(b == 0, 0.0, np.nan), d)
        out[:, (s - 1) * R : s * R] = d
    return out


def _linear(pool: np.ndarray, q: float) -> np.ndarray:
    """The ``linear`` quantile of each row of a NaN-free ``pool``, as numpy computes it.

    Virtual index ``v = (n - 1) q``; the neighbours ``floor(v)`` and the next one (both
    the last from ``n - 1`` on); weight ``v - floor(v)``; numpy's two-sided lerp.
    """
    n = pool.shape[1]
    v = (n - 1) * q
    gamma = v - np.floor(v)
    i = n - 1 if v >= n - 1 else int(np.floor(v))
    pool.partition(i, axis=1)
    lo = pool[:, i].copy()
    hi = lo if i == n - 1 else pool[:, i + 1 :].min(axis=1)
    diff = hi - lo
    return hi - diff * (1.0 - gamma) if gamma >= 0.5 else lo + diff * gamma


def unpaired_interval(
    b: np.ndarray, a: np.ndarray, kind: str, shifts: int, interval: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles over the re-paired changes ``a_{k+s}`` to ``b_k``, ``s = 1..shifts``.

    Args:
        b: ``(R, ...)`` values of a scenario.
        a: ``(R, ...)`` values of the reference scenario.
        kind: ``share`` (change in percentage points) or ``level`` (in percent of
            ``a``: 0 where both are 0, left out where only ``a`` is).
        shifts: re-pairings pooled (``1 <= shifts < R``).
        interval: the lower and upper quantile.

    Returns:
        ``(lo, hi)``, each shaped ``a.shape[1:]``; NaN where no change is defined.
    """
    R = a.shape[0]
    flat_a = np.ascontiguousarray(a.reshape(R, -1).T, dtype=np.float64)  # (cells, R)
    flat_b = np.ascontiguousarray(b.reshape(R, -1).T, dtype=np.float64)
    M = flat_a.shape[0]
    lo, hi = np.empty(M), np.empty(M)
    rows = max(1, BLOCK_BYTES // (8 * shifts * R))
    for m0 in range(0, M, rows):
        pool = _pool(flat_a[m0 : m0 + rows], flat_b[m0 : m0 + rows], shifts, kind != "share")
        if np.isnan(pool).any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells stay NaN
                lo[m0 : m0 + rows], hi[m0 : m0 + rows] = np.nanquantile(pool, interval, axis=1)
            continue
        lo[m0 : m0 + rows] = _linear(pool, interval[0])
        hi[m0 : m0 + rows] = _linear(pool, interval[1])
    return lo.reshape(a.shape[1:]), hi.reshape(a.shape[1:])


def warm_up() -> None:
    """Load (or compile) the kernel now: the first call in a process takes about a second."""
    if ENABLED:
        values = np.arange(6.0).reshape(3, 2)
        unpaired_interval(values, values + 1.0, "level", 2, (0.05, 0.95))


def warm_up_kernels() -> None:
    """Load (or compile) the model's kernels and this module's, in this process.

    Before forking children (a scenario run aside, the drawing processes), so that they
    inherit the loaded machine code instead of each loading it again (about a second of
    CPU apiece that the simulation would lose).
    """
    from sim.core.mechanisms import compiled  # noqa: PLC0415

    kernels = compiled()
    if kernels is not None:
        kernels.warm_up()
    warm_up()
