"""Command line: ``casim run | compare | backtest | plot | validate | list`` (``python -m sim``).

``casim dashboard`` serves the what-if dashboard (:mod:`sim.dashboard`).

The only module that knows flag names. Each command loads its scenarios (before the
heavy imports, so bad input fails fast), prepares a :class:`RunFolder`, calls the study,
hands the result to the report writers (:mod:`sim.report.write`) and writes the
manifest.

Bad input never shows a traceback: it prints one line ``error: FILE: key.path: what was
expected`` on stderr and exits with status 2, having written nothing. Below the command
line a bad parameter is named by its parameter name (``replication_ids``); :data:`FLAGS`
turns it into the flag (``--replication-ids``). Environment and I/O failures print one
line and exit 1; Ctrl-C exits 130 and SIGTERM 143, leaving no half-written run folder
(README, "Error contract").
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
import threading
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

try:
    from sim.engine.executors import Terminated, raise_terminated
    from sim.engine.runfolder import COMPLETED, MAX_SEED
    from sim.report import runs
    from sim.scenario import ScenarioError, load_scenario, read_yaml_file
except KeyboardInterrupt:  # Ctrl-C while the command line starts up: no traceback
    sys.stderr.write("interrupted\n")
    # CPython flags a KeyboardInterrupt that left an exec() of a string (dataclasses,
    # typing, ... do that while importing) and then kills itself by SIGINT at exit,
    # status -2, even once the interrupt was handled; a trivial exec() clears the flag.
    exec("None")
    raise SystemExit(130) from None

if TYPE_CHECKING:
    from collections.abc import Callable

EXIT_ENVIRONMENT = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
#: Most replication ids ``--replication-ids`` may name (ranges included); also the
#: largest count any integer flag (``--replications``, ``--chunk-size``, ...) takes.
MAX_REPLICATION_IDS = 10_000_000
#: Most worker processes ``--workers`` takes: four per CPU this process may use.
MAX_WORKERS = 4 * (
    len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
)
#: Parameter names (the keys of ``ScenarioError`` below the CLI) -> command-line flags.
FLAGS: dict[str, str] = {
    "seed": "--seed",
    "out": "--out",
    "replications": "--replications",
    "replication_ids": "--replication-ids",
    "workers": "--workers",
    "chunk_size": "--chunk-size",
    "metrics": "--metrics",
    "at": "--at",
    "bootstrap": "--bootstrap",
    "refine_evals": "--refine-evals",
    "grid": "--param",
    "profile_grid": "--param",
    "parameter_uncertainty": "--parameter-uncertainty",
    "posterior": "--posterior",
    "particles": "--particles",
    "scheduler": "--scheduler",
    "resume": "--resume",
    "outcome": "--outcome",
    "where": "--where",
}


def flag_error(err: ScenarioError) -> ScenarioError:
    """``err`` with a parameter-name key replaced by its flag (others unchanged)."""
    flag = FLAGS.get(err.path)
    return err if flag is None else ScenarioError(err.file, flag, err.message)


def scenarios_dir() -> Path:
    """Where shipped scenarios live: ``./scenarios`` if present, else the repo's."""
    here = Path.cwd() / "scenarios"
    return here if here.is_dir() else Path(__file__).resolve().parent.parent / "scenarios"


def _integer(text: str, low: int, high: int, what: str) -> int:
    """``text`` as an integer in ``low..high``: ASCII digits only (no sign, ``_``, space)."""
    shown = text if len(text) <= 40 else text[:40] + "..."
    if not (text.isascii() and text.isdigit()):
        msg = f"expected {what} written with the digits 0-9, got {shown!r}"
        raise argparse.ArgumentTypeError(msg)
    if len(text) > len(str(high)) or not low <= int(text) <= high:
        msg = f"expected {what} from {low:,} to {high:,}, got {shown}"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def _seed(text: str) -> int:
    return _integer(text, 0, MAX_SEED, "a non-negative integer")


def _workers(text: str) -> int:
    return _integer(text, 1, MAX_WORKERS, "a number of worker processes (4 per CPU at most)")


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line on stderr, exit status 2 (the bad-input contract)."""

    def error(self, message: str) -> NoReturn:
        """Print ``error: PROG: message (see PROG --help)`` and exit 2."""
        self.exit(EXIT_BAD_INPUT, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``casim`` argument parser."""
    parser = OneLineParser(
        prog="casim",
        description="Great-power competition for resources and influence in Central Asia.",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser
    )

    run = sub.add_parser("run", help="run a scenario and write a run folder")
    run.add_argument("scenario", help="scenario YAML file")
    run.add_argument("--seed", type=_seed, default=None, help="seed (default: the scenario's)")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario value, e.g. powers.JPN.budget=5 (repeatable)",
    )
    run.add_argument("--out", default=None, help="run folder (must not exist or be empty)")
    run.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    run.add_argument(
        "--format",
        choices=("parquet", "csv", "both"),
        default="parquet",
        help="data files: parquet (default), csv or both",
    )
    run.set_defaults(func=cmd_run)
    add_ensemble_options(run)
    add_uncertainty_options(run, runs.PARAMETER_UNCERTAINTY["run"])
    add_compare_parser(sub)
    add_backtest_parser(sub)
    add_calibrate_parser(sub)
    add_plot_parser(sub)
    add_runs_parser(sub)
    add_experiment_parser(sub)

    val = sub.add_parser("validate", help="check a scenario and print its resolved form")
    val.add_argument("scenario", help="scenario YAML file")
    val.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    val.set_defaults(func=cmd_validate)

    dash = sub.add_parser("dashboard", help="serve the what-if dashboard on localhost")
    dash.add_argument("scenario", nargs="?", default=None, help="scenario YAML (default: baseline)")
    dash.add_argument("--port", type=_port, default=8765, help="TCP port (default 8765)")
    dash.add_argument("--base", default=None, help="scenario to compare with (default: baseline)")
    dash.set_defaults(func=cmd_dashboard)

    lst = sub.add_parser("list", help="list shipped scenarios with their descriptions")
    lst.add_argument("--dir", default=None, help="folder to list (default: scenarios/)")
    lst.set_defaults(func=cmd_list)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    """``casim run``: one replication, plots and data in a new run folder."""
    if wants_ensemble(args):
        return cmd_run_ensemble(args)
    folder = runs.run_single(
        args.scenario,
        overrides=args.overrides,
        seed=args.seed,
        out=args.out,
        plots=not args.no_plots,
        data_format=args.format,
        parameter_uncertainty=args.parameter_uncertainty or runs.PARAMETER_UNCERTAINTY["run"],
        posterior=args.posterior,
    )
    print(folder)
    return 0


# ----------------------------------------------------------------- ensembles and compare


def _positive(text: str) -> int:
    return _integer(text, 1, MAX_REPLICATION_IDS, "a positive integer")


def parse_replication_ids(text: str) -> list[int]:
    """Parse ``"37,41"`` or ranges ``"0-9,20"`` into a list of ids.

    Raises:
        ValueError: on anything else.
    """
    out: list[int] = []
    for raw in text.split(","):
        part = raw.strip()
        lo, sep, hi = part.partition("-")
        numbers = [lo, hi] if sep else [lo]
        if not all(x.isascii() and x.isdigit() for x in numbers):
            msg = f"expected ids like 37,41 or 0-9, got {text!r}"
            raise ValueError(msg)
        a, b = int(lo), int(hi) if sep else int(lo)
        if b < a:
            msg = f"empty id range {part!r}"
            raise ValueError(msg)
        if len(out) + b - a + 1 > MAX_REPLICATION_IDS:
            msg = f"more than {MAX_REPLICATION_IDS:,} replication ids"
            raise ValueError(msg)
        out.extend(range(a, b + 1))
    return out


def _id_list(text: str) -> list[int]:
    try:
        return parse_replication_ids(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _name_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _add_replication_options(parser: argparse.ArgumentParser, default_text: str = "") -> None:
    reps = parser.add_mutually_exclusive_group()
    reps.add_argument(
        "--replications",
        type=_positive,
        default=None,
        metavar="N",
        help=f"replications with ids 0..N-1{default_text}",
    )
    reps.add_argument(
        "--replication-ids",
        type=_id_list,
        default=None,
        metavar="IDS",
        help="run exactly these replication ids, e.g. 37,41 or 0-9",
    )
    parser.add_argument(
        "--workers", type=_workers, default=1, metavar="N", help="worker processes (default 1)"
    )
    parser.add_argument(
        "--chunk-size",
        type=_positive,
        default=None,
        metavar="N",
        help="replications advanced together in one model (default: up to 500)",
    )


def add_uncertainty_options(parser: argparse.ArgumentParser, default: str) -> None:
    """``--parameter-uncertainty posterior|fixed`` and ``--posterior FILE``."""
    parser.add_argument(
        "--parameter-uncertainty",
        choices=("posterior", "fixed"),
        default=None,
        help="posterior: replication k draws its behavioural parameters from the posterior "
        "(same draw in every scenario of a comparison); fixed: the scenario's values "
        f"(default: {default})",
    )
    parser.add_argument(
        "--posterior",
        default=None,
        metavar="FILE",
        help="posterior sample CSV (default: the shipped sim/data/posterior.csv)",
    )


def add_ensemble_options(run: argparse.ArgumentParser) -> None:
    """``casim run`` options for many replications (see :mod:`sim.engine.ensemble`)."""
    _add_replication_options(run)
    run.add_argument(
        "--metrics",
        type=_name_list,
        default=None,
        metavar="NAMES",
        help="with --replications: record only these metrics (comma-separated; default all)",
    )


def wants_ensemble(args: argparse.Namespace) -> bool:
    """Whether ``casim run`` was asked for an ensemble rather than one replication."""
    return (
        args.replications is not None
        or args.replication_ids is not None
        or args.workers > 1
        or args.chunk_size is not None
        or args.metrics is not None
    )


def cmd_run_ensemble(args: argparse.Namespace) -> int:
    """``casim run --replications N``: an ensemble run folder with ``summary.parquet``."""
    scenario = load_scenario(args.scenario, args.overrides)  # bad input fails fast
    folder = runs.run_ensemble_folder(
        args.scenario,
        replications=args.replications,
        replication_ids=args.replication_ids,
        seed=args.seed,
        overrides=args.overrides,
        workers=args.workers,
        chunk_size=args.chunk_size,
        metrics=args.metrics,
        out=args.out,
        plots=not args.no_plots,
        progress=sys.stderr.isatty(),
        scenario=scenario,
        data_format=args.format,
        parameter_uncertainty=args.parameter_uncertainty or runs.PARAMETER_UNCERTAINTY["run"],
        posterior=args.posterior,
    )
    print(folder)
    return 0


def add_compare_parser(sub: argparse._SubParsersAction) -> None:
    """The ``casim compare`` subcommand (see :mod:`sim.studies.compare`)."""
    cmp = sub.add_parser(
        "compare",
        help="compare scenarios with common random numbers",
        description="Run every scenario on the same replications (same seed and ids) and "
        "write, for each metric, paired differences to the first scenario at a quarter or "
        "window (tables and a dot-and-whisker figure) and over time: percentage points for "
        "shares, percent of the first scenario for levels. With influence shares, also "
        "influence curves and rank crossings.",
    )
    cmp.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="two or more YAML files")
    cmp.add_argument(
        "--seed", type=_seed, default=None, help="common seed (default: the first scenario's)"
    )
    _add_replication_options(cmp, " (default 200, sim.studies.compare.DEFAULT_REPLICATIONS)")
    cmp.add_argument(
        "--metrics",
        type=_name_list,
        default=None,
        metavar="NAMES",
        help="metrics to compare, comma-separated, e.g. gdp,export_revenue (default "
        "influence_share; any metric of docs/outputs.md)",
    )
    cmp.add_argument(
        "--at",
        default=None,
        metavar="QUARTER",
        help="quarter (2028Q4) or window (2027Q1:2028Q4, the mean of its quarters) the "
        "tables and dot figures read (default: the last quarter)",
    )
    cmp.add_argument("--out", default=None, help="output folder (must not exist or be empty)")
    add_uncertainty_options(cmp, runs.PARAMETER_UNCERTAINTY["compare"])
    cmp.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    """``casim compare A.yaml B.yaml ...``."""
    scenarios = [load_scenario(p) for p in args.scenarios]  # bad input fails fast
    folder = runs.run_compare(
        args.scenarios,
        replications=args.replications,
        replication_ids=args.replication_ids,
        seed=args.seed,
        workers=args.workers,
        chunk_size=args.chunk_size,
        out=args.out,
        progress=sys.stderr.isatty(),
        scenarios=scenarios,
        metrics=args.metrics,
        at=args.at,
        parameter_uncertainty=args.parameter_uncertainty or runs.PARAMETER_UNCERTAINTY["compare"],
        posterior=args.posterior,
    )
    print(folder)
    return 0


def add_backtest_parser(sub: argparse._SubParsersAction) -> None:
    """The ``casim backtest`` subcommand (see :mod:`sim.studies.backtest`)."""
    bt = sub.add_parser(
        "backtest",
        help="hindcast 2010-2020 and its skill against the reference data",
        description="Run scenarios/hindcast_2010.yaml as an ensemble and write hindcast.csv "
        "(annual trade shares 2010-2020), per-state plots against the reference points and "
        "skill.md (errors next to the persistence forecast).",
    )
    bt.add_argument(
        "--replications", type=_positive, default=200, help="ensemble size (default 200)"
    )
    bt.add_argument("--seed", type=_seed, default=None, help="seed (default: the scenario's)")
    bt.add_argument("--out", default=None, help="output folder (must not exist or be empty)")
    bt.add_argument("--workers", type=_workers, default=1, help="worker processes (default 1)")
    bt.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    add_uncertainty_options(bt, runs.PARAMETER_UNCERTAINTY["backtest"])
    bt.add_argument(
        "--discrepancy",
        choices=("on", "off"),
        default=None,
        help="on: the bands also carry the model's structural error (a random walk in "
        "log-ratio space fitted on the in-sample run 2006-2010); off: noise and parameters "
        "only (default: on with posterior parameters, off with fixed ones)",
    )
    bt.set_defaults(func=cmd_backtest)


def cmd_backtest(args: argparse.Namespace) -> int:
    """``casim backtest [--replications N] [--seed S] [--out DIR] [--discrepancy on|off]``."""
    mode = args.parameter_uncertainty or runs.PARAMETER_UNCERTAINTY["backtest"]
    folder = runs.run_backtest(
        args.replications,
        args.seed,
        args.out,
        workers=args.workers,
        plots=not args.no_plots,
        parameter_uncertainty=mode,
        posterior=args.posterior,
        discrepancy=runs.default_discrepancy(mode) if args.discrepancy is None
        else args.discrepancy == "on",
    )  # fmt: skip
    print(folder)
    return 0


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
        choices=("full", "quick"),
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
    cal.add_argument("--replications", type=_positive, default=8, help="per point (default 8)")
    cal.add_argument("--seed", type=_seed, default=None, help="common seed (default 1)")
    cal.add_argument("--workers", type=_workers, default=2, help="processes (default 2)")
    cal.add_argument("--bootstrap", type=_positive, default=500, help="draws (default 500)")
    cal.add_argument(
        "--refine-evals", type=_positive, default=60, help="Nelder-Mead evaluations (default 60)"
    )
    cal.add_argument("--out", default=None, help="folder (must not exist or be empty)")
    cal.add_argument(
        "--method",
        choices=("grid", "abc"),
        default="grid",
        help="grid: grid search and refinement (default); abc: approximate Bayesian "
        "computation, writes posterior.csv (docs/calibration.md)",
    )
    cal.add_argument(
        "--particles", type=_positive, default=None, help="abc: particles per generation"
    )
    cal.add_argument("--generations", type=_positive, default=None, help="abc: generations")
    cal.add_argument(
        "--ship",
        action="store_true",
        help="abc: also copy posterior.csv to sim/data/posterior.csv (the shipped posterior)",
    )
    cal.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    """``casim calibrate [--grid quick|full] [--param NAME=V1,V2] ...`` (or ``--method abc``)."""
    if args.method == "abc":
        folder = runs.run_abc(
            args.scenario,
            overrides=args.overrides,
            seed=args.seed,
            particles=args.particles,
            generations=args.generations,
            out=args.out,
            ship=args.ship,
        )
        print(folder)
        return 0
    folder = runs.run_calibration(
        args.scenario,
        overrides=args.overrides,
        grid_name=args.grid,
        params=args.param,
        replications=args.replications,
        seed=args.seed,
        workers=args.workers,
        bootstrap=args.bootstrap,
        refine_evals=args.refine_evals,
        out=args.out,
        progress=sys.stderr.isatty(),
    )
    print(folder)
    return 0


def add_plot_parser(sub: argparse._SubParsersAction) -> None:
    """The ``casim plot`` subcommand (see :mod:`sim.report.redraw`)."""
    plot = sub.add_parser(
        "plot",
        help="redraw a saved run folder's figures from its data files",
        description="Redraw the figures of a folder written by casim run (one run or an "
        "ensemble: every figure whose metrics it recorded), compare or backtest, from its "
        "data files, without rerunning anything.",
    )
    plot.add_argument("run_dir", metavar="RUN_DIR", help="the run folder")
    plot.add_argument(
        "--out", default=None, help="folder for the PNGs (default RUN_DIR/plots; replaced)"
    )
    plot.set_defaults(func=cmd_plot)


def cmd_plot(args: argparse.Namespace) -> int:
    """``casim plot RUN_DIR [--out DIR]``."""
    from sim.report.redraw import redraw  # noqa: PLC0415 - matplotlib only when plotting

    outdir = Path(args.out) if args.out is not None else Path(args.run_dir) / "plots"
    _, skipped = redraw(args.run_dir, outdir)
    for name, missing in skipped.items():
        print(f"note: {name}.png not drawn: no {', '.join(missing)} in the data", file=sys.stderr)
    print(outdir)
    return 0


def _since(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        msg = f"expected a date like 2026-12-01 or 2026-12-01T13:30, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def add_runs_parser(sub: argparse._SubParsersAction) -> None:
    """The ``casim runs`` subcommand (see :mod:`sim.engine.catalog`)."""
    runs_ = sub.add_parser(
        "runs",
        help="list the run folders under results/, newest first",
        description="One line per run folder under results/ (folder, kind, scenario, "
        "overrides, seed, replications, creation time in UTC, git commit, wall time); a "
        "folder whose manifest is missing or unreadable is listed as such.",
    )
    runs_.add_argument("--scenario", default=None, metavar="NAME", help="only this scenario")
    runs_.add_argument(
        "--since", type=_since, default=None, metavar="DATE", help="only runs since DATE (UTC)"
    )
    runs_.add_argument("--json", action="store_true", help="print a JSON list instead")
    runs_.add_argument("--dir", default=None, help="results folder (default: results)")
    runs_.set_defaults(func=cmd_runs)


def cmd_runs(args: argparse.Namespace) -> int:
    """``casim runs [--scenario NAME] [--since DATE] [--json] [--dir RESULTS]``."""
    from sim.engine import catalog  # noqa: PLC0415

    if args.dir is not None and not Path(args.dir).is_dir():
        raise ScenarioError(args.dir, "", "no such folder")
    rows = catalog.list_runs(args.dir or "results", scenario=args.scenario, since=args.since)
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
    else:
        sys.stdout.write(catalog.runs_table(rows))
    return 0


def add_experiment_parser(sub: argparse._SubParsersAction) -> None:
    """``casim experiment run | sensitivity | discover`` (see :mod:`sim.report.experiment_runs`)."""
    exp = sub.add_parser(
        "experiment",
        help="sampled experiments: run, global sensitivity, scenario discovery",
        description="Run an experiment file (scenarios/experiments/, docs/experiments.md), "
        "then rank its inputs (sensitivity) or find the conditions of an outcome (discover).",
    )
    esub = exp.add_subparsers(dest="action", required=True, metavar="ACTION",
                              parser_class=OneLineParser)  # fmt: skip
    run = esub.add_parser("run", help="run an experiment file and write a run folder")
    run.add_argument("file", metavar="FILE", help="experiment YAML file")
    run.add_argument("--out", default=None, help="run folder (must not exist or be empty)")
    run.add_argument(
        "--workers", type=_workers, default=1,
        help="worker processes, or local Dask workers with --scheduler local (default 1; 2 there)",
    )  # fmt: skip
    run.add_argument(
        "--scheduler", default=None, metavar="local|tcp://HOST:PORT",
        help="run chunks on Dask: a new local cluster, or an existing scheduler",
    )  # fmt: skip
    run.add_argument("--resume", action="store_true", help="reuse the parts of a killed run")
    run.add_argument("--chunk-size", type=_positive, default=None,
                     help="design-point replications per model (default 1000)")  # fmt: skip
    run.set_defaults(func=cmd_experiment_run)
    sens = esub.add_parser("sensitivity", help="Sobol or Morris indices of each outcome")
    sens.add_argument("run_dir", metavar="DIR", help="a folder of casim experiment run")
    sens.set_defaults(func=cmd_experiment_sensitivity)
    disc = esub.add_parser("discover", help="PRIM box of the points where an outcome holds")
    disc.add_argument("run_dir", metavar="DIR", help="a folder of casim experiment run")
    disc.add_argument("--outcome", required=True, help="outcome name")
    disc.add_argument("--where", required=True, help='condition, e.g. ">= 0.02"')
    disc.add_argument("--threshold", type=float, default=0.8,
                      help="least density of the chosen box (default 0.8)")  # fmt: skip
    disc.set_defaults(func=cmd_experiment_discover)


def cmd_experiment_run(args: argparse.Namespace) -> int:
    """``casim experiment run FILE``: print the run folder."""
    from sim.report.experiment_runs import run_experiment_folder  # noqa: PLC0415

    print(
        run_experiment_folder(
            args.file, out=args.out, workers=args.workers, scheduler=args.scheduler,
            resume=args.resume, chunk_size=args.chunk_size, progress=sys.stderr.isatty(),
        )
    )  # fmt: skip
    return 0


def cmd_experiment_sensitivity(args: argparse.Namespace) -> int:
    """``casim experiment sensitivity DIR``: print the files written."""
    from sim.report.experiment_runs import run_sensitivity  # noqa: PLC0415

    for path in run_sensitivity(args.run_dir):
        print(path)
    return 0


def cmd_experiment_discover(args: argparse.Namespace) -> int:
    """``casim experiment discover DIR --outcome NAME --where COND``: print the files."""
    from sim.report.experiment_runs import run_discover  # noqa: PLC0415

    for path in run_discover(args.run_dir, args.outcome, args.where, args.threshold):
        print(path)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """``casim validate``: print the resolved scenario."""
    scenario = load_scenario(args.scenario, args.overrides)
    sys.stdout.write(scenario.to_yaml())
    return 0


def _port(text: str) -> int:
    return _integer(text, 1, 65535, "a TCP port")


def cmd_dashboard(args: argparse.Namespace) -> int:
    """``casim dashboard``: serve the what-if dashboard until Ctrl-C."""
    from sim.dashboard.server import serve  # noqa: PLC0415 - the web stack only here

    scenario = args.scenario or scenarios_dir() / "baseline.yaml"
    serve(scenario, port=args.port, base=args.base)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """``casim list``: name and description of each scenario file."""
    folder = Path(args.dir) if args.dir else scenarios_dir()
    if not folder.is_dir():
        raise ScenarioError(folder, "", "no such folder")
    for path in sorted(folder.glob("*.yaml")):
        if not path.is_file():  # a FIFO, device or folder named *.yaml
            continue
        try:
            data = read_yaml_file(path)
            text = " ".join(str(data.get("description", "")).split())
        except ScenarioError as err:
            text = f"(invalid: {err.message})"
        print(f"{path.stem:<18} {text}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0, 1, 2, 130 or 143: README, Error contract).

    SIGTERM is handled like Ctrl-C while a command runs. An interrupt that arrives after
    the run folder was completed (renamed into place) changes nothing: the folder is
    kept, its path printed, and the status is 0.
    """
    done = len(COMPLETED)
    _TERMINATED.clear()
    previous = _catch_sigterm()
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except ScenarioError as err:
        print(f"error: {flag_error(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as err:
        return _interrupted(err, COMPLETED[done:])
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ENVIRONMENT
    except (OSError, MemoryError, BrokenProcessPool) as err:
        if isinstance(err, BrokenProcessPool) and _TERMINATED:  # SIGTERM to the group
            return _interrupted(Terminated(), COMPLETED[done:])
        print(f"error: {environment_error(err)}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


_TERMINATED: list[int] = []


def _catch_sigterm() -> signal.Handlers | Callable[..., object] | int | None:
    """Raise :class:`Terminated` on SIGTERM (main thread only); return the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: object) -> None:
        _TERMINATED.append(signum)
        raise_terminated(signum, frame)

    return signal.signal(signal.SIGTERM, handler)


def _interrupted(err: KeyboardInterrupt, completed: list[Path]) -> int:
    """Exit status after Ctrl-C or SIGTERM: 0 if the run folder was already complete."""
    if completed:
        print(completed[-1])
        print(f"note: interrupted after {completed[-1]} was complete; kept", file=sys.stderr)
        return 0
    terminated = isinstance(err, Terminated)
    print("terminated" if terminated else "interrupted", file=sys.stderr)
    return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


def environment_error(err: BaseException) -> str:
    """One line for an environment failure (``OSError``, ``MemoryError``, a dead worker)."""
    if isinstance(err, MemoryError):
        return "out of memory (try fewer --replications, --workers or a smaller --chunk-size)"
    if isinstance(err, BrokenProcessPool):
        return "a worker process died (out of memory, or killed)"
    if isinstance(err, OSError) and err.strerror:
        if err.filename is None:
            return err.strerror
        return str(ScenarioError(err.filename, "", err.strerror))
    return " ".join(str(err).split()) or type(err).__name__


def run() -> None:
    """Console-script wrapper: exit with :func:`main`'s status.

    Once :func:`main` has returned, the outcome is decided and on disk: a late Ctrl-C
    or SIGTERM (e.g. while worker processes shut down) is ignored.
    """
    try:
        status = main()
    except KeyboardInterrupt:  # between main's handlers and here
        status = EXIT_INTERRUPTED
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    exec("None")  # clears CPython's interrupt flag (see the imports above)
    sys.exit(status)


if __name__ == "__main__":
    run()
