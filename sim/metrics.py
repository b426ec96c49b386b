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

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.core import observe
from sim.countries import CHANNELS, COMMODITIES, INFLUENCERS, PARTNERS, POWERS, STATES
from sim.vocab import DEFAULT

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
    return observe.snapshot(model)


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


mean_influence_share = observe.mean_influence_share
mean_trade_share = observe.mean_trade_share
mean_gdp = observe.mean_gdp
mean_price = observe.mean_price


def model_reporters() -> dict[str, Callable[[Any], float]]:
    """Mesa ``DataCollector`` model reporters of the shipped world (see :mod:`sim.core.observe`)."""
    return observe.model_reporters(DEFAULT)
