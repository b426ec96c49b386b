"""Compatibility shim: the model now lives in :mod:`sim.core` (removed at merge)."""

from sim.core.model import DEFAULT_SCENARIO, GeoModel
from sim.core.noise import N_STREAMS, replication_generators

__all__ = ["DEFAULT_SCENARIO", "N_STREAMS", "GeoModel", "replication_generators"]
