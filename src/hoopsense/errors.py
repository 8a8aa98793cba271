"""Errors that hoopsense raises for expected failures, and the checks that configs share.

Every expected failure (a bad input file, missing weights, an unwritable output)
is a :class:`HoopsenseError`. The CLI turns it into one line on stderr and a
non-zero exit code; anything else is a bug and keeps its traceback.

Configs validate in their own field names (``batch_size must be in [1, 256],
got 0``) and tag the error with the field (``DetectorConfig.batch_size``), so
the CLI can say it in its flag names (``--det-batch-size``) without the
library knowing about flags.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


class HoopsenseError(Exception):
    """Base class of all expected hoopsense failures. ``str(err)`` is the message."""

    exit_code = 1


class VideoError(HoopsenseError):
    """The input video is missing, empty, truncated or cannot be decoded."""


class OutputError(HoopsenseError):
    """An output file or folder cannot be written, or would replace an input."""


class WeightsError(HoopsenseError):
    """Model weights are missing, corrupt, unsafe, or cannot be fetched."""


class ConfigError(HoopsenseError):
    """An option or argument is out of range or inconsistent.

    ``field`` (``"DetectorConfig.batch_size"``) names the config field at fault,
    when there is one; the message then starts with the field's own name.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def renamed(self, name: str) -> ConfigError:
        """The same error told with ``name`` (e.g. a CLI flag) in place of the field's name."""
        text = str(self)
        short = self.field.rsplit(".", 1)[-1] if self.field else ""
        text = name + text[len(short) :] if short and text.startswith(short) else f"{name}: {text}"
        return ConfigError(text, field=self.field)


class NoPlayersError(HoopsenseError):
    """The analysis finished but found no player to report."""


class Interrupted(HoopsenseError):
    """The user stopped the work (Ctrl-C, SIGTERM); the message says what was kept."""

    exit_code = 130


def field_name(owner: object, field: str) -> str:
    """``DetectorConfig.batch_size`` for a config instance (or class, or plain name) and a field."""
    if isinstance(owner, str):
        return f"{owner}.{field}"
    cls = owner if isinstance(owner, type) else type(owner)
    return f"{cls.__name__}.{field}"


def _fmt(v: float) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def check_range(
    owner: object,
    field: str,
    lo: float,
    hi: float,
    unit: str = "",
    *,
    open_low: bool = False,
    open_high: bool = False,
    open_interval: bool = False,
    multiple_of: int | None = None,
    value: float | None = None,
) -> None:
    """Raise :class:`ConfigError` unless ``owner.field`` (or ``value``) is a finite number in range.

    The interval is ``[lo, hi]``; ``open_low`` excludes ``lo``, ``open_high``
    excludes ``hi`` and ``open_interval`` both. NaN and infinities are always refused.
    """
    v = getattr(owner, field) if value is None else value
    high_open = open_high or open_interval
    low_open = open_low or open_interval
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if ok:
        ok = (v > lo if low_open else v >= lo) and (v < hi if high_open else v <= hi)
    if ok and multiple_of and (not float(v).is_integer() or int(v) % multiple_of):
        ok = False
    if not ok:
        interval = f"{'(' if low_open else '['}{_fmt(lo)}, {_fmt(hi)}{')' if high_open else ']'}"
        extra = f", a multiple of {multiple_of}" if multiple_of else ""
        raise ConfigError(
            f"{field} must be in {interval}{' ' + unit if unit else ''}{extra}, got {v}", field=field_name(owner, field)
        )


def check_finite(owner: object, field: str, *, minimum: float | None = None) -> None:
    """Raise :class:`ConfigError` unless ``owner.field`` is None or a finite number (>= ``minimum``)."""
    v = getattr(owner, field)
    if v is None:
        return
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        raise ConfigError(f"{field} must be a finite number, got {v}", field=field_name(owner, field))
    if minimum is not None and v < minimum:
        raise ConfigError(f"{field} must be >= {_fmt(minimum)}, got {v}", field=field_name(owner, field))


def check_choice(owner: object, field: str, choices: Iterable[str]) -> None:
    """Raise :class:`ConfigError` unless ``owner.field`` is one of ``choices``."""
    v = getattr(owner, field)
    options = tuple(choices)
    if v not in options:
        raise ConfigError(f"{field} must be one of {', '.join(options)}, got {v!r}", field=field_name(owner, field))


def check_text(owner: object, field: str) -> None:
    """Raise :class:`ConfigError` unless ``owner.field`` is a non-empty string."""
    v = getattr(owner, field)
    if not isinstance(v, str) or not v.strip():
        raise ConfigError(f"{field} must be a non-empty text, got {v!r}", field=field_name(owner, field))


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none), at most 200 characters:
    what a one-line error says of a library's multi-line failure."""
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
