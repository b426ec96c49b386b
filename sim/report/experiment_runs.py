"""``casim experiment run | sensitivity | discover``: load, study, write.

:func:`run_experiment_folder` loads and checks an experiment file (every problem is a
one-line :class:`~sim.scenario.ScenarioError` before anything is written), runs it
chunk by chunk on the chosen executor and writes its run folder through
:class:`~sim.engine.runfolder.RunFolder`. Each finished chunk is also saved as a part
in ``.<folder>.parts/`` beside the run folder (atomic rename), so ``resume`` after a
kill runs only the missing chunks; the parts are removed once the folder is complete.
:func:`run_sensitivity` and :func:`run_discover` read a finished folder and add their
tables and figures to it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from sim.engine.runfolder import RunFolder
from sim.scenario import ScenarioError
from sim.scenario.experiment import load_experiment

if TYPE_CHECKING:
    from sim.studies.experiments import ExperimentPlan, ExperimentResult

#: The table of design points (inputs, then each outcome over the replications).
TABLE = "experiments.parquet"
PARTS_FORMAT = "part-{:06d}.npy"


def parts_folder(final: Path) -> Path:
    """Where the parts of the run folder ``final`` are kept until it is complete."""
    return final.parent / f".{final.name}.parts"


def _read_parts(parts: Path, plan: ExperimentPlan, resume: bool, file: Path) -> dict[int, Any]:
    """Finished chunks from earlier parts (``resume``), or a fresh parts folder."""
    stamp = parts / "plan.json"
    if not resume:
        shutil.rmtree(parts, ignore_errors=True)
    elif parts.is_dir():
        known = json.loads(stamp.read_text()).get("digest") if stamp.exists() else None
        if known != plan.digest:
            msg = "expected the parts of the same experiment (file, scenarios or code changed)"
            raise ScenarioError(file, "resume", msg)
    parts.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"digest": plan.digest}) + "\n")
    done = {}
    for chunk in plan.chunks:
        part = parts / PARTS_FORMAT.format(chunk.index)
        if part.exists():
            done[chunk.index] = np.load(part)
    return done


def _save_part(parts: Path, index: int, values: np.ndarray) -> None:
    tmp = parts / f".tmp-{os.getpid()}-{index}.npy"
    np.save(tmp, values)
    tmp.replace(parts / PARTS_FORMAT.format(index))


@contextlib.contextmanager
def _executor(workers: int, scheduler: str | None, file: Path) -> Any:
    """This process, a process pool of ``workers``, or a Dask cluster (``scheduler``)."""
    if scheduler is not None:
        from sim.engine.distributed import dask_executor  # noqa: PLC0415 - optional

        try:
            with dask_executor(scheduler, max(workers, 2)) as ex:
                yield ex
        except (ValueError, OSError) as err:
            raise ScenarioError(file, "scheduler", str(err)) from None
        return
    if workers > 1:
        from sim.engine.executors import process_pool  # noqa: PLC0415

        with process_pool(workers) as pool:
            yield pool
        return
    yield None


def run_experiment_folder(
    path: str | Path,
    *,
    out: str | Path | None = None,
    results: str | Path = "results",
    workers: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
    chunk_size: int | None = None,
    progress: bool = False,
) -> Path:
    """Run an experiment file and write its run folder (see the module docstring).

    Args:
        path: the experiment file.
        out: the run folder (needed by ``resume``); default ``results/experiment-<name>/...``.
        results: the results root.
        workers: worker processes (or local Dask workers with ``scheduler="local"``).
        scheduler: ``local`` or ``tcp://HOST:PORT`` to run the chunks on Dask.
        resume: reuse the parts of an interrupted run into ``out``.
        chunk_size: design-point replications per model (default 1000).
        progress: show a progress bar of design points on stderr.

    Returns:
        The finished run folder.

    Raises:
        ScenarioError: for bad input, before anything is written.
    """
    started = time.perf_counter()
    file = Path(path)
    exp, scenario, compare = load_experiment(file)
    if workers < 1:
        raise ScenarioError(file, "workers", f"expected a positive integer, got {workers}")
    if scheduler is not None and scheduler != "local" and "://" not in scheduler:
        msg = f"expected local or a scheduler address like tcp://HOST:8786, got {scheduler!r}"
        raise ScenarioError(file, "scheduler", msg)
    if resume and out is None:
        raise ScenarioError(file, "resume", "expected an output folder (--out) to resume into")
    from sim.studies import experiments as study  # noqa: PLC0415 - heavy imports

    plan = study.plan_experiment(exp, scenario, compare, chunk_size)
    folder = RunFolder.prepare(
        name=f"experiment-{exp.name}", digest=plan.digest, seed=exp.seed,
        default_seed=exp.seed, source=file, out=out, results=results, started=started,
    )  # fmt: skip
    parts = parts_folder(folder.final)
    done = _read_parts(parts, plan, resume, file)
    from sim.engine.ensemble import progress_bar  # noqa: PLC0415

    bar = progress_bar(plan.points, progress, unit="pt", what="design points")
    with folder:
        try:
            with folder.timed("simulate"), _executor(workers, scheduler, file) as ex:
                result = study.run_experiment(
                    plan, ex, done, on_chunk=lambda k, v: _save_part(parts, k, v),
                    on_points=bar.update if bar is not None else None,
                )  # fmt: skip
        finally:
            if bar is not None:
                bar.close()
        _write_experiment(folder, result, file, workers, scheduler)
    shutil.rmtree(parts, ignore_errors=True)
    return folder.final


def _write_experiment(
    folder: RunFolder, result: ExperimentResult, file: Path, workers: int, scheduler: str | None
) -> None:
    from sim.studies.experiments import expected_cost, salib_problem  # noqa: PLC0415

    plan, exp = result.plan, result.plan.experiment
    result.table().to_parquet(folder.path / TABLE, index=False)
    result.replications().to_parquet(folder.path / "replications.parquet", index=False)
    raw = pd.DataFrame(plan.raw, columns=list(exp.factors))
    raw.insert(0, "point", np.arange(plan.points))
    raw.to_parquet(folder.path / "design.parquet", index=False)
    folder.write_text("experiment.yaml", file.read_text(encoding="utf-8"))
    folder.write_manifest(
        {
            "kind": "experiment",
            "experiment": exp.name,
            "experiment_file": str(file),
            "scenario_file": str(exp.scenario_path()),
            "compare_to_file": str(exp.compare_path()) if exp.compare_to else None,
            "seed": folder.seed,
            "sampler": exp.sampler,
            "samples": exp.samples,
            "replications": exp.replications,
            "points": plan.points,
            "uncertainties": list(exp.uncertainties),
            "levers": list(exp.levers),
            "per_replication_keys": list(plan.fast),
            "scenario_keys": list(plan.slow),
            "applied_to_compare_to": list(plan.on_compare),
            "problem": salib_problem(exp),
            "outcomes": [o.model_dump() for o in exp.outcomes],
            "design_sha256": plan.digest,
            "resumed_chunks": result.resumed,
            "cost": expected_cost(plan),
            "workers": workers,
            "scheduler": scheduler,
            "provenance": exp.origin(),
        }
    )


# ----------------------------------------------------------------------------- analyses


def _read_folder(run_dir: str | Path) -> tuple[Path, dict[str, Any], pd.DataFrame]:
    folder = Path(run_dir)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        table = pd.read_parquet(folder / TABLE)
    except (OSError, ValueError) as err:
        msg = f"expected a folder written by casim experiment run ({type(err).__name__})"
        raise ScenarioError(folder, "", msg) from None
    if manifest.get("kind") != "experiment":
        raise ScenarioError(folder, "", "expected a folder written by casim experiment run")
    return folder, manifest, table


def run_sensitivity(run_dir: str | Path) -> list[Path]:
    """Sobol (or Morris) indices of every outcome: CSV, Markdown and a bar chart each.

    Raises:
        ScenarioError: for a folder that is not an experiment, or a sampler without an
            analysis (lhs, factorial: use discover).
    """
    folder, manifest, table = _read_folder(run_dir)
    sampler = manifest["sampler"]
    if sampler not in {"sobol", "morris"}:
        msg = f"expected an experiment sampled by sobol or morris, got {sampler}"
        raise ScenarioError(folder, "sampler", msg)
    from sim.report.experiment_figures import plot_sensitivity  # noqa: PLC0415
    from sim.report.tables import markdown_table  # noqa: PLC0415
    from sim.studies import experiments as study  # noqa: PLC0415

    problem, written, lines = manifest["problem"], [], [f"# Sensitivity: {manifest['experiment']}"]
    raw = pd.read_parquet(folder / "design.parquet")[problem["names"]].to_numpy()
    for outcome in (o["name"] for o in manifest["outcomes"]):
        y = table[outcome].to_numpy(dtype=float)
        if not np.isfinite(y).all():
            msg = "expected finite values at every design point for a sensitivity analysis"
            raise ScenarioError(folder, f"outcomes.{outcome}", msg)
        if sampler == "sobol":
            frame = study.sobol_indices(problem, y, manifest["seed"])
        else:
            frame = study.morris_indices(problem, raw, y, manifest["seed"])
        frame.to_csv(folder / f"sensitivity_{outcome}.csv", index=False)
        fig = plot_sensitivity(frame, outcome)
        fig.savefig(folder / f"sensitivity_{outcome}.png", dpi=130)
        lines += [
            "",
            f"## {outcome}",
            "",
            markdown_table(frame, dict.fromkeys(frame.columns[1:], ".3f")),
        ]
        written += [folder / f"sensitivity_{outcome}.csv", folder / f"sensitivity_{outcome}.png"]
    (folder / "sensitivity.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [folder / "sensitivity.md", *written]


_OPS = {">=": np.greater_equal, "<=": np.less_equal, ">": np.greater, "<": np.less}


def parse_where(text: str, file: Path) -> tuple[str, float]:
    """``">= 0.02"`` as ``(operator, number)``.

    Raises:
        ScenarioError: keyed ``where``.
    """
    s = text.strip()
    op = next((o for o in (">=", "<=", ">", "<") if s.startswith(o)), None)
    try:
        if op is None:
            raise ValueError
        value = float(s[len(op) :])
    except ValueError:
        msg = f'expected a condition like ">= 0.02" or "< -0.1", got {text!r}'
        raise ScenarioError(file, "where", msg) from None
    return op, value


def run_discover(
    run_dir: str | Path, outcome: str, where: str, threshold: float = 0.8
) -> list[Path]:
    """PRIM boxes of the design points whose outcome meets ``where``: ``prim_*`` files.

    Writes ``prim_trajectory.csv`` and ``.png`` (coverage against density),
    ``prim_box.csv`` (the chosen box's ranges), ``prim_box.yaml`` (a scenario-ready
    fragment: the box's middle as values, its ranges in comments) and ``prim.md``.

    Raises:
        ScenarioError: for an unknown outcome, a malformed condition, or a condition no
            point (or every point) meets.
    """
    folder, manifest, table = _read_folder(run_dir)
    names = [o["name"] for o in manifest["outcomes"]]
    if outcome not in names:
        msg = f"expected one of {', '.join(names)}, got {outcome!r}"
        raise ScenarioError(folder, "outcome", msg)
    op, value = parse_where(where, folder)
    from sim.report.experiment_figures import plot_prim_trajectory  # noqa: PLC0415
    from sim.report.tables import markdown_table  # noqa: PLC0415
    from sim.studies import experiments as study  # noqa: PLC0415

    keys = manifest["problem"]["names"]
    y = _OPS[op](table[outcome].to_numpy(dtype=float), value)
    try:
        res = study.prim_box(table[keys], y, threshold)
    except ValueError as err:
        raise ScenarioError(folder, "where", str(err)) from None
    res.trajectory.to_csv(folder / "prim_trajectory.csv", index=False)
    res.limits.to_csv(folder / "prim_box.csv", index=False)
    row = res.trajectory.loc[res.trajectory["id"] == res.chosen].iloc[0]
    cond = f"{outcome} {op} {value:g}"
    plot_prim_trajectory(res.trajectory, res.chosen, title=cond).savefig(
        folder / "prim_trajectory.png", dpi=130
    )
    box_text = _box_yaml(res, manifest, cond, row, table)
    (folder / "prim_box.yaml").write_text(box_text, encoding="utf-8")
    md = [
        f"# PRIM: {cond}", "",
        f"{res.cases} of {res.points} design points match. Chosen box {res.chosen}: coverage "
        f"{row['coverage']:.2f}, density {row['density']:.2f}, mass {row['mass']:.2f}.", "",
        markdown_table(_restricted(res.limits), {"low": ".4g", "high": ".4g"}),
    ]  # fmt: skip
    (folder / "prim.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    return [
        folder / f"prim_{n}" for n in ("trajectory.csv", "trajectory.png", "box.csv", "box.yaml")
    ]


def _restricted(limits: pd.DataFrame) -> pd.DataFrame:
    """The restricted rows of a box, without empty columns."""
    rows = limits[limits["restricted"]].drop(columns="restricted")
    return rows.dropna(axis=1, how="all")


#: An input with at most this many distinct values is read as a list of values.
LISTED = 20


def _box_yaml(res: Any, manifest: dict[str, Any], cond: str, row: Any, table: pd.DataFrame) -> str:
    """The chosen box as ``--set``-ready key paths (middle values, ranges in comments).

    A listed input (few distinct values) takes the admitted value nearest the box's
    middle, so the fragment stays a valid scenario.
    """
    scenario = os.path.normpath(manifest["scenario_file"])
    head = [
        f"# PRIM box for {cond} in experiment {manifest['experiment']}",
        f"# coverage {row['coverage']:.2f}, density {row['density']:.2f}; restricted inputs only.",
        f"# Apply to {scenario} (e.g. with casim run --set KEY=VALUE).",
        f'assumption: "experiment {manifest["experiment_file"]}: PRIM box for {cond}"',
    ]
    body: dict[str, Any] = {}
    notes = []
    for r in res.limits[res.limits["restricted"]].itertuples():
        if r.values is not None:
            body[r.parameter] = r.values[0]
            notes.append(f"# {r.parameter}: one of {list(r.values)}")
            continue
        middle = (r.low + r.high) / 2
        seen = sorted(table[r.parameter].unique())
        inside = [v for v in seen if r.low <= v <= r.high]
        if len(seen) <= LISTED and inside:
            body[r.parameter] = min(inside, key=lambda v: abs(v - middle)).item()
            notes.append(f"# {r.parameter}: one of {[v.item() for v in inside]}")
        else:
            body[r.parameter] = round(middle, 6)
            notes.append(f"# {r.parameter}: {r.low:.4g} .. {r.high:.4g}")
    text = yaml.safe_dump({"set": body}, sort_keys=False) if body else "set: {}\n"
    return "\n".join(head + notes) + "\n" + text
