"""Command-line interface. The only place where errors become exit codes.

Expected failures (:class:`~hoopsense.errors.HoopsenseError`) print one line
on stderr and exit non-zero; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from rich.table import Table

from hoopsense import __version__
from hoopsense.cli_batch import add_batch_parsers, add_serve_parser, batch_command, serve_command
from hoopsense.cli_clips import add_clips_parser, clips_command
from hoopsense.cli_label import add_label_parser, label_command
from hoopsense.cli_options import ANALYZE_FLAGS, add_analysis_options, analyze_options, errors_in_flags
from hoopsense.cli_training import add_training_parsers, evaluate_command, train_command
from hoopsense.console import (
    console,
    err_console,
    progress_callbacks,
    run_progress,
)
from hoopsense.errors import ConfigError, HoopsenseError
from hoopsense.runtime import configure_process

if TYPE_CHECKING:
    from hoopsense.detection.base import Detector


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from hoopsense.detection.base import DetectorConfig

    parser = _Parser(prog="hoopsense", description="Per-player analysis of basketball video.")
    parser.add_argument("--version", action="version", version=f"hoopsense {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    a = sub.add_parser(
        "analyze", help="track players (and recognise their actions) into an annotated video, track and timeline files"
    )
    a.add_argument("input", type=Path, help="game video (mp4, mov, mkv, avi...)")
    a.add_argument(
        "--out", type=Path, help="annotated video to write (mp4); track files go beside it; missing folders are created"
    )
    a.add_argument("--tracks", type=Path, help="tracks CSV path (default: <out>.tracks.csv)")
    a.add_argument("--mot", type=Path, help="MOTChallenge txt path (default: <out>.mot.txt)")
    a.add_argument("--no-video", action="store_true", help="skip rendering; write only the track files")
    add_analysis_options(a)
    a.add_argument("--report", type=Path, help="also write the coach review page (HTML) here")
    a.add_argument("--quiet", action="store_true", help="no progress bar or summary")

    add_training_parsers(sub)
    add_clips_parser(sub, DetectorConfig())
    add_batch_parsers(sub)
    add_serve_parser(sub)
    add_label_parser(sub)

    r = sub.add_parser("report", help="(re)build the HTML coach review page of an earlier analysis")
    r.add_argument("run", type=Path, help="the analysis: its folder, its .run.json or its annotated video")
    r.add_argument("--out", type=Path, help="page to write (default: <stem>.report.html beside the run)")
    r.add_argument(
        "--embed-video",
        choices=("auto", "always", "never"),
        default="auto",
        help="embed the annotated video in the page (auto: when at most 25 MB) or link it by relative path",
    )

    i = sub.add_parser("inspect", help="print a recognizer checkpoint's metadata")
    i.add_argument("checkpoint", type=Path, help="recognizer checkpoint (.pt)")
    i.add_argument("--json", action="store_true", help="print the metadata as JSON")

    w = sub.add_parser("weights", help="known weights and the local cache")
    wsub = w.add_subparsers(dest="weights_command", required=True, metavar="ACTION")
    wsub.add_parser("list", help="list known weights and whether they are cached")
    return parser


def _analyze(args: argparse.Namespace, detector: Detector | None) -> int:
    from hoopsense import api

    if args.out is None and not args.no_video:
        raise ConfigError("--out is required unless --no-video is given")
    if args.out is not None and not args.no_video and args.out.suffix.lower() not in (".mp4", ".m4v", ".mov"):
        raise ConfigError(f"--out must be an .mp4 file, got {args.out}")
    options = analyze_options(args)
    if options.recognizer is None and not args.quiet:
        err_console.print("note: no --recognizer given: tracking only (no actions, no timeline files)")
    progress = run_progress("analysing", args.quiet)
    on_start, on_frame = progress_callbacks(progress)
    with progress:
        result = api.analyze(
            args.input, args.out if args.out is not None else Path(args.input.stem), options=options,
            detector=detector, render=not args.no_video, report=args.report, tracks=args.tracks, mot=args.mot,
            on_start=on_start, on_frame=on_frame,
        )  # fmt: skip
    for note in result.notes:
        err_console.print(f"note: {note}", soft_wrap=True)
    if result.skipped_packets:
        err_console.print(
            f"warning: skipped {result.skipped_packets} undecodable packets of {args.input}", soft_wrap=True
        )
    if not args.quiet:
        _summary(result)
    return 0


def _report(args: argparse.Namespace) -> int:
    from hoopsense.report.page import write_report

    out = write_report(args.run, args.out, embed=args.embed_video)
    console.print(f"wrote {out}")
    return 0


def _summary(result) -> None:
    table = Table(title="hoopsense analyze", show_header=False, box=None)
    table.add_row("input", f"{result.meta.path} ({result.meta.width}x{result.meta.height}, {result.meta.fps:.2f} fps)")
    table.add_row("frames", str(result.frames))
    table.add_row("players found", str(len(result.players)))
    people = identity_summary(result.identity)
    if people:
        table.add_row("identities", people)
    if result.cuts:
        frames = ", ".join(map(str, result.cuts[:10])) + (", ..." if len(result.cuts) > 10 else "")
        table.add_row("camera cuts", f"{len(result.cuts)} (frames {frames}): the tracker started afresh at each")
    if result.windows:
        brief = len(result.players) - len(result.classified)
        table.add_row(
            "actions",
            f"{len(result.events)} events from {result.windows} clips; {len(result.classified)} players classified"
            + (f", {brief} seen too briefly" if brief else ""),
        )
    table.add_row("speed", f"{result.fps:.1f} fps ({result.wall_s:.1f} s)")
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in result.stage_s.items())
    table.add_row("stages", stages)
    for path in result.outputs:
        table.add_row("wrote", str(path))
    console.print(table)


def identity_summary(identity: dict | None) -> str:
    """One line on how fragments became people, the teams, and who was left out of the outputs (and the flag
    that keeps them), from the identity section of ``run.json``; empty when there is nothing to say."""
    if not identity:
        return ""
    parts = []
    if identity.get("linking"):
        swaps, reclaims = int(identity.get("swaps") or 0), int(identity.get("reclaims") or 0)
        back = [f"{swaps} swapped pair{'s' if swaps != 1 else ''} of IDs given back" if swaps else "",
                f"{reclaims} ID{'s' if reclaims != 1 else ''} taken back from a track that drifted onto another "
                "player" if reclaims else ""]  # fmt: skip
        given_back = f" ({', '.join(b for b in back if b)})" if swaps or reclaims else ""
        parts.append(
            f"{identity.get('fragments', 0)} track fragments linked into {identity.get('identities', 0)} people"
            + given_back
        )
    counts = identity.get("team_counts") or {}
    sides = [f"{label} {counts[name]}" for name, label in (("A", "team A"), ("B", "team B"), ("other", "other"))
             if counts.get(name)]  # fmt: skip
    if sides:
        parts.append(", ".join(sides))
    left = [
        f"{counts[name]} {label} ({flag} keeps them)"
        for name, label, flag, kept in (
            ("referee", "referees", "--keep-referees", identity.get("keep_referees")),
            ("crowd", "in the crowd", "--keep-crowd", identity.get("keep_crowd")),
        )
        if counts.get(name) and not kept
    ]
    if left:
        parts.append("left out: " + ", ".join(left))
    return "; ".join(parts)


def _inspect(args: argparse.Namespace) -> int:
    import json

    from hoopsense.recognizer.model import (
        ARCHITECTURES,
        parameter_count,
        read_checkpoint,
    )
    from hoopsense.weights import sha256_of

    meta, state = read_checkpoint(args.checkpoint)
    doc = meta.to_dict()
    if args.json:
        console.print_json(json.dumps(doc))
        return 0
    table = Table(title=f"recognizer checkpoint {args.checkpoint}", show_header=False, box=None)
    table.add_row("architecture", f"{meta.architecture} ({ARCHITECTURES[meta.architecture].description})")
    params = parameter_count(state)
    table.add_row("parameters", f"{params / 1e6:.1f} M" if params >= 1e6 else f"{params / 1e3:.0f} k")
    table.add_row(
        "labels",
        ", ".join(f"{i}:{x}" + (" (background)" if x == meta.background else "") for i, x in enumerate(meta.labels)),
    )
    table.add_row("clip", f"{meta.clip_len} frames, every {meta.frame_step} frame(s)")
    if ARCHITECTURES[meta.architecture].uses_keypoints:
        pose = meta.training.get("pose", "not recorded")
        table.add_row("input", f"17 keypoints a frame, hip-centred and torso-scaled, from pose model {pose}")
        if ARCHITECTURES[meta.architecture].uses_ball:
            table.add_row(
                "ball", f"its position near the player, from detector {meta.training.get('ball', 'not recorded')}"
            )
    else:
        table.add_row(
            "crop",
            f"square x{meta.context} context, resized to {meta.resize}, centre {meta.crop_size}x{meta.crop_size}, {meta.colour}",
        )
        table.add_row("normalise", f"mean {list(meta.mean)}, std {list(meta.std)}")
    for key, value in meta.metrics.items():
        table.add_row(f"metric {key}", f"{value:.4f}" if isinstance(value, float) else str(value))
    for key, value in meta.training.items():
        table.add_row(f"training {key}", str(value))
    table.add_row("hoopsense", meta.hoopsense_version)
    table.add_row("file", f"{args.checkpoint.stat().st_size / 1e6:.1f} MB, sha256 {sha256_of(args.checkpoint)[:16]}")
    console.print(table, markup=False)
    return 0


def _weights_list() -> int:
    from hoopsense.weights import SPECS, cached_path

    table = Table(title="known weights")
    for col in ("name", "task", "cached", "description"):
        table.add_column(col)
    for spec in SPECS:
        path = cached_path(spec)
        table.add_row(spec.name, spec.task, str(path) if path.is_file() else "no", spec.description)
    console.print(table)
    console.print(f"cache folder: {cached_path(SPECS[0]).parent} (set HOOPSENSE_HOME to move it)")
    return 0


def main(argv: Sequence[str] | None = None, *, detector: Detector | None = None) -> int:
    """Run the CLI on ``argv``; returns the exit code.

    ``detector`` replaces the YOLO detector of ``analyze`` and ``clips`` (any
    :class:`~hoopsense.detection.Detector`; tests pass fakes this way).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_process()
    try:
        if args.command == "analyze":
            with errors_in_flags(ANALYZE_FLAGS):
                return _analyze(args, detector)
        if args.command == "batch":
            return batch_command(args)
        if args.command == "serve":
            return serve_command(args)
        if args.command == "train":
            return train_command(args)
        if args.command == "evaluate":
            return evaluate_command(args)
        if args.command == "clips":
            return clips_command(args, detector)
        if args.command == "label":
            return label_command(args)
        if args.command == "report":
            return _report(args)
        if args.command == "inspect":
            return _inspect(args)
        if args.command == "weights":
            return _weights_list()
        parser.error(f"unknown command {args.command}")
    except HoopsenseError as exc:
        label = "interrupted" if exc.exit_code == 130 else "error"
        err_console.print(f"{label}: {one_line(str(exc))}", soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted: no output was written")
        return 130
    return 1


def one_line(text: str) -> str:
    """A message on one line (a message quoting a file or a library may hold newlines)."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


if __name__ == "__main__":
    sys.exit(main())
