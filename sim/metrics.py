"""What the model reports: per-step snapshots, the tidy table, Mesa model reporters.

The tidy table (``timeseries.parquet``) has one row per
``(replication, step, country, partner, metric)`` with columns
``replication, step, date, country, partner, metric, value``:

=====================  =========  ==========  ===========================================
metric                 country    partner     value
=====================  =========  ==========  ===========================================
influence_share        state      CHN..OTH    share of influence over the state, sums to 1
influence_<channel>    state      CHN..OTH    that channel's part of the share
trade_share            state      CHN..ROW    share of goods trade (exports + imports)
exports_<commodity>    state      CHN..ROW    exports, physical units per year
production_<commodity> state      ""          output actually produced, units per year
gdp                    state      ""          GDP, USD bn per year
export_revenue         state      ""          export netback revenue, USD bn per year
budget                 power      ""          programme budget left after named projects, USD bn/yr
investment_stock       state      CHN..USA    completed investment stock, USD bn
price_<commodity>      ""         ""          price in the commodity's price unit
=====================  =========  ==========  ===========================================
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.countries import CHANNELS, COMMODITIES, INFLUENCERS, PARTNERS, POWERS, STATES

if TYPE_CHECKING:
    from collections.abc import Callable

    from sim.model import GeoModel

COLUMNS = ("replication", "step", "date", "country", "partner", "metric", "value")

#: metric -> (country labels, partner labels); None means the axis is absent ("").
LAYOUT: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...] | None]] = {
    "influence_share": (STATES, INFLUENCERS),
    **{f"influence_{ch}": (STATES, INFLUENCERS) for ch in CHANNELS},
    "trade_share": (STATES, PARTNERS),
    **{f"exports_{c}": (STATES, PARTNERS) for c in COMMODITIES},
    **{f"production_{c}": (STATES, None) for c in COMMODITIES},
    "gdp": (STATES, None),
    "export_revenue": (STATES, None),
    "budget": (POWERS, None),
    "investment_stock": (STATES, POWERS),
    **{f"price_{c}": (None, None) for c in COMMODITIES},
}


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


def quarter_start(quarter: int) -> pd.Timestamp:
    """First day of an absolute quarter number (see :func:`sim.scenario.parse_quarter`)."""
    return pd.Timestamp(year=quarter // 4, month=3 * (quarter % 4) + 1, day=1)


def to_tidy(
    history: list[dict[str, np.ndarray]],
    replication_ids: np.ndarray,
    start_quarter: int,
    metrics: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Stack per-step snapshots into the tidy long table.

    Args:
        history: one :func:`snapshot` per step.
        replication_ids: the replication id of each row of the arrays.
        start_quarter: absolute quarter of step 0.
        metrics: restrict to these metric names (default: all).

    Returns:
        DataFrame with :data:`COLUMNS`, sorted by replication, step, metric, country,
        partner.
    """
    if not history:
        return pd.DataFrame({c: [] for c in COLUMNS})
    names = metrics or tuple(k for k in LAYOUT if k in history[0])
    T = len(history)
    R = len(replication_ids)
    dates = np.array([quarter_start(start_quarter + t) for t in range(T)], dtype="datetime64[ns]")
    parts = []
    for name in names:
        countries, partners = LAYOUT[name]
        arr = np.stack([h[name] for h in history], axis=1)  # (R, T, ...)
        nc = len(countries) if countries else 1
        npart = len(partners) if partners else 1
        arr = arr.reshape(R, T, nc, npart)
        n = arr.size
        parts.append(
            pd.DataFrame(
                {
                    "replication": np.repeat(replication_ids, T * nc * npart),
                    "step": np.tile(np.repeat(np.arange(T), nc * npart), R),
                    "date": np.tile(np.repeat(dates, nc * npart), R),
                    "country": np.tile(np.repeat(np.array(countries or ("",)), npart), R * T),
                    "partner": np.tile(np.array(partners or ("",)), R * T * nc),
                    "metric": np.full(n, name),
                    "value": arr.reshape(-1),
                }
            )
        )
    df = pd.concat(parts, ignore_index=True)
    df = df.sort_values(
        ["replication", "step", "metric", "country", "partner"], kind="stable", ignore_index=True
    )
    return df[list(COLUMNS)]


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
