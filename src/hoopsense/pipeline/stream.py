"""The tracked-frame stream shared by ``analyze``, ``clips`` and the Python API.

A background thread decodes frames (:class:`~hoopsense.video.VideoReader`),
scaled down to the detector's input in the same pass; a second one runs the
detector on batches of frames, a batch ahead of the tracker, which updates
frame by frame (starting afresh at camera cuts, found a few frames ahead by
:class:`~hoopsense.tracking.cuts.CutDetector`); tracked frames then
wait in a short :class:`DelayLine` so that tracks seen in fewer than
``min_track_frames`` frames are dropped from every output alike. Memory is
bounded by the detector batch, the decode queue and the delay, never by the
length of the video.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import supervision as sv

from hoopsense.background import Background
from hoopsense.detection.base import Detector
from hoopsense.errors import ConfigError, check_finite, field_name
from hoopsense.identity.stage import IdentityStage
from hoopsense.tracking.cuts import CutDetector
from hoopsense.tracking.players import PlayerTracker, TrackerConfig
from hoopsense.video import Frame, VideoMeta, VideoReader


@dataclass
class TrackedFrame:
    """A frame after tracking: 0-based index, time (``index / fps``), BGR uint8 ``(H, W, 3)``
    image (None when not needed), its players (``sv.Detections`` with ``tracker_id``) and whether it
    begins a new shot (``cut``: the tracker started afresh at a camera cut here)."""

    index: int
    time_s: float
    image: np.ndarray | None
    players: sv.Detections
    cut: bool = False


class DelayLine:
    """Holds tracked frames for ``lag`` frames, then releases them with short tracks removed.

    A track is released only once it has been seen in ``min_frames`` frames
    (counting the ``lag`` frames still ahead), so a flicker of a few frames
    never reaches any output while real players lose none of their rows.
    """

    def __init__(self, min_frames: int, identity: IdentityStage | None = None) -> None:
        self.lag = max(0, min_frames - 1)
        self.min_frames = min_frames
        self.identity = identity
        self._queue: deque[TrackedFrame] = deque()
        self.hits: dict[int, int] = {}

    def push(self, item: TrackedFrame) -> Iterator[TrackedFrame]:
        for tid in item.players.tracker_id:
            self.hits[int(tid)] = self.hits.get(int(tid), 0) + 1
        self._queue.append(item)
        if self.identity is not None and self.identity.holding(len(self._queue)):
            return
        while len(self._queue) > self.lag:
            yield self._release(self._queue.popleft())

    def flush(self) -> Iterator[TrackedFrame]:
        while self._queue:
            yield self._release(self._queue.popleft())

    def _release(self, item: TrackedFrame) -> TrackedFrame:
        players = item.players
        if len(players):
            keep = np.array([self.hits[int(t)] >= self.min_frames for t in players.tracker_id], dtype=bool)
            players = players[keep]
        if self.identity is not None:
            players = self.identity.finalize(players, item.index)
        return TrackedFrame(item.index, item.time_s, item.image, players, item.cut)


class StageClock:
    """Seconds spent per pipeline stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, name: str, started: float) -> float:
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - started
        return now


def check_time_range(owner: object) -> None:
    """Raise :class:`ConfigError` unless ``owner.start_s`` (>= 0) and ``owner.end_s`` (None, or
    after the start) are finite times in seconds."""
    check_finite(owner, "start_s", minimum=0)
    check_finite(owner, "end_s")
    start, end = owner.start_s, owner.end_s  # type: ignore[attr-defined]
    if end is not None and end <= start:
        raise ConfigError(f"end_s ({end}) must be greater than start_s ({start})", field=field_name(owner, "end_s"))


def check_start_in_video(meta: VideoMeta, owner: object) -> None:
    """Raise :class:`ConfigError` when ``owner.start_s`` is past the end of the video."""
    start = owner.start_s  # type: ignore[attr-defined]
    if start >= meta.duration_s > 0:
        raise ConfigError(
            f"start_s {start}s is past the end of the video ({meta.duration_s:.1f}s)",
            field=field_name(owner, "start_s"),
        )


def expected_frames(meta: VideoMeta, start_s: float, end_s: float | None) -> int:
    """Frames in ``[start_s, end_s)`` of the video, as announced by its metadata (0 when unknown)."""
    end = end_s if end_s is not None else meta.duration_s
    end = min(end, meta.duration_s) if meta.duration_s > 0 else end
    return max(0, int(round((end - start_s) * meta.fps)))


class TrackedStream:
    """Iterate over the tracked frames of ``meta``'s video between ``start_s`` and ``end_s``.

    ``full`` keeps the full-size BGR picture of each frame (to draw on it or
    cut crops) in the frames it yields. The full-size picture is also decoded
    when the identity stage looks at pixels (re-ID, jersey colours,
    thumbnails), so that players are identified the same with or without it,
    but then dropped once the stage has seen it; otherwise only the detector's
    small copy is decoded when that is smaller. Iterating yields the frames the
    :class:`DelayLine` releases; :meth:`flush` yields the last ones once the video (or the caller) stops.
    ``on_frame(frames_done)`` is called after each decoded frame is tracked.
    Use it as a context manager so the decoding thread always stops.
    """

    def __init__(
        self,
        meta: VideoMeta,
        detector: Detector,
        tracker: TrackerConfig,
        *,
        start_s: float = 0.0,
        end_s: float | None = None,
        full: bool = True,
        clock: StageClock | None = None,
        on_frame: Callable[[int], None] | None = None,
        identity: IdentityStage | None = None,
    ) -> None:
        self.meta = meta
        self.detector = detector
        self.clock = clock or StageClock()
        self.on_frame = on_frame
        self.full = full
        decode_full = full or (identity is not None and identity.wants_full_frames)
        self.tracker = PlayerTracker(tracker, meta.width, meta.height, meta.fps)
        self.identity = identity
        self.delay = DelayLine(tracker.min_track_frames, identity)
        small_size = detector.input_size(meta.width, meta.height)  # never larger than the frame
        scaled = small_size != (meta.width, meta.height)
        self.reader = VideoReader(
            meta.path, start_s=start_s, end_s=end_s, pixel_format="bgr24", meta=meta,
            small_size=small_size if scaled else None, full=decode_full or not scaled,
        )  # fmt: skip
        self.scale = small_size[0] / meta.width
        self.frames = 0
        self.cut_frames: list[int] = []  # frames where the tracker started afresh (camera cuts)
        self._cuts: set[int] = set()  # cut frames found so far (some not tracked yet)
        self._waiting: deque[tuple[Frame, sv.Detections]] = deque()  # detected, not tracked yet
        self._detections: Background[tuple[list[Frame], list[sv.Detections]]] | None = None

    def __enter__(self) -> TrackedStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._detections is not None:
            self._detections.close()  # before the reader: its thread may be waiting for a frame
        self.reader.close()

    @property
    def skipped_packets(self) -> int:
        return int(getattr(self.reader, "skipped_packets", 0))

    def __iter__(self) -> Iterator[TrackedFrame]:
        for frame, players in self._detect_and_track():
            yield from self._push(frame, players)

    def flush(self) -> Iterator[TrackedFrame]:
        """The frames still held back (call once iteration ended or stopped): those detected but not tracked yet
        (waiting for the cut detector's lookahead when iteration stopped), then those in the delay line."""
        while self._waiting:
            yield from self._push(*self._track(*self._waiting.popleft()))
        yield from self.delay.flush()

    def _push(self, frame: Frame, players: sv.Detections) -> Iterator[TrackedFrame]:
        image = frame.image if self.full else None
        cut = bool(self.cut_frames) and self.cut_frames[-1] == frame.index
        yield from self.delay.push(TrackedFrame(frame.index, frame.index / self.meta.fps, image, players, cut))
        self.frames += 1
        if self.on_frame is not None:
            self.on_frame(self.frames)

    def _batches(self) -> Iterator[list[Frame]]:
        batch: list[Frame] = []
        t = time.perf_counter()
        for frame in self.reader:
            t = self.clock.add("decode_wait", t)
            batch.append(frame)
            if len(batch) == self.detector.batch_size:
                yield batch
                batch = []
                t = time.perf_counter()
        if batch:
            yield batch

    def _detected(self) -> Iterator[tuple[list[Frame], list[sv.Detections]]]:
        """Batches of frames with their detections (runs in the detection thread)."""
        for batch in self._batches():
            t = time.perf_counter()
            images = [f.small if f.small is not None else f.image for f in batch]
            detections = self.detector.detect(images, bgr=True, scale=self.scale)  # type: ignore[arg-type]
            self.clock.add("detect (background)", t)
            yield batch, detections

    def _detect_and_track(self) -> Iterator[tuple[Frame, sv.Detections]]:
        # Detection runs a batch ahead in its own thread, so the detector computes while this
        # thread tracks, identifies, draws and encodes the frames before it. With cuts on, frames
        # are tracked the cut detector's lookahead behind the frames it has seen.
        self._detections = Background(self._detected, depth=2, name="hoopsense-detect")
        cuts = CutDetector(self.meta.fps) if self.tracker.config.cuts else None
        waiting = self._waiting
        t = time.perf_counter()
        for batch, detections in self._detections:
            self.clock.add("detect_wait", t)
            for frame, dets in zip(batch, detections, strict=True):
                if cuts is not None:
                    t = time.perf_counter()
                    self._cuts.update(cuts.push(frame.index, frame.small if frame.small is not None else frame.image))
                    self.clock.add("cuts", t)
                waiting.append((frame, dets))
                while len(waiting) > (cuts.lookahead if cuts is not None else 0):
                    yield self._track(*waiting.popleft())
            t = time.perf_counter()
        while waiting:
            yield self._track(*waiting.popleft())

    def _track(self, frame: Frame, dets: sv.Detections) -> tuple[Frame, sv.Detections]:
        t = time.perf_counter()
        if frame.index in self._cuts:
            self.tracker.reset()
            self.cut_frames.append(frame.index)
        small, scale = (frame.small, self.scale) if frame.small is not None else (frame.image, 1.0)
        players = self.tracker.update(dets, small, scale)
        t = self.clock.add("track", t)
        if self.identity is not None:
            # full-size crops identify players best; the small copy when that is all there is
            image, at = (frame.image, 1.0) if frame.image is not None else (small, scale)
            players = self.identity.observe(frame.index, image, at, players)  # type: ignore[arg-type]
            self.clock.add("identity", t)
        return frame, players
