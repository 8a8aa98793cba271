"""Clip sampling, spatial fitting and augmentation (pure numpy/OpenCV, one random draw per clip).

Clips are RGB uint8 ``(T, H, W, 3)``; every function returns the same layout
and dtype. A random transform is drawn once per clip and applied to all of its
frames, so motion stays coherent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from hoopsense.errors import ConfigError
from hoopsense.recognizer.transforms import center_crop, resize_short_side


def sample_indices(
    n: int, clip_len: int, frame_step: int = 1, *, rng: np.random.Generator | None = None, jitter: int = 0
) -> np.ndarray:
    """Frame indices (int64 ``(clip_len,)``) of one clip from a video of ``n`` frames.

    Without ``rng`` the clip is centred; with it the start is random, moved by
    up to ``jitter`` frames either way. Indices past either end repeat the
    first or last frame, so clips shorter than the span are padded.
    """
    span = (clip_len - 1) * frame_step + 1
    if rng is None:
        start = (n - span) // 2 if n >= span else 0
    else:
        start = int(rng.integers(0, max(0, n - span) + 1))
        if jitter:
            start += int(rng.integers(-jitter, jitter + 1))
    return np.clip(start + frame_step * np.arange(clip_len), 0, n - 1).astype(np.int64)


def fit_square(clip: np.ndarray, size: int, fill: Sequence[int]) -> np.ndarray:
    """Pad to a centred square with ``fill`` (RGB), then resize to ``size`` x ``size``."""
    t, h, w = clip.shape[:3]
    side = max(h, w)
    if h != w:
        out = np.empty((t, side, side, 3), np.uint8)
        out[:] = np.asarray(fill, np.uint8)
        top, left = (side - h) // 2, (side - w) // 2
        out[:, top : top + h, left : left + w] = clip
        clip = out
    return resize_short_side(clip, size)


def fit(clip: np.ndarray, mode: str, size: int, fill: Sequence[int]) -> np.ndarray:
    """``pad`` (player crops: square like the crops at inference) or ``crop`` (scenes: short side to ``size``)."""
    if mode == "pad":
        return fit_square(clip, size, fill)
    if mode == "crop":
        return resize_short_side(clip, size)
    raise ConfigError(f"fit must be pad or crop, got {mode!r}")


@dataclass(frozen=True)
class Augment:
    """Training augmentation strengths; ``flip`` must be off when direction defines the class."""

    flip: bool = True
    rotate_deg: float = 8.0
    translate: float = 0.06
    scale: float = 0.1
    colour: float = 0.2
    jitter_frames: int = 2

    def __post_init__(self) -> None:
        if (
            not 0 <= self.rotate_deg <= 45
            or not 0 <= self.translate <= 0.5
            or not 0 <= self.scale <= 0.5
            or not 0 <= self.colour <= 1
        ):
            raise ConfigError(
                "augmentation strengths out of range (rotate 0-45 deg, translate 0-0.5, scale 0-0.5, colour 0-1)"
            )

    def apply(self, clip: np.ndarray, rng: np.random.Generator, fill: Sequence[int]) -> np.ndarray:
        """One random flip, rotation/translation/scale and colour change for the whole clip."""
        _t, h, w = clip.shape[:3]
        if self.flip and rng.random() < 0.5:
            clip = clip[:, :, ::-1]
        angle = rng.uniform(-self.rotate_deg, self.rotate_deg)
        zoom = 1.0 + rng.uniform(-self.scale, self.scale)
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, zoom)
        matrix[:, 2] += rng.uniform(-self.translate, self.translate, 2) * (w, h)
        border = tuple(int(v) for v in fill)
        clip = np.stack(
            [
                cv2.warpAffine(
                    np.ascontiguousarray(f),
                    matrix,
                    (w, h),
                    flags=cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT,
                    borderValue=border,
                )
                for f in clip
            ]
        )
        if self.colour:
            c = self.colour
            x = clip.astype(np.float32)
            grey = x.mean(axis=3, keepdims=True)
            x = grey + (x - grey) * rng.uniform(1 - c, 1 + c)  # saturation
            x = (x - x.mean()) * rng.uniform(1 - c, 1 + c) + x.mean()  # contrast
            x = x * rng.uniform(1 - c, 1 + c)  # brightness
            clip = np.clip(x, 0, 255).astype(np.uint8)
        return clip


def random_crop(clip: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    h, w = clip.shape[1:3]
    if h < size or w < size:
        raise ValueError(f"frames of {w}x{h} are smaller than the crop size {size}")
    top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return clip[:, top : top + size, left : left + size]


def prepare_clip(
    frames: np.ndarray,
    *,
    clip_len: int,
    frame_step: int,
    resize: int,
    crop_size: int,
    fit_mode: str,
    fill: Sequence[int],
    augment: Augment | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """A video's frames -> one model-ready RGB uint8 clip ``(clip_len, crop_size, crop_size, 3)``.

    Evaluation (no ``augment``): centred clip, fitted, centre crop, exactly as
    the recognizer crops player squares. Training: random start with jitter,
    augmentation, random crop.
    """
    train = augment is not None and rng is not None
    idx = sample_indices(
        len(frames), clip_len, frame_step, rng=rng if train else None, jitter=augment.jitter_frames if train else 0
    )
    clip = fit(frames[idx], fit_mode, resize, fill)
    if not train:
        return np.ascontiguousarray(center_crop(clip, crop_size))
    clip = augment.apply(clip, rng, fill)
    return np.ascontiguousarray(random_crop(clip, crop_size, rng))
