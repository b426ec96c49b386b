"""The Mesa agents: the Central Asian states and the great powers.

An agent holds its code and its index into the model's arrays; its state is its slice
of :class:`~sim.core.state.State`, across every replication at once. Each method is a
decision the ODD assigns to the agent: it asks :mod:`sim.core.policies` for the
decision and writes it into that slice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

from sim.core import mechanisms, policies

if TYPE_CHECKING:
    from sim.core.model import GeoModel


class Country(mesa.Agent):
    """A country agent: an ISO code and an index into the model's arrays."""

    model: GeoModel

    def __init__(self, model: GeoModel, code: str, index: int) -> None:
        super().__init__(model)
        self.code = code
        self.index = index
        self.name = model.params.vocab.name(code)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code})"


class CentralAsianState(Country):
    """An exporting state pursuing a multi-vector policy.

    Decisions each quarter:

    * ``screen_projects`` (ODD 7.6): accept a share of each power's offered money,
      refusing more of it the more that power already dominates.
    * ``set_trade_preferences`` (ODD 7.9): the partner terms of its export and import
      logits: alignment minus the hedging penalty on trade dependence.
    """

    def screen_projects(self) -> None:
        """Accept or refuse the money powers offer this quarter (scales ``offers[:, :, s]``)."""
        m, s = self.model, self.index
        accept = policies.acceptance(m.params, m.state, s)
        kernels = mechanisms.compiled()
        if kernels is not None and m.state.offers.flags.c_contiguous:
            kernels.scale_offers(m.state.offers, accept, s)  # the same products, compiled
        else:
            m.state.offers[:, :, s, :] *= accept[:, :, None]

    def set_trade_preferences(self) -> None:
        """Partner terms of this state's trade utilities (writes ``partner_pref[:, s]``)."""
        m, s = self.model, self.index
        policies.trade_preferences(m.params, m.state, s, into=m.state.partner_pref)


class GreatPower(Country):
    """A power with a Central Asia programme budget and priorities.

    Each quarter ``allocate_budget`` (ODD 7.5) offers the programme budget left after
    named projects over (state, sector); ``learn`` (ODD 7.17) nudges its learned bias
    toward states where its influence rose fastest.

    Attributes:
        resource_score: ``(S, SEC)`` the power's static resource-security scores.
    """

    def __init__(self, model: GeoModel, code: str, index: int) -> None:
        super().__init__(model, code, index)
        self.resource_score = policies.resource_score(model.params, index)

    def allocate_budget(self) -> None:
        """Offer this quarter's programme money (writes ``offers[:, p]``)."""
        m, p = self.model, self.index
        policies.allocation(m.params, m.state, p, self.resource_score, into=m.state.offers)

    def learn(self) -> None:
        """Update the learned bias from last quarter's influence gains (``learned_bias[:, p]``)."""
        m, p = self.model, self.index
        policies.learned_bias(m.params, m.state, p, into=m.state.learned_bias)
