"""Fuzzing the scenario loader and ``casim validate`` with random and mutated YAML.

Contract (sim.scenario, sim.cli): any input either loads cleanly or raises
``ScenarioError`` whose message is one line; the CLI turns that into exit status 2 and a
one-line ``error: ...`` on stderr. Nothing else may escape: no traceback, ever.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.cli import main as cli_main
from sim.scenario import ScenarioError, load_scenario

REPO_ROOT = Path(__file__).resolve().parent.parent
BASELINE = REPO_ROOT / "scenarios" / "baseline.yaml"
BASELINE_TEXT = BASELINE.read_text(encoding="utf-8")
BASELINE_LINES = BASELINE_TEXT.splitlines(keepends=True)

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def check_loads_or_one_line_error(path: Path, overrides: list[str] | None = None) -> str:
    """Load ``path``; return "ok" or the error message, failing on anything but ScenarioError."""
    try:
        load_scenario(path, overrides or [])
    except ScenarioError as err:
        text = str(err)
        assert text, "empty error message"
        assert "\n" not in text, f"multi-line error: {text!r}"
        assert "\r" not in text, f"multi-line error: {text!r}"
        assert "Traceback" not in text
        return text
    return "ok"


def write(tmp_path: Path, text: str | bytes, name: str = "fuzz.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- strategies

#: Scalars of every YAML type, including awkward ones.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["KAZ", "CHN", "2025Q1", "2040Q9", "oil", "summit", "EAEU", "", "~", "1e999"]),
)
#: Keys drawn mostly from the schema's vocabulary, so mutations reach deep validation.
keys = st.one_of(
    st.sampled_from(
        [
            "name",
            "description",
            "extends",
            "horizon",
            "start",
            "end",
            "seed",
            "behaviour",
            "prices",
            "states",
            "powers",
            "markets",
            "routes",
            "events",
            "projects",
            "disruptions",
            "source",
            "assumption",
            "KAZ",
            "UZB",
            "CHN",
            "JPN",
            "EU",
            "oil",
            "gas",
            "capacity",
            "gdp",
            "type",
            "date",
            "power",
            "weight",
            "path",
            "budget",
        ]
    ),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=8),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=25,
)


@st.composite
def mutated_baseline(draw: st.DrawFn) -> str:
    """The baseline's text with a few random line-level mutations."""
    lines = list(BASELINE_LINES)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(
            st.sampled_from(
                ["delete", "swap_values", "retype", "garbage", "duplicate", "indent", "anchor"]
            )
        )
        i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        line = lines[i]
        if kind == "delete":
            del lines[i]
        elif kind == "swap_values":
            j = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            a, b = lines[i], lines[j]
            if ":" in a and ":" in b:
                ka, va = a.split(":", 1)
                kb, vb = b.split(":", 1)
                lines[i], lines[j] = f"{ka}:{vb}", f"{kb}:{va}"
        elif kind == "retype":
            if ":" in line:
                key = line.split(":", 1)[0]
                new = yaml.safe_dump(draw(values), default_flow_style=True, width=10**6).strip()
                new = new.removesuffix("...").strip()
                lines[i] = f"{key}: {new}\n"
        elif kind == "garbage":
            junk = draw(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12))
            pos = draw(st.integers(min_value=0, max_value=len(line)))
            lines[i] = line[:pos] + junk + line[pos:]
        elif kind == "duplicate":
            lines.insert(i, line)
        elif kind == "indent":
            lines[i] = " " * draw(st.integers(min_value=1, max_value=6)) + line
        elif kind == "anchor" and ":" in line:
            key = line.split(":", 1)[0]
            lines[i] = f"{key}: &a{i} {line.split(':', 1)[1].strip() or '{}'}\n"
            lines.append(f"fuzz_alias: *a{i}\n")
    return "".join(lines)


# ----------------------------------------------------------------------------- loader


@FUZZ
@given(doc=values)
def test_random_yaml_documents(tmp_path: Path, doc: object) -> None:
    text = yaml.safe_dump(doc, allow_unicode=True)
    check_loads_or_one_line_error(write(tmp_path, text))


@FUZZ
@given(text=mutated_baseline())
def test_mutated_baseline(tmp_path: Path, text: str) -> None:
    check_loads_or_one_line_error(write(tmp_path, text))


@FUZZ
@given(data=st.binary(max_size=300), prefix_len=st.integers(min_value=0, max_value=2000))
def test_garbage_bytes(tmp_path: Path, data: bytes, prefix_len: int) -> None:
    raw = BASELINE_TEXT.encode()[:prefix_len] + data
    check_loads_or_one_line_error(write(tmp_path, raw))


@FUZZ
@given(
    depth=st.integers(min_value=1, max_value=3000),
    style=st.sampled_from(["flow_list", "flow_map", "block_map", "mixed"]),
)
def test_deep_nesting(tmp_path: Path, depth: int, style: str) -> None:
    if style == "flow_list":
        body = "[" * depth + "1" + "]" * depth
    elif style == "flow_map":
        body = "{a: " * depth + "1" + "}" * depth
    elif style == "mixed":
        body = "[{a: " * depth + "1" + "}]" * depth
    else:
        n = min(depth, 200)
        text = "".join("  " * k + f"k{k}:\n" for k in range(n)) + "  " * n + "1\n"
        check_loads_or_one_line_error(write(tmp_path, text))
        return
    check_loads_or_one_line_error(write(tmp_path, f"extends: baseline.yaml\nstates: {body}\n"))


@FUZZ
@given(
    n_refs=st.integers(min_value=1, max_value=50),
    target=st.sampled_from(["", "behaviour", "states.KAZ", "routes.CPC"]),
)
def test_anchors_and_aliases(tmp_path: Path, n_refs: int, target: str) -> None:
    """A "billion laughs" style document and aliases inside a real scenario."""
    bomb = ["a0: &a0 [lol, lol, lol]"]
    bomb.extend(f"a{k}: &a{k} [*a{k - 1}, *a{k - 1}, *a{k - 1}]" for k in range(1, min(n_refs, 12)))
    msg = check_loads_or_one_line_error(write(tmp_path, "\n".join(bomb) + "\n"))
    assert msg != "ok"
    text = BASELINE_TEXT + f"\nfuzz_anchor: &anchor {{x: 1}}\nfuzz_ref: *anchor\n{target}\n"
    check_loads_or_one_line_error(write(tmp_path, text))


@FUZZ
@given(
    key=st.text(alphabet=st.characters(codec="ascii", exclude_characters="\n\r"), max_size=30),
    value=st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=30),
    known=st.sampled_from(
        [
            "states.KAZ.gdp",
            "behaviour.hedging",
            "horizon.end",
            "routes.CPC.capacity.oil",
            "powers.JPN.budget",
            "disruptions.0.rate_per_year",
            "prices.oil.path",
            "seed",
            "states.KAZ.trade_targets.CHN",
            "events",
            "name",
        ]
    ),
    use_known=st.booleans(),
)
def test_random_overrides(key: str, value: str, known: str, use_known: bool) -> None:
    assignment = f"{known if use_known else key}={value}"
    check_loads_or_one_line_error(BASELINE, [assignment])


@FUZZ
@given(doc=st.dictionaries(keys, values, min_size=1, max_size=5))
def test_child_scenarios(tmp_path: Path, doc: dict[str, object]) -> None:
    """Random children of the baseline: inheritance, merging and accumulating lists."""
    (tmp_path / "baseline.yaml").write_text(BASELINE_TEXT, encoding="utf-8")
    doc = {"extends": "baseline.yaml", **doc}
    check_loads_or_one_line_error(write(tmp_path, yaml.safe_dump(doc, allow_unicode=True)))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# only a comment\n",
        "- a list\n",
        "just a string\n",
        "name: !!python/object/apply:os.system [echo hi]\n",
        "? [a, b]\n: c\n",
        "name: a\nname: b\n",
        "name:\tx\n",
        'name: "\x01"\n',
        "extends: .\n",
        "extends: missing.yaml\n",
        "extends: 7\n",
        "extends: fuzz.yaml\n",
        "extends: baseline.yaml\nevents: {a: 1}\n",
        "extends: baseline.yaml\nstates: {KAZ: {gdp: .nan}}\n",
        "extends: baseline.yaml\nhorizon: {start: 2040Q1, end: 2025Q1}\n",
        "extends: baseline.yaml\nsource: 5\n",
    ],
)
def test_known_awkward_documents(tmp_path: Path, text: str) -> None:
    (tmp_path / "baseline.yaml").write_text(BASELINE_TEXT, encoding="utf-8")
    msg = check_loads_or_one_line_error(write(tmp_path, text))
    assert msg != "ok"


# Regression tests for loader bugs this fuzzing found (fixed in the loader): each used to
# escape as another exception or a multi-line message.
def test_extends_with_nul_byte(tmp_path: Path) -> None:
    check_loads_or_one_line_error(write(tmp_path, 'extends: "a\\0b"\n'))


@pytest.mark.parametrize("key", ["\r", "a\nb", "\x00", "\x1b[31m"])
def test_control_character_in_key(tmp_path: Path, key: str) -> None:
    text = yaml.safe_dump({"extends": "baseline.yaml", key: 1})
    (tmp_path / "baseline.yaml").write_text(BASELINE_TEXT, encoding="utf-8")
    check_loads_or_one_line_error(write(tmp_path, text))


def test_huge_integer(tmp_path: Path) -> None:
    check_loads_or_one_line_error(write(tmp_path, "name: x\nseed: " + "9" * 5000 + "\n"))


# ----------------------------------------------------------------------------- CLI


@pytest.mark.parametrize(
    "text",
    [
        "extends: baseline.yaml\nstates: {KAZ: {gdp: -1}}\n",
        "a: &x 1\nb: *x\n",
        "name: [unclosed\n",
    ],
)
def test_cli_validate_in_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    (tmp_path / "baseline.yaml").write_text(BASELINE_TEXT, encoding="utf-8")
    code = cli_main(["validate", str(write(tmp_path, text))])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert err.count("\n") == 1


@FUZZ
@given(text=mutated_baseline())
def test_cli_validate_mutations(tmp_path: Path, text: str) -> None:
    """In-process ``casim validate``: exit 0 with YAML, or exit 2 with one error line."""
    path = write(tmp_path, text)
    stdout, stderr = _run_cli_captured(["validate", str(path)])
    code = stdout[0]
    if code == 0:
        assert stderr == ""
    else:
        assert code == 2
        assert stderr.startswith("error: ")
        assert stderr.count("\n") == 1


def _run_cli_captured(argv: list[str]) -> tuple[tuple[int, str], str]:
    """Run ``sim.cli.main`` with stdout/stderr captured (hypothesis-friendly, no fixture)."""
    import contextlib  # noqa: PLC0415
    import io  # noqa: PLC0415

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(argv)
    return (code, out.getvalue()), err.getvalue()


def _casim() -> list[str]:
    exe = Path(sys.executable).parent / "casim"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "sim"]


@pytest.mark.parametrize(
    "text",
    [
        "extends: baseline.yaml\nstates: {KAZ: {gdp: -1}}\n",
        "name: x\nseed: &s 1\nhorizon: *s\n",
        "\x00\x01garbage",
        "extends: baseline.yaml\nroutes: {CPC: {capacity: {oil: [1, 2]}}}\n",
    ],
)
def test_cli_subprocess_exit_2_one_line(tmp_path: Path, text: str) -> None:
    (tmp_path / "baseline.yaml").write_text(BASELINE_TEXT, encoding="utf-8")
    path = write(tmp_path, text)
    env = os.environ | {"MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [*_casim(), "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith("error: ")
    assert proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- numbers, dates


#: Every numeric leaf of the baseline, as a ``--set`` key path.
def _numeric_paths(node: object, path: tuple[str, ...] = ()) -> list[str]:
    if isinstance(node, bool):
        return []
    if isinstance(node, int | float):
        return [".".join(path)]
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _numeric_paths(v, (*path, str(k)))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _numeric_paths(v, (*path, str(i)))]
    return []


NUMERIC_PATHS = sorted(
    p for p in _numeric_paths(yaml.safe_load(BASELINE_TEXT)) if not p.startswith("seed")
)


def _all_floats(node: object) -> list[float]:
    if isinstance(node, float):
        return [node]
    if isinstance(node, dict):
        return [x for v in node.values() for x in _all_floats(v)]
    if isinstance(node, list):
        return [x for v in node for x in _all_floats(v)]
    return []


@FUZZ
@given(
    path=st.sampled_from(NUMERIC_PATHS),
    value=st.one_of(
        st.sampled_from([".nan", ".inf", "-.inf", "1.0e+309", "-1.0e+309", "-0.0", "1.0e-320"]),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.integers(min_value=-(10**20), max_value=10**20).map(str),
    ),
)
def test_numbers_are_finite_and_in_range_or_refused(path: str, value: str) -> None:
    value = {"nan": ".nan", "inf": ".inf", "-inf": "-.inf"}.get(value, value)
    text = check_loads_or_one_line_error(BASELINE, [f"{path}={value}"])
    if text == "ok":
        loaded = load_scenario(BASELINE, [f"{path}={value}"])
        floats = _all_floats(loaded.model_dump())
        assert all(math.isfinite(x) and abs(x) <= 1e7 for x in floats)
    else:  # the key itself, or a cross-check it broke (GDP below resource value added)
        assert f": {path}" in text or "resource value added" in text, text


@FUZZ
@given(
    key=st.sampled_from(["horizon.start", "horizon.end", "events.0.date", "projects.0.start"]),
    year=st.integers(min_value=0, max_value=9999),
    quarter=st.integers(min_value=0, max_value=6),
)
def test_dates_are_in_the_supported_range_or_refused(key: str, year: int, quarter: int) -> None:
    value = f"{year:04d}Q{quarter}"
    scenario = REPO_ROOT / "scenarios" / "japan_summit.yaml"
    text = check_loads_or_one_line_error(scenario, [f"{key}={value}"])
    if not (1990 <= year <= 2100 and 1 <= quarter <= 4):
        assert text != "ok"
        assert f": {key}: " in text, text
    if text == "ok":
        loaded = load_scenario(scenario, [f"{key}={value}"])
        assert 1990 * 4 <= loaded.start_quarter <= loaded.start_quarter + loaded.steps <= 2101 * 4
