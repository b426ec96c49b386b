"""Command line: ``casim run | compare | validate | list`` (also ``python -m sim``).

Bad input never shows a traceback: it prints one line ``error: FILE: key.path: what was
expected`` on stderr and exits with status 2, having written nothing. Ctrl-C exits with
status 130 and leaves no half-written run folder.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

from sim.scenario import ScenarioError, load_scenario, read_yaml_file

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
#: Most replication ids ``--replication-ids`` may name (ranges included).
MAX_REPLICATION_IDS = 10_000_000


def scenarios_dir() -> Path:
    """Where shipped scenarios live: ``./scenarios`` if present, else the repo's."""
    here = Path.cwd() / "scenarios"
    return here if here.is_dir() else Path(__file__).resolve().parent.parent / "scenarios"


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        msg = f"expected a non-negative integer, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if value < 0:
        msg = f"expected a non-negative integer, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


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
    run.set_defaults(func=cmd_run)
    add_ensemble_options(run)
    add_compare_parser(sub)
    add_backtest_parser(sub)

    val = sub.add_parser("validate", help="check a scenario and print its resolved form")
    val.add_argument("scenario", help="scenario YAML file")
    val.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    val.set_defaults(func=cmd_validate)

    lst = sub.add_parser("list", help="list shipped scenarios with their descriptions")
    lst.add_argument("--dir", default=None, help="folder to list (default: scenarios/)")
    lst.set_defaults(func=cmd_list)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    """``casim run``: one replication, plots and data in a new run folder."""
    if wants_ensemble(args):
        return cmd_run_ensemble(args)
    from sim._legacy_folders import run_scenario  # noqa: PLC0415 - heavy imports only when running

    folder = run_scenario(
        args.scenario,
        overrides=args.overrides,
        seed=args.seed,
        out=args.out,
        plots=not args.no_plots,
    )
    print(folder)
    return 0


# ----------------------------------------------------------------- ensembles and compare


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"expected a positive integer, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


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
        "--workers", type=_positive, default=1, metavar="N", help="worker processes (default 1)"
    )
    parser.add_argument(
        "--chunk-size",
        type=_positive,
        default=None,
        metavar="N",
        help="replications advanced together in one model (default: up to 500)",
    )


def add_ensemble_options(run: argparse.ArgumentParser) -> None:
    """``casim run`` options for many replications (see :mod:`sim.ensemble`)."""
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
    from sim._legacy_folders import run_ensemble_folder  # noqa: PLC0415 - heavy imports

    folder = run_ensemble_folder(
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
    )
    print(folder)
    return 0


def add_compare_parser(sub: argparse._SubParsersAction) -> None:
    """The ``casim compare`` subcommand (see :mod:`sim.compare`)."""
    cmp = sub.add_parser(
        "compare",
        help="compare scenarios with common random numbers",
        description="Run every scenario on the same replications (same seed and ids) and "
        "write influence curves, paired differences to the first scenario, end-of-horizon "
        "shares and rank crossings.",
    )
    cmp.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="two or more YAML files")
    cmp.add_argument(
        "--seed", type=_seed, default=None, help="common seed (default: the first scenario's)"
    )
    _add_replication_options(cmp, " (default 200, sim.compare.DEFAULT_REPLICATIONS)")
    cmp.add_argument("--out", default=None, help="output folder (must not exist or be empty)")
    cmp.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    """``casim compare A.yaml B.yaml ...``."""
    scenarios = [load_scenario(p) for p in args.scenarios]  # bad input fails fast
    from sim.compare import run_compare  # noqa: PLC0415 - heavy imports

    folder = run_compare(
        args.scenarios,
        replications=args.replications,
        replication_ids=args.replication_ids,
        seed=args.seed,
        workers=args.workers,
        chunk_size=args.chunk_size,
        out=args.out,
        progress=sys.stderr.isatty(),
        scenarios=scenarios,
    )
    print(folder)
    return 0


def add_backtest_parser(sub: argparse._SubParsersAction) -> None:
    """The ``casim backtest`` subcommand (see :mod:`sim.backtest`)."""
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
    bt.add_argument("--workers", type=_positive, default=1, help="worker processes (default 1)")
    bt.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    bt.set_defaults(func=cmd_backtest)


def cmd_backtest(args: argparse.Namespace) -> int:
    """``casim backtest [--replications N] [--seed S] [--out DIR]``."""
    from sim.backtest import run_backtest  # noqa: PLC0415 - heavy imports

    folder = run_backtest(
        args.replications,
        args.seed,
        args.out,
        workers=args.workers,
        plots=not args.no_plots,
    )
    print(folder)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """``casim validate``: print the resolved scenario."""
    scenario = load_scenario(args.scenario, args.overrides)
    sys.stdout.write(scenario.to_yaml())
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """``casim list``: name and description of each scenario file."""
    folder = Path(args.dir) if args.dir else scenarios_dir()
    if not folder.is_dir():
        raise ScenarioError(folder, "", "no such folder")
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = read_yaml_file(path)
            text = " ".join(str(data.get("description", "")).split())
        except ScenarioError as err:
            text = f"(invalid: {err.message})"
        print(f"{path.stem:<18} {text}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ScenarioError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def run() -> None:
    """Console-script wrapper: exit with :func:`main`'s status."""
    sys.exit(main())


if __name__ == "__main__":
    run()
