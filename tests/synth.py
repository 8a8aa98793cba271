"""Synthetic test videos made with PyAV: moving coloured rectangles on a court-like floor."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def shapes_frame(i: int, width: int, height: int, n_shapes: int = 3) -> np.ndarray:
    """RGB uint8 (height, width, 3): ``n_shapes`` tall rectangles moving left to right."""
    img = np.full((height, width, 3), (150, 110, 70), dtype=np.uint8)
    bw, bh = max(4, width // 12), max(8, height // 4)
    for k in range(n_shapes):
        x = int((20 + 7 * i + k * width / max(1, n_shapes)) % max(1, width - bw))
        y = int(height / 3 + k * 5) % max(1, height - bh)
        img[y : y + bh, x : x + bw] = ((60 * k + 40) % 256, (255 - 50 * k) % 256, 200)
    return img


def make_video(
    path: Path,
    *,
    n_frames: int = 30,
    width: int = 160,
    height: int = 96,
    fps: Fraction | int = 25,
    codec: str = "libx264",
    container_format: str | None = None,
    audio: str | None = None,
    rotation: int = 0,
    marker: bool = False,
    pts: Sequence[int] | None = None,
) -> Path:
    """Write a synthetic video and return its path.

    ``audio`` is an audio codec name ("aac", "pcm_s16le", ...) to add a 440 Hz tone.
    ``rotation`` stores a counter-clockwise display rotation in the container.
    ``marker`` paints a red square in the top-left corner of every frame.
    ``pts`` gives each frame's timestamp in units of ``1 / fps`` (default
    ``0, 1, 2, ...``); increasing but irregular values make a variable-frame-rate
    video, and ``n_frames`` is then ``len(pts)``.
    """
    if pts is not None:
        n_frames = len(pts)
    path = Path(path)
    out = av.open(str(path), mode="w", format=container_format)
    stream = out.add_stream(codec, rate=Fraction(fps))
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p" if codec != "mjpeg" else "yuvj420p"
    if rotation:
        stream.set_display_rotation(rotation)
    astream = None
    if audio:
        astream = out.add_stream(audio, rate=16000)
        astream.layout = "mono"
    samples_per_frame = int(16000 / float(Fraction(fps)))
    sample_pos = 0
    for i in range(n_frames):
        img = shapes_frame(i, width, height)
        if marker:
            img[: height // 4, : width // 4] = (255, 0, 0)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = i if pts is None else pts[i]
        frame.time_base = 1 / Fraction(fps)
        for packet in stream.encode(frame):
            out.mux(packet)
        if astream is not None:
            t = (np.arange(samples_per_frame) + sample_pos) / 16000
            tone = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)[None, :]
            aframe = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
            aframe.sample_rate = 16000
            aframe.pts = sample_pos
            aframe.time_base = Fraction(1, 16000)
            sample_pos += samples_per_frame
            for packet in astream.encode(aframe):
                out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
    if astream is not None:
        for packet in astream.encode(None):
            out.mux(packet)
    out.close()
    return path
