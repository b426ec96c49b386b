"""``casim calibrate``: fit the behavioural parameters and write a calibration folder.

Temporary module: the lead folds :func:`add_calibrate_parser` and :func:`cmd_calibrate`
into :mod:`sim.cli`. The study itself is :func:`sim.studies.calibrate.calibrate`; this
module knows the flags, shows a progress bar on a terminal and writes the results
through :class:`~sim.engine.runfolder.RunFolder`:

* ``grid.csv``, ``grid_errors.npy``, ``profile_<name>.csv``, ``bootstrap.csv`` and
  ``summary.json`` (the files ``python -m sim.calibration`` wrote);
* ``manifest.json`` (what was run, timings).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.scenario import ScenarioError, load_scenario

if TYPE_CHECKING:
    from sim.studies.calibrate import CalibrationResult

#: ``--grid`` choices (the keys of :data:`sim.studies.calibrate.GRIDS`).
GRID_CHOICES = ("full", "quick")
#: Flag of each study parameter named in a :class:`ScenarioError`.
FLAGS = {
    "replications": "--replications",
    "workers": "--workers",
    "bootstrap": "--bootstrap",
    "refine_evals": "--refine-evals",
    "seed": "--seed",
    "out": "--out",
    "grid": "--param",
    "profile_grid": "--param",
}


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"expected a positive integer, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        msg = f"expected a non-negative integer, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _param(text: str) -> tuple[str, tuple[float, ...]]:
    """``NAME=V1,V2,...`` -> ``(NAME, (V1, V2, ...))``."""
    name, sep, values = text.partition("=")
    try:
        numbers = tuple(float(v) for v in values.split(","))
    except ValueError:
        numbers = ()
    if not sep or not name.strip() or not numbers:
        msg = f"expected NAME=V1,V2,... with numbers, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return name.strip(), numbers


def add_calibrate_parser(sub: argparse._SubParsersAction) -> None:
    """The ``casim calibrate`` subcommand (see :mod:`sim.studies.calibrate`)."""
    cal = sub.add_parser(
        "calibrate",
        help="fit the behavioural parameters on 2005-2010 and write a calibration folder",
        description="Grid search, profile, Nelder-Mead refinement, near-optimal set and "
        "cluster bootstrap of the behavioural parameters (docs/calibration.md).",
    )
    cal.add_argument(
        "--grid",
        choices=GRID_CHOICES,
        default="full",
        help="search grid: full (441 points, about 1.5 min on 2 cores) or quick (8 points)",
    )
    cal.add_argument(
        "--param",
        type=_param,
        action="append",
        default=[],
        metavar="NAME=V1,V2,...",
        help="search NAME over these values instead of the grid's (repeatable)",
    )
    cal.add_argument(
        "--scenario", default=None, help="calibration run (default scenarios/hindcast_2005.yaml)"
    )
    cal.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    cal.add_argument("--replications", type=_count, default=8, help="per point (default 8)")
    cal.add_argument("--seed", type=_seed, default=None, help="common seed (default 1)")
    cal.add_argument("--workers", type=_count, default=2, help="processes (default 2)")
    cal.add_argument("--bootstrap", type=_count, default=500, help="draws (default 500)")
    cal.add_argument(
        "--refine-evals", type=_count, default=60, help="Nelder-Mead evaluations (default 60)"
    )
    cal.add_argument("--out", default=None, help="folder (must not exist or be empty)")
    cal.set_defaults(func=cmd_calibrate)


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm  # noqa: PLC0415

    return tqdm(
        total=total,
        unit="eval",
        delay=1.0,
        file=sys.stderr,
        bar_format="{desc}: {l_bar}{bar}| {n:.0f}/{total} model runs [{elapsed}<{remaining}]",
    )


def write_calibration(path: Path, res: CalibrationResult) -> list[str]:
    """Write a calibration's tables and summary into ``path``; return the file names."""
    import numpy as np  # noqa: PLC0415

    res.grid.to_csv(path / "grid.csv", index=False)
    np.save(path / "grid_errors.npy", res.grid_errors)
    res.bootstrap.to_csv(path / "bootstrap.csv", index=False)
    names = ["grid.csv", "grid_errors.npy", "bootstrap.csv"]
    for name, table in res.profiles.items():
        table.to_csv(path / f"profile_{name}.csv", index=False)
        names.append(f"profile_{name}.csv")
    (path / "summary.json").write_text(json.dumps(res.summary, indent=2) + "\n", encoding="utf-8")
    return [*names, "summary.json"]


def cmd_calibrate(args: argparse.Namespace) -> int:
    """``casim calibrate [--grid quick|full] [--param NAME=V1,V2] ...``."""
    try:
        return _calibrate(args)
    except ScenarioError as err:
        if err.path in FLAGS:
            raise ScenarioError(err.file, FLAGS[err.path], err.message) from None
        raise


def _calibrate(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    from sim.engine.runfolder import RunFolder, base_manifest  # noqa: PLC0415
    from sim.studies import calibrate as cal  # noqa: PLC0415 - heavy imports

    source = Path(args.scenario) if args.scenario else cal.CALIBRATION_SCENARIO
    scenario = load_scenario(source, args.overrides)
    grid, profile = (dict(g) for g in cal.GRIDS[args.grid])
    for name, values in args.param:
        (profile if name in profile else grid)[name] = values
    cal.check_grid(grid, profile, source)
    searched = json.dumps([grid, profile], sort_keys=True)
    digest = hashlib.sha256((scenario.digest() + searched).encode()).hexdigest()
    folder = RunFolder.prepare(
        name="calibration",
        digest=digest,
        seed=args.seed,
        default_seed=cal.DEFAULT_SEED,
        source=source,
        out=args.out,
        started=t0,
    )
    total = cal.planned_evaluations(grid, profile, args.refine_evals)
    bar = _progress_bar(total, sys.stderr.isatty())

    def tick(stage: str) -> None:
        bar.set_description_str(stage, refresh=False)
        bar.update(1)

    try:
        with folder:
            with folder.timed("calibrate"):
                res = cal.calibrate(
                    scenario,
                    replications=args.replications,
                    seed=folder.seed,
                    workers=args.workers,
                    grid=grid,
                    profile_grid=profile,
                    bootstrap=args.bootstrap,
                    refine_evals=args.refine_evals,
                    progress=tick if bar is not None else None,
                )
            with folder.timed("write"):
                files = write_calibration(folder.path, res)
            manifest = base_manifest(scenario, source, args.overrides, folder.seed) | {
                "kind": "calibration",
                "grid_name": args.grid,
                "grid": grid,
                "profile_grid": profile,
                "replications": args.replications,
                "workers": args.workers,
                "bootstrap": args.bootstrap,
                "refine_evals": args.refine_evals,
                "best": res.best,
                "loss_best": res.summary["loss_best"],
                "files": sorted([*files, "manifest.json"]),
            }
            folder.write_manifest(manifest)
    finally:
        if bar is not None:
            bar.close()
    print(folder.final)
    return 0
