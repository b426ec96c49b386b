"""What the model reports: per-step snapshots and the Mesa model reporters.

This is the one place that reads the model's state for reporting. Metric names and
shapes are those of the tidy table (:func:`sim.output.metric_layout`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache, partial
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.vocab import CHANNELS, COMMODITIES

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Sequence

    from sim.core.model import GeoModel
    from sim.core.state import State
    from sim.vocab import Vocabulary

#: Commodities whose mean price the DataCollector records.
REPORTED_PRICES = ("oil", "gas", "uranium")


@dataclass(frozen=True)
class Source:
    """Where one metric's values sit in the model's state.

    Attributes:
        attr: the :class:`~sim.core.state.State` array (leading replication axis).
        index: the metric's part of one replication's array (a numpy index).
        scale: a factor applied when reading (``budget``: a quarter's budget times 4).
    """

    attr: str
    index: tuple[Any, ...] = ()
    scale: float = 1.0
    key: tuple[Any, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (slice(None), *self.index))  # every replication

    def read(self, state: State) -> np.ndarray:
        """The metric's values of every replication: a C-contiguous copy."""
        part = getattr(state, self.attr)[self.key]
        return part * self.scale if self.scale != 1.0 else part.copy()

    def offsets(self, shape: tuple[int, ...]) -> np.ndarray:
        """Flat positions of the values in one replication's array of ``shape``, C order."""
        return np.arange(math.prod(shape), dtype=np.int64).reshape(shape)[self.index].ravel()


def sources(source: GeoModel | State) -> dict[str, Source]:
    """Every reported metric of a model (or a state) and where its values sit.

    A state has no ``route_flow_<commodity>`` metrics: the model's vocabulary labels the
    routes. The order is the snapshot's.
    """
    return dict(_sources(_carried(source)))


def _carried(source: GeoModel | State) -> tuple[tuple[int, ...], ...]:
    """Each commodity's routes (their indices in the model's routes); a state: none."""
    params = getattr(source, "params", None)
    if params is None:
        return ()
    routes = params.route_names
    return tuple(tuple(routes.index(k) for k in params.vocab.routes_for(c)) for c in COMMODITIES)


@cache
def _sources(carried: tuple[tuple[int, ...], ...]) -> tuple[tuple[str, Source], ...]:
    """:func:`sources` given :func:`_carried` (cached: the snapshot runs every step)."""
    out = {"influence_share": Source("influence_share")}
    for j, ch in enumerate(CHANNELS):
        out[f"influence_{ch}"] = Source("influence_stock", (Ellipsis, j))
    out["trade_share"] = Source("trade_share")
    for i, c in enumerate(COMMODITIES):
        out[f"exports_{c}"] = Source("exports_volume", (slice(None), i, slice(None)))
        out[f"production_{c}"] = Source("production", (slice(None), i))
        out[f"price_{c}"] = Source("price", (i,))
    for i, (c, routes) in enumerate(zip(COMMODITIES, carried, strict=False)):
        if routes:
            out[f"route_flow_{c}"] = Source("route_flow", (slice(None), i, list(routes)))
    out["gdp"] = Source("gdp")
    out["export_revenue"] = Source("export_revenue")
    out["budget"] = Source("programme_budget", scale=4.0)
    out["investment_stock"] = Source("inv")
    return tuple(out.items())


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
    found = _sources(_carried(source))
    if names is None:
        return {name: src.read(state) for name, src in found}
    wanted = frozenset(names)
    return {name: src.read(state) for name, src in found if name in wanted}


@dataclass(frozen=True)
class Gather:
    """Where each value of a snapshot row (:func:`sim.output.raw_step_values`) sits.

    The row concatenates the metrics in the order asked for, each flattened C-order. It
    is cut into runs of columns read from one state array with one factor: run ``s``
    gives the row's columns ``bounds[s]:bounds[s + 1]``, read from array
    ``attrs[sources[s]]`` at ``offsets`` (per column: flat positions in one replication's
    array) and multiplied by ``scales[s]`` (1.0: copied unchanged, as
    :meth:`Source.read` copies).
    """

    attrs: tuple[str, ...]
    bounds: np.ndarray
    sources: np.ndarray
    scales: np.ndarray
    offsets: np.ndarray

    def arrays(self, state: State) -> list[np.ndarray]:
        """The state arrays read, each as ``(replications, values)`` (views when C-ordered)."""
        out = []
        for attr in self.attrs:
            value = np.ascontiguousarray(getattr(state, attr), dtype=np.float64)
            out.append(value.reshape(len(value), -1))
        return out


def gather_plan(model: GeoModel, names: Sequence[str]) -> Gather:
    """The :class:`Gather` of a snapshot row of ``names`` (in that order) of ``model``.

    Consecutive metrics of one state array and factor share a run.

    Raises:
        KeyError: for a name the model does not report.
    """
    found = sources(model)
    attrs: dict[str, int] = {}
    runs: list[tuple[int, float, int]] = []  # (array, factor, columns)
    offsets = []
    for name in names:
        src = found[name]
        k = attrs.setdefault(src.attr, len(attrs))
        part = src.offsets(getattr(model.state, src.attr).shape[1:])
        offsets.append(part)
        if runs and runs[-1][:2] == (k, src.scale):
            runs[-1] = (k, src.scale, runs[-1][2] + len(part))
        else:
            runs.append((k, src.scale, len(part)))
    return Gather(
        attrs=tuple(attrs),
        bounds=np.concatenate([[0], np.cumsum([n for _, _, n in runs])]).astype(np.int64),
        sources=np.array([k for k, _, _ in runs], dtype=np.int64),
        scales=np.array([f for _, f, _ in runs], dtype=np.float64),
        offsets=np.concatenate([np.zeros(0, dtype=np.int64), *offsets]).astype(np.int64),
    )


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
