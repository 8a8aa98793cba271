"""The skeleton recognizer: a temporal convolution network over a player's normalised keypoints.

A clip is ``T`` frames of the 17 COCO keypoints of one player (x, y in
pixels, confidence 0-1), as a pose model gives them. :func:`normalise_keypoints`
makes them independent of where the player stands and how large he appears:
every frame is centred on the player's hips and the whole clip is scaled by
his torso length, so the same movement gives the same numbers in a full
frame, in a player crop of any size, near or far from the camera. The
confidences are kept as a third channel (a hidden wrist is a zero point with
zero confidence, not a point at the hip).

:class:`SkeletonNet` reads each frame's 51 numbers and their change since the
previous frame, mixes them with a 1x1 convolution, then runs residual
temporal convolutions (kernel 3) and pools over time. It has about 0.16 M
parameters and costs about 5 MFLOPs per 16-frame clip, against about 81 GFLOPs for
R(2+1)D-18.

With a ball detector, a clip can also carry the ball: ``(T, 3)``, its
centre (x, y, in the same pixels as the keypoints) and the detector's
confidence, zero where no ball was found. :func:`normalise_keypoints` turns
it into an 18th point, relative to the player like his joints, and drops it
where it lies more than ``LIMIT`` torso lengths from his hips (a ball that
is not near him says nothing about his action). The ``skeleton-ball-tcn``
architecture reads these 18 points.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

KEYPOINTS = 17  # COCO: nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles
# the COCO keypoint that each one becomes in a mirror image (left and right swap)
FLIP = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
BALL_POINT = KEYPOINTS  # the index of the ball, after the player's keypoints
SHOULDERS, HIPS = (5, 6), (11, 12)
MIN_CONFIDENCE = 0.3  # a point at least this confident locates the player's centre and size
LIMIT = 4.0  # normalised coordinates are clipped to +-LIMIT torso lengths


def normalise_keypoints(
    keypoints: np.ndarray, ball: np.ndarray | None = None, min_confidence: float = MIN_CONFIDENCE
) -> np.ndarray:
    """A clip's keypoints ``(T, 17, 3)`` (x, y in any pixel frame, confidence) -> float32 ``(T, 17, 3)``,
    or ``(T, 18, 3)`` with ``ball`` ``(T, 3)`` (x, y in the same pixels, confidence; 0 where not found).

    x and y become offsets from the frame's hip centre (the mid-point of the
    hips; the shoulders' mid-point, or the confident points' mean, where the
    hips are not seen; the nearest located frame's centre where nothing is)
    divided by the clip's torso length (the median distance from mid-shoulder
    to mid-hip; a third of the median height of the confident points when no
    torso is seen), clipped to +-4. Points below ``min_confidence`` keep their
    confidence but get x = y = 0, so unseen points carry no position. The
    ball, where found (any confidence above 0) and within 4 torso lengths of
    the hip centre, is normalised like a joint; elsewhere it is all zero.
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (KEYPOINTS, 3):
        raise ValueError(f"keypoints must be (T, {KEYPOINTS}, 3), got {kp.shape}")
    xy, conf = kp[..., :2], kp[..., 2]
    seen = conf >= min_confidence
    if ball is not None:
        ball = np.asarray(ball, dtype=np.float32)
        if ball.shape != (len(kp), 3):
            raise ValueError(f"ball must be ({len(kp)}, 3), got {ball.shape}")
    placed = _centre_and_scale(xy, seen)
    if placed is None:  # no point seen in any frame: nothing locates the player (nor the ball near him)
        out = np.concatenate([np.zeros_like(xy), conf[..., None]], axis=2)
        return out if ball is None else np.concatenate([out, np.zeros((len(kp), 1, 3), np.float32)], axis=1)
    centre, scale = placed
    out = np.clip((xy - centre[:, None, :]) / scale, -LIMIT, LIMIT)
    out[~seen] = 0.0
    out = np.concatenate([out, conf[..., None]], axis=2).astype(np.float32)
    if ball is None:
        return out
    near = np.zeros((len(kp), 1, 3), np.float32)
    offset = (ball[:, :2] - centre) / scale
    found = (ball[:, 2] > 0) & (np.abs(offset) <= LIMIT).all(axis=1)
    near[found, 0, :2] = offset[found]
    near[found, 0, 2] = ball[found, 2]
    return np.concatenate([out, near], axis=1)


def _centre_and_scale(xy: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Every frame's centre ``(T, 2)`` and the clip's scale (see :func:`normalise_keypoints`), or None
    when no point is seen in any frame."""
    centre = np.full((len(xy), 2), np.nan, np.float32)
    for pair in (HIPS, SHOULDERS):
        both = seen[:, pair[0]] & seen[:, pair[1]] & np.isnan(centre[:, 0])
        centre[both] = (xy[both, pair[0]] + xy[both, pair[1]]) / 2
    rest = np.isnan(centre[:, 0]) & seen.any(axis=1)
    if rest.any():
        weights = seen[rest][..., None].astype(np.float32)
        centre[rest] = (xy[rest] * weights).sum(axis=1) / weights.sum(axis=1)
    located = ~np.isnan(centre[:, 0])
    if not located.any():
        return None
    where = np.flatnonzero(located)
    nearest = where[np.abs(np.arange(len(xy))[:, None] - where[None, :]).argmin(axis=1)]
    centre = centre[nearest]
    torso_seen = seen[:, list(SHOULDERS + HIPS)].all(axis=1)
    if torso_seen.any():
        shoulders = xy[torso_seen][:, list(SHOULDERS)].mean(axis=1)
        hips = xy[torso_seen][:, list(HIPS)].mean(axis=1)
        scale = float(np.median(np.linalg.norm(shoulders - hips, axis=1)))
    else:
        heights = [np.ptp(xy[t, seen[t], 1]) for t in range(len(xy)) if seen[t].sum() >= 2]
        scale = float(np.median(heights)) / 3 if heights else 0.0
    return centre, max(scale, 1e-3)


def augment_keypoints(
    kp: np.ndarray,
    rng: np.random.Generator,
    *,
    flip: bool = True,
    rotate_deg: float = 8.0,
    scale: float = 0.1,
    noise: float = 0.02,
    drop: float = 0.05,
) -> np.ndarray:
    """One random mirror, rotation, zoom, per-point noise and dropped points for a normalised clip
    ``(T, 17, 3)``, or ``(T, 18, 3)`` with the ball (which mirrors in place)."""
    out = kp.copy()
    if flip and rng.random() < 0.5:
        out = out[:, list(FLIP) + list(range(KEYPOINTS, out.shape[1]))]
        out[..., 0] *= -1
    angle = np.deg2rad(rng.uniform(-rotate_deg, rotate_deg))
    zoom = 1.0 + rng.uniform(-scale, scale)
    c, s = np.cos(angle) * zoom, np.sin(angle) * zoom
    x, y = out[..., 0].copy(), out[..., 1].copy()
    out[..., 0], out[..., 1] = c * x - s * y, s * x + c * y
    seen = out[..., 2] >= MIN_CONFIDENCE
    out[..., :2] += rng.normal(0, noise, out[..., :2].shape).astype(np.float32) * seen[..., None]
    if drop:
        lost = rng.random(out.shape[:2]) < drop
        out[lost] = 0.0
    return np.clip(out, -LIMIT, LIMIT).astype(np.float32)


class _Block(nn.Module):
    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm1d(channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.dropout(torch.relu(self.norm(self.conv(x))))


class SkeletonNet(nn.Module):
    """Temporal convolutions over normalised keypoints.

    Input float ``(B, T, points, 3)`` from :func:`normalise_keypoints` (17
    points, or 18 with the ball); output ``(B, classes)``. Each frame gives
    its ``3 * points`` values and the change of its ``2 * points``
    coordinates since the previous frame (zero at ``t = 0``); ``embed`` (1x1
    convolution) maps them to ``width`` channels, ``blocks`` residual temporal
    convolutions follow, then the mean and the maximum over time go through
    ``fc`` (named like the video networks' head).
    """

    def __init__(
        self, num_classes: int = 1000, width: int = 128, blocks: int = 3, dropout: float = 0.2, points: int = KEYPOINTS
    ) -> None:
        super().__init__()
        self.points = points
        inputs = points * 3 + points * 2
        self.embed = nn.Sequential(nn.Conv1d(inputs, width, 1, bias=False), nn.BatchNorm1d(width), nn.ReLU())
        self.blocks = nn.Sequential(*[_Block(width, dropout) for _ in range(blocks)])
        self.dropout = nn.Dropout(0.3)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        xy = x[..., :2].reshape(b, t, -1)
        change = torch.cat([torch.zeros_like(xy[:, :1]), xy[:, 1:] - xy[:, :-1]], dim=1)
        h = torch.cat([x.reshape(b, t, -1), change], dim=2).transpose(1, 2)  # (B, features, T)
        h = self.blocks(self.embed(h))
        pooled = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)
        return self.fc(self.dropout(pooled))


def keypoints_batch(clips: list[np.ndarray], balls: list[np.ndarray] | None = None) -> torch.Tensor:
    """Raw keypoint clips (each ``(T, 17, 3)``, with ``balls`` each ``(T, 3)``) -> the normalised float32
    batch ``(N, T, 17, 3)`` (``(N, T, 18, 3)`` with the balls)."""
    if not clips:
        return torch.empty((0, 1, KEYPOINTS + (balls is not None), 3))
    if balls is None:
        return torch.from_numpy(np.stack([normalise_keypoints(c) for c in clips]))
    return torch.from_numpy(np.stack([normalise_keypoints(c, b) for c, b in zip(clips, balls, strict=True)]))
