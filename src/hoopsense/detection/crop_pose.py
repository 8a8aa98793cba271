"""Keypoints of the player, and the ball near him, in each of many small images (player crops).

Clip datasets hold player crops, not full frames, and a pose model is made
for a 640x640 picture: running it once per 100-pixel crop would waste almost
all of its work. :class:`CropPose` tiles the crops into mosaics instead, 4x4
crops of 160x160 pixels (each scaled to fit, keeping its aspect) in one
640x640 input, runs the model once per mosaic and gives each crop the person
found in its tile: the most confident one, discounted by how far his box's
centre lies from the crop's centre (crops are centred on their player).
Whole-scene videos (``mosaic=False``) go through the model one frame at a
time and keep the most confident, largest person near the centre.

:class:`CropBall` tiles the crops the same way through a detector with a
ball class (COCO's ``sports ball``, or a basketball detector's ``ball`` or
``basketball``) and gives each crop the most confident ball in its tile.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import cv2
import numpy as np
import supervision as sv

from hoopsense.detection.base import BALL, PERSON, DetectorConfig
from hoopsense.errors import WeightsError
from hoopsense.recognizer.skeleton import KEYPOINTS

TILE = 160
GRID = 4  # tiles per side: 4 x 160 = 640, the pose models' input size
FILL = 114  # Ultralytics' letterbox grey


class CropPose:
    """A pose model that returns one player's keypoints per image; see the module docstring."""

    def __init__(self, weights: str, *, device: str = "auto", conf: float = 0.1) -> None:
        from hoopsense.detection.yolo import YoloDetector

        self.detector = YoloDetector(DetectorConfig(weights=weights, conf=conf, device=device, imgsz=TILE * GRID))
        if self.detector.task != "pose":
            raise WeightsError(
                f"{self.detector.weights_path} is a {self.detector.task} model; keypoints need a pose model "
                f"(e.g. yolo11n-pose.pt)"
            )
        self.name = self.detector.model_name

    def __call__(self, images: Sequence[np.ndarray], *, mosaic: bool = True) -> np.ndarray:
        """float32 ``(N, 17, 3)``: each RGB uint8 image's player, x and y in that image's pixels and
        confidence 0-1 (all zero where no one was found)."""
        out = np.zeros((len(images), KEYPOINTS, 3), np.float32)
        if not mosaic:
            for i, image in enumerate(images):
                found = self.detector.detect([np.ascontiguousarray(image)])[0]
                h, w = image.shape[:2]
                out[i] = _pick(found, (w / 2, h / 2), max(h, w), (0, 0), 1.0, area=True)
            return out
        for start, found, places in _mosaics(self.detector, images):
            for j, (left, top, scale, nw, nh) in enumerate(places):
                inside = _inside(found, left, top, nw, nh)
                out[start + j] = _pick(found[inside], (left + nw / 2, top + nh / 2), max(nw, nh), (left, top), scale)
        return out


class CropBall:
    """A detector with a ball class that returns the ball in each image; see the module docstring."""

    def __init__(self, weights: str, *, device: str = "auto", conf: float = 0.1) -> None:
        from hoopsense.detection.yolo import YoloDetector

        self.detector = YoloDetector(
            DetectorConfig(weights=weights, conf=conf, device=device, imgsz=TILE * GRID), need_person=False
        )
        if not self.detector.finds_ball:
            raise WeightsError(
                f"{self.detector.weights_path} has no ball class; the ball input needs a detector that finds "
                f"one (e.g. yolo11n.pt, whose COCO classes include 'sports ball')"
            )
        self.name = self.detector.model_name

    def __call__(self, images: Sequence[np.ndarray], *, mosaic: bool = True) -> np.ndarray:
        """float32 ``(N, 3)``: the centre of each RGB uint8 image's most confident ball, in that image's
        pixels, and its confidence (all zero where none was found). ``mosaic=False``: whole scenes, one
        at a time."""
        out = np.zeros((len(images), 3), np.float32)
        tiled = (
            _mosaics(self.detector, images)
            if mosaic
            else (
                (i, self.detector.detect([np.ascontiguousarray(im)])[0], [(0, 0, 1.0, im.shape[1], im.shape[0])])
                for i, im in enumerate(images)
            )
        )
        for start, found, places in tiled:
            balls = found[found.class_id == BALL] if len(found) else found
            for j, (left, top, scale, nw, nh) in enumerate(places):
                inside = _inside(balls, left, top, nw, nh)
                if not inside.any():
                    continue
                best = int(np.flatnonzero(inside)[np.argmax(balls.confidence[inside])])
                x1, y1, x2, y2 = balls.xyxy[best]
                out[start + j] = ((x1 + x2) / 2 - left) / scale, ((y1 + y2) / 2 - top) / scale, balls.confidence[best]
        return out


def _mosaics(detector, images: Sequence[np.ndarray]) -> Iterator[tuple[int, sv.Detections, list[tuple]]]:
    """Run ``detector`` on the images tiled 16 to a mosaic; yields each mosaic's first image index, its
    detections (mosaic pixels) and each image's place ``(left, top, scale, width, height)`` in it."""
    per = GRID * GRID
    for start in range(0, len(images), per):
        chunk = images[start : start + per]
        canvas = np.full((GRID * TILE, GRID * TILE, 3), FILL, np.uint8)
        places = []
        for j, image in enumerate(chunk):
            h, w = image.shape[:2]
            scale = TILE / max(h, w)
            nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
            left = (j % GRID) * TILE + (TILE - nw) // 2
            top = (j // GRID) * TILE + (TILE - nh) // 2
            canvas[top : top + nh, left : left + nw] = cv2.resize(
                np.ascontiguousarray(image),
                (nw, nh),
                interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
            )
            places.append((left, top, scale, nw, nh))
        yield start, detector.detect([canvas])[0], places


def _inside(found, left: float, top: float, w: float, h: float) -> np.ndarray:
    if not len(found):
        return np.zeros(0, bool)
    cx = (found.xyxy[:, 0] + found.xyxy[:, 2]) / 2
    cy = (found.xyxy[:, 1] + found.xyxy[:, 3]) / 2
    return (cx >= left) & (cx < left + w) & (cy >= top) & (cy < top + h)


def _pick(found, centre, size: float, origin, scale: float, *, area: bool = False) -> np.ndarray:
    """The keypoints ``(17, 3)`` of the best person in ``found``, mapped from the model's pixels back to the
    image's (``origin`` of the image in the model's input, ``scale`` the image was resized by)."""
    none = np.zeros((KEYPOINTS, 3), np.float32)
    if not len(found) or "keypoints" not in found.data:
        return none
    people = found.class_id == PERSON
    if not people.any():
        return none
    xyxy, conf, kps = found.xyxy[people], found.confidence[people], found.data["keypoints"][people]
    cx, cy = (xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2
    off = np.hypot(cx - centre[0], cy - centre[1]) / max(size, 1.0)
    score = conf * np.clip(1.0 - off, 0.05, 1.0)
    if area:
        score = score * np.sqrt((xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1]) / max(size, 1.0) ** 2)
    best = kps[int(np.argmax(score))].astype(np.float32).copy()
    if best.shape != (KEYPOINTS, 3):
        return none
    best[:, 0] = (best[:, 0] - origin[0]) / scale
    best[:, 1] = (best[:, 1] - origin[1]) / scale
    return best
