"""Encoding: :class:`VideoWriter` writes H.264 mp4 and carries the input's audio over."""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from hoopsense.video.meta import _reason

log = logging.getLogger(__name__)

# Audio codecs that an mp4 container holds as they are (copied, not re-encoded).
_MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"})


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
            shift = round((self._origin + self._start) / tb)
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
            raise ValueError(f"frame must be uint8 ({self.height}, {self.width}, 3), got {image.dtype} {image.shape}")
        if self.width % 2 or self.height % 2:
            image = np.pad(image, ((0, self.height % 2), (0, self.width % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=self.pixel_format)
        frame.pts = self.frames_written
        frame.time_base = self._time_base
        with ctrl_c_held():  # a frame's packets (and the audio up to it) are muxed whole
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
        with ctrl_c_held():
            try:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
                if self._audio is not None:
                    self._audio.close()
            finally:
                self._container.close()


@contextmanager
def ctrl_c_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, then deliver it as the process would have.

    A ``KeyboardInterrupt`` raised between two ``mux`` calls left the container
    with packets encoded but never written, and finishing it then failed
    ("Invalid argument"), so an interrupted analysis lost its partial video.
    Only the main thread receives signals; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught and callable(previous):
            previous(signal.SIGINT, None)
        elif caught and previous == signal.SIG_DFL:
            os.kill(os.getpid(), signal.SIGINT)
