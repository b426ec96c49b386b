"""casim: an agent-based model of great-power competition in Central Asia."""

__version__ = "0.1.0"
