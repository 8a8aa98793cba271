"""The training commands: ``train`` and ``evaluate`` (parsers and handlers).

Errors are raised as :class:`~hoopsense.errors.HoopsenseError`; :mod:`hoopsense.cli`
turns them into exit codes. Under ``torchrun`` only rank 0 prints; an error that
stops every process is printed by rank 0 while the others wait, then all exit
with its code (torchrun stops the job when the first process exits non-zero).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from hoopsense.cli_options import build, errors_in_flags, flag_names
from hoopsense.console import (
    console,
    epoch_progress,
    err_console,
    finite_float,
)
from hoopsense.errors import ConfigError, HoopsenseError, Interrupted
from hoopsense.outputs import protect_inputs
from hoopsense.stopping import prompt_stop

if TYPE_CHECKING:
    pass

TRAIN_FIELDS = {
    "architecture": "arch", "epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "weight_decay": "weight_decay",
    "clip_len": "clip_len", "frame_step": "frame_step", "resize": "resize", "crop_size": "crop_size", "init": "init",
    "balance": "balance", "patience": "patience", "val_fraction": "val_fraction", "seed": "seed", "workers": "workers",
    "device": "device", "precision": "precision", "background": "background", "train_layers": "train_layers",
    "grad_clip": "grad_clip", "pose": "pose", "ball": "ball",
}  # fmt: skip
TRAIN_FLAGS = flag_names({"TrainConfig": TRAIN_FIELDS, "*": {"device": "device", "precision": "precision"}})
EVAL_FLAGS = flag_names(
    {
        "*": {
            "device": "device",
            "batch_size": "batch_size",
            "workers": "workers",
            "pose": "pose",
            "ball": "ball",
            "fuse": "fuse",
        }
    }
)


def add_training_parsers(sub: Any) -> None:
    """Add ``train`` and ``evaluate`` to the CLI's sub-commands."""
    _add_train_parser(sub)
    _add_evaluate_parser(sub)


def _add_data_arguments(p: argparse.ArgumentParser) -> None:
    from hoopsense.training.formats import FORMATS

    p.add_argument(
        "data",
        type=Path,
        nargs="+",
        help="dataset folder; several folders (several games, all in one --format) are merged into one set, "
        "their clips named <folder name>/<id>",
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="spacejam",
        help="spacejam (clips + annotation_dict.json + labels_dict.json; clips nobody has labelled yet are left out), "
        "folder (one sub-folder per class) or ucf101 (with its split files) (default: spacejam)",
    )
    p.add_argument("--fold", type=int, default=1, help="UCF101 split fold 1-3 (default: 1)")
    p.add_argument(
        "--keep-discard", action="store_true", help="SpaceJam: keep clips labelled 'discard' (left out by default)"
    )
    p.add_argument(
        "--split",
        type=Path,
        help="split file to reuse, made for the same DATA folders (default: train makes one beside --out; evaluate uses the checkpoint's)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    p.add_argument(
        "--workers", type=int, default=None, help="clip-decoding worker processes (default: cores - 1, at most 4)"
    )


def _add_train_parser(sub) -> None:
    from hoopsense.devices import PRECISIONS
    from hoopsense.recognizer.model import ARCHITECTURES
    from hoopsense.training.loop import BALANCE, TrainConfig

    d = TrainConfig()
    t = sub.add_parser(
        "train",
        help="fine-tune the action recognizer on labelled clips (one or several folders)",
        description="Fine-tune the action recognizer on labelled clips. Under torchrun (e.g. python -m "
        "torch.distributed.run --nproc_per_node 2 -m hoopsense train ...) every process trains on its share "
        "of each epoch (DistributedDataParallel: nccl on CUDA, each process on the GPU of its LOCAL_RANK; "
        "gloo on the CPU) and rank 0 alone writes the checkpoint and its side files and prints.",
    )
    _add_data_arguments(t)
    t.add_argument(
        "--out",
        type=Path,
        required=True,
        help="checkpoint to write (.pt); history, split and resume state go beside it",
    )
    t.add_argument(
        "--arch", choices=list(ARCHITECTURES), default=d.architecture, help=f"network (default: {d.architecture})"
    )
    t.add_argument(
        "--init",
        default=d.init,
        help="auto (torchvision's Kinetics-400/ImageNet weights when they can be had, else from scratch with a warning), pretrained, none, or a local .pth (default: auto)",
    )
    t.add_argument("--train-layers", help="comma-separated layers to train, e.g. layer3,layer4,fc (default: all)")
    t.add_argument("--epochs", type=int, default=d.epochs, help=f"at most this many epochs (default: {d.epochs})")
    t.add_argument(
        "--patience",
        type=int,
        default=d.patience,
        help=f"stop after this many epochs without a better validation macro-F1 (default: {d.patience})",
    )
    t.add_argument(
        "--batch-size",
        type=int,
        default=d.batch_size,
        help=f"clips per step in each process; under torchrun a step takes this many times the number of "
        f"processes (default: {d.batch_size})",
    )
    t.add_argument(
        "--lr",
        type=finite_float,
        default=d.lr,
        help=f"AdamW peak learning rate, warm-up then cosine decay (default: {d.lr})",
    )
    t.add_argument(
        "--weight-decay",
        type=finite_float,
        default=d.weight_decay,
        help=f"AdamW weight decay (default: {d.weight_decay})",
    )
    t.add_argument(
        "--balance",
        choices=BALANCE,
        default=d.balance,
        help="class imbalance: weighted loss, balanced sampling, or none (default: weights)",
    )
    t.add_argument("--clip-len", type=int, default=d.clip_len, help=f"frames per clip (default: {d.clip_len})")
    t.add_argument(
        "--frame-step", type=int, default=d.frame_step, help=f"take every N-th frame (default: {d.frame_step})"
    )
    t.add_argument(
        "--resize",
        type=int,
        default=d.resize,
        help=f"clips are fitted to this size before cropping (default: {d.resize})",
    )
    t.add_argument("--crop-size", type=int, default=d.crop_size, help=f"model input size (default: {d.crop_size})")
    t.add_argument(
        "--val-fraction",
        type=finite_float,
        default=d.val_fraction,
        help=f"share of each class held out for validation (default: {d.val_fraction})",
    )
    t.add_argument(
        "--seed", type=int, default=d.seed, help=f"seed of the split, sampling and augmentation (default: {d.seed})"
    )
    t.add_argument("--no-flip", action="store_true", help="no horizontal flips (for classes defined by direction)")
    t.add_argument(
        "--background",
        default="auto",
        help="label meaning 'no action' (default: no_action when present; 'none' for no such class)",
    )
    t.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto (fp16 mixed precision on CUDA, fp32 on CPU), fp32, bf16 (about 3x faster on CPUs with AMX) or fp16",
    )
    t.add_argument(
        "--grad-clip",
        type=finite_float,
        default=d.grad_clip,
        help=f"largest gradient norm, 0 for none (default: {d.grad_clip})",
    )
    t.add_argument("--resume", action="store_true", help="continue an interrupted training from the state beside --out")
    t.add_argument(
        "--pose",
        default=d.pose,
        help=f"pose model for --arch skeleton-tcn: a name or a local .pt or OpenVINO folder; keypoints are "
        f"extracted once and cached beside the clips (default: {d.pose})",
    )
    t.add_argument(
        "--ball",
        default=d.ball,
        help=f"detector with a ball class for --arch skeleton-ball-tcn: a name or a local file or OpenVINO "
        f"folder; the ball near the player is found once and cached beside the clips (default: {d.ball})",
    )


def _add_evaluate_parser(sub) -> None:
    e = sub.add_parser("evaluate", help="measure a recognizer checkpoint on labelled clips (one or several folders)")
    e.add_argument("checkpoint", type=Path, help="recognizer checkpoint (.pt)")
    _add_data_arguments(e)
    e.add_argument(
        "--subset",
        choices=("auto", "val", "test", "train", "all"),
        default="auto",
        help="which clips (default: the split's test set, else its validation set, else all)",
    )
    e.add_argument("--out", type=Path, help="report folder to create (default: <checkpoint>.eval)")
    e.add_argument("--batch-size", type=int, default=None, help="clips per batch (default: 16 on CUDA, 1 on CPU)")
    e.add_argument(
        "--pose",
        default=None,
        help="pose model for a skeleton checkpoint (default: the one it was trained with)",
    )
    e.add_argument(
        "--ball",
        default=None,
        help="ball detector for a skeleton-ball-tcn checkpoint (default: the one it was trained with)",
    )
    e.add_argument(
        "--fuse",
        type=Path,
        metavar="CHECKPOINT",
        help="a second checkpoint with the same classes; their class probabilities are averaged (as analyze --fuse)",
    )


def _load_data(args: argparse.Namespace):
    from hoopsense.training.formats import load_datasets

    data = load_datasets(args.data, args.format, drop=() if args.keep_discard else ("discard",), fold=args.fold)
    for note in data.skipped:
        err_console.print(f"note: {note}", soft_wrap=True)
    return data


def train_config(args: argparse.Namespace) -> Any:
    """The :class:`TrainConfig` of parsed ``train`` arguments."""
    from hoopsense.training.augment import Augment
    from hoopsense.training.loop import TrainConfig

    layers = tuple(x.strip() for x in args.train_layers.split(",") if x.strip()) if args.train_layers else None
    return build(
        TrainConfig, TRAIN_FIELDS, args, train_layers=layers, augment=Augment(flip=not args.no_flip),
        background=None if args.background == "none" else args.background,
    )  # fmt: skip


def train_command(args: argparse.Namespace) -> int:
    """``train``, as one process or as one process of a torchrun job (see the module docstring)."""
    import torch

    from hoopsense.training import distributed

    with distributed.joined(args.device) as ranks:
        if ranks.world == 1:
            return _train_command(args)
        torch.set_num_threads(distributed.threads_per_process())
        if not ranks.is_main:
            console.quiet = err_console.quiet = True
        try:
            return _train_command(args)
        except HoopsenseError as exc:
            if not distributed.raised_on_all_ranks(exc):
                raise
            if ranks.is_main:
                from hoopsense.cli import one_line

                label = "interrupted" if exc.exit_code == 130 else "error"
                err_console.print(f"{label}: {one_line(str(exc))}", soft_wrap=True)
            distributed.barrier()  # the line is out before any process exits and torchrun stops the rest
            raise SystemExit(exc.exit_code) from None


def _train_command(args: argparse.Namespace) -> int:
    import warnings

    from hoopsense.training import distributed
    from hoopsense.training.loop import side_files, train

    with distributed.together():  # under torchrun: an error in any process stops them all
        if args.out.suffix != ".pt":
            raise ConfigError(f"--out must be a .pt file, got {args.out}")
        if args.out.is_dir():
            raise ConfigError(f"--out {args.out} is a folder; give the checkpoint's file name (.pt)")
        with errors_in_flags(TRAIN_FLAGS):
            config = train_config(args)
        protect_inputs([args.out, *side_files(args.out).values()], [*args.data, args.split, *_data_files(args.data)])
        data = _load_data(args)
    counts = ", ".join(f"{k} {v}" for k, v in data.counts().items())
    folders = f" from {len(data.roots)} folders" if len(data.roots) > 1 else ""
    console.print(f"{len(data.records)} clips{folders}, {len(data.labels)} classes: {counts}")
    progress = epoch_progress()
    tasks: dict[int, Any] = {}

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

    def on_keypoints(kind: str, i: int, total: int) -> None:
        if i == 1:
            source = config.pose if kind == "keypoints" else config.ball
            progress.console.print(
                f"{'keypoints' if kind == 'keypoints' else 'the ball'} in {total} clips from {source} "
                f"(found once, then cached beside the clips)"
            )

    def stopped() -> str:
        if done:
            return f"training stopped after epoch {done[-1]}; {args.out} holds the best epoch so far; continue with --resume"
        return "training stopped before the first epoch ended; nothing to resume"

    with warnings.catch_warnings(record=True) as caught, progress, prompt_stop(stopped):
        warnings.simplefilter("always")
        try:
            with errors_in_flags(TRAIN_FLAGS):
                result = train(
                    data,
                    config,
                    args.out,
                    split_file=args.split,
                    resume=args.resume,
                    on_step=on_step,
                    on_epoch=on_epoch,
                    on_keypoints=on_keypoints,
                )
        except KeyboardInterrupt:
            raise Interrupted(stopped()) from None
    for w in caught:
        if "training from scratch" in str(w.message):
            err_console.print(f"warning: {w.message}", soft_wrap=True)
    best = result.best
    console.print(
        f"best epoch {result.best_epoch}: validation accuracy {best['val_accuracy']:.4f}, macro-F1 {best['val_macro_f1']:.4f}"
        + (" (stopped early)" if result.stopped_early else "")
    )
    console.print(f"initial weights: {result.init}")
    console.print(f"wrote {args.out} (split {len(result.split.train)} train / {len(result.split.val)} val clips)")
    return 0


def _data_files(folders: list[Path]) -> list[Path]:
    """The files directly in the dataset folders (clips, label files): no output may replace one."""
    files: list[Path] = []
    for folder in map(Path, folders):
        try:
            files += [p for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
        except OSError:
            continue
    return files


def evaluate_command(args: argparse.Namespace) -> int:
    from hoopsense.outputs import check_new_folder
    from hoopsense.training.evaluate import evaluate

    out = args.out or args.checkpoint.with_suffix(".eval")
    protect_inputs([out], [args.checkpoint, args.fuse, *args.data, args.split, *_data_files(args.data)])
    check_new_folder(out)
    data = _load_data(args)
    with errors_in_flags(EVAL_FLAGS):
        result = evaluate(args.checkpoint, data, out, subset=args.subset, split_file=args.split, device=args.device,
                          batch_size=args.batch_size, workers=args.workers, pose=args.pose, ball=args.ball, fuse=args.fuse)  # fmt: skip
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
