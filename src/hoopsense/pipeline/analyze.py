"""``analyze``: frames -> detections -> player tracks -> tubelets -> actions -> outputs.

Data flows one way. A background thread decodes frames (:class:`VideoReader`);
the detector runs on batches of frames; the tracker updates frame by frame;
tracked frames then wait in a short :class:`DelayLine` so that tracks seen in
fewer than ``min_track_frames`` frames can be dropped from every output alike.
With a recognizer, frames then pass the :class:`ActionStage`, which cuts
player clips, classifies them in batches and holds each frame until its
players' actions are settled; finally the frame is drawn, encoded and written
to the track files. Memory is bounded by the batch sizes, the decode queue
and the delays, never by the length of the video.
"""

from __future__ import annotations

import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import supervision as sv

from hoopsense.errors import ConfigError, HoopsenseError, NoPlayersError, check_range
from hoopsense.outputs import OutputSet
from hoopsense.pipeline.actions import ActionStage
from hoopsense.pipeline.export import TrackWriter
from hoopsense.pipeline.render import Renderer, action_colours
from hoopsense.pipeline.reports import write_reports
from hoopsense.pipeline.timeline import ActionEvent, Timeline, TimelineConfig
from hoopsense.recognizer.recognizer import Recognizer, RecognizerConfig
from hoopsense.recognizer.tubelets import TubeletConfig
from hoopsense.tracker.detector import Detector, DetectorConfig
from hoopsense.tracker.tracker import PlayerTracker, TrackerConfig
from hoopsense.video import Frame, VideoMeta, VideoReader, VideoWriter, probe


@dataclass(frozen=True)
class AnalyzeOptions:
    """What to analyse and how. ``start_s``/``end_s`` bound the part of the video (seconds).

    ``recognizer`` None makes a tracking-only run. ``clip_len`` (default: the
    checkpoint's) and ``stride`` (default: half a clip) set the clip windows.
    """

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    recognizer: RecognizerConfig | None = None
    clip_len: int | None = None
    stride: int | None = None
    timeline: TimelineConfig = field(default_factory=TimelineConfig)
    start_s: float = 0.0
    end_s: float | None = None
    crf: int = 23
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        if self.start_s < 0:
            raise ConfigError(f"--start must be >= 0 seconds, got {self.start_s}")
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ConfigError(f"--end ({self.end_s}) must be greater than --start ({self.start_s})")
        check_range("--crf", self.crf, 0, 51)


@dataclass(frozen=True)
class OutputPaths:
    """Final paths of a run's outputs; None skips that output."""

    video: Path | None
    tracks_csv: Path | None
    mot: Path | None
    run_json: Path | None
    timeline_csv: Path | None = None
    timeline_json: Path | None = None

    @classmethod
    def beside(cls, base: Path, *, video: bool = True, timeline: bool = False) -> OutputPaths:
        """``base`` = ``out/game.mp4`` gives ``game.mp4``, ``game.tracks.csv``, ``game.mot.txt``,
        ``game.run.json`` and, with ``timeline``, ``game.timeline.csv`` and ``game.timeline.json``."""
        base = Path(base)
        stem = base.with_suffix("") if base.suffix else base

        def named(suffix: str) -> Path:
            return stem.with_name(stem.name + suffix)

        return cls(
            video=stem.with_suffix(".mp4") if video else None,
            tracks_csv=named(".tracks.csv"),
            mot=named(".mot.txt"),
            run_json=named(".run.json"),
            timeline_csv=named(".timeline.csv") if timeline else None,
            timeline_json=named(".timeline.json") if timeline else None,
        )


@dataclass
class TrackStats:
    first_frame: int
    last_frame: int
    frames: int = 0


@dataclass
class AnalysisResult:
    """What a run did: counts, speed, per-stage seconds and the files written."""

    meta: VideoMeta
    frames: int = 0
    rows: int = 0
    players: dict[int, TrackStats] = field(default_factory=dict)
    wall_s: float = 0.0
    stage_s: dict[str, float] = field(default_factory=dict)
    outputs: list[Path] = field(default_factory=list)
    partial: bool = False
    events: list[ActionEvent] = field(default_factory=list)
    windows: int = 0
    classified: set[int] = field(default_factory=set)
    provisional_frames: int = 0
    recognizer: dict | None = None

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


class AnalysisInterrupted(HoopsenseError):
    """Ctrl-C: the outputs so far were finished and renamed ``*.partial.*``."""

    exit_code = 130

    def __init__(self, result: AnalysisResult) -> None:
        names = ", ".join(str(p) for p in result.outputs) or "none"
        super().__init__(f"stopped after {result.frames} frames; partial outputs: {names}")
        self.result = result


@dataclass
class TrackedFrame:
    """A frame after tracking: index, time, BGR image (None when not needed) and its players."""

    index: int
    time_s: float
    image: np.ndarray | None
    players: sv.Detections


class DelayLine:
    """Holds tracked frames for ``lag`` frames, then releases them with short tracks removed.

    A track is released only once it has been seen in ``min_frames`` frames
    (counting the ``lag`` frames still ahead), so a flicker of a few frames
    never reaches any output while real players lose none of their rows.
    """

    def __init__(self, min_frames: int) -> None:
        self.lag = max(0, min_frames - 1)
        self.min_frames = min_frames
        self._queue: deque[TrackedFrame] = deque()
        self.hits: dict[int, int] = {}

    def push(self, item: TrackedFrame) -> Iterator[TrackedFrame]:
        for tid in item.players.tracker_id:
            self.hits[int(tid)] = self.hits.get(int(tid), 0) + 1
        self._queue.append(item)
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
        return TrackedFrame(item.index, item.time_s, item.image, players)


class StageClock:
    """Seconds spent per pipeline stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, name: str, started: float) -> float:
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - started
        return now


def _batches(frames: Iterator[Frame], size: int, stages: StageClock) -> Iterator[list[Frame]]:
    batch: list[Frame] = []
    t = time.perf_counter()
    for frame in frames:
        t = stages.add("decode_wait", t)
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
            t = time.perf_counter()
    if batch:
        yield batch


def open_reader(
    meta: VideoMeta, detector: Detector, *, start_s: float, end_s: float | None, full: bool
) -> tuple[VideoReader, float]:
    """A BGR reader that also scales frames down to the detector's input, and that scale.

    The detector's input is made in the decoding thread (one colour conversion
    pass); the full-size picture is decoded only when ``full`` (drawing or
    cutting player crops) or when the detector takes the frame as it is.
    """
    small_size = detector.input_size(meta.width, meta.height)  # never larger than the frame
    scaled = small_size != (meta.width, meta.height)
    reader = VideoReader(
        meta.path, start_s=start_s, end_s=end_s, pixel_format="bgr24", meta=meta,
        small_size=small_size if scaled else None, full=full or not scaled,
    )
    return reader, small_size[0] / meta.width


def detect_and_track(
    reader: VideoReader, detector: Detector, tracker: PlayerTracker, batch_size: int, scale: float, stages: StageClock
) -> Iterator[tuple[Frame, sv.Detections]]:
    """Each decoded frame with its tracked players; the detector runs on batches of frames."""
    for batch in _batches(iter(reader), batch_size, stages):
        t = time.perf_counter()
        images = [f.small if f.small is not None else f.image for f in batch]
        detections = detector.detect(images, bgr=True, scale=scale)
        stages.add("detect", t)
        for frame, dets in zip(batch, detections):
            t = time.perf_counter()
            players = tracker.update(dets)
            stages.add("track", t)
            yield frame, players


def analyze(
    source: str | Path,
    paths: OutputPaths,
    options: AnalyzeOptions | None = None,
    *,
    meta: VideoMeta | None = None,
    detector: Detector | None = None,
    recognizer: Recognizer | None = None,
    on_start: Callable[[VideoMeta, int], None] | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> AnalysisResult:
    """Analyse ``source`` and write the outputs named in ``paths``.

    ``meta`` (from :func:`probe` of ``source``), ``detector`` and
    ``recognizer`` may be passed to avoid probing or loading twice; a
    recognizer (passed, or loaded from ``options.recognizer``) turns on action
    recognition and the timeline outputs. ``on_start(meta,
    expected_frames)`` is called once the input and models are ready and
    ``on_frame(frames_done)`` after every frame, for progress display.
    Raises :class:`HoopsenseError` subclasses for expected failures (nothing
    is left under a final name then) and :class:`AnalysisInterrupted` on
    Ctrl-C (outputs so far are kept as ``*.partial.*``).
    """
    options = options or AnalyzeOptions()
    meta = meta or probe(source)
    if options.start_s >= meta.duration_s > 0:
        raise ConfigError(f"--start {options.start_s}s is past the end of the video ({meta.duration_s:.1f}s)")
    if recognizer is None and options.recognizer is not None:
        recognizer = Recognizer(options.recognizer)
    if recognizer is None and (paths.timeline_csv or paths.timeline_json):
        raise ConfigError("timeline outputs need a recognizer (--recognizer model.pt)")
    tubelets = None
    if recognizer is not None:
        tubelets = recognizer.tubelet_config(clip_len=options.clip_len, stride=options.stride)
        expected = _expected_frames(meta, options)
        if 0 < expected < tubelets.span:
            raise ConfigError(
                f"the video{' range' if options.start_s or options.end_s else ''} has {expected} frames but the "
                f"recognizer needs clips of {tubelets.span} frames; use a longer clip or a smaller --clip-len"
            )
    outputs = OutputSet()
    try:
        tmp = {name: outputs.reserve(p) for name, p in asdict(paths).items() if p is not None}
        if not tmp:
            raise ConfigError("nothing to write: every output is disabled")
        detector = detector or Detector(options.detector)
        actions = _Actions(recognizer, tubelets, options.timeline, meta.fps) if recognizer is not None else None
        result = _run(meta, tmp, paths, options, detector, actions, on_start, on_frame)
    except KeyboardInterrupt:
        outputs.discard()
        raise
    except _Interrupted as stop:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not break the cleanup
        try:
            stop.result.outputs = outputs.commit_partial() if stop.result.frames else []
            if not stop.result.frames:
                outputs.discard()
        finally:
            signal.signal(signal.SIGINT, previous)
        raise AnalysisInterrupted(stop.result) from None
    except BaseException:
        outputs.discard()
        raise
    result.outputs = outputs.commit()
    return result


@dataclass
class _Actions:
    """What the recognition stage needs, ready before the run starts."""

    recognizer: Recognizer
    tubelets: TubeletConfig
    timeline_config: TimelineConfig
    fps: float

    def stage(self, keep_images: bool, clock: StageClock) -> ActionStage:
        meta = self.recognizer.meta
        timeline = Timeline(meta.labels, self.fps, self.timeline_config, meta.background)
        return ActionStage(self.recognizer, self.tubelets, timeline, keep_images=keep_images, clock=clock)


class _Interrupted(Exception):
    def __init__(self, result: AnalysisResult) -> None:
        self.result = result


def _expected_frames(meta: VideoMeta, options: AnalyzeOptions) -> int:
    end = options.end_s if options.end_s is not None else meta.duration_s
    end = min(end, meta.duration_s) if meta.duration_s > 0 else end
    return max(0, int(round((end - options.start_s) * meta.fps)))


def _run(
    meta: VideoMeta,
    tmp: dict[str, Path],
    paths: OutputPaths,
    options: AnalyzeOptions,
    detector: Detector,
    actions: _Actions | None,
    on_start: Callable[[VideoMeta, int], None] | None,
    on_frame: Callable[[int], None] | None,
) -> AnalysisResult:
    result = AnalysisResult(meta=meta)
    stages = StageClock()
    render = "video" in tmp
    tracker = PlayerTracker(options.tracker, meta.height, meta.fps)
    delay = DelayLine(options.tracker.min_track_frames)
    stage = actions.stage(keep_images=render, clock=stages) if actions is not None else None
    palette = action_colours(actions.recognizer.meta.labels, actions.recognizer.meta.background) if actions else None
    renderer = Renderer(meta.height, palette) if render else None
    writer = (
        VideoWriter(
            tmp["video"], meta.width, meta.height, meta.fps_fraction or meta.fps,
            pixel_format="bgr24", crf=options.crf, preset=options.preset,
            audio_from=meta.path if meta.has_audio else None,
            audio_start_s=options.start_s, audio_end_s=options.end_s,
        )
        if render
        else None
    )
    tracks = TrackWriter(tmp.get("tracks_csv"), tmp.get("mot"))
    full = render or stage is not None
    reader, scale = open_reader(meta, detector, start_s=options.start_s, end_s=options.end_s, full=full)
    if on_start:
        on_start(meta, _expected_frames(meta, options))
    started = time.perf_counter()

    def emit(item: TrackedFrame, labels: dict[int, tuple[str, int]]) -> None:
        t = time.perf_counter()
        tracks.write(item.index, item.time_s, item.players)
        for tid in item.players.tracker_id:
            stats = result.players.setdefault(int(tid), TrackStats(item.index, item.index))
            stats.last_frame = item.index
            stats.frames += 1
        result.rows = tracks.rows
        t = stages.add("export", t)
        if writer is not None and renderer is not None and item.image is not None:
            canvas = renderer.draw(item.image, item.players, labels)
            t = stages.add("render", t)
            writer.write(canvas)
            stages.add("encode", t)

    def release(items: Iterator[TrackedFrame]) -> None:
        for ready in items:
            if stage is None:
                emit(ready, {})
            else:
                for done, labels in stage.push(ready):
                    emit(done, labels)

    interrupted = failed = False
    try:
        with reader:
            for frame, players in detect_and_track(reader, detector, tracker, options.detector.batch_size, scale, stages):
                release(delay.push(TrackedFrame(frame.index, frame.time_s, frame.image if full else None, players)))
                result.frames += 1
                if on_frame:
                    on_frame(result.frames)
    except KeyboardInterrupt:
        interrupted = True
    except BaseException:
        failed = True
        raise
    finally:
        try:
            if not failed:
                release(delay.flush())
                if stage is not None:
                    for done, labels in stage.flush(infer=not interrupted):
                        emit(done, labels)
        finally:
            tracks.close()
            if writer is not None:
                writer.close()
    result.wall_s = time.perf_counter() - started
    result.stage_s = {"decode (background)": reader.decode_s, **stages.seconds}
    if stage is not None:
        result.events = stage.timeline.events()
        result.windows = stage.windows
        result.classified = {pid for pid, p in stage.timeline.players.items() if p.windows_seen}
        result.provisional_frames = stage.provisional_frames
    if interrupted:
        result.partial = True
        write_reports(tmp, result, paths, options, detector, actions)
        raise _Interrupted(result)
    if not result.players:
        raise NoPlayersError(
            f"no players found in {meta.path} ({result.frames} frames analysed); "
            f"try a lower --conf, a lower --min-height or check --court"
        )
    if actions is not None and not result.classified:
        span = actions.tubelets.span
        longest = max(s.frames for s in result.players.values())
        raise NoPlayersError(
            f"no player was visible long enough to classify: clips need {span} frames, the longest track "
            f"has {longest}; lower --clip-len, or run without --recognizer for tracking only"
        )
    write_reports(tmp, result, paths, options, detector, actions)
    return result
