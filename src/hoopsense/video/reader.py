"""Streaming decoding: :class:`VideoReader` decodes frames in a background thread into a bounded queue."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from hoopsense.background import put_unless_stopped
from hoopsense.errors import VideoError
from hoopsense.video.decode import PacketDecoder
from hoopsense.video.meta import Frame, VideoMeta, _open, _reason, probe, upright

_END = object()


class VideoReader:
    """Iterate over a video's frames, decoded in a background thread.

    ``start_s``/``end_s`` limit the frames to ``start_s <= t < end_s``
    (seconds from the start of the video). Frames come as :class:`Frame`
    objects whose ``image`` is RGB uint8 ``(H, W, 3)`` (or BGR when
    ``pixel_format="bgr24"``), upright. At most ``queue_size`` decoded frames
    wait in memory at any time.

    Frames are numbered on one clock, that of the constant-rate video they
    make when written one after the other (as the annotated output is): the
    first frame gets the index of the requested start (0 when ``start_s`` is
    0, else the index of its own timestamp), every later decoded frame the
    previous index + 1, and ``Frame.time_s`` is ``index / meta.fps``. A
    variable-rate file, or one with damaged timestamps, thus still gives
    consecutive indices, one per decoded frame; ``end_s`` is measured on
    that clock too.

    ``small_size=(w, h)`` (of the upright picture) also gives each frame a
    scaled-down copy, made in the decoding thread in the same colour
    conversion pass (e.g. the detector's input), and ``full=False`` skips the
    full-size image altogether (``Frame.image`` is then None).

    Use it as a context manager, or call :meth:`close`, so the thread stops
    when the consumer stops early. Packets are decoded one by one: a packet
    the decoder rejects (a damaged spot in a long game) is skipped with a
    logged warning and counted in :attr:`skipped_packets`, and the frames
    after it still come. Any other error in the thread is raised in the
    consumer as :class:`VideoError`: nothing decodable in the range, more
    than half of the packets read (and more than 10) undecodable, or, when
    the container announced more frames than could be decoded, a truncated
    file.
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
        self._decoder: PacketDecoder | None = None
        self.decode_s = 0.0  # seconds the background thread spent decoding and converting

    @property
    def skipped_packets(self) -> int:
        """Packets the decoder rejected and skipped so far (their frames are missing)."""
        return self._decoder.skipped if self._decoder is not None else 0

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
        return put_unless_stopped(self._queue, item, self._stop)

    def _produce(self) -> None:
        try:
            self._decode_into_queue()
        except VideoError as exc:
            self._put(exc)
        except av.error.FFmpegError as exc:
            self._put(
                VideoError(f"cannot decode {self.meta.path} ({_reason(exc)}); the file may be corrupt or truncated")
            )
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
            index = -1  # index of the last frame queued
            last_t: float | None = None  # its timestamp in seconds, None when it had none
            seen = 0
            clock = time.perf_counter()
            self._decoder = PacketDecoder(meta.path, container, stream, origin=origin)
            for frame in self._decoder:
                if self._stop.is_set():
                    return
                t = float(frame.time) - origin if frame.pts is not None and frame.time is not None else None
                if seen == 0:
                    if self.start_s > 0 and t is not None and t + 0.5 / meta.fps < self.start_s:
                        continue  # before the start: the seek lands on the key frame before it
                    index = self._first_index(t)
                else:
                    index += 1
                if self.end_s is not None and index / meta.fps >= self.end_s - 1e-9:
                    return
                last_t = t
                seen += 1
                image = upright(frame.to_ndarray(format=self.pixel_format), meta.rotation) if self.full else None
                small = self._small(frame)
                self.decode_s += time.perf_counter() - clock
                if not self._put(Frame(index=index, time_s=index / meta.fps, image=image, small=small)):
                    return
                clock = time.perf_counter()
            if seen == 0:
                bad = f" ({self.skipped_packets} undecodable packets)" if self.skipped_packets else ""
                raise VideoError(f"no frame could be decoded from {meta.path} in the requested range{bad}")
            if self.start_s == 0:
                self._check_complete(seen, last_t)
        finally:
            if self._decoder is not None:
                self._decoder.summarise()
            container.close()

    def _first_index(self, t: float | None) -> int:
        """Index of the first frame queued, whose timestamp is ``t`` seconds (None when it has none)."""
        if self.start_s == 0:
            return 0
        return max(0, round((self.start_s if t is None else t) * self.meta.fps))

    def _check_complete(self, decoded: int, last_t: float | None) -> None:
        """Raise :class:`VideoError` when a whole-file read ended well before the announced end.

        Both the frame count (skipped packets counted as frames that were
        there) and the last frame's timestamp (when it has one) must fall
        short, so a variable-rate file whose frame count is only an estimate
        from its duration is not taken for a truncated one.
        """
        meta = self.meta
        announced = meta.n_frames
        slack = max(2, announced // 100)
        if announced <= 0 or decoded + self.skipped_packets >= announced - slack:
            return
        if last_t is not None and meta.duration_s > 0 and last_t + (slack + 1) / meta.fps >= meta.duration_s:
            return
        skipped = f", {self.skipped_packets} undecodable packets skipped" if self.skipped_packets else ""
        raise VideoError(
            f"{meta.path} looks truncated: decoded {decoded} of {announced} frames{skipped} "
            f"(pass --end to analyse only the readable part)"
        )

    def _small(self, frame: av.VideoFrame) -> np.ndarray | None:
        if self.small_size is None:
            return None
        width, height = self.small_size
        if self.meta.rotation in (90, 270):  # scale the stored picture, then turn it upright
            width, height = height, width
        array = frame.to_ndarray(width=width, height=height, format=self.pixel_format, interpolation="AREA")
        return upright(array, self.meta.rotation)
