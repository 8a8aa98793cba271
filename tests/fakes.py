"""Test doubles that stand in for the YOLO detector."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import supervision as sv

from hoopsense.detection.base import PERSON


def detections(
    boxes: Sequence[Sequence[float]], conf: float | Sequence[float] = 0.9, class_id: int = PERSON
) -> sv.Detections:
    """Build ``sv.Detections`` from xyxy boxes."""
    xyxy = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    n = len(xyxy)
    confidence = np.full(n, conf, dtype=np.float32) if np.isscalar(conf) else np.asarray(conf, dtype=np.float32)
    return sv.Detections(xyxy=xyxy, confidence=confidence, class_id=np.full(n, class_id, dtype=int))


def cli_with(detector):
    """A function that runs the CLI in-process with ``detector`` in place of YOLO; returns the exit code."""
    from hoopsense.cli import main

    def run(*args) -> int:
        return main([str(a) for a in args], detector=detector)

    return run


class ShapeDetector:
    """Finds the rectangles drawn by ``synth.shapes_frame`` (blue channel 200, background 70).

    ``interrupt_at``: raise KeyboardInterrupt when this many frames were seen (simulates Ctrl-C).
    ``blind``: never detect anything.
    ``downscale``: ask the pipeline for frames this many times smaller (like YOLO's ``input_size``).
    """

    name = "shape-detector"

    def __init__(
        self, interrupt_at: int | None = None, blind: bool = False, downscale: int = 1, batch_size: int = 4
    ) -> None:
        self.batch_size = batch_size
        self.interrupt_at = interrupt_at
        self.blind = blind
        self.downscale = downscale
        self.frames_seen = 0
        self.sizes: set[tuple[int, int]] = set()

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        return width // self.downscale, height // self.downscale

    def detect(self, images: Sequence[np.ndarray], *, bgr: bool = False, scale: float = 1.0) -> list[sv.Detections]:
        out = []
        for image in images:
            self.frames_seen += 1
            self.sizes.add((image.shape[1], image.shape[0]))
            if self.interrupt_at is not None and self.frames_seen >= self.interrupt_at:
                raise KeyboardInterrupt
            blue = image[..., 0] if bgr else image[..., 2]
            if self.blind:
                out.append(detections(np.empty((0, 4))))
                continue
            mask = (blue > 170).astype(np.uint8)
            _n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
            boxes = [
                (x / scale, y / scale, (x + w) / scale, (y + h) / scale)
                for x, y, w, h, area in stats[1:]
                if area > 20 / self.downscale**2
            ]
            out.append(detections(boxes))
        return out
