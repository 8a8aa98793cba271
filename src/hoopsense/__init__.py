"""hoopsense: per-player analysis of basketball video."""

__version__ = "0.1.0"
