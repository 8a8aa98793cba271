"""Video metadata and opening: :class:`VideoMeta`, :class:`Frame`, :func:`probe`, rotation helpers.

:func:`_open` is the one place that opens an input file for reading; the
reader and :func:`probe` both go through it.
"""

from __future__ import annotations

import errno
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from hoopsense.errors import VideoError


@dataclass(frozen=True)
class VideoMeta:
    """What :func:`probe` learns about a video.

    ``width`` and ``height`` are those of the upright picture (after rotation
    metadata is applied). ``fps`` is a float; ``fps_fraction`` keeps the exact
    rational rate (e.g. 30000/1001) for writers. ``n_frames`` is the number the
    container announces, or an estimate from duration and fps when it announces
    none.
    """

    path: Path
    width: int
    height: int
    fps: float
    n_frames: int
    duration_s: float
    codec: str
    rotation: int = 0
    has_audio: bool = False
    fps_fraction: Fraction = Fraction(0)

    def frame_at(self, time_s: float) -> int:
        """Index of the frame shown at ``time_s`` seconds (0-based, clamped at 0)."""
        return max(0, math.floor(time_s * self.fps + 1e-6))


@dataclass(frozen=True)
class Frame:
    """One decoded frame: ``image`` is uint8 ``(H, W, 3)`` (RGB unless the reader
    was asked for BGR), upright. ``small`` is the same picture scaled down to the
    reader's ``small_size`` (None when no such size was asked for)."""

    index: int
    time_s: float
    image: np.ndarray | None
    small: np.ndarray | None = None


def _open(path: Path) -> av.container.InputContainer:
    """Open ``path`` for reading, or raise a one-line :class:`VideoError` that says why it cannot be.

    Only a file that the demuxer cannot parse is hinted to be incomplete; a
    permission problem or another system error says just that.
    """
    path = Path(path)
    try:
        if not path.exists():
            raise VideoError(f"input video not found: {path}")
        if path.is_dir():
            raise VideoError(f"input is a folder, not a video file: {path}")
        size = path.stat().st_size
    except OSError as exc:  # e.g. a folder on the way that may not be searched
        raise VideoError(_system_failure(path, exc)) from exc
    if size == 0:
        raise VideoError(f"input video is empty (0 bytes): {path}")
    try:
        container = av.open(str(path), mode="r")
    except (av.error.InvalidDataError, av.error.EOFError) as exc:  # the demuxer cannot parse it
        raise VideoError(f"cannot read {path} as a video ({_reason(exc)}); is the file complete?") from exc
    except OSError as exc:  # av's errno errors (PermissionError, ...) are OSErrors too
        raise VideoError(_system_failure(path, exc)) from exc
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise VideoError(f"cannot read {path} as a video ({_reason(exc)})") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path} has no video stream")
    return container


def _system_failure(path: Path, exc: OSError) -> str:
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot read {path}: permission denied"
    return f"cannot read {path}: {_reason(exc)}"


def _reason(exc: BaseException) -> str:
    """The first line of an error's message (its ``strerror`` when it has one), at most 200 characters."""
    text = (getattr(exc, "strerror", None) or str(exc)).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _rotation_of(stream: av.video.stream.VideoStream, container: av.container.InputContainer) -> int:
    """Counter-clockwise display rotation in degrees, a multiple of 90 (0 when none)."""
    # Decode the first frame to read the display matrix the demuxer attaches.
    try:
        for frame in container.decode(stream):
            return _normalise_rotation(frame.rotation)
    except av.error.FFmpegError:
        return 0
    return 0


def _normalise_rotation(degrees: float | None) -> int:
    if not degrees:
        return 0
    return round(float(degrees) / 90.0) * 90 % 360


def probe(path: str | Path) -> VideoMeta:
    """Read the metadata of the video at ``path``.

    Raises :class:`VideoError` (one line) when the file is missing, empty,
    unreadable, not a video, or has no usable video stream.
    """
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate or rate <= 0:
            raise VideoError(f"{path}: the video stream has no frame rate")
        fps_fraction = Fraction(rate.numerator, rate.denominator)
        fps = float(fps_fraction)
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        n_frames = int(stream.frames or 0)
        if n_frames <= 0:
            n_frames = round(duration * fps)
        if duration <= 0 and n_frames > 0:
            duration = n_frames / fps
        width, height = stream.codec_context.width, stream.codec_context.height
        codec = stream.codec_context.name
        has_audio = bool(container.streams.audio)
        rotation = _rotation_of(stream, container)
        if width <= 0 or height <= 0:
            raise VideoError(f"{path}: the video stream has no picture size; is the file complete?")
    except av.error.FFmpegError as exc:
        raise VideoError(f"cannot read {path} as a video ({_reason(exc)})") from exc
    finally:
        container.close()
    if rotation in (90, 270):
        width, height = height, width
    return VideoMeta(
        path=path,
        width=width,
        height=height,
        fps=fps,
        n_frames=n_frames,
        duration_s=duration,
        codec=codec,
        rotation=rotation,
        has_audio=has_audio,
        fps_fraction=fps_fraction,
    )


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a counter-clockwise display ``rotation`` (0/90/180/270) to an (H, W, C) image."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image
