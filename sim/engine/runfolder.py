"""``RunFolder``: the only code that creates run folders.

Every command that writes results (``casim run``, ensembles, ``compare``, ``backtest``,
``calibrate``) goes through :class:`RunFolder`. It checks the output folder and the seed
before anything is written, writes into a temporary sibling folder
(``.<name>.partial-<pid>``), times the stages, writes ``manifest.json`` with the fields
every run shares (scenario, seed, package versions, git commit, command, timings) and
renames the folder into place only when everything succeeded. An exception, Ctrl-C
or SIGTERM included, removes the temporary folder and leaves earlier runs untouched; a
temporary folder left by a killed process (SIGKILL, power loss) is removed by the next
run into the same folder. Concurrent runs into the default folder all succeed under
distinct names; of concurrent runs into one ``--out`` the first to finish wins.

Usage::

    folder = RunFolder.prepare(
        kind="run", name=scenario.name, seed=seed, digest=scenario.digest(),
        out=out, results=results, source=path,
    )
    with folder:
        with folder.timed("simulate"):
            ...
        df.to_parquet(folder.path / "timeseries.parquet")
        folder.write_manifest(base_manifest(scenario, path, overrides, seed) | {...})
    folder.final  # the finished run folder
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from sim.engine.executors import sigint_deferred
from sim.scenario import Scenario, ScenarioError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from types import TracebackType

PACKAGES = (
    "casim",
    "mesa",
    "numpy",
    "pandas",
    "pyarrow",
    "matplotlib",
    "pydantic",
    "pyyaml",
    "scipy",
)
REPO_ROOT = Path(__file__).resolve().parent.parent.parent
#: Largest seed (numpy's ``SeedSequence`` takes any, but a seed also names folders).
MAX_SEED = 2**64 - 1
#: Run folders this process has completed (renamed into place), oldest first.
COMPLETED: list[Path] = []
_PARTIAL = re.compile(r"^\..+\.partial-(\d+)$")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a run depends on, and Python's."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _git(*args: str) -> str:
    """The stripped output of ``git ARGS`` in the source tree."""
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()


def git_commit() -> dict[str, Any]:
    """The source tree's git commit and whether it had uncommitted changes."""
    try:
        head = _git("rev-parse", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": head, "dirty": bool(dirty)}


def check_seed(seed: int | None, default: int, source: str | Path) -> int:
    """The seed a run uses: ``seed`` if given, else ``default``.

    Raises:
        ScenarioError: for a seed outside 0..:data:`MAX_SEED` (key ``seed``; the CLI
            shows it as ``--seed``).
    """
    seed = default if seed is None else seed
    if not 0 <= seed <= MAX_SEED:
        msg = f"expected a non-negative integer up to {MAX_SEED}, got {seed}"
        raise ScenarioError(source, "seed", msg)
    return seed


def check_out_dir(out: Path, label: str = "out") -> None:
    """An output folder must not exist, or be an empty folder.

    Raises:
        ScenarioError: otherwise (the CLI turns it into exit status 2).
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ScenarioError(out, label, "expected a folder that does not exist or is empty")


#: Longest override tag in a folder name; a longer one is cut and ends in a hash.
MAX_TAG = 48


def override_tag(overrides: Sequence[str]) -> str:
    """A short, path-safe tag naming ``key.path=value`` overrides (``""`` for none).

    Each override keeps the last two components of its key and its value
    (``powers.JPN.budget=5`` -> ``JPN.budget=5``); overrides are joined by ``_``. Only
    letters, digits and ``_ - . =`` remain (other runs of characters become ``.``); a
    list index keeps its list's name (``events.0.weight=2``); a tag longer than
    :data:`MAX_TAG` is cut and ends in 8 hex digits of the full overrides' hash.
    """

    def safe(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.=-]+", ".", text).strip(".")

    parts = []
    for text in overrides:
        key, _, value = text.partition("=")
        names = key.strip().split(".")
        keep = 3 if len(names) > 2 and names[-2].isdigit() else 2  # events.0.weight
        parts.append(f"{safe('.'.join(names[-keep:]))}={safe(value)}")
    tag = "_".join(parts)
    if len(tag) > MAX_TAG:
        digest = hashlib.sha256("\n".join(overrides).encode()).hexdigest()[:8]
        tag = f"{tag[: MAX_TAG - 9].rstrip('._-=')}-{digest}"
    return tag


def default_run_dir(results: Path, name: str, seed: int, digest: str, tag: str = "") -> Path:
    """``results/<name>/<UTC time>-s<seed>-<digest8>[-<tag>]``, made unique if needed."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = f"-{tag}" if tag else ""
    base = results / name / f"{stamp}-s{seed}-{digest[:8]}{suffix}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def remove_stale_partials(folder: Path) -> list[Path]:
    """Remove the ``.<name>.partial-<pid>`` folders in ``folder`` whose process is gone.

    A run killed by SIGKILL (or a crash of the machine) cannot clean up; the next run
    into the same folder does, with one line on stderr per folder removed.

    Returns:
        The folders removed.
    """
    removed = []
    for entry in folder.iterdir():
        m = _PARTIAL.match(entry.name)
        if m is None or not entry.is_dir() or entry.is_symlink() or _process_alive(int(m[1])):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
        print(f"note: removed {entry}, left by process {m[1]}, which is gone", file=sys.stderr)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: it exists, under another user
        return True
    return True


def base_manifest(
    scenario: Scenario, source: str | Path, overrides: list[str] | tuple[str, ...], seed: int
) -> dict[str, Any]:
    """Manifest fields shared by every run of one scenario."""
    return {
        "scenario": scenario.name,
        "scenario_file": str(source),
        "scenario_sha256": scenario.digest(),
        "overrides": list(overrides),
        "seed": seed,
        "horizon": {"start": scenario.horizon.start, "end": scenario.horizon.end},
        "steps": scenario.steps,
    }


def environment_manifest() -> dict[str, Any]:
    """Manifest fields that describe where and how a run was made."""
    return {
        "packages": package_versions(),
        "git": git_commit(),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


class RunFolder:
    """One run folder being written: checks, temporary folder, timings, manifest.

    Build it with :meth:`prepare` (which does every check before anything is written),
    then use it as a context manager. Inside, write files under :attr:`path`; on a clean
    exit the temporary folder is renamed to :attr:`final`.

    Attributes:
        final: where the finished folder will be.
        seed: the checked seed.
        timings: seconds per stage, filled by :meth:`timed` (``load`` is the time from
            :meth:`prepare`'s ``started`` argument to the end of :meth:`prepare`).
    """

    def __init__(
        self, final: Path, seed: int, started: float | None = None, *, chosen: bool = True
    ) -> None:
        self.final = final
        self._chosen = chosen  # True: our own default name, renumbered if taken at the end
        self.seed = seed
        self.timings: dict[str, float] = {}
        if started is not None:
            self.timings["load"] = round(time.perf_counter() - started, 4)
        self._tmp: Path | None = None

    @classmethod
    def prepare(
        cls,
        *,
        name: str,
        digest: str,
        seed: int | None,
        default_seed: int,
        source: str | Path,
        out: str | Path | None = None,
        results: str | Path = "results",
        started: float | None = None,
        tag: str = "",
    ) -> Self:
        """Check the seed and the output folder; choose the folder's name.

        Args:
            name: the folder under ``results`` (scenario name, ``compare``, ...).
            digest: hex digest of what is run (its first 8 digits name the folder).
            seed: the requested seed, or None for ``default_seed``.
            default_seed: the scenario's seed.
            source: the input file named in error messages.
            out: an explicit folder (must not exist or be empty).
            results: the results root for the default folder.
            started: ``time.perf_counter()`` when loading began (for the ``load`` timing).
            tag: appended to the default folder's name (:func:`override_tag`).

        Raises:
            ScenarioError: for a negative seed or an unusable ``out``.
        """
        seed = check_seed(seed, default_seed, source)
        if out is not None:
            final = Path(out)
            check_out_dir(final)
        else:
            final = default_run_dir(Path(results), name, seed, digest, tag)
        return cls(final, seed, started, chosen=out is None)

    @property
    def path(self) -> Path:
        """The temporary folder to write into (only inside the ``with`` block)."""
        if self._tmp is None:
            msg = "RunFolder.path is only available inside its with-block"
            raise RuntimeError(msg)
        return self._tmp

    def __enter__(self) -> Self:
        self.final.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(self.final.parent)
        tmp = self.final.parent / f".{self.final.name}.partial-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        self._tmp = tmp
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tmp, self._tmp = self._tmp, None
        if tmp is None:
            return
        # Ctrl-C and SIGTERM wait until the folder is either removed or complete, so
        # the exit status never contradicts what is on disk (see COMPLETED).
        with sigint_deferred():
            if exc_type is not None:
                shutil.rmtree(tmp, ignore_errors=True)
                return
            try:
                self._commit(tmp)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            COMPLETED.append(self.final)

    def _commit(self, tmp: Path) -> None:
        """Rename ``tmp`` to :attr:`final`, atomically; never over another run's files.

        ``rename`` replaces an empty folder and fails on a non-empty one. A default
        name taken meanwhile by a concurrent run becomes ``<name>-2``, ``-3``, ...; an
        explicit ``out`` filled meanwhile is an error.

        Raises:
            ScenarioError: if ``out`` was filled by another run since :meth:`prepare`.
        """
        base, n = self.final, 1
        while True:
            try:
                tmp.rename(self.final)
                return
            except OSError as err:
                if err.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                    raise
                if not self._chosen:
                    msg = "expected a folder that does not exist or is empty (another run "
                    msg += "wrote it first)"
                    raise ScenarioError(self.final, "out", msg) from None
            n += 1
            self.final = base.with_name(f"{base.name}-{n}")

    @contextlib.contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Record the wall time of a stage in :attr:`timings` (seconds, 4 decimals)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = round(self.timings.get(stage, 0.0) + time.perf_counter() - t0, 4)

    def write_text(self, relative: str, text: str) -> Path:
        """Write a UTF-8 text file under the folder (parents created)."""
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return target

    def write_manifest(self, fields: dict[str, Any]) -> Path:
        """Write ``manifest.json``: ``fields``, the environment and the timings.

        ``timings_s`` merges :attr:`timings` with any ``timings_s`` in ``fields``.
        """
        manifest = fields | environment_manifest()
        manifest["timings_s"] = self.timings | dict(fields.get("timings_s", {}))
        return self.write_text(
            "manifest.json", json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n"
        )
