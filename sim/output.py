"""The one tidy layout: which metrics casim reports, their labels and their row order.

Single runs, ensembles, compare, backtest and calibration all write and read the same
tidy table (``timeseries.parquet``): one row per
``(replication, step, country, partner, metric)`` with the columns :data:`COLUMNS`.

=====================  =========  ==========  ===========================================
metric                 country    partner     value
=====================  =========  ==========  ===========================================
influence_share        state      influencer  share of influence over the state, sums to 1
influence_<channel>    state      influencer  that channel's part of the share
trade_share            state      partner     share of goods trade (exports + imports)
exports_<commodity>    state      partner     exports, physical units per year
route_flow_<commodity> state      route       exports on each route carrying the commodity,
                                              units per year (sums over routes to exports)
production_<commodity> state      ""          output actually produced, units per year
gdp                    state      ""          GDP, USD bn per year
export_revenue         state      ""          export netback revenue, USD bn per year
budget                 power      ""          programme budget left after named projects, USD bn/yr
investment_stock       state      power       completed investment stock, USD bn
price_<commodity>      ""         ""          price in the commodity's price unit
=====================  =========  ==========  ===========================================

:func:`metric_kind` says which metrics are *shares* (fractions of a whole: their
differences are reported in percentage points) and which are *levels* (differences in
percent of the reference); it goes by the name, so a metric added to the layout later is
classed without a change there.

The labels come from a :class:`~sim.vocab.Vocabulary` (states, powers, partners =
powers then markets, influencers = powers then ``OTH``, routes), so a scenario that
declares a sixth state gets its rows without any change here. ``route_flow_<commodity>``
has one partner label per route of the scenario that carries the commodity (none, and
no such metric, for a commodity no route carries).

Row order: replication, then step, then ``(metric, country, partner)`` sorted as
strings. A :class:`RowLayout` fixes, for one replication, where each value of a
per-step snapshot goes; :func:`step_values` applies it to one snapshot and
:func:`tidy_frame` labels a ``(replications, rows)`` value array. :func:`to_tidy` (single
runs) goes through the same code as ensembles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.vocab import CHANNELS, COMMODITIES, PRICE_UNITS, UNITS

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from sim.vocab import Vocabulary

#: Columns of the tidy table, in order.
COLUMNS = ("replication", "step", "date", "country", "partner", "metric", "value")

type Labels = tuple[str, ...] | None
#: metric -> (country labels, partner labels); None means the axis is absent ("").
type MetricLayout = dict[str, tuple[Labels, Labels]]


def metric_layout(vocab: Vocabulary) -> MetricLayout:
    """Every reported metric with its country and partner labels, in array order.

    Args:
        vocab: the world whose actors label the axes.

    Returns:
        metric -> (country labels, partner labels), None where the axis is absent.
    """
    states, powers = vocab.states, vocab.powers
    partners, influencers = vocab.partners, vocab.influencers
    return {
        "influence_share": (states, influencers),
        **{f"influence_{ch}": (states, influencers) for ch in CHANNELS},
        "trade_share": (states, partners),
        **{f"exports_{c}": (states, partners) for c in COMMODITIES},
        **{
            f"route_flow_{c}": (states, vocab.routes_for(c))
            for c in COMMODITIES
            if vocab.routes_for(c)
        },
        **{f"production_{c}": (states, None) for c in COMMODITIES},
        "gdp": (states, None),
        "export_revenue": (states, None),
        "budget": (powers, None),
        "investment_stock": (states, powers),
        **{f"price_{c}": (None, None) for c in COMMODITIES},
    }


def metric_kind(name: str) -> str:
    """``"share"`` for a metric that is a fraction of a whole, else ``"level"``.

    Shares are ``influence_share``, its channel parts ``influence_<channel>`` and every
    metric whose name ends in ``_share`` (``trade_share``); everything else (GDP,
    revenue, volumes, stocks, budgets, prices, route flows) is a level.
    """
    return "share" if name.startswith("influence_") or name.endswith("_share") else "level"


#: Units of the level metrics that are not per commodity.
_LEVEL_UNITS = {
    "gdp": "USD bn/yr",
    "export_revenue": "USD bn/yr",
    "budget": "USD bn/yr",
    "investment_stock": "USD bn",
}


def metric_unit(name: str) -> str:
    """The unit of a metric's values, for headings (``""`` when not known).

    Shares are fractions (``"share"``); ``price_<c>`` is in the commodity's price unit;
    any other ``<...>_<c>`` metric (exports, production, route flows) in its physical
    unit per year.
    """
    if metric_kind(name) == "share":
        return "share"
    commodity = next((c for c in COMMODITIES if name.endswith(f"_{c}")), None)
    if commodity is None:
        return _LEVEL_UNITS.get(name, "")
    if name.startswith("price_"):
        return PRICE_UNITS[commodity]
    return f"{UNITS[commodity]}/yr"


def quarter_start(quarter: int) -> pd.Timestamp:
    """First day of an absolute quarter number (see :func:`sim.scenario.parse_quarter`)."""
    return pd.Timestamp(year=quarter // 4, month=3 * (quarter % 4) + 1, day=1)


def check_metrics(names: Iterable[str] | None, vocab: Vocabulary) -> tuple[str, ...]:
    """Validate metric names against :func:`metric_layout`; default all, sorted.

    Raises:
        ValueError: on an unknown or repeated name, or an empty selection.
    """
    known = metric_layout(vocab)
    if names is None:
        return tuple(sorted(known))
    chosen = tuple(names)
    unknown = [n for n in chosen if n not in known]
    if unknown:
        msg = f"unknown metric {unknown[0]!r}; expected one of {', '.join(known)}"
        raise ValueError(msg)
    if not chosen or len(set(chosen)) != len(chosen):
        msg = "expected a non-empty list of distinct metric names"
        raise ValueError(msg)
    return tuple(sorted(chosen))


@dataclass(frozen=True)
class RowLayout:
    """Where each of one replication's values goes in the tidy table.

    One replication contributes ``steps * per_step`` rows; ``step``, ``date``,
    ``country``, ``partner`` and ``metric`` label them in tidy-table order.

    Attributes:
        metrics: reported metric names (sorted).
        steps: number of quarters.
        start_quarter: absolute quarter of step 0.
        order: ``(per_step,)`` positions in the concatenated per-step snapshot (metrics
            in :attr:`metrics` order, each flattened C-order) of the tidy rows.
        step, date, country, partner, metric: ``(rows,)`` labels of the rows.
        blocks: one :class:`MetricBlock` per metric: where its values sit in a snapshot
            row (the *raw* order the engine stores: metrics in :attr:`metrics` order,
            each flattened C-order with its axes in vocabulary order).
    """

    metrics: tuple[str, ...]
    steps: int
    start_quarter: int
    order: np.ndarray
    step: np.ndarray
    date: np.ndarray
    country: np.ndarray
    partner: np.ndarray
    metric: np.ndarray
    blocks: tuple[MetricBlock, ...] = ()

    @property
    def per_step(self) -> int:
        """Rows per replication per step."""
        return len(self.order)

    @property
    def rows(self) -> int:
        """Rows per replication."""
        return len(self.step)

    def labels(self) -> pd.DataFrame:
        """The row labels as a DataFrame (``step, date, country, partner, metric``)."""
        return pd.DataFrame(
            {
                "step": self.step,
                "date": self.date,
                "country": self.country,
                "partner": self.partner,
                "metric": self.metric,
            }
        )

    def columns_of(self, metric: str) -> np.ndarray:
        """Row positions of one metric, in (step, country, partner) order."""
        return np.flatnonzero(self.metric == metric)

    def to_tidy_order(self, raw: np.ndarray) -> np.ndarray:
        """``(r, rows)`` values in raw (snapshot) order, reordered as the tidy rows."""
        r = len(raw)
        by_step = raw.reshape(r, self.steps, self.per_step)
        return np.take(by_step, self.order, axis=2).reshape(r, self.rows)

    def raw_position(self) -> np.ndarray:
        """``(rows,)``: the raw column of each tidy row."""
        F = self.per_step
        return (np.arange(self.steps)[:, None] * F + self.order[None, :]).reshape(-1)


@dataclass(frozen=True)
class MetricBlock:
    """Where one metric's values sit in a raw snapshot row.

    Attributes:
        name: the metric.
        start, stop: its columns in the row.
        dims: names of its axes (``country``, ``power``, ``partner``, ``influencer``),
            empty for a scalar.
        labels: the labels along each axis, in vocabulary order.
    """

    name: str
    start: int
    stop: int
    dims: tuple[str, ...]
    labels: tuple[tuple[str, ...], ...]


def axis_name(labels: tuple[str, ...], vocab: Vocabulary) -> str:
    """The dimension name of an axis labelled by one of the vocabulary's actor lists."""
    for name, known in (
        ("country", vocab.states),
        ("power", vocab.powers),
        ("partner", vocab.partners),
        ("influencer", vocab.influencers),
    ):
        if tuple(labels) == tuple(known):
            return name
    if labels and set(labels) <= set(vocab.routes):
        return "route"
    msg = f"labels {labels!r} are none of the vocabulary's actor lists"
    raise ValueError(msg)


def metric_blocks(names: tuple[str, ...], vocab: Vocabulary) -> tuple[MetricBlock, ...]:
    """The raw-row blocks of the given metrics (in ``names`` order)."""
    known = metric_layout(vocab)
    out, start = [], 0
    for name in names:
        axes = [tuple(a) for a in known[name] if a is not None]
        size = int(np.prod([len(a) for a in axes], dtype=np.int64))
        dims = tuple(axis_name(a, vocab) for a in axes)
        out.append(MetricBlock(name, start, start + size, dims, tuple(axes)))
        start += size
    return tuple(out)


def row_layout(
    names: tuple[str, ...], steps: int, start_quarter: int, vocab: Vocabulary
) -> RowLayout:
    """Build the :class:`RowLayout` of the given (validated, sorted) metrics.

    Args:
        names: metric names, as :func:`check_metrics` returns them.
        steps: number of quarters.
        start_quarter: absolute quarter of step 0.
        vocab: the world whose actors label the axes.
    """
    known = metric_layout(vocab)
    entries: list[tuple[str, str, str]] = []
    for name in names:
        countries, partners = known[name]
        entries.extend((name, c, p) for c in countries or ("",) for p in partners or ("",))
    order = np.array(sorted(range(len(entries)), key=entries.__getitem__), dtype=np.int64)
    F = len(order)
    dates = np.array(
        [quarter_start(start_quarter + t) for t in range(steps)], dtype="datetime64[ns]"
    )
    label = np.array([entries[i] for i in order], dtype=object).reshape(F, 3)
    return RowLayout(
        metrics=names,
        steps=steps,
        start_quarter=start_quarter,
        order=order,
        step=np.repeat(np.arange(steps, dtype=np.int64), F),
        date=np.repeat(dates, F),
        country=np.tile(label[:, 1], steps),
        partner=np.tile(label[:, 2], steps),
        metric=np.tile(label[:, 0], steps),
        blocks=metric_blocks(names, vocab),
    )


def step_values(
    snapshot: Mapping[str, np.ndarray], layout: RowLayout, out: np.ndarray | None = None
) -> np.ndarray:
    """One step's snapshot as ``(replications, per_step)`` values in layout order.

    Args:
        snapshot: metric -> array with a leading replication axis (at least the
            layout's metrics).
        layout: the row layout.
        out: optional ``(replications, per_step)`` float64 array to fill.
    """
    R = len(snapshot[layout.metrics[0]])
    flat = np.concatenate([snapshot[name].reshape(R, -1) for name in layout.metrics], axis=1)
    return np.take(flat, layout.order, axis=1, out=out)


def raw_step_values(
    snapshot: Mapping[str, np.ndarray], layout: RowLayout, out: np.ndarray | None = None
) -> np.ndarray:
    """One step's snapshot as ``(replications, per_step)`` values in raw order.

    Raw order concatenates the layout's metrics, each flattened C-order (see
    :attr:`RowLayout.blocks`); :meth:`RowLayout.to_tidy_order` turns it into tidy order.
    """
    R = len(snapshot[layout.metrics[0]])
    parts = [np.asarray(snapshot[name], dtype=np.float64).reshape(R, -1) for name in layout.metrics]
    return np.concatenate(parts, axis=1, out=out)


def join_steps(by_step: np.ndarray) -> np.ndarray:
    """``(steps, replications, per_step)`` values as ``(replications, rows)``."""
    T, R, F = by_step.shape
    return np.ascontiguousarray(by_step.transpose(1, 0, 2)).reshape(R, T * F)


def tidy_frame(
    values: np.ndarray,
    ids: Sequence[int] | np.ndarray,
    layout: RowLayout,
    columns: int | None = None,
) -> pd.DataFrame:
    """The tidy table of ``values`` (``(r, rows)``) for replication ``ids``.

    Args:
        values: per-replication values in layout order.
        ids: replication id of each row of ``values``.
        layout: the row layout.
        columns: use only the first ``columns`` rows of the layout (schema samples).
    """
    n = layout.rows if columns is None else columns
    r = len(ids)
    return pd.DataFrame(
        {
            "replication": np.repeat(np.asarray(ids, dtype=np.int64), n),
            "step": np.tile(layout.step[:n], r),
            "date": np.tile(layout.date[:n], r),
            "country": np.tile(layout.country[:n], r),
            "partner": np.tile(layout.partner[:n], r),
            "metric": np.tile(layout.metric[:n], r),
            "value": values[:, :n].reshape(-1),
        }
    )


def to_tidy(
    history: Sequence[Mapping[str, np.ndarray]],
    replication_ids: Sequence[int] | np.ndarray,
    start_quarter: int,
    vocab: Vocabulary,
    metrics: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Stack per-step snapshots into the tidy table (single runs).

    Args:
        history: one snapshot per step (metric -> array with a leading replication axis).
        replication_ids: the replication id of each row of the arrays.
        start_quarter: absolute quarter of step 0.
        vocab: the world whose actors label the axes.
        metrics: restrict to these metric names (default: every metric of the layout
            present in the snapshots).

    Returns:
        DataFrame with :data:`COLUMNS`, sorted by replication, step, metric, country,
        partner.

    Raises:
        ValueError: on an unknown or repeated metric name.
    """
    if not history:
        return pd.DataFrame({c: [] for c in COLUMNS})
    if metrics is None:
        metrics = [k for k in metric_layout(vocab) if k in history[0]]
    layout = row_layout(check_metrics(metrics, vocab), len(history), start_quarter, vocab)
    by_step = np.empty((len(history), len(replication_ids), layout.per_step))
    for t, snap in enumerate(history):
        step_values(snap, layout, out=by_step[t])
    return tidy_frame(join_steps(by_step), replication_ids, layout)
