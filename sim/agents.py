"""Compatibility shim: the agents now live in :mod:`sim.core.agents` (removed at merge)."""

from sim.core.agents import CentralAsianState, Country, GreatPower
from sim.core.params import sector_commodity_matrix
from sim.core.policies import LEARNED_WEIGHT, SECTOR_RETURN

__all__ = [
    "LEARNED_WEIGHT",
    "SECTOR_RETURN",
    "CentralAsianState",
    "Country",
    "GreatPower",
    "sector_commodity_matrix",
]
