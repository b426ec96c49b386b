"""An ensemble's values as a labelled :class:`xarray.Dataset` (no copy).

:func:`dataset` wraps the engine's compact value array (``(replications, steps x
per_step)`` float64, raw order) in a Dataset whose variables are views of it:

* one variable per metric family: ``exports``, ``production`` and ``price`` have a
  ``commodity`` dimension, ``influence`` a ``channel`` dimension (``share`` is the
  total, the others its parts); ``gdp``, ``export_revenue``, ``budget``,
  ``investment_stock`` and ``trade_share`` are one metric each;
* dimensions ``replication``, ``step`` (with the quarter's first day as the ``date``
  coordinate), and one dimension per list of actors: ``country`` (the states),
  ``partner`` (trade partners: powers then markets), ``influencer`` (powers then
  ``OTH``) and ``power``; ``route_flow_<commodity>`` has the routes that carry the
  commodity (dimension ``route``, or ``route_flow_<commodity>_route`` where another
  commodity's routes differ). Each variable uses those it has, so nothing is padded
  and the Dataset costs no memory beyond the value array;
* ``units`` and ``long_name`` attributes on every variable (per commodity where the
  units differ: ``"oil: Mt; gas: bcm; ..."``).

Example::

    res = run_ensemble("scenarios/baseline.yaml", replications=1000)
    ds = res.data
    ds.influence.sel(channel="share", country="KAZ", influencer="CHN").quantile(
        [0.05, 0.5, 0.95], dim="replication"
    )
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from sim.output import quarter_start
from sim.vocab import CHANNELS, COMMODITIES, PRICE_UNITS, UNITS

if TYPE_CHECKING:
    from sim.output import MetricBlock, RowLayout

#: family -> (member dimension, members, long name, units or None when per member).
FAMILIES: dict[str, tuple[str, tuple[str, ...], str, str | None]] = {
    "influence": ("channel", ("share", *CHANNELS), "share of influence over the state", "1"),
    "exports": ("commodity", COMMODITIES, "exports, physical units per year", None),
    "production": ("commodity", COMMODITIES, "output produced, physical units per year", None),
    "price": ("commodity", COMMODITIES, "price", None),
}
#: Single metrics: long name, units.
SINGLE: dict[str, tuple[str, str]] = {
    "trade_share": ("share of goods trade (exports + imports)", "1"),
    "gdp": ("GDP", "USD bn per year"),
    "export_revenue": ("export netback revenue", "USD bn per year"),
    "budget": ("programme budget left after named projects", "USD bn per year"),
    "investment_stock": ("completed investment stock", "USD bn"),
}


def family_of(metric: str) -> tuple[str, str | None]:
    """``(variable, member)``: the Dataset variable a metric belongs to, and its member."""
    head, _, tail = metric.partition("_")
    if head in FAMILIES and tail in FAMILIES[head][1]:
        return head, tail
    return metric, None


def _variable(
    name: str, blocks: list[MetricBlock], values: np.ndarray
) -> tuple[tuple[str, ...], np.ndarray, dict[str, str], tuple[str, ...] | None]:
    """Dims, view, attributes and member labels of one variable (contiguous blocks)."""
    first, last = blocks[0], blocks[-1]
    shape = tuple(len(a) for a in first.labels)
    arr = values[:, :, first.start : last.stop]
    if name in FAMILIES:
        dim, _, long_name, units = FAMILIES[name]
        members = tuple(family_of(b.name)[1] or "" for b in blocks)
        arr = arr.reshape(*arr.shape[:2], len(blocks), *shape)
        if units is None:
            table = PRICE_UNITS if name == "price" else UNITS
            units = "; ".join(f"{m}: {table[m]}" for m in members)
        attrs = {"long_name": long_name, "units": units}
        return ("replication", "step", dim, *first.dims), arr, attrs, members
    long_name, units = SINGLE.get(name, (name, ""))
    if name.startswith("route_flow_"):
        commodity = name.removeprefix("route_flow_")
        long_name = f"{commodity} exports by route, units per year"
        units = UNITS[commodity]
    arr = arr.reshape(*arr.shape[:2], *shape)
    return ("replication", "step", *first.dims), arr, {"long_name": long_name, "units": units}, None


def _groups(layout: RowLayout) -> dict[str, list[MetricBlock]]:
    """Metric blocks by variable; a family's blocks are adjacent in the raw row."""
    groups: dict[str, list[MetricBlock]] = {}
    for block in layout.blocks:
        groups.setdefault(family_of(block.name)[0], []).append(block)
    return groups


def dataset(raw: np.ndarray, ids: np.ndarray, layout: RowLayout) -> xr.Dataset:
    """Label an ensemble's raw values (``(replications, rows)``) without copying them.

    Args:
        raw: values in raw order (:attr:`sim.output.RowLayout.blocks`).
        ids: the replication id of each row.
        layout: the row layout.

    Returns:
        The Dataset described in the module docstring.
    """
    values = raw.reshape(len(raw), layout.steps, layout.per_step)
    dates = np.array(
        [quarter_start(layout.start_quarter + t) for t in range(layout.steps)],
        dtype="datetime64[ns]",
    )
    coords: dict[str, object] = {
        "replication": np.asarray(ids, dtype=np.int64),
        "step": np.arange(layout.steps),
        "date": ("step", dates),
    }
    data_vars: dict[str, object] = {}
    for name, blocks in _groups(layout).items():
        dims, arr, attrs, members = _variable(name, blocks, values)
        axes = blocks[0].labels
        n = len(dims) - len(axes)
        for j, labels in enumerate(axes):
            dim = dims[n + j]
            if dim in coords and list(coords[dim]) != list(labels):  # type: ignore[call-overload]
                dim = f"{name}_{dim}"  # routes differ by commodity: keep the axes apart
                dims = (*dims[: n + j], dim, *dims[n + j + 1 :])
            coords[dim] = list(labels)
        if members is not None:
            member_dim = dims[2]
            if member_dim in coords and list(coords[member_dim]) != list(members):  # type: ignore[call-overload]
                member_dim = f"{name}_{member_dim}"  # a subset of metrics: keep axes apart
                dims = (*dims[:2], member_dim, *dims[3:])
            coords[member_dim] = list(members)
        data_vars[name] = xr.Variable(dims, arr, attrs=attrs)
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs["description"] = "casim ensemble: one variable per metric family"
    return ds
