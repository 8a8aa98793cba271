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
    from hoopsense.pipeline.options import AnalyzeOptions
    from hoopsense.tracking.players import TrackerConfig

T = TypeVar("T")

DETECTOR = {
    "weights": "detector", "imgsz": "imgsz", "conf": "conf", "device": "device", "batch_size": "det_batch_size",
    "backend": "det_backend",
}  # fmt: skip
TRACKER = {
    "activation": "track_activation", "high_conf": "track_high", "min_iou": "track_iou", "lost_buffer": "lost_buffer",
    "min_height": "min_height", "min_track_frames": "min_track_frames", "court": "court", "kind": "tracker",
}  # fmt: skip
IDENTITY = {
    "reid": "reid", "link_distance": "link_distance", "split_distance": "split_distance",
    "keep_referees": "keep_referees", "keep_crowd": "keep_crowd", "device": "device",
}  # fmt: skip
RECOGNIZER = {
    "checkpoint": "recognizer", "device": "device", "batch_size": "batch_size", "precision": "precision",
    "compile": "compile", "pose": "pose", "ball": "ball", "fuse": "fuse",
}  # fmt: skip
TIMELINE = {"smooth": "smooth", "min_event_s": "min_event_s", "keep_background": "keep_background"}
ANALYZE = {
    "clip_len": "clip_len", "stride": "stride", "start_s": "start", "end_s": "end", "crf": "crf", "draw_pose": "draw_pose",
}  # fmt: skip
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
        "--split-distance",
        type=finite_float,
        default=None,
        help="split a player's track when its appearance stays farther than this from his identity (the tracker "
        "moved his ID onto someone else; 0.3 suits OSNet); off by default, as it also splits real players whose "
        "look changes",
    )
    p.add_argument(
        "--swap-repair",
        choices=("on", "off"),
        default="on",
        help="give two players their identities back when the tracker swapped their IDs and each now looks like "
        "the other (needs a re-ID network; default: on)",
    )
    p.add_argument(
        "--reclaim",
        choices=("on", "off"),
        default="on",
        help="give a returning player his identity back while the tracker still shows it on someone else (it "
        "moved his track onto another player when it lost him; needs a re-ID network; default: on)",
    )
    p.add_argument(
        "--drop-doubled",
        choices=("on", "off"),
        default="off",
        help="show a player the detector boxed twice (an arm raised for a shot: one box nearly inside the other, "
        "feet together) once, not as two players; it can also hide a player in contact (default: off)",
    )
    p.add_argument(
        "--cuts",
        choices=("on", "off"),
        default="on",
        help="start the tracker afresh at each camera cut, so that no track is carried across one onto another "
        "player; re-identification links the people after it to those before (with --reid off everyone after a "
        "cut is somebody new; default: on)",
    )
    p.add_argument(
        "--teams", choices=("on", "off"), default="on", help="split players into teams A/B and referees (default: on)"
    )
    p.add_argument(
        "--keep-referees", action="store_true", help="keep referees in the outputs (default: they are dropped)"
    )
    p.add_argument(
        "--keep-crowd",
        action="store_true",
        help="keep the crowd in front of the floor (people in no uniform, seen cut by the bottom edge and smaller "
        "than the people seen whole) in the outputs (default: they are dropped)",
    )


def identity_config(args: argparse.Namespace, **fixed: Any) -> IdentityConfig:
    """The :class:`~hoopsense.identity.stage.IdentityConfig` of the flags :func:`add_identity_options` added."""
    from hoopsense.identity.stage import IdentityConfig

    device = "cuda" if str(getattr(args, "device", "cpu")).startswith("cuda") else "cpu"
    flags = {"teams": args.teams == "on", "swap_repair": args.swap_repair == "on", "reclaim": args.reclaim == "on"}
    return build(IdentityConfig, IDENTITY, args, **{**flags, "device": device, **fixed})


def tracker_config(args: argparse.Namespace) -> TrackerConfig:
    """The :class:`~hoopsense.tracking.players.TrackerConfig` of the tracker flags the parser has."""
    from hoopsense.tracking.players import TrackerConfig

    return build(TrackerConfig, TRACKER, args, drop_doubled=args.drop_doubled == "on", cuts=args.cuts == "on")


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
        help=f"weights name or local .pt/.onnx/OpenVINO folder; a local pose model (e.g. yolo11n-pose.pt) also writes keypoints (default: {detector_default})",
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


def add_analysis_options(p: argparse.ArgumentParser) -> None:
    """The options that decide how a game is analysed (``analyze`` and ``batch``): detector, range,
    tracking, identities and teams, action recognition, video quality."""
    from hoopsense.detection.base import DETECTOR_BACKENDS, DetectorConfig
    from hoopsense.devices import PRECISIONS
    from hoopsense.pipeline.timeline import TimelineConfig
    from hoopsense.tracking.players import TrackerConfig

    det, trk, tl = DetectorConfig(), TrackerConfig(), TimelineConfig()  # the defaults shown in --help
    inputs = p.add_argument_group("detector, court and range")
    add_input_options(inputs, det.weights, det.device)
    inputs.add_argument(
        "--imgsz", type=int, default=det.imgsz, help=f"detector input size in pixels (default: {det.imgsz})"
    )
    inputs.add_argument(
        "--conf",
        type=finite_float,
        default=det.conf,
        help=f"minimum detection score (default: {det.conf}; low boxes keep tracks alive)",
    )
    inputs.add_argument(
        "--det-batch-size",
        type=int,
        default=det.batch_size,
        help="frames per detector batch (default: 8 on CUDA; on CPU 1 for .onnx files, 4 otherwise)",
    )
    inputs.add_argument(
        "--det-backend",
        choices=DETECTOR_BACKENDS,
        default=det.backend,
        help="auto (on CPU: OpenVINO for .pt, exported once, and OpenVINO folders; ONNX Runtime for .onnx; "
        "Ultralytics' predictor on GPUs), openvino, onnxruntime or ultralytics",
    )
    t = p.add_argument_group("tracking and player filters")
    t.add_argument(
        "--track-activation",
        type=finite_float,
        default=trk.activation,
        help=f"score needed to start a track (default: {trk.activation})",
    )
    t.add_argument(
        "--track-high",
        type=finite_float,
        default=trk.high_conf,
        help=f"boxes at or above it are matched first (default: {trk.high_conf})",
    )
    t.add_argument(
        "--track-iou",
        type=finite_float,
        default=trk.min_iou,
        help=f"minimum IoU of a track and a box to match (default: {trk.min_iou})",
    )
    t.add_argument(
        "--lost-buffer",
        type=int,
        default=trk.lost_buffer,
        help=f"frames (at 30 fps) a lost player is kept (default: {trk.lost_buffer})",
    )
    t.add_argument(
        "--min-height",
        type=finite_float,
        default=trk.min_height,
        help=f"minimum box height as a fraction of the frame height (default: {trk.min_height})",
    )
    t.add_argument(
        "--min-track-frames",
        type=int,
        default=trk.min_track_frames,
        help=f"drop tracks seen in fewer frames (default: {trk.min_track_frames})",
    )
    add_identity_options(p.add_argument_group("tracker, identities and teams"))
    rec = p.add_argument_group("action recognition (needs --recognizer)")
    rec.add_argument(
        "--recognizer",
        help="recognizer checkpoint (.pt with hoopsense metadata); adds actions to the video and writes the timeline files",
    )
    rec.add_argument(
        "--fuse",
        metavar="CHECKPOINT",
        help="a second recognizer with the same classes (e.g. R(2+1)D beside a skeleton checkpoint); the two "
        "class probabilities are averaged",
    )
    rec.add_argument(
        "--pose",
        metavar="WEIGHTS",
        help="pose model that finds keypoints in player crops for a skeleton recognizer when the detector is not "
        "a pose model (default: the one the checkpoint was trained with)",
    )
    rec.add_argument(
        "--ball",
        metavar="WEIGHTS",
        help="detector with a ball class that finds the ball in player crops for a skeleton-ball-tcn recognizer "
        "(default: the one the checkpoint was trained with)",
    )
    rec.add_argument("--clip-len", type=int, default=None, help="frames per clip (default: the checkpoint's)")
    rec.add_argument(
        "--stride",
        type=int,
        default=None,
        help="frames between clip starts (default: one clip, every frame classified once; half a clip classifies each frame twice)",
    )
    rec.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="clips per recognizer batch, all players together (default: 16 on CUDA, 1 on CPU where bigger batches are slower)",
    )
    rec.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto (fp16 on CUDA, bf16 on CPUs with native bf16, else fp32), fp32, bf16 or fp16",
    )
    rec.add_argument(
        "--compile",
        action="store_true",
        help="run the recognizer through torch.compile (a minute to compile; for long runs on a GPU)",
    )
    rec.add_argument(
        "--min-event-s",
        type=finite_float,
        default=tl.min_event_s,
        help=f"shortest action event in seconds; shorter runs merge into their neighbour (default: {tl.min_event_s})",
    )
    rec.add_argument(
        "--smooth",
        type=int,
        default=tl.smooth,
        help=f"odd number of clip windows averaged per decision (default: {tl.smooth})",
    )
    rec.add_argument(
        "--keep-background",
        action="store_true",
        default=None,
        help="keep events of the checkpoint's background class (e.g. no_action)",
    )
    p.add_argument(
        "--draw-pose",
        action="store_true",
        help="draw each player's skeleton on the video (needs a pose model as --detector, e.g. yolo11n-pose.pt)",
    )
    p.add_argument(
        "--crf", type=int, default=23, help="H.264 quality of the annotated video, 0-51, lower is better (default: 23)"
    )


ANALYZE_FLAGS = flag_names({
    "DetectorConfig": DETECTOR, "TrackerConfig": TRACKER, "RecognizerConfig": RECOGNIZER, "TimelineConfig": TIMELINE,
    "AnalyzeOptions": ANALYZE, "IdentityConfig": IDENTITY,
    "*": {"device": "device", "precision": "precision", "keep_background": "keep_background", "report": "report"},
})  # fmt: skip


def analyze_options(args: argparse.Namespace) -> AnalyzeOptions:
    """The :class:`AnalyzeOptions` of parsed :func:`add_analysis_options` arguments (validated by the configs)."""
    from hoopsense.detection.base import DetectorConfig
    from hoopsense.pipeline.options import AnalyzeOptions
    from hoopsense.pipeline.timeline import TimelineConfig
    from hoopsense.recognizer.config import RecognizerConfig

    if args.recognizer is None:
        given = [
            f
            for f, v in (
                ("--batch-size", args.batch_size),
                ("--precision", None if args.precision == "auto" else 1),
                ("--compile", 1 if args.compile else None),
                ("--fuse", args.fuse),
                ("--pose", args.pose),
                ("--ball", args.ball),
            )
            if v is not None
        ]
        if given:
            raise ConfigError(f"{given[0]} needs --recognizer")
    return build(
        AnalyzeOptions, ANALYZE, args,
        detector=build(DetectorConfig, DETECTOR, args),
        tracker=tracker_config(args),
        identity=identity_config(args),
        recognizer=build(RecognizerConfig, RECOGNIZER, args) if args.recognizer is not None else None,
        timeline=build(TimelineConfig, TIMELINE, args, keep_background=bool(args.keep_background)),
    )  # fmt: skip
