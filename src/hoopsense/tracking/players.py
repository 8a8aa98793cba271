"""Player tracking: filters plus a tracker from Roboflow's ``trackers`` library.

``TrackerConfig.kind`` chooses ByteTrack, BoT-SORT (ByteTrack's association
plus camera-motion compensation: a global motion estimate between frames,
applied to every track's motion model before matching, so a camera pan does
not break the tracks) or OC-SORT (observation-centric recovery of lost
tracks). Each :class:`PlayerTracker` owns its tracker instance, so two
analyses never share IDs or state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import supervision as sv
from trackers import BoTSORTTracker, ByteTrackTracker, OCSORTTracker

from hoopsense.errors import ConfigError, check_range
from hoopsense.tracking import filters

TRACKERS = ("bytetrack", "botsort", "ocsort")
DOUBLED_COVER = 0.9  # a box this much inside another whose feet it shares is the same person seen twice
DOUBLED_FEET = 0.05  # feet within this fraction of the taller box's height (0.03 missed a doubled box)
RUNS_KEPT = 1000  # frames after its last that a tracker ID's run is forgotten


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker parameters and player filters.

    * ``kind``: ``bytetrack``, ``botsort`` (with camera-motion compensation)
      or ``ocsort``.

    Defaults were tuned on three real broadcast clips (``benchmarks/tune_tracker.py``),
    where far players are small and an int8 nano detector scores many of them
    0.2-0.5: a track starts only from a confident box (0.5) but is kept alive
    by boxes down to the detector's ``conf`` (0.05), which keeps IDs stable
    through occlusions without starting tracks on crowd members.

    * ``activation``: minimum score for a detection to start a new track.
    * ``high_conf``: boxes at or above it are matched first; lower ones only
      keep existing tracks alive (ByteTrack's second stage).
    * ``lost_buffer``: frames (at 30 fps) a lost track waits to be re-found.
    * ``min_iou``: minimum IoU between a predicted track box and a detection.
    * ``confirm_frames``: consecutive frames before a track gets an ID.
    * ``min_height``: boxes shorter than this fraction of the frame height are
      not players (distant crowd, partial heads at the frame edge).
    * ``min_track_frames``: tracks seen in fewer frames are dropped from all
      outputs (applied by the pipeline with a short delay).
    * ``court``: optional polygon, only people whose feet are inside it are
      tracked: points ``((x, y), ...)`` or the text ``"x1,y1,x2,y2,..."``, in
      pixels, or as 0-1 fractions of the frame when every value is in [0, 1].
    * ``drop_doubled``: when the detector boxes one person twice (the body, and
      the body with an arm raised for a shot or the ball held out: one box
      nearly inside the other, their feet together), the tracker can follow
      both, and he shows as two players; with this on, only one box is kept:
      that of the track shown last, else of the one seen the longest without
      a break (see
      :func:`filters.doubled_pairs`). Off by default: on the practice clip it
      gave 3 identities for its 3 players instead of 5, but on the NBA
      broadcast it also hid players in contact, and Curry ended the clip
      with another player's identity.
    * ``cuts``: start the tracker afresh at each camera cut
      (:mod:`~hoopsense.tracking.cuts`), so that no track is carried across
      one onto another player; the people after it are linked to those
      before by re-identification.
    """

    kind: str = "bytetrack"
    activation: float = 0.5
    high_conf: float = 0.5
    lost_buffer: int = 60
    min_iou: float = 0.05
    confirm_frames: int = 3
    min_height: float = 0.06
    min_track_frames: int = 10
    court: tuple[tuple[float, float], ...] | str | None = None
    drop_doubled: bool = False
    cuts: bool = True

    def __post_init__(self) -> None:
        if self.kind not in TRACKERS:
            raise ConfigError(f"tracker must be one of {', '.join(TRACKERS)}, got {self.kind!r}",
                              field="TrackerConfig.kind")  # fmt: skip
        for name in ("activation", "high_conf", "min_iou"):
            check_range(self, name, 0, 1)
        check_range(self, "lost_buffer", 0, 10000, "frames")
        check_range(self, "confirm_frames", 1, 100)
        check_range(self, "min_height", 0, 1, open_high=True)
        check_range(self, "min_track_frames", 1, 10000)
        if self.court is not None:
            object.__setattr__(self, "court", filters.court_points(self.court))

    def court_polygon(self, width: int, height: int) -> np.ndarray | None:
        """The court as a float32 ``(N, 2)`` polygon in pixels of a ``width`` x ``height`` frame, or None."""
        if self.court is None:
            return None
        return filters.to_pixels(np.asarray(self.court, dtype=np.float32), width, height)


class PlayerTracker:
    """Filters a frame's detections to players and gives each a stable ``tracker_id``."""

    def __init__(self, config: TrackerConfig, frame_width: int, frame_height: int, fps: float) -> None:
        if frame_width <= 0 or frame_height <= 0:
            raise ConfigError(f"frame size must be positive, got {frame_width}x{frame_height}")
        if not fps > 0:
            raise ConfigError(f"fps must be positive, got {fps}")
        self.config = config
        self.frame_height = frame_height
        self._polygon = config.court_polygon(frame_width, frame_height)
        self._fps = fps
        self._tracker = _make_tracker(config, fps)
        self._id_offset = 0  # added to the tracker's IDs: a tracker started afresh counts from 0 again
        self._max_id = 0  # the largest ID given out
        self.uses_frames = config.kind == "botsort"
        self._frame = 0
        self._runs: dict[int, tuple[int, int]] = {}  # tracker ID -> (first, last) frame of its unbroken run
        self._pruned = 0  # frame of the latest clean-up of _runs
        self._shown: set[int] = set()  # tracker IDs shown in the latest frame that showed anyone

    def players(self, detections: sv.Detections) -> sv.Detections:
        """The detections that may be players (persons, tall enough, on court)."""
        kept = filters.persons(detections)
        kept = filters.min_height(kept, self.frame_height, self.config.min_height)
        if self._polygon is not None:
            kept = filters.inside_polygon(kept, self._polygon)
        return kept

    def update(self, detections: sv.Detections, frame: np.ndarray | None = None, scale: float = 1.0) -> sv.Detections:
        """Track one frame. Returns the players with an ID (``tracker_id >= 1``), a new object.

        ``frame`` (BGR, ``scale`` times the size of the frame the boxes are in)
        feeds the camera-motion compensation of BoT-SORT; the tracker then
        works in that picture's coordinates and the boxes come back unchanged.
        """
        self._frame += 1
        players = self.players(detections)
        if self.uses_frames and frame is not None:
            scaled = players[np.ones(len(players), dtype=bool)]
            scaled.xyxy = players.xyxy * scale
            tracked = self._tracker.update(scaled, frame)
            if tracked.tracker_id is not None and len(tracked):
                tracked.xyxy = tracked.xyxy / scale
        else:
            tracked = self._tracker.update(players)
        if tracked.tracker_id is None or len(tracked) == 0:
            empty = sv.Detections.empty()
            empty.tracker_id = np.empty(0, dtype=int)
            return empty
        confirmed = tracked[tracked.tracker_id >= 0]
        confirmed.tracker_id = confirmed.tracker_id.astype(int) + 1 + self._id_offset  # IDs shown start at 1
        if len(confirmed):
            self._max_id = max(self._max_id, int(confirmed.tracker_id.max()))
        return self._one_box_a_person(confirmed) if self.config.drop_doubled else confirmed

    def reset(self) -> None:
        """Start afresh (a camera cut): every track ends, and the next ones take IDs never given before."""
        self._tracker = _make_tracker(self.config, self._fps)
        self._id_offset = self._max_id
        self._runs, self._shown = {}, set()

    def _one_box_a_person(self, tracked: sv.Detections) -> sv.Detections:
        """Of two tracked boxes that are one person seen twice (:func:`filters.doubled_pairs`), the box of the
        track shown last is kept (in the latest frame that showed anyone), else that of the track seen the longest without a break
        (``drop_doubled``), so the ID shown changes only when the tracker loses the box it showed. The tracker
        started a second track on him, or re-found a lost one, and he would show twice, as two people. It keeps
        both tracks (it matched both boxes), and when the kept one ends the other goes on showing him."""
        frame = self._frame
        for tid in tracked.tracker_id.tolist():
            first, last = self._runs.get(tid, (frame, frame))
            self._runs[tid] = (first if last >= frame - 1 else frame, frame)
        if frame - self._pruned >= RUNS_KEPT:
            self._runs = {t: run for t, run in self._runs.items() if run[1] > frame - RUNS_KEPT}
            self._pruned = frame
        pairs = filters.doubled_pairs(tracked.xyxy, DOUBLED_COVER, DOUBLED_FEET)
        keep = np.ones(len(tracked), dtype=bool)
        if pairs:
            ids = tracked.tracker_id.tolist()
            rank = sorted(range(len(ids)), key=lambda k: (ids[k] not in self._shown, self._runs[ids[k]][0], ids[k]))
            order = {k: r for r, k in enumerate(rank)}
            for i, j in sorted(pairs, key=lambda p: min(order[p[0]], order[p[1]])):
                if keep[i] and keep[j]:
                    keep[j if order[i] < order[j] else i] = False
        self._shown = set(tracked.tracker_id[keep].tolist())
        return tracked[keep]


def _make_tracker(config: TrackerConfig, fps: float) -> ByteTrackTracker | BoTSORTTracker | OCSORTTracker:
    common = {
        "lost_track_buffer": config.lost_buffer,
        "frame_rate": fps,
        "minimum_consecutive_frames": config.confirm_frames,
        "high_conf_det_threshold": config.high_conf,
    }
    if config.kind == "botsort":
        return BoTSORTTracker(
            **common,
            track_activation_threshold=config.activation,
            minimum_iou_threshold_first_assoc=config.min_iou,
            enable_cmc=True,
            cmc_downscale=1,  # the frame given is already the detector's small copy
            instant_first_frame_activation=False,
        )
    if config.kind == "ocsort":
        return OCSORTTracker(**common, minimum_iou_threshold=config.min_iou)
    return ByteTrackTracker(
        **common, track_activation_threshold=config.activation, minimum_iou_threshold=config.min_iou
    )
