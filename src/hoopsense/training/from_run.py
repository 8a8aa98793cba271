"""``hoopsense clips --from-run``: a finished ``analyze --recognizer`` run cut into clips that start with its predictions.

No detector runs. The run's ``tracks.csv`` gives every player's box in every
frame; the boxes go frame by frame into the same :class:`TubeletBuilder`
that ``hoopsense clips`` uses, with the same geometry (square crops of
``resize`` pixels, ``clip_len`` frames, a new clip every ``stride`` frames),
so the clips, their ids and ``clips.csv`` are those ``clips`` would cut from
the same tracks (no clip spans one of the camera cuts the run record lists,
as in ``clips``). The pictures come from the source video the run record
names (or one given in its place).

Each clip's starting label is the run's prediction: of that player's
timeline events, the one that overlaps the clip's frames most (ties: the
more confident, then the earlier). The label is written both in
``annotation_dict.json`` and as an unreviewed proposal (label, event
confidence) in ``labelling.json``, so ``hoopsense label`` shows it as the
model's and ``train`` can tell it from a person's label.

A clip that no event of its player overlaps stays unlabelled (``null``). The
timeline leaves such frames without an event when the recognizer's
background class won there (background events are dropped unless the run
used ``--keep-background``) but also when a run of frames was too short to
become an event, so the run does not say what the model saw; labelling them
background would pass a guess off as a label, with no confidence to review
it by. With ``--keep-background`` the background events are in the timeline
and such clips get the background label as a proposal like any other.
``labels_dict.json`` holds the recognizer's labels (from the run record; the
timeline's event names when the record has none), in the recognizer's order.
"""

from __future__ import annotations

import bisect
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import supervision as sv

from hoopsense.detection.base import PERSON
from hoopsense.errors import ConfigError, NoPlayersError, VideoError, field_name
from hoopsense.outputs import atomic_folder, check_new_folder, protect_inputs
from hoopsense.pipeline.run_files import RunFiles
from hoopsense.pipeline.timeline import ActionEvent
from hoopsense.recognizer.tubelets import Tubelet, TubeletBuilder
from hoopsense.training.cutting import ClipFolder, ClipsOptions, ClipsResult
from hoopsense.video import VideoMeta, VideoReader, probe

__all__ = ["RunPredictions", "cut_clips_from_run", "read_run_predictions", "starting_event"]


@dataclass(frozen=True)
class RunPredictions:
    """What ``clips --from-run`` needs of a run: its files, tracks (columns, as
    :func:`hoopsense.api.load_run` reads them), timeline events and recognizer labels."""

    files: RunFiles
    tracks: dict[str, np.ndarray]
    events: list[ActionEvent]
    labels: tuple[str, ...]

    @property
    def recorded_video(self) -> Path:
        """The source video as the run record names it."""
        path = self.files.record.input.get("path")
        if not path:
            raise ConfigError(f"{self.files.run_json} does not name the video it analysed; pass the game video")
        return Path(str(path))


def read_run_predictions(path: str | Path) -> RunPredictions:
    """Read the run at ``path`` (its folder, ``.run.json`` or annotated video); one-line
    :class:`ConfigError` when it is not a run, was made without a recognizer or lost its timeline."""
    from hoopsense.api import load_run

    files = RunFiles.find(path)
    record = files.record
    if record.recognizer is None:
        raise ConfigError(
            f"the run {files.run_json} was analysed without --recognizer, so it has no actions to start the labels "
            "from; analyse the game with --recognizer first, or cut unlabelled clips with `hoopsense clips GAME`"
        )
    timeline = files.path("timeline_csv") if record.outputs.get("timeline_csv") else None
    if timeline is None:
        raise ConfigError(f"the run {files.run_json} has no timeline.csv; analyse the game with --recognizer again")
    if not timeline.is_file():
        raise ConfigError(f"{timeline} not found; the run recognised actions but its timeline is missing")
    run = load_run(files.run_json)
    return RunPredictions(files, run.tracks, run.events, _labels(files, run.events))


def _labels(files: RunFiles, events: Sequence[ActionEvent]) -> tuple[str, ...]:
    rec = files.record.recognizer or {}
    names = rec.get("labels")
    if names is None:  # an older or hand-written record: the event names (and background), in order of appearance
        names = list(dict.fromkeys([e.action for e in events] + [rec.get("background")]))
        names = [n for n in names if n is not None]
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(n, str) and n.strip() for n in names)
        or len(set(names)) != len(names)
    ):
        raise ConfigError(f"{files.run_json}: the recognizer's labels must be a list of unique, non-empty names")
    unknown = sorted({e.action for e in events} - set(names))
    if unknown:
        raise ConfigError(
            f"the run's timeline has actions {unknown[:3]} that are not labels of its recognizer {names[:12]}"
        )
    return tuple(names)


def starting_event(events: Sequence[ActionEvent], start_frame: int, end_frame: int) -> ActionEvent | None:
    """Of one player's ``events``, the one that overlaps frames ``start_frame..end_frame`` (inclusive)
    most; ties go to the more confident, then the earlier. None when no event overlaps."""
    best, best_key = None, (0, -math.inf)
    for e in events:
        overlap = min(e.end_frame, end_frame) - max(e.start_frame, start_frame) + 1
        if overlap > 0 and (overlap, e.confidence) > best_key:
            best, best_key = e, (overlap, e.confidence)
    return best


class _PlayerEvents:
    """One player's events sorted by start frame, for quick overlap queries on a long game."""

    def __init__(self, events: list[ActionEvent]) -> None:
        self.events = sorted(events, key=lambda e: (e.start_frame, e.end_frame))
        self.starts = [e.start_frame for e in self.events]
        self.longest = max((e.frames for e in self.events), default=0)

    def overlapping(self, start_frame: int, end_frame: int) -> list[ActionEvent]:
        lo = bisect.bisect_left(self.starts, start_frame - self.longest)
        hi = bisect.bisect_right(self.starts, end_frame)
        return self.events[lo:hi]


def _source(run: RunPredictions, video: str | Path | None) -> Path:
    if video is not None:
        return Path(video)
    source = run.recorded_video
    if not source.is_file():
        raise VideoError(
            f"the video the run analysed, {source}, is gone (moved or deleted); "
            "pass it as GAME: hoopsense clips GAME --from-run RUN --out DIR"
        )
    return source


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.is_file() and b.is_file() and os.path.samefile(a, b)
    except OSError:
        return False


def _check_same_video(run: RunPredictions, meta: VideoMeta, source: Path) -> None:
    annotated = run.files.path("video")
    if annotated is not None and _same_file(source, annotated):
        raise ConfigError(
            f"{source} is the run's annotated video (boxes drawn on it), not the game it analysed; pass the game as GAME"
        )
    inp = run.files.record.input
    try:
        size, fps = (int(inp["width"]), int(inp["height"])), float(inp["fps"])
    except (KeyError, TypeError, ValueError):
        return  # an older or hand-written record: nothing to compare
    if size != (meta.width, meta.height) or abs(fps - meta.fps) > 1e-3 * fps:
        raise ConfigError(
            f"{source} ({meta.width}x{meta.height}, {meta.fps:.3f} fps) is not the video the run analysed "
            f"({size[0]}x{size[1]}, {fps:.3f} fps)"
        )


def _range(run: RunPredictions, options: ClipsOptions) -> tuple[float, float | None]:
    """The part to cut: the asked range within the part the run analysed."""
    record = run.files.record
    run_end = record.range_s[1]
    start = max(options.start_s, record.start_s)
    end = options.end_s if run_end is None else run_end if options.end_s is None else min(options.end_s, run_end)
    if end is not None and end <= start:
        shown = f"{record.start_s:g}-{run_end:g} s" if run_end is not None else f"from {record.start_s:g} s on"
        raise ConfigError(
            f"the range {options.start_s:g}-{options.end_s if options.end_s is not None else 'end'} s is outside "
            f"the part of the video the run analysed ({shown})",
            field=field_name(options, "start_s"),
        )
    return start, end


class _TrackRows:
    """A run's track rows sorted by frame; :meth:`at` gives a frame's players as the tracker gave
    them to the clip builder (built when asked, so a long game costs its rows, not an object per frame)."""

    def __init__(self, tracks: dict[str, np.ndarray]) -> None:
        order = np.argsort(tracks["frame"], kind="stable")
        self.frames = tracks["frame"][order]
        self.xyxy = np.stack([tracks[k] for k in ("x1", "y1", "x2", "y2")], axis=1).astype(np.float32)[order]
        self.ids = tracks["player_id"][order].astype(int)
        self.confidence = tracks["confidence"].astype(np.float32)[order]
        self.last = int(self.frames[-1]) if len(self.frames) else -1

    def at(self, frame: int) -> sv.Detections:
        lo, hi = np.searchsorted(self.frames, frame, "left"), np.searchsorted(self.frames, frame, "right")
        if lo == hi:
            return sv.Detections.empty()
        return sv.Detections(
            xyxy=self.xyxy[lo:hi], confidence=self.confidence[lo:hi], class_id=np.full(hi - lo, PERSON, dtype=int),
            tracker_id=self.ids[lo:hi],
        )  # fmt: skip


def cut_clips_from_run(
    run: str | Path,
    out_dir: str | Path,
    options: ClipsOptions | None = None,
    *,
    video: str | Path | None = None,
    on_start: Callable[[VideoMeta, int], None] | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> ClipsResult:
    """Cut the clips of every player of ``run`` into the new folder ``out_dir`` (see the module docstring).

    ``options`` gives the clip geometry (``tubelets``) and the part of the run
    to cut (``start_s``/``end_s``, within the part the run analysed); its
    detector, tracker and label settings are not used (the labels are the
    run's) and a ``placeholder`` is refused. ``video`` replaces the source
    video the run record names (moved, or on another disk).
    """
    options = options or ClipsOptions()
    if options.placeholder is not None:
        raise ConfigError(
            "placeholder cannot be used with a run: its clips start with the run's predictions",
            field=field_name(options, "placeholder"),
        )
    out_dir = Path(out_dir)
    predictions = read_run_predictions(run)
    source = _source(predictions, video)
    files = predictions.files
    protect_inputs(
        [out_dir], [source, files.run_json, files.path("tracks_csv"), files.path("timeline_csv"), files.path("video")]
    )
    check_new_folder(out_dir)
    meta = probe(source)
    _check_same_video(predictions, meta, source)
    start_s, end_s = _range(predictions, options)
    times = predictions.tracks["frame"] / meta.fps  # the rows the reader's frames of the range will meet
    keep = times + 0.5 / meta.fps >= start_s
    if end_s is not None:
        keep &= times < end_s - 1e-9
    tracks = {k: v[keep] for k, v in predictions.tracks.items()}
    if not len(tracks["frame"]):
        until = f"{end_s:g} s" if end_s is not None else "the end"
        raise NoPlayersError(f"the run {files.run_json} tracked no player between {start_s:g} s and {until}")
    with atomic_folder(out_dir) as tmp:
        result = _cut(meta, tmp, options, predictions, tracks, (start_s, end_s), on_start, on_frame)
        if not result.clips:
            raise NoPlayersError(
                f"no clips cut from {files.run_json}: no player was tracked for the {options.tubelets.span} "
                "frames a clip needs"
            )
    result.out_dir = out_dir
    return result


def _cut(
    meta: VideoMeta,
    folder: Path,
    options: ClipsOptions,
    run: RunPredictions,
    tracks: dict[str, np.ndarray],
    span: tuple[float, float | None],
    on_start: Callable[[VideoMeta, int], None] | None,
    on_frame: Callable[[int], None] | None,
) -> ClipsResult:
    from hoopsense.pipeline.stream import expected_frames

    builder = TubeletBuilder(options.tubelets)
    sink = ClipFolder(folder, Path(meta.path).stem, meta.fps, options.tubelets, str(meta.path))
    label_index = {name: i for i, name in enumerate(run.labels)}
    by_player: dict[int, list[ActionEvent]] = {}
    for e in run.events:
        by_player.setdefault(e.player_id, []).append(e)
    events = {pid: _PlayerEvents(es) for pid, es in by_player.items()}
    no_events = _PlayerEvents([])
    rows = _TrackRows(tracks)
    last = rows.last
    cuts = set(run.files.record.cuts)  # camera cuts the run found: no clip spans one

    def add(items: list) -> None:
        for t in items:
            if isinstance(t, Tubelet):
                e = starting_event(events.get(t.track_id, no_events).overlapping(t.start_frame, t.end_frame),
                                   t.start_frame, t.end_frame)  # fmt: skip
                if e is None:
                    sink.add(t)
                else:
                    sink.add(t, label_index[e.action], (e.action, e.confidence))

    if on_start:
        on_start(meta, max(0, min(expected_frames(meta, *span), last + 1 - meta.frame_at(span[0]))))
    started = time.perf_counter()
    done, decoded_to = 0, -1
    with VideoReader(meta.path, start_s=span[0], end_s=span[1], pixel_format="bgr24", meta=meta) as reader:
        for frame in reader:
            if frame.index > last:  # nobody is tracked after this: the builder's finish() ends every clip
                break
            assert frame.image is not None  # full=True
            add(builder.push(frame.index, frame.image, rows.at(frame.index), frame.index in cuts))
            decoded_to = frame.index
            done += 1
            if on_frame is not None:
                on_frame(done)
    if decoded_to < last:
        raise VideoError(
            f"{meta.path} ends at frame {decoded_to} but the run tracked players up to frame {last}; "
            "is it the video the run analysed?"
        )
    add(builder.finish())
    sink.close(run.labels)
    return sink.result(done, time.perf_counter() - started)
