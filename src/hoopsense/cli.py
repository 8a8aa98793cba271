"""Command-line interface. The only place where errors become exit codes.

Expected failures (:class:`~hoopsense.errors.HoopsenseError`) print one line
on stderr and exit non-zero; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from hoopsense import __version__
from hoopsense.cli_training import (
    add_training_parsers,
    clips_command,
    evaluate_command,
    train_command,
)
from hoopsense.console import (
    console,
    err_console,
    positive_float,
    progress_callbacks,
    run_progress,
)
from hoopsense.errors import ConfigError, HoopsenseError


def build_parser() -> argparse.ArgumentParser:
    from hoopsense.pipeline.timeline import TimelineConfig
    from hoopsense.recognizer.config import PRECISIONS
    from hoopsense.tracker.detector import DetectorConfig
    from hoopsense.tracker.tracker import TrackerConfig

    _DET, _TRK, _TL = DetectorConfig(), TrackerConfig(), TimelineConfig()  # noqa: N806 - the defaults shown in --help
    parser = argparse.ArgumentParser(prog="hoopsense", description="Per-player analysis of basketball video.")
    parser.add_argument("--version", action="version", version=f"hoopsense {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    a = sub.add_parser("analyze", help="track players (and recognise their actions) into an annotated video, track and timeline files")
    a.add_argument("input", type=Path, help="game video (mp4, mov, mkv, avi...)")
    a.add_argument("--out", type=Path, help="annotated video to write (mp4); track files go beside it")
    a.add_argument("--tracks", type=Path, help="tracks CSV path (default: <out>.tracks.csv)")
    a.add_argument("--mot", type=Path, help="MOTChallenge txt path (default: <out>.mot.txt)")
    a.add_argument("--no-video", action="store_true", help="skip rendering; write only the track files")
    det = a.add_argument_group("detector")
    det.add_argument("--detector", default=_DET.weights, help=f"weights name or local .pt/.onnx/OpenVINO folder (default: {_DET.weights})")
    det.add_argument("--imgsz", type=int, default=_DET.imgsz, help=f"detector input size in pixels (default: {_DET.imgsz})")
    det.add_argument("--conf", type=float, default=_DET.conf, help=f"minimum detection score (default: {_DET.conf}; low boxes keep tracks alive)")
    det.add_argument("--device", default=_DET.device, help=f"auto, cpu, cuda, cuda:N or mps (default: {_DET.device})")
    det.add_argument("--det-batch-size", type=int, default=_DET.batch_size, help=f"frames per detector batch (default: {_DET.batch_size})")
    trk = a.add_argument_group("tracking and player filters")
    trk.add_argument("--track-activation", type=float, default=_TRK.activation, help=f"score needed to start a track (default: {_TRK.activation})")
    trk.add_argument("--track-high", type=float, default=_TRK.high_conf, help=f"boxes at or above it are matched first (default: {_TRK.high_conf})")
    trk.add_argument("--track-iou", type=float, default=_TRK.min_iou, help=f"minimum IoU of a track and a box to match (default: {_TRK.min_iou})")
    trk.add_argument("--lost-buffer", type=int, default=_TRK.lost_buffer, help=f"frames (at 30 fps) a lost player is kept (default: {_TRK.lost_buffer})")
    trk.add_argument("--min-height", type=float, default=_TRK.min_height, help=f"minimum box height as a fraction of the frame height (default: {_TRK.min_height})")
    trk.add_argument("--min-track-frames", type=int, default=_TRK.min_track_frames, help=f"drop tracks seen in fewer frames (default: {_TRK.min_track_frames})")
    trk.add_argument("--court", help="court polygon 'x1,y1,x2,y2,...' in pixels or 0-1 fractions; only people whose feet are inside are tracked")
    rec = a.add_argument_group("action recognition (needs --recognizer)")
    rec.add_argument("--recognizer", help="recognizer checkpoint (.pt with hoopsense metadata); adds actions to the video and writes the timeline files")
    rec.add_argument("--clip-len", type=int, default=None, help="frames per clip (default: the checkpoint's)")
    rec.add_argument("--stride", type=int, default=None, help="frames between clip starts (default: half a clip)")
    rec.add_argument("--batch-size", type=int, default=None, help="clips per recognizer batch, all players together (default: 16 on CUDA, 1 on CPU where bigger batches are slower)")
    rec.add_argument("--precision", choices=PRECISIONS, default="auto", help="auto (fp16 on CUDA, fp32 on CPU), fp32, bf16 (fast on CPUs with AMX) or fp16")
    rec.add_argument("--min-event-s", type=float, default=_TL.min_event_s, help=f"shortest action event in seconds; shorter runs merge into their neighbour (default: {_TL.min_event_s})")
    rec.add_argument("--smooth", type=int, default=_TL.smooth, help=f"odd number of clip windows averaged per decision (default: {_TL.smooth})")
    rec.add_argument("--keep-background", action="store_true", help="keep events of the checkpoint's background class (e.g. no_action)")
    rng = a.add_argument_group("range")
    rng.add_argument("--start", type=positive_float, default=0.0, help="start time in seconds (default: 0)")
    rng.add_argument("--end", type=positive_float, default=None, help="end time in seconds (default: end of video)")
    a.add_argument("--crf", type=int, default=23, help="H.264 quality of the annotated video, 0-51, lower is better (default: 23)")
    a.add_argument("--report", type=Path, help="also write the coach review page (HTML) here")
    a.add_argument("--quiet", action="store_true", help="no progress bar or summary")

    add_training_parsers(sub, _DET)

    r = sub.add_parser("report", help="(re)build the HTML coach review page of an earlier analysis")
    r.add_argument("run", type=Path, help="the analysis: its folder, its .run.json or its annotated video")
    r.add_argument("--out", type=Path, help="page to write (default: <stem>.report.html beside the run)")
    r.add_argument("--embed-video", choices=("auto", "always", "never"), default="auto", help="embed the annotated video in the page (auto: when at most 25 MB) or link it by relative path")

    i = sub.add_parser("inspect", help="print a recognizer checkpoint's metadata")
    i.add_argument("checkpoint", type=Path, help="recognizer checkpoint (.pt)")
    i.add_argument("--json", action="store_true", help="print the metadata as JSON")

    w = sub.add_parser("weights", help="known weights and the local cache")
    wsub = w.add_subparsers(dest="weights_command", required=True, metavar="ACTION")
    wsub.add_parser("list", help="list known weights and whether they are cached")
    return parser


def _analyze(args: argparse.Namespace) -> int:
    from hoopsense.pipeline.analyze import AnalyzeOptions, OutputPaths, analyze
    from hoopsense.pipeline.timeline import TimelineConfig
    from hoopsense.recognizer.config import RecognizerConfig
    from hoopsense.tracker.detector import DetectorConfig
    from hoopsense.tracker.filters import parse_polygon
    from hoopsense.tracker.tracker import TrackerConfig
    from hoopsense.video import probe

    if args.out is None and not args.no_video:
        raise ConfigError("--out is required unless --no-video is given")
    if args.out is not None and not args.no_video and args.out.suffix.lower() not in (".mp4", ".m4v", ".mov"):
        raise ConfigError(f"--out must be an .mp4 file, got {args.out}")
    base = args.out if args.out is not None else Path(args.input.stem)
    recognize = args.recognizer is not None
    beside = OutputPaths.beside(base, video=not args.no_video, timeline=recognize)
    paths = OutputPaths(
        video=args.out if not args.no_video else None,
        tracks_csv=args.tracks or beside.tracks_csv,
        mot=args.mot or beside.mot,
        run_json=beside.run_json,
        timeline_csv=beside.timeline_csv,
        timeline_json=beside.timeline_json,
    )
    if not recognize:
        ignored = [f"--{n.replace('_', '-')}" for n in ("clip_len", "stride", "keep_background") if getattr(args, n) not in (None, False)]
        if ignored:
            raise ConfigError(f"{', '.join(ignored)} need --recognizer")
    meta = probe(args.input)  # fail fast on a bad input, before loading the model
    court = None
    if args.court:
        court = tuple(map(tuple, parse_polygon(args.court, meta.width, meta.height).tolist()))
    options = AnalyzeOptions(
        detector=DetectorConfig(
            weights=args.detector, imgsz=args.imgsz, conf=args.conf, device=args.device, batch_size=args.det_batch_size
        ),
        tracker=TrackerConfig(
            activation=args.track_activation,
            high_conf=args.track_high,
            lost_buffer=args.lost_buffer,
            min_iou=args.track_iou,
            min_height=args.min_height,
            min_track_frames=args.min_track_frames,
            court=court,
        ),
        recognizer=(
            RecognizerConfig(args.recognizer, device=args.device, batch_size=args.batch_size, precision=args.precision)
            if recognize
            else None
        ),
        clip_len=args.clip_len,
        stride=args.stride,
        timeline=TimelineConfig(smooth=args.smooth, min_event_s=args.min_event_s, keep_background=args.keep_background),
        start_s=args.start,
        end_s=args.end,
        crf=args.crf,
    )
    if not recognize and not args.quiet:
        err_console.print("note: no --recognizer given: tracking only (no actions, no timeline files)")
    if args.report is not None and args.report.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--report must be an .html file, got {args.report}")
    progress = run_progress("analysing", args.quiet)
    on_start, on_frame = progress_callbacks(progress)

    with progress:
        result = analyze(args.input, paths, options, meta=meta, on_start=on_start, on_frame=on_frame)
    if args.report is not None:
        from hoopsense.report.page import write_report

        report = write_report(paths.run_json, args.report)
        result.outputs.append(report)
    if not args.quiet:
        _summary(result)
    return 0


def _report(args: argparse.Namespace) -> int:
    from hoopsense.report.page import write_report

    out = write_report(args.run, args.out, embed=args.embed_video)
    console.print(f"wrote {out}")
    return 0


def _summary(result) -> None:  # noqa: ANN001
    table = Table(title="hoopsense analyze", show_header=False, box=None)
    table.add_row("input", f"{result.meta.path} ({result.meta.width}x{result.meta.height}, {result.meta.fps:.2f} fps)")
    table.add_row("frames", str(result.frames))
    table.add_row("players found", str(len(result.players)))
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
    table.add_row("parameters", f"{parameter_count(state) / 1e6:.1f} M")
    table.add_row("labels", ", ".join(f"{i}:{x}" + (" (background)" if x == meta.background else "") for i, x in enumerate(meta.labels)))
    table.add_row("clip", f"{meta.clip_len} frames, every {meta.frame_step} frame(s)")
    table.add_row("crop", f"square x{meta.context} context, resized to {meta.resize}, centre {meta.crop_size}x{meta.crop_size}, {meta.colour}")
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "analyze":
            return _analyze(args)
        if args.command == "train":
            return train_command(args)
        if args.command == "evaluate":
            return evaluate_command(args)
        if args.command == "clips":
            return clips_command(args)
        if args.command == "report":
            return _report(args)
        if args.command == "inspect":
            return _inspect(args)
        if args.command == "weights":
            return _weights_list()
        parser.error(f"unknown command {args.command}")
    except HoopsenseError as exc:
        label = "interrupted" if exc.exit_code == 130 else "error"
        err_console.print(f"[bold red]{label}:[/] {exc}", soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]: no output was written")
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
