"""The model core: parameters, state, noise, mechanisms, phases, policies, agents, model.

Data flows one way: a validated scenario becomes frozen :class:`Params`; the model
draws its :class:`Noise`, builds the initial :class:`State` and its
:class:`Calibration`, and each step runs the phases of :mod:`sim.core.phases` (the
agents call :mod:`sim.core.policies`); :mod:`sim.core.observe` reads the state for
reporting.
"""

from sim.core.model import GeoModel
from sim.core.noise import N_STREAMS, Noise, draw_noise, replication_generators
from sim.core.params import Params
from sim.core.state import Calibration, State, calibrate, initial_state

__all__ = [
    "N_STREAMS",
    "Calibration",
    "GeoModel",
    "Noise",
    "Params",
    "State",
    "calibrate",
    "draw_noise",
    "initial_state",
    "replication_generators",
]
