"""The per-frame CNN + GRU recognizer learns motion, and nothing from shuffled labels (slow: about 40 s each on one core).

The synthetic classes (left, right, bounce, still) look identical frame by
frame, so a per-frame network that averaged its frames could not tell them
apart; a high validation accuracy means the GRU over the frame features (and
their changes from frame to frame) picked up the motion.
"""

from __future__ import annotations

import time

import pytest
from motion import make_motion_dataset

from hoopsense.training.augment import Augment
from hoopsense.training.formats import load_dataset
from hoopsense.training.loop import TrainConfig, train

pytestmark = pytest.mark.slow

CONFIG = TrainConfig(
    architecture="frames-mobilenet_v3_small-gru",
    epochs=10,
    batch_size=8,
    lr=2e-3,
    clip_len=8,
    frame_step=2,
    resize=72,  # MobileNetV3 divides by 32: 64 leaves a 2x2 last feature map
    crop_size=64,
    init="none",
    augment=Augment(flip=False, rotate_deg=5, translate=0.05, colour=0.1),
    workers=0,
    patience=10,
)


def _run(tmp_path, shuffle: bool):
    root = make_motion_dataset(
        tmp_path / ("shuffled" if shuffle else "motion"), per_class=40, seed=0, shuffle_labels=shuffle
    )
    started = time.perf_counter()
    result = train(load_dataset(root, "spacejam"), CONFIG, tmp_path / f"{root.name}.pt")
    elapsed = time.perf_counter() - started
    clips_s = sum(h["train_clips_per_s"] for h in result.history) / len(result.history)
    print(
        f"\n{root.name}: best val accuracy {result.best['val_accuracy']:.3f} at epoch {result.best_epoch}, "
        f"{elapsed:.0f} s, {clips_s:.1f} training clips/s"
    )
    return result


def test_learns_motion_classes(tmp_path):
    result = _run(tmp_path, shuffle=False)
    assert result.best["val_accuracy"] >= 0.9, result.history
    assert result.best["val_macro_f1"] >= 0.9


def test_shuffled_labels_stay_near_chance(tmp_path):
    result = _run(tmp_path, shuffle=True)
    assert result.best["val_accuracy"] <= 0.5, result.history  # chance is 0.25 with four balanced classes
