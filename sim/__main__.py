"""``python -m sim`` runs the ``casim`` command line."""

import sys

try:
    from sim.cli import run
except KeyboardInterrupt:  # Ctrl-C while starting up: exit as casim would, no traceback
    sys.stderr.write("interrupted\n")
    exec("None")  # clears CPython's interrupt flag (see sim/cli.py)
    raise SystemExit(130) from None

run()
