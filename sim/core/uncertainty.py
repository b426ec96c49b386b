"""Parameter uncertainty: per-replication behavioural parameters drawn from a sample.

A :class:`ParameterSample` is a table of parameter vectors (one row per draw, columns
named by scenario key paths such as ``behaviour.price_sensitivity`` or
``behaviour.channel_weights.trade``) with weights. The shipped posterior
(:data:`POSTERIOR_FILE`, written by ``casim calibrate --method abc``,
docs/calibration.md) is one.

Replication ``k`` of a model with seed ``seed`` takes the row drawn (by weight) from
its own generator, ``SeedSequence(seed, spawn_key=(k, PARAMETER_STREAM))``, a stream the
noise of :mod:`sim.core.noise` does not use. So the draw depends on (sample, seed, k)
alone: batch-invariant, and in a paired comparison replication ``k`` has the same
parameters in both scenarios (common random numbers). A sample with ``by_id`` set gives
replication ``k`` row ``k`` instead (the ABC's particles, one replication each).

:func:`apply_draws` turns the drawn rows into ``(R,)`` (``(R, CH)`` for the channel
weights) arrays in :class:`~sim.core.params.Params`; the phases broadcast them over the
replication axis (:func:`sim.core.params.per_rep`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.core.noise import N_STREAMS
from sim.vocab import CHANNELS, POWERS

if TYPE_CHECKING:
    from sim.core.params import Params

#: The posterior shipped with the package (``casim calibrate --method abc``).
POSTERIOR_FILE = Path(__file__).resolve().parents[1] / "data" / "posterior.csv"
#: The SeedSequence stream index of the parameter draw (after the noise streams).
PARAMETER_STREAM = N_STREAMS
#: Sampled key path -> (``Params`` field, column of a per-channel field or None).
FIELDS: dict[str, tuple[str, int | None]] = {
    "behaviour.price_sensitivity": ("price_sensitivity", None),
    "behaviour.alignment_sensitivity": ("alignment_sensitivity", None),
    "behaviour.hedging": ("hedging_scale", None),
    "behaviour.eaeu_preference": ("eaeu_preference", None),
    "behaviour.influence_decay": ("influence_decay", None),
    "behaviour.award_sensitivity": ("award_sensitivity", None),
    "behaviour.route_ramp": ("route_ramp", None),
    **{f"behaviour.channel_weights.{ch}": ("channel_weights", i) for i, ch in enumerate(CHANNELS)},
    # initial annual programme budgets, (R, P) in Params and State (experiments sample them;
    # a budget_change event still replaces them); the column is the power's vocabulary index
    **{f"powers.{p}.budget": ("budget0", i) for i, p in enumerate(POWERS)},
}
#: Admissible range of each sampled parameter (the schema's, made finite).
SUPPORT: dict[str, tuple[float, float]] = {
    "behaviour.price_sensitivity": (0.0, 100.0),
    "behaviour.alignment_sensitivity": (0.0, 100.0),
    "behaviour.hedging": (0.0, 20.0),
    "behaviour.eaeu_preference": (0.0, 20.0),
    "behaviour.influence_decay": (1e-6, 1.0),
    "behaviour.award_sensitivity": (0.0, 100.0),
    "behaviour.route_ramp": (0.0, 1.0),
    **{f"behaviour.channel_weights.{ch}": (0.0, 1000.0) for ch in CHANNELS},
    **{f"powers.{p}.budget": (0.0, 1000.0) for p in POWERS},
}
#: Modes of ``--parameter-uncertainty``.
MODES = ("posterior", "fixed")


class ParameterSampleError(ValueError):
    """A parameter sample file that cannot be used (message: ``key: what was expected``)."""


@dataclass(frozen=True, eq=False)
class ParameterSample:
    """Parameter vectors to draw from.

    Attributes:
        keys: sampled key paths (in :data:`FIELDS`).
        values: ``(N, len(keys))`` parameter values, one row per draw.
        weights: ``(N,)`` non-negative weights summing to 1.
        by_id: replication ``k`` takes row ``k`` (needs ids below ``N``) instead of a
            weighted draw.
        digest: sha256 of the file the sample came from ("" if built in memory).
        source: the file's path ("" if built in memory).
    """

    keys: tuple[str, ...]
    values: np.ndarray
    weights: np.ndarray
    by_id: bool = False
    digest: str = ""
    source: str = ""

    @property
    def n(self) -> int:
        """Number of draws."""
        return len(self.values)

    def rows_for(self, seed: int, ids: np.ndarray) -> np.ndarray:
        """``(R,)`` sample row of each replication id (see the module docstring)."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.by_id:
            if (ids >= self.n).any():
                msg = f"replication ids must be below the sample's {self.n} rows"
                raise ValueError(msg)
            return ids
        cdf = np.cumsum(self.weights)
        cdf /= cdf[-1]
        u = np.array(
            [
                np.random.default_rng(
                    np.random.SeedSequence(seed, spawn_key=(int(k), PARAMETER_STREAM))
                ).random()
                for k in ids
            ]
        )
        return np.minimum(np.searchsorted(cdf, u, side="right"), self.n - 1)

    def table(self) -> pd.DataFrame:
        """The sample as a table: ``draw``, ``weight`` and one column per key."""
        frame = pd.DataFrame(self.values, columns=list(self.keys))
        frame.insert(0, "weight", self.weights)
        frame.insert(0, "draw", np.arange(self.n))
        return frame

    def without(self, keys: set[str] | frozenset[str]) -> ParameterSample:
        """The sample with ``keys`` dropped (those parameters keep the scenario's value)."""
        keep = [i for i, k in enumerate(self.keys) if k not in keys]
        return dataclasses.replace(
            self, keys=tuple(self.keys[i] for i in keep), values=self.values[:, keep]
        )


@dataclass(frozen=True, eq=False)
class SlotSample:
    """Design rows of an experiment, one per model slot (:mod:`sim.studies.experiments`).

    A model running several design points at once has replication ids that repeat
    (``0..R-1`` once per point: the same noise for every point); slot ``s`` takes row
    ``rows[s]`` of :attr:`values` whatever its id and the seed.

    Attributes:
        keys: key paths in :data:`FIELDS`.
        values: ``(points, len(keys))`` design values.
        rows: ``(slots,)`` the design row of each slot of the model.
    """

    keys: tuple[str, ...]
    values: np.ndarray
    rows: np.ndarray

    def rows_for(self, seed: int, ids: np.ndarray) -> np.ndarray:  # noqa: ARG002 - protocol
        """The design row of each slot (``ids`` must be the model's slots, in order)."""
        if len(ids) != len(self.rows):
            msg = f"expected {len(self.rows)} replication ids (one per slot), got {len(ids)}"
            raise ValueError(msg)
        return np.asarray(self.rows, dtype=np.int64)


def sample_from_table(
    frame: pd.DataFrame, source: str = "", digest: str = "", *, by_id: bool = False
) -> ParameterSample:
    """Validate a table (``weight`` optional, ``draw`` ignored, the rest key paths).

    Raises:
        ParameterSampleError: for an unknown key, a missing or non-finite value, a value
            outside :data:`SUPPORT`, a bad weight or no rows.
    """
    keys = tuple(c for c in frame.columns if c not in {"draw", "weight"})
    if frame.empty or not keys:
        msg = "expected at least one row and one parameter column"
        raise ParameterSampleError(msg)
    for key in keys:
        if key not in FIELDS:
            msg = f"{key}: unknown parameter; expected one of {', '.join(FIELDS)}"
            raise ParameterSampleError(msg)
        col = pd.to_numeric(frame[key], errors="coerce").to_numpy(dtype=float)
        lo, hi = SUPPORT[key]
        if not np.isfinite(col).all() or (col < lo).any() or (col > hi).any():
            msg = f"{key}: expected numbers in [{lo}, {hi}] in every row"
            raise ParameterSampleError(msg)
    weights = np.ones(len(frame))
    if "weight" in frame.columns:
        weights = pd.to_numeric(frame["weight"], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
            msg = "weight: expected non-negative numbers with a positive sum"
            raise ParameterSampleError(msg)
    values = frame[list(keys)].to_numpy(dtype=float)
    return ParameterSample(keys, values, weights / weights.sum(), by_id, digest, source)


def load_sample(path: str | Path = POSTERIOR_FILE) -> ParameterSample:
    """Read and validate a sample file (CSV, see :func:`sample_from_table`).

    Raises:
        ParameterSampleError: if the file is missing, unreadable or invalid.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        msg = f"cannot read a parameter table ({type(exc).__name__})"
        raise ParameterSampleError(msg) from exc
    return sample_from_table(frame, str(path), hashlib.sha256(data).hexdigest())


def apply_draws(params: Params, sample: ParameterSample, rows: np.ndarray) -> Params:
    """``params`` with each sampled parameter replaced by its ``(R,)`` (or ``(R, CH)``) draws.

    Parameters the sample does not hold keep their (scalar) scenario values.
    """
    updates: dict[str, np.ndarray] = {}
    R = len(rows)
    for j, key in enumerate(sample.keys):
        name, col = FIELDS[key]
        if name == "budget0":  # the power's index in this scenario's vocabulary
            col = params.vocab.powers.index(key.split(".")[1])
        if col is None:
            updates[name] = sample.values[rows, j].copy()
            continue
        if name not in updates:
            base = np.asarray(getattr(params, name), dtype=float)
            updates[name] = np.tile(base, (R, 1))
        updates[name][:, col] = sample.values[rows, j]
    return dataclasses.replace(params, **updates)


def band_label(mode: str, draws: int | None = None) -> str:
    """What an ensemble's bands carry, for captions and table headers."""
    if mode == "posterior":
        n = f", {draws} draws" if draws else ""
        return f"parameter uncertainty (posterior{n}) and stochastic noise"
    return "stochastic noise only"
