"""Streaming video input and output on PyAV.

* :func:`probe` reads a video's metadata (:class:`VideoMeta`) or raises a
  :class:`~hoopsense.errors.VideoError` that says what is wrong with the file.
* :class:`VideoReader` decodes frames in a background thread into a small
  bounded queue, so decoding overlaps whatever the consumer does (detection)
  and memory does not grow with the length of the video. Frames are RGB uint8
  arrays of shape ``(H, W, 3)``, already turned upright when the file carries
  rotation metadata.
* :class:`VideoWriter` encodes H.264 mp4 at the input's exact frame rate and
  carries the input's audio over (copied when mp4 can hold it, re-encoded to
  AAC otherwise).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from hoopsense.errors import VideoError

log = logging.getLogger(__name__)

# Audio codecs that an mp4 container holds as they are (copied, not re-encoded).
_MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"})


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
        return max(0, int(math.floor(time_s * self.fps + 1e-6)))


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
    path = Path(path)
    if not path.exists():
        raise VideoError(f"input video not found: {path}")
    if path.is_dir():
        raise VideoError(f"input is a folder, not a video file: {path}")
    if path.stat().st_size == 0:
        raise VideoError(f"input video is empty (0 bytes): {path}")
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError, OSError) as exc:
        raise VideoError(f"cannot read {path} as a video ({_reason(exc)}); is the file complete?") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path} has no video stream")
    return container


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
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


def _normalise_rotation(degrees: float | int | None) -> int:
    if not degrees:
        return 0
    return int(round(float(degrees) / 90.0)) * 90 % 360


def probe(path: str | Path) -> VideoMeta:
    """Read the metadata of the video at ``path``.

    Raises :class:`VideoError` when the file is missing, empty, not a video,
    or has no decodable frame.
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
            n_frames = int(round(duration * fps))
        if duration <= 0 and n_frames > 0:
            duration = n_frames / fps
        width, height = stream.codec_context.width, stream.codec_context.height
        codec = stream.codec_context.name
        has_audio = bool(container.streams.audio)
        rotation = _rotation_of(stream, container)
        if width <= 0 or height <= 0:
            raise VideoError(f"{path}: the video stream has no picture size; is the file complete?")
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


_END = object()


class VideoReader:
    """Iterate over a video's frames, decoded in a background thread.

    ``start_s``/``end_s`` limit the frames to ``start_s <= t < end_s``
    (seconds from the start of the video). Frames come as :class:`Frame`
    objects whose ``image`` is RGB uint8 ``(H, W, 3)`` (or BGR when
    ``pixel_format="bgr24"``), upright. At most ``queue_size`` decoded frames
    wait in memory at any time.

    ``small_size=(w, h)`` (of the upright picture) also gives each frame a
    scaled-down copy, made in the decoding thread in the same colour
    conversion pass (e.g. the detector's input), and ``full=False`` skips the
    full-size image altogether (``Frame.image`` is then None).

    Use it as a context manager, or call :meth:`close`, so the thread stops
    when the consumer stops early. A decoding error in the thread is raised
    in the consumer as :class:`VideoError`. When the container announced
    more frames than could be decoded the file is reported as truncated.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        start_s: float = 0.0,
        end_s: float | None = None,
        queue_size: int = 8,
        pixel_format: str = "rgb24",
        meta: VideoMeta | None = None,
        small_size: tuple[int, int] | None = None,
        full: bool = True,
    ) -> None:
        if start_s < 0:
            raise ValueError(f"start_s must be >= 0, got {start_s}")
        if end_s is not None and end_s <= start_s:
            raise ValueError(f"end_s must be greater than start_s ({start_s}), got {end_s}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if pixel_format not in ("rgb24", "bgr24"):
            raise ValueError(f"pixel_format must be 'rgb24' or 'bgr24', got {pixel_format!r}")
        if small_size is not None and (small_size[0] < 2 or small_size[1] < 2):
            raise ValueError(f"small_size must be at least 2x2, got {small_size}")
        if not full and small_size is None:
            raise ValueError("full=False needs a small_size")
        self.meta = meta or probe(path)
        self.small_size = small_size
        self.full = full
        self.start_s = start_s
        self.end_s = end_s
        self.pixel_format = pixel_format
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.frames_decoded = 0
        self.decode_s = 0.0  # seconds the background thread spent decoding and converting

    # -- context manager -------------------------------------------------
    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the decoding thread and release the file."""
        self._stop.set()
        if self._thread is not None:
            # Unblock a producer waiting on a full queue.
            while self._thread.is_alive():
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    self._thread.join(timeout=0.05)
            self._thread = None

    # -- iteration ---------------------------------------------------------
    def __iter__(self) -> Iterator[Frame]:
        if self._thread is not None:
            raise RuntimeError("a VideoReader can be iterated only once")
        self._thread = threading.Thread(target=self._produce, name="hoopsense-decode", daemon=True)
        self._thread.start()
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            self.frames_decoded += 1
            yield item

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            self._decode_into_queue()
        except VideoError as exc:
            self._put(exc)
        except av.error.FFmpegError as exc:
            self._put(VideoError(f"cannot decode {self.meta.path} ({_reason(exc)}); the file may be corrupt or truncated"))
        except BaseException as exc:  # pragma: no cover - surfaced to the consumer
            self._put(exc)
        finally:
            self._put(_END)

    def _decode_into_queue(self) -> None:
        meta = self.meta
        container = _open(meta.path)
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            origin = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            if self.start_s > 0:
                target = int((origin + self.start_s) / stream.time_base)
                container.seek(target, stream=stream, backward=True, any_frame=False)
            last_index = -1
            seen = 0
            clock = time.perf_counter()
            for frame in container.decode(stream):
                if self._stop.is_set():
                    return
                if frame.pts is not None and frame.time is not None:
                    t = float(frame.time) - origin
                    index = int(round(t * meta.fps))
                else:  # no timestamps: count frames
                    index = last_index + 1
                    t = index / meta.fps
                if index <= last_index:
                    index = last_index + 1
                if t + 0.5 / meta.fps < self.start_s:
                    continue
                if self.end_s is not None and t >= self.end_s - 1e-9:
                    return
                last_index = index
                seen += 1
                image = upright(frame.to_ndarray(format=self.pixel_format), meta.rotation) if self.full else None
                small = self._small(frame)
                self.decode_s += time.perf_counter() - clock
                if not self._put(Frame(index=index, time_s=t, image=image, small=small)):
                    return
                clock = time.perf_counter()
            if seen == 0:
                raise VideoError(f"no frame could be decoded from {meta.path} in the requested range")
            announced = meta.n_frames
            if self.start_s == 0 and announced > 0 and last_index + 1 < announced - max(2, announced // 100):
                raise VideoError(
                    f"{meta.path} looks truncated: decoded {last_index + 1} of {announced} frames "
                    f"(pass --end to analyse only the readable part)"
                )
        finally:
            container.close()


    def _small(self, frame: av.VideoFrame) -> np.ndarray | None:
        if self.small_size is None:
            return None
        width, height = self.small_size
        if self.meta.rotation in (90, 270):  # scale the stored picture, then turn it upright
            width, height = height, width
        array = frame.to_ndarray(width=width, height=height, format=self.pixel_format, interpolation="AREA")
        return upright(array, self.meta.rotation)


class _AudioCarrier:
    """Copies (or re-encodes to AAC) the audio of ``source`` between two times into ``output``."""

    def __init__(self, source: Path, output: av.container.OutputContainer, start_s: float, end_s: float | None) -> None:
        self._input = av.open(str(source))
        in_stream = self._input.streams.audio[0]
        self._in_stream = in_stream
        self._start = start_s
        self._end = end_s
        self._copy = in_stream.codec_context.name in _MP4_AUDIO_CODECS
        if self._copy:
            self._out = output.add_stream_from_template(in_stream)
        else:
            rate = in_stream.codec_context.sample_rate or 48000
            channels = in_stream.codec_context.channels or 2
            layout = "mono" if channels == 1 else "stereo"  # AAC needs a named layout; downmix others
            self._out = output.add_stream("aac", rate=rate, layout=layout, format="fltp")
            self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        self._origin = float(in_stream.start_time * in_stream.time_base) if in_stream.start_time is not None else 0.0
        if start_s > 0:
            self._input.seek(int((self._origin + start_s) / in_stream.time_base), stream=in_stream, backward=True)
        self._packets = self._input.demux(in_stream)
        self._done = False
        self._output = output

    def advance(self, until_s: float) -> None:
        """Mux the audio up to ``until_s`` seconds of output time."""
        while not self._done:
            try:
                packet = next(self._packets)
            except (StopIteration, av.error.FFmpegError):
                self._done = True
                break
            if packet.pts is None or packet.size == 0:
                continue
            t = float(packet.pts * packet.time_base) - self._origin
            if t < self._start - 1e-6:
                continue
            if self._end is not None and t >= self._end:
                self._done = True
                break
            self._mux(packet)
            if t - self._start >= until_s:
                break

    def _mux(self, packet: av.Packet) -> None:
        if self._copy:
            packet.stream = self._out
            tb = packet.time_base
            shift = int(round((self._origin + self._start) / tb))
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            self._output.mux(packet)
            return
        for frame in packet.decode():
            for resampled in self._resampler.resample(frame):
                resampled.pts = None
                for out_packet in self._out.encode(resampled):
                    self._output.mux(out_packet)

    def close(self) -> None:
        self.advance(math.inf)
        if not self._copy:
            for out_packet in self._out.encode(None):
                self._output.mux(out_packet)
        self._input.close()


class VideoWriter:
    """Encode frames to an H.264 mp4 at a fixed frame rate.

    ``fps`` should be the input's exact rate (:attr:`VideoMeta.fps_fraction`).
    Frames passed to :meth:`write` are uint8 ``(height, width, 3)`` in
    ``pixel_format`` order (``"rgb24"`` or ``"bgr24"``). Odd sizes are padded
    by one pixel because H.264 4:2:0 needs even dimensions. When
    ``audio_from`` names a file with audio, its audio between ``audio_start_s``
    and ``audio_end_s`` is carried into the output, in step with the video.
    """

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        fps: Fraction | float,
        *,
        pixel_format: str = "rgb24",
        crf: int = 23,
        preset: str = "veryfast",
        audio_from: str | Path | None = None,
        audio_start_s: float = 0.0,
        audio_end_s: float | None = None,
    ) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"width and height must be positive, got {width}x{height}")
        if not 0 <= crf <= 51:
            raise ValueError(f"crf must be in [0, 51], got {crf}")
        if pixel_format not in ("rgb24", "bgr24"):
            raise ValueError(f"pixel_format must be 'rgb24' or 'bgr24', got {pixel_format!r}")
        rate = Fraction(fps).limit_denominator(100000)
        if rate <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = Path(path)
        self.width, self.height = width, height
        self.pixel_format = pixel_format
        self._container = av.open(str(self.path), mode="w", format="mp4", options={"movflags": "+faststart"})
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width = width + width % 2
        self._stream.height = height + height % 2
        self._stream.pix_fmt = "yuv420p"
        self._time_base = 1 / rate
        self._stream.time_base = self._time_base
        self._stream.codec_context.options = {"crf": str(crf), "preset": preset}
        self._stream.thread_type = "AUTO"
        self._rate = rate
        self._audio: _AudioCarrier | None = None
        if audio_from is not None:
            try:
                with av.open(str(audio_from)) as probe_container:
                    has_audio = bool(probe_container.streams.audio)
                if has_audio:
                    self._audio = _AudioCarrier(Path(audio_from), self._container, audio_start_s, audio_end_s)
            except av.error.FFmpegError as exc:  # audio is a bonus: keep the video
                log.warning("audio of %s not carried over: %s", audio_from, _reason(exc))
                self._audio = None
        self.frames_written = 0
        self._closed = False

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def write(self, image: np.ndarray) -> None:
        """Encode one frame (uint8 ``(height, width, 3)`` in ``pixel_format`` order)."""
        if image.shape != (self.height, self.width, 3) or image.dtype != np.uint8:
            raise ValueError(
                f"frame must be uint8 ({self.height}, {self.width}, 3), got {image.dtype} {image.shape}"
            )
        if self.width % 2 or self.height % 2:
            image = np.pad(image, ((0, self.height % 2), (0, self.width % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=self.pixel_format)
        frame.pts = self.frames_written
        frame.time_base = self._time_base
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1
        if self._audio is not None:
            self._audio.advance(self.frames_written / self._rate + 0.5)

    def close(self) -> None:
        """Flush the encoder and the audio, and finish the file."""
        if self._closed:
            return
        self._closed = True
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            if self._audio is not None:
                self._audio.close()
        finally:
            self._container.close()


def read_frames(path: str | Path, max_frames: int | None = None) -> np.ndarray:
    """Decode a short clip whole: RGB uint8 ``(N, H, W, 3)``, upright, at most ``max_frames`` frames.

    For training clips of a few seconds; game footage is streamed with
    :class:`VideoReader` instead. Raises :class:`VideoError` for unreadable
    files or clips without a decodable frame.
    """
    path = Path(path)
    container = _open(path)
    frames: list[np.ndarray] = []
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rotation = 0
        for frame in container.decode(stream):
            if not frames:
                rotation = _normalise_rotation(frame.rotation)
            frames.append(upright(frame.to_ndarray(format="rgb24"), rotation))
            if max_frames is not None and len(frames) >= max_frames:
                break
    except av.error.FFmpegError as exc:
        if not frames:
            raise VideoError(f"cannot decode {path} ({_reason(exc)})") from exc
    finally:
        container.close()
    if not frames:
        raise VideoError(f"{path} has no decodable frame")
    return np.stack(frames)
