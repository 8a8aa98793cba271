"""Pictures the labelling page shows: a clip as one strip of frames, and the source frame of a clip.

A clip is served as one JPEG with its frames side by side (a sprite strip)
that the page plays on a canvas: every browser shows it whatever the clip's
codec, the page controls speed and looping frame by frame, and the next
clips are fetched ahead as plain images, so moving on is instant. Both kinds
of picture are kept in a small in-memory cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from hoopsense.errors import HoopsenseError
from hoopsense.video import VideoReader, probe, read_frames

MAX_FRAMES = 64  # clips are short; a longer file shows its first 64 frames
MAX_SIDE = 256  # frames are scaled down to this side at most (the page enlarges them)
SOURCE_WIDTH = 640


@dataclass(frozen=True)
class Strip:
    """A clip's frames side by side: ``jpeg`` holds ``frames`` pictures of ``width x height`` px."""

    jpeg: bytes
    frames: int
    width: int
    height: int
    fps: float


def _jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    """JPEG bytes of an RGB uint8 ``(H, W, 3)`` picture."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise HoopsenseError("cannot encode a JPEG picture")
    return buf.tobytes()


def clip_strip(path: Path) -> Strip:
    """Decode a clip file into a :class:`Strip` (frames scaled so their longer side is at most ``MAX_SIDE``)."""
    frames = read_frames(path, max_frames=MAX_FRAMES)
    fps = probe(path).fps or 25.0
    n, h, w = frames.shape[:3]
    scale = min(1.0, MAX_SIDE / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        frames = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])
        h, w = frames.shape[1:3]
    strip = frames.transpose(1, 0, 2, 3).reshape(h, n * w, 3)  # (H, N*W, 3): frame i at x = i*W
    return Strip(_jpeg(np.ascontiguousarray(strip)), n, w, h, float(fps))


@dataclass(frozen=True)
class SourceFrame:
    """The source video's frame in the middle of a clip, scaled to ``width x height``; ``scale``
    maps source pixels to it."""

    jpeg: bytes
    width: int
    height: int
    scale: float


def source_frame(video: Path, time_s: float) -> SourceFrame:
    """The frame of ``video`` at ``time_s`` seconds (the first decodable one from there)."""
    meta = probe(video)
    scale = min(1.0, SOURCE_WIDTH / meta.width)
    size = (max(2, round(meta.width * scale)), max(2, round(meta.height * scale)))
    start = max(0.0, min(time_s, meta.duration_s - 1.0 / meta.fps)) if meta.duration_s else time_s
    with VideoReader(video, start_s=start, small_size=size, full=False, meta=meta, queue_size=1) as reader:
        for frame in reader:
            image = frame.small
            assert image is not None
            return SourceFrame(_jpeg(image, 80), image.shape[1], image.shape[0], scale)
    raise HoopsenseError(f"{video} has no frame at {time_s:.2f} s")


class Cache:
    """A thread-safe LRU cache of at most ``size`` values."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
