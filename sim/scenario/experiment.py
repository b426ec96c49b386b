"""Experiment files: many scenario variants at once (uncertainties, levers, outcomes).

An experiment file (YAML, ``scenarios/experiments/``, docs/experiments.md) names a
scenario, optionally a scenario to compare with, the scenario key paths to vary (each a
``{low, high}`` range or a ``{values: [...]}`` list), the outcomes to read and the
sampler::

    scenario: ../baseline.yaml          # relative to this file
    compare_to: ../baseline.yaml        # optional: outcomes with vs: compare_to
    uncertainties:
      behaviour.hedging: {low: 0.5, high: 1.5}
      powers.RUS.diplomacy_rate: {values: [1.0, 2.0, 3.0]}
    levers: {}                          # same form; applied to `scenario` only
    outcomes:
      - {name: jpn_kaz, metric: influence_share, country: KAZ, partner: JPN, at: 2040Q4}
    sampler: sobol                      # lhs | sobol | morris | factorial
    samples: 256
    replications: 10
    seed: 1

:func:`load_experiment` reads and checks it with the one-line error contract of
:mod:`sim.scenario.load` (``FILE: key.path: expected ...``, a :class:`ScenarioError`):
the schema, both scenario files, equal horizons, and every varied key path, by setting
its lowest and highest value in the scenario (:func:`~sim.scenario.with_overrides`,
which also records the provenance ``override: experiment FILE: sampled key=value``, so
no ``assumption`` string is needed per key). Metrics, countries and quarters of the
outcomes are checked by :func:`sim.studies.experiments.plan_experiment`, which knows the
model's outputs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim.scenario.load import load_scenario, read_yaml_file, resolve, with_overrides
from sim.scenario.schema import Scenario, ScenarioError

#: Samplers an experiment may name.
SAMPLERS = ("sobol", "morris", "lhs", "factorial")
#: Statistics of an outcome over its window of quarters.
STATS = ("median", "mean", "min", "max")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Strict):
    """A number drawn between ``low`` and ``high``."""

    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low < self.high:
            msg = f"low below high, got low={self.low}, high={self.high}"
            raise ValueError(msg)
        return self


class Choices(_Strict):
    """One of the listed ``values`` (a categorical factor)."""

    values: Annotated[list[float | int | str | bool], Field(min_length=1)]

    @model_validator(mode="after")
    def _distinct(self) -> Choices:
        if len({repr(v) for v in self.values}) != len(self.values):
            msg = "distinct values"
            raise ValueError(msg)
        return self


class Outcome(_Strict):
    """One number read from each replication.

    Attributes:
        name: column name in the outputs.
        metric: a metric of :mod:`sim.output`.
        country, partner: the metric's labels (when it has those axes).
        at: a quarter (``2040Q4``) or a window (``2026Q1:2027Q4``); default the last.
        stat: the statistic over the window's quarters.
        vs: ``compare_to``: the paired difference with the comparison scenario, same
            replication ids and seed (common random numbers).
        change: ``difference`` (scenario minus comparison) or ``relative`` (that
            difference over the comparison's value), quarter by quarter, before ``stat``.
    """

    name: str
    metric: str
    country: str | None = None
    partner: str | None = None
    at: str | None = None
    stat: Literal["median", "mean", "min", "max"] = "median"
    vs: Literal["compare_to"] | None = None
    change: Literal["difference", "relative"] = "difference"

    @model_validator(mode="after")
    def _named(self) -> Outcome:
        if not _NAME.match(self.name):
            msg = f"a name of letters, digits and _ (starting with a letter), got {self.name!r}"
            raise ValueError(msg)
        return self


Factor = Range | Choices


class Experiment(_Strict):
    """A validated experiment file (paths resolved relative to it)."""

    name: str = ""
    description: str = ""
    scenario: str
    compare_to: str | None = None
    uncertainties: dict[str, Factor] = {}
    levers: dict[str, Factor] = {}
    outcomes: Annotated[list[Outcome], Field(min_length=1)]
    sampler: Literal["sobol", "morris", "lhs", "factorial"] = "sobol"
    samples: Annotated[int, Field(ge=1, le=1_000_000)] = 64
    replications: Annotated[int, Field(ge=1, le=100_000)] = 10
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 1
    file: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        names = [o.name for o in self.outcomes]
        if len(set(names)) != len(names):
            msg = "distinct outcome names"
            raise ValueError(msg)
        if not self.uncertainties and not self.levers:
            msg = "at least one key path under uncertainties or levers"
            raise ValueError(msg)
        both = set(self.uncertainties) & set(self.levers)
        if both:
            msg = f"a key path under uncertainties or levers, not both: {sorted(both)}"
            raise ValueError(msg)
        if self.compare_to is None and any(o.vs for o in self.outcomes):
            msg = "compare_to set when an outcome says vs: compare_to"
            raise ValueError(msg)
        return self

    @property
    def factors(self) -> dict[str, Factor]:
        """Uncertainties then levers, in file order."""
        return {**self.uncertainties, **self.levers}

    def scenario_path(self) -> Path:
        """The scenario file, resolved relative to the experiment file."""
        return Path(self.file).parent / self.scenario

    def compare_path(self) -> Path | None:
        """The comparison scenario file, or None."""
        return None if self.compare_to is None else Path(self.file).parent / self.compare_to

    def origin(self) -> str:
        """The provenance origin of a value set by this experiment."""
        return f"experiment {self.file}: sampled"


def _schema_error(err: ValidationError, file: str | Path) -> ScenarioError:
    """The first pydantic error as a one-line ``FILE: key.path: expected ...``."""
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"] if str(p) not in {"Range", "Choices"}]
    loc = [p for p in loc if not p.startswith(("function-", "tagged-union"))]
    kind, msg = first["type"], first["msg"]
    if kind == "missing":
        text = "expected a value (missing)"
    elif kind == "extra_forbidden":
        text = "unknown key"
    elif kind == "value_error":
        text = "expected " + msg.removeprefix("Value error, ")
    elif kind == "literal_error":
        text = "expected " + msg.removeprefix("Input should be ")
    else:
        text = "expected " + msg.removeprefix("Input should be ").lower()
    return ScenarioError(file, ".".join(loc), text)


def parse_experiment(data: Any, file: str | Path) -> Experiment:
    """Validate experiment data (paths not yet checked).

    Raises:
        ScenarioError: the first schema problem, one line.
    """
    if not isinstance(data, dict):
        raise ScenarioError(file, "", "expected a mapping at the top level")
    for section in ("uncertainties", "levers"):
        for key, spec in (data.get(section) or {}).items():
            if isinstance(spec, dict) and "values" not in spec and not {"low", "high"} <= set(spec):
                msg = "expected {low: NUMBER, high: NUMBER} or {values: [...]}"
                raise ScenarioError(file, f"{section}.{key}", msg)
    try:
        exp = Experiment.model_validate(data | {"file": str(file)})
    except ValidationError as err:
        raise _schema_error(err, file) from None
    if not exp.name:
        exp = exp.model_copy(update={"name": Path(file).stem})
    return exp


def load_experiment(path: str | Path) -> tuple[Experiment, Scenario, Scenario | None]:
    """Read, validate and check an experiment file.

    Returns:
        ``(experiment, scenario, comparison scenario or None)``.

    Raises:
        ScenarioError: one line, for the first problem found (nothing is written).
    """
    file = Path(path)
    exp = parse_experiment(read_yaml_file(file) if file.exists() else _missing(file), file)
    scenario = load_scenario(exp.scenario_path())
    compare = None
    if (cmp_path := exp.compare_path()) is not None:
        compare = load_scenario(cmp_path)
        if (compare.horizon.start, compare.horizon.end) != (
            scenario.horizon.start,
            scenario.horizon.end,
        ):
            msg = f"a scenario with the horizon of {exp.scenario}"
            raise ScenarioError(file, "compare_to", f"expected {msg}")
    data = resolve(exp.scenario_path())
    for section, factors in (("uncertainties", exp.uncertainties), ("levers", exp.levers)):
        for key, factor in factors.items():
            check_factor(data, key, factor, file, f"{section}.{key}", exp.origin())
    return exp, scenario, compare


def _missing(file: Path) -> dict[str, Any]:
    raise ScenarioError(file, "", "no such file")


def factor_extremes(factor: Factor) -> list[Any]:
    """The values that bound a factor (both ends of a range, every listed value)."""
    return [factor.low, factor.high] if isinstance(factor, Range) else list(factor.values)


def check_factor(
    data: dict[str, Any], key: str, factor: Factor, file: str | Path, where: str, origin: str
) -> None:
    """Check that setting ``key`` to each extreme of ``factor`` gives a valid scenario.

    Raises:
        ScenarioError: keyed ``where`` (``uncertainties.KEY``), naming what was expected.
    """
    for value in factor_extremes(factor):
        try:
            with_overrides(data, {key: value}, origin)
        except ScenarioError as err:
            detail = f"{err.path}: {err.message}" if err.path else err.message
            msg = f"expected a scenario key path that takes {value!r} ({detail})"
            raise ScenarioError(file, where, msg) from None


def applies_to(data: dict[str, Any], key: str, factor: Factor, origin: str) -> bool:
    """Whether ``key`` exists in (and accepts ``factor``'s values in) scenario ``data``."""
    try:
        for value in factor_extremes(factor):
            with_overrides(data, {key: value}, origin)
    except ScenarioError:
        return False
    return True
