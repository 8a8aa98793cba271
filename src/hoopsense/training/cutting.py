"""``hoopsense clips``: cut every player's tubelets out of a game into a SpaceJam-format folder.

The analysis pipeline (detector, ByteTrack, short-track filter, tubelets)
runs on the game; each tubelet becomes ``<id>.mp4`` (square player crops, the
geometry the recognizer sees). The label files are written by
:mod:`hoopsense.label.store`: ``annotation_dict.json`` leaves every clip
unlabelled (``null``) for ``hoopsense label`` to fill, or gives every clip the
``placeholder`` label when one is asked for; ``labels_dict.json`` holds the
label names, and ``clips.csv`` says where each clip came from (player, frames,
seconds, box). Clip ids are ``<game>-p<player>-f<first frame>``: the clips of
one player form one group, so a split never puts overlapping clips of a
player on both sides. The folder is written under a temporary name and
renamed when complete. :mod:`hoopsense.training.from_run` cuts the same clips
from a finished run's tracks instead of running the detector.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hoopsense.detection.base import Detector, DetectorConfig
from hoopsense.errors import ConfigError, NoPlayersError, field_name
from hoopsense.identity.stage import IdentityConfig, IdentityStage, load_embedder
from hoopsense.label.store import ClipSource, LabellingState, write_folder
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


@dataclass(frozen=True)
class ClipsOptions:
    """``tubelets``: clip geometry (default 16 frames every 16 frames, so clips do not
    overlap); ``identity``: how tracker fragments become one player, as in ``analyze``
    (no thumbnails), so the clips of a player carry the player id of an analysis;
    ``labels``: the label names; ``placeholder``: a label every clip starts with
    (None, the default: every clip starts unlabelled, ``null`` in ``annotation_dict.json``)."""

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    identity: IdentityConfig = field(default_factory=lambda: IdentityConfig(gallery=False))
    tubelets: TubeletConfig = field(default_factory=lambda: TubeletConfig(clip_len=16, stride=16))
    labels: tuple[str, ...] = SPACEJAM_LABELS
    placeholder: str | None = None
    start_s: float = 0.0
    end_s: float | None = None

    def __post_init__(self) -> None:
        if self.placeholder is not None and self.placeholder not in self.labels:
            raise ConfigError(
                f"placeholder {self.placeholder!r} is not one of the labels {list(self.labels)}",
                field=field_name(self, "placeholder"),
            )
        check_time_range(self)


@dataclass
class ClipsResult:
    """What a cut wrote: ``labelled`` clips have a starting label (the placeholder, or a run's
    prediction), ``proposed`` of them as unreviewed model proposals in ``labelling.json``."""

    out_dir: Path
    clips: int
    players: int
    frames: int
    wall_s: float
    labelled: int = 0
    proposed: int = 0
    notes: list[str] = field(default_factory=list)


def clip_id(game: str, player: int, start_frame: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9]+", "-", game).strip("-") or "game"
    return f"{safe}-p{player:03d}-f{start_frame:06d}"


class ClipFolder:
    """Writes each tubelet as ``<id>.mp4`` into ``folder`` and keeps its label and source;
    :meth:`close` writes the label files (through :func:`hoopsense.label.store.write_folder`)."""

    def __init__(self, folder: Path, game: str, fps: float, tubelets: TubeletConfig, source: str) -> None:
        self.folder, self.game, self.source = folder, game, source
        self.fps = fps / tubelets.frame_step
        self.frame_fps = fps
        self.annotations: dict[str, int | None] = {}
        self.sources: dict[str, ClipSource] = {}
        self.state = LabellingState()
        self.players: set[int] = set()

    def add(self, t: Tubelet, label: int | None = None, proposal: tuple[str, float] | None = None) -> str:
        """Write ``t``'s clip with starting ``label`` (None: unlabelled); ``proposal``
        (label name, confidence) marks that label as a model's, not yet reviewed."""
        cid = clip_id(self.game, t.track_id, t.start_frame)
        with VideoWriter(
            self.folder / f"{cid}.mp4", t.crops.shape[2], t.crops.shape[1], self.fps, pixel_format="rgb24", crf=18
        ) as w:
            for crop in t.crops:
                w.write(crop)
        x1, y1 = t.boxes[:, :2].min(axis=0)
        x2, y2 = t.boxes[:, 2:].max(axis=0)
        self.sources[cid] = ClipSource(
            t.track_id,
            t.start_frame,
            t.end_frame,
            t.start_frame / self.frame_fps,
            (t.end_frame + 1) / self.frame_fps,
            (float(x1), float(y1), float(x2), float(y2)),
            self.source,
        )
        self.annotations[cid] = label
        if proposal is not None:
            self.state.proposed[cid] = proposal
        self.players.add(t.track_id)
        return cid

    @property
    def labelled(self) -> int:
        return sum(1 for v in self.annotations.values() if v is not None)

    def close(self, labels: Sequence[str]) -> None:
        write_folder(self.folder, labels, self.annotations, self.sources, self.state)

    def result(self, frames: int, wall_s: float) -> ClipsResult:
        return ClipsResult(
            self.folder, len(self.annotations), len(self.players), frames, wall_s, self.labelled,
            len(self.state.proposed),
        )  # fmt: skip


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
    protect_inputs([out_dir], [source, options.detector.weights, options.identity.reid])
    check_new_folder(out_dir)
    meta = meta or probe(source)
    check_start_in_video(meta, options)
    embedder, note = load_embedder(options.identity)
    if detector is None:
        from hoopsense.detection.yolo import YoloDetector

        detector = YoloDetector(options.detector)
    identity = IdentityStage(options.identity, meta.fps, embedder)
    with atomic_folder(out_dir) as tmp:
        result = _cut(meta, tmp, options, detector, identity, on_start, on_frame)
        result.notes.extend([note] if note else [])
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
    identity: IdentityStage,
    on_start: Callable[[VideoMeta, int], None] | None,
    on_frame: Callable[[int], None] | None,
) -> ClipsResult:
    builder = TubeletBuilder(options.tubelets)
    sink = ClipFolder(folder, Path(meta.path).stem, meta.fps, options.tubelets, str(meta.path))
    label = options.labels.index(options.placeholder) if options.placeholder is not None else None
    stream = TrackedStream(
        meta, detector, options.tracker, start_s=options.start_s, end_s=options.end_s, full=True, on_frame=on_frame,
        identity=identity,
    )  # fmt: skip
    if on_start:
        on_start(meta, expected_frames(meta, options.start_s, options.end_s))
    started = time.perf_counter()

    def consume(items: Iterator[TrackedFrame]) -> None:
        for item in items:
            assert item.image is not None  # full=True
            for t in builder.push(item.index, item.image, item.players, item.cut):
                if isinstance(t, Tubelet):
                    sink.add(t, label)

    with stream:
        consume(iter(stream))
    consume(stream.flush())
    for t in builder.finish():
        if isinstance(t, Tubelet):
            sink.add(t, label)
    sink.close(options.labels)
    return sink.result(stream.frames, time.perf_counter() - started)
