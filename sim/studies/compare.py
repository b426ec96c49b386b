"""Compare scenarios with common random numbers: influence shares and paired differences.

Every scenario runs the same replication ids from the same seed, so replication ``k``
of scenario B faces the same price shocks, outages and project draws as replication
``k`` of scenario A. The difference ``B_k - A_k`` then holds only the effect of the
scenario change, and its spread over ``k`` is much narrower than the spread of the
difference of two independent runs. Both are computed:

* **paired**: quantiles over ``k`` of ``B_k - A_k``;
* **unpaired**: quantiles of ``B_k - A_{k+s}`` pooled over the shifts ``s = 1..``
  :data:`UNPAIRED_SHIFTS` (mod the number of replications). Replications are
  independent and identically distributed, so re-pairing them this way gives draws of
  the difference of two independent runs without running anything again.

:func:`compare_scenarios` returns a :class:`Comparison`; the functions below turn it
into data frames (the numbers behind ``casim compare``'s files, which
:mod:`sim.report` writes and draws):

* :func:`influence_bands`: median and 90% band (5-95%) of each influence share;
* :func:`paired_differences`: paired and unpaired difference bands to the first scenario;
* :func:`end_shares`: end-of-horizon shares with 90% intervals, the paired difference to
  the first scenario and both band widths;
* :func:`rank_crossings`: one influencer overtaking another over a state, the share of
  replications in which it happens and when.

Axes (states, influence holders) come from the scenarios' vocabulary
(:attr:`sim.scenario.Scenario.vocab`), so any number of states and powers works.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.engine.ensemble import replication_id_array, run_ensemble
from sim.engine.executors import run_aside
from sim.engine.runfolder import check_seed
from sim.output import quarter_start
from sim.scenario import Scenario, coerce_scenario
from sim.vocab import DEFAULT, Vocabulary

if TYPE_CHECKING:
    from collections.abc import Sequence

#: Lower and upper quantile of every interval and band (a 90% band).
INTERVAL = (0.05, 0.95)
#: Re-pairings pooled for the unpaired difference.
UNPAIRED_SHIFTS = 20
#: Replications when the caller does not say.
DEFAULT_REPLICATIONS = 200


@dataclass(frozen=True)
class Comparison:
    """Influence shares of several scenarios over common replications.

    Attributes:
        labels: one unique label per scenario (its name, numbered if repeated).
        scenarios: the resolved scenarios, first is the reference.
        seed: the common seed.
        replication_ids: the common replication ids.
        dates: ``(T,)`` first day of each quarter.
        shares: ``(n_scenarios, R, T, S, I)`` influence shares, states in
            ``vocab.states`` order and holders in ``vocab.influencers`` order.
        vocab: the actors of the compared scenarios (the labels of the axes).
    """

    labels: tuple[str, ...]
    scenarios: tuple[Scenario, ...]
    seed: int
    replication_ids: np.ndarray
    dates: np.ndarray
    shares: np.ndarray
    vocab: Vocabulary = DEFAULT

    @property
    def paired(self) -> np.ndarray:
        """``(n_scenarios - 1, R, T, S, I)``: scenario minus the first, per replication."""
        return self.shares[1:] - self.shares[:1]


def unique_labels(names: Sequence[str]) -> tuple[str, ...]:
    """Scenario names, with ``" (2)"``, ``" (3)"`` ... appended to repeats."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return tuple(out)


def compare_scenarios(
    scenarios: Sequence[Scenario | str | Path],
    *,
    replications: int | None = DEFAULT_REPLICATIONS,
    seed: int | None = None,
    replication_ids: Sequence[int] | None = None,
    executor: Any = None,
    chunk_size: int | None = None,
    progress: bool = False,
) -> Comparison:
    """Run every scenario on the same replications and collect influence shares.

    Args:
        scenarios: two or more scenarios (objects or files); the first is the reference.
        replications: run ids ``0..replications-1``.
        seed: the common seed (default: the first scenario's ``seed``).
        replication_ids: run exactly these ids instead.
        executor: a :mod:`concurrent.futures` executor for the chunks, or None.
        chunk_size: replications per model.
        progress: show a progress bar per scenario on stderr.

    Returns:
        The :class:`Comparison`.

    Raises:
        ValueError: with fewer than two scenarios, different horizons or different
            actors, or bad replication ids.
        ScenarioError: for a negative seed (key ``seed``).
    """
    loaded = [coerce_scenario(s) for s in scenarios]
    if len(loaded) < 2:
        msg = "expected at least two scenarios to compare"
        raise ValueError(msg)
    first = loaded[0]
    vocab = first.vocab
    for sc in loaded[1:]:
        if (sc.start_quarter, sc.steps) != (first.start_quarter, first.steps):
            msg = (
                f"scenario {sc.name!r} runs {sc.horizon.start}..{sc.horizon.end}, but "
                f"{first.name!r} runs {first.horizon.start}..{first.horizon.end}; "
                "compared scenarios need the same horizon"
            )
            raise ValueError(msg)
        if (sc.vocab.states, sc.vocab.influencers) != (vocab.states, vocab.influencers):
            msg = (
                f"scenario {sc.name!r} has other actors than {first.name!r}; "
                "compared scenarios need the same states and powers"
            )
            raise ValueError(msg)
    seed = check_seed(seed, first.seed, first.name)
    ids = replication_id_array(replications, replication_ids)

    def shares(sc: Scenario) -> np.ndarray:
        res = run_ensemble(
            sc,
            seed=seed,
            replication_ids=ids,
            executor=executor,
            chunk_size=chunk_size,
            metrics=("influence_share",),
            progress=progress,
        )
        arr, countries, partners = res.metric_array("influence_share")
        pos_s = [countries.index(s) for s in vocab.states]
        pos_i = [partners.index(i) for i in vocab.influencers]
        return arr[:, :, pos_s][:, :, :, pos_i]

    # Without an executor or progress bars, two scenarios at a time: the second in a
    # forked child when forking is safe (the numbers are the same either way).
    arrays: list[np.ndarray] = []
    fork = executor is None and not progress
    for k in range(0, len(loaded), 2):
        pair = loaded[k : k + 2]
        second = lambda sc=pair[-1]: shares(sc)  # noqa: E731 - bound now, run later
        second = run_aside(second) if fork and len(pair) == 2 else second
        arrays.append(shares(pair[0]))
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
        shares=np.stack(arrays),
        vocab=vocab,
    )


# ----------------------------------------------------------------------------- statistics


def band(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(q05, median, q95)`` of ``x`` along ``axis`` (linear interpolation)."""
    lo, hi = np.quantile(x, INTERVAL, axis=axis)
    return lo, np.median(x, axis=axis), hi


def unpaired_differences(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Draws of the difference of independent runs: ``b_k - a_{k+s}``, pooled over ``s``.

    Args:
        b: ``(R, ...)`` values of one scenario.
        a: ``(R, ...)`` values of the reference scenario.

    Returns:
        ``(R * n_shifts, ...)`` with ``n_shifts = min(UNPAIRED_SHIFTS, R - 1)``; empty
        when ``R == 1``.
    """
    R = len(a)
    shifts = range(1, min(UNPAIRED_SHIFTS, R - 1) + 1)
    if not shifts:
        return np.empty((0, *a.shape[1:]))
    return np.concatenate([b - np.roll(a, -s, axis=0) for s in shifts], axis=0)


def _grid_frame(cmp: Comparison, index: list[tuple[str, ...]]) -> pd.DataFrame:
    """Label columns (scenario, step, date, state, power) of a (k, T, S, I) grid."""
    states, holders = cmp.vocab.states, cmp.vocab.influencers
    T, S, H = len(cmp.dates), len(states), len(holders)
    k = len(index)
    return pd.DataFrame(
        {
            "scenario": np.repeat([x[0] for x in index], T * S * H),
            "step": np.tile(np.repeat(np.arange(T), S * H), k),
            "date": np.tile(np.repeat(cmp.dates, S * H), k),
            "state": np.tile(np.repeat(np.array(states), H), k * T),
            "power": np.tile(np.array(holders), k * T * S),
        }
    )


def influence_bands(cmp: Comparison) -> pd.DataFrame:
    """Median and 90% band of each influence share per scenario, step, state, power."""
    lo, mid, hi = band(cmp.shares, axis=1)  # (n, T, S, I)
    out = _grid_frame(cmp, [(label,) for label in cmp.labels])
    out["median"], out["q05"], out["q95"] = mid.ravel(), lo.ravel(), hi.ravel()
    return out


def paired_differences(cmp: Comparison) -> pd.DataFrame:
    """Paired and unpaired difference bands of each scenario against the first.

    Returns:
        One row per (scenario, step, state, power) for every scenario but the first:
        ``median, q05, q95`` of the paired difference and ``unpaired_q05,
        unpaired_q95`` of the unpaired one.
    """
    frames = []
    ref = cmp.shares[0]
    for k, label in enumerate(cmp.labels[1:], start=1):
        lo, mid, hi = band(cmp.shares[k] - ref, axis=0)
        ulo = np.full_like(lo, np.nan)
        uhi = np.full_like(hi, np.nan)
        for t in range(len(cmp.dates)):
            un = unpaired_differences(cmp.shares[k][:, t], ref[:, t])
            if len(un):
                ulo[t], uhi[t] = np.quantile(un, INTERVAL, axis=0)
        frame = _grid_frame(cmp, [(label,)])
        frame.insert(1, "reference", cmp.labels[0])
        frame["median"], frame["q05"], frame["q95"] = mid.ravel(), lo.ravel(), hi.ravel()
        frame["unpaired_q05"], frame["unpaired_q95"] = ulo.ravel(), uhi.ravel()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def end_shares(cmp: Comparison) -> pd.DataFrame:
    """End-of-horizon influence shares, intervals, and differences to the first scenario.

    Returns:
        One row per (state, power, scenario) with ``share_median, share_q05,
        share_q95`` and, except for the first scenario, ``diff_median, diff_q05,
        diff_q95`` (paired), ``paired_width`` and ``unpaired_width`` (widths of the 90%
        bands of the paired and unpaired differences) and ``width_ratio`` (paired over
        unpaired).
    """
    end = cmp.shares[:, :, -1]  # (n, R, S, I)
    lo, mid, hi = band(end, axis=1)  # (n, S, I)
    rows = []
    for s, state in enumerate(cmp.vocab.states):
        for i, power in enumerate(cmp.vocab.influencers):
            for k, label in enumerate(cmp.labels):
                row: dict[str, Any] = {
                    "state": state,
                    "power": power,
                    "scenario": label,
                    "share_median": mid[k, s, i],
                    "share_q05": lo[k, s, i],
                    "share_q95": hi[k, s, i],
                }
                if k > 0:
                    diff = end[k, :, s, i] - end[0, :, s, i]
                    dlo, dmid, dhi = band(diff, axis=0)
                    un = unpaired_differences(end[k, :, s, i], end[0, :, s, i])
                    ulo, uhi = np.quantile(un, INTERVAL) if len(un) else (np.nan, np.nan)
                    width = dhi - dlo
                    row |= {
                        "diff_median": dmid,
                        "diff_q05": dlo,
                        "diff_q95": dhi,
                        "paired_width": width,
                        "unpaired_width": uhi - ulo,
                        "width_ratio": width / (uhi - ulo) if uhi > ulo else np.nan,
                    }
                rows.append(row)
    cols = [
        "state", "power", "scenario", "share_median", "share_q05", "share_q95",
        "diff_median", "diff_q05", "diff_q95", "paired_width", "unpaired_width", "width_ratio",
    ]  # fmt: skip
    return pd.DataFrame(rows).reindex(columns=cols)


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
