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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hoopsense.detection.base import Detector, DetectorConfig
from hoopsense.errors import ConfigError, NoPlayersError, field_name
from hoopsense.outputs import atomic_folder, check_new_folder, protect_inputs
from hoopsense.pipeline.stream import (
    TrackedFrame,
    TrackedStream,
    check_start_in_video,
    check_time_range,
    expected_frames,
)
from hoopsense.recognizer.tubelets import Tubelet, TubeletBuilder, TubeletConfig
from hoopsense.tracking.players import TrackerConfig
from hoopsense.video import VideoMeta, VideoWriter, probe

SPACEJAM_LABELS = (
    "block",
    "pass",
    "run",
    "dribble",
    "shoot",
    "ball in hand",
    "defense",
    "pick",
    "no_action",
    "walk",
    "discard",
)
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
            raise ConfigError(
                f"placeholder {self.placeholder!r} is not one of the labels {list(self.labels)}",
                field=field_name(self, "placeholder"),
            )
        check_time_range(self)


@dataclass
class ClipsResult:
    out_dir: Path
    clips: int
    players: int
    frames: int
    wall_s: float


def read_labels(path: Path) -> tuple[str, ...]:
    """Label names from a ``labels_dict.json`` (``{"0": "block", ...}``, indices 0..N-1)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        keys = sorted(doc, key=int)
        if [int(k) for k in keys] != list(range(len(keys))) or not keys:
            raise ValueError("keys must be 0..N-1")
        labels = tuple(doc[k] for k in keys)
        if not all(isinstance(x, str) for x in labels):
            raise ValueError("label names must be text")
    except (OSError, UnicodeDecodeError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"{path} is not a labels_dict.json ({str(exc).splitlines()[0][:100]})", field="ClipsOptions.labels"
        ) from None
    if len(set(labels)) != len(labels) or not all(x.strip() for x in labels):
        raise ConfigError(f"{path}: labels must be unique, non-empty names", field="ClipsOptions.labels")
    return labels


def clip_id(game: str, player: int, start_frame: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9]+", "-", game).strip("-") or "game"
    return f"{safe}-p{player:03d}-f{start_frame:06d}"


class _ClipFolder:
    def __init__(
        self, folder: Path, game: str, fps: float, tubelets: TubeletConfig, source: str, placeholder: int
    ) -> None:
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
        with VideoWriter(
            self.folder / f"{cid}.mp4", t.crops.shape[2], t.crops.shape[1], self.fps, pixel_format="rgb24", crf=18
        ) as w:
            for crop in t.crops:
                w.write(crop)
        box = np.concatenate([t.boxes[:, :2].min(axis=0), t.boxes[:, 2:].max(axis=0)])
        self._csv.writerow(
            (
                cid,
                t.track_id,
                t.start_frame,
                t.end_frame,
                f"{t.start_frame / self.frame_fps:.4f}",
                f"{(t.end_frame + 1) / self.frame_fps:.4f}",
                *(f"{v:.1f}" for v in box),
                self.source,
            )
        )
        self.annotations[cid] = self.placeholder
        self.players.add(t.track_id)

    def close(self, labels: Sequence[str]) -> None:
        self._csv_file.close()
        (self.folder / "annotation_dict.json").write_text(json.dumps(self.annotations, indent=1))
        (self.folder / "labels_dict.json").write_text(
            json.dumps({str(i): name for i, name in enumerate(labels)}, indent=1)
        )


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
    protect_inputs([out_dir], [source, options.detector.weights])
    check_new_folder(out_dir)
    meta = meta or probe(source)
    check_start_in_video(meta, options)
    if detector is None:
        from hoopsense.detection.yolo import YoloDetector

        detector = YoloDetector(options.detector)
    with atomic_folder(out_dir) as tmp:
        result = _cut(meta, tmp, options, detector, on_start, on_frame)
        if not result.clips:
            raise NoPlayersError(
                f"no clips cut from {meta.path}: no player was visible for the {options.tubelets.span} frames a clip needs"
            )
    result.out_dir = out_dir
    return result


def _cut(
    meta: VideoMeta,
    folder: Path,
    options: ClipsOptions,
    detector: Detector,
    on_start: Callable[[VideoMeta, int], None] | None,
    on_frame: Callable[[int], None] | None,
) -> ClipsResult:
    builder = TubeletBuilder(options.tubelets)
    sink = _ClipFolder(
        folder,
        Path(meta.path).stem,
        meta.fps,
        options.tubelets,
        str(meta.path),
        options.labels.index(options.placeholder),
    )
    stream = TrackedStream(
        meta, detector, options.tracker, start_s=options.start_s, end_s=options.end_s, full=True, on_frame=on_frame
    )
    if on_start:
        on_start(meta, expected_frames(meta, options.start_s, options.end_s))
    started = time.perf_counter()

    def consume(items: Iterator[TrackedFrame]) -> None:
        for item in items:
            assert item.image is not None  # full=True
            for t in builder.push(item.index, item.image, item.players):
                if isinstance(t, Tubelet):
                    sink.add(t)

    with stream:
        consume(iter(stream))
    consume(stream.flush())
    for t in builder.finish():
        if isinstance(t, Tubelet):
            sink.add(t)
    sink.close(options.labels)
    return ClipsResult(folder, len(sink.annotations), len(sink.players), stream.frames, time.perf_counter() - started)
