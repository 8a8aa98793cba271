"""The player gallery: each identity's clearest crop, so a coach can tell who ``#7`` is.

A crop's quality favours large, sharp, unoccluded and uncut views of a
confidently detected person: box height (capped), detector confidence, the
sharpness of the crop (variance of its Laplacian), a penalty when another
person's box overlaps it and when it touches the frame border. Only the best
crop of each fragment is kept, as a small thumbnail, and a fragment's best
joins its identity's once the fragment is decided, so memory is bounded by
the number of identities (plus the few fragments still undecided).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import supervision as sv

THUMB_HEIGHT = 192  # pixels; thumbnails keep the box's aspect ratio


@dataclass
class Thumbnail:
    score: float
    frame: int
    image: np.ndarray  # BGR uint8, THUMB_HEIGHT high


def crop_quality(image: np.ndarray, boxes: np.ndarray, confidence: np.ndarray, scale: float) -> np.ndarray:
    """Quality of each box of ``image`` (boxes in that image's pixels; ``scale`` = image px per frame px)."""
    n = len(boxes)
    if n == 0:
        return np.zeros(0)
    h_img, w_img = image.shape[:2]
    heights = (boxes[:, 3] - boxes[:, 1]) / max(scale, 1e-6)
    iou = sv.box_iou_batch(boxes, boxes) if n > 1 else np.zeros((1, 1))
    np.fill_diagonal(iou, 0)
    overlap = iou.max(axis=1) if n > 1 else np.zeros(1)
    edge = (boxes[:, 0] <= 1) | (boxes[:, 1] <= 1) | (boxes[:, 2] >= w_img - 1) | (boxes[:, 3] >= h_img - 1)
    score = np.minimum(heights, 300.0) * np.clip(confidence, 0.05, 1.0)
    score = score * np.where(overlap > 0.02, 0.3, 1.0) * np.where(edge, 0.5, 1.0)
    return score


def sharpness(crop: np.ndarray) -> float:
    """0.5-1: how sharp a crop is (variance of the Laplacian of its grey image, saturating)."""
    if crop.size == 0:
        return 0.5
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    return 0.5 + 0.5 * min(1.0, float(cv2.Laplacian(grey, cv2.CV_64F).var()) / 200.0)


def cut_thumbnail(image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    h_img, w_img = image.shape[:2]
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(w_img, int(np.ceil(box[2]))), min(h_img, int(np.ceil(box[3])))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    crop = image[y1:y2, x1:x2]
    width = max(1, int(round(crop.shape[1] * THUMB_HEIGHT / crop.shape[0])))
    interpolation = cv2.INTER_AREA if crop.shape[0] > THUMB_HEIGHT else cv2.INTER_CUBIC
    return cv2.resize(crop, (width, THUMB_HEIGHT), interpolation=interpolation)


class Gallery:
    """Best thumbnail per fragment, then per identity."""

    def __init__(self) -> None:
        self.fragments: dict[int, Thumbnail] = {}
        self.identities: dict[int, Thumbnail] = {}

    def offer(
        self, frame: int, image: np.ndarray, boxes: np.ndarray, confidence: np.ndarray, fragments: np.ndarray,
        scale: float,
    ) -> None:  # fmt: skip
        """Consider the boxes of one frame (in ``image``'s pixels) as thumbnails of their fragments."""
        scores = crop_quality(image, boxes, confidence, scale)
        for box, score, fid in zip(boxes, scores, fragments, strict=True):
            best = self.fragments.get(int(fid))
            if best is not None and score <= best.score:  # sharpness can only lower a score: skip the crop
                continue
            thumb = cut_thumbnail(image, box)
            if thumb is None:
                continue
            score = float(score) * sharpness(thumb)
            if best is None or score > best.score:
                self.fragments[int(fid)] = Thumbnail(score, frame, thumb)

    def merge(self, fragment: int, identity: int) -> None:
        """A decided fragment's best crop competes for its identity's thumbnail."""
        thumb = self.fragments.pop(int(fragment), None)
        if thumb is None:
            return
        best = self.identities.get(identity)
        if best is None or thumb.score > best.score:
            self.identities[identity] = thumb

    def jpeg(self, identity: int, quality: int = 90) -> bytes | None:
        thumb = self.identities.get(identity)
        if thumb is None:
            return None
        ok, data = cv2.imencode(".jpg", thumb.image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        return data.tobytes() if ok else None
