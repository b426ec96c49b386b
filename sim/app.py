"""A Mesa-style SolaraViz page: one replication of a scenario, stepped quarter by quarter.

For users who know Mesa's examples::

    solara run sim/app.py

shows :class:`~sim.core.model.GeoModel` (one replication of the scenario named by the
``CASIM_SCENARIO`` environment variable, the baseline by default) with Mesa's step, play
and reset buttons and plots of the model's Mesa reporters: influence shares over
Uzbekistan and Kazakhstan, and GDP. The ensemble dashboard (bands over many
replications, paired differences, levers) is ``casim dashboard``
(:mod:`sim.dashboard`).
"""

from __future__ import annotations

import os
from pathlib import Path

from mesa.visualization import SolaraViz, make_plot_component

from sim.core.model import GeoModel
from sim.scenario import load_scenario

#: The scenario this page steps (``CASIM_SCENARIO`` or the shipped baseline).
SCENARIO = Path(
    os.environ.get(
        "CASIM_SCENARIO", Path(__file__).resolve().parent.parent / "scenarios" / "baseline.yaml"
    )
)


def _components(model: GeoModel) -> list:
    """One plot per quantity, coloured like the PNG figures (the vocabulary's colours)."""
    vocab = model.params.vocab
    plots = []
    for state in vocab.states[:2]:
        measure = {f"influence_share:{state}:{i}": vocab.colour(i) for i in vocab.influencers}
        plots.append(make_plot_component(measure))
    plots.append(make_plot_component({f"gdp:{s}": vocab.colour(s) for s in vocab.states}))
    return plots


model = GeoModel(scenario=load_scenario(SCENARIO))
page = SolaraViz(
    model,
    components=_components(model),
    model_params={"scenario": str(SCENARIO)},
    name=f"casim: {model.spec.name}, one replication",
)
