"""The per-replication random numbers: SeedSequence streams and the draws made from them.

Replication ``k`` of a model with seed ``seed`` draws from :data:`N_STREAMS`
independent generators, stream ``j`` seeded by ``SeedSequence(seed, spawn_key=(k, j))``
(prices, disruption arrivals, disruption durations, programme completions, named
projects). Every number is drawn when the model is built, so replication ``k``'s
trajectory depends only on (scenario, seed, k), never on which other replications
share its batch. Disruption and project draws are laid out item by item, so scenarios
that share a prefix of their ``disruptions`` and ``projects`` lists (as children of one
parent do) share those items' numbers: common random numbers across scenarios.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sim.core.params import Params

N_STREAMS = 5  # prices, disruption arrivals, disruption durations, programme, named projects


def replication_generators(seed: int, ids: np.ndarray) -> list[list[np.random.Generator]]:
    """Per replication id, its independent generators, derived from (seed, id) alone.

    Stream ``j`` of replication ``k`` is seeded by ``SeedSequence(seed, spawn_key=(k, j))``.
    """
    return [
        [
            np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(k), j)))
            for j in range(N_STREAMS)
        ]
        for k in ids
    ]


@dataclass(frozen=True, eq=False)
class Noise:
    """Every random number a batch of replications uses.

    Attributes:
        eps: ``(R, T, C)`` standard normal price innovations (stream 0; ``eps[:, 0]`` is
            drawn but unused: prices do not move at ``t = 0``).
        arrival: ``(R, T, ND)`` uniforms for outage arrivals (stream 1).
        duration: ``(R, T, ND)`` uniforms for outage durations (stream 2).
        programme: ``(R, T, P, S, SEC)`` uniforms for programme completions (stream 3).
        named: ``(R, J)`` uniforms for named-project completions (stream 4).
    """

    eps: np.ndarray
    arrival: np.ndarray
    duration: np.ndarray
    programme: np.ndarray
    named: np.ndarray


def draw_noise(params: Params, seed: int, ids: np.ndarray) -> Noise:
    """Draw every random number replications ``ids`` will use (see the module docstring)."""
    n = params.shape
    T, C, ND, J = n["T"], n["C"], n["ND"], n["J"]
    R = len(ids)
    eps = np.empty((R, T, C))
    arrival = np.empty((R, T, ND))
    duration = np.empty((R, T, ND))
    programme = np.empty((R, T, n["P"], n["S"], n["SEC"]))
    named = np.empty((R, J))
    for r, gens in enumerate(replication_generators(seed, ids)):
        eps[r] = gens[0].standard_normal((T, C))
        arrival[r] = gens[1].random((ND, T)).T
        duration[r] = gens[2].random((ND, T)).T
        programme[r] = gens[3].random((T, n["P"], n["S"], n["SEC"]))
        named[r] = gens[4].random(J)
    return Noise(eps, arrival, duration, programme, named)
