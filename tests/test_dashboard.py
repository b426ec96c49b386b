"""The what-if dashboard: levers, edits, YAML export, and the page in a real browser."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sim.dashboard import levers as lv
from sim.dashboard import runner
from sim.engine.ensemble import run_ensemble
from sim.scenario import load_scenario
from sim.scenario.load import resolve

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.yaml"
JAPAN = ROOT / "scenarios" / "japan_summit.yaml"
CHROMIUM = Path("/usr/bin/chromium")
#: The lever the browser test raises: Japan's budget aimed at Uzbekistan.
SPLIT_KEY = "powers.JPN.budget_split.UZB"


def _edit(edits: dict[str, str], off: set[int] | None = None, file: Path = JAPAN):
    data = resolve(file)
    return data, *lv.apply_edits(data, lv.Edits(edits, off or set()), file)


def test_levers_carry_their_provenance():
    levers = {lev.key: lev for lev in lv.levers(resolve(JAPAN))}
    assert levers["powers.JPN.budget"].value == 0.8
    assert "Kazinform" in levers["powers.JPN.budget"].provenance
    assert all(lev.provenance for lev in levers.values() if lev.value is not None)
    assert any(k.startswith("projects.") for k in levers)
    assert any(k.startswith("events.") and k.endswith(".weight") for k in levers)


def test_edit_is_marked_set_in_dashboard():
    _, scenario, data, errors = _edit({"powers.JPN.budget": "2.5"})
    assert not errors
    assert scenario.powers["JPN"].budget == 2.5
    assert lv.provenance_of(data, "powers.JPN.budget").startswith(
        "assumption: set in dashboard: powers.JPN.budget=2.5"
    )


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("behaviour.hedging", "-1", "behaviour.hedging: expected a value greater than"),
        ("powers.JPN.budget", "[1, 2", "malformed YAML"),
        ("powers.JPN.budgte", "1", "did you mean 'budget'?"),
        ("powers.JPN.budget", "x" * 300, "expected at most"),
    ],
)
def test_bad_value_gets_the_cli_message_and_is_left_out(key, text, expected):
    _, scenario, _, errors = _edit({key: text, "powers.CHN.budget": "4"})
    assert expected in errors[key]
    assert "japan_summit.yaml" in errors[key].split(": ")[0]
    assert "\n" not in errors[key]
    assert scenario is not None
    assert scenario.powers["CHN"].budget == 4


@pytest.mark.parametrize(
    ("file", "edits", "off", "extends"),
    [
        (JAPAN, {"powers.JPN.budget": "3", "events.0.weight": "2"}, {2}, "baseline.yaml"),
        (BASELINE, {"behaviour.influence_decay": "0.1"}, set(), "baseline.yaml"),
        # The CPC outages are the baseline's own list entry: lists accumulate over
        # `extends`, so the file stands alone.
        (JAPAN, {"disruptions.0.capacity_loss": "0.5", "prices.oil.long_run": "60"}, set(), None),
    ],
)
def test_export_extends_and_reloads_to_the_same_values(tmp_path, file, edits, off, extends):
    _, scenario, data, errors = _edit(edits, off, file)
    assert not errors
    text = lv.export_yaml(file, data, lv.Edits(edits, off), "edited")
    path = tmp_path / "edited.yaml"
    path.write_text(text, encoding="utf-8")
    loaded = load_scenario(path)
    assert lv.model_values(loaded) == lv.model_values(scenario)
    assert (
        (f"extends: {ROOT / 'scenarios' / extends}" in text) if extends else "extends" not in text
    )
    assert "set in dashboard:" in text
    out = subprocess.run(
        [sys.executable, "-m", "sim", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr


def test_export_reproduces_the_dashboard_run(tmp_path):
    edits = lv.Edits({"powers.JPN.budget": "3"})
    data = resolve(BASELINE)
    scenario, edited, _ = lv.apply_edits(data, edits, BASELINE)
    pair = runner.run_pair(load_scenario(BASELINE), scenario, 6)
    path = tmp_path / "edited.yaml"
    path.write_text(lv.export_yaml(BASELINE, edited, edits, "edited"), encoding="utf-8")
    again = run_ensemble(path, replications=6, metrics=runner.view_metrics(scenario))
    assert np.array_equal(again.raw, pair.edited.raw)
    assert not np.array_equal(pair.base.raw, pair.edited.raw)


def test_run_pair_cancels():
    base = load_scenario(BASELINE)
    with pytest.raises(runner.Cancelled):
        runner.run_pair(base, base, 4, cancelled=lambda: True)


# ----------------------------------------------------------------------------- browser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 180.0) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            pytest.fail(f"dashboard exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return time.perf_counter() - t0
        except OSError:
            time.sleep(0.5)
    pytest.fail("dashboard did not start")
    return 0.0


@pytest.fixture
def dashboard(tmp_path):
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with (tmp_path / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sim", "dashboard", str(BASELINE), "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for(f"http://localhost:{port}/", proc)
            yield f"http://localhost:{port}/"
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.mark.slow
def test_browser_raise_japan_for_uzbekistan(dashboard, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    assert CHROMIUM.exists(), "install Debian's chromium (apt-get install chromium)"
    key, label, value = SPLIT_KEY, "JPN → UZB", "0.5"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.goto(dashboard)
        page.get_by_text("casim: what if?").wait_for(timeout=120_000)
        page.screenshot(path=tmp_path / "1-loaded.png")
        field = page.get_by_label(label, exact=True)
        field.fill(value)
        field.press("Enter")
        page.get_by_text(key).first.wait_for()
        page.get_by_text("● changed").wait_for(timeout=30_000)
        page.get_by_role("button", name="Run").click()
        cell = page.locator("#diff-UZB-JPN")
        cell.wait_for(timeout=120_000)
        page.screenshot(path=tmp_path / "2-result.png", full_page=True)
        assert float(cell.inner_text()) > 0, "Japan's effect in Uzbekistan should be positive"
        with page.expect_download() as info:
            page.get_by_role("button", name="Scenario YAML").click()
        saved = tmp_path / "edited.yaml"
        info.value.save_as(saved)
        browser.close()
    text = saved.read_text(encoding="utf-8")
    assert f"set in dashboard: {key}={value}" in text
    out = subprocess.run(
        [sys.executable, "-m", "sim", "validate", str(saved)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr


def test_views_are_valid_plotly_figures_in_plain_json():
    go = pytest.importorskip("plotly.graph_objects")
    page = pytest.importorskip("sim.dashboard.page")
    _, edited, _, errors = _edit({SPLIT_KEY: "0.5"}, file=BASELINE)
    assert not errors
    pair = runner.run_pair(load_scenario(BASELINE), edited, 6)
    drawn = 0
    for view in page.VIEWS:
        text = page.figure_json(pair, view)
        if text is None:
            continue
        fig = json.loads(text)  # strict JSON: no NaN, no numpy values
        go.Figure(fig)  # plotly's own validation of every property
        axes = {k.removeprefix("xaxis") for k in fig["layout"] if k.startswith("xaxis")}
        assert fig["data"]
        assert all(trace["xaxis"].removeprefix("x") in axes for trace in fig["data"])
        assert all(
            trace.get("hoverinfo") == "skip" or trace.get("hovertemplate") for trace in fig["data"]
        )
        drawn += 1
    assert drawn >= 6
    assert zipfile.ZipFile(io.BytesIO(page.figures_zip(page.figures(pair)))).namelist()


def test_run_waits_for_the_base_being_kept():
    base = load_scenario(BASELINE)
    thread = threading.Thread(target=runner.prime, args=(base, base.seed, 5))
    thread.start()
    key = (base.digest(), base.seed, 5)
    while key not in runner._INFLIGHT and key not in runner._CACHE:
        time.sleep(0.01)
    pair = runner.run_pair(base, base, 5)
    thread.join()
    assert runner.cached_pair(base) is not None
    assert pair.base is runner.cached_pair(base).base
    assert np.array_equal(pair.base.raw, pair.edited.raw)
