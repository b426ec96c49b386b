"""The what-if dashboard (``casim dashboard``): a Solara app beside the command line.

Layers: :mod:`~sim.dashboard.levers` (which values the form edits, the edits, the YAML
export), :mod:`~sim.dashboard.runner` (paired background runs), :mod:`~sim.dashboard.views`
(plotly figures and tables), :mod:`~sim.dashboard.page` (the Solara page) and
:mod:`~sim.dashboard.server` (start the server). It imports from the engine, studies and
report layers; nothing imports from it except ``sim/cli.py``.
"""
