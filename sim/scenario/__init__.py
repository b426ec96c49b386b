"""Scenarios: the schema (:mod:`.schema`) and the loader (:mod:`.load`).

This package is the only way input gets into casim: a YAML file, its ``extends:``
parents and ``--set`` overrides become a validated :class:`Scenario`, or a
:class:`ScenarioError` with a one-line message.
"""

from sim.scenario.load import (
    apply_override,
    check_provenance,
    coerce_scenario,
    deep_merge,
    load_scenario,
    parse_yaml,
    read_yaml_file,
    resolve,
    validate,
    with_overrides,
)
from sim.scenario.schema import (
    EVENT_TYPES,
    Actor,
    Behaviour,
    Scenario,
    ScenarioError,
    active_vocabulary,
    format_quarter,
    parse_quarter,
)

__all__ = [
    "EVENT_TYPES",
    "Actor",
    "Behaviour",
    "Scenario",
    "ScenarioError",
    "active_vocabulary",
    "apply_override",
    "check_provenance",
    "coerce_scenario",
    "deep_merge",
    "format_quarter",
    "load_scenario",
    "parse_quarter",
    "parse_yaml",
    "read_yaml_file",
    "resolve",
    "validate",
    "with_overrides",
]
