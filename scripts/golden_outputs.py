"""Record or check the data casim writes, to prove a refactor leaves outputs unchanged.

Usage::

    python scripts/golden_outputs.py record DIR   # before the change
    python scripts/golden_outputs.py check DIR    # after it: exit 1 on any difference
    python scripts/golden_outputs.py check DIR run-baseline ens-baseline   # some jobs only

For every shipped scenario it runs ``casim run SCEN --seed 11`` (one replication) and a
50-replication ensemble, plus a two-scenario ``casim compare`` and a ``casim backtest``,
all without plots, and compares every data file (Parquet and CSV) value by value:
the same columns, the same rows in the same order, bit-identical floats.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted(p.name for p in (ROOT / "scenarios").glob("*.yaml"))


def jobs() -> dict[str, list[str]]:
    """Job name -> casim arguments (without ``--out``)."""
    out: dict[str, list[str]] = {}
    for name in SCENARIOS:
        scen = str(ROOT / "scenarios" / name)
        stem = name.removesuffix(".yaml")
        out[f"run-{stem}"] = ["run", scen, "--seed", "11", "--no-plots"]
        out[f"ens-{stem}"] = ["run", scen, "--seed", "11", "--replications", "50", "--no-plots"]
    base, summit = (str(ROOT / "scenarios" / n) for n in ("baseline.yaml", "japan_summit.yaml"))
    out["compare"] = ["compare", base, summit, "--replications", "20"]
    out["backtest"] = ["backtest", "--replications", "20", "--no-plots"]
    return out


def data_files(folder: Path) -> list[Path]:
    """Every Parquet and CSV file below ``folder``, relative to it, sorted."""
    return sorted(
        p.relative_to(folder) for p in folder.rglob("*") if p.suffix in {".parquet", ".csv"}
    )


def read(path: Path) -> pd.DataFrame:
    """Read one data file."""
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def run_all(target: Path, only: list[str]) -> None:
    """Run every job (or those named in ``only``) into ``target/<job>``."""
    casim = [sys.executable, "-m", "sim"]
    for job, args in jobs().items():
        if only and job not in only:
            continue
        out = target / job
        if out.exists():
            shutil.rmtree(out)
        subprocess.run([*casim, *args, "--out", str(out)], check=True, cwd=ROOT)
        print(f"{job}: {len(data_files(out))} data files", flush=True)


def check(golden: Path, fresh: Path, only: list[str]) -> int:
    """Compare ``fresh`` with ``golden``; print differences; return the count."""
    bad = 0
    names = [j for j in jobs() if not only or j in only]
    for job in names:
        want, got = data_files(golden / job), data_files(fresh / job)
        if want != got:
            print(f"{job}: files differ: {want} vs {got}")
            bad += 1
            continue
        for rel in want:
            a, b = read(golden / job / rel), read(fresh / job / rel)
            try:
                pd.testing.assert_frame_equal(a, b, check_exact=True)
            except AssertionError as err:
                print(f"{job}/{rel}: {str(err).splitlines()[0]}")
                bad += 1
    print(f"{len(names)} jobs compared, {bad} differences")
    return bad


def main() -> int:
    """Entry point."""
    if len(sys.argv) < 3 or sys.argv[1] not in {"record", "check"}:
        print(__doc__)
        return 2
    folder = Path(sys.argv[2]).resolve()
    only = sys.argv[3:]
    if sys.argv[1] == "record":
        run_all(folder / "golden", only)
        return 0
    run_all(folder / "fresh", only)
    return 1 if check(folder / "golden", folder / "fresh", only) else 0


if __name__ == "__main__":
    sys.exit(main())
