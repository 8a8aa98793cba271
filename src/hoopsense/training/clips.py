"""``hoopsense clips``: cut every player's tubelets out of a game into a SpaceJam-format folder.

The analysis pipeline (detector, ByteTrack, short-track filter, tubelets)
runs on the game; each tubelet becomes ``<id>.mp4`` (square player crops, the
geometry the recognizer sees). ``annotation_dict.json`` gives every clip a
placeholder label for users to correct, ``labels_dict.json`` holds the label
names, and ``clips.csv`` says where each clip came from (player, frames,
seconds, box). Clip ids are ``<game>-p<player>-f<first frame>``: the clips of
one player form one group, so a split never puts overlapping clips of a
player on both sides. The folder is written under a temporary name and
renamed when complete.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hoopsense.errors import ConfigError, NoPlayersError
from hoopsense.outputs import atomic_folder, check_new_folder
from hoopsense.pipeline.analyze import (
    DelayLine,
    StageClock,
    TrackedFrame,
    detect_and_track,
    open_reader,
)
from hoopsense.recognizer.tubelets import Tubelet, TubeletBuilder, TubeletConfig
from hoopsense.tracker.detector import Detector, DetectorConfig
from hoopsense.tracker.tracker import PlayerTracker, TrackerConfig
from hoopsense.video import VideoMeta, VideoWriter, probe

SPACEJAM_LABELS = ("block", "pass", "run", "dribble", "shoot", "ball in hand", "defense", "pick", "no_action", "walk", "discard")
CLIPS_HEADER = ("id", "player_id", "start_frame", "end_frame", "start_s", "end_s", "x1", "y1", "x2", "y2", "source")


@dataclass(frozen=True)
class ClipsOptions:
    """``tubelets``: clip geometry (default 16 frames every 16 frames, so clips do not
    overlap); ``labels`` and ``placeholder``: the label names and the one every clip starts with."""

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    tubelets: TubeletConfig = field(default_factory=lambda: TubeletConfig(clip_len=16, stride=16))
    labels: tuple[str, ...] = SPACEJAM_LABELS
    placeholder: str = "no_action"
    start_s: float = 0.0
    end_s: float | None = None

    def __post_init__(self) -> None:
        if self.placeholder not in self.labels:
            raise ConfigError(f"placeholder label {self.placeholder!r} is not one of the labels {list(self.labels)}")


@dataclass
class ClipsResult:
    out_dir: Path
    clips: int
    players: int
    frames: int
    wall_s: float


def clip_id(game: str, player: int, start_frame: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9]+", "-", game).strip("-") or "game"
    return f"{safe}-p{player:03d}-f{start_frame:06d}"


class _ClipFolder:
    def __init__(self, folder: Path, game: str, fps: float, tubelets: TubeletConfig, source: str, placeholder: int) -> None:
        self.folder, self.game, self.source, self.placeholder = folder, game, source, placeholder
        self.fps = fps / tubelets.frame_step
        self.frame_fps = fps
        self.annotations: dict[str, int] = {}
        self.players: set[int] = set()
        self._csv_file = open(folder / "clips.csv", "w", newline="")  # noqa: SIM115
        self._csv = csv.writer(self._csv_file)
        self._csv.writerow(CLIPS_HEADER)

    def add(self, t: Tubelet) -> None:
        cid = clip_id(self.game, t.track_id, t.start_frame)
        with VideoWriter(self.folder / f"{cid}.mp4", t.crops.shape[2], t.crops.shape[1], self.fps, pixel_format="rgb24", crf=18) as w:
            for crop in t.crops:
                w.write(crop)
        box = np.concatenate([t.boxes[:, :2].min(axis=0), t.boxes[:, 2:].max(axis=0)])
        self._csv.writerow(
            (cid, t.track_id, t.start_frame, t.end_frame, f"{t.start_frame / self.frame_fps:.4f}",
             f"{(t.end_frame + 1) / self.frame_fps:.4f}", *(f"{v:.1f}" for v in box), self.source)
        )
        self.annotations[cid] = self.placeholder
        self.players.add(t.track_id)

    def close(self, labels: Sequence[str]) -> None:
        self._csv_file.close()
        (self.folder / "annotation_dict.json").write_text(json.dumps(self.annotations, indent=1))
        (self.folder / "labels_dict.json").write_text(json.dumps({str(i): name for i, name in enumerate(labels)}, indent=1))


def cut_clips(
    source: str | Path,
    out_dir: str | Path,
    options: ClipsOptions | None = None,
    *,
    meta: VideoMeta | None = None,
    detector: Detector | None = None,
    on_start: Callable[[VideoMeta, int], None] | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> ClipsResult:
    options = options or ClipsOptions()
    out_dir = Path(out_dir)
    check_new_folder(out_dir)
    meta = meta or probe(source)
    detector = detector or Detector(options.detector)
    with atomic_folder(out_dir) as tmp:
        result = _cut(meta, tmp, options, detector, on_start, on_frame)
        if not result.clips:
            raise NoPlayersError(
                f"no clips cut from {meta.path}: no player was visible for the {options.tubelets.span} frames a clip needs"
            )
    result.out_dir = out_dir
    return result


def _cut(meta, folder, options, detector, on_start, on_frame) -> ClipsResult:
    stages = StageClock()
    tracker = PlayerTracker(options.tracker, meta.height, meta.fps)
    delay = DelayLine(options.tracker.min_track_frames)
    builder = TubeletBuilder(options.tubelets)
    sink = _ClipFolder(folder, Path(meta.path).stem, meta.fps, options.tubelets, str(meta.path), options.labels.index(options.placeholder))
    reader, scale = open_reader(meta, detector, start_s=options.start_s, end_s=options.end_s, full=True)
    if on_start:
        on_start(meta, int(round(((options.end_s or meta.duration_s) - options.start_s) * meta.fps)))
    started = time.perf_counter()
    frames = 0

    def consume(items) -> None:  # noqa: ANN001
        for item in items:
            for t in builder.push(item.index, item.image, item.players):
                if isinstance(t, Tubelet):
                    sink.add(t)

    with reader:
        for frame, players in detect_and_track(reader, detector, tracker, options.detector.batch_size, scale, stages):
            consume(delay.push(TrackedFrame(frame.index, frame.time_s, frame.image, players)))
            frames += 1
            if on_frame:
                on_frame(frames)
    consume(delay.flush())
    for t in builder.finish():
        if isinstance(t, Tubelet):
            sink.add(t)
    sink.close(options.labels)
    return ClipsResult(folder, len(sink.annotations), len(sink.players), frames, time.perf_counter() - started)
