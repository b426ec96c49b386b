"""The dashboard page (Solara): levers, a background run, the views, the downloads.

Started by :func:`sim.dashboard.server.serve` (``casim dashboard``), or directly with
``solara run sim.dashboard.page`` (then the environment variables of
:mod:`sim.dashboard.server` name the scenario and base, the baseline by default).
Every user input goes through :mod:`sim.dashboard.levers`, which turns bad input into
the CLI's one-line message; the page shows it and never raises on it.

The run's thread also builds the difference table and the first view's figure, so the
results arrive in one update; figures are JSON text drawn by plotly.js in the browser
(:mod:`sim.dashboard.plot`). Only the run panel reads the run's state, so progress
updates redraw it and not the lever form. The first page starts the warm-up
(:func:`sim.dashboard.runner.start_warm`) and notes it until it is done.
"""

from __future__ import annotations

import contextlib
import html
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.io as pio
import solara
import solara.lab

from sim.dashboard import levers as lv
from sim.dashboard import runner, views
from sim.dashboard.plot import Plot
from sim.dashboard.server import BASE_ENV, SCENARIO_ENV, default_base
from sim.scenario import ScenarioError, load_scenario
from sim.scenario.load import resolve

_ROOT = Path(__file__).resolve().parent.parent.parent
#: Colour of a changed field's mark.
CHANGED = "#d62728"


def _start_files() -> tuple[Path, Path]:
    scenario = Path(os.environ.get(SCENARIO_ENV, _ROOT / "scenarios" / "baseline.yaml"))
    base = Path(os.environ.get(BASE_ENV, default_base(scenario)))
    return scenario, base


def _choices(folder: Path, *extra: Path) -> list[str]:
    files = {str(p.resolve()) for p in folder.glob("*.yaml") if p.is_file()}
    return sorted(files | {str(p.resolve()) for p in extra})


@dataclass(frozen=True, eq=False)
class Shown:
    """A finished run with what the page shows first (compared by identity).

    Attributes:
        pair: the paired run.
        table: the difference table's HTML.
        figures: figure JSON text by view name (the first view; others are added as
            they are shown).
    """

    pair: runner.PairResult
    table: str
    figures: dict[str, str | None]


@solara.lab.task(prefer_threaded=True)
def run_task(base: Any, edited: Any, n: int) -> Shown | None:
    """Run the pair in a thread, then build the table and the first figure there."""

    def progress(share: float) -> None:
        run_task.progress = round(100 * share, 1)

    try:
        pair = runner.run_pair(base, edited, n, progress, lambda: not run_task.is_current())
    except runner.Cancelled:
        return None
    first = next(iter(VIEWS))
    return Shown(pair, diff_html(pair), {first: figure_json(pair, first)})


@solara.lab.task(prefer_threaded=True)
def warm_task(base: Any) -> bool:
    """Wait for the process's warm-up (started by the first page) to finish.

    Then build the table and a figure of the kept base against itself, so the first
    run does not pay for their first use (imports: about a second).
    """
    done = runner.warm_done(None)
    pair = runner.cached_pair(base)
    with contextlib.suppress(Exception):  # only a head start: a run reports its own errors
        if pair is not None:
            diff_html(pair)
            figure_json(pair, next(iter(VIEWS)))
    return done


@solara.component
def LeverField(  # noqa: N802 - Solara components are CamelCase
    lever: lv.Lever, text: str | None, error: str, on_text: Any
) -> None:
    """One lever: its field, the value's provenance and a mark when changed."""
    shown = text if text is not None else ("" if lever.value is None else str(lever.value))
    with solara.Column(gap="0px", style={"margin-bottom": "6px"}):
        solara.InputText(
            lever.label,
            value=shown,
            on_value=lambda v: on_text(lever.key, v),
            continuous_update=False,
            error=error or False,
        )
        if text is not None:
            was = "unset" if lever.value is None else lever.value
            solara.Text(f"● changed (was {was}): set in dashboard", style={"color": CHANGED})
        note = lever.provenance or "not set: the model's own rule decides"
        solara.Text(f"{lever.key} — {note}", style={"font-size": "0.75em", "color": "#666"})


@solara.component
def LeverForm(  # noqa: N802 - Solara components are CamelCase
    data: dict, edits: lv.Edits, errors: dict[str, str], set_edits: Any
) -> None:
    """Every lever, grouped; named projects also get an on/off switch."""

    def on_text(key: str, value: str | None) -> None:
        values = dict(edits.values)
        original = lv.get_path(data, key)
        if value is None or value.strip() in ("", str(original)):
            values.pop(key, None)
        else:
            values[key] = value
        set_edits(lv.Edits(values, set(edits.projects_off)))

    def on_switch(i: int, on: bool) -> None:
        off = set(edits.projects_off)
        (off.discard if on else off.add)(i)
        set_edits(lv.Edits(dict(edits.values), off))

    groups: dict[str, list[lv.Lever]] = {}
    for lever in lv.levers(data):
        groups.setdefault(lever.group, []).append(lever)
    for group, items in groups.items():
        LeverGroup(group, items, edits, errors, on_text)
        if group == "Named projects":
            for i, pr in enumerate(data.get("projects", [])):
                solara.Switch(
                    label=f"{pr['name']} on",
                    value=i not in edits.projects_off,
                    on_value=lambda on, i=i: on_switch(i, on),
                )
    if "projects" in errors:
        solara.Error(errors["projects"])


@solara.component
def LeverGroup(  # noqa: N802 - Solara components are CamelCase
    group: str, items: list[lv.Lever], edits: lv.Edits, errors: dict[str, str], on_text: Any
) -> None:
    """A group of levers behind a toggle; its fields are made only when it is open.

    (Budgets open at first; making every field of every group slowed the first page.)
    The toggle counts the group's changed and bad fields.
    """
    is_open, set_open = solara.use_state(group.startswith("Budget"))
    changed = sum(lever.key in edits.values for lever in items)
    bad = sum(lever.key in errors for lever in items)
    notes = [f"{changed} changed"] * bool(changed) + [f"{bad} bad"] * bool(bad)
    label = f"{'▾' if is_open else '▸'} {group}" + (f" ({', '.join(notes)})" if notes else "")
    solara.Button(label, text=True, on_click=lambda: set_open(not is_open))
    if is_open:
        for lever in items:
            LeverField(lever, edits.values.get(lever.key), errors.get(lever.key, ""), on_text)


def diff_html(pair: runner.PairResult) -> str:
    """The end-of-horizon paired differences as an HTML table (cells have ids)."""
    table = views.difference_table(pair)
    holders = list(dict.fromkeys(table["influencer"]))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in holders)
    rows = []
    for state, sub in table.groupby("state", sort=False):
        cells = "".join(
            f'<td id="diff-{state}-{r.influencer}" title="5-95%: {r.q05_pp:+.2f} to '
            f'{r.q95_pp:+.2f} pp; base {r.base_pct:.1f}%, edited {r.edited_pct:.1f}%">'
            f"{r.median_pp:+.2f}</td>"
            for r in sub.itertuples()
        )
        rows.append(f"<tr><th>{html.escape(str(state))}</th>{cells}</tr>")
    return (
        '<table id="difference-table" style="border-collapse:collapse" border="1" '
        'cellpadding="4"><caption>Paired difference edited − base of the influence share '
        "at the horizon's end, pp (median over replications; hover a cell for its 5-95% "
        f"band)</caption><tr><th></th>{head}</tr>{''.join(rows)}</table>"
    )


#: The views, by name: each draws one plotly figure of a paired run.
VIEWS: dict[str, Any] = {
    "Difference (pp)": views.difference_figure,
    "Influence": views.influence_figure,
    "Channels": views.channel_figure,
    "Trade": views.trade_figure,
    "Route flows": views.route_flow_figure,
    "GDP": lambda pair: views.economy_figure(pair, "gdp"),
    "Export revenue": lambda pair: views.economy_figure(pair, "export_revenue"),
}


def figure(pair: runner.PairResult, view: str) -> views.Figure | None:
    """One view's figure dict (None when the run lacks its data)."""
    return VIEWS[view](pair)


def figure_json(pair: runner.PairResult, view: str) -> str | None:
    """One view's figure as JSON text (None when the run lacks its data)."""
    return views.to_json(figure(pair, view))


def figures(pair: runner.PairResult) -> dict[str, views.Figure]:
    """Every view's figure (for the download)."""
    out = {name: figure(pair, name) for name in VIEWS}
    return {k: v for k, v in out.items() if v is not None}


def figures_zip(figs: dict[str, views.Figure]) -> bytes:
    """The figures as interactive HTML files in a zip (plotly.js from its CDN)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, fig in figs.items():
            slug = "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()
            page = pio.to_html(fig, include_plotlyjs="cdn", validate=False)
            zf.writestr(f"{slug}.html", page)
    return buf.getvalue()


@solara.component
def Results(  # noqa: N802 - Solara components are CamelCase
    shown: Shown, export_text: Any, name: str
) -> None:
    """The views and the downloads of a finished run."""
    pair = shown.pair
    view, set_view = solara.use_state(next(iter(VIEWS)))

    def text() -> str | None:
        if view not in shown.figures:
            shown.figures[view] = figure_json(pair, view)
        return shown.figures[view]

    fig = solara.use_memo(text, dependencies=[shown, view])
    n = len(pair.edited.replication_ids)
    # HTML, not Markdown: solara's Markdown fetches KaTeX and mermaid from a CDN (offline:
    # failed requests on every run).
    edited_name = html.escape(pair.edited.scenario.name)
    base_name = html.escape(pair.base.scenario.name)
    solara.HTML(
        tag="p",
        unsafe_innerHTML=f"<b>{n} replications</b> of <i>{edited_name}</i> (edited) and "
        f"<i>{base_name}</i> (base), seed {pair.edited.seed}, common random numbers; ran "
        f"in {pair.seconds:.2f} s ({pair.cpu_seconds:.2f} s of processor time).",
    )
    solara.HTML(tag="div", unsafe_innerHTML=shown.table)
    with solara.Row():
        solara.FileDownload(export_text, filename=f"{name}.yaml", label="Scenario YAML")
        solara.FileDownload(
            lambda: views.summary_frame(pair).to_csv(index=False).encode(),
            filename=f"{name}-summary.csv",
            label="Data (CSV)",
        )
        solara.FileDownload(
            lambda: figures_zip(figures(pair)),
            filename=f"{name}-figures.zip",
            label="Figures (HTML)",
        )
    solara.ToggleButtonsSingle(value=view, values=list(VIEWS), on_value=set_view)
    if fig is None:
        solara.Info(f"{view}: not recorded by this model version")
    else:
        Plot(fig)


def _load(path: str) -> tuple[dict | None, Any, str]:
    try:
        return resolve(path), load_scenario(path), ""
    except ScenarioError as err:
        return None, None, f"error: {err}"


@solara.component
def Page(  # noqa: N802 - Solara components are CamelCase
) -> None:
    """The dashboard."""
    start, start_base = _start_files()
    scenario_file, set_scenario_file = solara.use_state(str(start.resolve()))
    base_file, set_base_file = solara.use_state(str(start_base.resolve()))
    edits, set_edits = solara.use_state(lv.Edits())
    reps, set_reps = solara.use_state(runner.DEFAULT_REPLICATIONS)
    data, _, load_error = solara.use_memo(lambda: _load(scenario_file), [scenario_file])
    _, base, base_error = solara.use_memo(lambda: _load(base_file), [base_file])
    edited, edited_data, errors = solara.use_memo(
        lambda: lv.apply_edits(data, edits, scenario_file) if data else (None, {}, {}),
        [data, edits],
    )
    name = f"{Path(scenario_file).stem}-dashboard"

    def export_text() -> bytes:
        return lv.export_yaml(scenario_file, edited_data, edits, name).encode()

    def choose(path: str) -> None:
        set_scenario_file(path)
        set_edits(lv.Edits())

    def warm() -> None:
        if data is not None and base is not None:
            runner.start_warm(load_scenario(scenario_file), base)

    solara.use_effect(warm, [])
    solara.Title("casim dashboard")
    with solara.Sidebar():
        choices = _choices(Path(scenario_file).parent, Path(scenario_file), Path(base_file))
        solara.Select("Scenario", values=choices, value=scenario_file, on_value=choose)
        solara.Select(
            "Compare with (base)", values=choices, value=base_file, on_value=set_base_file
        )
        if data:
            LeverForm(data, edits, errors, set_edits)
    with solara.Column():
        solara.HTML(tag="h2", unsafe_innerHTML="casim: what if?")
        for message in (load_error, base_error):
            if message:
                solara.Error(message)
        WarmNote(base if data is not None else None)
        RunPanel(base, edited, reps, set_reps, errors, export_text, name)


@solara.component
def WarmNote(  # noqa: N802 - Solara components are CamelCase
    base: Any,
) -> None:
    """A "warming up" note until the kernels are compiled and the base has run."""
    solara.use_effect(lambda: warm_task(base) if base is not None else None, [base])
    if base is not None and not warm_task.finished:
        solara.Info(
            "warming up: compiling the model's kernels and running the base's "
            f"{runner.DEFAULT_REPLICATIONS} replications; a run started now waits for it"
        )


@solara.component
def RunPanel(  # noqa: N802 - Solara components are CamelCase
    base: Any, edited: Any, reps: int, set_reps: Any, errors: dict, export_text: Any, name: str
) -> None:
    """Run controls and the latest results (kept on screen while the next run runs)."""
    RunControls(base, edited, reps, set_reps, errors)
    shown = run_task.value if run_task.finished else run_task.latest
    if shown is not None:
        Results(shown, export_text, name)
    else:
        Plot("")  # loads plotly.js while the user sets the levers
    if run_task.error:
        solara.Error(f"error: {run_task.exception}")


@solara.component
def RunControls(  # noqa: N802 - Solara components are CamelCase
    base: Any, edited: Any, reps: int, set_reps: Any, errors: dict
) -> None:
    """Replications, run and cancel buttons, progress."""
    bad_reps = not 1 <= (reps or 0) <= runner.MAX_REPLICATIONS
    with solara.Row():
        solara.InputInt("Replications", value=reps, on_value=set_reps)
        solara.Button(
            "Run",
            color="primary",
            on_click=lambda: run_task(base, edited, reps),
            disabled=edited is None or base is None or bad_reps or run_task.pending,
        )
        solara.Button("Cancel", on_click=run_task.cancel, disabled=not run_task.pending)
    if bad_reps:
        solara.Error(f"replications: expected 1 to {runner.MAX_REPLICATIONS}, got {reps}")
    if errors:
        solara.Warning(f"{len(errors)} field(s) hold a bad value and are left out of the run.")
    if run_task.pending:
        # A determinate bar: an indeterminate one animates, costing the browser's processor.
        solara.ProgressLinear(run_task.progress or 0)
        solara.Text(f"running: {run_task.progress or 0:.0f}%")
    elif run_task.cancelled:
        solara.Info("cancelled")
