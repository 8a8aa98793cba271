"""Pure functions that turn player boxes and frames into model input.

Conventions: frames are uint8 ``(H, W, 3)``; the colour order is stated per
function. Crops handed between stages are RGB uint8. Model input is float32
``(B, 3, T, S, S)``, RGB, scaled to 0-1 and normalised with the checkpoint's
mean/std, the layout of torchvision's video models (Kinetics-style: square
crop resized to ``resize``, centre crop of ``crop_size``).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch


def square_box(xyxy: Sequence[float], context: float) -> np.ndarray:
    """Square ``[x1, y1, x2, y2]`` (float64) centred on the box, side ``context * max(w, h)``.

    ``context`` >= 1 adds surrounding pixels; the square may extend past the frame.
    """
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    side = max(x2 - x1, y2 - y1, 1.0) * context
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def crop_to_frame(points: np.ndarray, xyxy: Sequence[float], *, context: float, size: int) -> np.ndarray:
    """Points ``(..., 2+)`` (x, y in the pixels of the ``size`` x ``size`` crop that :func:`crop_square` cut
    around ``xyxy``, then any further columns) -> the same points with x, y in frame pixels."""
    sx1, sy1, sx2, _sy2 = square_box(xyxy, context)
    side = max(1, int(round(sx2 - sx1)))
    out = np.array(points, dtype=np.float32, copy=True)
    out[..., 0] = int(round(sx1)) + out[..., 0] * side / size
    out[..., 1] = int(round(sy1)) + out[..., 1] * side / size
    return out


def crop_square(
    image: np.ndarray,
    xyxy: Sequence[float],
    *,
    context: float,
    size: int,
    fill: Sequence[int] = (0, 0, 0),
    bgr: bool = True,
) -> np.ndarray:
    """Crop the square around a box and resize it to ``size`` x ``size``.

    ``image``: uint8 ``(H, W, 3)``, BGR when ``bgr`` (the decoder's order for
    drawing), else RGB. Returns RGB uint8 ``(size, size, 3)``. Parts of the
    square outside the frame are padded with ``fill`` (RGB), so the player
    stays centred at the frame edges.
    """
    h, w = image.shape[:2]
    sx1, sy1, sx2, _sy2 = square_box(xyxy, context)
    side = max(1, int(round(sx2 - sx1)))
    ix1, iy1 = int(round(sx1)), int(round(sy1))
    ix2, iy2 = ix1 + side, iy1 + side
    cx1, cy1, cx2, cy2 = max(ix1, 0), max(iy1, 0), min(ix2, w), min(iy2, h)
    pad = tuple(int(v) for v in (fill[::-1] if bgr else fill))
    if cx2 <= cx1 or cy2 <= cy1:  # entirely outside the frame
        canvas = np.empty((size, size, 3), np.uint8)
        canvas[:] = pad
    else:
        part = image[cy1:cy2, cx1:cx2]
        if (cx1, cy1, cx2, cy2) != (ix1, iy1, ix2, iy2):
            part = cv2.copyMakeBorder(part, cy1 - iy1, iy2 - cy2, cx1 - ix1, ix2 - cx2, cv2.BORDER_CONSTANT, value=pad)
        interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        canvas = cv2.resize(part, (size, size), interpolation=interp)
    if bgr:
        canvas = canvas[:, :, ::-1]
    return np.ascontiguousarray(canvas)


def resize_short_side(frames: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 ``(T, H, W, 3)`` frames (any colour order, kept) so the short side is ``size``."""
    _t, h, w = frames.shape[:3]
    if min(h, w) == size:
        return frames
    scale = size / min(h, w)
    nw, nh = max(size, int(round(w * scale))), max(size, int(round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (nw, nh), interpolation=interp) for f in frames])


def center_crop(frames: np.ndarray, size: int) -> np.ndarray:
    """Centre ``size`` x ``size`` crop of ``(T, H, W, C)`` frames (H and W must be >= ``size``)."""
    h, w = frames.shape[1:3]
    if h < size or w < size:
        raise ValueError(f"frames of {w}x{h} are smaller than the crop size {size}")
    top, left = (h - size) // 2, (w - size) // 2
    return frames[:, top : top + size, left : left + size]


def clips_to_tensor(
    clips: Sequence[np.ndarray], *, crop_size: int, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """Stack RGB uint8 clips ``(T, H, W, 3)`` into normalised float32 ``(B, 3, T, crop, crop)``.

    Each clip is centre-cropped to ``crop_size`` (its frames must already be at
    least that large), scaled to 0-1 and normalised per channel:
    ``(x / 255 - mean) / std``.
    """
    batch = np.stack([center_crop(c, crop_size) for c in clips])  # (B, T, S, S, 3) uint8
    return normalise_batch(torch.from_numpy(batch), mean=mean, std=std)


def normalise_batch(batch: torch.Tensor, *, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """RGB uint8 ``(B, T, H, W, 3)`` -> normalised float32 ``(B, 3, T, H, W)``: ``(x / 255 - mean) / std``."""
    x = batch.permute(0, 4, 1, 2, 3).float().div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1, 1)
    return x.sub_(m).div_(s).contiguous()
