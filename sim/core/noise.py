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


# numpy's SeedSequence (numpy/random/bit_generator.pyx) and PCG64 seeding (pcg64.c)
_POOL, _XSHIFT, _MASK32 = 4, 16, 0xFFFFFFFF
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_PCG_MULT = (2549297995355413924 << 64) + 4865540595714422341
_MASK128 = (1 << 128) - 1


def _words(n: int) -> list[int]:
    """A non-negative int as little-endian 32-bit words, as SeedSequence splits it."""
    out = [n & _MASK32]
    n >>= 32
    while n:
        out.append(n & _MASK32)
        n >>= 32
    return out


def _seed_states(seed: int, keys: np.ndarray) -> list[tuple[int, int]]:
    """PCG64 ``(state, inc)`` of ``default_rng(SeedSequence(seed, spawn_key=(k, j)))``.

    The SeedSequence hash of every ``(k, j)`` row of ``keys`` (``(N, 2)``, each below
    ``2**32``) at once, in numpy ``uint32`` arithmetic (which wraps as numpy's does),
    then PCG64's seeding in Python integers: the same generator states as building
    each generator, at a fraction of the cost (``tests/test_ensemble.py`` compares).
    """
    run = _words(seed)
    run += [0] * (_POOL - len(run))  # numpy pads the run entropy when there is a spawn key
    n = len(keys)
    entropy = [np.full(n, w, dtype=np.uint32) for w in run]
    entropy += [keys[:, 0].astype(np.uint32), keys[:, 1].astype(np.uint32)]
    hash_const = [_INIT_A]

    def hashmix(value: np.ndarray) -> np.ndarray:
        value = value ^ np.uint32(hash_const[0])
        hash_const[0] = (hash_const[0] * _MULT_A) & _MASK32
        value = value * np.uint32(hash_const[0])
        return value ^ (value >> np.uint32(_XSHIFT))

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        result = np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * y
        return result ^ (result >> np.uint32(_XSHIFT))

    pool = [hashmix(entropy[i]) for i in range(_POOL)]
    for i_src in range(_POOL):
        for i_dst in range(_POOL):
            if i_src != i_dst:
                pool[i_dst] = mix(pool[i_dst], hashmix(pool[i_src]))
    for i_src in range(_POOL, len(entropy)):
        for i_dst in range(_POOL):
            pool[i_dst] = mix(pool[i_dst], hashmix(entropy[i_src]))
    const, words = _INIT_B, []
    for i in range(8):  # generate_state(4, np.uint64): 8 words, cycling over the pool
        value = pool[i % _POOL] ^ np.uint32(const)
        const = (const * _MULT_B) & _MASK32
        value = value * np.uint32(const)
        words.append((value ^ (value >> np.uint32(_XSHIFT))).astype(np.uint64))
    val = [(words[2 * i + 1] << np.uint64(32)) | words[2 * i] for i in range(4)]
    states = []
    for s_hi, s_lo, i_hi, i_lo in zip(*(v.tolist() for v in val), strict=True):
        inc = ((((i_hi << 64) | i_lo) << 1) | 1) & _MASK128
        state = inc  # 0 * mult + inc
        state = (state + ((s_hi << 64) | s_lo)) & _MASK128
        states.append(((state * _PCG_MULT + inc) & _MASK128, inc))
    return states


def _fast_seeding(seed: object, ids: np.ndarray) -> bool:
    """Whether :func:`_seed_states` covers ``seed`` and ``ids`` (non-negative, < 2**32)."""
    if not isinstance(seed, int | np.integer) or int(seed) < 0:
        return False
    ids = np.asarray(ids)
    return len(ids) == 0 or (int(ids.min()) >= 0 and int(ids.max()) <= _MASK32)


@dataclass(frozen=True, eq=False)
class Noise:
    """Every random number a batch of replications uses.

    Attributes:
        eps: ``(R, T, C)`` standard normal price innovations (stream 0; ``eps[:, 0]`` is
            drawn but unused: prices do not move at ``t = 0``).
        arrival: ``(R, T, ND)`` uniforms for outage arrivals (stream 1).
        duration: ``(R, T, ND)`` uniforms for outage durations (stream 2).
        programme: ``(R, T, P, S, SEC)`` uniforms for programme completions (stream 3),
            stored time-major: a step's ``programme[:, t]`` is one contiguous block.
        named: ``(R, J)`` uniforms for named-project completions (stream 4).
    """

    eps: np.ndarray
    arrival: np.ndarray
    duration: np.ndarray
    programme: np.ndarray
    named: np.ndarray


def draw_noise(params: Params, seed: int, ids: np.ndarray) -> Noise:
    """Draw every random number replications ``ids`` will use (see the module docstring).

    One PCG64 generator is set to each stream's seeded state in turn
    (:func:`_seed_states`): the numbers are those of :func:`replication_generators`,
    which is used where the fast seeding does not apply (a seed or id outside
    ``[0, 2**32)``).
    """
    n = params.shape
    T, C, ND, J = n["T"], n["C"], n["ND"], n["J"]
    R = len(ids)
    eps = np.empty((R, T, C))
    arrival = np.empty((R, T, ND))
    duration = np.empty((R, T, ND))
    # time-major storage (a step reads programme[:, t] in one pass; each replication's
    # numbers are drawn into `drawn` and copied in)
    programme = np.empty((T, R, n["P"], n["S"], n["SEC"])).transpose(1, 0, 2, 3, 4)
    drawn = np.empty(programme.shape[1:])
    named = np.empty((R, J))
    if _fast_seeding(seed, ids):
        keys = np.stack(np.broadcast_arrays(np.asarray(ids)[:, None], np.arange(N_STREAMS)), -1)
        states = iter(_seed_states(int(seed), keys.reshape(-1, 2)))
        bitgen = np.random.PCG64()
        gen = np.random.Generator(bitgen)
        template = bitgen.state  # has_uint32 = 0, as a freshly seeded PCG64

        def stream(_: int) -> np.random.Generator:
            template["state"] = dict(zip(("state", "inc"), next(states), strict=True))
            bitgen.state = template
            return gen

        streams = [stream] * R
    else:
        streams = [gens.__getitem__ for gens in replication_generators(seed, ids)]
    for r, gen_of in enumerate(streams):  # streams in order 0..4 (each is used once)
        gen_of(0).standard_normal(out=eps[r])  # in place: the numbers of ((T, C))
        arrival[r] = gen_of(1).random((ND, T)).T
        duration[r] = gen_of(2).random((ND, T)).T
        gen_of(3).random(out=drawn)
        programme[r] = drawn
        named[r] = gen_of(4).random(J)
    return Noise(eps, arrival, duration, programme, named)
