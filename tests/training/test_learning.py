"""The training loop learns motion with R(2+1)D-18, and its trained checkpoint predicts the same in
bf16 as in fp32 (slow: about 2-3 minutes on 2 cores).

The control that the data pipeline leaks no labels (shuffled labels stay near
chance) runs in ``test_learning_sequence.py`` on a network ten times cheaper:
the dataset, loader and split under test are the same.

The synthetic classes (left, right, bounce, still) look identical frame by
frame; only motion separates them, so a high validation accuracy means the
video network picked up temporal information.

Training runs in bf16 mixed precision on CPUs with native bf16 (weights stay
fp32; about 2x faster there) and in fp32 elsewhere.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from motion import CLASSES, LEARNING_CONFIG, clip_frames, train_on_motion

from hoopsense.devices import native_bf16
from hoopsense.recognizer.recognizer import Recognizer, RecognizerConfig

pytestmark = pytest.mark.slow

# The synthetic set and the bf16 kernels vary a little from run to run: in 10 epochs, 3 of 4 runs here reached
# 0.9 to 1.0 by epoch 9 and one CI run stopped at 0.875; 12 epochs leave that margin to the threshold
CONFIG = replace(LEARNING_CONFIG, epochs=12, patience=12)


@pytest.fixture(scope="module")
def motion_run(tmp_path_factory):
    return train_on_motion(tmp_path_factory.mktemp("learning"), CONFIG, shuffle=False)


def test_learns_motion_classes(motion_run):
    result, _ = motion_run
    assert result.best["val_accuracy"] >= 0.9, result.history
    assert result.best["val_macro_f1"] >= 0.9


def _fresh_clips(n_per_class: int, seed: int) -> tuple[list[np.ndarray], list[int]]:
    """New motion clips (never trained on) as the recognizer takes them: ``clip_len`` frames every
    ``frame_step``, resized to ``resize``; RGB uint8 ``(T, S, S, 3)``."""
    rng = np.random.default_rng(seed)
    clips, labels = [], []
    for label, cls in enumerate(CLASSES):
        for _ in range(n_per_class):
            frames = clip_frames(cls, rng)[:: CONFIG.frame_step][: CONFIG.clip_len]
            clips.append(np.stack([cv2.resize(f, (CONFIG.resize, CONFIG.resize)) for f in frames]))
            labels.append(label)
    return clips, labels


@pytest.mark.skipif(not native_bf16(), reason="this CPU has no native bf16 (AVX512-BF16 or AMX)")
def test_bf16_inference_agrees_with_fp32_on_the_trained_checkpoint(motion_run):
    """What makes bf16 the CPU default for inference: the same top-1 class as fp32 on 99% of clips."""
    _, checkpoint = motion_run
    clips, labels = _fresh_clips(75, seed=1)
    fp32 = Recognizer(RecognizerConfig(str(checkpoint), device="cpu", batch_size=16, precision="fp32", backend="torch"))
    bf16 = Recognizer(RecognizerConfig(str(checkpoint), device="cpu", batch_size=16))  # the default: bf16 here
    assert str(bf16.dtype) == "torch.bfloat16"
    p32, p16 = fp32.predict_clips(clips), bf16.predict_clips(clips)
    agreement = float((p32.argmax(1) == p16.argmax(1)).mean())
    accuracy = float((p32.argmax(1) == np.array(labels)).mean())
    print(f"\nbf16 vs fp32 top-1 agreement {agreement:.3f} on {len(clips)} new clips (fp32 accuracy {accuracy:.3f})")
    assert accuracy >= 0.8  # a checkpoint that learned something, so agreement is not about noise
    assert agreement >= 0.99
    assert np.abs(p32 - p16).max() < 0.1
