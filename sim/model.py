"""``GeoModel``: the Mesa model of great-power competition in Central Asia.

The model's state lives in numpy arrays with a leading replication axis ``R``: one
``GeoModel`` advances ``R`` independent replications at once (one by default). The nine
agents each own an index into those arrays and act on all replications together.

Randomness: replication ``k``'s random numbers come from its own generators seeded by
``numpy.random.SeedSequence(seed, spawn_key=(k, stream))``, where ``seed`` is the
model's seed (Mesa's ``rng`` argument, by default the scenario's ``seed``); all of them
are drawn when the model is built, so a replication's trajectory depends only on
(scenario, seed, k) and never on which other replications share its batch.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import mesa
import numpy as np

from sim import dynamics, metrics
from sim.agents import CentralAsianState, GreatPower, sector_commodity_matrix
from sim.countries import (
    CHANNELS,
    COMMODITIES,
    INFLUENCERS,
    PARTNERS,
    POWERS,
    SECTORS,
    STATES,
    VALUE_FACTOR,
)
from sim.scenario import Scenario, coerce_scenario, parse_quarter

RESOURCES = tuple(c for c in COMMODITIES if c != "other")
PRIORITIES = ("influence", "resource_security", "return")


N_STREAMS = 5  # prices, disruption arrivals, disruption durations, programme, named projects


def replication_generators(seed: int, ids: np.ndarray) -> list[list[np.random.Generator]]:
    """Per replication id, its independent generators, derived from (seed, id) alone.

    Stream ``j`` of replication ``k`` is seeded by ``SeedSequence(seed, spawn_key=(k, j))``.
    """
    return [
        [
            np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(k), j)))
            for j in range(N_STREAMS)
        ]
        for k in ids
    ]


class GeoModel(mesa.Model):
    """Great-power competition for resources and influence in Central Asia.

    Args:
        scenario: a scenario file path or a loaded :class:`~sim.scenario.Scenario`.
        replications: how many replications to advance at once (ids ``0..n-1``).
        replication_ids: explicit replication ids (overrides ``replications``).
        collect: keep the per-step history needed by :meth:`timeseries`.
        rng: Mesa's seed argument (int or generator); the model's seed is derived
            from it as in :class:`mesa.Model`. ``None`` means the scenario's ``seed``,
            so a model built from a scenario alone is reproducible.

    Attributes:
        spec: the resolved scenario.
        datacollector: Mesa ``DataCollector`` of model-level aggregates (means over
            replications) collected every step.
        t: number of quarters simulated so far.
    """

    def __init__(
        self,
        *,
        scenario: Scenario | str | Path = "scenarios/baseline.yaml",
        replications: int = 1,
        replication_ids: list[int] | np.ndarray | None = None,
        collect: bool = True,
        rng: Any = None,
    ) -> None:
        spec = coerce_scenario(scenario)
        super().__init__(rng=spec.seed if rng is None else rng)
        self.spec = spec
        self.seed = int(self._seed)
        ids = np.arange(replications) if replication_ids is None else np.asarray(replication_ids)
        if ids.ndim != 1 or ids.size == 0 or (ids < 0).any():
            msg = "replication ids must be a non-empty list of non-negative integers"
            raise ValueError(msg)
        self.replication_ids = ids.astype(np.int64)
        self.R = len(ids)
        self.T = self.spec.steps
        self.start_quarter = self.spec.start_quarter
        self.t = 0
        self.collect = collect
        self.behaviour = self.spec.behaviour
        self._build_static()
        self._draw_noise()
        self._build_agents()
        self._initial_state()
        self.history: list[dict[str, np.ndarray]] = []
        self.datacollector = mesa.DataCollector(model_reporters=metrics.model_reporters())

    # ------------------------------------------------------------------ set-up

    def _build_static(self) -> None:
        sp = self.spec
        S, P, B, C = len(STATES), len(POWERS), len(PARTNERS), len(COMMODITIES)
        self.n_states, self.n_powers = S, P
        self.route_names = tuple(sp.routes)
        K = len(self.route_names)
        self.value_factor = np.array([VALUE_FACTOR[c] for c in COMMODITIES])
        # prices
        pr = [sp.prices[c] for c in COMMODITIES]
        self.price0 = np.array([p.initial for p in pr])
        self.log_mu = np.log([p.long_run for p in pr])
        self.kappa = np.array([p.reversion for p in pr])
        self.sigma = np.array([p.volatility for p in pr])
        self.price_path = {i: p.path for i, p in enumerate(pr) if p.path}
        # states
        st = [sp.states[s] for s in STATES]
        self.gdp0 = np.array([x.gdp for x in st])
        self.growth = np.array([x.growth for x in st])
        self.imports_to_gdp = np.array([x.imports_to_gdp for x in st])
        self.hedging = np.array([x.hedging for x in st])
        self.cap0 = np.array([[x.capacity.get(c, 0.0) for c in COMMODITIES] for x in st])
        self.domestic = np.array([[x.domestic_use.get(c, 0.0) for c in COMMODITIES] for x in st])
        self.decline = np.array([[x.decline.get(c, 0.0) for c in COMMODITIES] for x in st])
        self.reserves0 = np.array(
            [[x.reserves.get(c, np.inf) for c in COMMODITIES] for x in st], dtype=float
        )
        self.production_path = {
            (i, COMMODITIES.index(c)): path
            for i, x in enumerate(st)
            for c, path in x.production_path.items()
        }
        self.eaeu = np.array(["EAEU" in x.blocs for x in st])
        self.security = np.array([[x.security.get(p, 0.0) for p in POWERS] for x in st])
        tg = np.array([[x.trade_targets.get(b, 0.0) for b in PARTNERS[:-1]] for x in st]) / 100
        self.trade_target = np.concatenate([tg, 1.0 - tg.sum(axis=1, keepdims=True)], axis=1)
        self.inv0 = np.array([[x.investment_stock.get(p, 0.0) for p in POWERS] for x in st])
        # powers
        pw = [sp.powers[p] for p in POWERS]
        self.power_gdp = np.array([x.gdp for x in pw])
        self.capability = np.array([x.capability for x in pw])
        self.budget = np.array([x.budget for x in pw])
        self.power_priorities = np.array(
            [[x.priorities.get(k, 0.0) for k in PRIORITIES] for x in pw]
        )
        self.power_priorities /= self.power_priorities.sum(axis=1, keepdims=True)
        self.sector_bias = np.array([[x.sector_bias.get(k, 0.0) for k in SECTORS] for x in pw])
        self.import_need = np.array([[x.import_need.get(c, 0.0) for c in COMMODITIES] for x in pw])
        self.learning_rate = np.array([x.learning_rate for x in pw])
        self.diplomacy_rate = np.array([x.diplomacy_rate for x in pw])
        self.completion = np.array([x.completion_probability for x in pw])
        self.lead = np.array([x.lead_time_quarters for x in pw], dtype=int)
        self.corridor = np.array(
            [self.route_names.index(x.corridor) if x.corridor else -1 for x in pw]
        )
        dipl0 = np.array([[x.diplomacy.get(p, np.nan) for p in POWERS] for x in st])
        steady = self.diplomacy_rate / 4 / max(self.behaviour.diplomacy_decay, 1e-9)
        self.dipl0 = np.where(np.isnan(dipl0), steady[None, :], dipl0)
        # buyers' demand weights (powers, then markets)
        demand = [x.demand for x in pw] + [sp.markets[m].demand for m in ("EU", "ROW")]
        self.demand = np.array([[d.get(c, 0.0) for d in demand] for c in COMMODITIES])  # (C, B)
        # routes
        self.route_cost = np.array([sp.routes[k].cost for k in self.route_names])
        self.route_cap0 = np.array(
            [[sp.routes[k].capacity.get(c, np.inf) for c in COMMODITIES] for k in self.route_names],
            dtype=float,
        ).reshape(K, C)
        valid = np.zeros((S, C, B, K), dtype=bool)
        transit = np.zeros((K, P), dtype=bool)
        for k, name in enumerate(self.route_names):
            r = sp.routes[name]
            for s in r.origins:
                for c in r.commodities:
                    for b in r.buyers:
                        valid[STATES.index(s), COMMODITIES.index(c), PARTNERS.index(b), k] = True
            for p in r.transit:
                transit[k, POWERS.index(p)] = True
        self.valid_base = valid
        self.valid = valid.copy()
        self.options = dynamics.ExportOptions(valid)
        self.export_alpha = np.zeros((S, B))
        self.transit = transit
        # sectors
        self.sector_split = self._sector_split()
        cw = self.behaviour.channel_weights
        self.channel_weights = np.array([cw.get(ch, 1.0) for ch in CHANNELS])
        self.capital_intensity = np.array(
            [self.behaviour.capital_intensity.get(c, 0.0) for c in COMMODITIES]
        )
        # events by quarter, named projects
        self.events_at: dict[int, list[Any]] = {}
        for ev in sp.events:
            self.events_at.setdefault(parse_quarter(ev.date), []).append(ev)
        self.projects = list(sp.projects)
        self.project_start = np.array([parse_quarter(p.start) for p in self.projects], dtype=int)
        self.project_done = np.array(
            [parse_quarter(p.start) + p.lead_time_quarters for p in self.projects], dtype=int
        )
        self.disruptions = list(sp.disruptions)
        self.disruption_route = np.array(
            [self.route_names.index(d.route) for d in self.disruptions], dtype=int
        )

    def _sector_split(self) -> np.ndarray:
        """``(S, SEC, C)``: how a state's completed sector investment splits over commodities.

        Energy and mining money goes to the sector's commodities in proportion to the
        state's base-year output value; where a state has none of them (hydropower in
        Tajikistan, say) it raises non-resource ("other") exports instead.
        """
        base = sector_commodity_matrix(COMMODITIES)  # (SEC, C)
        value = self.cap0 * self.price0 * self.value_factor  # (S, C)
        split = base[None] * value[:, None, :]
        total = split.sum(axis=2, keepdims=True)
        other = np.zeros(len(COMMODITIES))
        other[COMMODITIES.index("other")] = 1.0
        split = np.where(total > 0, split / np.where(total > 0, total, 1.0), other)
        transport = SECTORS.index("transport")
        split[:, transport, :] = 0.0  # transport builds route capacity instead
        return split

    def _draw_noise(self) -> None:
        """Draw every random number each replication will use.

        Replication ``k`` draws from five independent streams, one per purpose, seeded
        by ``SeedSequence(seed, spawn_key=(k, purpose))``: prices, disruption arrivals,
        disruption durations, programme completions and named-project completions.
        Disruption and project draws are laid out item by item, so scenarios that share
        a prefix of the ``disruptions`` and ``projects`` lists (as children of one parent
        do) share those items' random numbers: common random numbers across scenarios.
        """
        T, C = self.T, len(COMMODITIES)
        P, S, SEC = len(POWERS), len(STATES), len(SECTORS)
        ND, NP = len(self.disruptions), len(self.projects)
        eps = np.empty((self.R, T, C))
        u_arr = np.empty((self.R, T, ND))
        u_dur = np.empty((self.R, T, ND))
        u_prog = np.empty((self.R, T, P, S, SEC))
        u_named = np.empty((self.R, NP))
        for r, gens in enumerate(replication_generators(self.seed, self.replication_ids)):
            eps[r] = gens[0].standard_normal((T, C))
            u_arr[r] = gens[1].random((ND, T)).T
            u_dur[r] = gens[2].random((ND, T)).T
            u_prog[r] = gens[3].random((T, P, S, SEC))
            u_named[r] = gens[4].random(NP)
        self.noise = {"eps": eps, "arrival": u_arr, "duration": u_dur, "programme": u_prog}
        self.u_named = u_named

    def _build_agents(self) -> None:
        for i, code in enumerate(STATES):
            CentralAsianState(self, code, i)
        for i, code in enumerate(POWERS):
            GreatPower(self, code, i)
        self.states = self.agents_by_type[CentralAsianState]
        self.powers = self.agents_by_type[GreatPower]

    def _initial_state(self) -> None:
        R, S, P, B, C = self.R, len(STATES), len(POWERS), len(PARTNERS), len(COMMODITIES)
        SEC, NI = len(SECTORS), len(INFLUENCERS)
        rep = partial(np.repeat, repeats=R, axis=0)
        self.log_price = rep(np.log(self.price0)[None])
        self.price = np.exp(self.log_price)
        self.price_shock = np.zeros(C)
        self.cap = rep(self.cap0[None]).astype(float)
        self.productivity = np.ones((R, S, C))
        self.reserves = rep(self.reserves0[None]).astype(float)
        self.route_cap = rep(self.route_cap0[None]).astype(float)
        self.route_cost_r = rep(self.route_cost[None]).astype(float)
        self.route_loss_sched: list[tuple[int, float, int]] = []  # (route, loss, end quarter)
        self.outage_left = np.zeros((R, len(self.disruptions)))
        self.inv = rep(self.inv0[None]).astype(float)
        self.dipl = rep(self.dipl0[None]).astype(float)
        self.offtake = np.zeros((R, S, C, B))
        self.offers = np.zeros((R, P, S, SEC))
        self.learned_bias = np.zeros((R, P, S, SEC))
        self.max_lead = int(self.lead.max()) + 1
        self.pipeline = np.zeros((R, self.max_lead, P, S, SEC))
        self.programme_budget = np.zeros((R, P))
        self.project_status = np.zeros((R, len(self.projects)), dtype=int)  # 0 open 1 done 2 failed
        self.sanction_severity = np.zeros(P)
        self.sanction_by = np.zeros((P, B), dtype=bool)
        self.sanction_end = np.full(P, np.iinfo(np.int64).max)
        self.gdp = rep(self.gdp0[None]).astype(float)
        self.production = self.cap * (1 - 0)
        self.value_added0 = self._resource_value_added(self.cap0[None], self.price0[None])[0]
        self.non_resource0 = self.gdp0 - self.value_added0
        if (self.non_resource0 <= 0).any():
            bad = STATES[int(np.argmax(self.non_resource0 <= 0))]
            msg = f"{bad}: resource value added exceeds GDP at base-year prices"
            raise ValueError(msg)
        # Initial trade: target shares of the base-year trade total.
        exp_value = (self.cap0 * (1 - self.domestic) * self.price0 * self.value_factor).sum(axis=1)
        total0 = exp_value + self.imports_to_gdp * self.gdp0
        self.trade_share = rep(self.trade_target[None]).astype(float)
        self.exports_value = np.zeros((R, S, B))
        self.imports_value = rep((self.trade_target * total0[:, None])[None]).astype(float)
        self.influence_stock = np.zeros((R, S, NI, len(CHANNELS)))
        target = dynamics.channel_targets(self._channel_raw(), self.channel_weights)
        self.influence_stock = target
        self.influence_share = self.influence_stock.sum(axis=3)
        self.prev_influence_share = self.influence_share.copy()
        self.partner_pref = np.zeros((R, S, B))
        self.states.do("set_trade_preferences")
        self.import_alpha = np.zeros((S, B))
        self._calibrate_imports()
        self.export_revenue = np.zeros((R, S))
        self.exports_volume = np.zeros((R, S, C, B))
        self.shut_in = np.zeros((R, S, C))

    def _calibrate_imports(self) -> None:
        """Choose partner constants so base-year trade shares match the targets.

        Two steps, both deterministic and identical across replications:

        1. Exports: where base-year exports to partner ``b`` alone would exceed 90% of
           its target share of total trade ``tau_b (X + M)``, lower the state's export
           constant for ``b`` by ``ln(limit / X_b)`` and re-allocate; repeat until no
           partner exceeds its limit (at most 50 rounds).
        2. Imports: partner ``b`` should then supply ``tau_b (X + M) - X_b`` (at least
           0.1% of imports); the import constants are the log shares of that mix less
           the other utility terms.

        So the model starts on the observed pattern; ``calibration_residual`` holds what
        is left.
        """
        # The base year is the same in every replication: compute it on the first.
        first = slice(0, 1)
        output = self._planned_output()[first]
        avail = np.ones((1, len(self.route_names)))
        m = self.imports_to_gdp * self.gdp0
        for _ in range(50):
            flows, _ = self._trade_flows(output, avail, first)
            x = self._export_values(flows, first)[0]  # (S, B)
            limit = 0.9 * self.trade_target * (x.sum(axis=1) + m)[:, None]
            excess = x > limit * (1 + 1e-6)
            if not excess.any():
                break
            ratio = np.divide(limit, x, out=np.ones_like(x), where=excess)
            self.export_alpha += np.log(np.maximum(ratio, 1e-12))
        want = self.trade_target * (x.sum(axis=1) + m)[:, None] - x
        want = np.maximum(want, 1e-3 * np.maximum(m, 1e-9)[:, None])
        log_share = np.log(want / want.sum(axis=1, keepdims=True))
        self.import_alpha = log_share - self._import_terms()[0]
        self.calibration_residual = self._import_check(x, m)

    def _import_check(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Base-year trade shares the calibrated model reproduces, minus the targets."""
        imp = dynamics.masked_softmax(
            self.import_alpha + self._import_terms()[0], np.ones_like(x, dtype=bool), axes=(1,)
        )
        return dynamics.trade_shares(x, imp * m[:, None]) - self.trade_target

    # ------------------------------------------------------------------ step

    def step(self) -> None:
        """Advance every replication by one quarter."""
        if self.t >= self.T:
            self.running = False
            return
        self._apply_events()
        self._update_prices()
        self._draw_outages()
        self._set_programme_budgets()
        self.powers.do("allocate_budget")
        self.states.do("screen_projects")
        self._advance_projects()
        self.states.do("set_trade_preferences")
        self._produce_and_trade()
        self._update_economy()
        self._update_influence()
        self.powers.do("learn")
        self._record()
        self.t += 1
        if self.t >= self.T:
            self.running = False

    def run(self) -> GeoModel:
        """Run to the end of the horizon and return the model."""
        while self.running:
            self.step()
        return self

    @property
    def quarter(self) -> int:
        """Absolute quarter number of the step being simulated."""
        return self.start_quarter + self.t

    @property
    def year(self) -> int:
        """Calendar year of the step being simulated."""
        return self.quarter // 4

    # ------------------------------------------------------------------ phases

    def _apply_events(self) -> None:
        q = self.quarter
        for p in np.flatnonzero(self.sanction_end <= q):
            self.sanction_severity[p] = 0.0
            self.sanction_by[p] = False
            self.sanction_end[p] = np.iinfo(np.int64).max
        self.route_loss_sched = [x for x in self.route_loss_sched if x[2] > q]
        for ev in self.events_at.get(q, []):
            match ev.type:
                case "summit":
                    p = POWERS.index(ev.power)
                    for s in ev.states:
                        self.dipl[:, STATES.index(s), p] += ev.weight
                case "route_disruption":
                    k = self.route_names.index(ev.route)
                    self.route_loss_sched.append((k, ev.capacity_loss, q + ev.duration_quarters))
                case "sanctions":
                    p = POWERS.index(ev.target)
                    self.sanction_severity[p] = ev.severity
                    self.sanction_by[p] = [b in ev.by for b in PARTNERS]
                    self.sanction_end[p] = (
                        q + ev.duration_quarters
                        if ev.duration_quarters is not None
                        else np.iinfo(np.int64).max
                    )
                case "price_shock":
                    self.price_shock[COMMODITIES.index(ev.commodity)] += ev.size
                case "bloc_join":
                    # EAEU membership changes import preferences; CSTO membership is
                    # descriptive (security ties are set in `states.*.security`).
                    if ev.bloc == "EAEU":
                        self.eaeu[STATES.index(ev.state)] = True
                case "route_capacity":
                    k = self.route_names.index(ev.route)
                    self.route_cap[:, k, COMMODITIES.index(ev.commodity)] = ev.capacity
                case "route_access":
                    k = self.route_names.index(ev.route)
                    s = STATES.index(ev.state)
                    if ev.open:
                        self.valid[s, :, :, k] = self.valid_base[s, :, :, k]
                    else:
                        self.valid[s, :, :, k] = False
                case "budget_change":
                    self.budget[POWERS.index(ev.power)] = ev.budget
                case "reform":
                    s = STATES.index(ev.state)
                    if ev.hedging is not None:
                        self.hedging[s] = ev.hedging
                    if ev.imports_to_gdp is not None:
                        self.imports_to_gdp[s] = ev.imports_to_gdp

    def _update_prices(self) -> None:
        if self.t > 0:
            self.log_price = dynamics.mean_reverting_log_price(
                self.log_price,
                self.log_mu,
                self.kappa,
                self.sigma,
                self.noise["eps"][:, self.t],
                self.price_shock,
            )
        else:
            self.log_price = self.log_price + self.price_shock
        self.price_shock = np.zeros(len(COMMODITIES))
        self.price = np.exp(self.log_price)
        for c, path in self.price_path.items():
            self.price[:, c] = _path_value(path, self.year)
            self.log_price[:, c] = np.log(self.price[:, c])

    def _draw_outages(self) -> None:
        if not self.disruptions:
            return
        rate = np.array([d.rate_per_year for d in self.disruptions])
        mean = np.array([d.mean_duration_quarters for d in self.disruptions])
        self.outage_left = np.maximum(self.outage_left - 1.0, 0.0)
        q = self.quarter
        live = np.array(
            [
                (d.start is None or parse_quarter(d.start) <= q)
                and (d.end is None or q <= parse_quarter(d.end))
                for d in self.disruptions
            ]
        )
        p_arrive = np.where(live, 1.0 - np.exp(-rate / 4.0), 0.0)
        arrive = (self.noise["arrival"][:, self.t] < p_arrive) & (self.outage_left <= 0)
        # Geometric duration with the given mean (at least one quarter).
        u = self.noise["duration"][:, self.t]
        stay = 1.0 - 1.0 / mean
        dur = np.where(stay > 0, 1 + np.floor(np.log1p(-u) / np.log(np.maximum(stay, 1e-12))), 1)
        self.outage_left = np.where(arrive, dur, self.outage_left)

    def route_availability(self) -> np.ndarray:
        """``(R, K)`` share of each route's capacity usable this quarter."""
        avail = np.ones((self.R, len(self.route_names)))
        for k, loss, _end in self.route_loss_sched:
            avail[:, k] *= 1.0 - loss
        for j, d in enumerate(self.disruptions):
            active = self.outage_left[:, j] > 0
            avail[:, self.disruption_route[j]] *= np.where(active, 1.0 - d.capacity_loss, 1.0)
        return avail

    def _set_programme_budgets(self) -> None:
        """Quarterly programme money: budget/4 less named projects under construction."""
        outlay = np.zeros(len(POWERS))
        q = self.quarter
        for i, pr in enumerate(self.projects):
            if pr.from_budget and self.project_start[i] <= q < max(
                self.project_done[i], self.project_start[i] + 1
            ):
                outlay[POWERS.index(pr.power)] += pr.cost / max(pr.lead_time_quarters, 1)
        self.programme_budget[:] = np.maximum(self.budget / 4.0 - outlay, 0.0)[None, :]

    def resource_score(self, p: int) -> np.ndarray:
        """``(S, SEC)``: a state's weight in power ``p``'s resource-security motive.

        The state's share of regional base-year capacity value in each sector's goods,
        weighted by the power's import needs, scaled so the best option scores 1.
        """
        value = self.cap0 * self.price0 * self.value_factor * self.import_need[p]  # (S, C)
        share = value / np.maximum(value.sum(axis=0, keepdims=True), 1e-12)
        score = share @ sector_commodity_matrix(COMMODITIES).T  # (S, SEC)
        top = score.max()
        return score / top if top > 0 else score

    def _advance_projects(self) -> None:
        slot = self.t % self.max_lead
        # New programme money (accepted offers) enters the pipeline at its power's lead time.
        for p in range(len(POWERS)):
            due = (self.t + self.lead[p]) % self.max_lead
            self.pipeline[:, due, p] += self.offers[:, p]
        self.offers[:] = 0.0
        maturing = self.pipeline[:, slot].copy()
        self.pipeline[:, slot] = 0.0
        done = self.noise["programme"][:, self.t] < self.completion[None, :, None, None]
        completed = np.where(done, maturing, 0.0)  # (R, P, S, SEC)
        self._complete_programme(completed)
        self._complete_named()

    def _complete_programme(self, amount: np.ndarray) -> None:
        """Effects of completed programme cohorts: stock, capacity, corridors."""
        self.inv += amount.sum(axis=3).transpose(0, 2, 1)
        by_state = amount.sum(axis=1)  # (R, S, SEC)
        add = np.einsum("rse,sec->rsc", by_state, self.sector_split) * self.capital_intensity
        self.cap += add
        transport = amount[..., SECTORS.index("transport")].sum(axis=2)  # (R, P)
        for p, k in enumerate(self.corridor):
            if k >= 0:
                gain = 1.0 + self.behaviour.route_capital_intensity * transport[:, p]
                self.route_cap[:, k, :] *= gain[:, None]
                cheaper = 1.0 + self.behaviour.route_cost_intensity * transport[:, p]
                self.route_cost_r[:, k] /= cheaper

    def _complete_named(self) -> None:
        q = self.quarter
        due = (self.project_done <= q) & (self.project_status[0] == 0)
        for i in np.flatnonzero(due):
            pr = self.projects[i]
            ok = self.u_named[:, i] < pr.completion_probability
            self.project_status[:, i] = np.where(ok, 1, 2)
            s, p = STATES.index(pr.state), POWERS.index(pr.power)
            eff = pr.effects
            self.inv[:, s, p] += np.where(ok, pr.cost, 0.0)
            self.dipl[:, s, p] += np.where(ok, eff.diplomacy, 0.0)
            for c, delta in eff.capacity.items():
                ci = COMMODITIES.index(c)
                self.cap[:, s, ci] = np.maximum(self.cap[:, s, ci] + np.where(ok, delta, 0.0), 0.0)
            for route, delta in eff.route_cost.items():
                k = self.route_names.index(route)
                self.route_cost_r[:, k] = np.clip(
                    self.route_cost_r[:, k] + np.where(ok, delta, 0.0), 0, 1
                )
            for c, frac in eff.productivity.items():
                self.productivity[:, s, COMMODITIES.index(c)] *= np.where(ok, 1.0 + frac, 1.0)
            for route, caps in eff.route_capacity.items():
                k = self.route_names.index(route)
                for c, delta in caps.items():
                    self.route_cap[:, k, COMMODITIES.index(c)] += np.where(ok, delta, 0.0)
            for c, share in eff.offtake.items():
                ci, b = COMMODITIES.index(c), PARTNERS.index(pr.power)
                room = 0.9 - self.offtake[:, s, ci].sum(axis=1)
                self.offtake[:, s, ci, b] += np.where(ok, np.minimum(share, room), 0.0)

    def _planned_output(self) -> np.ndarray:
        out = self.cap * self.productivity
        for (s, c), path in self.production_path.items():
            out[:, s, c] = _path_value(path, self.year)
        reserves_rate = np.where(np.isfinite(self.reserves), self.reserves * 4.0, np.inf)
        return np.minimum(out, reserves_rate)

    def _sanction_terms(self) -> tuple[np.ndarray, np.ndarray]:
        """Utility penalties from sanctions: exports ``(B, K)`` and imports ``(B,)``."""
        pen = self.behaviour.sanction_penalty
        B, K = len(PARTNERS), len(self.route_names)
        exp_pen = np.zeros((B, K))
        imp_pen = np.zeros(B)
        for p in np.flatnonzero(self.sanction_severity > 0):
            sev = self.sanction_severity[p] * pen
            exp_pen[p, :] -= sev
            imp_pen[p] -= sev
            exp_pen[np.ix_(self.sanction_by[p], self.transit[:, p])] -= 0.5 * sev
        return exp_pen, imp_pen

    def _trade_flows(
        self, output: np.ndarray, avail: np.ndarray, rows: slice = slice(None)
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(O, R)`` export flows over the real options and ``(R, S, C)`` shut-in supply.

        ``rows`` restricts the computation to some replications (``output`` and
        ``avail`` are given for those rows only).
        """
        opt = self.options
        supply = output * (1.0 - self.domestic)
        exp_pen, _ = self._sanction_terms()
        static = self.demand[opt.c, opt.b] + self.export_alpha[opt.s, opt.b] + exp_pen[opt.b, opt.k]
        pref = self.partner_pref[rows].transpose(1, 2, 0)[opt.s, opt.b]  # (O, R)
        util = (
            self.behaviour.price_sensitivity * (1.0 - self.route_cost_r[rows].T[opt.k])
            + pref
            + static[:, None]
        )
        capacity = self.route_cap[rows] * avail[:, :, None]
        enabled = self.valid[opt.s, opt.c, opt.b, opt.k]
        return opt.allocate(supply, util, enabled, capacity, self.offtake[rows])

    def _export_values(self, flows: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
        """``(R, S, B)`` export values (USD bn/yr) at world prices from ``(O, R)`` flows."""
        unit_value = (self.price[rows] * self.value_factor).T[self.options.c]  # (O, R)
        opt = self.options
        value = dynamics.segment_sum(flows * unit_value, opt.sb, len(STATES) * len(PARTNERS))
        return value.T.reshape(flows.shape[1], len(STATES), -1)

    def _import_terms(self) -> np.ndarray:
        """``(R, S, B)`` import utility terms other than the calibrated constants."""
        _, imp_pen = self._sanction_terms()
        eaeu = np.zeros((len(STATES), len(PARTNERS)))
        eaeu[:, PARTNERS.index("RUS")] = self.behaviour.eaeu_preference * self.eaeu
        return self.partner_pref + eaeu[None] + imp_pen[None, None, :]

    def _produce_and_trade(self) -> None:
        output = self._planned_output()
        flows, shut_in = self._trade_flows(output, self.route_availability())
        self.shut_in = shut_in
        self.production = output - shut_in
        self.production = np.maximum(self.production, 0.0)
        finite = np.isfinite(self.reserves)
        self.reserves = np.where(
            finite, np.maximum(self.reserves - self.production / 4.0, 0.0), self.reserves
        )
        self.cap *= (1.0 - self.decline) ** 0.25
        opt = self.options
        volume = dynamics.segment_sum(flows, opt.sub, opt.n_subs_all)
        self.exports_volume = volume.T.reshape(self.exports_volume.shape)
        self.exports_value = self._export_values(flows)
        unit_value = (self.price * self.value_factor).T[opt.c]  # (O, R)
        netback = 1.0 - self.route_cost_r.T[opt.k]
        revenue = dynamics.segment_sum(flows * unit_value * netback, opt.s, len(STATES))
        self.export_revenue = revenue.T

    def _resource_value_added(self, production: np.ndarray, price: np.ndarray) -> np.ndarray:
        res = np.array([c != "other" for c in COMMODITIES])
        value = production * (price * self.value_factor)[:, None, :]
        return (value * res).sum(axis=2) * self.behaviour.resource_value_added

    def _update_economy(self) -> None:
        va = self._resource_value_added(self.production, self.price)
        trend = (1.0 + self.growth) ** (self.t / 4.0)
        spill = 1.0 + self.behaviour.revenue_multiplier * (va - self.value_added0) / self.gdp0
        non_resource = self.non_resource0 * trend * np.maximum(spill, 0.1)
        self.gdp = non_resource + va
        imports = self.imports_to_gdp * self.gdp  # (R, S)
        shares = dynamics.masked_softmax(
            self.import_alpha + self._import_terms(),
            np.ones((self.R, len(STATES), len(PARTNERS)), dtype=bool),
            axes=(2,),
        )
        self.imports_value = shares * imports[:, :, None]
        self.trade_share = dynamics.trade_shares(self.exports_value, self.imports_value)

    def _channel_raw(self) -> np.ndarray:
        """``(R, S, I, CH)`` channel intensities (bandwidth x dependence)."""
        R, S = self.R, len(STATES)
        raw = np.zeros((R, S, len(INFLUENCERS), len(CHANNELS)))
        trade = self.exports_value + self.imports_value  # (R, S, B)
        gdp = self.gdp[:, :, None]
        raw[:, :, :4, 0] = trade[:, :, :4] / gdp
        raw[:, :, 4, 0] = trade[:, :, 4:].sum(axis=2) / self.gdp
        raw[:, :, :4, 1] = self.inv / gdp
        raw[:, :, :4, 2] = self.dipl
        raw[:, :, :4, 3] = self.security[None] * np.sqrt(self.capability)[None, None, :]
        return raw

    def _update_influence(self) -> None:
        self.inv *= (1.0 - self.behaviour.investment_depreciation) ** 0.25
        self.dipl = self.dipl * (1.0 - self.behaviour.diplomacy_decay) + (self.diplomacy_rate / 4.0)
        target = dynamics.channel_targets(self._channel_raw(), self.channel_weights)
        self.influence_stock = dynamics.smooth_stock(
            self.influence_stock, target, self.behaviour.influence_decay
        )
        self.prev_influence_share = self.influence_share
        self.influence_share = self.influence_stock.sum(axis=3)

    def alignment(self) -> np.ndarray:
        """``(R, S, B)`` political alignment with each trade partner.

        A partner's alignment is its influence share; the EU and the rest of the world
        both take the "others" share.
        """
        share = self.influence_share
        return np.concatenate([share[:, :, :4], share[:, :, 4:5], share[:, :, 4:5]], axis=2)

    # ------------------------------------------------------------------ output

    def _record(self) -> None:
        if self.collect:
            self.history.append(metrics.snapshot(self))
        self.datacollector.collect(self)

    def timeseries(self) -> Any:
        """Tidy long DataFrame of the recorded history (see :mod:`sim.metrics`)."""
        return metrics.to_tidy(self.history, self.replication_ids, self.start_quarter)


def _path_value(path: dict[int, float], year: int) -> float:
    """Value of an annual path in ``year``: exact, else the nearest year's value."""
    if year in path:
        return path[year]
    years = sorted(path)
    if year < years[0]:
        return path[years[0]]
    if year > years[-1]:
        return path[years[-1]]
    lo = max(y for y in years if y <= year)
    hi = min(y for y in years if y >= year)
    w = (year - lo) / (hi - lo)
    return (1 - w) * path[lo] + w * path[hi]
