"""``casim plot RUN_DIR``: redraw a saved folder's figures from its data files.

Nothing is rerun. A run or an ensemble is redrawn from ``timeseries.parquet`` or
``timeseries.csv`` (an ensemble from its first
:data:`~sim.report.write.PLOT_REPLICATIONS` replications, as when it was written),
every figure whose metrics the file holds; a comparison from its ``at_<metric>.csv``
and ``differences_<metric>.csv`` for every metric of its manifest (and
``influence_bands.csv`` when it has one); a backtest from
``hindcast_bands.csv`` and the reference data. Labels come from the data, names and
colours from :mod:`sim.vocab`, so the scenario file is not needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from sim.engine import catalog
from sim.engine.catalog import NOT_A_RUN, tidy_path
from sim.report.write import (
    PLOT_REPLICATIONS,
    PLOTS,
    backtest_figures_from,
    comparison_figures,
    draw_run_figures,
    hindcast_figures,
)
from sim.scenario import ScenarioError


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The folder's ``manifest.json``.

    Raises:
        ScenarioError: if there is none or it is not a JSON object.
    """
    manifest, _ = catalog.read_manifest(run_dir)
    if manifest is None:
        raise ScenarioError(run_dir, "", NOT_A_RUN)
    return manifest


def plot_ids(manifest: dict[str, Any], data: Path) -> list[int]:
    """The first :data:`PLOT_REPLICATIONS` replication ids of a run or an ensemble."""
    ids = manifest.get("replication_ids")
    if isinstance(ids, dict) and {"first", "count"} <= set(ids):
        first, count = int(ids["first"]), int(ids["count"])
        return list(range(first, first + min(count, PLOT_REPLICATIONS)))
    if isinstance(ids, list) and ids:
        return sorted(int(k) for k in ids)[:PLOT_REPLICATIONS]
    if data.suffix == ".csv":
        column = pd.read_csv(data, usecols=["replication"])["replication"]
        return sorted(int(k) for k in column.unique())[:PLOT_REPLICATIONS]
    column = pq.read_table(data, columns=["replication"]).column("replication")
    return sorted(int(k) for k in column.unique().to_pylist())[:PLOT_REPLICATIONS]


#: Label columns of the comparison tables (``""`` is a label: no country or partner).
_LABELS = ("scenario", "reference", "state", "power", "country", "partner", "at", "metric")


def read_comparison_table(path: Path, dates: bool = False) -> pd.DataFrame:
    """A comparison table with its label columns as strings."""
    df = pd.read_csv(
        path, dtype=dict.fromkeys(_LABELS, str), parse_dates=["date"] if dates else False
    )
    labels = [c for c in _LABELS if c in df.columns and c != "reference"]
    df[labels] = df[labels].fillna("")
    return df


def compare_metrics(manifest: dict[str, Any]) -> list[str]:
    """The metrics of a comparison folder (influence shares for folders older than --metrics)."""
    metrics = manifest.get("metrics")
    return [str(m) for m in metrics] if isinstance(metrics, list) else ["influence_share"]


def bands_carry(manifest: dict[str, Any]) -> str:
    """What a saved folder's bands carry, from its manifest (older folders: noise only)."""
    from sim.core.uncertainty import band_label  # noqa: PLC0415

    posterior = manifest.get("posterior")
    if manifest.get("parameter_uncertainty") == "posterior" and isinstance(posterior, dict):
        return band_label("posterior", posterior.get("draws"))
    return band_label("fixed")


def _redraw_comparison(run_dir: Path, manifest: dict[str, Any], outdir: Path) -> list[Path]:
    tables = {
        m: (
            read_comparison_table(run_dir / f"at_{m}.csv"),
            read_comparison_table(run_dir / f"differences_{m}.csv", True),
        )
        for m in compare_metrics(manifest)
    }
    bands_path = run_dir / "influence_bands.csv"
    bands = read_comparison_table(bands_path, dates=True) if bands_path.is_file() else None
    return comparison_figures(
        tables,
        bands,
        outdir,
        seed=int(manifest["seed"]),
        replications=int(manifest["replications"]),
        bands_carry=bands_carry(manifest),
    )


def _redraw_backtest(run_dir: Path, manifest: dict[str, Any], outdir: Path) -> list[Path]:
    from sim.studies.backtest import load_recent_points, load_reference  # noqa: PLC0415

    common = {
        "reference": load_reference(),
        "recent": load_recent_points(),
        "replications": int(manifest["replications"]),
        "outdir": outdir,
        "band_note": manifest.get("band_note"),
    }
    strs = {"country": str, "partner": str}
    runs = manifest.get("skill_runs")
    if runs and (run_dir / "skill_bands.csv").is_file():
        bands = pd.read_csv(run_dir / "skill_bands.csv", dtype=strs | {"run": str})
        return backtest_figures_from(bands, runs, **common)
    bands = pd.read_csv(run_dir / "hindcast_bands.csv", dtype=strs)
    return hindcast_figures(bands, **common)


def redraw(
    run_dir: str | Path, out: str | Path | None = None
) -> tuple[list[Path], dict[str, list[str]]]:
    """Redraw the figures of a saved run, ensemble, comparison or backtest folder.

    Args:
        run_dir: the folder ``casim run``, ``compare`` or ``backtest`` wrote.
        out: where to write the PNGs (default ``run_dir/plots``); files of the same
            names there are replaced.

    Returns:
        ``(paths written, {figure name: metrics it lacks} of the figures not drawn)``.

    Raises:
        ScenarioError: if ``run_dir`` is not such a folder (nothing is written).
    """
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    outdir = Path(out) if out is not None else run_dir / PLOTS
    data = tidy_path(run_dir, "timeseries")
    kind = manifest.get("kind")
    if data is not None:
        return draw_run_figures(data, plot_ids(manifest, data), outdir, bands=bands_carry(manifest))
    tables = {
        "compare": tuple(
            f"{stem}_{m}.csv" for m in compare_metrics(manifest) for stem in ("at", "differences")
        ),
        "backtest": ("hindcast_bands.csv",),
    }
    if kind in tables and all((run_dir / name).is_file() for name in tables[kind]):
        draw = _redraw_comparison if kind == "compare" else _redraw_backtest
        return draw(run_dir, manifest, outdir), {}
    raise ScenarioError(run_dir, "", NOT_A_RUN)
