"""Read run folders back: the catalog of past runs (``casim runs``) and ``load_run``.

:func:`list_runs` looks at the folders under a results root (``results/<name>/<run>``,
or a run folder directly under the root) and reads each one's ``manifest.json``. A
folder whose manifest is missing or unreadable is listed with a ``status`` saying so;
temporary folders of runs being written (``.<name>.partial-<pid>``) and other hidden
folders are skipped. :func:`load_run` reads one run or ensemble folder's tidy table
(``timeseries.parquet`` or ``timeseries.csv``), its summary, manifest and resolved
scenario. Nothing here writes a file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.scenario import ScenarioError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import pandas as pd

MANIFEST = "manifest.json"
#: The formats a tidy table may be stored in, in the order they are preferred.
TIDY_SUFFIXES = (".parquet", ".csv")
#: Label columns of the tidy tables (read as strings; ``""`` is a label, not missing).
LABELS = ("country", "partner", "metric")
#: Number columns of the tidy tables that may hold missing values.
NUMBERS = ("value", "mean", "median", "q05", "q95")
STAMP = "%Y%m%dT%H%M%SZ"
NOT_A_RUN = "expected a casim run folder (manifest.json and timeseries.parquet or .csv)"


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """One row of ``casim runs``.

    Attributes:
        folder: the run folder.
        status: ``ok``, ``missing manifest`` or ``corrupt manifest: <why>``.
        kind: ``run``, ``ensemble``, ``compare``, ``backtest``, ``calibration`` or
            ``""`` when the manifest cannot be read.
        scenario: the scenario's name (a comparison's names joined by ``,``).
        overrides: the ``--set`` strings.
        seed, replications: as in the manifest (None if absent).
        created: when the run was written (the manifest's ``created_utc``; else the
            time in the folder's name, else the folder's modification time).
        commit: the git commit (12 digits, ``+`` if the tree had uncommitted changes).
        wall_s: the sum of the manifest's ``timings_s`` (None if absent).
        detail: what a comparison compared: its metrics and quarter or window
            (``gdp,export_revenue@2026Q1:2026Q3``); empty for other kinds.
    """

    folder: Path
    status: str
    kind: str = ""
    scenario: str = ""
    overrides: tuple[str, ...] = ()
    seed: int | None = None
    replications: int | None = None
    created: dt.datetime | None = None
    commit: str = ""
    wall_s: float | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``folder`` as a string, ``created`` in ISO 8601)."""
        out = dataclasses.asdict(self)
        out["folder"] = str(self.folder)
        out["overrides"] = list(self.overrides)
        out["created"] = self.created.isoformat() if self.created else None
        return out


def _candidates(results: Path) -> Iterator[Path]:
    """Run folders under ``results``: ``results/<run>`` with a manifest, ``results/<x>/<run>``."""
    for group in sorted(p for p in results.iterdir() if p.is_dir()):
        if group.name.startswith("."):
            continue
        if (group / MANIFEST).exists():
            yield group
            continue
        yield from sorted(p for p in group.iterdir() if p.is_dir() and not p.name.startswith("."))


def _folder_time(folder: Path) -> dt.datetime:
    """The UTC time in a default folder name, else the folder's modification time."""
    try:
        return dt.datetime.strptime(folder.name[:16], STAMP).replace(tzinfo=dt.UTC)
    except ValueError:
        return dt.datetime.fromtimestamp(folder.stat().st_mtime, dt.UTC)


def _kind(manifest: dict[str, Any]) -> str:
    kind = manifest.get("kind")
    if isinstance(kind, str):
        return kind
    return "ensemble" if "summary" in manifest else "run"


def _scenario(manifest: dict[str, Any]) -> str:
    listed = manifest.get("scenarios")
    if isinstance(listed, list):
        return ",".join(str(s.get("name", "?")) for s in listed if isinstance(s, dict))
    return str(manifest.get("scenario", ""))


def _detail(manifest: dict[str, Any]) -> str:
    """``metrics@at`` of a comparison manifest, else ``""``."""
    metrics, at = manifest.get("metrics"), manifest.get("at")
    if manifest.get("kind") != "compare" or not isinstance(metrics, list):
        return ""
    label = at.get("label") if isinstance(at, dict) else None
    return ",".join(map(str, metrics)) + (f"@{label}" if label else "")


def _commit(git: Any) -> str:
    if not isinstance(git, dict) or not git.get("commit"):
        return ""
    return str(git["commit"])[:12] + ("+" if git.get("dirty") else "")


def _created(manifest: dict[str, Any], folder: Path) -> dt.datetime:
    try:
        created = dt.datetime.fromisoformat(str(manifest["created_utc"]))
    except (KeyError, ValueError):
        return _folder_time(folder)
    return created if created.tzinfo else created.replace(tzinfo=dt.UTC)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_manifest(folder: Path) -> tuple[dict[str, Any] | None, str]:
    """A folder's parsed ``manifest.json`` and its status; never raises.

    Returns:
        ``(manifest, "ok")``, or ``(None, "missing manifest" | "corrupt manifest: <why>")``.
    """
    try:
        text = (folder / MANIFEST).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, "missing manifest"
    except (OSError, UnicodeDecodeError) as err:
        return None, f"corrupt manifest: {err}"
    try:
        manifest = json.loads(text)
    except ValueError as err:
        return None, f"corrupt manifest: {err}"
    if not isinstance(manifest, dict):
        return None, "corrupt manifest: not a JSON object"
    return manifest, "ok"


def read_run_info(folder: Path) -> RunInfo:
    """The catalog row of one folder; never raises for a bad or missing manifest."""
    manifest, status = read_manifest(folder)
    if manifest is None:
        return RunInfo(folder, status, created=_folder_time(folder))
    timings = manifest.get("timings_s")
    wall = None
    if isinstance(timings, dict):
        wall = round(sum(v for v in timings.values() if isinstance(v, int | float)), 2)
    overrides = manifest.get("overrides")
    return RunInfo(
        folder=folder,
        status="ok",
        kind=_kind(manifest),
        scenario=_scenario(manifest),
        overrides=tuple(str(o) for o in overrides) if isinstance(overrides, list) else (),
        seed=_int_or_none(manifest.get("seed")),
        replications=_int_or_none(manifest.get("replications")),
        created=_created(manifest, folder),
        commit=_commit(manifest.get("git")),
        wall_s=wall,
        detail=_detail(manifest),
    )


def list_runs(
    results: str | Path = "results",
    *,
    scenario: str | None = None,
    since: dt.datetime | None = None,
) -> list[RunInfo]:
    """The run folders under ``results``, newest first.

    Args:
        results: the results root (a missing root has no runs).
        scenario: keep only runs of this scenario name (a comparison matches any of its
            scenarios; a folder without a readable manifest matches by its parent
            folder's name).
        since: keep only runs created at or after this time (naive times are UTC).

    Returns:
        One :class:`RunInfo` per folder, newest first.
    """
    root = Path(results)
    if not root.is_dir():
        return []
    rows = [read_run_info(folder) for folder in _candidates(root)]
    if scenario is not None:
        rows = [
            r
            for r in rows
            if scenario in r.scenario.split(",")
            or (r.status != "ok" and r.folder.parent.name == scenario)
        ]
    if since is not None:
        since = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
        rows = [r for r in rows if r.created is not None and r.created >= since]
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(rows, key=lambda r: (r.created or epoch, r.folder.name), reverse=True)


# ----------------------------------------------------------------------------- load_run


def tidy_path(folder: Path, stem: str) -> Path | None:
    """``folder/<stem>.parquet``, else ``folder/<stem>.csv``, else None."""
    for suffix in TIDY_SUFFIXES:
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def read_tidy(path: str | Path, replications: Sequence[int] | None = None) -> pd.DataFrame:
    """Read a tidy table (``timeseries`` or ``summary``) from Parquet or CSV.

    A CSV file reads back with the Parquet file's columns: labels as strings (``""``
    kept), ``date`` as datetimes, numbers as numbers. It is read in chunks when
    ``replications`` selects some of its rows.

    Args:
        path: a ``.parquet`` or ``.csv`` file.
        replications: keep only these replication ids (None: all rows).
    """
    import pandas as pd  # noqa: PLC0415 - keep `import sim` light

    path = Path(path)
    wanted = None if replications is None else [int(k) for k in replications]
    if path.suffix == ".parquet":
        filters = None if wanted is None else [("replication", "in", wanted)]
        return pd.read_parquet(path, filters=filters)
    kw: dict[str, Any] = {
        "dtype": dict.fromkeys(LABELS, str),
        "keep_default_na": False,
        "na_values": {col: ["", "nan", "NaN"] for col in NUMBERS},
        "parse_dates": ["date"],
    }
    if wanted is None:
        return pd.read_csv(path, **kw)
    keep = set(wanted)
    parts = [
        chunk[chunk["replication"].isin(keep)]
        for chunk in pd.read_csv(path, chunksize=1_000_000, **kw)
    ]
    return pd.concat(parts, ignore_index=True)


@dataclasses.dataclass(frozen=True)
class Run:
    """A run folder read back by :func:`load_run`.

    Attributes:
        path: the folder.
        manifest: ``manifest.json``.
        timeseries: the tidy table (``timeseries.parquet`` or ``.csv``).
        summary: an ensemble's summary table, or None for one replication.
        scenario_yaml: the resolved scenario (``scenario.yaml``) as text.
    """

    path: Path
    manifest: dict[str, Any]
    timeseries: pd.DataFrame
    summary: pd.DataFrame | None
    scenario_yaml: str


def load_run(path: str | Path, replications: Sequence[int] | None = None) -> Run:
    """Read a folder written by ``casim run`` (one replication or an ensemble).

    Parquet is read when present, else CSV (``casim run --format csv``).

    Args:
        path: the run folder.
        replications: read only these replication ids of the timeseries (a large
            ensemble's table may not fit in memory).

    Raises:
        ScenarioError: if the folder has no readable manifest or no timeseries table.
    """
    folder = Path(path)
    manifest, status = read_manifest(folder)
    data = tidy_path(folder, "timeseries")
    if manifest is None:
        raise ScenarioError(folder, "", f"{NOT_A_RUN}; {status}")
    if data is None:
        raise ScenarioError(folder, "", f"{NOT_A_RUN}; no timeseries table")
    summary = tidy_path(folder, "summary")
    scenario = folder / "scenario.yaml"
    return Run(
        path=folder,
        manifest=manifest,
        timeseries=read_tidy(data, replications),
        summary=read_tidy(summary) if summary is not None else None,
        scenario_yaml=scenario.read_text(encoding="utf-8") if scenario.is_file() else "",
    )


# ----------------------------------------------------------------------------- table

#: Columns of the ``casim runs`` table: (heading, function of a row).
_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("folder", lambda r: str(r.folder)),
    ("kind", lambda r: r.kind or "-"),
    ("scenario", lambda r: r.scenario if r.status == "ok" else f"({r.status.split(':')[0]})"),
    ("compared", lambda r: r.detail or "-"),
    ("overrides", lambda r: " ".join(r.overrides) or "-"),
    ("seed", lambda r: "-" if r.seed is None else str(r.seed)),
    ("reps", lambda r: "-" if r.replications is None else str(r.replications)),
    ("created_utc", lambda r: r.created.strftime("%Y-%m-%d %H:%M") if r.created else "-"),
    ("commit", lambda r: r.commit or "-"),
    ("wall_s", lambda r: "-" if r.wall_s is None else f"{r.wall_s:.1f}"),
)


def runs_table(rows: Sequence[RunInfo]) -> str:
    """The rows as a plain-text table with a heading line (one line per run).

    A folder without a readable manifest shows ``(missing manifest)`` or ``(corrupt
    manifest)`` as its scenario; ``--json`` gives the reason in ``status``.
    """
    cells = [[head for head, _ in _COLUMNS]]
    cells += [[" ".join(str(get(r)).split()) for _, get in _COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines) + "\n"
