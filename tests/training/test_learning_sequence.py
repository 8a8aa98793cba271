"""The per-frame CNN + GRU recognizer learns motion, and nothing from shuffled labels (slow: about 40 s each on one core).

The synthetic classes (left, right, bounce, still) look identical frame by
frame, so a per-frame network that averaged its frames could not tell them
apart; a high validation accuracy means the GRU over the frame features (and
their changes from frame to frame) picked up the motion.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from motion import LEARNING_CONFIG, train_on_motion

pytestmark = pytest.mark.slow

CONFIG = replace(
    LEARNING_CONFIG,
    architecture="frames-mobilenet_v3_small-gru",
    resize=72,  # MobileNetV3 divides by 32: 64 leaves a 2x2 last feature map
    crop_size=64,
    precision="fp32",  # bf16 does not speed this network up on the CPU
)


def test_learns_motion_classes(tmp_path):
    result, _ = train_on_motion(tmp_path, CONFIG, shuffle=False)
    assert result.best["val_accuracy"] >= 0.9, result.history
    assert result.best["val_macro_f1"] >= 0.9


def test_shuffled_labels_stay_near_chance(tmp_path):
    result, _ = train_on_motion(tmp_path, CONFIG, shuffle=True)
    assert result.best["val_accuracy"] <= 0.5, result.history  # chance is 0.25 with four balanced classes
