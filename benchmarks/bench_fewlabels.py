"""Learning from few labels: every recognizer architecture trained on basketball5's 159 training clips.

For each architecture: train from scratch on the ``train`` part of
``../shared/eval/basketball5`` (its split file), stop early on macro-F1 of the
``val`` part, then measure the best checkpoint once on the ``test`` part. The
settings below are fixed per family (nothing here is chosen by test scores):
the skeleton network is small and cheap (seconds an epoch), so it gets up to
60 epochs, a patience of 15 and a higher learning rate; the pixel networks get
the training defaults (up to 15 epochs, patience 5, a minute or more an epoch
on 2 cores), R(2+1)D-18 in bf16 on CPUs with native bf16. Prints one row per
architecture and seed.

``skeleton-ball-tcn`` (the skeleton plus the ball near the player, found by
``--ball``, by default the int8 YOLOv8n in ``../shared/assets/detector``) is
not in the default list; ``--arch skeleton-ball-tcn`` runs it and prints how
often the detector found a ball in the training clips.

With both ``skeleton-tcn`` and ``r2plus1d_18``, a last row per seed measures
their late fusion (``evaluate skeleton.pt --fuse r2plus1d.pt``).

The dataset is copied to a work folder first (the skeleton keypoints are
cached beside the clips, and the shared folder stays untouched); ``--work``
keeps it and the checkpoints.

    python benchmarks/bench_fewlabels.py
    python benchmarks/bench_fewlabels.py --arch skeleton-tcn --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from hoopsense.devices import native_bf16
from hoopsense.training.evaluate import evaluate
from hoopsense.training.formats import load_dataset
from hoopsense.training.keypoints import extract_ball
from hoopsense.training.loop import TrainConfig, train

HERE = Path(__file__).resolve().parent
EVAL = HERE.parent.parent / "shared" / "eval"
POSE = HERE.parent.parent / "shared" / "assets" / "pose" / "yolov8n-pose_int8_openvino_model"
DETECTOR = HERE.parent.parent / "shared" / "assets" / "detector" / "yolov8n_int8_openvino_model"
ARCHS = ("skeleton-tcn", "frames-mobilenet_v3_small-gru", "r2plus1d_18", "frames-efficientnet_b0")
CLIP_LEN = 8  # basketball5's clips have 5-10 frames, most 7


def settings(arch: str, seed: int, pose: Path, ball: Path) -> TrainConfig:
    if arch.startswith("skeleton"):
        return TrainConfig(architecture=arch, clip_len=CLIP_LEN, epochs=60, patience=15, lr=1e-3, batch_size=16,
                           init="none", seed=seed, pose=str(pose), ball=str(ball), device="cpu")  # fmt: skip
    precision = "bf16" if native_bf16() and arch == "r2plus1d_18" else "fp32"
    return TrainConfig(architecture=arch, clip_len=CLIP_LEN, init="none", seed=seed, precision=precision, device="cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", nargs="*", default=list(ARCHS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--data", type=Path, default=EVAL / "basketball5")
    parser.add_argument("--split", type=Path, default=EVAL / "basketball5_split.json")
    parser.add_argument("--pose", type=Path, default=POSE)
    parser.add_argument("--ball", type=Path, default=DETECTOR, help="ball detector for skeleton-ball-tcn")
    parser.add_argument(
        "--work", type=Path, help="keep the copy and the checkpoints here (default: a temporary folder)"
    )
    args = parser.parse_args()
    if not args.data.is_dir() or not args.split.is_file():
        raise SystemExit(f"basketball5 not found at {args.data} (see ../shared/eval/README.md)")
    os.environ.setdefault("HOOPSENSE_OFFLINE", "1")
    print(f"{'architecture':32} {'seed':>4} {'epochs':>6} {'val F1':>7} {'test F1':>8} {'test acc':>8} {'train s':>8}")
    with tempfile.TemporaryDirectory(prefix="bench-fewlabels-") as tmp:
        work = args.work or Path(tmp)
        root = work / "basketball5"
        if not root.is_dir():
            shutil.copytree(args.data, root)
        data = load_dataset(root, "folder")
        if "skeleton-ball-tcn" in args.arch:
            _ball_coverage(data, args.split, args.ball)
        for seed in args.seeds:
            for arch in args.arch:
                out = work / f"{arch}-{seed}" / "model.pt"
                started = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = train(data, settings(arch, seed, args.pose, args.ball), out, split_file=args.split)
                seconds = time.perf_counter() - started
                ev = evaluate(
                    out, data, _fresh(out.parent / "eval"), subset="test", split_file=args.split, device="cpu"
                )
                print(
                    f"{arch:32} {seed:>4} {len(result.history):>6} {result.best['val_macro_f1']:>7.3f} "
                    f"{ev.report.macro_f1:>8.3f} {ev.report.accuracy:>8.3f} {seconds:>8.0f}",
                    flush=True,
                )
            if {"skeleton-tcn", "r2plus1d_18"} <= set(args.arch):
                skeleton, video = (work / f"{a}-{seed}" / "model.pt" for a in ("skeleton-tcn", "r2plus1d_18"))
                ev = evaluate(
                    skeleton, data, _fresh(work / f"fused-{seed}"), subset="test", split_file=args.split, device="cpu",
                    fuse=video,
                )  # fmt: skip
                name = "skeleton-tcn + r2plus1d_18 (fused)"
                print(f"{name:32} {seed:>4} {'':>6} {'':>7} {ev.report.macro_f1:>8.3f} {ev.report.accuracy:>8.3f}")


def _ball_coverage(data, split: Path, ball: Path) -> None:
    """How often the ball detector finds a ball in the training clips, per class (cached for training)."""
    train_ids = set(json.loads(split.read_text())["train"])
    records = [r for r in data.records if r.id in train_ids]
    found, _ = extract_ball(records, str(ball), device="cpu")
    for label, name in enumerate(data.labels):
        balls = [found[r.id] for r in records if r.label == label]
        frames = np.concatenate(balls)[:, 2] > 0 if balls else np.zeros(0, bool)
        clips = np.mean([(b[:, 2] > 0).any() for b in balls]) if balls else 0.0
        print(f"ball found in {frames.mean():.0%} of the frames and {clips:.0%} of the clips of {name} (train)")


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    return folder


if __name__ == "__main__":
    main()
