"""Pure filters that drop detections which are not players.

All functions take and return ``supervision.Detections`` (xyxy in pixels) and
never modify their input.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import supervision as sv

from hoopsense.detection import PERSON
from hoopsense.errors import ConfigError


def persons(detections: sv.Detections) -> sv.Detections:
    """Only the ``person`` detections."""
    if detections.class_id is None:
        return detections[np.ones(len(detections), dtype=bool)]
    return detections[detections.class_id == PERSON]


def min_height(detections: sv.Detections, frame_height: int, fraction: float) -> sv.Detections:
    """Drop boxes shorter than ``fraction`` of the frame height (far crowd, partial heads)."""
    heights = detections.xyxy[:, 3] - detections.xyxy[:, 1]
    return detections[heights >= fraction * frame_height]


def court_points(court: str | Sequence[Sequence[float]]) -> tuple[tuple[float, float], ...]:
    """Parse ``"x1,y1,x2,y2,..."`` (or check a sequence of points) into finite ``(x, y)`` pairs.

    At least three points are needed; values stay as given (pixels, or 0-1 fractions).
    """
    field = "TrackerConfig.court"
    if isinstance(court, str):
        try:
            values = [float(v) for v in court.replace(";", ",").replace(" ", ",").split(",") if v]
        except ValueError:
            raise ConfigError(f"court polygon must be numbers 'x1,y1,x2,y2,...', got {court!r}", field=field) from None
    else:
        try:
            values = [float(v) for point in court for v in point]
        except (TypeError, ValueError):
            raise ConfigError(f"court polygon must be (x, y) points, got {court!r}", field=field) from None
    if len(values) < 6 or len(values) % 2:
        raise ConfigError(f"court polygon needs at least 3 x,y pairs, got {len(values)} numbers", field=field)
    if not all(np.isfinite(values)) or min(values) < 0:
        raise ConfigError("court polygon values must be finite and >= 0", field=field)
    return tuple((values[i], values[i + 1]) for i in range(0, len(values), 2))


def to_pixels(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Polygon ``(N, 2)`` in pixels: values all in [0, 1] are fractions of the frame size."""
    points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    if np.all((points >= 0) & (points <= 1)):
        points = points * np.array([width, height], dtype=np.float32)
    return points


def inside_polygon(detections: sv.Detections, polygon: np.ndarray | Sequence[Sequence[float]]) -> sv.Detections:
    """Keep detections whose feet (bottom centre of the box) lie in ``polygon`` (N, 2) pixels."""
    poly = np.asarray(polygon, dtype=np.float32).reshape(-1, 1, 2)
    feet_x = (detections.xyxy[:, 0] + detections.xyxy[:, 2]) / 2
    feet_y = detections.xyxy[:, 3]
    keep = np.array(
        [cv2.pointPolygonTest(poly, (float(x), float(y)), False) >= 0 for x, y in zip(feet_x, feet_y)],
        dtype=bool,
    )
    return detections[keep]


def doubled_pairs(xyxy: np.ndarray, min_cover: float, feet: float) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, of boxes that are one person seen twice: the smaller box lies at least
    ``min_cover`` of its area inside the larger, and their bottom edges (the feet) are within ``feet`` times
    the taller box's height of each other (an arm raised for a shot, or the ball held out, makes a second,
    taller or wider box around the body box). A player hidden behind another stands deeper in the picture, so
    his feet are higher up. ``xyxy``: float ``(N, 4)``."""
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if len(b) < 2:
        return []
    w = np.clip(b[:, 2] - b[:, 0], 0, None)
    h = np.clip(b[:, 3] - b[:, 1], 0, None)
    area = w * h
    iw = np.clip(np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1]), 0, None)
    smaller = np.minimum(area[:, None], area[None, :])
    cover = np.where(smaller > 0, iw * ih / np.maximum(smaller, 1e-12), 0.0)
    together = np.abs(b[:, None, 3] - b[None, :, 3]) <= feet * np.maximum(h[:, None], h[None, :])
    i, j = np.nonzero(np.triu((cover >= min_cover) & together, k=1))
    return list(zip(i.tolist(), j.tolist()))
