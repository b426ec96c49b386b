"""Reused chunk buffers (sim.engine.buffers): freed only when nothing uses them, bounded."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from sim.engine import buffers
from sim.engine import ensemble as ens
from sim.scenario import Scenario

SHAPE = (3, 4, 5)


def address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


@pytest.fixture(autouse=True)
def empty_pool() -> None:
    buffers.release()


def test_a_buffer_is_reused_only_once_no_array_uses_it() -> None:
    a = buffers.chunk_buffer(SHAPE)
    assert a.shape == SHAPE
    assert a.dtype == np.float64
    assert a.flags.c_contiguous
    assert a.flags.writeable
    first = address(a)
    view = a.reshape(3, 20)[1:]  # made from it: keeps its memory in use
    del a
    gc.collect()
    b = buffers.chunk_buffer(SHAPE)
    assert not np.shares_memory(b, view)
    assert buffers.kept_bytes() == 0
    del view
    assert buffers.kept_bytes() == 8 * 60  # the first buffer is free now
    c = buffers.chunk_buffer(SHAPE)
    assert address(c) == first
    assert buffers.kept_bytes() == 0
    d = buffers.chunk_buffer((2, 30))  # another shape: a new buffer
    assert not np.shares_memory(d, c)
    assert not np.shares_memory(d, b)


def test_one_free_buffer_per_shape_within_the_bound_and_release_frees_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = buffers.chunk_buffer(SHAPE), buffers.chunk_buffer(SHAPE)
    del a, b
    assert buffers.kept_bytes() == 8 * 60  # one of the shape: the other is freed
    monkeypatch.setattr(buffers, "KEEP_BYTES", 8 * 60 + 8 * 40 - 1)  # no room for both
    c = buffers.chunk_buffer((4, 10))
    del c
    assert buffers.kept_bytes() == 8 * 60
    assert buffers.release() == 8 * 60
    assert buffers.kept_bytes() == 0


def test_an_ensemble_in_a_reused_buffer_has_the_same_values(short_loaded: Scenario) -> None:
    """Same seed, same data, whether the chunk's buffer is new or a dropped result's."""
    fresh = ens.run_ensemble(short_loaded, replications=4, seed=3)
    assert fresh.values is not None
    expected = fresh.values.copy()
    fresh.values[...] = np.nan  # what the next run finds in the buffer
    del fresh
    gc.collect()
    assert buffers.kept_bytes() == expected.nbytes
    again = ens.run_ensemble(short_loaded, replications=4, seed=3)
    assert buffers.kept_bytes() == 0  # it took the dropped result's buffer
    assert again.values is not None
    np.testing.assert_array_equal(again.values, expected)
    assert not np.isnan(again.summary[["mean", "median", "q05", "q95"]].to_numpy()).any()
