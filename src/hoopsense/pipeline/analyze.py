"""``analyze``: tracked frames -> tubelets -> actions -> outputs (orchestration only).

The tracked-frame stream (:mod:`hoopsense.pipeline.stream`) decodes, detects,
tracks and drops short tracks. With a recognizer, frames then pass the
:class:`ActionStage`, which cuts player clips, classifies them in batches and
holds each frame until its players' actions are settled; finally the frame is
drawn, encoded and written to the track files. The run's files are named and
recorded by :mod:`hoopsense.pipeline.run_files` and written atomically.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hoopsense.detection.base import Detector
from hoopsense.errors import ConfigError, NoPlayersError
from hoopsense.identity.stage import IdentityStage, load_embedder
from hoopsense.outputs import OutputSet, protect_inputs
from hoopsense.pipeline.actions import ActionStage
from hoopsense.pipeline.export import TrackWriter, write_run_files
from hoopsense.pipeline.options import AnalyzeOptions
from hoopsense.pipeline.render import NO_TEAM_COLOUR, PLAIN_SIDES, Renderer, action_colours
from hoopsense.pipeline.results import AnalysisInterrupted, AnalysisResult, TrackStats
from hoopsense.pipeline.run_files import OutputPaths
from hoopsense.pipeline.stream import StageClock, TrackedFrame, TrackedStream, check_start_in_video, expected_frames
from hoopsense.pipeline.timeline import Timeline, TimelineConfig
from hoopsense.recognizer.recognizer import Recognizer
from hoopsense.recognizer.tubelets import TubeletConfig
from hoopsense.video import VideoMeta, VideoWriter, probe
from hoopsense.video.writer import ctrl_c_held

__all__ = ["AnalysisInterrupted", "AnalysisResult", "AnalyzeOptions", "OutputPaths", "analyze", "load_detector"]


def load_detector(options: AnalyzeOptions) -> Detector:
    """The YOLO detector ``options`` ask for."""
    from hoopsense.detection.yolo import YoloDetector

    return YoloDetector(options.detector)


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

    ``meta`` (from :func:`probe` of ``source``), ``detector`` (any
    :class:`Detector`) and ``recognizer`` may be passed to avoid probing or
    loading twice; a recognizer (passed, or loaded from ``options.recognizer``)
    turns on action recognition and the timeline outputs. ``on_start(meta,
    expected_frames)`` is called once the input and models are ready and
    ``on_frame(frames_done)`` after every frame, for progress display.
    Missing output folders are created. Raises :class:`HoopsenseError`
    subclasses for expected failures (nothing is left under a final name
    then, and no output may replace an input) and :class:`AnalysisInterrupted`
    on Ctrl-C (outputs so far are kept as ``*.partial.*``).
    """
    options = options or AnalyzeOptions()
    rec = options.recognizer
    weights = [options.detector.weights, *((rec.checkpoint, rec.fuse, rec.pose) if rec else ())]
    protect_inputs(
        [*paths.items().values(), paths.gallery, paths.keypoints_csv], [source, *weights, options.identity.reid]
    )
    meta = meta or probe(source)
    check_start_in_video(meta, options)
    if recognizer is None and options.recognizer is not None:
        recognizer = Recognizer(options.recognizer)
    if recognizer is None and (paths.timeline_csv or paths.timeline_json):
        raise ConfigError("timeline outputs need a recognizer")
    actions = None
    if recognizer is not None:
        actions = _Actions(recognizer, recognizer.tubelet_config(clip_len=options.clip_len, stride=options.stride),
                           options.timeline, meta.fps)  # fmt: skip
        expected = expected_frames(meta, options.start_s, options.end_s)
        if 0 < expected < actions.tubelets.span:
            raise ConfigError(
                f"the video{' range' if options.start_s or options.end_s else ''} has {expected} frames but the "
                f"recognizer needs clips of {actions.tubelets.span} frames; use a longer clip or a smaller clip_len",
                field="AnalyzeOptions.clip_len",
            )
    embedder, note = load_embedder(options.identity)
    outputs = OutputSet(make_folders=True)
    try:
        tmp = {name: outputs.reserve(p) for name, p in paths.items().items()}
        if not tmp:
            raise ConfigError("nothing to write: every output is disabled")
        detector = detector or load_detector(options)
        if actions is not None and getattr(detector, "task", "detect") == "pose":  # its keypoints, not crops
            actions.tubelets = actions.recognizer.tubelet_config(
                clip_len=options.clip_len, stride=options.stride, detector_keypoints=True
            )
        if paths.keypoints_csv is not None and getattr(detector, "task", "detect") == "pose":
            tmp["keypoints_csv"] = outputs.reserve(paths.keypoints_csv)
        else:
            paths = replace(paths, keypoints_csv=None)
        identity = IdentityStage(options.identity, meta.fps, embedder)
        result = _run(meta, tmp, paths, options, detector, actions, identity, on_start, on_frame)
        if note:
            result.notes.append(note)
        if options.draw_pose and "keypoints_csv" not in tmp:
            result.notes.append(
                "--draw-pose draws nothing: the detector is not a pose model (give a local pose model such as yolo11n-pose.pt)"
            )
        _write_gallery(outputs, paths, identity, result)
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

    def info(self, result: AnalysisResult) -> dict[str, Any]:
        """The recognizer section of the run record and ``timeline.json``."""
        rec, tub, tl = self.recognizer, self.tubelets, self.timeline_config
        return {
            "checkpoint": str(rec.path), "architecture": rec.meta.architecture, "labels": list(rec.meta.labels),
            "background": rec.meta.background, "keep_background": tl.keep_background, "clip_len": tub.clip_len,
            "checkpoint_clip_len": rec.meta.clip_len, "stride": tub.stride, "frame_step": tub.frame_step,
            "context": tub.context, "crop_size": rec.meta.crop_size, "crops_cut": tub.cut_crops, "batch_size": rec.batch_size,
            "device": str(rec.device), "precision": str(rec.dtype).replace("torch.", ""),
            "smooth_windows": tl.smooth, "min_event_s": tl.min_event_s, "clips_classified": result.windows,
            "players_classified": len(result.classified),
            "frames_with_provisional_labels": result.provisional_frames,
            **({"keypoints": {"from_detector": rec.keypoint_sources["detector"],
                              "from_crops": rec.keypoint_sources["crops"], "pose_model": rec.pose_weights,
                              "ball_model": rec.ball_weights,
                              **({"clips_with_ball": rec.clips_with_ball} if rec.uses_ball else {})}}
               if rec.uses_keypoints else {}),
            **({"fused_with": str(rec.partner.path)} if rec.partner is not None else {}),
        }  # fmt: skip


def _identities(identity: IdentityStage, result: AnalysisResult, gallery: str | None) -> None:
    """Per player of the run: team, colour, fragments and thumbnail; per team: colour and players."""
    result.identity = identity.summary()
    for pid in sorted(result.players):
        team = identity.team_of(pid)
        info: dict[str, Any] = {"track_ids": sorted(identity.released.get(pid, ()))}
        if identity.config.teams:
            info["team"] = team.name if team is not None else None
            info["team_colour"] = team.colour if team is not None else None
            if team is not None:
                entry = result.teams.setdefault(team.name, {"colour": team.colour, "players": []})
                entry["players"].append(pid)
        if gallery is not None and identity.gallery is not None and pid in identity.gallery.identities:
            info["thumbnail"] = f"{gallery}/{_thumbnail_name(pid)}"
        result.identities[pid] = info
    if identity.config.teams:
        counts = {k: len(v["players"]) for k, v in result.teams.items()}
        for side in identity.config.dropped_sides:  # dropped from the outputs, still counted
            counts[side] = sum(1 for t in identity.teams.values() if t.name == side)
        result.identity["team_counts"] = dict(sorted(counts.items()))
        # the colours the video draws, for readers of run.json alone (a tracking-only run has no timeline): a
        # team's, a referee's own shirt, grey for other people and the crowd
        result.identity["team_colours"] = {
            name: NO_TEAM_COLOUR if name in PLAIN_SIDES else t["colour"] for name, t in sorted(result.teams.items())
        }
        result.identity["player_colours"] = {
            str(pid): NO_TEAM_COLOUR if info.get("team") in PLAIN_SIDES else info["team_colour"]
            for pid, info in result.identities.items()
            if info.get("team_colour")
        }


def _write_gallery(outputs: OutputSet, paths: OutputPaths, identity: IdentityStage, result: AnalysisResult) -> None:
    """Each player's clearest crop as ``<gallery>/player-<id>.jpg``, named in the player's identity info."""
    if paths.gallery is None or identity.gallery is None:
        return
    for pid, info in result.identities.items():
        data = identity.thumbnail_jpeg(pid) if "thumbnail" in info else None
        if data is not None:
            outputs.reserve(paths.gallery / _thumbnail_name(pid)).write_bytes(data)


def _thumbnail_name(pid: int) -> str:
    return f"player-{pid}.jpg"


class _Interrupted(Exception):
    def __init__(self, result: AnalysisResult) -> None:
        self.result = result


def _run(
    meta: VideoMeta,
    tmp: dict[str, Path],
    paths: OutputPaths,
    options: AnalyzeOptions,
    detector: Detector,
    actions: _Actions | None,
    identity: IdentityStage,
    on_start: Callable[[VideoMeta, int], None] | None,
    on_frame: Callable[[int], None] | None,
) -> AnalysisResult:
    result = AnalysisResult(meta=meta)
    clock = StageClock()
    render = "video" in tmp
    stage = actions.stage(keep_images=render, clock=clock) if actions is not None else None
    renderer = None
    if render:
        classes = actions.recognizer.meta.labels if actions else ()
        palette = action_colours(classes, actions.recognizer.meta.background) if actions else None
        renderer = Renderer(meta.height, classes, palette)
    writer = (
        VideoWriter(
            tmp["video"],
            meta.width,
            meta.height,
            meta.fps_fraction or meta.fps,
            pixel_format="bgr24",
            crf=options.crf,
            preset=options.preset,
            audio_from=meta.path if meta.has_audio else None,
            audio_start_s=options.start_s,
            audio_end_s=options.end_s,
        )
        if render
        else None
    )
    tracks = TrackWriter(tmp.get("tracks_csv"), tmp.get("mot"), tmp.get("keypoints_csv"))
    stream = TrackedStream(
        meta, detector, options.tracker, start_s=options.start_s, end_s=options.end_s,
        full=render or stage is not None, clock=clock, on_frame=on_frame, identity=identity,
    )  # fmt: skip
    if on_start:
        on_start(meta, expected_frames(meta, options.start_s, options.end_s))
    started = time.perf_counter()

    def emit(item: TrackedFrame, labels: dict[int, tuple[int, float]]) -> None:
        t = time.perf_counter()
        canvas = None
        if writer is not None and renderer is not None and item.image is not None:
            colours = None
            if identity.config.teams:
                colours = {}
                for pid in item.players.tracker_id:
                    team = identity.team_of(int(pid))
                    plain = team is None or team.name in PLAIN_SIDES
                    colours[int(pid)] = NO_TEAM_COLOUR if plain else team.colour
            canvas = renderer.draw(item.image, item.players, labels, colours, skeletons=options.draw_pose)
            t = clock.add("render", t)
        if canvas is not None and writer is not None:
            writer.write(canvas)
            t = clock.add("encode", t)
        tracks.write(item.index, item.time_s, item.players)
        for tid in item.players.tracker_id:
            stats = result.players.setdefault(int(tid), TrackStats(item.index, item.index))
            stats.last_frame = item.index
            stats.frames += 1
        result.rows = tracks.rows
        clock.add("export", t)

    def release(items: Iterator[TrackedFrame]) -> None:
        # Ctrl-C lands between frames, never inside one: a frame taken from the tracker goes out
        # whole (video and track rows), so the partial files of an interrupted run hold the same
        # frames, with none missing from the video and present in the tracks
        items = iter(items)
        while True:
            with ctrl_c_held():
                ready = next(items, None)
                if ready is None:
                    return
                if stage is None:
                    emit(ready, {})
                else:
                    for done, labels in stage.push(ready):
                        emit(done, labels)

    interrupted = failed = False
    try:
        with stream:
            release(iter(stream))
    except KeyboardInterrupt:
        interrupted = True
    except BaseException:
        failed = True
        raise
    finally:
        try:
            if not failed:
                release(stream.flush())
                if stage is not None:
                    for done, labels in stage.flush(infer=not interrupted):
                        emit(done, labels)
        finally:
            if stage is not None:
                stage.close()
            tracks.close()
            if writer is not None:
                writer.close()
    result.frames = stream.frames
    result.skipped_packets = stream.skipped_packets
    result.cuts = list(stream.cut_frames)
    result.wall_s = time.perf_counter() - started
    result.stage_s = {"decode (background)": stream.reader.decode_s, **clock.seconds}
    result.stage_s.update({f"identity: {k}": v for k, v in identity.seconds.items()})
    _identities(identity, result, paths.gallery.name if paths.gallery is not None else None)
    if stage is not None and actions is not None:
        result.events = stage.timeline.events()
        result.windows = stage.windows
        result.classified = {pid for pid, p in stage.timeline.players.items() if p.windows_seen}
        result.provisional_frames = stage.provisional_frames
        result.recognizer = actions.info(result)
    names: dict[str, Any] = (
        {"labels": actions.recognizer.meta.labels, "background": actions.recognizer.meta.background} if actions else {}
    )
    if interrupted:
        result.partial = True
        write_run_files(tmp, result, paths, options, detector.name, **names)
        raise _Interrupted(result)
    if not result.players:
        raise NoPlayersError(
            f"no players found in {meta.path} ({result.frames} frames analysed); "
            f"try a lower conf, a lower min_height or check the court polygon"
        )
    if actions is not None and not result.classified:
        span = actions.tubelets.span
        longest = max(s.frames for s in result.players.values())
        raise NoPlayersError(
            f"no player was visible long enough to classify: clips need {span} frames, the longest track "
            f"has {longest}; use a shorter clip length, or run without a recognizer for tracking only"
        )
    write_run_files(tmp, result, paths, options, detector.name, **names)
    return result
