"""The public Python API: analyse a game, stream its players frame by frame, load an earlier run.

The CLI is built on these functions; the README's "Python API" section shows
them at work. Every option of ``hoopsense analyze`` is a field of
:class:`AnalyzeOptions` (and of the configs it holds); errors are
:class:`HoopsenseError` with a one-line message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from hoopsense.detection.base import Detector, DetectorConfig
from hoopsense.errors import ConfigError, HoopsenseError
from hoopsense.identity.stage import IdentityConfig
from hoopsense.pipeline.options import AnalyzeOptions
from hoopsense.pipeline.results import AnalysisInterrupted, AnalysisResult
from hoopsense.pipeline.run_files import OutputPaths, RunFiles, RunRecord
from hoopsense.pipeline.timeline import ActionEvent, TimelineConfig
from hoopsense.recognizer.config import RecognizerConfig
from hoopsense.runtime import configure_process
from hoopsense.tracking.players import TrackerConfig

__all__ = [
    "ActionEvent", "AnalysisInterrupted", "AnalysisResult", "AnalyzeOptions", "Detector", "DetectorConfig",
    "FramePlayers", "HoopsenseError", "IdentityConfig", "RecognizerConfig", "Run", "TimelineConfig", "TrackerConfig",
    "analyze", "load_run", "stream",
]  # fmt: skip


def _options(options: AnalyzeOptions | None, recognizer: str | Path | None) -> AnalyzeOptions:
    options = options or AnalyzeOptions()
    if recognizer is not None:
        config = options.recognizer or RecognizerConfig(str(recognizer))
        options = replace(options, recognizer=replace(config, checkpoint=str(recognizer)))
    return options


def analyze(
    video: str | Path,
    out: str | Path,
    *,
    recognizer: str | Path | None = None,
    options: AnalyzeOptions | None = None,
    detector: Detector | None = None,
    render: bool = True,
    report: str | Path | None = None,
    tracks: str | Path | None = None,
    mot: str | Path | None = None,
    on_start: Callable[[Any, int], None] | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> AnalysisResult:
    """Analyse ``video`` as ``hoopsense analyze`` does; returns what the run did.

    ``out`` names the annotated video (``out/game.mp4``); the track files,
    ``run.json`` and, with a ``recognizer`` checkpoint, the timeline files go
    beside it. ``render=False`` writes no video (``out`` is then the stem of
    the other files). ``options`` holds every other setting (detector,
    tracker, clip windows, timeline, range; see :class:`AnalyzeOptions`);
    ``detector`` replaces the YOLO detector by any :class:`Detector`.
    ``report`` also writes the coach page there; ``tracks`` and ``mot`` move
    the track files. ``on_start(meta, expected_frames)`` and
    ``on_frame(frames_done)`` report progress. The result lists the files
    written (``result.outputs``) and :meth:`AnalysisResult.player_summaries`.
    """
    from hoopsense.pipeline.analyze import analyze as run_analysis

    configure_process()
    options = _options(options, recognizer)
    out = Path(out)
    if render and out.suffix.lower() not in (".mp4", ".m4v", ".mov"):
        raise ConfigError(f"out must name an .mp4 file when rendering, got {out}")
    paths = OutputPaths.beside(out, video=render, timeline=options.recognizer is not None)
    paths = replace(
        paths, video=out if render else None, tracks_csv=Path(tracks) if tracks else paths.tracks_csv,
        mot=Path(mot) if mot else paths.mot,
    )  # fmt: skip
    if report is not None:
        from hoopsense.outputs import protect_inputs
        from hoopsense.report.page import check_report_path

        check_report_path(Path(report))
        weights = [options.detector.weights, options.recognizer.checkpoint if options.recognizer else None]
        protect_inputs([report], [video, *weights])
        if any(Path(report).absolute() == p.absolute() for p in paths.items().values()):
            raise ConfigError(f"report {report} would replace another output of the run", field="report")
    result = run_analysis(video, paths, options, detector=detector, on_start=on_start, on_frame=on_frame)
    if report is not None:
        from hoopsense.report.page import write_report

        result.outputs.append(write_report(paths.run_json, Path(report)))  # type: ignore[arg-type]
    return result


@dataclass(frozen=True)
class FramePlayers:
    """One analysed frame: 0-based ``index``, ``time_s``, the players (``sv.Detections`` with
    ``tracker_id``; xyxy in pixels; with a pose model as the detector, ``data["keypoints"]``: float
    ``(N, 17, 3)`` COCO points, x and y in pixels and visibility 0-1), with a recognizer the current action of each player
    (``{player_id: (action, confidence)}``), and the BGR uint8 ``(H, W, 3)`` image when asked for."""

    index: int
    time_s: float
    players: sv.Detections
    actions: dict[int, tuple[str, float]]
    image: np.ndarray | None = None


def stream(
    video: str | Path,
    *,
    recognizer: str | Path | None = None,
    options: AnalyzeOptions | None = None,
    detector: Detector | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
    images: bool = False,
) -> Iterator[FramePlayers]:
    """Yield every frame's players (and, with a ``recognizer``, their actions) as the video is analysed.

    Nothing is written. Memory stays bounded whatever the video's length;
    with a recognizer each frame comes once its players' actions are settled
    (about a second of video later). ``images=True`` also yields the frames.
    """
    from hoopsense.detection.yolo import YoloDetector
    from hoopsense.identity.stage import IdentityStage, load_embedder
    from hoopsense.pipeline.actions import ActionStage
    from hoopsense.pipeline.stream import StageClock, TrackedFrame, TrackedStream
    from hoopsense.pipeline.timeline import Timeline
    from hoopsense.recognizer.recognizer import Recognizer
    from hoopsense.video import probe

    configure_process()
    options = _options(options, recognizer)
    if start_s is not None or end_s is not None:
        options = replace(options, start_s=options.start_s if start_s is None else start_s, end_s=end_s)
    meta = probe(video)
    detector = detector or YoloDetector(options.detector)
    stage = None
    labels: tuple[str, ...] = ()
    clock = StageClock()
    if options.recognizer is not None:
        rec = Recognizer(options.recognizer)
        labels = rec.meta.labels
        timeline = Timeline(labels, meta.fps, options.timeline, rec.meta.background)
        tubelets = rec.tubelet_config(
            clip_len=options.clip_len, stride=options.stride, detector_keypoints=getattr(detector, "task", "") == "pose"
        )
        stage = ActionStage(rec, tubelets, timeline, keep_images=images, clock=clock)
    embedder, _ = load_embedder(options.identity)
    stream = TrackedStream(
        meta, detector, options.tracker, start_s=options.start_s, end_s=options.end_s,
        full=images or stage is not None, clock=clock, identity=IdentityStage(options.identity, meta.fps, embedder),
    )  # fmt: skip

    def frames(items: Iterator[TrackedFrame]) -> Iterator[FramePlayers]:
        for item in items:
            if stage is None:
                yield FramePlayers(item.index, item.time_s, item.players, {}, item.image if images else None)
                continue
            for done, found in stage.push(item):
                yield _frame(done, found, labels, images)

    try:
        with stream:
            yield from frames(iter(stream))
            yield from frames(stream.flush())
            if stage is not None:
                for done, found in stage.flush():
                    yield _frame(done, found, labels, images)
    finally:
        if stage is not None:
            stage.close()


def _frame(item: Any, found: dict[int, tuple[int, float]], labels: tuple[str, ...], images: bool) -> FramePlayers:
    actions = {pid: (labels[index], confidence) for pid, (index, confidence) in found.items()}
    return FramePlayers(item.index, item.time_s, item.players, actions, item.image if images else None)


@dataclass(frozen=True)
class Run:
    """An earlier analysis read back: its record (``run.json``), tracks and, with a recognizer, events."""

    files: RunFiles
    tracks: dict[str, np.ndarray]
    events: list[ActionEvent]

    @property
    def record(self) -> RunRecord:
        return self.files.record

    @property
    def folder(self) -> Path:
        return self.files.folder


def load_run(path: str | Path) -> Run:
    """Read the run at ``path`` (its folder, ``.run.json`` or annotated video).

    ``tracks`` are columns (numpy arrays): ``frame``, ``time_s``,
    ``player_id``, ``track_id`` and ``team`` (runs with identities), ``x1``, ``y1``, ``x2``, ``y2``, ``confidence``; ``events``
    are the timeline's :class:`ActionEvent` rows (empty for a tracking-only run).
    """
    from hoopsense.pipeline.export import read_timeline_csv, read_tracks_csv

    files = RunFiles.find(path)
    tracks_path = files.path("tracks_csv")
    if tracks_path is None or not tracks_path.is_file():
        raise ConfigError(f"the run {files.run_json} has no tracks file")
    events: list[ActionEvent] = []
    timeline = files.path("timeline_csv") if files.record.outputs.get("timeline_csv") else None
    if timeline is not None and timeline.is_file():
        fields = ("player_id", "action", "start_frame", "end_frame", "start_s", "end_s", "confidence")
        events = [ActionEvent(*(row[f] for f in fields)) for row in read_timeline_csv(timeline)]  # type: ignore[arg-type]
    return Run(files, read_tracks_csv(tracks_path), events)
