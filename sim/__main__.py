"""``python -m sim`` runs the ``casim`` command line."""

from sim.cli import run

run()
