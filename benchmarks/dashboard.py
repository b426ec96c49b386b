"""Where the dashboard's time goes: engine, figures, and the page in a real browser.

Usage::

    python benchmarks/dashboard.py                  # engine + figures + browser (chromium)
    python benchmarks/dashboard.py --no-browser     # engine and figures only
    python benchmarks/dashboard.py --replications 500

Prints, for ``--replications`` (200) replications of the baseline with Japan's budget
for Uzbekistan raised (the browser test's edit), each figure with the 1-minute load
average next to it (the machine is shared; a loaded machine is slower):

* engine: the base's replications (run once, then kept) and the edited scenario's;
* figures: building each view (plain plotly dicts) and its JSON;
* browser (Playwright driving ``/usr/bin/chromium``, skipped if either is missing):
  ``casim dashboard`` start until it answers, the first page load until the page shows,
  the warm-up (kernels and the base's replications) until its indicator goes, then
  "click Run -> difference table shown" and "-> figure drawn", for a first and a second
  run (another value), and the number of traceback lines the server wrote on stderr.

No assertions: the numbers are for docs/cli.md and for the reader.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.dashboard import levers as lv  # noqa: E402
from sim.dashboard import page, runner  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402
from sim.scenario.load import resolve  # noqa: E402

BASELINE = ROOT / "scenarios" / "baseline.yaml"
CHROMIUM = Path("/usr/bin/chromium")
KEY, LABEL = "powers.JPN.budget_split.UZB", "JPN → UZB"


def load() -> str:
    """The 1-minute load average, for printing next to a time."""
    return f"load {os.getloadavg()[0]:.1f}"


def engine_and_figures(n: int) -> None:
    """Time the engine and each view's figure for ``n`` replications."""
    base = load_scenario(BASELINE)
    edited, _, errors = lv.apply_edits(resolve(BASELINE), lv.Edits({KEY: "0.5"}), BASELINE)
    assert not errors, errors
    t0 = time.perf_counter()
    runner.warm_up(base)
    print(f"kernels: {time.perf_counter() - t0:.2f} s to get ready ({load()})")
    t0 = time.perf_counter()
    runner.prime(base, edited.seed, n)
    print(f"engine, base ({n} replications, kept): {time.perf_counter() - t0:.2f} s ({load()})")
    t0 = time.perf_counter()
    pair = runner.run_pair(base, edited, n)
    print(f"engine, edited ({n} replications): {time.perf_counter() - t0:.2f} s ({load()})")
    t0 = time.perf_counter()
    page.diff_html(pair)
    print(f"difference table: {time.perf_counter() - t0:.3f} s")
    total = 0.0
    for name in page.VIEWS:
        t0 = time.perf_counter()
        text = page.figure_json(pair, name)
        took = time.perf_counter() - t0
        total += took
        size = len(text or "") / 1e3
        print(f"figure {name!r}: {took:.3f} s, {size:.0f} kB of JSON ({load()})")
    print(f"figures, all views: {total:.2f} s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 300.0) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"dashboard exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return time.perf_counter() - t0
        except OSError:
            time.sleep(0.1)
    raise SystemExit("dashboard did not start")


def _run_once(pw_page, value: str) -> tuple[float, float, str]:
    """Set the lever to ``value``, click Run; seconds to the table and to the figure.

    Also returns the page's own "ran in" time (the run inside the server).
    """
    field = pw_page.get_by_label(LABEL, exact=True)
    field.fill(value)
    field.press("Enter")
    pw_page.get_by_text("● changed").wait_for(timeout=30_000)
    old = pw_page.locator("#difference-table")
    if old.count():
        old.evaluate("e => e.setAttribute('data-old', '1')")
    t0 = time.perf_counter()
    pw_page.get_by_role("button", name="Run").click()
    pw_page.locator("#difference-table:not([data-old])").wait_for(timeout=300_000)
    table = time.perf_counter() - t0
    pw_page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=300_000)
    pw_page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')].some("
        "e => e.querySelectorAll('.scatterlayer .trace').length > 0)",
        timeout=300_000,
    )
    fig = time.perf_counter() - t0
    ran = pw_page.get_by_text("ran in").first.inner_text().split("ran in")[-1].strip(" .")
    return table, fig, ran


def browser(n: int) -> None:
    """Start ``casim dashboard``, drive it in chromium, print the times."""
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415
    except ImportError:
        print("browser: skipped (playwright is not installed)")
        return
    if not CHROMIUM.exists():
        print(f"browser: skipped ({CHROMIUM} is missing)")
        return
    port = _free_port()
    url = f"http://localhost:{port}/"
    with tempfile.TemporaryDirectory() as tmp:
        err_path = Path(tmp) / "stderr.log"
        with err_path.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "sim", "dashboard", str(BASELINE), "--port", str(port)],
                cwd=tmp,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            try:
                took = _wait_for(url, proc)
                print(f"server start (until it answers): {took:.2f} s ({load()})")
                _drive(sync_playwright, url, n)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        lines = err_path.read_text(encoding="utf-8", errors="replace").splitlines()
        tracebacks = sum("Traceback" in line for line in lines)
        print(f"server stderr: {len(lines)} lines, {tracebacks} tracebacks")
        for line in lines[:5]:
            print(f"  | {line}")


def _drive(sync_playwright, url: str, n: int) -> None:
    with sync_playwright() as pw:
        chrome = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        pw_page = chrome.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.perf_counter()
        pw_page.goto(url)
        pw_page.get_by_text("casim: what if?").wait_for(timeout=300_000)
        print(
            f"first page load (until the page shows): {time.perf_counter() - t0:.2f} s ({load()})"
        )
        pw_page.get_by_label(LABEL, exact=True).wait_for(timeout=300_000)
        print(f"levers shown: {time.perf_counter() - t0:.2f} s")
        pw_page.get_by_text("warming up").wait_for(state="detached", timeout=300_000)
        print(f"warm-up done (indicator gone): {time.perf_counter() - t0:.2f} s ({load()})")
        if n != runner.DEFAULT_REPLICATIONS:
            reps = pw_page.get_by_label("Replications")
            reps.fill(str(n))
            reps.press("Enter")
        for label, value in (("first", "0.5"), ("second", "0.6"), ("third", "0.4")):
            table, fig, ran = _run_once(pw_page, value)
            print(
                f"{label} run, click Run -> table shown: {table:.2f} s, -> figure drawn: "
                f"{fig:.2f} s; ran in {ran} in the server ({load()})"
            )
        chrome.close()


def main() -> None:
    """Parse the flags, print the breakdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=runner.DEFAULT_REPLICATIONS)
    parser.add_argument("--no-browser", action="store_true", help="skip the browser part")
    args = parser.parse_args()
    engine_and_figures(args.replications)
    if not args.no_browser:
        browser(args.replications)


if __name__ == "__main__":
    main()
