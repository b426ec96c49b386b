"""What the model reports: per-step snapshots and the Mesa model reporters.

This is the one place that reads the model's state for reporting. Metric names and
shapes are those of the tidy table (:func:`sim.output.metric_layout`).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.vocab import CHANNELS, COMMODITIES

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from sim.core.model import GeoModel
    from sim.core.state import State
    from sim.vocab import Vocabulary

#: Commodities whose mean price the DataCollector records.
REPORTED_PRICES = ("oil", "gas", "uranium")


def snapshot(
    source: GeoModel | State, names: Collection[str] | None = None
) -> dict[str, np.ndarray]:
    """Copy this step's reported arrays, each with a leading replication axis.

    Args:
        source: a model (its ``state`` is read) or a state (then without the
            ``route_flow_<commodity>`` metrics, whose route labels the model's vocabulary
            gives).
        names: only these metrics (default: all); a name that is not reported here is
            left out, as with a state and ``route_flow_<commodity>``.

    Returns:
        Metric name -> C-contiguous float64 array, a copy of the state's (never a view).
    """
    state: State = getattr(source, "state", source)
    params = getattr(source, "params", None)
    wanted = None if names is None else frozenset(names)

    def want(name: str) -> bool:
        return wanted is None or name in wanted

    out: dict[str, np.ndarray] = {}
    if want("influence_share"):
        out["influence_share"] = state.influence_share.copy()
    for j, ch in enumerate(CHANNELS):
        if want(f"influence_{ch}"):
            out[f"influence_{ch}"] = state.influence_stock[..., j].copy()
    if want("trade_share"):
        out["trade_share"] = state.trade_share.copy()
    for i, c in enumerate(COMMODITIES):
        if want(f"exports_{c}"):
            out[f"exports_{c}"] = state.exports_volume[:, :, i, :].copy()
        if want(f"production_{c}"):
            out[f"production_{c}"] = state.production[:, :, i].copy()
        if want(f"price_{c}"):
            out[f"price_{c}"] = state.price[:, i].copy()
    if params is not None:
        routes = params.route_names
        for i, c in enumerate(COMMODITIES):
            carried = [routes.index(k) for k in params.vocab.routes_for(c)]
            if carried and want(f"route_flow_{c}"):
                out[f"route_flow_{c}"] = np.ascontiguousarray(state.route_flow[:, :, i, carried])
    for name, value in (("gdp", state.gdp), ("export_revenue", state.export_revenue)):
        if want(name):
            out[name] = value.copy()
    if want("budget"):
        out["budget"] = state.programme_budget * 4.0
    if want("investment_stock"):
        out["investment_stock"] = state.inv.copy()
    return out


# ------------------------------------------------------------------ Mesa model reporters


def mean_influence_share(model: GeoModel, state: str, holder: str) -> float:
    """Influence share of ``holder`` over ``state``, mean over replications."""
    v = model.params.vocab
    s, i = v.index("state", state), v.index("influencer", holder)
    return float(model.state.influence_share[:, s, i].mean())


def mean_trade_share(model: GeoModel, state: str, partner: str) -> float:
    """Trade share of ``partner`` in ``state``'s goods trade, mean over replications."""
    v = model.params.vocab
    s, b = v.index("state", state), v.index("partner", partner)
    return float(model.state.trade_share[:, s, b].mean())


def mean_gdp(model: GeoModel, state: str) -> float:
    """GDP of ``state`` (USD bn/yr), mean over replications."""
    return float(model.state.gdp[:, model.params.vocab.index("state", state)].mean())


def mean_price(model: GeoModel, commodity: str) -> float:
    """Price of ``commodity``, mean over replications."""
    return float(model.state.price[:, COMMODITIES.index(commodity)].mean())


def model_reporters(vocab: Vocabulary) -> dict[str, Callable[[Any], float]]:
    """Mesa ``DataCollector`` model reporters for a world: named, picklable partials."""
    out: dict[str, Callable[[Any], float]] = {}
    for s in vocab.states:
        for i in vocab.influencers:
            out[f"influence_share:{s}:{i}"] = partial(mean_influence_share, state=s, holder=i)
        for b in vocab.partners:
            out[f"trade_share:{s}:{b}"] = partial(mean_trade_share, state=s, partner=b)
        out[f"gdp:{s}"] = partial(mean_gdp, state=s)
    for c in REPORTED_PRICES:
        out[f"price:{c}"] = partial(mean_price, commodity=c)
    return out
