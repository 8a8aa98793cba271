"""The training-side commands: ``train``, ``evaluate`` and ``clips`` (parsers and handlers).

Errors are raised as :class:`~hoopsense.errors.HoopsenseError`; :mod:`hoopsense.cli`
turns them into exit codes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from hoopsense.console import (
    console,
    epoch_progress,
    err_console,
    positive_float,
    progress_callbacks,
    run_progress,
)
from hoopsense.errors import ConfigError, HoopsenseError


def add_training_parsers(sub, detector_defaults) -> None:  # noqa: ANN001
    """Add ``train``, ``evaluate`` and ``clips`` to the CLI's sub-commands."""
    _DET = detector_defaults  # noqa: N806
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
    c.add_argument("--start", type=positive_float, default=0.0, help="start time in seconds (default: 0)")
    c.add_argument("--end", type=positive_float, default=None, help="end time in seconds (default: end of video)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")



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


def train_command(args: argparse.Namespace) -> int:
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
    progress = epoch_progress()
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


def evaluate_command(args: argparse.Namespace) -> int:
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


def clips_command(args: argparse.Namespace) -> int:
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
    progress = run_progress("cutting clips", args.quiet)
    on_start, on_frame = progress_callbacks(progress)
    with progress:
        result = cut_clips(args.input, args.out, options, meta=meta, on_start=on_start, on_frame=on_frame)
    console.print(
        f"wrote {result.clips} clips of {result.players} players to {result.out_dir} "
        f"(every clip is labelled {args.placeholder!r}: correct annotation_dict.json, then `hoopsense train {result.out_dir}`)"
    )
    return 0
