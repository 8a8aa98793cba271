"""``hoopsense clips``: cut a game's player clips into a SpaceJam-format folder for labelling (parser and handler).

``clips GAME`` runs the detector and tracker on the game; ``clips --from-run RUN``
cuts the same clips from a finished ``analyze --recognizer`` run's tracks and
starts each clip with the run's prediction. Errors are raised as
:class:`~hoopsense.errors.HoopsenseError`; :mod:`hoopsense.cli` turns them into exit codes.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoopsense import cli_options
from hoopsense.cli_options import (
    add_identity_options,
    add_input_options,
    build,
    errors_in_flags,
    flag_names,
    identity_config,
    tracker_config,
)
from hoopsense.console import console, err_console, progress_callbacks, run_progress
from hoopsense.errors import ConfigError
from hoopsense.outputs import protect_inputs

if TYPE_CHECKING:
    from hoopsense.detection.base import Detector, DetectorConfig
    from hoopsense.training.cutting import ClipsResult

CLIPS_FLAGS = flag_names({
    "DetectorConfig": {"weights": "detector", "device": "device"},
    "TrackerConfig": {"court": "court", "kind": "tracker"}, "IdentityConfig": cli_options.IDENTITY,
    "TubeletConfig": cli_options.CLIP_TUBELETS, "ClipsOptions": cli_options.CLIPS,
    "*": {"device": "device", "labels": "labels"},
})  # fmt: skip


def add_clips_parser(sub: Any, detector_defaults: DetectorConfig) -> None:
    c = sub.add_parser(
        "clips", help="cut every player's clips out of a game (or an analysed run) into a folder for labelling"
    )
    c.add_argument(
        "input", type=Path, nargs="?", default=None, metavar="GAME",
        help="game video (with --from-run: default the video the run analysed; give it when that one moved)",
    )  # fmt: skip
    c.add_argument("--out", type=Path, required=True, help="folder to create")
    c.add_argument(
        "--from-run", type=Path, metavar="RUN",
        help="cut the clips of an `analyze --recognizer` run (its folder, .run.json or annotated video) from its "
        "tracks, no detector, each clip starting with the run's prediction as an unreviewed proposal",
    )  # fmt: skip
    add_input_options(c, detector_defaults.weights, detector_defaults.device)
    add_identity_options(c)
    c.add_argument("--clip-len", type=int, default=16, help="frames per clip (default: 16, as SpaceJam)")
    c.add_argument(
        "--stride", type=int, default=None, help="frames between clip starts (default: the clip length: no overlap)"
    )
    c.add_argument("--size", type=int, default=128, help="side of the square crops in pixels (default: 128)")
    c.add_argument(
        "--labels",
        type=Path,
        help="labels_dict.json to use (default: SpaceJam's 11 labels; with --from-run: the run's)",
    )
    c.add_argument(
        "--placeholder", default=None, help="give every clip this label (default: none, clips start unlabelled)"
    )
    c.add_argument("--quiet", action="store_true", help="no progress bar")


def _label_names(path: Path) -> tuple[str, ...]:
    from hoopsense.label.store import read_label_names

    try:
        return read_label_names(path)
    except ConfigError as exc:
        raise ConfigError(str(exc), field="ClipsOptions.labels") from None


def _check_from_run_flags(args: argparse.Namespace) -> None:
    """Refuse the options that ``--from-run`` cannot use (no detector runs; the labels are the run's)."""
    from hoopsense.detection.base import DetectorConfig
    from hoopsense.tracking.players import TrackerConfig

    defaults = DetectorConfig()
    given = [
        flag
        for flag, used in (
            ("--labels", args.labels is not None),
            ("--placeholder", args.placeholder is not None),
            ("--court", args.court is not None),
            ("--detector", args.detector != defaults.weights),
            ("--device", args.device != defaults.device),
            ("--tracker", args.tracker != TrackerConfig().kind),
            ("--reid", args.reid is not None),
            ("--link-distance", args.link_distance is not None),
            ("--split-distance", args.split_distance is not None),
            ("--swap-repair", args.swap_repair != "on"),
            ("--reclaim", args.reclaim != "on"),
            ("--drop-doubled", args.drop_doubled != "off"),
            ("--cuts", args.cuts != "on"),
            ("--teams", args.teams != "on"),
            ("--keep-referees", args.keep_referees),
            ("--keep-crowd", args.keep_crowd),
        )
        if used
    ]
    if given:
        raise ConfigError(
            f"{given[0]} cannot be used with --from-run: the clips come from the run's tracks "
            "and start with its recognizer's labels"
        )


def clips_command(args: argparse.Namespace, detector: Detector | None = None) -> int:
    from hoopsense.detection.base import DetectorConfig
    from hoopsense.recognizer.tubelets import TubeletConfig
    from hoopsense.training.cutting import ClipsOptions, cut_clips
    from hoopsense.video import probe

    if args.from_run is None and args.input is None:
        raise ConfigError("give the game video (hoopsense clips GAME --out DIR), or --from-run RUN")
    with errors_in_flags(CLIPS_FLAGS):
        if args.from_run is not None:
            _check_from_run_flags(args)
        options = build(
            ClipsOptions, cli_options.CLIPS, args,
            detector=build(DetectorConfig, {"weights": "detector", "device": "device"}, args),
            tracker=tracker_config(args),
            identity=identity_config(args, gallery=False),
            tubelets=build(TubeletConfig, cli_options.CLIP_TUBELETS, args, stride=args.stride or args.clip_len),
            **({"labels": _label_names(args.labels)} if args.labels else {}),
        )  # fmt: skip
        protect_inputs([args.out], [args.input, args.detector, args.labels, args.from_run])
        progress = run_progress("cutting clips", args.quiet)
        on_start, on_frame = progress_callbacks(progress)
        if args.from_run is not None:
            from hoopsense.training.from_run import cut_clips_from_run

            with progress:
                result = cut_clips_from_run(
                    args.from_run, args.out, options, video=args.input, on_start=on_start, on_frame=on_frame
                )
        else:
            meta = probe(args.input)
            with progress:
                result = cut_clips(
                    args.input, args.out, options, meta=meta, detector=detector, on_start=on_start, on_frame=on_frame
                )
    for note in result.notes:
        err_console.print(f"note: {note}", soft_wrap=True)
    console.print(_summary(result, args.placeholder, from_run=args.from_run is not None))
    return 0


def _summary(result: ClipsResult, placeholder: str | None, *, from_run: bool) -> str:
    out = result.out_dir
    wrote = f"wrote {result.clips} clips of {result.players} players to {out}"
    then = f"`hoopsense label {out}`, then `hoopsense train {out}`"
    if from_run:
        left = result.clips - result.labelled
        return (
            f"{wrote}; {result.proposed} start with the run's prediction as an unreviewed proposal"
            + (f", {left} that no event of the run covers start unlabelled" if left else "")
            + f"; review them with {then}"
        )
    if placeholder is not None:
        return f"{wrote}, every clip labelled {placeholder!r}; correct them with {then}"
    return f"{wrote}; label them with {then}"
