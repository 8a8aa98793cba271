"""``hoopsense clips``: cut a game's player clips into a SpaceJam-format folder for labelling (parser and handler).

Errors are raised as :class:`~hoopsense.errors.HoopsenseError`; :mod:`hoopsense.cli`
turns them into exit codes.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoopsense import cli_options
from hoopsense.cli_options import add_input_options, build, errors_in_flags, flag_names
from hoopsense.console import console, progress_callbacks, run_progress
from hoopsense.outputs import protect_inputs

if TYPE_CHECKING:
    from hoopsense.detection.base import Detector, DetectorConfig

CLIPS_FLAGS = flag_names({
    "DetectorConfig": {"weights": "detector", "device": "device"}, "TrackerConfig": {"court": "court"},
    "TubeletConfig": cli_options.CLIP_TUBELETS, "ClipsOptions": cli_options.CLIPS,
    "*": {"device": "device", "labels": "labels"},
})  # fmt: skip


def add_clips_parser(sub: Any, detector_defaults: DetectorConfig) -> None:
    c = sub.add_parser(
        "clips", help="cut every player's clips out of a game into a SpaceJam-format folder for labelling"
    )
    c.add_argument("input", type=Path, help="game video")
    c.add_argument("--out", type=Path, required=True, help="folder to create")
    add_input_options(c, detector_defaults.weights, detector_defaults.device)
    c.add_argument("--clip-len", type=int, default=16, help="frames per clip (default: 16, as SpaceJam)")
    c.add_argument(
        "--stride", type=int, default=None, help="frames between clip starts (default: the clip length: no overlap)"
    )
    c.add_argument("--size", type=int, default=128, help="side of the square crops in pixels (default: 128)")
    c.add_argument("--labels", type=Path, help="labels_dict.json to use (default: SpaceJam's 11 labels)")
    c.add_argument("--placeholder", default="no_action", help="label every clip starts with (default: no_action)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")


def clips_command(args: argparse.Namespace, detector: Detector | None = None) -> int:
    from hoopsense.detection.base import DetectorConfig
    from hoopsense.recognizer.tubelets import TubeletConfig
    from hoopsense.tracking.players import TrackerConfig
    from hoopsense.training.cutting import ClipsOptions, cut_clips, read_labels
    from hoopsense.video import probe

    with errors_in_flags(CLIPS_FLAGS):
        options = build(
            ClipsOptions, cli_options.CLIPS, args,
            detector=build(DetectorConfig, {"weights": "detector", "device": "device"}, args),
            tracker=TrackerConfig(court=args.court),
            tubelets=build(TubeletConfig, cli_options.CLIP_TUBELETS, args, stride=args.stride or args.clip_len),
            **({"labels": read_labels(args.labels)} if args.labels else {}),
        )  # fmt: skip
        protect_inputs([args.out], [args.input, args.detector, args.labels])
        meta = probe(args.input)
        progress = run_progress("cutting clips", args.quiet)
        on_start, on_frame = progress_callbacks(progress)
        with progress:
            result = cut_clips(
                args.input, args.out, options, meta=meta, detector=detector, on_start=on_start, on_frame=on_frame
            )
    console.print(
        f"wrote {result.clips} clips of {result.players} players to {result.out_dir} "
        f"(every clip is labelled {args.placeholder!r}: correct annotation_dict.json, then `hoopsense train {result.out_dir}`)"
    )
    return 0
