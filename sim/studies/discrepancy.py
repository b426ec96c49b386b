"""Model discrepancy: the model's structural error in trade shares, fitted in sample.

The ensemble's bands carry stochastic noise and (with a posterior) parameter
uncertainty, but not the model's structural error, which dominates its error against
the reference data. Following Kennedy and O'Hagan (2001, *J. R. Stat. Soc. B* 63:
425-464), the observed share is the model's plus a discrepancy term; as in forecast
verification, the discrepancy grows with the lead time ``h`` (years after the run's
base year).

**Space.** A state's shares over the partners (the residual partner ``ROW`` last) are
mapped to additive log-ratios (ALR, Aitchison 1986): ``y_p = ln(s_p / s_ROW)`` for each
reported partner ``p``. The discrepancy acts there, so the perturbed shares stay in
[0, 1] and sum to 1 (the inverse map is a softmax).

**Error model.** For state ``c`` and reported partner ``p``, the discrepancy at lead
``h >= 1`` is a random walk plus an observation term::

    d_cp(h) = sigma_c * (e_1 + ... + e_h) + tau * u_h,   e, u ~ N(0, 1) i.i.d.

so ``Var d(h) = tau^2 + sigma^2 h`` and ``Cov(d(h), d(h')) = sigma^2 min(h, h')`` for
``h != h'``; ``d(0) = 0`` (the run starts on its base-year data). ``sigma`` is pooled
(one value) or per state (``by="country"``); ``tau`` is pooled.

**Fit.** Maximum likelihood (:func:`fit_random_walk`) on the in-sample residuals: the
ALR of the reference (IMF DOTS, mirror) minus the ALR of the in-sample run's ensemble
median, one series of ``h = 1..5`` (2006-2010) per state and partner, each a
multivariate normal with the covariance above. The residuals of the median also hold
the ensemble's own spread, which the bands carry again: the fitted discrepancy is
slightly conservative by that (small) amount.

**Draws.** Replication ``k`` of a run with base year ``b`` draws its path from
``SeedSequence(seed, spawn_key=(k, DISCREPANCY_STREAM, b))``, a stream neither the noise
of :mod:`sim.core.noise` nor the parameter draw of :mod:`sim.core.uncertainty` uses: the
draw depends on (seed, k, b) and the array shape alone, so it is batch-invariant.

Extrapolation: the fit sees ``h <= 5``; the hindcast from 2010 uses it up to ``h = 14``
(2024). That the error keeps growing like a random walk there is an assumption.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from sim.core.uncertainty import PARAMETER_STREAM
from sim.vocab import DEFAULT, Vocabulary

#: The SeedSequence stream index of the discrepancy draw (after the parameter draw's).
DISCREPANCY_STREAM = PARAMETER_STREAM + 1
#: Floor on a share (fraction) before taking logs.
SHARE_FLOOR = 1e-6
#: Ways to pool ``sigma``: one value, or one per state.
GROUPINGS = ("pooled", "country")
#: What the bands carry on top of noise and parameters (captions, skill.md).
DISCREPANCY_NOTE = (
    "model discrepancy (random walk in log-ratio space, fitted in sample 2006-2010, "
    "extrapolated to longer leads)"
)


@dataclass(frozen=True)
class DiscrepancyFit:
    """A fitted discrepancy (see the module docstring).

    Attributes:
        sigma: random-walk scale per year, per state (``"*"``: pooled value for all).
        tau: observation-noise scale (ALR units).
        beta: scale of a persistent offset from lead 1 on (0 without ``offset``).
        loglik: maximised log-likelihood of the in-sample residuals.
        n_points: residuals fitted.
        n_series: (state, partner) series fitted.
        h_range: the leads (years) fitted, ``(first, last)``.
        years: the calendar years fitted, ``(first, last)``.
        by: ``"pooled"`` or ``"country"``.
        offset: whether ``beta`` was fitted.
        extra: further manifest fields (the alternative fits).
    """

    sigma: dict[str, float]
    tau: float
    beta: float = 0.0
    loglik: float = float("nan")
    n_points: int = 0
    n_series: int = 0
    h_range: tuple[int, int] = (0, 0)
    years: tuple[int, int] = (0, 0)
    by: str = "pooled"
    offset: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def sigma_of(self, country: str) -> float:
        """``sigma`` of a state (the pooled value if there is no per-state one)."""
        return self.sigma.get(country, self.sigma.get("*", 0.0))

    @property
    def n_params(self) -> int:
        """Number of fitted parameters (the sigmas and tau)."""
        return len(self.sigma) + 1 + int(self.offset)

    @property
    def aic(self) -> float:
        """Akaike's information criterion of the fit."""
        return 2 * self.n_params - 2 * self.loglik

    def short(self) -> dict[str, Any]:
        """The fitted values, likelihood and AIC (rounded)."""
        return {
            "by": self.by,
            "offset": self.offset,
            "sigma": {k: round(v, 5) for k, v in self.sigma.items()},
            "tau": round(self.tau, 5),
            "beta": round(self.beta, 5),
            "loglik": round(self.loglik, 3),
            "aic": round(self.aic, 3),
        }

    def to_dict(self) -> dict[str, Any]:
        """The manifest entry (rounded)."""
        return {
            "model": "d(h) = beta*b + sigma*(e_1+...+e_h) + tau*u_h in ALR(share / ROW), h >= 1",
            **self.short(),
            "n_points": self.n_points,
            "n_series": self.n_series,
            "h_fitted": list(self.h_range),
            "years_fitted": list(self.years),
            "stream": DISCREPANCY_STREAM,
        } | self.extra


# ----------------------------------------------------------------------------- ALR


def alr_table(shares: pd.DataFrame, vocab: Vocabulary = DEFAULT) -> pd.DataFrame:
    """ALR of shares in percent: ``year, country, partner, alr`` for the reported partners.

    ``shares`` needs ``year, country, partner, share_pct`` for the reported partners;
    the residual partner's share is taken from ``shares`` if present, else 100 minus
    the reported ones (the reference data's case).
    """
    wide = shares.pivot_table(
        index=["year", "country"], columns="partner", values="share_pct", aggfunc="first"
    )
    reported = list(vocab.target_partners)
    res = vocab.partners[-1]
    rest = wide[res] if res in wide else 100.0 - wide[reported].sum(axis=1)
    floor = 100.0 * SHARE_FLOOR
    alr = np.log(wide[reported].clip(lower=floor)).sub(np.log(rest.clip(lower=floor)), axis=0)
    out = alr.stack().rename("alr").reset_index()
    return out.rename(columns={"level_2": "partner"})


def residuals(
    median: pd.DataFrame,
    reference: pd.DataFrame,
    base_year: int,
    last_year: int,
    vocab: Vocabulary = DEFAULT,
) -> pd.DataFrame:
    """In-sample ALR residuals (reference minus model median), leads ``1..last-base``.

    Returns:
        Columns ``country, partner, year, h, resid``.
    """
    years = list(range(base_year + 1, last_year + 1))
    model = alr_table(median[median["year"].isin(years)], vocab)
    ref = alr_table(reference[reference["year"].isin(years)], vocab)
    both = ref.merge(model, on=["year", "country", "partner"], suffixes=("_ref", "_mod"))
    both["h"] = both["year"] - base_year
    both["resid"] = both["alr_ref"] - both["alr_mod"]
    return both[["country", "partner", "year", "h", "resid"]].sort_values(
        ["country", "partner", "h"], ignore_index=True
    )


# ----------------------------------------------------------------------------- fit


def series_loglik(
    resid: np.ndarray, h: np.ndarray, sigma: float, tau: float, beta: float = 0.0
) -> float:
    """Log-likelihood of one series under ``Cov = beta^2 + sigma^2 min(h, h') + tau^2 I``."""
    cov = beta**2 + sigma**2 * np.minimum.outer(h, h).astype(float) + tau**2 * np.eye(len(h))
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        return -np.inf
    quad = float(resid @ np.linalg.solve(cov, resid))
    return -0.5 * (len(h) * np.log(2 * np.pi) + logdet + quad)


def _total_loglik(
    groups: list[tuple[int, np.ndarray, np.ndarray]], sigmas: np.ndarray, tau: float, beta: float
) -> float:
    return sum(series_loglik(r, h, sigmas[g], tau, beta) for g, r, h in groups)


def fit_random_walk(
    resid: pd.DataFrame, by: str = "pooled", *, offset: bool = False
) -> DiscrepancyFit:
    """Maximum-likelihood ``sigma`` (pooled or per state), ``tau`` and optionally ``beta``.

    Args:
        resid: ``country, partner, year, h, resid`` (:func:`residuals`).
        by: ``"pooled"`` (one sigma) or ``"country"`` (one per state; tau pooled).
        offset: also fit ``beta``, a persistent offset from lead 1 on (pooled).

    Raises:
        ValueError: for an unknown ``by`` or no residuals.
    """
    if by not in GROUPINGS:
        msg = f"by: expected one of {', '.join(GROUPINGS)}, got {by!r}"
        raise ValueError(msg)
    resid = resid[np.isfinite(resid["resid"])]
    if resid.empty:
        msg = "no finite residuals to fit"
        raise ValueError(msg)
    names = ["*"] if by == "pooled" else list(dict.fromkeys(resid["country"]))
    groups = [
        (0 if by == "pooled" else names.index(c), g["resid"].to_numpy(), g["h"].to_numpy())
        for (c, _), g in resid.groupby(["country", "partner"], sort=False)
    ]
    scale = float(np.sqrt(np.mean(resid["resid"] ** 2 / resid["h"])))
    x0 = np.log(np.r_[np.full(len(names), scale), [0.5 * scale] * (2 if offset else 1)])
    n = len(names)

    def nll(x: np.ndarray) -> float:
        beta = float(np.exp(x[n + 1])) if offset else 0.0
        val = _total_loglik(groups, np.exp(x[:n]), float(np.exp(x[n])), beta)
        return -val if np.isfinite(val) else 1e12

    opts = {"xatol": 1e-7, "fatol": 1e-9, "maxiter": 4000 * len(x0), "maxfev": 8000 * len(x0)}
    opt = minimize(nll, x0, method="Nelder-Mead", options=opts)
    return DiscrepancyFit(
        sigma={m: float(v) for m, v in zip(names, np.exp(opt.x[:n]), strict=True)},
        tau=float(np.exp(opt.x[n])),
        beta=float(np.exp(opt.x[n + 1])) if offset else 0.0,
        loglik=-float(opt.fun),
        n_points=len(resid),
        n_series=len(groups),
        h_range=(int(resid["h"].min()), int(resid["h"].max())),
        years=(int(resid["year"].min()), int(resid["year"].max())),
        by=by,
        offset=offset,
    )


def fit_best(resid: pd.DataFrame) -> DiscrepancyFit:
    """The fit with the lowest AIC of: sigma pooled or per state, with or without offset.

    The others' AIC and values are kept in ``extra["alternatives"]``.
    """
    fits = [fit_random_walk(resid, by, offset=o) for by in GROUPINGS for o in (False, True)]
    best = min(fits, key=lambda f: f.aic)
    alts = [f.short() for f in fits if f is not best]
    return dataclasses.replace(best, extra={"alternatives": alts})


# ----------------------------------------------------------------------------- draws


def standard_paths(seed: int, ids: np.ndarray, shape: tuple[int, ...], key: int) -> np.ndarray:
    """``(R, 3, *shape)`` standard normals, replication ``k`` from its own stream.

    ``[:, 0]`` are the random walk's increments, ``[:, 1]`` the observation noise,
    ``[:, 2, 0]`` the offset.
    """
    return np.stack(
        [
            np.random.default_rng(
                np.random.SeedSequence(seed, spawn_key=(int(k), DISCREPANCY_STREAM, int(key)))
            ).standard_normal((3, *shape))
            for k in np.asarray(ids, dtype=np.int64)
        ]
    )


def discrepancy_paths(
    fit: DiscrepancyFit,
    seed: int,
    ids: np.ndarray,
    n_years: int,
    states: tuple[str, ...],
    n_partners: int,
    key: int,
) -> np.ndarray:
    """``(R, n_years, S, P)`` ALR discrepancy at leads ``0..n_years-1`` (zero at lead 0)."""
    z = standard_paths(seed, ids, (n_years - 1, len(states), n_partners), key)
    sig = np.array([fit.sigma_of(s) for s in states])[None, None, :, None]
    walk = sig * np.cumsum(z[:, 0], axis=1) + fit.tau * z[:, 1] + fit.beta * z[:, 2, :1]
    return np.concatenate([np.zeros_like(walk[:, :1]), walk], axis=1)


def perturb_shares(shares: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Shares ``(..., P + 1)`` (residual partner last, fractions) moved by ALR ``d`` (..., P).

    Returns shares in [0, 1] summing to 1 over the last axis.
    """
    s = np.clip(shares, SHARE_FLOOR, None)
    s = s / s.sum(axis=-1, keepdims=True)
    logs = np.log(s)
    logs[..., :-1] += d
    logs -= logs.max(axis=-1, keepdims=True)
    out = np.exp(logs)
    return out / out.sum(axis=-1, keepdims=True)


def apply_discrepancy(
    annual: pd.DataFrame,
    fit: DiscrepancyFit,
    seed: int,
    base_year: int,
    vocab: Vocabulary = DEFAULT,
) -> pd.DataFrame:
    """Per-replication annual shares (:func:`annual_shares`) with a discrepancy path each.

    Replication ``k``'s path comes from its own stream (module docstring), keyed by the
    run's ``base_year``; the lead is ``year - base_year``. Every partner's share is
    returned (reported and residual), in percent, summing to 100 per state and year.
    """
    partners = list(vocab.partners)
    states = tuple(s for s in vocab.states if s in set(annual["country"]))
    cube = annual.pivot_table(
        index=["replication", "year", "country"], columns="partner", values="share_pct"
    )[partners]
    reps = np.sort(annual["replication"].unique())
    years = np.sort(annual["year"].unique())
    full = pd.MultiIndex.from_product([reps, years, states])
    arr = cube.reindex(full).to_numpy().reshape(len(reps), len(years), len(states), -1)
    n_years = int(years.max() - base_year + 1)
    d = discrepancy_paths(fit, seed, reps, n_years, states, len(partners) - 1, base_year)
    d = d[:, np.clip(years - base_year, 0, None)]
    moved = 100.0 * perturb_shares(arr / 100.0, d)
    out = pd.DataFrame(moved.reshape(-1, len(partners)), index=full, columns=partners)
    out.index.names = ["replication", "year", "country"]
    tidy = out.stack().rename("share_pct").reset_index()
    return tidy.rename(columns={"level_3": "partner"})
