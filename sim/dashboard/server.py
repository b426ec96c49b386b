"""Start the dashboard: a Solara server on localhost (``casim dashboard``).

:func:`serve` is what ``casim dashboard`` calls with plain arguments; it knows no flags.
The page (:mod:`sim.dashboard.page`) reads the scenario and base from the environment
variables :data:`SCENARIO_ENV` and :data:`BASE_ENV`, which :func:`serve` sets. The numba
kernels are compiled and the base's 200 replications run once, in a background thread
(:func:`sim.dashboard.runner.start_warm`), so the first run only runs the edited
scenario: it starts when the first page is shown (the page is served at once, with a
"warming up" note), or :data:`WARM_AFTER` seconds after the server answers if no page
came by then. The server also serves plotly's ``plotly.min.js`` at
:data:`sim.dashboard.plot.PLOTLY_JS_URL`, so the figures draw offline.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any

from sim.scenario import ScenarioError, load_scenario

#: Environment variable naming the scenario file the page opens.
SCENARIO_ENV = "CASIM_DASHBOARD_SCENARIO"
#: Environment variable naming the base scenario file to compare with.
BASE_ENV = "CASIM_DASHBOARD_BASE"
#: Default port (Solara's).
DEFAULT_PORT = 8765
#: The page's module and component, as Solara names an app.
APP = "sim.dashboard.page:Page"
#: Seconds after the server answers before it warms up without waiting for a page.
WARM_AFTER = 20.0


def default_base(scenario: Path) -> Path:
    """The baseline next to ``scenario`` (``baseline.yaml``), else ``scenario`` itself."""
    base = scenario.parent / "baseline.yaml"
    return base if base.is_file() else scenario


def serve(
    scenario: str | Path, *, port: int = DEFAULT_PORT, base: str | Path | None = None
) -> None:
    """Serve the dashboard on ``http://localhost:PORT`` until interrupted.

    Args:
        scenario: the scenario file to open.
        port: the TCP port (1-65535).
        base: the scenario to compare with (default: :func:`default_base`).

    Raises:
        ScenarioError: for a scenario that does not load (keyed by the file), or a port
            outside 1-65535 (keyed ``port``).
    """
    path = Path(scenario)
    load_scenario(path)  # bad input fails here, before the server starts
    base_path = default_base(path) if base is None else Path(base)
    load_scenario(base_path)
    if not 1 <= port <= 65535:
        raise ScenarioError(path, "port", f"expected a port from 1 to 65535, got {port}")
    os.environ[SCENARIO_ENV] = str(path.resolve())
    os.environ[BASE_ENV] = str(base_path.resolve())
    os.environ["SOLARA_APP"] = APP
    threading.Thread(target=_warm, args=(path, base_path, port), daemon=True).start()

    import uvicorn  # noqa: PLC0415 - server stack only when serving
    from solara.server import settings  # noqa: PLC0415

    with warnings.catch_warnings():  # solara 1.58 imports websockets.legacy (deprecated)
        warnings.simplefilter("ignore", DeprecationWarning)
        from solara.server.starlette import app  # noqa: PLC0415

    _add_plotly_route(app)
    # The page's module (pandas, pydantic, plotly) loads while the server starts answering.
    threading.Thread(
        target=importlib.import_module, args=(APP.split(":", maxsplit=1)[0],), daemon=True
    ).start()
    settings.main.mode = "production"
    settings.telemetry.mixpanel_enable = False
    print(f"casim dashboard: http://localhost:{port}", flush=True)
    uvicorn.run(app, host="localhost", port=port, log_level="warning")


def _add_plotly_route(app: Any) -> None:
    """Serve the plotly package's ``plotly.min.js`` at ``PLOTLY_JS_URL`` (cached a day)."""
    from starlette.responses import FileResponse  # noqa: PLC0415
    from starlette.routing import Route  # noqa: PLC0415

    from sim.dashboard.plot import PLOTLY_JS_URL, plotly_js  # noqa: PLC0415

    def plotly_file(_request: Any) -> FileResponse:
        headers = {"Cache-Control": "public, max-age=86400"}
        return FileResponse(plotly_js(), media_type="text/javascript", headers=headers)

    app.router.routes.insert(0, Route(PLOTLY_JS_URL, endpoint=plotly_file))


def _warm(path: Path, base: Path, port: int) -> None:
    """Warm up :data:`WARM_AFTER` s after the server answers, unless a page did it first."""
    url = f"http://localhost:{port}/readyz"
    with contextlib.suppress(Exception):  # a failed warm-up only costs time later
        for _ in range(600):
            try:
                with urllib.request.urlopen(url, timeout=5):
                    break
            except OSError:
                time.sleep(0.5)
        time.sleep(WARM_AFTER)
        from sim.dashboard.runner import start_warm  # noqa: PLC0415 - after the server

        start_warm(load_scenario(path), load_scenario(base))
