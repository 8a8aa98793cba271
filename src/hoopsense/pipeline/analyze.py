"""``analyze``: frames -> detections -> player tracks -> annotated video and track files.

Data flows one way. A background thread decodes frames (:class:`VideoReader`);
the detector runs on batches of frames; the tracker updates frame by frame;
tracked frames then wait in a short :class:`DelayLine` so that tracks seen in
fewer than ``min_track_frames`` frames can be dropped from every output alike
before the frame is drawn, encoded and written to the track files. Memory is
bounded by the batch size, the decode queue and the delay, never by the
length of the video.
"""

from __future__ import annotations

import json
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import supervision as sv

from hoopsense import __version__
from hoopsense.errors import ConfigError, HoopsenseError, NoPlayersError
from hoopsense.outputs import OutputSet
from hoopsense.pipeline.export import TrackWriter
from hoopsense.pipeline.render import Renderer
from hoopsense.tracker.detector import Detector, DetectorConfig
from hoopsense.tracker.tracker import PlayerTracker, TrackerConfig
from hoopsense.video import Frame, VideoMeta, VideoReader, VideoWriter, probe


@dataclass(frozen=True)
class AnalyzeOptions:
    """What to analyse and how. ``start_s``/``end_s`` bound the part of the video (seconds)."""

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    start_s: float = 0.0
    end_s: float | None = None
    crf: int = 23
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        if self.start_s < 0:
            raise ConfigError(f"--start must be >= 0 seconds, got {self.start_s}")
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ConfigError(f"--end ({self.end_s}) must be greater than --start ({self.start_s})")
        if not 0 <= self.crf <= 51:
            raise ConfigError(f"--crf must be in [0, 51], got {self.crf}")


@dataclass(frozen=True)
class OutputPaths:
    """Final paths of a run's outputs; None skips that output."""

    video: Path | None
    tracks_csv: Path | None
    mot: Path | None
    run_json: Path | None

    @classmethod
    def beside(cls, base: Path, *, video: bool = True) -> OutputPaths:
        """``base`` = ``out/game.mp4`` gives ``game.mp4``, ``game.tracks.csv``, ``game.mot.txt``, ``game.run.json``."""
        base = Path(base)
        stem = base.with_suffix("") if base.suffix else base
        return cls(
            video=stem.with_suffix(".mp4") if video else None,
            tracks_csv=stem.with_name(stem.name + ".tracks.csv"),
            mot=stem.with_name(stem.name + ".mot.txt"),
            run_json=stem.with_name(stem.name + ".run.json"),
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
class _Tracked:
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
        self._queue: deque[_Tracked] = deque()
        self.hits: dict[int, int] = {}

    def push(self, item: _Tracked) -> Iterator[_Tracked]:
        for tid in item.players.tracker_id:
            self.hits[int(tid)] = self.hits.get(int(tid), 0) + 1
        self._queue.append(item)
        while len(self._queue) > self.lag:
            yield self._release(self._queue.popleft())

    def flush(self) -> Iterator[_Tracked]:
        while self._queue:
            yield self._release(self._queue.popleft())

    def _release(self, item: _Tracked) -> _Tracked:
        players = item.players
        if len(players):
            keep = np.array([self.hits[int(t)] >= self.min_frames for t in players.tracker_id], dtype=bool)
            players = players[keep]
        return _Tracked(item.index, item.time_s, item.image, players)


class _Stages:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, name: str, started: float) -> float:
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - started
        return now


def _batches(frames: Iterator[Frame], size: int, stages: _Stages) -> Iterator[list[Frame]]:
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


def analyze(
    source: str | Path,
    paths: OutputPaths,
    options: AnalyzeOptions | None = None,
    *,
    meta: VideoMeta | None = None,
    detector: Detector | None = None,
    on_start: Callable[[VideoMeta, int], None] | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> AnalysisResult:
    """Analyse ``source`` and write the outputs named in ``paths``.

    ``meta`` (from :func:`probe` of ``source``) and ``detector`` may be passed
    to avoid probing or loading twice. ``on_start(meta,
    expected_frames)`` is called once the input and model are ready and
    ``on_frame(frames_done)`` after every frame, for progress display.
    Raises :class:`HoopsenseError` subclasses for expected failures (nothing
    is left under a final name then) and :class:`AnalysisInterrupted` on
    Ctrl-C (outputs so far are kept as ``*.partial.*``).
    """
    options = options or AnalyzeOptions()
    meta = meta or probe(source)
    if options.start_s >= meta.duration_s > 0:
        raise ConfigError(f"--start {options.start_s}s is past the end of the video ({meta.duration_s:.1f}s)")
    outputs = OutputSet()
    try:
        tmp = {name: outputs.reserve(p) for name, p in asdict(paths).items() if p is not None}
        if not tmp:
            raise ConfigError("nothing to write: every output is disabled")
        detector = detector or Detector(options.detector)
        result = _run(meta, tmp, paths, options, detector, on_start, on_frame)
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
    on_start: Callable[[VideoMeta, int], None] | None,
    on_frame: Callable[[int], None] | None,
) -> AnalysisResult:
    result = AnalysisResult(meta=meta)
    stages = _Stages()
    render = "video" in tmp
    tracker = PlayerTracker(options.tracker, meta.height, meta.fps)
    delay = DelayLine(options.tracker.min_track_frames)
    renderer = Renderer(meta.height) if render else None
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
    # The detector's input is scaled down in the decoding thread (one colour
    # conversion pass); the full-size picture is decoded only when rendering.
    small_size = detector.input_size(meta.width, meta.height)  # never larger than the frame
    scaled = small_size != (meta.width, meta.height)
    scale = small_size[0] / meta.width  # 1.0 when not scaled
    reader = VideoReader(
        meta.path, start_s=options.start_s, end_s=options.end_s, pixel_format="bgr24", meta=meta,
        small_size=small_size if scaled else None, full=render or not scaled,
    )
    if on_start:
        on_start(meta, _expected_frames(meta, options))
    started = time.perf_counter()

    def emit(item: _Tracked) -> None:
        t = time.perf_counter()
        tracks.write(item.index, item.time_s, item.players)
        for tid in item.players.tracker_id:
            stats = result.players.setdefault(int(tid), TrackStats(item.index, item.index))
            stats.last_frame = item.index
            stats.frames += 1
        result.rows = tracks.rows
        t = stages.add("export", t)
        if writer is not None and renderer is not None and item.image is not None:
            canvas = renderer.draw(item.image, item.players)
            t = stages.add("render", t)
            writer.write(canvas)
            stages.add("encode", t)

    interrupted = False
    try:
        with reader:
            for batch in _batches(iter(reader), options.detector.batch_size, stages):
                t = time.perf_counter()
                images = [f.small if f.small is not None else f.image for f in batch]
                detections = detector.detect(images, bgr=True, scale=scale)
                t = stages.add("detect", t)
                for frame, dets in zip(batch, detections):
                    t = time.perf_counter()
                    players = tracker.update(dets)
                    stages.add("track", t)
                    item = _Tracked(frame.index, frame.time_s, frame.image if render else None, players)
                    for ready in delay.push(item):
                        emit(ready)
                    result.frames += 1
                    if on_frame:
                        on_frame(result.frames)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        try:
            for ready in delay.flush():
                emit(ready)
        finally:
            tracks.close()
            if writer is not None:
                writer.close()
    result.wall_s = time.perf_counter() - started
    result.stage_s = {"decode (background)": reader.decode_s, **stages.seconds}
    if interrupted:
        result.partial = True
        _write_run_json(tmp.get("run_json"), result, paths, options, detector)
        raise _Interrupted(result)
    if not result.players:
        raise NoPlayersError(
            f"no players found in {meta.path} ({result.frames} frames analysed); "
            f"try a lower --conf, a lower --min-height or check --court"
        )
    _write_run_json(tmp.get("run_json"), result, paths, options, detector)
    return result


def _write_run_json(
    path: Path | None, result: AnalysisResult, paths: OutputPaths, options: AnalyzeOptions, detector: Detector
) -> None:
    if path is None:
        return
    meta = result.meta
    doc = {
        "hoopsense_version": __version__,
        "partial": result.partial,
        "input": {
            "path": str(meta.path),
            "width": meta.width,
            "height": meta.height,
            "fps": meta.fps,
            "n_frames": meta.n_frames,
            "duration_s": meta.duration_s,
        },
        "range_s": [options.start_s, options.end_s],
        "detector": {"weights": str(detector.weights_path), **asdict(options.detector)},
        "tracker": asdict(options.tracker),
        "outputs": {k: (v.name if v is not None else None) for k, v in asdict(paths).items()},
        "frames": result.frames,
        "rows": result.rows,
        "fps_achieved": round(result.fps, 2),
        "stage_s": {k: round(v, 3) for k, v in result.stage_s.items()},
        "players": [
            {"player_id": tid, "first_frame": s.first_frame, "last_frame": s.last_frame, "frames": s.frames}
            for tid, s in sorted(result.players.items())
        ],
    }
    path.write_text(json.dumps(doc, indent=2))
