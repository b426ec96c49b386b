"""Per-replication cost of ``run_ensemble`` against ``mesa.batch_run``, and a 10k run.

Usage::

    python benchmarks/ensemble.py                 # ratio, same scenario and steps
    python benchmarks/ensemble.py --big           # 10,000 x 64 to Parquet: time, peak RSS
    python benchmarks/ensemble.py --big --workers 2

The comparison runs in one process, on one core: ``mesa.batch_run(GeoModel, ...)``
builds one model per replication (``--batch-run`` of them), ``run_ensemble`` advances
``--replications`` replications in chunks of ``--chunk-size`` per model. Both run the
scenario's full horizon (64 quarters for the baseline) and keep their outputs in memory
(batch_run its reporters, run_ensemble every metric of every replication plus the
summary).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import mesa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.core.model import GeoModel  # noqa: E402
from sim.engine.ensemble import run_ensemble  # noqa: E402
from sim.engine.executors import process_pool  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402


def peak_rss_mib() -> tuple[float, float]:
    """Peak resident memory of this process and of its (finished) children, MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def compare_speed(args: argparse.Namespace) -> None:
    scenario = load_scenario(args.scenario)
    steps = scenario.steps
    print(f"scenario {scenario.name}: {steps} quarterly steps, seed {scenario.seed}")

    # Warm-up: imports, first-call overheads.
    run_ensemble(scenario, replications=2, seed=scenario.seed)

    t0 = time.perf_counter()
    rows = mesa.batch_run(
        GeoModel,
        parameters={"scenario": [scenario]},  # a list: a Scenario is itself iterable
        rng=list(range(args.batch_run)),
        max_steps=steps,
        display_progress=False,
        number_processes=1,
    )
    t_batch = (time.perf_counter() - t0) / args.batch_run
    assert len(rows) == args.batch_run

    t0 = time.perf_counter()
    res = run_ensemble(
        scenario, replications=args.replications, seed=scenario.seed, chunk_size=args.chunk_size
    )
    t_ens = (time.perf_counter() - t0) / args.replications
    t_sim = res.timings_s["simulate"] / args.replications

    print(f"mesa.batch_run, {args.batch_run} models x 1 replication: {t_batch * 1e3:8.2f} ms/rep")
    print(
        f"run_ensemble, {args.replications} replications "
        f"(chunks of {args.chunk_size or min(args.replications, 500)}): "
        f"{t_ens * 1e3:8.2f} ms/rep (simulation alone {t_sim * 1e3:.2f} ms/rep)"
    )
    print(f"ratio (batch_run / run_ensemble, per replication): {t_batch / t_ens:.1f}x")
    own, _ = peak_rss_mib()
    print(f"peak RSS {own:.0f} MiB")


def big_run(args: argparse.Namespace) -> None:
    scenario = load_scenario(args.scenario)
    n = args.big_replications
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        path = Path(tmp) / "timeseries.parquet"
        t0 = time.perf_counter()
        if args.workers > 1:
            with process_pool(args.workers) as pool:
                res = run_ensemble(
                    scenario, replications=n, seed=scenario.seed, executor=pool,
                    chunk_size=args.chunk_size, out_path=path, progress=args.progress,
                )  # fmt: skip
        else:
            res = run_ensemble(
                scenario, replications=n, seed=scenario.seed, chunk_size=args.chunk_size,
                out_path=path, progress=args.progress,
            )  # fmt: skip
        wall = time.perf_counter() - t0
        size = path.stat().st_size
    own, children = peak_rss_mib()
    rows = n * res.layout.rows
    t = res.timings_s
    print(
        f"{n} replications x {scenario.steps} steps, {len(res.layout.metrics)} metrics, "
        f"{args.workers} process(es): {wall:.1f} s wall "
        f"(simulate+write {t['simulate']:.1f} s, summary {t['summarise']:.1f} s)"
    )
    print(f"{rows:,} tidy rows, Parquet {size / 2**30:.2f} GiB, summary {len(res.summary):,} rows")
    print(f"peak RSS: this process {own:.0f} MiB, largest worker {children:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "baseline.yaml"))
    parser.add_argument("--replications", type=int, default=1000)
    parser.add_argument("--batch-run", type=int, default=30, help="models for mesa.batch_run")
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--big", action="store_true", help="run 10,000 x 64 to Parquet instead")
    parser.add_argument("--big-replications", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1, help="processes for --big")
    parser.add_argument("--tmp", default=None, help="folder for the --big Parquet file")
    parser.add_argument("--progress", action="store_true", help="progress bar for --big")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, mesa {mesa.__version__}, {os.cpu_count()} cpus")
    if args.big:
        big_run(args)
    else:
        compare_speed(args)


if __name__ == "__main__":
    main()
