"""Errors that hoopsense raises for expected failures.

Every expected failure (a bad input file, missing weights, an unwritable output)
is a :class:`HoopsenseError`. The CLI turns it into one line on stderr and a
non-zero exit code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class HoopsenseError(Exception):
    """Base class of all expected hoopsense failures. ``str(err)`` is the message."""

    exit_code = 1


class VideoError(HoopsenseError):
    """The input video is missing, empty, truncated or cannot be decoded."""


class OutputError(HoopsenseError):
    """An output file or folder cannot be written."""


class WeightsError(HoopsenseError):
    """Model weights are missing, corrupt, or cannot be fetched."""


class ConfigError(HoopsenseError):
    """An option or argument is out of range or inconsistent."""


class NoPlayersError(HoopsenseError):
    """The analysis finished but found no player to report."""


def check_range(name: str, value: float, lo: float, hi: float, unit: str = "") -> None:
    """Raise ``ConfigError("<name> must be in [lo, hi] <unit>, got <value>")`` unless ``lo <= value <= hi``."""
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be in [{lo}, {hi}]{' ' + unit if unit else ''}, got {value}")
