"""Scenario loading: safe YAML, ``extends:`` inheritance, ``--set``, provenance, errors.

Loading a scenario:

1. reads the file with a safe loader that refuses Python object tags and YAML aliases
   (so alias "bombs" cannot blow up memory) and files over 1 MiB;
2. follows ``extends:`` (a path relative to the file) and deep-merges parent and child:
   mappings merge key by key with the child winning, lists are replaced, except the
   lists ``events``, ``projects`` and ``disruptions``, which accumulate parent first;
3. applies ``--set key.path=value`` overrides (values parsed as YAML);
4. validates against the schema (:mod:`sim.scenario.schema`: unknown keys, wrong types,
   out-of-range values, unknown country codes, events outside the horizon, unknown
   routes);
5. checks provenance: every number must be covered by a ``source`` or an
   ``assumption`` on its own mapping or an enclosing one (a string covers everything
   below; a mapping names the keys it covers).

Every failure raises :class:`~sim.scenario.schema.ScenarioError`, whose ``str`` is the
one-line message the CLI prints: ``FILE: key.path: what was expected``.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from sim.scenario.schema import (
    ACCUMULATING_LISTS,
    EVENT_TYPES,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    NAME_RE,
    NO_PROVENANCE_NEEDED,
    QUARTER_RE,
    Scenario,
    ScenarioError,
    Sourced,
)
from sim.vocab import DEFAULT

# ----------------------------------------------------------------------------- YAML


#: How :data:`~sim.scenario.schema.NAME_RE` is worded in error messages.
NAME_TEXT = "a name of letters, digits, _ and - (dots only inside), at most 64 characters"
#: How many ``extends`` links a scenario may follow.
MAX_EXTENDS_DEPTH = 32


class _NoAliasLoader(yaml.SafeLoader):
    """Safe loader that refuses anchors and aliases (no alias bombs) and deep nesting."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        """Refuse a key that appears twice in one mapping (YAML would keep the last)."""
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else id(key_node)
            line = key_node.start_mark.line + 1
            if key in first:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {first[key]}, again at line {line})",
                    key_node.start_mark,
                )
            first[key] = line
        return super().construct_mapping(node, deep=deep)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in scenarios", event.start_mark
            )
        if getattr(self, "_depth", 0) > MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nesting deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_FAST_LOADER: type = _NoAliasLoader
if yaml.__with_libyaml__:

    class _FastNoAliasLoader(yaml.cyaml.CParser, _NoAliasLoader):
        """:class:`_NoAliasLoader` with libyaml's scanner and parser (about 5x faster).

        The events come from C; composing (with the alias and depth guards) and
        constructing stay in Python, so the data and the checks are the same.
        """

        def __init__(self, stream: Any) -> None:
            yaml.cyaml.CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

        get_single_node = yaml.composer.Composer.get_single_node

    _FAST_LOADER = _FastNoAliasLoader


def parse_yaml(text: str, file: str | Path) -> Any:
    """Parse YAML text safely; raise :class:`ScenarioError` with a one-line message."""
    try:
        try:
            return yaml.load(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:  # word the message as the pure-Python parser does
            return yaml.load(text, Loader=_NoAliasLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ScenarioError(file, "", f"malformed YAML: {where}{problem}") from None
    except ValueError as err:  # e.g. an integer longer than Python's conversion limit
        raise ScenarioError(file, "", f"malformed YAML: {err}") from None


def read_yaml_file(path: Path) -> dict[str, Any]:
    """Read one scenario file into a mapping (no inheritance).

    Only regular files are read (a FIFO or device is refused without blocking), and at
    most :data:`MAX_FILE_BYTES` + 1 bytes of them, whatever ``stat`` says.
    """
    raw = read_regular_file(path, MAX_FILE_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ScenarioError(path, "", f"cannot read file as UTF-8 text ({err})") from None
    data = parse_yaml(text, path)
    if not isinstance(data, dict):
        kind = "an empty document" if data is None else f"a {type(data).__name__}"
        raise ScenarioError(path, "", f"expected a mapping at the top level, got {kind}")
    return data


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    Raises:
        ScenarioError: for a missing, unreadable, non-regular or larger file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        raise ScenarioError(path, "", f"cannot read file ({err.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ScenarioError(path, "", "expected a regular file")
    with os.fdopen(fd, "rb") as handle:
        try:
            raw = handle.read(limit + 1)
        except OSError as err:
            raise ScenarioError(path, "", f"cannot read file ({err.strerror})") from None
    if len(raw) > limit:
        raise ScenarioError(path, "", f"file is over {limit} bytes, expected at most {limit}")
    return raw


def deep_merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """Merge ``child`` over ``parent``: mappings recursively, child wins.

    Lists are replaced, except ``events``, ``projects`` and ``disruptions`` at the top
    level, which accumulate (parent's first).
    """
    out = copy.deepcopy(parent)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _resolve_extends(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    data = read_yaml_file(path)
    parent_ref = data.get("extends")
    if parent_ref is None:
        return data
    if not isinstance(parent_ref, str):
        raise ScenarioError(path, "extends", f"expected a file path, got {parent_ref!r}")
    if "\0" in parent_ref or not parent_ref.strip():
        raise ScenarioError(path, "extends", f"expected a file path, got {parent_ref!r}")
    if len(seen) > MAX_EXTENDS_DEPTH:
        msg = f"more than {MAX_EXTENDS_DEPTH} levels of extends (expected a shorter chain)"
        raise ScenarioError(path, "extends", msg)
    try:
        parent = (path.parent / parent_ref).resolve()
        if not parent.exists() and not parent_ref.endswith((".yaml", ".yml")):
            parent = (path.parent / f"{parent_ref}.yaml").resolve()
        found = parent.is_file()
    except (OSError, RuntimeError) as err:  # a symlink loop (RuntimeError before 3.13)
        raise ScenarioError(path, "extends", f"cannot resolve {parent_ref!r} ({err})") from None
    if not found:
        looped = (path.parent / parent_ref).is_symlink()
        what = "is a symbolic link that loops or leads nowhere" if looped else "not found"
        raise ScenarioError(path, "extends", f"parent scenario {parent_ref!r} {what}")
    if parent in seen:
        chain = " -> ".join(p.name for p in (*seen, parent))
        raise ScenarioError(path, "extends", f"inheritance cycle: {chain}")
    base = _resolve_extends(parent, (*seen, parent))
    merged = deep_merge(base, {k: v for k, v in data.items() if k not in ACCUMULATING_LISTS})
    for key in ACCUMULATING_LISTS:
        if key in data:
            if not isinstance(data[key], list):
                raise ScenarioError(path, key, f"expected a list, got {type(data[key]).__name__}")
            merged[key] = list(base.get(key) or []) + copy.deepcopy(data[key])
    merged["extends"] = parent_ref
    return merged


# ----------------------------------------------------------------------------- --set


def apply_override(
    data: dict[str, Any], assignment: str, file: str | Path, origin: str = "--set"
) -> None:
    """Apply one ``key.path=value`` override in place (value parsed as YAML).

    The value's provenance is replaced by where it came from: whatever ``source`` or
    ``assumption`` covered the old value no longer names it, and the nearest mapping's
    ``assumption`` says ``override: <origin> key.path=value``.

    Args:
        data: the resolved scenario data (changed in place).
        assignment: ``key.path=value``.
        file: the scenario file (for error messages).
        origin: what set the value: ``--set``, an experiment file, the dashboard.

    Raises:
        ScenarioError: if the assignment is malformed or the path does not exist.
    """
    if "=" not in assignment:
        raise ScenarioError(file, "--set", f"expected KEY.PATH=VALUE, got {assignment!r}")
    key, raw = assignment.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ScenarioError(file, "--set", f"expected KEY.PATH=VALUE, got {assignment!r}")
    value = parse_yaml(raw, f"{file} (--set {key})")
    set_value(data, key, value, file, note=f"override: {origin} {key}={raw.strip()}")


def set_value(data: dict[str, Any], key: str, value: Any, file: str | Path, note: str) -> None:
    """Set the existing key path ``key`` to ``value`` in place; ``note`` is its provenance.

    Raises:
        ScenarioError: if the path does not exist.
    """
    parts = key.split(".")
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        node = _descend(node, part, parts[: depth + 1], file)
    last = parts[-1]
    if isinstance(node, list):
        idx = _list_index(node, last, key, file)
        node[idx] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        where = ".".join(parts[:-1])
        raise ScenarioError(file, key, f"cannot set a key inside {where}, which is a value")
    if _has_number(value) and parts[0] not in NO_PROVENANCE_NEEDED:
        _mark_override(data, parts, note)


def with_overrides(
    scenario: Scenario | str | Path | dict[str, Any],
    overrides: Mapping[str, Any],
    origin: str = "overrides",
) -> Scenario:
    """The scenario with ``key.path -> value`` overrides applied and validated.

    Paths are checked as ``--set`` checks them; values are Python values (numpy scalars
    become Python numbers), each recorded as ``override: <origin> key=value``.

    Raises:
        ScenarioError: for a path that does not exist or a value the schema rejects.
    """
    if isinstance(scenario, Scenario):
        data, file = scenario.to_dict(), f"<scenario {scenario.name}>"
    elif isinstance(scenario, dict):
        data, file = copy.deepcopy(scenario), "<scenario>"
    else:
        data, file = resolve(scenario), str(scenario)
    for key, value in overrides.items():
        plain = value.item() if hasattr(value, "item") and callable(value.item) else value
        note = f"override: {origin} {key.strip()}={plain!r}"
        set_value(data, key.strip(), plain, file, note)
    return validate(data, file)


def _has_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, dict):
        return any(_has_number(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_number(v) for v in value)
    return False


def _mark_override(data: dict[str, Any], parts: list[str], note: str) -> None:
    """Make ``note`` the only provenance of the value at ``parts``.

    Provenance cannot name list elements, so only the mappings below the last list on the
    path are rewritten: a string that covered the value becomes a mapping naming every
    other key, and a mapping loses its entry for the value. The note goes into the
    ``assumption`` of the nearest mapping that can carry provenance, as a mapping that
    names the path down to the value (``{capacity: {oil: note}}``).
    """
    chain: list[tuple[int, dict[str, Any]]] = []
    node: Any = data
    for depth, part in enumerate(parts):
        if isinstance(node, list):
            chain, node = [], node[int(part)]
        else:
            chain.append((depth, node))
            node = node.get(part)
    sourced = _sourced_along(parts)
    holders = [(d, m) for d, m in chain if sourced[d]]
    if not holders:
        return
    for depth, mapping in chain:
        for field in ("source", "assumption"):
            if field in mapping:
                left = _uncover(mapping[field], mapping, parts[depth:])
                if left:
                    mapping[field] = left
                else:
                    del mapping[field]
    depth, holder = holders[-1]
    entry: Any = note
    for part in reversed(parts[depth + 1 :]):
        entry = {part: entry}
    notes = holder.get("assumption")
    notes = notes if isinstance(notes, dict) else {}
    holder["assumption"] = _merge_notes(notes, parts[depth], entry)


def _merge_notes(notes: dict[str, Any], key: str, entry: Any) -> dict[str, Any]:
    if isinstance(entry, dict) and isinstance(notes.get(key), dict):
        inner = dict(notes[key])
        for k, v in entry.items():
            inner = _merge_notes(inner, k, v)
        return notes | {key: inner}
    return notes | {key: entry}


def _sourced_along(parts: list[str]) -> list[bool]:
    """Whether the node reached after ``parts[:d]`` can carry ``source``/``assumption``."""
    out: list[bool] = []
    node: Any = Scenario
    for part in [*parts, None]:
        out.append(_is_sourced(node))
        if part is None:
            break
        if isinstance(node, type) and issubclass(node, BaseModel):
            field = node.model_fields.get(part)
            node = _strip(field.annotation) if field else None
        else:  # dict[K, V] or list[V]: the value type
            args = getattr(node, "__args__", ())
            node = _strip(args[-1]) if args else None
    return out


def _strip(annotation: Any) -> Any:
    """The annotation without ``Annotated`` metadata and ``| None``."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (Union, UnionType) and len(args) == 1:
        return _strip(args[0])
    return annotation


def _is_sourced(node: Any) -> bool:
    if isinstance(node, type):
        return issubclass(node, Sourced)
    if get_origin(node) in (Union, UnionType):
        return all(_is_sourced(_strip(a)) for a in get_args(node))
    return False


def _uncover(prov: Any, node: dict[str, Any], path: list[str]) -> Any:
    """Provenance ``prov`` of mapping ``node`` less whatever covers ``node[path...]``."""
    if isinstance(prov, str):
        prov = {k: prov for k in node if k not in ("source", "assumption")}
    if not isinstance(prov, dict) or path[0] not in prov:
        return prov
    key, rest = path[0], path[1:]
    child = node.get(key)
    if rest and isinstance(child, dict):
        prov[key] = _uncover(prov[key], child, rest) or None
        if prov[key] is None:
            del prov[key]
    else:
        del prov[key]
    return prov


def _descend(node: Any, part: str, so_far: list[str], file: str | Path) -> Any:
    path = ".".join(so_far)
    if isinstance(node, dict):
        if part not in node:
            hint = difflib.get_close_matches(part, [str(k) for k in node], n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ScenarioError(file, path, f"no such key in the scenario{suggestion}")
        return node[part]
    if isinstance(node, list):
        return node[_list_index(node, part, path, file)]
    raise ScenarioError(file, path, "cannot descend into a value")


def _list_index(node: list[Any], part: str, path: str, file: str | Path) -> int:
    if not part.isdigit() or int(part) >= len(node):
        msg = f"expected a list index 0..{len(node) - 1}, got {part!r}"
        raise ScenarioError(file, path, msg)
    return int(part)


# ----------------------------------------------------------------------------- checks


def check_provenance(data: Any, file: str | Path) -> None:
    """Every number must be covered by a ``source`` or ``assumption``.

    A string covers every number below the mapping that holds it; a mapping covers the
    keys it names (recursively: ``{trade_targets: {EU: "..."}}`` covers one number).

    Raises:
        ScenarioError: naming the first uncovered number's key path.
    """
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        if key in NO_PROVENANCE_NEEDED or key in ("source", "assumption"):
            continue
        covered, maps = _child_provenance(data, key, [])
        _walk_provenance(value, [str(key)], covered=covered, maps=maps, file=file)


def _child_provenance(
    node: dict[str, Any], key: Any, maps: list[dict[str, Any]]
) -> tuple[bool, list[dict[str, Any]]]:
    """Whether ``node[key]`` is covered, and the provenance maps that apply below it."""
    candidates = list(maps)
    for field in ("source", "assumption"):
        prov = node.get(field)
        if isinstance(prov, str) and prov.strip():
            return True, []
        if isinstance(prov, dict):
            candidates.append(prov)
    covered = False
    below: list[dict[str, Any]] = []
    for prov in candidates:
        entry = prov.get(str(key), prov.get(key)) if isinstance(prov, dict) else None
        if isinstance(entry, str) and entry.strip():
            covered = True
        elif isinstance(entry, dict):
            below.append(entry)
    return covered, below


def _walk_provenance(
    node: Any, path: list[str], *, covered: bool, maps: list[dict[str, Any]], file: str | Path
) -> None:
    if isinstance(node, bool):
        return
    if isinstance(node, int | float):
        if not covered:
            msg = (
                "this number needs a `source` (dataset and year, or the article) or an `assumption`"
            )
            raise ScenarioError(file, ".".join(path), msg)
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("source", "assumption"):
                continue
            child_covered, child_maps = _child_provenance(node, key, maps)
            _walk_provenance(
                value,
                [*path, str(key)],
                covered=covered or child_covered,
                maps=child_maps,
                file=file,
            )
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk_provenance(value, [*path, str(i)], covered=covered, maps=maps, file=file)


def _format_validation_error(err: ValidationError, file: str | Path) -> ScenarioError:
    first = err.errors(include_url=False)[0]
    loc = [str(p) for p in first["loc"]]
    # Drop discriminator tags that pydantic inserts into union locations.
    loc = _user_location(loc)
    kind = first["type"]
    msg = first["msg"]
    value = first.get("input")
    path = ".".join(loc)
    if kind == "extra_forbidden":
        parent_fields = _fields_at(loc[:-1])
        hint = difflib.get_close_matches(loc[-1], parent_fields, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        allowed = f" (allowed: {', '.join(parent_fields)})" if parent_fields else ""
        return ScenarioError(file, path, f"unknown key{suggestion}{allowed}")
    if kind == "literal_error":
        expected = first.get("ctx", {}).get("expected", "")
        options = re.findall(r"'([^']+)'", expected)
        hint = difflib.get_close_matches(str(value), options, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        codes = set(DEFAULT.names) | {o for o in options if o.isupper()}
        what = "unknown code" if set(options) & codes else "unknown value"
        return ScenarioError(
            file, path, f"{what} {value!r}{suggestion} (expected one of {expected})"
        )
    if kind == "value_error":
        text = msg.removeprefix("Value error, ")
        inner = re.match(r"^([\w.]+): (.*)$", text)
        if inner:
            return ScenarioError(
                file, ".".join(filter(None, [path, inner.group(1)])), inner.group(2)
            )
        return ScenarioError(file, path, text)
    if kind == "missing":
        return ScenarioError(file, path, "required key is missing")
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    if kind == "string_pattern_mismatch":
        pattern = first.get("ctx", {}).get("pattern", "")
        what = {QUARTER_RE.pattern: "a quarter like 2025Q1", NAME_RE: NAME_TEXT}.get(
            pattern, f"text matching {pattern}"
        )
        return ScenarioError(file, path, f"expected {what}, got {shown}")
    if kind == "string_too_long" and path == "name":
        return ScenarioError(file, path, f"expected {NAME_TEXT}, got {shown}")
    text = re.sub(r"^Input should be (greater|less)", r"expected a value \1", msg)
    text = re.sub(r"^Input should be ", "expected ", text)
    text = re.sub(r"^Input ", "value ", text)
    return ScenarioError(file, path, f"{text}, got {shown}")


#: Event ``type`` tags (pydantic inserts them into discriminated-union error locations).
_EVENT_TAGS = {get_args(cls.model_fields["type"].annotation)[0] for cls in EVENT_TYPES}


def _user_location(loc: list[str]) -> list[str]:
    """Drop the union-branch tags pydantic inserts into an error location.

    Only where pydantic puts them: an event type right after ``events.<index>``, and
    type names below a ``source`` or ``assumption`` (the provenance union). A user's own
    key that happens to look like a tag is kept.
    """
    out: list[str] = []
    for i, part in enumerate(loc):
        event_tag = (
            i >= 2 and loc[i - 2] == "events" and loc[i - 1].isdigit() and part in _EVENT_TAGS
        )
        type_tag = _is_type_tag(part) and any(p in ("source", "assumption") for p in loc[:i])
        key_tag = part == "[key]"  # pydantic marks an invalid mapping key this way
        if not (event_tag or type_tag or key_tag):
            out.append(part)
    return out


def _is_type_tag(part: str) -> bool:
    """Pydantic puts union branch names (``str``, ``dict[str,str]``) into locations."""
    return part in {"str", "int", "float", "bool", "list", "dict"} or "[" in part


def _fields_at(loc: list[str]) -> list[str]:
    """Field names allowed at a location of the schema (for "did you mean")."""
    model: Any = Scenario
    for part in loc:
        if model is None:
            return []
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            # Inside a dict or list: the value model is the annotation's last argument.
            continue
        model = _node_type(field.annotation)
    return list(model.model_fields) if hasattr(model, "model_fields") else []


def _node_type(annotation: Any) -> Any:
    origin_args = getattr(annotation, "__args__", ())
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in reversed(origin_args):
        found = _node_type(arg)
        if found is not None:
            return found
    return None


# ----------------------------------------------------------------------------- API


def resolve(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Read a scenario file, follow ``extends`` and apply overrides; return raw data."""
    file = Path(path)
    try:
        if not file.exists():
            what = "a symbolic link that loops or leads nowhere" if file.is_symlink() else ""
            raise ScenarioError(file, "", what or "no such file")
        real = file.resolve()
    except (OSError, RuntimeError) as err:  # a symlink loop (RuntimeError before 3.13)
        raise ScenarioError(file, "", f"cannot resolve the file name ({err})") from None
    data = _resolve_extends(real, (real,))
    for assignment in overrides:
        apply_override(data, assignment, file)
    return data


def validate(data: dict[str, Any], file: str | Path = "<scenario>") -> Scenario:
    """Check provenance and the schema; return the validated :class:`Scenario`."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise _format_validation_error(err, file) from None
    check_provenance(data, file)
    return scenario


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Load, resolve, override and validate a scenario file.

    Args:
        path: the YAML file.
        overrides: ``key.path=value`` strings, applied after inheritance.

    Returns:
        The validated scenario.

    Raises:
        ScenarioError: with a one-line ``FILE: key.path: expected ...`` message.
    """
    return validate(resolve(path, overrides), path)


def coerce_scenario(scenario: Scenario | str | Path | dict[str, Any]) -> Scenario:
    """Accept a loaded scenario, a path or a raw mapping and return a :class:`Scenario`."""
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, dict):
        return validate(scenario)
    return load_scenario(scenario)
