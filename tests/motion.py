"""A synthetic action dataset in SpaceJam format whose classes differ only in motion.

Every clip shows the same figure (a player-like blob) on a noisy court-coloured
background; only how it moves tells the class: ``left``, ``right``,
``bounce`` (up and down) or ``still``. Start position, speed and noise are
random per clip.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from hoopsense.devices import native_bf16
from hoopsense.training.augment import Augment
from hoopsense.training.formats import load_dataset
from hoopsense.training.loop import TrainConfig, train
from hoopsense.video import VideoWriter

CLASSES = ("left", "right", "bounce", "still")


def _frame(rng_bg: np.ndarray, x: float, y: float, size: int) -> np.ndarray:
    img = rng_bg.copy()
    yy, xx = np.mgrid[0:size, 0:size]
    body = ((xx - x) / 5.0) ** 2 + ((yy - y) / 10.0) ** 2 <= 1.0
    head = ((xx - x) ** 2 + (yy - (y - 13)) ** 2) <= 16
    img[body | head] = (230, 60, 40)
    return img


def clip_frames(cls: str, rng: np.random.Generator, size: int = 64, frames: int = 16) -> np.ndarray:
    """RGB uint8 ``(frames, size, size, 3)`` of one clip of class ``cls``."""
    bg = np.empty((size, size, 3), np.uint8)
    bg[:] = (170, 120, 80)
    bg = np.clip(bg.astype(int) + rng.integers(-25, 26, bg.shape), 0, 255).astype(np.uint8)
    speed = rng.uniform(1.5, 2.5)
    x0, y0 = rng.uniform(size * 0.3, size * 0.7), rng.uniform(size * 0.45, size * 0.6)
    phase = rng.uniform(0, 2 * np.pi)
    out = []
    for t in range(frames):
        dx = dy = 0.0
        if cls == "left":
            dx = -speed * (t - frames / 2)
        elif cls == "right":
            dx = speed * (t - frames / 2)
        elif cls == "bounce":
            dy = 8 * np.sin(phase + t * 0.8)
        out.append(_frame(bg, x0 + dx, y0 + dy, size))
    return np.stack(out)


def make_motion_dataset(
    root: Path, per_class: int = 40, *, seed: int = 0, copies: int = 0, shuffle_labels: bool = False
) -> Path:
    """Write ``root/<id>.mp4`` clips plus ``annotation_dict.json`` and ``labels_dict.json``.

    ``copies`` adds SpaceJam-style augmented copies (``<id>_flipped_<k>``, vertically
    flipped so motion classes keep their meaning) that must share a split with their original.
    ``shuffle_labels`` permutes the labels across clips (nothing left to learn).
    """
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    annotations: dict[str, int] = {}
    k = 0
    for label, cls in enumerate(CLASSES):
        for _ in range(per_class):
            clip_id = f"{k:07d}"
            frames = clip_frames(cls, rng)
            _write(root / f"{clip_id}.mp4", frames)
            annotations[clip_id] = label
            for c in range(copies):
                _write(root / f"{clip_id}_flipped_{c}.mp4", frames[:, ::-1].copy())
                annotations[f"{clip_id}_flipped_{c}"] = label
            k += 1
    if shuffle_labels:
        ids = list(annotations)
        values = [annotations[i] for i in ids]
        rng.shuffle(values)
        annotations = dict(zip(ids, values))
    (root / "annotation_dict.json").write_text(json.dumps(annotations))
    (root / "labels_dict.json").write_text(json.dumps({str(i): c for i, c in enumerate(CLASSES)}))
    return root


def _write(path: Path, frames: np.ndarray) -> None:
    with VideoWriter(path, frames.shape[2], frames.shape[1], 16, pixel_format="rgb24", crf=12) as writer:
        for f in frames:
            writer.write(f)


# The learning tests' configuration: R(2+1)D-18 from scratch on 32x32 crops of 8 frames, in bf16 mixed
# precision on CPUs with native bf16 (weights stay fp32; about 2x faster there) and fp32 elsewhere.
LEARNING_CONFIG = TrainConfig(
    architecture="r2plus1d_18",
    epochs=10,
    batch_size=8,
    lr=2e-3,
    clip_len=8,
    frame_step=2,
    resize=40,
    crop_size=32,
    init="none",
    augment=Augment(flip=False, rotate_deg=5, translate=0.05, colour=0.1),
    workers=0,
    patience=10,
    precision="bf16" if native_bf16() else "fp32",
)


def train_on_motion(folder: Path, config: TrainConfig, *, shuffle: bool) -> tuple[Any, Path]:
    """Train ``config`` on a new motion set (40 clips a class; labels shuffled across clips when
    ``shuffle``) in ``folder``; print the best validation accuracy and speed; return the result and
    the checkpoint."""
    root = make_motion_dataset(
        folder / ("shuffled" if shuffle else "motion"), per_class=40, seed=0, shuffle_labels=shuffle
    )
    checkpoint = folder / f"{root.name}.pt"
    started = time.perf_counter()
    result = train(load_dataset(root, "spacejam"), config, checkpoint)
    elapsed = time.perf_counter() - started
    clips_s = sum(h["train_clips_per_s"] for h in result.history) / len(result.history)
    print(
        f"\n{config.architecture} on {root.name} ({config.precision}): best val accuracy "
        f"{result.best['val_accuracy']:.3f} at epoch {result.best_epoch}, {elapsed:.0f} s, {clips_s:.1f} training clips/s"
    )
    return result, checkpoint
