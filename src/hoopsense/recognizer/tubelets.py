"""Per-track crop buffers that yield fixed-length clips ("tubelets") for the recognizer.

Each tracked player keeps a bounded buffer of square crops around its box.
Every ``stride`` frames, once ``span`` frames are buffered, the last ``span``
frames (every ``frame_step``-th one) become a :class:`Tubelet`. A player
missing for at most ``max_gap`` frames is bridged: the box is interpolated
over the gap and cropped from the frames kept for that purpose. A longer
absence, a jump no one runs (the box moved more than ``max_jump`` box
heights per frame: a player who left the picture on one side and came back
on the other), a camera cut (``push(..., cut=True)``: every segment ends
there, and no gap is bridged across it) or the end of the video ends the
player's segment: the frames not
yet covered by a window are flushed as one last window (padded by holding the
last crop when the whole segment is shorter than a clip but at least
``min_fill`` of one) and a :class:`SegmentEnd` marks the end.

Memory: per track at most ``span`` crops of ``resize``² RGB bytes, plus
references to the last ``max_gap`` frames; nothing grows with the video.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import supervision as sv

from hoopsense.errors import check_range
from hoopsense.recognizer.transforms import crop_square


@dataclass(frozen=True)
class TubeletConfig:
    """Geometry and timing of tubelets.

    ``clip_len`` frames per clip taken every ``frame_step`` frames (so one
    clip spans ``span = (clip_len - 1) * frame_step + 1`` video frames); a new
    window every ``stride`` frames; crops ``context`` times the larger box
    side, resized to ``resize`` x ``resize`` (the model centre-crops them).
    ``max_jump``: the most a player's box centre moves per frame, in box
    heights, for its frames to count as one continuous segment.
    ``cut_crops``: False when nothing needs the pixels (a skeleton recognizer
    reading the keypoints that a pose detector gives with each box): no crop
    is cut, and a frame without keypoints counts as one where the pose model
    found no one (every point unseen).
    """

    clip_len: int = 16
    stride: int = 8
    frame_step: int = 1
    context: float = 1.25
    resize: int = 128
    max_gap: int = 8
    min_fill: float = 0.5
    max_jump: float = 0.5
    cut_crops: bool = True

    def __post_init__(self) -> None:
        check_range(self, "clip_len", 1, 256)
        check_range(self, "stride", 1, 1024)
        check_range(self, "frame_step", 1, 16)
        check_range(self, "context", 1, 4)
        check_range(self, "resize", 8, 1024, "pixels")
        check_range(self, "max_gap", 0, 300, "frames")
        check_range(self, "min_fill", 0, 1, open_low=True)
        check_range(self, "max_jump", 0, 100, open_low=True)

    @property
    def span(self) -> int:
        """Video frames covered by one clip."""
        return (self.clip_len - 1) * self.frame_step + 1


@dataclass(frozen=True)
class Tubelet:
    """One clip of one player.

    ``frame_indices`` int64 ``(T,)`` (a held last frame repeats its index),
    ``crops`` RGB uint8 ``(T, S, S, 3)``, ``boxes`` float32 ``(T, 4)`` xyxy in
    frame pixels (interpolated over bridged gaps). ``keypoints``: float32
    ``(T, 17, 3)`` (x, y in frame pixels, confidence) when a pose model was the
    detector (interpolated over bridged gaps, with the lower confidence of the
    two ends), else None.
    """

    track_id: int
    frame_indices: np.ndarray
    crops: np.ndarray
    boxes: np.ndarray
    keypoints: np.ndarray | None = None

    @property
    def start_frame(self) -> int:
        return int(self.frame_indices[0])

    @property
    def end_frame(self) -> int:
        return int(self.frame_indices[-1])


@dataclass(frozen=True)
class SegmentEnd:
    """The player ``track_id`` was last seen at ``last_frame`` and its segment is over."""

    track_id: int
    last_frame: int


@dataclass
class _Track:
    frames: deque  # of (index, crop, box, keypoints or None)
    last_seen: int
    seen: int = 0
    last_window_end: int = -1


class TubeletBuilder:
    """Turns tracked frames into :class:`Tubelet` windows and :class:`SegmentEnd` markers.

    ``fill`` is the RGB colour used where a crop extends past the frame (the
    model's mean colour makes padding neutral after normalisation).
    """

    def __init__(self, config: TubeletConfig, fill: Sequence[int] = (0, 0, 0)) -> None:
        self.config = config
        self.fill = tuple(int(v) for v in fill)
        self._tracks: dict[int, _Track] = {}
        self._recent: deque[tuple[int, np.ndarray]] = deque(maxlen=max(1, config.max_gap))

    @property
    def active_tracks(self) -> int:
        return len(self._tracks)

    def push(
        self, frame_index: int, image: np.ndarray, players: sv.Detections, cut: bool = False
    ) -> list[Tubelet | SegmentEnd]:
        """Add one frame: ``image`` BGR uint8 ``(H, W, 3)``, ``players`` with ``tracker_id`` and xyxy; ``cut``:
        the frame begins a new shot (a camera cut), so every open segment ends before it, whoever is seen again.

        Frames must come in increasing index order. Returns the windows that
        became complete and the segments that ended, in order.
        """
        out: list[Tubelet | SegmentEnd] = []
        if cut:
            for tid in list(self._tracks):
                self._end(tid, out)
            self._recent.clear()  # frames of the shot before: nothing is bridged across the cut
        present = {int(t) for t in players.tracker_id} if len(players) else set()
        found = players.data.get("keypoints") if len(players) else None
        points = found if found is not None and len(found) == len(players) else [None] * len(players)
        for tid in [
            t for t, tr in self._tracks.items() if t not in present and frame_index - tr.last_seen > self.config.max_gap
        ]:
            self._end(tid, out)
        for box, tid, kp in zip(players.xyxy, players.tracker_id, points) if len(players) else ():
            tid = int(tid)
            box = np.asarray(box, dtype=np.float32)
            track = self._tracks.get(tid)
            if track is not None and (
                frame_index - track.last_seen - 1 > self.config.max_gap or self._jumped(track, frame_index, box)
            ):
                self._end(tid, out)  # came back after a long absence, or elsewhere: a new segment
                track = None
            if track is None:
                track = self._tracks[tid] = _Track(frames=deque(maxlen=self.config.span), last_seen=frame_index - 1)
            elif frame_index - track.last_seen > 1:
                self._bridge(tid, track, frame_index, box, kp, out)
            self._add(tid, track, frame_index, image, box, kp, out)
        if self.config.max_gap:
            self._recent.append((frame_index, image))
        return out

    def finish(self) -> list[Tubelet | SegmentEnd]:
        """End every open segment (end of the video)."""
        out: list[Tubelet | SegmentEnd] = []
        for tid in list(self._tracks):
            self._end(tid, out)
        self._recent.clear()
        return out

    def _jumped(self, track: _Track, index: int, box: np.ndarray) -> bool:
        if not track.frames:
            return False
        last_index, _, last, _ = track.frames[-1]
        height = max(1.0, float(last[3] - last[1] + box[3] - box[1]) / 2)
        moved = math.hypot(
            float(box[0] + box[2] - last[0] - last[2]) / 2, float(box[1] + box[3] - last[1] - last[3]) / 2
        )
        return moved > self.config.max_jump * height * (index - last_index)

    def _crop(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        c = self.config
        return crop_square(image, box, context=c.context, size=c.resize, fill=self.fill, bgr=True)

    def _add(
        self, tid: int, track: _Track, index: int, image: np.ndarray, box: np.ndarray, kp: np.ndarray | None, out: list
    ) -> None:
        c = self.config
        if kp is not None:
            kp = np.asarray(kp, np.float32)
        elif not c.cut_crops:
            kp = np.zeros((17, 3), np.float32)  # no pixels to find them in: a frame where no one was found
        track.frames.append((index, self._crop(image, box) if c.cut_crops else None, box, kp))
        track.seen += 1
        track.last_seen = index
        if track.seen >= c.span and (track.seen - c.span) % c.stride == 0:
            out.append(self._window(tid, track))

    def _bridge(self, tid: int, track: _Track, index: int, box: np.ndarray, kp: np.ndarray | None, out: list) -> None:
        last_index, _, last_box, last_kp = track.frames[-1]
        images = dict(self._recent)
        for g in range(last_index + 1, index):
            if g not in images:  # not kept (max_gap frames only): cannot bridge, restart
                self._end(tid, out)
                self._tracks[tid] = _Track(frames=deque(maxlen=self.config.span), last_seen=index - 1)
                return
        for g in range(last_index + 1, index):
            a = (g - last_index) / (index - last_index)
            between = None
            if kp is not None and last_kp is not None:
                between = (1 - a) * last_kp + a * np.asarray(kp, np.float32)
                between[:, 2] = np.minimum(last_kp[:, 2], kp[:, 2])
            self._add(tid, track, g, images[g], (1 - a) * last_box + a * box, between, out)

    def _window(self, tid: int, track: _Track) -> Tubelet:
        c = self.config
        items = (
            list(track.frames)[:: c.frame_step]
            if len(track.frames) < c.span
            else list(track.frames)[-c.span :: c.frame_step]
        )
        while len(items) < c.clip_len:  # a short segment: hold the last crop
            items.append(items[-1])
        track.last_window_end = items[-1][0]
        points = [k for *_, k in items]
        return Tubelet(
            track_id=tid,
            frame_indices=np.array([i for i, *_ in items], dtype=np.int64),
            crops=np.stack([crop for _, crop, *_ in items])
            if c.cut_crops
            else np.empty((len(items), 0, 0, 3), np.uint8),
            boxes=np.stack([b for _, _, b, _ in items]).astype(np.float32),
            keypoints=np.stack(points).astype(np.float32) if all(k is not None for k in points) else None,
        )

    def _end(self, tid: int, out: list) -> None:
        c = self.config
        track = self._tracks.pop(tid)
        if track.frames:
            uncovered = track.frames[-1][0] - track.last_window_end
            if track.seen >= c.span:
                if track.last_window_end < 0 or uncovered >= max(1, c.stride // 2):
                    out.append(self._window(tid, track))
            elif track.seen >= math.ceil(c.min_fill * c.span):
                out.append(self._window(tid, track))
            out.append(SegmentEnd(tid, track.frames[-1][0]))
