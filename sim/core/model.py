"""``GeoModel``: the Mesa model of great-power competition in Central Asia.

The model compiles the scenario into :class:`~sim.core.params.Params`, draws every
random number (:mod:`sim.core.noise`), builds the agents and the initial
:class:`~sim.core.state.State` with its base-year calibration, and then each
:meth:`GeoModel.step` runs the ODD phase list. The state's arrays have a leading
replication axis ``R``: one model advances ``R`` independent replications at once.

Parameter sweeps with Mesa: ``mesa.batch_run(GeoModel, parameters={"overrides":
[{"powers.JPN.budget": 1.0}, {"powers.JPN.budget": 2.0}]}, ...)`` runs one model per
override mapping (give the mappings as a list; any scenario key path works, as with
``casim run --set``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mesa
import numpy as np

from sim.core import observe, phases
from sim.core.agents import CentralAsianState, GreatPower
from sim.core.noise import draw_noise
from sim.core.params import Params
from sim.core.state import calibrate, initial_state
from sim.core.uncertainty import ParameterSample, apply_draws
from sim.output import to_tidy
from sim.scenario import Scenario, coerce_scenario, with_overrides

#: The scenario ``GeoModel()`` runs: the repository's baseline, wherever Python runs.
DEFAULT_SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "baseline.yaml"


class GeoModel(mesa.Model):
    """Great-power competition for resources and influence in Central Asia.

    Args:
        scenario: a scenario file, a loaded :class:`~sim.scenario.Scenario` or a raw
            mapping; default :data:`DEFAULT_SCENARIO`.
        overrides: scenario key path -> value, applied like ``--set`` before validation
            (e.g. ``{"powers.JPN.budget": 2.0}``); a bad path raises ``ScenarioError``.
        replications: how many replications to advance at once (ids ``0..n-1``).
        replication_ids: explicit replication ids (overrides ``replications``).
        collect: keep the per-step history (:meth:`timeseries`) and the DataCollector;
            off in ensemble chunks, which read :func:`sim.core.observe.snapshot`.
        rng: the seed: ``None`` for the scenario's ``seed``, an int, or a numpy
            ``Generator`` (an int is drawn from it).
        parameters: a :class:`~sim.core.uncertainty.ParameterSample`; replication ``k``
            runs with its own draw from it (parameter uncertainty). None: every
            replication runs with the scenario's values.

    Attributes:
        spec: the resolved scenario. params: its compiled :class:`Params`.
        state: the :class:`~sim.core.state.State`. calibration: the base-year constants.
        noise: every random number. seed: the seed of the replication streams.
        t: quarters simulated so far. history: one snapshot per step (``collect``).
        datacollector: replication means, from the initial state on (``collect``).
    """

    def __init__(
        self,
        *,
        scenario: Scenario | str | Path | dict[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
        replications: int = 1,
        replication_ids: list[int] | np.ndarray | None = None,
        collect: bool = True,
        rng: int | np.random.Generator | None = None,
        parameters: ParameterSample | None = None,
    ) -> None:
        spec = scenario_with_overrides(
            DEFAULT_SCENARIO if scenario is None else scenario, overrides
        )
        seed = model_seed(rng, spec.seed)
        super().__init__(rng=seed)
        self.spec, self.seed, self.collect = spec, seed, collect
        self.replication_ids = check_replication_ids(replications, replication_ids)
        self.R, self.T, self.start_quarter, self.t = (
            len(self.replication_ids),
            spec.steps,
            spec.start_quarter,
            0,
        )
        self.params = Params.from_scenario(spec)
        self.parameter_rows: np.ndarray | None = None
        if parameters is not None:
            self.parameter_rows = parameters.rows_for(seed, self.replication_ids)
            self.params = apply_draws(self.params, parameters, self.parameter_rows)
        self.noise = draw_noise(self.params, seed, self.replication_ids)
        for i, code in enumerate(self.params.vocab.states):
            CentralAsianState(self, code, i)
        for i, code in enumerate(self.params.vocab.powers):
            GreatPower(self, code, i)
        self.states = self.agents_by_type[CentralAsianState]
        self.powers = self.agents_by_type[GreatPower]
        self.state = initial_state(self.params, self.R)
        self.calibration = calibrate(self.params, self.state)
        self.history: list[dict[str, np.ndarray]] = []
        self.datacollector = mesa.DataCollector(
            model_reporters=observe.model_reporters(self.params.vocab)
        )
        if collect:
            self.datacollector.collect(self)

    def step(self) -> None:
        """Advance every replication by one quarter: the ODD phase list (section 3)."""
        if self.t >= self.T:
            self.running = False
            return
        p, s, n, t, calib = self.params, self.state, self.noise, self.t, self.calibration
        phases.apply_events(p, s, t)  # 7.1
        phases.update_prices(p, s, n.eps[:, t], t)  # 7.2
        phases.draw_outages(p, s, n.arrival[:, t], n.duration[:, t], t)  # 7.3
        phases.set_programme_budgets(p, s, t)  # 7.4
        self.powers.do("allocate_budget")  # 7.5
        self.states.do("screen_projects")  # 7.6
        completed = phases.advance_projects(p, s, n.programme[:, t], t)  # 7.7
        phases.complete_programme(p, s, completed)
        phases.accrue_debt(p, s, completed)
        phases.complete_named(p, s, n.named, t)  # 7.8
        phases.update_access(p, s)  # 7.8a
        self.states.do("set_trade_preferences")  # 7.9
        phases.produce_and_trade(p, calib, s, t)  # 7.10, 7.11
        phases.update_economy(p, calib, s, t)  # 7.12, 7.14
        phases.update_influence(p, s)  # 7.15, 7.16
        self.powers.do("learn")  # 7.17
        if self.collect:  # 7.19
            self.history.append(observe.snapshot(self))
            self.datacollector.collect(self)
        self.t += 1
        if self.t >= self.T:
            self.running = False

    def run(self) -> GeoModel:
        """Run to the end of the horizon and return the model."""
        while self.running:
            self.step()
        return self

    def timeseries(self) -> Any:
        """Tidy long DataFrame of the recorded history (see :mod:`sim.output`)."""
        return to_tidy(self.history, self.replication_ids, self.start_quarter, self.params.vocab)

    @property
    def quarter(self) -> int:
        """Absolute quarter number of the step being simulated."""
        return self.start_quarter + self.t

    @property
    def year(self) -> int:
        """Calendar year of the step being simulated."""
        return self.quarter // 4

    @property
    def calibration_residual(self) -> np.ndarray:
        """``(S, B)`` base-year trade shares reproduced minus the targets.

        ``(R, S, B)`` when the behavioural parameters are per replication.
        """
        return self.calibration.residual


def scenario_with_overrides(
    scenario: Scenario | str | Path | dict[str, Any], overrides: Mapping[str, Any] | None
) -> Scenario:
    """The scenario to run: ``scenario`` with ``overrides`` applied (see ``GeoModel``).

    Raises:
        ScenarioError: for a path that does not exist or a value the schema rejects.
    """
    if not overrides:
        return coerce_scenario(scenario)
    return with_overrides(scenario, overrides, origin="GeoModel(overrides=...)")


def model_seed(rng: int | np.random.Generator | None, default: int) -> int:
    """The seed of the replication streams: ``default`` for None, an int, or one drawn."""
    if rng is None:
        return int(default)
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(np.iinfo(np.int32).max))
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return int(rng)
    msg = f"rng must be None, an int or a numpy Generator, got {type(rng).__name__}"
    raise TypeError(msg)


def check_replication_ids(replications: int, ids: list[int] | np.ndarray | None) -> np.ndarray:
    """``(R,)`` int64 replication ids: ``ids`` if given, else ``0..replications-1``.

    Raises:
        ValueError: unless the ids are a non-empty list of non-negative integers.
    """
    arr = np.arange(replications) if ids is None else np.asarray(ids)
    if arr.ndim != 1 or arr.size == 0 or (arr < 0).any():
        msg = "replication ids must be a non-empty list of non-negative integers"
        raise ValueError(msg)
    return arr.astype(np.int64)
