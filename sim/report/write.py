"""Writers that fill an open :class:`~sim.engine.runfolder.RunFolder` with a study's files.

Each writer takes the folder (inside its ``with`` block) and a study's result, writes
the data files, tables and figures under ``folder.path`` with the stage timings
(``write``, ``plots``), and returns the manifest fields that describe what it wrote.
The command line adds the fields of the run itself and calls
:meth:`~sim.engine.runfolder.RunFolder.write_manifest`.

Files:

* run: ``timeseries.parquet`` (and/or ``.csv``, :data:`FORMATS`), ``scenario.yaml``,
  ``plots/*.png``;
* ensemble: ``summary.parquet`` (and/or ``.csv``), ``scenario.yaml``, ``plots/*.png``
  drawn from the first :data:`PLOT_REPLICATIONS` replications (``timeseries.parquet``
  is streamed by the ensemble itself to :data:`TIMESERIES`, then converted to CSV if
  asked);
* comparison: per metric ``at_<metric>.csv``, ``differences_<metric>.csv``,
  ``compare_<metric>.png``, ``differences_<metric>.png``; ``compare.md``; with
  influence shares ``influence.png``, ``influence_bands.csv``, ``crossings.csv`` /
  ``.md``; ``scenarios/<n>-<label>.yaml``;
* backtest: ``hindcast.csv``, ``hindcast_bands.csv``, ``skill.md``,
  ``skill_points.csv``, ``skill_bands.csv``, ``plots/hindcast_<STATE>.png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from sim.engine.catalog import read_tidy
from sim.engine.executors import run_aside
from sim.engine.store import QUANTILES
from sim.report.compare_files import bands_of, write_comparison  # noqa: F401 - re-exported
from sim.report.figures import save_figures
from sim.report.study_figures import (
    plot_at_differences,
    plot_difference_series,
    plot_hindcast_state,
    plot_influence_comparison,
)
from sim.report.style import STUDY_DPI, mark_bands, ordered, vocab_or_default
from sim.report.tables import (
    skill_markdown,
    skill_summary,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy as np
    from matplotlib.figure import Figure

    from sim.engine.ensemble import EnsembleResult
    from sim.engine.runfolder import RunFolder
    from sim.scenario import Scenario
    from sim.studies.backtest import BacktestResult
    from sim.studies.calibrate import AbcResult, CalibrationResult
    from sim.vocab import Vocabulary

#: The tidy table of a run or an ensemble.
TIMESERIES = "timeseries.parquet"
#: ``--format`` choices and the file suffixes each writes.
FORMATS: dict[str, tuple[str, ...]] = {
    "parquet": (".parquet",),
    "csv": (".csv",),
    "both": (".parquet", ".csv"),
}
#: Folder of a run's figures.
PLOTS = "plots"
#: Ensemble figures are drawn from at most this many replications (the first ids).
PLOT_REPLICATIONS = 200


def _save(fig: Figure, path: Path, dpi: int = STUDY_DPI) -> Path:
    fig.savefig(path, dpi=dpi)
    fig.clear()  # figures made without pyplot are not registered: clearing frees them
    return path


def write_table(table: pd.DataFrame, folder: Path, stem: str, data_format: str) -> list[str]:
    """Write ``<stem>.parquet`` and/or ``<stem>.csv``; return the file names written.

    Args:
        table: a tidy table (``timeseries`` or ``summary``).
        folder: where to write.
        stem: the file name without suffix.
        data_format: one of :data:`FORMATS`.
    """
    names = [f"{stem}{suffix}" for suffix in FORMATS[data_format]]
    for name in names:
        if name.endswith(".parquet"):
            table.to_parquet(folder / name, index=False)
        else:
            pacsv.write_csv(
                _csv_ready(pa.Table.from_pandas(table, preserve_index=False)), folder / name
            )
    return names


def _csv_ready(table: pa.Table) -> pa.Table:
    """``table`` with dates as ``YYYY-MM-DD`` (timestamps cast to dates), no metadata."""
    table = table.replace_schema_metadata(None)
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.date32()))
    return table


def parquet_to_csv(source: Path, target: Path) -> None:
    """Convert a tidy Parquet file to CSV one row group at a time (bounded memory).

    Arrow's CSV writer quotes strings and writes numbers so they read back exactly; it
    is about ten times faster than pandas' ``to_csv`` here.
    """
    parquet = pq.ParquetFile(source)
    schema = _csv_ready(parquet.schema_arrow.empty_table()).schema
    with pacsv.CSVWriter(target, schema) as writer:
        for i in range(parquet.num_row_groups):
            writer.write_table(_csv_ready(parquet.read_row_group(i)))


def write_run(
    folder: RunFolder,
    scenario: Scenario,
    df: pd.DataFrame,
    *,
    plots: bool = True,
    data_format: str = "parquet",
) -> dict[str, Any]:
    """Write one run's tidy table, resolved scenario and figures.

    Args:
        folder: the open run folder.
        scenario: the resolved scenario (written as ``scenario.yaml``).
        df: the tidy table.
        plots: also draw the figures.
        data_format: ``parquet``, ``csv`` or ``both`` (:data:`FORMATS`).

    Returns:
        Manifest fields ``rows``, ``plots`` (file names), ``format`` and ``data_files``.
    """
    with folder.timed("write"):
        files = write_table(df, folder.path, "timeseries", data_format)
        folder.write_text("scenario.yaml", scenario.to_yaml())
    with folder.timed("plots"):
        written = save_figures(df, folder.path / PLOTS, vocab=scenario.vocab)[0] if plots else []
    return {
        "rows": len(df),
        "plots": [p.name for p in written],
        "format": data_format,
        "data_files": files,
    }


def plot_sample(path: Path, ids: Sequence[int] | np.ndarray) -> pd.DataFrame:
    """The tidy rows of the given replications, read from a ``timeseries`` file."""
    return read_tidy(path, [int(k) for k in ids])


def skipped_note(skipped: dict[str, list[str]]) -> str | None:
    """One sentence naming the figures not drawn and the metrics they lack."""
    if not skipped:
        return None
    parts = [f"{name}.png ({', '.join(missing)})" for name, missing in skipped.items()]
    return "figures skipped for lack of metrics: " + "; ".join(parts)


def draw_run_figures(
    path: Path,
    ids: Sequence[int] | np.ndarray,
    outdir: Path,
    vocab: Vocabulary | None = None,
    bands: str | None = None,
) -> tuple[list[Path], dict[str, list[str]]]:
    """Draw every figure the metrics of a ``timeseries.parquet`` allow, from ``ids``.

    ``bands``: what the bands carry (footnoted on the figures; None: nothing said).
    """
    return save_figures(plot_sample(path, ids), outdir, vocab=vocab, bands=bands)


def write_ensemble(
    folder: RunFolder,
    scenario: Scenario,
    result: EnsembleResult,
    *,
    plots: bool = True,
    data_format: str = "parquet",
    bands: str | None = None,
) -> dict[str, Any]:
    """Write an ensemble's summary, resolved scenario and figures.

    ``bands`` says what the figures' bands carry
    (:func:`sim.core.uncertainty.band_label`).

    ``timeseries.parquet`` must already be in the folder (the ensemble streams it there).
    With ``data_format`` ``csv`` or ``both`` it is converted to ``timeseries.csv`` row
    group by row group after the figures are drawn (and removed for ``csv``).

    Returns:
        Manifest fields ``rows``, ``summary``, ``plots``, ``plots_replications`` (how
        many replications the figures show), ``plots_note``, ``format`` and
        ``data_files``.
    """
    ids = result.replication_ids
    with folder.timed("write"):
        files = write_table(result.summary, folder.path, "summary", data_format)
        folder.write_text("scenario.yaml", scenario.to_yaml())
    written: list[Path] = []
    notes: list[str] = []
    with folder.timed("plots"):
        if plots:
            shown = ids[:PLOT_REPLICATIONS]
            written, skipped = draw_run_figures(
                folder.path / TIMESERIES, shown, folder.path / PLOTS, scenario.vocab, bands
            )
            if written and len(shown) < len(ids):
                notes.append(f"figures drawn from the first {len(shown)} of {len(ids)} ids")
            notes += [n for n in (skipped_note(skipped),) if n]
    with folder.timed("write"):
        stream = folder.path / TIMESERIES
        if data_format != "parquet":
            parquet_to_csv(stream, stream.with_suffix(".csv"))
        if data_format == "csv":
            stream.unlink()
    files += [f"timeseries{suffix}" for suffix in FORMATS[data_format]]
    return {
        "rows": int(len(ids) * result.layout.rows),
        "summary": {"quantiles": list(QUANTILES.values()), "method": "linear"},
        "plots": [p.name for p in written],
        "plots_replications": min(len(ids), PLOT_REPLICATIONS) if written else 0,
        "plots_note": "; ".join(notes) or None,
        "format": data_format,
        "data_files": sorted(files),
    }


def comparison_figures(
    tables: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]],
    bands: pd.DataFrame | None,
    outdir: Path,
    *,
    seed: int,
    replications: int,
    vocab: Vocabulary | None = None,
    bands_carry: str | None = None,
) -> list[Path]:
    """Draw a comparison's figures into ``outdir``.

    Args:
        tables: metric -> (``at_<metric>`` table, ``differences_<metric>`` table).
        bands: the ``influence_bands`` table, or None when influence was not compared.
        outdir: where to write.
        seed: the common seed.
        replications: the number of common replications.
        vocab: order, names and colours of the codes.
        bands_carry: what the bands carry (footnoted on every figure).

    Returns:
        ``compare_<metric>.png`` (differences at the window) and
        ``differences_<metric>.png`` (over time) per metric, and ``influence.png``.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    kw = {"seed": seed, "replications": replications, "vocab": vocab}
    written = []
    if bands is not None:
        influence = outdir / "influence.png"

        def draw() -> Path:
            fig = plot_influence_comparison(bands, **kw)
            mark_bands(fig, bands_carry)
            return _save(fig, influence)

        written.append(run_aside(draw))
    paths = []
    for metric, (at, series) in tables.items():
        fig = plot_at_differences(at, replications=replications, vocab=vocab)
        mark_bands(fig, bands_carry)
        paths.append(_save(fig, outdir / f"compare_{metric}.png"))
        fig = plot_difference_series(series, metric=metric, **kw)
        mark_bands(fig, bands_carry)
        paths.append(_save(fig, outdir / f"differences_{metric}.png"))
    return paths + [done() for done in written]


def hindcast_figures(
    summary: pd.DataFrame,
    reference: pd.DataFrame,
    recent: pd.DataFrame,
    replications: int,
    outdir: Path,
    vocab: Vocabulary | None = None,
    *,
    band_note: str | None = None,
    horizon_end: int | None = None,
    in_sample: pd.DataFrame | None = None,
) -> list[Path]:
    """Write ``hindcast_<STATE>.png`` for every state in ``summary`` into ``outdir``.

    ``band_note`` (what the bands carry), ``horizon_end`` and ``in_sample`` are passed
    to :func:`~sim.report.study_figures.plot_hindcast_state`.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    vocab = vocab_or_default(vocab)
    states = ordered(summary["country"], vocab.states)
    extra = {"band_note": band_note, "horizon_end": horizon_end, "in_sample": in_sample}
    return [
        _save(
            plot_hindcast_state(
                state, summary, reference, recent, replications, vocab=vocab, **extra
            ),
            outdir / f"hindcast_{state}.png",
        )
        for state in states
    ]


def skill_bands(res: BacktestResult) -> pd.DataFrame:
    """``skill_bands.csv``: every run's annual bands, every simulated year (reported partners)."""
    keep = list(res.vocab.target_partners)
    tables = [r.summary[r.summary["partner"].isin(keep)].assign(run=r.name) for r in res.runs]
    cols = ["run", "year", "country", "partner", "share_pct", "mean", "p05", "p95"]
    return pd.concat(tables, ignore_index=True)[cols].round(4)


def write_backtest(
    folder: RunFolder, res: BacktestResult, *, plots: bool = True, band_note: str | None = None
) -> dict[str, Any]:
    """Write a backtest's hindcast tables, skill report and per-state figures.

    Args:
        folder: the open run folder.
        res: the backtest.
        plots: also draw the per-state figures.
        band_note: what the ensemble's bands carry, for ``skill.md``, the figures'
            captions and the manifest; default
            :func:`sim.studies.backtest.default_band_note` (stochastic noise only).

    Returns:
        Manifest fields ``rows``, ``plots`` (file names), ``band_note``, ``discrepancy``
        (the fit the bands carry, or None), ``skill_runs`` and ``skill`` (MAE, ratio and
        coverage per group of points).
    """
    from sim.studies.backtest import BANDS_COLUMNS, default_band_note  # noqa: PLC0415

    out = folder.path
    vocab = res.scenario.vocab
    note = band_note or (
        f"{res.bands} ({res.replications} replications)"
        if res.parameters is not None or res.discrepancy is not None
        else default_band_note(res.replications)
    )
    fit = res.discrepancy.to_dict() if res.discrepancy is not None else None
    runs = [
        {k: getattr(r, k) for k in ("name", "base_year", "horizon_last", "last_year")}
        for r in res.runs
    ]
    with folder.timed("write"):
        res.hindcast.to_csv(out / "hindcast.csv", index=False)
        bands = res.summary[res.summary["partner"].isin(vocab.target_partners)]
        bands[list(BANDS_COLUMNS)].round(4).to_csv(out / "hindcast_bands.csv", index=False)
        meta = {"scenario": res.scenario.name, "replications": res.replications}
        meta |= {"seed": res.seed, "band_note": note, "runs": runs, "discrepancy": fit}
        folder.write_text("skill.md", skill_markdown(res.points, meta, vocab.powers, vocab))
        res.points.round(4).to_csv(out / "skill_points.csv", index=False)
        all_bands = skill_bands(res)
        all_bands.to_csv(out / "skill_bands.csv", index=False)
        written = _backtest_figures(res, all_bands, out / PLOTS, note) if plots else []
    return {
        "rows": len(res.hindcast),
        "plots": [p.name for p in written],
        "band_note": note,
        "discrepancy": fit,
        "skill_runs": runs,
        "skill": skill_summary(res.points, vocab.powers),
    }


def backtest_figures_from(
    bands: pd.DataFrame, runs: Sequence[Mapping[str, Any]], **kwargs: Any
) -> list[Path]:
    """The hindcast figures from ``skill_bands.csv`` and the runs of a manifest.

    The last run is the hindcast; an earlier one is drawn as the in-sample run.
    ``kwargs`` go to :func:`hindcast_figures` (``reference``, ``recent``, ...).
    """
    hind = runs[-1]
    main = bands[bands["run"] == hind["name"]].drop(columns="run")
    others = bands[bands["run"] != hind["name"]].drop(columns="run")
    return hindcast_figures(
        main,
        horizon_end=int(hind["horizon_last"]),
        in_sample=others if len(others) else None,
        **kwargs,
    )


def _backtest_figures(
    res: BacktestResult, bands: pd.DataFrame, outdir: Path, note: str
) -> list[Path]:
    if not res.runs:
        return hindcast_figures(
            res.summary, res.reference, res.recent, res.replications, outdir, res.vocab,
            band_note=note,
        )  # fmt: skip
    runs = [{"name": r.name, "horizon_last": r.horizon_last} for r in res.runs]
    return backtest_figures_from(
        bands, runs, reference=res.reference, recent=res.recent,
        replications=res.replications, outdir=outdir, vocab=res.vocab, band_note=note,
    )  # fmt: skip


def write_calibration(folder: RunFolder, res: CalibrationResult) -> list[str]:
    """Write a calibration's tables and summary into ``folder``; return the file names."""
    import numpy as np  # noqa: PLC0415 - only this writer needs it at run time

    path = folder.path
    res.grid.to_csv(path / "grid.csv", index=False)
    np.save(path / "grid_errors.npy", res.grid_errors)
    res.bootstrap.to_csv(path / "bootstrap.csv", index=False)
    names = ["grid.csv", "grid_errors.npy", "bootstrap.csv"]
    for name, table in res.profiles.items():
        table.to_csv(path / f"profile_{name}.csv", index=False)
        names.append(f"profile_{name}.csv")
    (path / "summary.json").write_text(json.dumps(res.summary, indent=2) + "\n", encoding="utf-8")
    return [*names, "summary.json"]


def write_abc(folder: RunFolder, res: AbcResult) -> list[str]:
    """Write an ABC calibration's tables, figure and summary; return the file names."""
    from sim.report.study_figures import plot_prior_posterior  # noqa: PLC0415
    from sim.report.tables import markdown_table  # noqa: PLC0415

    path = folder.path
    res.posterior.to_csv(path / "posterior.csv", index=False, float_format="%.6g")
    res.prior_posterior.to_csv(path / "prior_posterior.csv", index=False)
    res.generations.to_csv(path / "generations.csv", index=False)
    res.particles.to_csv(path / "particles.csv", index=False, float_format="%.6g")
    cols = ["parameter", "prior", "low", "high", "post_p05", "post_p50", "post_p95"]
    cols += ["width_ratio", "identified"]
    fmt = dict.fromkeys(cols[2:-1], ".3g")
    folder.write_text("prior_posterior.md", markdown_table(res.prior_posterior[cols], fmt))
    _save(plot_prior_posterior(res.posterior, res.prior_posterior), path / "prior_posterior.png")
    text = json.dumps(res.summary, indent=2, default=float) + "\n"
    (path / "summary.json").write_text(text, encoding="utf-8")
    return [
        "posterior.csv", "prior_posterior.csv", "prior_posterior.md", "generations.csv",
        "particles.csv", "prior_posterior.png", "summary.json",
    ]  # fmt: skip
