"""casim: an agent-based model of great-power competition in Central Asia."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from sim.engine.catalog import Run

__version__ = "0.1.0"
__all__ = ["__version__", "load_run"]


def load_run(path: str | Path, replications: Sequence[int] | None = None) -> Run:
    """Read a run folder: ``sim.load_run("results/baseline/<run>").timeseries``.

    See :func:`sim.engine.catalog.load_run` (imported here on first use, so that
    ``import sim`` stays light).
    """
    from sim.engine.catalog import load_run as _load  # noqa: PLC0415

    return _load(path, replications)
