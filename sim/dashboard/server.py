"""Start the dashboard: a Solara server on localhost (``casim dashboard``).

:func:`serve` is what ``casim dashboard`` calls with plain arguments; it knows no flags.
The page (:mod:`sim.dashboard.page`) reads the scenario and base from the environment
variables :data:`SCENARIO_ENV` and :data:`BASE_ENV`, which :func:`serve` sets. The numba
kernels are compiled in a background thread as the server starts, so the first run does
not pay for them, and the base's 200 replications are run once, so the first run only
runs the edited scenario.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from pathlib import Path

from sim.scenario import ScenarioError, load_scenario

#: Environment variable naming the scenario file the page opens.
SCENARIO_ENV = "CASIM_DASHBOARD_SCENARIO"
#: Environment variable naming the base scenario file to compare with.
BASE_ENV = "CASIM_DASHBOARD_BASE"
#: Default port (Solara's).
DEFAULT_PORT = 8765
#: The page's module and component, as Solara names an app.
APP = "sim.dashboard.page:Page"


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
    threading.Thread(target=_warm, args=(path, base_path), daemon=True).start()

    import uvicorn  # noqa: PLC0415 - server stack only when serving
    from solara.server import settings  # noqa: PLC0415

    with warnings.catch_warnings():  # solara 1.58 imports websockets.legacy (deprecated)
        warnings.simplefilter("ignore", DeprecationWarning)
        from solara.server.starlette import app  # noqa: PLC0415

    settings.main.mode = "production"
    settings.telemetry.mixpanel_enable = False
    print(f"casim dashboard: http://localhost:{port}", flush=True)
    uvicorn.run(app, host="localhost", port=port, log_level="warning")


def _warm(path: Path, base: Path) -> None:
    """Compile the kernels and run the base's default replications (errors: the page's)."""
    from sim.dashboard.runner import prime, warm_up  # noqa: PLC0415

    with contextlib.suppress(Exception):  # a failed warm-up only costs time later
        scenario = load_scenario(path)
        warm_up(scenario)
        prime(load_scenario(base), scenario.seed)
