"""Command-line interface. The only place where errors become exit codes.

Expected failures (:class:`~hoopsense.errors.HoopsenseError`) print one line
on stderr and exit non-zero; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from hoopsense import __version__
from hoopsense.errors import ConfigError, HoopsenseError

err_console = Console(stderr=True, highlight=False)
console = Console(highlight=False)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from hoopsense.pipeline.timeline import TimelineConfig
    from hoopsense.recognizer.config import PRECISIONS
    from hoopsense.tracker.detector import DetectorConfig
    from hoopsense.tracker.tracker import TrackerConfig

    _DET, _TRK, _TL = DetectorConfig(), TrackerConfig(), TimelineConfig()  # noqa: N806 - the defaults shown in --help
    parser = argparse.ArgumentParser(prog="hoopsense", description="Per-player analysis of basketball video.")
    parser.add_argument("--version", action="version", version=f"hoopsense {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    a = sub.add_parser("analyze", help="track players and write an annotated video and track files")
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
    rng.add_argument("--start", type=_positive_float, default=0.0, help="start time in seconds (default: 0)")
    rng.add_argument("--end", type=_positive_float, default=None, help="end time in seconds (default: end of video)")
    a.add_argument("--crf", type=int, default=23, help="H.264 quality of the annotated video, 0-51, lower is better (default: 23)")
    a.add_argument("--report", type=Path, help="also write the coach review page (HTML) here")
    a.add_argument("--quiet", action="store_true", help="no progress bar or summary")

    _add_train_parser(sub)
    _add_evaluate_parser(sub)

    c = sub.add_parser("clips", help="cut every player's clips out of a game into a SpaceJam-format folder for labelling")
    c.add_argument("input", type=Path, help="game video")
    c.add_argument("--out", type=Path, required=True, help="folder to create")
    c.add_argument("--detector", default=_DET.weights, help=f"weights name or local .pt/.onnx/OpenVINO folder (default: {_DET.weights})")
    c.add_argument("--device", default=_DET.device, help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    c.add_argument("--clip-len", type=int, default=16, help="frames per clip (default: 16, as SpaceJam)")
    c.add_argument("--stride", type=int, default=None, help="frames between clip starts (default: the clip length: no overlap)")
    c.add_argument("--size", type=int, default=128, help="side of the square crops in pixels (default: 128)")
    c.add_argument("--labels", type=Path, help="labels_dict.json to use (default: SpaceJam's 11 labels)")
    c.add_argument("--placeholder", default="no_action", help="label every clip starts with (default: no_action)")
    c.add_argument("--court", help="court polygon, as for analyze")
    c.add_argument("--start", type=_positive_float, default=0.0, help="start time in seconds (default: 0)")
    c.add_argument("--end", type=_positive_float, default=None, help="end time in seconds (default: end of video)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")

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


def _add_data_arguments(p: argparse.ArgumentParser) -> None:
    from hoopsense.training.datasets import FORMATS

    p.add_argument("data", type=Path, help="dataset folder")
    p.add_argument("--format", choices=FORMATS, default="spacejam", help="spacejam (clips + annotation_dict.json + labels_dict.json), folder (one sub-folder per class) or ucf101 (with its split files) (default: spacejam)")
    p.add_argument("--fold", type=int, default=1, help="UCF101 split fold 1-3 (default: 1)")
    p.add_argument("--keep-discard", action="store_true", help="SpaceJam: keep clips labelled 'discard' (left out by default)")
    p.add_argument("--split", type=Path, help="split file to reuse (default: train makes one beside --out; evaluate uses the checkpoint's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    p.add_argument("--workers", type=int, default=None, help="clip-decoding worker processes (default: cores - 1, at most 4)")


def _add_train_parser(sub) -> None:  # noqa: ANN001
    from hoopsense.recognizer.model import ARCHITECTURES
    from hoopsense.training.loop import BALANCE, TrainConfig

    d = TrainConfig()
    t = sub.add_parser("train", help="fine-tune the action recognizer on labelled clips")
    _add_data_arguments(t)
    t.add_argument("--out", type=Path, required=True, help="checkpoint to write (.pt); history, split and resume state go beside it")
    t.add_argument("--arch", choices=list(ARCHITECTURES), default=d.architecture, help=f"network (default: {d.architecture})")
    t.add_argument("--init", default=d.init, help="auto (torchvision's Kinetics-400/ImageNet weights when they can be had, else from scratch with a warning), pretrained, none, or a local .pth (default: auto)")
    t.add_argument("--train-layers", help="comma-separated layers to train, e.g. layer3,layer4,fc (default: all)")
    t.add_argument("--epochs", type=int, default=d.epochs, help=f"at most this many epochs (default: {d.epochs})")
    t.add_argument("--patience", type=int, default=d.patience, help=f"stop after this many epochs without a better validation macro-F1 (default: {d.patience})")
    t.add_argument("--batch-size", type=int, default=d.batch_size, help=f"clips per step (default: {d.batch_size})")
    t.add_argument("--lr", type=float, default=d.lr, help=f"AdamW peak learning rate, warm-up then cosine decay (default: {d.lr})")
    t.add_argument("--weight-decay", type=float, default=d.weight_decay, help=f"AdamW weight decay (default: {d.weight_decay})")
    t.add_argument("--balance", choices=BALANCE, default=d.balance, help="class imbalance: weighted loss, balanced sampling, or none (default: weights)")
    t.add_argument("--clip-len", type=int, default=d.clip_len, help=f"frames per clip (default: {d.clip_len})")
    t.add_argument("--frame-step", type=int, default=d.frame_step, help=f"take every N-th frame (default: {d.frame_step})")
    t.add_argument("--resize", type=int, default=d.resize, help=f"clips are fitted to this size before cropping (default: {d.resize})")
    t.add_argument("--crop-size", type=int, default=d.crop_size, help=f"model input size (default: {d.crop_size})")
    t.add_argument("--val-fraction", type=float, default=d.val_fraction, help=f"share of each class held out for validation (default: {d.val_fraction})")
    t.add_argument("--seed", type=int, default=d.seed, help=f"seed of the split, sampling and augmentation (default: {d.seed})")
    t.add_argument("--no-flip", action="store_true", help="no horizontal flips (for classes defined by direction)")
    t.add_argument("--background", default="auto", help="label meaning 'no action' (default: no_action when present; 'none' for no such class)")
    t.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto", help="auto (fp16 mixed precision on CUDA, fp32 on CPU), fp32, bf16 (about 3x faster on CPUs with AMX) or fp16")
    t.add_argument("--resume", action="store_true", help="continue an interrupted training from the state beside --out")


def _add_evaluate_parser(sub) -> None:  # noqa: ANN001
    e = sub.add_parser("evaluate", help="measure a recognizer checkpoint on labelled clips")
    e.add_argument("checkpoint", type=Path, help="recognizer checkpoint (.pt)")
    _add_data_arguments(e)
    e.add_argument("--subset", choices=("auto", "val", "test", "train", "all"), default="auto", help="which clips (default: the split's test set, else its validation set, else all)")
    e.add_argument("--out", type=Path, help="report folder to create (default: <checkpoint>.eval)")
    e.add_argument("--batch-size", type=int, default=None, help="clips per batch (default: 16 on CUDA, 1 on CPU)")


def _load_data(args: argparse.Namespace):  # noqa: ANN202
    from hoopsense.training.datasets import load_dataset

    data = load_dataset(args.data, args.format, drop=() if args.keep_discard else ("discard",), fold=args.fold)
    for note in data.skipped:
        err_console.print(f"note: {note}")
    return data


def _train(args: argparse.Namespace) -> int:
    import warnings

    from hoopsense.training.augment import Augment
    from hoopsense.training.loop import TrainConfig, train

    if args.out.suffix != ".pt":
        raise ConfigError(f"--out must be a .pt file, got {args.out}")
    config = TrainConfig(
        architecture=args.arch, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        clip_len=args.clip_len, frame_step=args.frame_step, resize=args.resize, crop_size=args.crop_size,
        init=args.init, train_layers=tuple(x.strip() for x in args.train_layers.split(",") if x.strip()) if args.train_layers else None,
        balance=args.balance, patience=args.patience, val_fraction=args.val_fraction, seed=args.seed, workers=args.workers,
        device=args.device, precision=args.precision, augment=Augment(flip=not args.no_flip),
        background=None if args.background == "none" else args.background,
    )
    data = _load_data(args)
    counts = ", ".join(f"{k} {v}" for k, v in data.counts().items())
    err_console.print(f"{len(data.records)} clips, {len(data.labels)} classes: {counts}")
    progress = Progress(
        TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
        TextColumn("loss {task.fields[loss]:.4f}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=err_console,
    )
    tasks: dict[int, int] = {}

    def on_step(epoch: int, step: int, steps: int, loss: float) -> None:
        if epoch not in tasks:
            tasks[epoch] = progress.add_task("train", total=steps, epoch=epoch, loss=loss)
        progress.update(tasks[epoch], completed=step, loss=loss)

    done: list[int] = []

    def on_epoch(r: dict) -> None:
        done.append(r["epoch"])
        progress.console.print(
            f"epoch {r['epoch']}: train loss {r['train_loss']:.4f} acc {r['train_accuracy']:.3f} | "
            f"val loss {r['val_loss']:.4f} acc {r['val_accuracy']:.3f} macro-F1 {r['val_macro_f1']:.3f} | "
            f"{r['train_clips_per_s']:.1f} clips/s" + ("  [best, saved]" if r["best"] else "")
        )

    with warnings.catch_warnings(record=True) as caught, progress:
        warnings.simplefilter("always")
        try:
            result = train(data, config, args.out, split_file=args.split, resume=args.resume, on_step=on_step, on_epoch=on_epoch)
        except KeyboardInterrupt:
            stopped = HoopsenseError(
                f"training stopped after epoch {done[-1]}; {args.out} holds the best epoch so far; continue with --resume"
                if done else "training stopped before the first epoch ended; nothing to resume"
            )
            stopped.exit_code = 130
            raise stopped from None
    for w in caught:
        if "training from scratch" in str(w.message):
            err_console.print(f"[yellow]warning:[/] {w.message}")
    best = result.best
    console.print(
        f"best epoch {result.best_epoch}: validation accuracy {best['val_accuracy']:.4f}, macro-F1 {best['val_macro_f1']:.4f}"
        + (" (stopped early)" if result.stopped_early else "")
    )
    console.print(f"initial weights: {result.init}")
    console.print(f"wrote {args.out} (split {len(result.split.train)} train / {len(result.split.val)} val clips)")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from hoopsense.training.evaluate import evaluate

    data = _load_data(args)
    out = args.out or args.checkpoint.with_suffix(".eval")
    result = evaluate(args.checkpoint, data, out, subset=args.subset, split_file=args.split, device=args.device,
                      batch_size=args.batch_size, workers=args.workers)
    r = result.report
    table = Table(title=f"evaluation on {result.subset} ({result.clips} clips)")
    for col in ("class", "precision", "recall", "F1", "support"):
        table.add_column(col)
    for name, p, rc, f, s in zip(r.labels, r.precision, r.recall, r.f1, r.support):
        table.add_row(name, f"{p:.3f}", f"{rc:.3f}", f"{f:.3f}", str(int(s)))
    console.print(table)
    console.print(f"accuracy {r.accuracy:.4f}, macro-F1 {r.macro_f1:.4f}")
    console.print(f"report: {result.out_dir / 'report.md'}")
    return 0


def _progress(label: str, quiet: bool) -> Progress:
    return Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
        TextColumn("{task.fields[fps]:>5.1f} fps"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=err_console, disable=quiet,
    )


def _progress_callbacks(progress: Progress):  # noqa: ANN202
    state: dict[str, object] = {}

    def on_start(meta, expected: int) -> None:  # noqa: ANN001
        state["task"] = progress.add_task("run", total=expected or None, fps=0.0)
        state["t0"] = time.perf_counter()

    def on_frame(done: int) -> None:
        elapsed = time.perf_counter() - state["t0"]  # type: ignore[operator]
        progress.update(state["task"], completed=done, fps=done / elapsed if elapsed > 0 else 0.0)  # type: ignore[arg-type]

    return on_start, on_frame


def _clips(args: argparse.Namespace) -> int:
    import json

    from hoopsense.recognizer.tubelets import TubeletConfig
    from hoopsense.tracker.detector import DetectorConfig
    from hoopsense.tracker.filters import parse_polygon
    from hoopsense.tracker.tracker import TrackerConfig
    from hoopsense.training.clips import SPACEJAM_LABELS, ClipsOptions, cut_clips
    from hoopsense.video import probe

    labels = SPACEJAM_LABELS
    if args.labels:
        try:
            doc = json.loads(args.labels.read_text())
            labels = tuple(doc[k] for k in sorted(doc, key=int))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"--labels {args.labels}: not a labels_dict.json ({exc})") from exc
    meta = probe(args.input)
    court = tuple(map(tuple, parse_polygon(args.court, meta.width, meta.height).tolist())) if args.court else None
    options = ClipsOptions(
        detector=DetectorConfig(weights=args.detector, device=args.device),
        tracker=TrackerConfig(court=court),
        tubelets=TubeletConfig(clip_len=args.clip_len, stride=args.stride or args.clip_len, resize=args.size),
        labels=labels, placeholder=args.placeholder, start_s=args.start, end_s=args.end,
    )
    progress = _progress("cutting clips", args.quiet)
    on_start, on_frame = _progress_callbacks(progress)
    with progress:
        result = cut_clips(args.input, args.out, options, meta=meta, on_start=on_start, on_frame=on_frame)
    console.print(
        f"wrote {result.clips} clips of {result.players} players to {result.out_dir} "
        f"(every clip is labelled {args.placeholder!r}: correct annotation_dict.json, then `hoopsense train {result.out_dir}`)"
    )
    return 0


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
    progress = _progress("analysing", args.quiet)
    on_start, on_frame = _progress_callbacks(progress)

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
            return _train(args)
        if args.command == "evaluate":
            return _evaluate(args)
        if args.command == "clips":
            return _clips(args)
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
