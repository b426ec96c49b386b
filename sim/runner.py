"""Run a scenario and write a self-describing run folder.

A run folder holds ``manifest.json`` (what was run, with what, where, how long),
``scenario.yaml`` (the resolved scenario), ``timeseries.parquet`` (the tidy table) and
``plots/*.png``. Folders are written under a temporary name and renamed into place only
when complete, so an interrupted run leaves nothing that looks finished and never
touches earlier runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.scenario import Scenario, ScenarioError, load_scenario

if TYPE_CHECKING:
    from collections.abc import Iterator

PACKAGES = ("casim", "mesa", "numpy", "pandas", "pyarrow", "matplotlib", "pydantic", "pyyaml")
REPO_ROOT = Path(__file__).resolve().parent.parent


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a run depends on, and Python's."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> dict[str, Any]:
    """The source tree's git commit and whether it had uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": head, "dirty": bool(dirty)}


def run_seed(scenario: Scenario, seed: int | None, path: str | Path) -> int:
    """The seed a run uses: ``seed`` if given (must be >= 0), else the scenario's.

    Raises:
        ScenarioError: for a negative seed.
    """
    seed = scenario.seed if seed is None else seed
    if seed < 0:
        raise ScenarioError(path, "--seed", f"expected a non-negative integer, got {seed}")
    return seed


def check_out_dir(out: Path, label: str = "--out") -> None:
    """An output folder must not exist, or be an empty folder.

    Raises:
        ScenarioError: otherwise (the CLI turns it into exit status 2).
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ScenarioError(out, label, "expected a folder that does not exist or is empty")


def default_run_dir(results: Path, name: str, seed: int, digest: str) -> Path:
    """``results/<scenario>/<UTC time>-s<seed>-<digest8>``, made unique if needed."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = results / name / f"{stamp}-s{seed}-{digest[:8]}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; rename it to ``final`` only on success.

    On any exception (including ``KeyboardInterrupt``) the temporary folder is removed
    and ``final`` is left as it was.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():
            final.rmdir()  # only ever an empty --out folder (checked before the run)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` (sorted keys, UTF-8)."""
    (folder / "manifest.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8"
    )


def base_manifest(
    scenario: Scenario, source: str | Path, overrides: list[str], seed: int
) -> dict[str, Any]:
    """Manifest fields shared by every kind of run."""
    return {
        "scenario": scenario.name,
        "scenario_file": str(source),
        "scenario_sha256": scenario.digest(),
        "overrides": list(overrides),
        "seed": seed,
        "horizon": {"start": scenario.horizon.start, "end": scenario.horizon.end},
        "steps": scenario.steps,
        "packages": package_versions(),
        "git": git_commit(),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def run_scenario(
    path: str | Path,
    *,
    overrides: list[str] | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
    results: str | Path = "results",
    plots: bool = True,
) -> Path:
    """Run one replication of a scenario and write its run folder.

    Args:
        path: the scenario YAML file.
        overrides: ``key.path=value`` strings (``--set``).
        seed: the seed; default the scenario's ``seed``.
        out: the run folder (must not exist or be empty); default a new folder under
            ``results/<scenario>/``.
        results: the results root for the default folder.
        plots: also render the plots.

    Returns:
        The run folder.

    Raises:
        ScenarioError: for bad input, before anything is written.
    """
    overrides = list(overrides or [])
    t0 = time.perf_counter()
    scenario = load_scenario(path, overrides)
    seed = run_seed(scenario, seed, path)
    final = Path(out) if out is not None else None
    if final is not None:
        check_out_dir(final)
    else:
        final = default_run_dir(Path(results), scenario.name, seed, scenario.digest())
    t_load = time.perf_counter() - t0
    # Heavy imports only after the input has been checked: bad input fails fast.
    from sim import plots as plotting  # noqa: PLC0415
    from sim.model import GeoModel  # noqa: PLC0415

    with atomic_dir(final) as tmp:
        t1 = time.perf_counter()
        model = GeoModel(scenario=scenario, rng=seed).run()
        t_sim = time.perf_counter() - t1
        t2 = time.perf_counter()
        df = model.timeseries()
        df.to_parquet(tmp / "timeseries.parquet", index=False)
        (tmp / "scenario.yaml").write_text(scenario.to_yaml(), encoding="utf-8")
        t_write = time.perf_counter() - t2
        t3 = time.perf_counter()
        written = plotting.save_all(df, tmp / "plots") if plots else []
        t_plot = time.perf_counter() - t3
        manifest = base_manifest(scenario, path, overrides, seed)
        manifest |= {
            "replications": 1,
            "replication_ids": [0],
            "rows": len(df),
            "plots": [p.name for p in written],
            "calibration_residual_max_pp": float(abs(model.calibration_residual).max() * 100),
            "timings_s": {
                "load": round(t_load, 4),
                "simulate": round(t_sim, 4),
                "write": round(t_write, 4),
                "plots": round(t_plot, 4),
            },
        }
        write_manifest(tmp, manifest)
    return final
