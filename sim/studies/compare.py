"""Compare scenarios with common random numbers: any metric, at any quarter or window.

Every scenario runs the same replication ids from the same seed, so replication ``k``
of scenario B faces the same price shocks, outages and project draws as replication
``k`` of scenario A. The difference ``B_k - A_k`` then holds only the effect of the
scenario change, and its spread over ``k`` is much narrower than the spread of the
difference of two independent runs. Both are computed:

* **paired**: quantiles over ``k`` of the change from ``A_k`` to ``B_k``;
* **unpaired**: quantiles of the change from ``A_{k+s}`` to ``B_k`` pooled over the
  shifts ``s = 1..`` :data:`UNPAIRED_SHIFTS` (mod the number of replications).
  Replications are independent and identically distributed, so re-pairing them this
  way gives draws of the difference of two independent runs without running anything
  again.

Units (:func:`change`): a *share* (:func:`sim.output.metric_kind`) changes in
percentage points, ``100 (B_k - A_k)``; a *level* in percent of the reference,
``100 (B_k - A_k) / |A_k|``, per replication, then summarised. Shares themselves are
reported in percent. A :class:`Window` (:func:`parse_at`) is one quarter or a run of
quarters; over a window each replication's values are first averaged over the window's
quarters, then differenced.

:func:`compare_scenarios` returns a :class:`Comparison`; the functions below turn it
into data frames (the numbers behind ``casim compare``'s files, which
:mod:`sim.report` writes and draws):

* :func:`at_table`: each metric's values and paired differences to the first scenario
  at a window, with the widths of the paired and unpaired bands;
* :func:`difference_series`: paired and unpaired difference bands at every quarter;
* :func:`influence_bands`: median and 90% band of each influence share over time;
* :func:`rank_crossings`: one influencer overtaking another over a state, the share of
  replications in which it happens and when.

Axes come from the output layout (:func:`sim.output.metric_layout` of the scenarios'
vocabulary), so any metric, number of states and powers works.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from itertools import permutations
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.core.uncertainty import ParameterSample
from sim.engine import stats
from sim.engine.ensemble import replication_id_array, run_ensemble
from sim.engine.executors import run_aside
from sim.engine.runfolder import check_seed
from sim.output import check_metrics, metric_kind, metric_layout, quarter_start
from sim.scenario import Scenario, coerce_scenario, format_quarter, parse_quarter
from sim.vocab import DEFAULT, Vocabulary

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: Lower and upper quantile of every interval and band (a 90% band).
INTERVAL = (0.05, 0.95)
#: Re-pairings pooled for the unpaired difference.
UNPAIRED_SHIFTS = 20
#: Replications when the caller does not say.
DEFAULT_REPLICATIONS = 200
#: Metrics compared when the caller does not say.
DEFAULT_METRICS = ("influence_share",)
#: Unit of a difference, and its tag in column names, by :func:`sim.output.metric_kind`.
DIFF_UNITS = {"share": ("pp", "pp"), "level": ("%", "pct")}


@dataclass(frozen=True)
class MetricValues:
    """One metric of every compared scenario, over common replications.

    Attributes:
        name: the metric (a name of :func:`sim.output.metric_layout`).
        countries: labels of the country axis in layout order (``("",)`` if none).
        partners: labels of the partner axis in layout order (``("",)`` if none).
        values: ``(n_scenarios, R, T, C, P)`` values in the metric's own unit.
    """

    name: str
    countries: tuple[str, ...]
    partners: tuple[str, ...]
    values: np.ndarray

    @property
    def kind(self) -> str:
        """``share`` or ``level`` (:func:`sim.output.metric_kind`)."""
        return metric_kind(self.name)

    @property
    def unit(self) -> str:
        """Unit of a difference: ``pp`` (shares) or ``%`` (levels, of the reference)."""
        return DIFF_UNITS[self.kind][0]

    @property
    def tag(self) -> str:
        """The unit's tag in column names: ``pp`` or ``pct``."""
        return DIFF_UNITS[self.kind][1]


@dataclass(frozen=True)
class Window:
    """Quarters over which a comparison is read: steps ``first..last`` (inclusive).

    Attributes:
        first, last: step numbers (0 = the horizon's first quarter).
        label: ``"2028Q4"`` or ``"2027Q1:2028Q4"``.
    """

    first: int
    last: int
    label: str

    @property
    def quarters(self) -> int:
        """Number of quarters in the window."""
        return self.last - self.first + 1


def last_quarter(start_quarter: int, steps: int) -> Window:
    """The window of the horizon's last quarter (the default)."""
    return Window(steps - 1, steps - 1, format_quarter(start_quarter + steps - 1))


def parse_at(text: str | None, start_quarter: int, steps: int) -> Window:
    """``"2028Q4"`` or ``"2027Q1:2028Q4"`` as a :class:`Window` of the horizon.

    Args:
        text: the quarter or window; None for the horizon's last quarter.
        start_quarter: absolute quarter of step 0.
        steps: number of quarters in the horizon.

    Raises:
        ValueError: for a malformed text, a reversed window or quarters outside the horizon.
    """
    if text is None:
        return last_quarter(start_quarter, steps)
    horizon = f"{format_quarter(start_quarter)}..{format_quarter(start_quarter + steps - 1)}"
    expected = f"expected a quarter like 2028Q4 or a window like 2027Q1:2028Q4 inside {horizon}"
    parts = text.strip().split(":")
    try:
        if len(parts) > 2:
            raise ValueError
        first, last = (parse_quarter(p.strip()) - start_quarter for p in (parts[0], parts[-1]))
    except ValueError:
        msg = f"{expected}, got {text!r}"
        raise ValueError(msg) from None
    if not (0 <= first < steps and 0 <= last < steps):
        msg = f"{expected}, got {text!r} (outside the horizon)"
        raise ValueError(msg)
    if last < first:
        msg = f"{expected}, got {text!r} (the window ends before it starts)"
        raise ValueError(msg)
    label = format_quarter(start_quarter + first)
    if last > first:
        label += ":" + format_quarter(start_quarter + last)
    return Window(first, last, label)


@dataclass(frozen=True)
class Comparison:
    """Metrics of several scenarios over common replications.

    Attributes:
        labels: one unique label per scenario (its name, numbered if repeated).
        scenarios: the resolved scenarios, first is the reference.
        seed: the common seed.
        replication_ids: the common replication ids.
        dates: ``(T,)`` first day of each quarter.
        metrics: metric name -> :class:`MetricValues`, in the order asked for.
        vocab: the actors of the compared scenarios (the labels of the axes).
        parameters: the parameter sample the replications drew from (None: fixed).
    """

    labels: tuple[str, ...]
    scenarios: tuple[Scenario, ...]
    seed: int
    replication_ids: np.ndarray
    dates: np.ndarray
    metrics: Mapping[str, MetricValues] = field(default_factory=dict)
    vocab: Vocabulary = DEFAULT
    parameters: ParameterSample | None = None

    @property
    def shares(self) -> np.ndarray:
        """``(n_scenarios, R, T, S, I)`` influence shares (fractions).

        Raises:
            KeyError: if ``influence_share`` was not compared.
        """
        return self.metrics["influence_share"].values

    @property
    def paired(self) -> np.ndarray:
        """``(n_scenarios - 1, R, T, S, I)``: influence share minus the first's, per replication."""
        return self.shares[1:] - self.shares[:1]


def metric_values(name: str, values: np.ndarray, vocab: Vocabulary) -> MetricValues:
    """Wrap ``(n, R, T, C, P)`` values of ``name`` with its layout labels."""
    countries, partners = metric_layout(vocab)[name]
    return MetricValues(name, countries or ("",), partners or ("",), values)


def unique_labels(names: Sequence[str]) -> tuple[str, ...]:
    """Scenario names, with ``" (2)"``, ``" (3)"`` ... appended to repeats."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return tuple(out)


def check_comparable(loaded: Sequence[Scenario]) -> None:
    """Compared scenarios: two or more, one horizon, the same actors.

    Raises:
        ValueError: otherwise.
    """
    if len(loaded) < 2:
        msg = "expected at least two scenarios to compare"
        raise ValueError(msg)
    first = loaded[0]
    for sc in loaded[1:]:
        if (sc.start_quarter, sc.steps) != (first.start_quarter, first.steps):
            msg = (
                f"scenario {sc.name!r} runs {sc.horizon.start}..{sc.horizon.end}, but "
                f"{first.name!r} runs {first.horizon.start}..{first.horizon.end}; "
                "compared scenarios need the same horizon"
            )
            raise ValueError(msg)
        if (sc.vocab.states, sc.vocab.influencers) != (first.vocab.states, first.vocab.influencers):
            msg = (
                f"scenario {sc.name!r} has other actors than {first.name!r}; "
                "compared scenarios need the same states and powers"
            )
            raise ValueError(msg)


def compare_scenarios(
    scenarios: Sequence[Scenario | str | Path],
    *,
    replications: int | None = DEFAULT_REPLICATIONS,
    seed: int | None = None,
    replication_ids: Sequence[int] | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    executor: Any = None,
    chunk_size: int | None = None,
    progress: bool = False,
    parameters: ParameterSample | None = None,
) -> Comparison:
    """Run every scenario on the same replications and collect the given metrics.

    Args:
        scenarios: two or more scenarios (objects or files); the first is the reference.
        replications: run ids ``0..replications-1``.
        seed: the common seed (default: the first scenario's ``seed``).
        replication_ids: run exactly these ids instead.
        metrics: metric names of :func:`sim.output.metric_layout` (default influence shares).
        executor: a :mod:`concurrent.futures` executor for the chunks, or None.
        chunk_size: replications per model.
        progress: show a progress bar per scenario on stderr.
        parameters: per-replication parameter draws (:mod:`sim.core.uncertainty`), the
            same for every scenario: replication ``k`` has the same draw in all of
            them (common random numbers). None: the scenarios' own values.

    Returns:
        The :class:`Comparison`.

    Raises:
        ValueError: with fewer than two scenarios, different horizons or different
            actors, unknown metrics, or bad replication ids.
        ScenarioError: for a negative seed (key ``seed``).
    """
    loaded = [coerce_scenario(s) for s in scenarios]
    check_comparable(loaded)
    first = loaded[0]
    vocab = first.vocab
    names = list(dict.fromkeys(metrics))
    recorded = check_metrics(names, vocab)
    seed = check_seed(seed, first.seed, first.name)
    ids = replication_id_array(replications, replication_ids)
    layout = metric_layout(vocab)

    def values(sc: Scenario) -> dict[str, np.ndarray]:
        res = run_ensemble(
            sc, seed=seed, replication_ids=ids, executor=executor,
            chunk_size=chunk_size, metrics=recorded, progress=progress, parameters=parameters,
        )  # fmt: skip
        out = {}
        for name in names:
            arr, countries, partners = res.metric_array(name)
            want_c, want_p = (lab or ("",) for lab in layout[name])
            pos_c = [countries.index(c) for c in want_c]
            pos_p = [partners.index(p) for p in want_p]
            out[name] = arr[:, :, pos_c][:, :, :, pos_p]
        return out

    # Without an executor or progress bars, two scenarios at a time: the second in a
    # forked child when forking is safe (the numbers are the same either way).
    arrays: list[dict[str, np.ndarray]] = []
    fork = executor is None and not progress
    for k in range(0, len(loaded), 2):
        pair = loaded[k : k + 2]
        second = lambda sc=pair[-1]: values(sc)  # noqa: E731 - bound now, run later
        second = run_aside(second) if fork and len(pair) == 2 else second
        arrays.append(values(pair[0]))
        if len(pair) == 2:
            arrays.append(second())
    dates = np.array(
        [quarter_start(first.start_quarter + t) for t in range(first.steps)],
        dtype="datetime64[ns]",
    )
    return Comparison(
        labels=unique_labels([s.name for s in loaded]),
        scenarios=tuple(loaded),
        seed=seed,
        replication_ids=ids,
        dates=dates,
        metrics={n: metric_values(n, np.stack([a[n] for a in arrays]), vocab) for n in names},
        vocab=vocab,
        parameters=parameters,
    )


# ----------------------------------------------------------------------------- statistics


def band(
    x: np.ndarray, axis: int, *, median: bool = True
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """``(q05, median, q95)`` of ``x`` along ``axis`` (linear interpolation).

    NaN values (changes in percent of a zero reference) are left out; a cell with no
    other value is NaN. With ``median=False`` the median is not computed (None). The
    axis is moved last and made contiguous first: numpy selects along contiguous
    lanes several times faster, and the order statistics, so the numbers, are the same.
    """
    x = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    if not np.isnan(x).any():
        lo, hi = np.quantile(x, INTERVAL, axis=-1)
        return lo, np.median(x, axis=-1) if median else None, hi
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells stay NaN
        lo, hi = np.nanquantile(x, INTERVAL, axis=-1)
        return lo, np.nanmedian(x, axis=-1) if median else None, hi


def unpaired_band(b: np.ndarray, a: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """``(q05, q95)`` over ``k`` of :func:`unpaired_differences` of ``(R, T, ...)`` values.

    The same numbers as :func:`band` of :func:`unpaired_differences` step by step, for
    every step at once: compiled (:func:`sim.engine.stats.unpaired_interval`), or with
    ``CASIM_KERNELS=0`` in numpy, the pooled draws of a block of steps laid out along
    the last axis (at most about 32 MiB at a time), taking only the two quantiles.

    Returns:
        ``(T, ...)`` arrays; NaN when ``R == 1``.
    """
    R, T = a.shape[:2]
    n_shifts = min(UNPAIRED_SHIFTS, R - 1)
    lo, hi = np.full(a.shape[1:], np.nan), np.full(a.shape[1:], np.nan)
    if n_shifts < 1:
        return lo, hi
    if stats.ENABLED:
        return stats.unpaired_interval(b, a, kind, n_shifts, INTERVAL)
    step_bytes = 8 * n_shifts * a[0].size // T
    block = max(1, (32 << 20) // max(step_bytes, 1))
    for t0 in range(0, T, block):
        aa = np.moveaxis(a[:, t0 : t0 + block], 0, -1)  # (t, ..., R)
        bb = np.moveaxis(b[:, t0 : t0 + block], 0, -1)
        pool = np.empty((*aa.shape[:-1], n_shifts * R))
        for s in range(1, n_shifts + 1):
            pool[..., (s - 1) * R : s * R] = change(bb, np.roll(aa, -s, axis=-1), kind)
        lo[t0 : t0 + block], _, hi[t0 : t0 + block] = band(pool, axis=-1, median=False)
    return lo, hi


def change(b: np.ndarray, a: np.ndarray, kind: str) -> np.ndarray:
    """Change from ``a`` to ``b``, element by element, in the unit of ``kind``.

    A share changes in percentage points, ``100 (b - a)``; a level in percent of the
    reference, ``100 (b - a) / |a|``: 0 where both are 0, NaN where only ``a`` is.
    """
    if kind == "share":
        return 100.0 * (b - a)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 100.0 * (b - a) / np.abs(a)
    return np.where(a == 0, np.where(b == 0, 0.0, np.nan), out)


def in_unit(x: np.ndarray, kind: str) -> np.ndarray:
    """Values as reported: shares in percent, levels in their own unit."""
    return 100.0 * x if kind == "share" else x


def unpaired_differences(b: np.ndarray, a: np.ndarray, kind: str = "share") -> np.ndarray:
    """Draws of the change between independent runs: ``a_{k+s}`` to ``b_k``, pooled over ``s``.

    Args:
        b: ``(R, ...)`` values of one scenario.
        a: ``(R, ...)`` values of the reference scenario.
        kind: ``share`` or ``level`` (the unit of :func:`change`).

    Returns:
        ``(R * n_shifts, ...)`` with ``n_shifts = min(UNPAIRED_SHIFTS, R - 1)``; empty
        when ``R == 1``.
    """
    R = len(a)
    shifts = range(1, min(UNPAIRED_SHIFTS, R - 1) + 1)
    if not shifts:
        return np.empty((0, *a.shape[1:]))
    return np.concatenate([change(b, np.roll(a, -s, axis=0), kind) for s in shifts], axis=0)


def window_mean(values: np.ndarray, window: Window) -> np.ndarray:
    """``(..., R, T, C, P)`` values averaged over the window's quarters: ``(..., R, C, P)``."""
    return values[..., window.first : window.last + 1, :, :].mean(axis=-3)


def value_columns(kind: str) -> tuple[str, str, str]:
    """Names of the median, 5% and 95% columns of the values: ``share_pct_*`` or ``level_*``."""
    stem = "share_pct" if kind == "share" else "level"
    return f"{stem}_median", f"{stem}_q05", f"{stem}_q95"


def diff_columns(kind: str) -> tuple[str, str, str]:
    """Names of the paired-difference columns: ``diff_pp_*`` or ``diff_pct_*``."""
    tag = DIFF_UNITS[kind][1]
    return f"diff_{tag}_median", f"diff_{tag}_q05", f"diff_{tag}_q95"


def _cells(mv: MetricValues) -> dict[str, np.ndarray]:
    """Label columns ``country, partner`` of a flattened ``(C, P)`` grid."""
    C, P = len(mv.countries), len(mv.partners)
    return {
        "country": np.repeat(np.array(mv.countries, dtype=object), P),
        "partner": np.tile(np.array(mv.partners, dtype=object), C),
    }


def at_table(cmp: Comparison, metric: str, window: Window) -> pd.DataFrame:
    """One metric's values and paired differences to the first scenario over a window.

    Each replication's values are averaged over the window's quarters first; the
    changes (:func:`change`) are then taken per replication and summarised.

    Returns:
        One row per (country, partner, scenario), countries and partners in layout
        order: ``metric, at, country, partner, scenario``, the values' median and 5-95%
        interval (:func:`value_columns`: shares in percent, levels in the metric's own
        unit) and, except for the first scenario, ``reference``, the paired change's
        median and 5-95% band (:func:`diff_columns`: pp or percent),
        ``paired_width_<u>`` and ``unpaired_width_<u>`` (widths of the 90% bands of the
        paired and unpaired changes) and ``width_ratio`` (paired over unpaired).
    """
    mv = cmp.metrics[metric]
    x = window_mean(mv.values, window)  # (n, R, C, P)
    lo, mid, hi = band(in_unit(x, mv.kind), axis=1)  # (n, C, P)
    vcols, dcols, tag = value_columns(mv.kind), diff_columns(mv.kind), mv.tag
    frames = []
    for k, label in enumerate(cmp.labels):
        frame = pd.DataFrame(_cells(mv))
        frame.insert(0, "scenario", label)
        for col, arr in zip(vcols, (mid[k], lo[k], hi[k]), strict=True):
            frame[col] = arr.ravel()
        if k > 0:
            dlo, dmid, dhi = band(change(x[k], x[0], mv.kind), axis=0)
            ulo, _, uhi = band(unpaired_differences(x[k], x[0], mv.kind), axis=0, median=False)
            frame["reference"] = cmp.labels[0]
            for col, arr in zip(dcols, (dmid, dlo, dhi), strict=True):
                frame[col] = arr.ravel()
            frame[f"paired_width_{tag}"] = (dhi - dlo).ravel()
            frame[f"unpaired_width_{tag}"] = (uhi - ulo).ravel()
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = out[f"paired_width_{tag}"] / out[f"unpaired_width_{tag}"]
    out["width_ratio"] = ratio.where(out[f"unpaired_width_{tag}"] > 0)
    out.insert(0, "at", window.label)
    out.insert(0, "metric", metric)
    order = {c: n for n, c in enumerate(mv.countries)}, {p: n for n, p in enumerate(mv.partners)}
    out = out.assign(_c=out["country"].map(order[0]), _p=out["partner"].map(order[1]))
    out = out.sort_values(["_c", "_p"], kind="stable").drop(columns=["_c", "_p"])
    cols = ["metric", "at", "country", "partner", "scenario", "reference", *vcols, *dcols]
    cols += [f"paired_width_{tag}", f"unpaired_width_{tag}", "width_ratio"]
    return out.reindex(columns=cols).reset_index(drop=True)


def difference_series(cmp: Comparison, metric: str) -> pd.DataFrame:
    """Paired and unpaired changes of one metric to the first scenario, every quarter.

    Returns:
        One row per (scenario, step, country, partner) for every scenario but the first:
        ``scenario, reference, step, date, country, partner``, the paired change's
        median and 5-95% band (:func:`diff_columns`) and ``unpaired_<u>_q05,
        unpaired_<u>_q95`` (pp for shares, percent of the reference for levels).
    """
    mv = cmp.metrics[metric]
    T = len(cmp.dates)
    ref = mv.values[0]
    dcols, tag = diff_columns(mv.kind), mv.tag
    cells = _cells(mv)
    F = len(cells["country"])
    frames = []
    for k, label in enumerate(cmp.labels[1:], start=1):
        lo, mid, hi = band(change(mv.values[k], ref, mv.kind), axis=0)  # (T, C, P)
        ulo, uhi = unpaired_band(mv.values[k], ref, mv.kind)
        frame = pd.DataFrame(
            {
                "scenario": label,
                "reference": cmp.labels[0],
                "step": np.repeat(np.arange(T), F),
                "date": np.repeat(cmp.dates, F),
                "country": np.tile(cells["country"], T),
                "partner": np.tile(cells["partner"], T),
            }
        )
        for col, arr in zip(dcols, (mid, lo, hi), strict=True):
            frame[col] = arr.ravel()
        frame[f"unpaired_{tag}_q05"], frame[f"unpaired_{tag}_q95"] = ulo.ravel(), uhi.ravel()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def influence_bands(cmp: Comparison) -> pd.DataFrame:
    """Median and 90% band of each influence share, in percent, per scenario and quarter.

    Returns:
        ``scenario, step, date, state, power, share_pct_median, share_pct_q05,
        share_pct_q95``.
    """
    states, holders = cmp.vocab.states, cmp.vocab.influencers
    T, S, H = len(cmp.dates), len(states), len(holders)
    n = len(cmp.labels)
    lo, mid, hi = band(100.0 * cmp.shares, axis=1)  # (n, T, S, I)
    out = pd.DataFrame(
        {
            "scenario": np.repeat(np.array(cmp.labels, dtype=object), T * S * H),
            "step": np.tile(np.repeat(np.arange(T), S * H), n),
            "date": np.tile(np.repeat(cmp.dates, S * H), n),
            "state": np.tile(np.repeat(np.array(states), H), n * T),
            "power": np.tile(np.array(holders), n * T * S),
        }
    )
    for col, arr in zip(value_columns("share"), (mid, lo, hi), strict=True):
        out[col] = arr.ravel()
    return out


def rank_crossings(cmp: Comparison) -> pd.DataFrame:
    """When one holder overtakes another over a state, and in how many replications.

    An overtaking of ``j`` by ``i`` happens at step ``t >= 1`` when ``i``'s share is at
    most ``j``'s at ``t - 1`` and above it at ``t``. For each scenario, state and
    ordered pair, the first such step of each replication is taken.

    Returns:
        One row per (scenario, state, overtaker, overtaken) that happens in at least one
        replication: ``replications_share`` (share of replications in which it happens),
        ``first_date_median``, ``first_date_q05``, ``first_date_q95`` (quarter of the
        first overtaking, over those replications, nearest-rank quantiles),
        ``ahead_at_start_share`` and ``ahead_at_end_share`` (share of all replications
        in which the overtaker is ahead at the first and last step).
    """
    holders = cmp.vocab.influencers
    rows = []
    for k, label in enumerate(cmp.labels):
        for s, state in enumerate(cmp.vocab.states):
            x = cmp.shares[k][:, :, s]  # (R, T, I)
            for i, j in permutations(range(len(holders)), 2):
                d = x[:, :, i] - x[:, :, j]
                up = (d[:, 1:] > 0) & (d[:, :-1] <= 0)
                happens = up.any(axis=1)
                if not happens.any():
                    continue
                first = up.argmax(axis=1)[happens] + 1
                q = np.quantile(first, (0.5, *INTERVAL), method="inverted_cdf")
                rows.append(
                    {
                        "scenario": label,
                        "state": state,
                        "overtaker": holders[i],
                        "overtaken": holders[j],
                        "replications_share": float(happens.mean()),
                        "first_date_median": cmp.dates[int(q[0])],
                        "first_date_q05": cmp.dates[int(q[1])],
                        "first_date_q95": cmp.dates[int(q[2])],
                        "ahead_at_start_share": float((d[:, 0] > 0).mean()),
                        "ahead_at_end_share": float((d[:, -1] > 0).mean()),
                    }
                )
    out = pd.DataFrame(
        rows,
        columns=[
            "scenario", "state", "overtaker", "overtaken", "replications_share",
            "first_date_median", "first_date_q05", "first_date_q95",
            "ahead_at_start_share", "ahead_at_end_share",
        ],
    )  # fmt: skip
    order = {label: n for n, label in enumerate(cmp.labels)}
    out["_k"] = out["scenario"].map(order)
    out["_s"] = out["state"].map(cmp.vocab.states.index)
    out = out.sort_values(["_k", "_s", "replications_share"], ascending=[True, True, False])
    return out.drop(columns=["_k", "_s"]).reset_index(drop=True)


# ----------------------------------------------------------------------------- labels


def quarter_label(date: pd.Timestamp) -> str:
    """``2031-04-01`` -> ``"2031Q2"``."""
    return f"{date.year}Q{(date.month - 1) // 3 + 1}"
