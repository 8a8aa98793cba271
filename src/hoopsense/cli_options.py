"""How CLI flags map to config fields: one table per config, used both to build the
config from parsed arguments and to say a config error in the flag's name.

``DETECTOR["batch_size"] == "det_batch_size"`` means ``DetectorConfig.batch_size``
comes from ``--det-batch-size``; a :class:`~hoopsense.errors.ConfigError` tagged
``DetectorConfig.batch_size`` is then reported as ``--det-batch-size must be ...``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from hoopsense.console import finite_float, positive_float
from hoopsense.errors import ConfigError

if TYPE_CHECKING:
    from hoopsense.identity.stage import IdentityConfig

T = TypeVar("T")

DETECTOR = {
    "weights": "detector", "imgsz": "imgsz", "conf": "conf", "device": "device", "batch_size": "det_batch_size",
    "backend": "det_backend",
}  # fmt: skip
TRACKER = {
    "activation": "track_activation", "high_conf": "track_high", "min_iou": "track_iou", "lost_buffer": "lost_buffer",
    "min_height": "min_height", "min_track_frames": "min_track_frames", "court": "court", "kind": "tracker",
}  # fmt: skip
IDENTITY = {"reid": "reid", "link_distance": "link_distance", "keep_referees": "keep_referees", "device": "device"}
RECOGNIZER = {
    "checkpoint": "recognizer", "device": "device", "batch_size": "batch_size", "precision": "precision",
    "compile": "compile",
}  # fmt: skip
TIMELINE = {"smooth": "smooth", "min_event_s": "min_event_s", "keep_background": "keep_background"}
ANALYZE = {"clip_len": "clip_len", "stride": "stride", "start_s": "start", "end_s": "end", "crf": "crf"}
CLIPS = {"start_s": "start", "end_s": "end", "placeholder": "placeholder"}
CLIP_TUBELETS = {"clip_len": "clip_len", "stride": "stride", "resize": "size"}


def add_identity_options(p: argparse._ActionsContainer) -> None:
    """The options ``analyze`` and ``clips`` share: which tracker, and how its fragments become one player."""
    from hoopsense.tracking.players import TRACKERS, TrackerConfig

    kind = TrackerConfig().kind
    p.add_argument(
        "--tracker",
        choices=TRACKERS,
        default=kind,
        help=f"bytetrack, botsort (camera-motion compensation) or ocsort (default: {kind})",
    )
    p.add_argument(
        "--reid",
        default=None,
        help="re-ID weights linking a player's track fragments into one identity: a name or local .pth/.onnx "
        "(default: osnet_x0_25_msmt17; colour histograms when unavailable), 'colour', or 'off' (no linking)",
    )
    p.add_argument(
        "--link-distance",
        type=finite_float,
        default=None,
        help="largest appearance distance to link a fragment to a player seen before (default: per embedder)",
    )
    p.add_argument(
        "--teams", choices=("on", "off"), default="on", help="split players into teams A/B and referees (default: on)"
    )
    p.add_argument(
        "--keep-referees", action="store_true", help="keep referees in the outputs (default: they are dropped)"
    )


def identity_config(args: argparse.Namespace, **fixed: Any) -> IdentityConfig:
    """The :class:`~hoopsense.identity.stage.IdentityConfig` of the flags :func:`add_identity_options` added."""
    from hoopsense.identity.stage import IdentityConfig

    device = "cuda" if str(getattr(args, "device", "cpu")).startswith("cuda") else "cpu"
    return build(IdentityConfig, IDENTITY, args, **{"teams": args.teams == "on", "device": device, **fixed})


def build(cls: type[T], table: Mapping[str, str], args: argparse.Namespace, **fixed: Any) -> T:
    """``cls(**{field: args.<dest>})`` for every field in ``table`` that the parser has, plus ``fixed``."""
    values = {f: getattr(args, dest) for f, dest in table.items() if hasattr(args, dest) and f not in fixed}
    return cls(**{**values, **fixed})


def flag_names(tables: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """``{"DetectorConfig.batch_size": "--det-batch-size", ...}`` from ``{"DetectorConfig": DETECTOR, ...}``."""
    return {
        f"{owner}.{f}": "--" + dest.replace("_", "-") for owner, table in tables.items() for f, dest in table.items()
    }


@contextmanager
def errors_in_flags(flags: Mapping[str, str]) -> Iterator[None]:
    """Re-tell a :class:`ConfigError` of a field in ``flags`` with the flag's name."""
    try:
        yield
    except ConfigError as exc:
        flag = flags.get(exc.field or "") or flags.get("*." + (exc.field or "").rsplit(".", 1)[-1])
        if flag is None:
            raise
        raise exc.renamed(flag) from None


def add_input_options(p: argparse._ActionsContainer, detector_default: str, device_default: str) -> None:
    """The options ``analyze`` and ``clips`` share: detector, device, court and range."""
    p.add_argument(
        "--detector",
        default=detector_default,
        help=f"weights name or local .pt/.onnx/OpenVINO folder (default: {detector_default})",
    )
    p.add_argument(
        "--device", default=device_default, help=f"auto, cpu, cuda, cuda:N or mps (default: {device_default})"
    )
    p.add_argument(
        "--court",
        help="court polygon 'x1,y1,x2,y2,...' in pixels or 0-1 fractions; only people whose feet are inside are tracked",
    )
    p.add_argument("--start", type=positive_float, default=0.0, help="start time in seconds (default: 0)")
    p.add_argument("--end", type=positive_float, default=None, help="end time in seconds (default: end of video)")
