"""A static plotly figure in the page: JSON text in, plotly.js draws it, nothing comes back.

solara's ``FigurePlotly`` draws through plotly's ``FigureWidget``, which sends its ~5 MB
JavaScript bundle over the websocket each time a figure widget is made, validates every
trace in Python, and answers the browser's relayout and hover messages (plotly 7 with
solara 1.58 logged ``AssertionError`` tracebacks from those). :class:`PlotlyView` is a
small anywidget instead: its one synced value is the figure as JSON text, the browser
loads ``plotly.min.js`` once from :data:`PLOTLY_JS_URL` (served by
:func:`sim.dashboard.server.serve` from the plotly package, so it works offline; the
plotly CDN is the fallback), and hover, zoom and pan happen in the browser alone.
"""

from __future__ import annotations

from pathlib import Path

import anywidget
import plotly
import solara
import traitlets
from plotly.offline import get_plotlyjs_version

#: Where the server serves plotly's own ``plotly.min.js``.
PLOTLY_JS_URL = "/_casim/plotly.min.js"
#: The fallback when the page is served without that route (``solara run``).
PLOTLY_CDN_URL = f"https://cdn.plot.ly/plotly-{get_plotlyjs_version()}.min.js"

_ESM = """
function load(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src;
    s.onload = () => (window.Plotly ? resolve(window.Plotly) : reject(new Error(src)));
    s.onerror = () => reject(new Error(src));
    document.head.appendChild(s);
  });
}
function plotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.__casimPlotly) {
    window.__casimPlotly = load("%LOCAL%").catch(() => load("%CDN%"));
  }
  return window.__casimPlotly;
}
async function render({ model, el }) {
  const div = document.createElement("div");
  div.style.width = "100%";
  el.appendChild(div);
  const Plotly = await plotly();
  const draw = () => {
    const text = model.get("figure");
    if (!text) { Plotly.purge(div); return; }
    const fig = JSON.parse(text);
    Plotly.react(div, fig.data, fig.layout, { responsive: true, displaylogo: false });
  };
  // A new figure comes with the run's other results: let the browser paint those
  // (the difference table) first, then draw.
  const later = () => requestAnimationFrame(() => setTimeout(draw, 0));
  draw();
  model.on("change:figure", later);
  return () => { model.off("change:figure", later); Plotly.purge(div); };
}
export default { render };
"""


class PlotlyView(anywidget.AnyWidget):
    """One plotly figure, given as JSON text (``{"data": [...], "layout": {...}}``)."""

    _esm = _ESM.replace("%LOCAL%", PLOTLY_JS_URL).replace("%CDN%", PLOTLY_CDN_URL)
    figure = traitlets.Unicode("").tag(sync=True)


def plotly_js() -> Path:
    """The ``plotly.min.js`` file of the installed plotly package."""
    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@solara.component
def Plot(figure: str) -> solara.Element:  # noqa: N802 - Solara components are CamelCase
    """Draw the figure ``figure`` (JSON text); a new text redraws the same widget."""
    return PlotlyView.element(figure=figure)
