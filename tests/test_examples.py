"""The examples of README.md and docs/*.md run, so none can drift from the code.

Each document's fenced blocks run in order in a fresh working folder (with a copy of
``scenarios/``):

* a ```` ```yaml ```` block whose first line is ``# scenarios/NAME.yaml`` is written there;
* each line of a ```` ```sh ```` block is a ``casim`` command (``.venv/bin/casim``,
  ``casim``, ``python -m sim``, or ``make run [SCENARIO=...]``), run in-process through
  :func:`sim.cli.main`, and must exit 0;
* a ```` ```python ```` block is executed.

Long examples run at reduced sizes: ``--replications``/``replications=`` at most 3 (2
for 1,000 and more), ``--workers`` at most 2, ``casim run`` and ``backtest`` without
plots (``casim plot`` and ``compare`` still draw), ``casim experiment run`` on a copy of its
file with at most 8 samples and 2 replications (and no ``--scheduler``), ``casim calibrate``
on the quick grid with one replication, 2 bootstrap draws and 2 refinement steps.
``results/<name>/<run-id>`` stands for the newest folder under ``results/<name>/``.
A block preceded by
``<!-- example: skip (reason) -->`` is not run; any other command is an error, so a new
kind of example must be taught here or skipped explicitly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import shlex
import shutil
from pathlib import Path

import pytest

from sim.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\s*$")
SKIP = re.compile(r"^<!-- example: skip \((.+)\) -->$")
PLACEHOLDER = re.compile(r"results/([\w.-]+)/<run-id>")
CASIM = ((".venv/bin/casim",), ("casim",), ("python", "-m", "sim"))


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced block of a document."""

    lang: str
    text: str
    line: int
    skip: str | None


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, with the skip marker before each."""
    out: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start = i
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            i += 1
        before = [x for x in lines[:start] if x.strip()][-1:] or [""]
        skip = SKIP.match(before[0].strip())
        body = "\n".join(lines[start + 1 : i])
        out.append(Block(match.group(1), body, start + 1, skip.group(1) if skip else None))
        i += 1
    return out


def newest(match: re.Match[str]) -> str:
    folder = Path("results") / match.group(1)
    runs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert runs, f"no run under {folder} for {match.group(0)}"
    return runs[-1].as_posix()


def reduce_argv(argv: list[str]) -> list[str]:
    """The command at test size (see the module docstring)."""
    out = list(argv)
    for i, arg in enumerate(out[:-1]):
        if arg == "--replications":
            n = int(out[i + 1])
            out[i + 1] = str(2 if n >= 1000 else min(n, 3))
        if arg == "--workers":
            out[i + 1] = str(min(int(out[i + 1]), 2))
    command = out[0]
    if out[:2] == ["experiment", "run"]:
        shrink_experiment(Path(out[2]))
        if "--scheduler" in out:  # a Dask cluster is tested in tests/test_experiments.py
            i = out.index("--scheduler")
            del out[i : i + 2]
    if command in {"run", "backtest"} and "--no-plots" not in out:
        out.append("--no-plots")
    if command == "calibrate":
        for flag, value in (
            ("--grid", "quick"),
            ("--replications", "1"),
            ("--bootstrap", "2"),
            ("--refine-evals", "2"),
            ("--workers", "1"),
        ):
            if flag not in out:
                out += [flag, value]
    return out


def shrink_experiment(path: Path) -> None:
    """An experiment file of the working folder at test size (8 samples, 2 replications)."""
    import yaml  # noqa: PLC0415

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["samples"] = min(int(data.get("samples", 8)), 8)
    data["replications"] = min(int(data.get("replications", 2)), 2)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def casim_argv(line: str) -> list[str] | None:
    """The ``casim`` arguments of one shell line (None for a blank or comment line)."""
    words = shlex.split(PLACEHOLDER.sub(newest, line), comments=True)
    if not words:
        return None
    for prefix in CASIM:
        if tuple(words[: len(prefix)]) == prefix:
            return words[len(prefix) :]
    if words[:2] == ["make", "run"]:
        scenario = "scenarios/baseline.yaml"
        for word in words[2:]:
            if word.startswith("SCENARIO="):
                scenario = word.partition("=")[2]
        return ["run", scenario]
    pytest.fail(f"not a casim command (teach tests/test_examples.py or skip the block): {line}")
    return None


def run_shell(block: Block, where: str) -> None:
    for offset, line in enumerate(block.text.replace("\\\n", " ").splitlines(), start=1):
        argv = casim_argv(line)
        if argv is None:
            continue
        argv = reduce_argv(argv)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse: unknown flag or bad value
                code = exc.code
        assert code == 0, f"{where}+{offset}: casim {shlex.join(argv)} -> {code}\n{err.getvalue()}"


def run_python(block: Block, where: str) -> None:
    text = PLACEHOLDER.sub(newest, block.text)
    text = re.sub(
        r"\breplications=(\d+)", lambda m: f"replications={min(int(m.group(1)), 3)}", text
    )
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(text, where, "exec"), {"__name__": "__docs__"})


def write_yaml(block: Block, where: str) -> None:
    first = block.text.splitlines()[0] if block.text else ""
    target = re.fullmatch(r"# (scenarios/[\w.-]+\.yaml)", first.strip())
    if target:
        Path(target.group(1)).write_text(block.text + "\n", encoding="utf-8")


RUNNERS = {"sh": run_shell, "python": run_python, "yaml": write_yaml}


def test_every_document_is_parsed() -> None:
    langs = {b.lang for doc in DOCUMENTS for b in blocks(doc)}
    assert {"sh", "python", "yaml"} <= langs
    skipped = [(doc.name, b.line) for doc in DOCUMENTS for b in blocks(doc) if b.skip]
    assert len(skipped) <= 3, f"keep skipped examples few: {skipped}"


def runnable(document: Path) -> list[Block]:
    return [b for b in blocks(document) if b.lang in RUNNERS and not b.skip]


@pytest.mark.parametrize(
    "document", [d for d in DOCUMENTS if runnable(d)], ids=lambda p: p.relative_to(ROOT).as_posix()
)
def test_examples_run(document: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    todo = runnable(document)
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    monkeypatch.chdir(tmp_path)
    for block in todo:
        RUNNERS[block.lang](block, f"{document.relative_to(ROOT)}:{block.line}")


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_links_between_documents_resolve() -> None:
    for doc in DOCUMENTS:
        text = doc.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http://", "https://")):
                continue
            file, _, anchor = target.partition("#")
            path = (doc.parent / file).resolve() if file else doc
            assert path.exists(), f"{doc.name}: broken link {target}"
            if anchor and path.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)
                assert anchor in {slug(h) for h in headings}, f"{doc.name}: no anchor {target}"
