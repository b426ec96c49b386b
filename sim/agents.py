"""The nine Mesa agents: five Central Asian states and four great powers.

Agents hold no state of their own: each owns one slice (its index) of the model's
arrays, across every replication at once, and its methods are the decisions the ODD
protocol assigns to it. States screen projects (hedging) and set their trade
preferences; powers allocate their programme budgets and learn from what it bought.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim import dynamics
from sim.countries import NAMES, SECTOR_COMMODITIES, SECTORS

if TYPE_CHECKING:
    from sim.model import GeoModel

#: Expected annual return by sector, used by a power's "return" priority (assumption:
#: typical project IRRs for extractive, transport and other infrastructure).
SECTOR_RETURN = np.array([0.12, 0.15, 0.06, 0.08])
#: Weight of the learned bias in a power's allocation score (assumption: at most half
#: the weight of the priorities, which sum to 1).
LEARNED_WEIGHT = 0.5


class Country(mesa.Agent):
    """A country agent: an ISO code and an index into the model's arrays."""

    model: GeoModel

    def __init__(self, model: GeoModel, code: str, index: int) -> None:
        super().__init__(model)
        self.code = code
        self.index = index
        self.name = NAMES[code]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code})"


class CentralAsianState(Country):
    """An exporting state pursuing a multi-vector policy.

    Decisions each quarter:

    * ``screen_projects``: accept a share of each power's offered money, refusing more
      of it the more that power already dominates (logistic in its influence share).
    * ``set_trade_preferences``: the partner-specific terms of its export and import
      logits: political alignment (influence share) minus the hedging penalty on
      trade dependence (gradient of a Herfindahl index).
    """

    def hedging_strength(self) -> float:
        """State-specific hedging times the scenario-wide multiplier."""
        m = self.model
        return float(m.hedging[self.index] * m.behaviour.hedging)

    def screen_projects(self) -> None:
        """Accept or refuse the money powers offer this quarter."""
        m = self.model
        share = m.influence_share[:, self.index, : m.n_powers]  # (R, P)
        accept = dynamics.acceptance(
            share, self.hedging_strength(), m.behaviour.acceptance_threshold
        )
        m.offers[:, :, self.index, :] *= accept[:, :, None]

    def set_trade_preferences(self) -> None:
        """Partner terms of this state's export and import utilities."""
        m = self.model
        align = m.alignment()[:, self.index, :]  # (R, B)
        dep = m.trade_share[:, self.index, :]
        m.partner_pref[:, self.index, :] = m.behaviour.alignment_sensitivity * align - (
            dynamics.hedging_penalty(dep, self.hedging_strength())
        )


class GreatPower(Country):
    """A power with a Central Asia programme budget and priorities.

    Each quarter ``allocate_budget`` spreads the programme budget left after named
    projects over (state, sector) by a softmax of a priority-weighted score:

    * influence: room to grow (1 - own influence share) times the leverage of money in
      a small economy (GDP^-1/2, normalised);
    * resource security: the state's share of regional capacity in the sector's
      commodities, weighted by the power's import needs;
    * return: the sector's expected return, discounted by political risk (own share);

    plus a fixed sector bias and a learned bias. ``learn`` nudges the learned bias toward
    states where the power's influence rose fastest last quarter (a reinforcement rule).
    """

    def allocate_budget(self) -> None:
        """Offer this quarter's programme money to (state, sector) pairs."""
        m = self.model
        p = self.index
        pr = m.power_priorities[p]  # (3,) influence, resource, return
        share = m.influence_share[:, :, p]  # (R, S)
        leverage = 1.0 / np.sqrt(m.gdp)  # (R, S)
        leverage = leverage / leverage.max(axis=1, keepdims=True)
        s_infl = ((1.0 - share) * leverage)[:, :, None] * np.ones(len(SECTORS))
        s_res = m.resource_score(p)[None, :, :]  # (1, S, SEC)
        s_ret = (1.0 - 0.5 * share)[:, :, None] * (SECTOR_RETURN / SECTOR_RETURN.max())
        score = (
            pr[0] * s_infl
            + pr[1] * s_res
            + pr[2] * s_ret
            + m.sector_bias[p][None, None, :]
            + LEARNED_WEIGHT * m.learned_bias[:, p]
        )
        w = dynamics.softmax_weights(score, m.behaviour.strategy_temperature, axes=(1, 2))
        m.offers[:, p] = m.programme_budget[:, p, None, None] * w

    def learn(self) -> None:
        """Reinforce states where influence grew, relative to the power's average.

        The learned bias is an exponential average of the normalised relative gain,
        so it stays within [-1, 1]: ``b <- (1 - lr) b + lr g``.
        """
        m = self.model
        p = self.index
        gain = m.influence_share[:, :, p] - m.prev_influence_share[:, :, p]  # (R, S)
        rel = gain - gain.mean(axis=1, keepdims=True)
        scale = np.abs(rel).max(axis=1, keepdims=True)
        rel = np.divide(rel, scale, out=np.zeros_like(rel), where=scale > 0)
        lr = m.learning_rate[p]
        m.learned_bias[:, p] = (1.0 - lr) * m.learned_bias[:, p] + lr * rel[:, :, None]


def sector_commodity_matrix(commodities: tuple[str, ...]) -> np.ndarray:
    """``(SEC, C)`` 0/1 matrix: which commodities each sector's projects produce."""
    out = np.zeros((len(SECTORS), len(commodities)))
    for i, sec in enumerate(SECTORS):
        for c in SECTOR_COMMODITIES[sec]:
            out[i, commodities.index(c)] = 1.0
    return out
