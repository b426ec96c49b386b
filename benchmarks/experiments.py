"""``japan_levers.yaml`` end to end: run (Sobol design), sensitivity, time, top drivers.

Usage::

    python benchmarks/experiments.py                   # 2 worker processes
    python benchmarks/experiments.py --workers 1
    python benchmarks/experiments.py --scheduler local # a dask LocalCluster of 2 workers
    python benchmarks/experiments.py --samples 64      # fewer Sobol base samples

The issue's target: at least 8 parameters, 256 Sobol base samples and 10 replications
per design point (N (D + 2) points) within 5 minutes on a 2-core machine. The run folder
goes to a temporary folder (results are never committed); the numba kernels are warmed
first and that time is printed on its own.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.report.experiment_runs import run_experiment_folder, run_sensitivity  # noqa: E402

EXPERIMENT = ROOT / "scenarios/experiments/japan_levers.yaml"


def main() -> None:
    """Run the benchmark and print its numbers."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scheduler", default=None)
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--chunk-size", type=int, default=None)
    args = ap.parse_args()
    t0 = time.perf_counter()
    from sim.core.kernels import warm_up  # noqa: PLC0415

    warm_up()
    print(f"kernels warmed in {time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        path = EXPERIMENT
        if args.samples is not None:
            data = yaml.safe_load(EXPERIMENT.read_text())
            data |= {"samples": args.samples, "scenario": str(EXPERIMENT.parent / data["scenario"])}
            path = Path(tmp) / "japan_levers.yaml"
            path.write_text(yaml.safe_dump(data))
        t1 = time.perf_counter()
        folder = run_experiment_folder(
            path, out=Path(tmp) / "run", workers=args.workers, scheduler=args.scheduler,
            chunk_size=args.chunk_size,
        )  # fmt: skip
        t2 = time.perf_counter()
        run_sensitivity(folder)
        t3 = time.perf_counter()
        table = pd.read_parquet(folder / "experiments.parquet")
        data = yaml.safe_load(path.read_text())
        dims = len(data["uncertainties"]) + len(data.get("levers") or {})
        print(
            f"{len(table)} design points ({data['samples']} x ({dims} + 2)) x "
            f"{data['replications']} replications: run {t2 - t1:.1f} s, "
            f"sensitivity {t3 - t2:.1f} s, total {t3 - t1:.1f} s"
        )
        for outcome in (o["name"] for o in data["outcomes"]):
            frame = pd.read_csv(folder / f"sensitivity_{outcome}.csv").head(5)
            print(f"\n{outcome}: top drivers (total index ST +- 95% CI half-width)")
            for r in frame.itertuples():
                print(f"  {r.parameter:40s} ST {r.ST:.3f} +- {r.ST_conf:.3f}  S1 {r.S1:.3f}")


if __name__ == "__main__":
    main()
