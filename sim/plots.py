"""Moved to :mod:`sim.report.figures`; only a colour table is left here.

The figure code still in ``sim/compare.py`` and ``sim/backtest.py`` imports it (the
studies re-layering removes that code). Delete this module when those imports are gone.
"""

from __future__ import annotations

from sim.vocab import COLOURS

#: Colours of the powers and markets (now :data:`sim.vocab.COLOURS`).
POWER_COLOURS: dict[str, str] = dict(COLOURS)
