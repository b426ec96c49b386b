"""Channel weights against cross-sectional evidence: a study returning a :class:`ChannelFit`.

Method (docs/calibration.md, "Channel weights", has the fit and its discussion):

1. The base-year influence targets (ODD 7.16) are computed once from the scenario's
   initial state: each holder's share of each channel and each state's exposure. The
   first quarter's influence share is within a few tenths of a point of them (the stock
   moves 5% a quarter towards the targets).
2. The target: China's rank among the five states in the China Index 2022 (Doublethink
   Lab; ``sim/data/power_indices.csv``): the more influenced, the larger China's share
   should be. Score: Spearman rank correlation of China's share with the reversed ranks.
3. Search: log-uniform random weights in ``[e^-bound, e^bound]`` (default 4) with trade
   fixed at 1 (only ratios matter). A draw is admissible when its rank correlation
   reaches ``threshold`` (0.8, the issue's target) and stays there on average
   (the mean over perturbations) when China's shares are perturbed by ``margin``
   (the order must survive the small moves of the first quarter). Among the admissible
   draws the one closest to equal weights (smallest mean squared log weight) wins: the
   data pin an order, not a scale, so the fit moves the weights no further from equal
   than the ranks require. If no draw is admissible, the best rank correlation wins.

:func:`fit_channel_weights` prints nothing and writes nothing.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sim.core import mechanisms, phases
from sim.core.params import Params
from sim.core.state import initial_state
from sim.vocab import CHANNELS

if TYPE_CHECKING:
    from sim.scenario import Scenario

INDICES = Path(__file__).resolve().parents[1] / "data" / "power_indices.csv"


def china_index_ranks(path: Path = INDICES) -> dict[str, int]:
    """China Index 2022 rank of each state listed (1 = most influenced)."""
    with path.open(newline="") as fh:
        return {
            r["country"]: int(float(r["value"]))
            for r in csv.DictReader(fh)
            if r["indicator"] == "china_index_rank"
        }


def spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray | float:
    r"""Spearman rank correlation along the last axis (ties get ordinal ranks).

    :math:`\rho = 1 - 6 \sum d^2 / (n (n^2 - 1))` with :math:`d` the rank differences.
    """
    rx = np.argsort(np.argsort(x, axis=-1), axis=-1)
    ry = np.argsort(np.argsort(y, axis=-1), axis=-1)
    n = x.shape[-1]
    rho = 1.0 - 6.0 * ((rx - ry) ** 2).sum(axis=-1) / (n * (n * n - 1))
    return float(rho) if np.ndim(rho) == 0 else rho


@dataclass(frozen=True)
class ChannelInputs:
    """Base-year channel shares ``(S, I, CH)`` and exposures ``(S, CH)`` of a scenario."""

    states: tuple[str, ...]
    holders: tuple[str, ...]
    shares: np.ndarray
    exposure: np.ndarray
    present: np.ndarray  # (S, CH) bool: somebody holds the channel


def base_year_inputs(scenario: Scenario) -> ChannelInputs:
    """Channel shares and exposures at the scenario's start (one replication)."""
    params = Params.from_scenario(scenario)
    raw, exposure = phases.channel_inputs(params, initial_state(params, 1))
    total = raw.sum(axis=2, keepdims=True)
    shares = np.divide(raw, total, out=np.zeros_like(raw), where=total > 0)
    return ChannelInputs(
        params.vocab.states, params.vocab.influencers, shares[0], exposure[0], total[0, :, 0] > 0
    )


def influence_shares(inputs: ChannelInputs, weights: np.ndarray) -> np.ndarray:
    """``(S, I)`` influence shares the channel targets give with ``weights``."""
    z = mechanisms.channel_targets(inputs.shares[None], weights, inputs.exposure[None])
    return z[0].sum(axis=2)


@dataclass(frozen=True)
class ChannelFit:
    """Result of :func:`fit_channel_weights`.

    Attributes:
        weights: ``{channel: weight}`` chosen (trade = 1).
        rho: Spearman correlation of China's share with the China Index order.
        robust: its mean when China's shares are perturbed by ``margin`` (s.d.).
        china: ``{state: China's share}`` with the chosen weights.
        rho_equal, china_equal: the same with equal weights.
        ranks: the China Index ranks used.
        n_best: how many draws were admissible (reached the order robustly).
        distance: root mean squared log weight of the chosen draw (0 = equal weights).
    """

    weights: dict[str, float]
    rho: float
    robust: float
    china: dict[str, float]
    rho_equal: float
    china_equal: dict[str, float]
    ranks: dict[str, int]
    n_best: int
    distance: float


def fit_channel_weights(
    scenario: Scenario,
    draws: int = 200_000,
    seed: int = 0,
    power: str = "CHN",
    margin: float = 0.005,
    threshold: float = 0.8,
    bound: float = 4.0,
) -> ChannelFit:
    """Fit ``behaviour.channel_weights`` to the China Index order (module docstring)."""
    inputs = base_year_inputs(scenario)
    ranks = china_index_ranks()
    states = [s for s in inputs.states if s in ranks]
    rows = [inputs.states.index(s) for s in states]
    target = -np.array([ranks[s] for s in states], dtype=float)
    col = inputs.holders.index(power)
    rng = np.random.default_rng(seed)
    logw = rng.uniform(-bound, bound, size=(draws, len(CHANNELS)))
    logw[:, CHANNELS.index("trade")] = 0.0
    w = np.exp(logw)
    sh = inputs.shares[rows][:, col, :]  # (S', CH)
    load = inputs.exposure[rows] * inputs.present[rows]  # (S', CH)
    china = (w[:, None, :] * load * sh).sum(axis=2) / (w[:, None, :] * load).sum(axis=2)
    rho = spearman(china, target)
    # Robust to small moves of the shares: the mean correlation under perturbations of
    # China's shares by ``margin`` (s.d.), as the first quarter moves them a little.
    noise = rng.normal(0.0, margin, size=(32, 1, len(states)))
    reach = np.flatnonzero(rho >= threshold - 1e-9)
    robust = np.full(draws, -1.0)
    if len(reach):
        robust[reach] = spearman(china[reach][None] + noise, target).mean(axis=0)
    admissible = reach[robust[reach] >= threshold]
    distance = (logw**2).mean(axis=1)
    if len(admissible):
        pick = admissible[np.argmin(distance[admissible])]
    else:
        best = np.flatnonzero(rho >= rho.max() - 1e-9)
        pick = best[np.argmin(distance[best])]
    equal = influence_shares(inputs, np.ones(len(CHANNELS)))[rows, col]
    return ChannelFit(
        weights={c: round(float(w[pick, j]), 3) for j, c in enumerate(CHANNELS)},
        rho=float(rho[pick]),
        robust=float(robust[pick]),
        china={s: float(china[pick, i]) for i, s in enumerate(states)},
        rho_equal=spearman(equal, target),
        china_equal={s: float(equal[i]) for i, s in enumerate(states)},
        ranks={s: ranks[s] for s in states},
        n_best=len(admissible),
        distance=float(np.sqrt(distance[pick])),
    )
