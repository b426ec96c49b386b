"""Run a study and write its run folder: the glue between studies, RunFolder and writers.

Each function here loads its input (so bad input fails before the heavy imports),
prepares a :class:`~sim.engine.runfolder.RunFolder` (seed and output-folder checks),
runs a study from :mod:`sim.studies` or the engine, hands the result to the writers of
:mod:`sim.report.write` and writes the manifest. They take parameter names, not flags:
a :class:`~sim.scenario.ScenarioError` is keyed by the parameter at fault (``seed``,
``out``, ``replications``, ...), which :mod:`sim.cli` shows as its flag.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sim.engine.runfolder import RunFolder, base_manifest, override_tag
from sim.scenario import Scenario, ScenarioError, load_scenario

if TYPE_CHECKING:
    from sim.core.uncertainty import ParameterSample
    from sim.studies.compare import Window


#: ``parameter_uncertainty`` of each command when the caller does not say (the CLI's
#: defaults too): ``fixed`` (the scenario's values) or ``posterior``.
PARAMETER_UNCERTAINTY = {"run": "fixed", "compare": "fixed", "backtest": "posterior"}


def default_discrepancy(parameter_uncertainty: str) -> bool:
    """Whether a backtest's bands carry the model discrepancy unless told otherwise.

    On with posterior parameters (the default: the honest predictive band), off with
    fixed ones, so that a fixed-parameter backtest reproduces the noise-only bands.
    """
    return parameter_uncertainty == "posterior"


def parameter_sample(
    mode: str,
    posterior: str | Path | None,
    source: str | Path,
    overrides: Sequence[str] = (),
) -> tuple[ParameterSample | None, dict[str, object]]:
    """The parameter draws of ``mode`` (``posterior`` or ``fixed``) and their manifest fields.

    ``posterior`` is the sample file (default the shipped
    :data:`sim.core.uncertainty.POSTERIOR_FILE`). Sampled parameters that ``overrides``
    set are dropped from the sample: they keep the value set.

    Raises:
        ScenarioError: for an unknown mode (key ``parameter_uncertainty``) or a bad
            sample file (key ``posterior``).
    """
    from sim.core import uncertainty  # noqa: PLC0415 - heavy imports

    if mode not in uncertainty.MODES:
        msg = f"expected one of {', '.join(uncertainty.MODES)}, got {mode!r}"
        raise ScenarioError(source, "parameter_uncertainty", msg)
    if mode == "fixed":
        return None, {"parameter_uncertainty": "fixed"}
    path = Path(posterior) if posterior is not None else uncertainty.POSTERIOR_FILE
    try:
        sample = uncertainty.load_sample(path)
    except uncertainty.ParameterSampleError as err:
        raise ScenarioError(path, "posterior", str(err)) from None
    held = {o.split("=", 1)[0].strip() for o in overrides}
    held = {k for k in sample.keys if k in held or any(k.startswith(h + ".") for h in held)}
    if held:
        sample = sample.without(held)
    fields = {
        "parameter_uncertainty": "posterior",
        "posterior": {
            "file": str(path),
            "sha256": sample.digest,
            "draws": sample.n,
            "parameters": list(sample.keys),
            "held_by_overrides": sorted(held),
        },
    }
    return sample, fields


def _scenario_folder(
    scenario: Scenario,
    path: str | Path,
    overrides: Sequence[str],
    seed: int | None,
    out: str | Path | None,
    results: str | Path,
    started: float,
) -> RunFolder:
    """The checked run folder of one scenario: ``results/<name>/<time>-s<seed>-<hash>-<tag>``."""
    return RunFolder.prepare(
        name=scenario.name,
        digest=scenario.digest(),
        seed=seed,
        default_seed=scenario.seed,
        source=path,
        out=out,
        results=results,
        started=started,
        tag=override_tag(overrides),
    )


def run_single(
    path: str | Path,
    *,
    overrides: Sequence[str] = (),
    seed: int | None = None,
    out: str | Path | None = None,
    results: str | Path = "results",
    plots: bool = True,
    data_format: str = "parquet",
    parameter_uncertainty: str = PARAMETER_UNCERTAINTY["run"],
    posterior: str | Path | None = None,
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
        data_format: ``parquet``, ``csv`` or ``both`` (:data:`sim.report.write.FORMATS`).
        parameter_uncertainty: ``fixed`` (the scenario's values) or ``posterior``
            (replication 0 draws its parameters, :func:`parameter_sample`).
        posterior: the posterior sample file (default the shipped one).

    Returns:
        The run folder.

    Raises:
        ScenarioError: for bad input, before anything is written (keyed by parameter name).
    """
    started = time.perf_counter()
    overrides = list(overrides)
    scenario = load_scenario(path, overrides)
    sample, pu_fields = parameter_sample(parameter_uncertainty, posterior, path, overrides)
    folder = _scenario_folder(scenario, path, overrides, seed, out, results, started)
    # Heavy imports only after the input has been checked: bad input fails fast.
    from sim.core.model import GeoModel  # noqa: PLC0415
    from sim.report.write import write_run  # noqa: PLC0415

    with folder:
        with folder.timed("simulate"):
            model = GeoModel(scenario=scenario, rng=folder.seed, parameters=sample).run()
        with folder.timed("write"):
            df = model.timeseries()
        fields = write_run(folder, scenario, df, plots=plots, data_format=data_format)
        residual = float(abs(model.calibration_residual).max() * 100)
        folder.write_manifest(
            base_manifest(scenario, path, overrides, folder.seed)
            | {"replications": 1, "replication_ids": [0]}
            | {"calibration_residual_max_pp": residual}
            | {"route_residual_max_pp": float(abs(model.calibration.route_residual).max() * 100)}
            | pu_fields
            | fields
        )
    return folder.final


def run_ensemble_folder(
    path: str | Path,
    *,
    replications: int | None = None,
    replication_ids: Sequence[int] | None = None,
    seed: int | None = None,
    overrides: Sequence[str] = (),
    workers: int = 1,
    chunk_size: int | None = None,
    metrics: Sequence[str] | None = None,
    out: str | Path | None = None,
    results: str | Path = "results",
    plots: bool = True,
    progress: bool = False,
    scenario: Scenario | None = None,
    data_format: str = "parquet",
    parameter_uncertainty: str = PARAMETER_UNCERTAINTY["run"],
    posterior: str | Path | None = None,
) -> Path:
    """Run an ensemble of a scenario file and write its run folder.

    Arguments as the flags of ``casim run``; ``scenario`` is ``path`` with
    ``overrides`` already loaded (loaded here if None); ``parameter_uncertainty`` and
    ``posterior`` as in :func:`parameter_sample`.

    Returns:
        The run folder.

    Raises:
        ScenarioError: for bad input, before anything is written (keyed by parameter name).
    """
    started = time.perf_counter()
    overrides = list(overrides)
    if scenario is None:
        scenario = load_scenario(path, overrides)
    from sim.engine.ensemble import check_request  # noqa: PLC0415 - heavy imports

    ids, names = check_request(
        path,
        scenario.vocab,
        replications=replications,
        replication_ids=replication_ids,
        metrics=metrics,
        workers=workers,
        chunk_size=chunk_size,
    )
    sample, pu_fields = parameter_sample(parameter_uncertainty, posterior, path, overrides)
    folder = _scenario_folder(scenario, path, overrides, seed, out, results, started)
    from sim.engine import ensemble  # noqa: PLC0415 - heavy imports
    from sim.engine.executors import process_pool  # noqa: PLC0415
    from sim.engine.resources import check_fits  # noqa: PLC0415
    from sim.report.write import TIMESERIES, write_ensemble  # noqa: PLC0415

    size = chunk_size or ensemble.default_chunk_size(len(ids), workers)
    check_fits(path, folder.final, [scenario], names, len(ids), chunk_size=size, workers=workers)
    with folder, contextlib.ExitStack() as stack:
        pool = stack.enter_context(process_pool(workers)) if workers > 1 else None
        result = ensemble.run_ensemble(
            scenario,
            seed=folder.seed,
            replication_ids=ids,
            executor=pool,
            chunk_size=chunk_size,
            out_path=folder.path / TIMESERIES,
            metrics=names,
            progress=progress,
            parameters=sample,
        )
        fields = write_ensemble(
            folder, scenario, result, plots=plots, data_format=data_format,
            bands=bands_label(sample),
        )  # fmt: skip
        folder.write_manifest(
            base_manifest(scenario, path, overrides, folder.seed)
            | {
                "replications": len(ids),
                "replication_ids": ensemble.id_summary(ids),
                "metrics": list(names),
                "workers": workers,
                "chunk_size": size,
                "timings_s": result.timings_s,
            }
            | pu_fields
            | fields
        )
    return folder.final


def bands_label(sample: ParameterSample | None) -> str:
    """What an ensemble's bands carry (:func:`sim.core.uncertainty.band_label`)."""
    from sim.core.uncertainty import band_label  # noqa: PLC0415 - heavy imports

    return band_label("fixed") if sample is None else band_label("posterior", sample.n)


def check_horizons(paths: Sequence[str | Path], scenarios: Sequence[Scenario]) -> None:
    """Compared scenarios need two or more files and one horizon.

    Raises:
        ScenarioError: otherwise.
    """
    if len(paths) < 2:
        raise ScenarioError(paths[0] if paths else "compare", "", "expected two or more scenarios")
    first = scenarios[0]
    for p, sc in zip(paths[1:], scenarios[1:], strict=True):
        if (sc.start_quarter, sc.steps) != (first.start_quarter, first.steps):
            raise ScenarioError(
                p, "horizon",
                f"expected the horizon of {paths[0]} ({first.horizon.start}..{first.horizon.end})",
            )  # fmt: skip


def check_compare_request(
    source: str | Path, first: Scenario, metrics: Sequence[str] | None, at: str | None
) -> tuple[tuple[str, ...], Window]:
    """The metrics (in the order asked, default influence shares) and window of a comparison.

    Raises:
        ScenarioError: keyed ``metrics`` or ``at``, for an unknown or repeated metric, an
            empty list, or a malformed quarter or window or one outside the horizon.
    """
    from sim.output import check_metrics  # noqa: PLC0415 - heavy imports
    from sim.studies import compare  # noqa: PLC0415

    names = tuple(dict.fromkeys(metrics)) if metrics is not None else compare.DEFAULT_METRICS
    try:
        if metrics is not None and len(names) != len(metrics):
            msg = f"expected distinct metric names, got {','.join(metrics)}"
            raise ValueError(msg)
        check_metrics(names, first.vocab)
    except ValueError as err:
        raise ScenarioError(source, "metrics", str(err)) from None
    try:
        window = compare.parse_at(at, first.start_quarter, first.steps)
    except ValueError as err:
        raise ScenarioError(source, "at", str(err)) from None
    return names, window


def run_compare(
    paths: Sequence[str | Path],
    *,
    replications: int | None = None,
    replication_ids: Sequence[int] | None = None,
    seed: int | None = None,
    workers: int = 1,
    chunk_size: int | None = None,
    out: str | Path | None = None,
    results: str | Path = "results",
    progress: bool = False,
    scenarios: Sequence[Scenario] | None = None,
    metrics: Sequence[str] | None = None,
    at: str | None = None,
    parameter_uncertainty: str = PARAMETER_UNCERTAINTY["compare"],
    posterior: str | Path | None = None,
) -> Path:
    """Run scenarios with common random numbers and write one comparison folder.

    Arguments as the flags of ``casim compare``; ``scenarios`` are ``paths`` already
    loaded (loaded here if None); ``metrics`` default to influence shares and ``at``
    (``2028Q4`` or ``2027Q1:2028Q4``) to the horizon's last quarter; with
    ``parameter_uncertainty`` ``posterior`` replication ``k`` has the same parameter
    draw in every scenario (:func:`parameter_sample`). The default folder
    is ``results/compare/<UTC time>-s<seed>-<digest8>``.

    Returns:
        The folder.

    Raises:
        ScenarioError: for bad input, before anything is written (keyed by parameter name).
    """
    started = time.perf_counter()
    scenarios = [load_scenario(p) for p in paths] if scenarios is None else list(scenarios)
    check_horizons(paths, scenarios)
    from sim.engine import ensemble  # noqa: PLC0415 - heavy imports
    from sim.engine.executors import Standby, process_pool  # noqa: PLC0415
    from sim.engine.stats import warm_up_kernels  # noqa: PLC0415
    from sim.report.compare_files import FIGURE_MODULES, write_comparison  # noqa: PLC0415
    from sim.studies import compare  # noqa: PLC0415

    if replications is None and replication_ids is None:
        replications = compare.DEFAULT_REPLICATIONS
    try:
        ids = ensemble.replication_id_array(replications, replication_ids)
    except ValueError as err:
        raise ScenarioError(paths[0], "replications", str(err)) from None
    if workers < 1:
        raise ScenarioError(paths[0], "workers", f"expected a positive integer, got {workers}")
    first = scenarios[0]
    names, window = check_compare_request(paths[0], first, metrics, at)
    sample, pu_fields = parameter_sample(parameter_uncertainty, posterior, paths[0])
    folder = RunFolder.prepare(
        name="compare",
        digest=hashlib.sha256("".join(s.digest() for s in scenarios).encode()).hexdigest(),
        seed=seed,
        default_seed=first.seed,
        source=paths[0],
        out=out,
        results=results,
        started=started,
    )
    from sim.engine.resources import check_fits  # noqa: PLC0415

    size = chunk_size or ensemble.default_chunk_size(len(ids), workers)
    check_fits(
        paths[0], folder.final, scenarios, tuple(sorted(names)), len(ids),
        chunk_size=size, workers=workers, stream=False,
    )  # fmt: skip
    with folder, contextlib.ExitStack() as stack:
        pool = stack.enter_context(process_pool(workers)) if workers > 1 else None
        with folder.timed("simulate"):
            # The compiled kernels load here once; every process forked below inherits them.
            warm_up_kernels()
            # Processes that import matplotlib while the scenarios run, then draw: one
            # imports and warms up, then forks the other two (imports paid once).
            standby = [stack.enter_context(s) for s in Standby.group(3, *FIGURE_MODULES)]
            cmp = compare.compare_scenarios(
                scenarios,
                replication_ids=ids,
                seed=folder.seed,
                executor=pool,
                chunk_size=chunk_size,
                progress=progress,
                metrics=names,
                parameters=sample,
            )
        fields = write_comparison(folder, cmp, paths, window, standby)
        folder.write_manifest(
            {
                "kind": "compare",
                "reference": cmp.labels[0],
                "seed": folder.seed,
                "replications": len(ids),
                "replication_ids": ensemble.id_summary(ids),
                "common_random_numbers": True,
                "horizon": {"start": first.horizon.start, "end": first.horizon.end},
                "steps": first.steps,
            }
            | pu_fields
            | fields
        )
    return folder.final


def run_backtest(
    replications: int = 200,
    seed: int | None = None,
    out: str | Path | None = None,
    *,
    scenario: str | Path | None = None,
    results: str | Path = "results",
    plots: bool = True,
    workers: int = 1,
    band_note: str | None = None,
    parameter_uncertainty: str = PARAMETER_UNCERTAINTY["backtest"],
    posterior: str | Path | None = None,
    discrepancy: bool | None = None,
) -> Path:
    """Run the hindcast ensemble and write its folder.

    Args:
        replications: ensemble size.
        seed: ensemble seed; default the scenario's.
        out: output folder (must not exist or be empty); default
            ``results/backtest/<UTC time>-s<seed>-<digest8>``.
        scenario: the hindcast scenario file (default ``scenarios/hindcast_2010.yaml``).
        results: results root for the default folder.
        plots: also draw the per-state figures.
        workers: worker processes for the ensemble.
        band_note: what the ensemble's bands carry (``skill.md``, figure captions,
            manifest); default :func:`sim.studies.backtest.default_band_note`.
        parameter_uncertainty: ``posterior`` (default) or ``fixed``
            (:func:`parameter_sample`).
        posterior: the posterior sample file (default the shipped one).
        discrepancy: widen the bands by the model discrepancy fitted in sample
            (:mod:`sim.studies.discrepancy`); default :func:`default_discrepancy` (on with
            posterior parameters, off with fixed ones).

    Returns:
        The folder written.

    Raises:
        ScenarioError: for bad input, before anything is written (keyed by parameter name).
    """
    from sim.report.write import write_backtest  # noqa: PLC0415
    from sim.studies import backtest as bt  # noqa: PLC0415 - heavy imports

    path = bt.HINDCAST_SCENARIO if scenario is None else scenario
    sc = load_scenario(path)
    if replications < 1:
        raise ScenarioError(path, "replications", f"expected at least 1, got {replications}")
    sample, pu_fields = parameter_sample(parameter_uncertainty, posterior, path)
    folder = RunFolder.prepare(
        name="backtest",
        digest=sc.digest(),
        seed=seed,
        default_seed=sc.seed,
        source=path,
        out=out,
        results=results,
    )
    from sim.engine.resources import check_fits  # noqa: PLC0415

    check_fits(  # the hindcast carried on to the last reference year is the largest run
        path, folder.final, [bt.carried_on(sc, bt.last_reference_year())], ("trade_share",),
        replications,
        chunk_size=min(replications, 500), workers=workers, stream=False,
    )  # fmt: skip
    with folder:
        res = bt.backtest(
            sc, replications=replications, seed=folder.seed, workers=workers, parameters=sample,
            discrepancy=default_discrepancy(parameter_uncertainty)
            if discrepancy is None else discrepancy,
        )  # fmt: skip
        fields = write_backtest(folder, res, plots=plots, band_note=band_note)
        folder.write_manifest(
            base_manifest(res.scenario, path, [], res.seed)
            | {"kind": "backtest", "replications": replications, "timings_s": res.timings}
            | pu_fields
            | fields
        )
    return folder.final


def _calibration_grids(
    grid_name: str, params: Sequence[tuple[str, tuple[float, ...]]], source: Path
) -> tuple[dict[str, tuple[float, ...]], dict[str, tuple[float, ...]]]:
    """The search grid and profile grid: a named grid with ``params`` substituted."""
    from sim.studies import calibrate as cal  # noqa: PLC0415 - heavy imports

    grid, profile = (dict(g) for g in cal.GRIDS[grid_name])
    for name, values in params:
        (profile if name in profile else grid)[name] = values
    cal.check_grid(grid, profile, source)
    return grid, profile


def run_calibration(
    scenario_path: str | Path | None = None,
    *,
    overrides: Sequence[str] = (),
    grid_name: str = "full",
    params: Sequence[tuple[str, tuple[float, ...]]] = (),
    replications: int = 8,
    seed: int | None = None,
    workers: int = 2,
    bootstrap: int = 500,
    refine_evals: int = 60,
    out: str | Path | None = None,
    results: str | Path = "results",
    progress: bool = False,
) -> Path:
    """Calibrate the behavioural parameters and write a calibration folder.

    Args:
        scenario_path: the calibration run (default ``scenarios/hindcast_2005.yaml``).
        overrides: ``key.path=value`` strings applied to it.
        grid_name: ``full`` or ``quick`` (:data:`sim.studies.calibrate.GRIDS`).
        params: ``(name, values)`` pairs that replace a parameter's grid values.
        replications: replications per evaluation.
        seed: the common seed (default :data:`sim.studies.calibrate.DEFAULT_SEED`).
        workers: processes for the grid search.
        bootstrap: cluster-bootstrap draws.
        refine_evals: Nelder-Mead evaluations.
        out: the folder (must not exist or be empty); default under ``results/calibration``.
        results: the results root for the default folder.
        progress: show a progress bar on stderr.

    Returns:
        The folder: ``grid.csv``, ``grid_errors.npy``, ``profile_<name>.csv``,
        ``bootstrap.csv``, ``summary.json`` and ``manifest.json``.

    Raises:
        ScenarioError: for bad input, before anything is written.
    """
    t0 = time.perf_counter()
    from sim.studies import calibrate as cal  # noqa: PLC0415 - heavy imports

    source = Path(scenario_path) if scenario_path else cal.CALIBRATION_SCENARIO
    scenario = load_scenario(source, list(overrides))
    grid, profile = _calibration_grids(grid_name, params, source)
    searched = json.dumps([grid, profile], sort_keys=True)
    digest = hashlib.sha256((scenario.digest() + searched).encode()).hexdigest()
    folder = RunFolder.prepare(
        name="calibration",
        digest=digest,
        seed=seed,
        default_seed=cal.DEFAULT_SEED,
        source=source,
        out=out,
        results=results,
        started=t0,
        tag=override_tag(overrides),
    )
    from sim.engine.ensemble import progress_bar  # noqa: PLC0415

    total = cal.planned_evaluations(grid, profile, refine_evals)
    bar = progress_bar(total, progress, unit="eval", what="model runs")

    def tick(stage: str) -> None:
        bar.set_description_str(stage, refresh=False)
        bar.update(1)

    try:
        with folder:
            with folder.timed("calibrate"):
                res = cal.calibrate(
                    scenario,
                    replications=replications,
                    seed=folder.seed,
                    workers=workers,
                    grid=grid,
                    profile_grid=profile,
                    bootstrap=bootstrap,
                    refine_evals=refine_evals,
                    progress=tick if bar is not None else None,
                )
            from sim.report.write import write_calibration  # noqa: PLC0415

            with folder.timed("write"):
                files = write_calibration(folder, res)
            settings = {"grid_name": grid_name, "grid": grid, "profile_grid": profile}
            settings |= {"replications": replications, "workers": workers}
            settings |= {"bootstrap": bootstrap, "refine_evals": refine_evals}
            folder.write_manifest(
                base_manifest(scenario, source, list(overrides), folder.seed)
                | {"kind": "calibration", **settings, "best": res.best}
                | {
                    "loss_best": res.summary["loss_best"],
                    "files": sorted([*files, "manifest.json"]),
                }
            )
    finally:
        if bar is not None:
            bar.close()
    return folder.final


def run_abc(
    scenario_path: str | Path | None = None,
    *,
    overrides: Sequence[str] = (),
    seed: int | None = None,
    particles: int | None = None,
    generations: int | None = None,
    out: str | Path | None = None,
    results: str | Path = "results",
    ship: bool = False,
) -> Path:
    """ABC recalibration (:func:`sim.studies.calibrate.abc_calibrate`) and its folder.

    Writes ``posterior.csv``, ``prior_posterior.csv`` / ``.md``, ``generations.csv``,
    ``particles.csv``, ``prior_posterior.png``, ``summary.json`` (with the posterior
    predictive check) and ``manifest.json``; with ``ship`` also copies
    ``posterior.csv`` to :data:`sim.core.uncertainty.POSTERIOR_FILE`.

    Raises:
        ScenarioError: for bad input, before anything is written.
    """
    t0 = time.perf_counter()
    from sim.core.uncertainty import POSTERIOR_FILE  # noqa: PLC0415 - heavy imports
    from sim.studies import calibrate as cal  # noqa: PLC0415

    source = Path(scenario_path) if scenario_path else cal.CALIBRATION_SCENARIO
    scenario = load_scenario(source, list(overrides))
    settings = {
        "particles": particles or cal.ABC_PARTICLES,
        "generations": generations or cal.ABC_GENERATIONS,
    }
    folder = RunFolder.prepare(
        name="calibration",
        digest=hashlib.sha256((scenario.digest() + json.dumps(settings)).encode()).hexdigest(),
        seed=seed,
        default_seed=cal.DEFAULT_SEED,
        source=source,
        out=out,
        results=results,
        started=t0,
        tag=override_tag(overrides),
    )
    with folder:
        with folder.timed("abc"):
            try:
                res = cal.abc_calibrate(
                    scenario, seed=folder.seed, hindcast=load_scenario(cal.HINDCAST_SCENARIO),
                    **settings,
                )  # fmt: skip
            except ValueError as err:
                raise ScenarioError(source, "particles", str(err)) from None
        with folder.timed("predictive"):
            res.summary["posterior_predictive"] = cal.posterior_predictive(
                scenario, res.posterior, folder.seed
            )
        from sim.report.write import write_abc  # noqa: PLC0415

        res.summary["seconds"] = round(time.perf_counter() - t0, 1)
        files = write_abc(folder, res)
        if ship:
            POSTERIOR_FILE.write_text((folder.path / "posterior.csv").read_text())
        folder.write_manifest(
            base_manifest(scenario, source, list(overrides), folder.seed)
            | {"kind": "calibration", "method": "abc", **settings, "shipped": ship}
            | {"files": sorted([*files, "manifest.json"])}
        )
    return folder.final
