"""Per-step snapshots and Mesa model reporters.

NOTE: moved to core; lead removes at merge. ``snapshot`` and ``model_reporters`` (with
the ``mean_*`` reporters they use) are unchanged here; the core helper moves them to
``sim/core/observe.py``. The tidy layout that lived here (``LAYOUT``, ``COLUMNS``,
``quarter_start``, ``to_tidy``) is now :mod:`sim.output`; the ``to_tidy`` below is a
TEMPORARY shim for ``GeoModel.timeseries`` until the core helper's model calls
:func:`sim.output.to_tidy` with its own vocabulary.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.countries import CHANNELS, COMMODITIES, INFLUENCERS, PARTNERS, STATES

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from sim.model import GeoModel


def snapshot(model: GeoModel) -> dict[str, np.ndarray]:
    """Copy this step's reported arrays, each with leading replication axis."""
    out: dict[str, np.ndarray] = {"influence_share": model.influence_share.copy()}
    for j, ch in enumerate(CHANNELS):
        out[f"influence_{ch}"] = model.influence_stock[..., j].copy()
    out["trade_share"] = model.trade_share.copy()
    for i, c in enumerate(COMMODITIES):
        out[f"exports_{c}"] = model.exports_volume[:, :, i, :].copy()
        out[f"production_{c}"] = model.production[:, :, i].copy()
        out[f"price_{c}"] = model.price[:, i].copy()
    out["gdp"] = model.gdp.copy()
    out["export_revenue"] = model.export_revenue.copy()
    out["budget"] = model.programme_budget * 4.0
    out["investment_stock"] = model.inv.copy()
    return out


def to_tidy(
    history: list[dict[str, np.ndarray]],
    replication_ids: np.ndarray,
    start_quarter: int,
    metrics: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """TEMPORARY shim: :func:`sim.output.to_tidy` on the default vocabulary."""
    from sim import output  # noqa: PLC0415 - temporary; lead removes at merge
    from sim.vocab import DEFAULT  # noqa: PLC0415

    return output.to_tidy(history, replication_ids, start_quarter, DEFAULT, metrics)


# ---------------------------------------------------------------- Mesa model reporters


def mean_influence_share(model: GeoModel, state: str, holder: str) -> float:
    """Influence share of ``holder`` over ``state``, mean over replications."""
    return float(model.influence_share[:, STATES.index(state), INFLUENCERS.index(holder)].mean())


def mean_trade_share(model: GeoModel, state: str, partner: str) -> float:
    """Trade share of ``partner`` in ``state``'s goods trade, mean over replications."""
    return float(model.trade_share[:, STATES.index(state), PARTNERS.index(partner)].mean())


def mean_gdp(model: GeoModel, state: str) -> float:
    """GDP of ``state`` (USD bn/yr), mean over replications."""
    return float(model.gdp[:, STATES.index(state)].mean())


def mean_price(model: GeoModel, commodity: str) -> float:
    """Price of ``commodity``, mean over replications."""
    return float(model.price[:, COMMODITIES.index(commodity)].mean())


def model_reporters() -> dict[str, Callable[[Any], float]]:
    """Mesa ``DataCollector`` model reporters: named, picklable partials."""
    out: dict[str, Callable[[Any], float]] = {}
    for s in STATES:
        for i in INFLUENCERS:
            out[f"influence_share:{s}:{i}"] = partial(mean_influence_share, state=s, holder=i)
        for b in PARTNERS:
            out[f"trade_share:{s}:{b}"] = partial(mean_trade_share, state=s, partner=b)
        out[f"gdp:{s}"] = partial(mean_gdp, state=s)
    for c in ("oil", "gas", "uranium"):
        out[f"price:{c}"] = partial(mean_price, commodity=c)
    return out
