"""A job's analysis options, given as JSON, checked the way ``hoopsense analyze`` checks its flags.

``{"tracker": "botsort", "end": 60, "recognizer": "models/team.pt", "no_video": true}``
is read exactly as ``--tracker botsort --end 60 --recognizer models/team.pt
--no-video``. Files named by an option (detector, recognizer, re-ID
weights) must lie inside the service's allowed root (relative names are
relative to it), or be a known weights name (``hoopsense weights list``);
nothing outside the root is ever opened for a client.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any, NoReturn

from hoopsense.cli_options import ANALYZE_FLAGS, add_analysis_options, analyze_options, errors_in_flags
from hoopsense.errors import ConfigError
from hoopsense.pipeline.options import AnalyzeOptions

FILE_OPTIONS = ("detector", "recognizer", "fuse", "pose", "ball", "reid")
REID_WORDS = ("colour", "color", "off")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(message.replace("argument ", ""))


@functools.cache
def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="options", add_help=False, exit_on_error=False)
    add_analysis_options(p)
    p.add_argument("--no-video", action="store_true")
    p.add_argument("--no-report", action="store_true")
    return p


def option_names() -> list[str]:
    """Every option a job accepts (the ``analyze`` flags without the dashes, ``-`` as ``_``)."""
    return sorted(a.dest for a in _parser()._actions if a.option_strings)


def inside(root: Path, value: str, what: str) -> Path:
    """``value`` (relative to ``root`` unless absolute) as a resolved path inside ``root``; else ConfigError."""
    path = Path(value)
    path = (path if path.is_absolute() else root / path).resolve()
    try:
        path.relative_to(root.resolve())
    except ValueError:
        raise ConfigError(f"{what} {value!r} is outside the folder this service may read") from None
    return path


def _file_option(key: str, value: str, root: Path) -> str:
    from hoopsense.weights import get_spec

    if key == "reid" and value.lower() in REID_WORDS:
        return value
    if get_spec(value) is not None and "/" not in value and "\\" not in value:
        return value  # a known weights name: taken from the cache (or downloaded)
    path = inside(root, value, key)
    if not path.exists():
        raise ConfigError(f"{key} {value!r} not found in the service's folder")
    return str(path)


def parse_options(options: dict[str, Any], root: Path) -> tuple[AnalyzeOptions, bool, bool]:
    """``(analysis options, render the video, write the report)`` from a job's JSON options.

    Raises :class:`ConfigError` (one line, in the flag's name) for an unknown
    option, a bad value, or a file outside ``root``.
    """
    if not isinstance(options, dict):
        raise ConfigError('options must be a JSON object of analyze flags, e.g. {"tracker": "botsort"}')
    known = set(option_names())
    switches = {a.dest for a in _parser()._actions if a.choices is not None and set(a.choices) == {"on", "off"}}
    argv: list[str] = []
    for key, value in options.items():
        dest = str(key).lstrip("-").replace("-", "_")
        if dest not in known:
            raise ConfigError(f"unknown option {key!r}; known: {', '.join(sorted(known))}")
        if dest in switches and isinstance(value, bool):
            value = "on" if value else "off"  # {"teams": false} means --teams off, not "leave it at its default"
        if value is None or value is False:
            continue
        if isinstance(value, (dict, list)):
            raise ConfigError(f"option {key!r} must be a string, number or true")
        if dest in FILE_OPTIONS:
            value = _file_option(dest, str(value), root)
        flag = "--" + dest.replace("_", "-")
        argv += [flag] if value is True else [flag, str(value)]
    try:
        args = _parser().parse_args(argv)
    except argparse.ArgumentError as exc:
        raise ConfigError(str(exc).replace("argument ", "")) from None
    with errors_in_flags(ANALYZE_FLAGS):
        parsed = analyze_options(args)
    return parsed, not args.no_video, not args.no_report
