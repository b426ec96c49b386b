"""Per-replication cost of ``run_ensemble`` against ``mesa.batch_run``, and a 10k run.

Usage::

    python benchmarks/ensemble.py                 # ratio, same scenario and steps (best of 3)
    python benchmarks/ensemble.py --big           # 10,000 x 64 to Parquet: time, peak RSS
    python benchmarks/ensemble.py --big --workers 2
    python benchmarks/ensemble.py --hold          # 1,000 replications held as labelled data
    python benchmarks/ensemble.py --compare       # casim compare, 2 scenarios x 1,000
    python benchmarks/ensemble.py --memory        # peak RSS of casim run, 1,000..15,000

Run each mode in a fresh process: peak RSS is the process's.

The comparison runs in one process, on one core: ``mesa.batch_run(GeoModel, ...)``
builds one model per replication (``--batch-run`` of them), ``run_ensemble`` advances
``--replications`` replications in chunks of ``--chunk-size`` per model. Both run the
scenario's full horizon (64 quarters for the baseline) and keep their outputs in memory
(batch_run its reporters, run_ensemble every metric of every replication plus the
summary). Each side is timed three times in one run and the best round is reported.
Each round drops its result before the next: from the second round on, ``run_ensemble``
writes its values into that result's buffer (:mod:`sim.engine.buffers`) rather than
into fresh pages, as a notebook or an experiment running ensemble after ensemble does;
the per-round times are printed.
The numba kernels are compiled (or loaded from their cache) first, and that time is
printed on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import mesa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.core import kernels  # noqa: E402
from sim.core.model import GeoModel  # noqa: E402
from sim.engine.ensemble import DEFAULT_CHUNK_SIZE, run_ensemble  # noqa: E402
from sim.engine.executors import process_pool  # noqa: E402
from sim.engine.store import MEMORY_STORE_BYTES  # noqa: E402
from sim.scenario import Scenario, load_scenario  # noqa: E402


def peak_rss_mib() -> tuple[float, float]:
    """Peak resident memory of this process and of its (finished) children, MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def compare_speed(args: argparse.Namespace) -> None:
    scenario = load_scenario(args.scenario)
    steps = scenario.steps
    print(f"scenario {scenario.name}: {steps} quarterly steps, seed {scenario.seed}")
    took = kernels.warm_up()
    print(f"numba kernels: {took:.2f} s to get ready ({kernels.cache_report()}), once per process")

    # Warm-up: imports, first-call overheads.
    run_ensemble(scenario, replications=2, seed=scenario.seed).summary  # noqa: B018

    best_batch = best_sim = float("inf")
    rounds_ens: list[float] = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        rows = mesa.batch_run(
            GeoModel,
            parameters={"scenario": [scenario]},  # a list: a Scenario is itself iterable
            rng=list(range(args.batch_run)),
            max_steps=steps,
            display_progress=False,
            number_processes=1,
        )
        best_batch = min(best_batch, (time.perf_counter() - t0) / args.batch_run)
        assert len(rows) == args.batch_run
        del rows

        t0 = time.perf_counter()
        res = run_ensemble(
            scenario, replications=args.replications, seed=scenario.seed,
            chunk_size=args.chunk_size,
        )  # fmt: skip
        res.summary  # noqa: B018 - computed on first access: part of the work
        rounds_ens.append((time.perf_counter() - t0) / args.replications)
        best_sim = min(best_sim, res.timings_s["simulate"] / args.replications)
        del res

    best_ens = min(rounds_ens)
    build = construction_ms(scenario, args.replications)
    per_model = best_batch * 1e3
    print(
        f"mesa.batch_run, {args.batch_run} models x 1 replication: {per_model:8.2f} ms/rep "
        f"(model construction {build['one']:.1f} ms of it, the rest {steps} steps collected)"
    )
    print(
        f"run_ensemble, {args.replications} replications "
        f"(chunks of {args.chunk_size or min(args.replications, DEFAULT_CHUNK_SIZE)}), "
        "summary included: "
        f"{best_ens * 1e3:8.2f} ms/rep (simulation alone {best_sim * 1e3:.2f} ms/rep)"
    )
    print(
        "run_ensemble by round: "
        + ", ".join(f"{x * 1e3:.2f}" for x in rounds_ens)
        + " ms/rep (the first writes into fresh pages; later rounds into the buffer the "
        "dropped result of the round before left: sim.engine.buffers)"
    )
    print(
        f"ratio (batch_run / run_ensemble, per replication, best of {args.rounds}): "
        f"{best_batch / best_ens:.1f}x"
    )
    print(
        f"GeoModel construction (Params, noise, base-year calibration): {build['one']:.1f} ms "
        f"for 1 replication; {build['fixed']:.0f} ms for {args.replications} with the "
        f"scenario's parameters, {build['posterior']:.0f} ms with posterior draws "
        f"({build['distinct']} distinct rows calibrated)"
    )
    print(
        f"numba kernels after the runs: {kernels.cache_report()} (0 compiled: warm_up covers all)"
    )
    own, _ = peak_rss_mib()
    print(f"peak RSS {own:.0f} MiB")


def construction_ms(scenario: Scenario, replications: int) -> dict[str, float]:
    """Milliseconds to build a ``GeoModel``: one replication (best of 5), and a chunk."""
    from sim.core import uncertainty  # noqa: PLC0415
    from sim.core.state import distinct_rows  # noqa: PLC0415

    def timed(**kw: object) -> tuple[float, GeoModel]:
        t0 = time.perf_counter()
        model = GeoModel(scenario=scenario, collect=False, rng=scenario.seed, **kw)  # type: ignore[arg-type]
        return (time.perf_counter() - t0) * 1e3, model

    one = min(timed(replications=1)[0] for _ in range(5))
    fixed = timed(replications=replications)[0]
    sample = uncertainty.load_sample(uncertainty.POSTERIOR_FILE)
    posterior, model = timed(replications=replications, parameters=sample)
    distinct = len(distinct_rows(model.params, model.R)[0])
    return {"one": one, "fixed": fixed, "posterior": posterior, "distinct": distinct}


def hold(args: argparse.Namespace) -> None:
    """A 1,000-replication ensemble, every metric, held as labelled data in memory."""
    scenario = load_scenario(args.scenario)
    t0 = time.perf_counter()
    res = run_ensemble(scenario, replications=args.replications, seed=scenario.seed)
    ds = res.data
    wall = time.perf_counter() - t0
    share = ds.influence.sel(channel="share", country="KAZ", influencer="CHN")
    q = share.isel(step=-1).quantile([0.05, 0.5, 0.95], dim="replication").values
    own, _ = peak_rss_mib()
    print(
        f"{args.replications} replications held: Dataset {ds.nbytes / 2**20:.0f} MiB "
        f"({len(ds.data_vars)} variables), {wall:.1f} s; KAZ-CHN end share q05/50/95 "
        f"{q.round(3).tolist()}"
    )
    print(f"peak RSS {own:.0f} MiB (limit 1024)")


def compare_run(args: argparse.Namespace) -> None:
    """``casim compare`` of two scenarios end to end, with its stages.

    First as ``casim compare A B --replications N`` runs by default (the library's
    default parameter uncertainty, ``fixed``), then with posterior draws.
    """
    from sim.core import uncertainty  # noqa: PLC0415
    from sim.report.runs import PARAMETER_UNCERTAINTY, run_compare  # noqa: PLC0415

    paths = [args.scenario, str(ROOT / "scenarios" / "china_bri_push.yaml")]
    kernels.warm_up()
    default = PARAMETER_UNCERTAINTY["compare"]
    for n, mode in enumerate(dict.fromkeys((default, "posterior"))):
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            kw = {} if n == 0 else {"parameter_uncertainty": mode}  # first: the default
            t0 = time.perf_counter()
            folder = run_compare(paths, replications=args.replications, out=Path(tmp) / "c", **kw)
            wall = time.perf_counter() - t0
            manifest = json.loads((folder / "manifest.json").read_text())
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in manifest["timings_s"].items())
        print(
            f"casim compare, 2 scenarios x {args.replications} replications, parameters "
            f"{manifest['parameter_uncertainty']}{' (default)' if n == 0 else ''}: "
            f"{wall:.2f} s wall ({stages})"
        )
    for mode in dict.fromkeys((default, "posterior")):
        builds = []
        sample = (
            uncertainty.load_sample(uncertainty.POSTERIOR_FILE) if mode == "posterior" else None
        )
        for path in paths:
            t0 = time.perf_counter()
            GeoModel(
                scenario=path, replications=args.replications, collect=False, parameters=sample
            )
            builds.append(f"{Path(path).stem} {time.perf_counter() - t0:.2f} s")
        print(f"  of simulate, building each model ({mode} parameters): {', '.join(builds)}")
    print("  (the scenarios run side by side in 2 processes; tables and figures in 3)")
    print(f"numba kernels after the runs: {kernels.cache_report()}")
    own, children = peak_rss_mib()
    print(f"peak RSS {own:.0f} MiB (largest child {children:.0f} MiB)")


def memory_table(args: argparse.Namespace) -> None:
    """Peak RSS of ``casim run --replications N --no-plots`` for growing N (one process each)."""
    import subprocess  # noqa: PLC0415

    print("replications | wall s | peak RSS MiB | values spilled to disk")
    print("---: | ---: | ---: | ---")
    for n in args.memory_replications:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            cmd = [sys.executable, "-m", "sim", "run", args.scenario, "--replications", str(n)]
            cmd += ["--no-plots", "--out", str(Path(tmp) / "run")]
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - t0
            manifest = Path(tmp) / "run" / "manifest.json"
            rows = json.loads(manifest.read_text())["rows"] if manifest.exists() else 0
        spilled = rows * 8 > MEMORY_STORE_BYTES
        print(f"{n:,} | {wall:.1f} | {usage.ru_maxrss / 1024:.0f} | {'yes' if spilled else 'no'}")
        if proc.returncode:
            print(f"  exit status {proc.returncode}")


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
        f"(simulate+write {t['simulate']:.1f} s, summary {t.get('summarise', 0):.1f} s)"
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
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the speed comparison")
    parser.add_argument("--hold", action="store_true", help="hold 1,000 replications as data")
    parser.add_argument("--compare", action="store_true", help="time casim compare instead")
    parser.add_argument("--memory", action="store_true", help="peak RSS of casim run by size")
    parser.add_argument(
        "--memory-replications",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1000, 3000, 5000, 8000, 15000],
        help="sizes for --memory, comma-separated",
    )
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, mesa {mesa.__version__}, {os.cpu_count()} cpus")
    if args.big:
        big_run(args)
    elif args.hold:
        hold(args)
    elif args.compare:
        compare_run(args)
    elif args.memory:
        memory_table(args)
    else:
        compare_speed(args)


if __name__ == "__main__":
    main()
