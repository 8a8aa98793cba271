"""Writers and readers of a run's result files: ``tracks.csv``, MOTChallenge txt,
``timeline.csv``, ``timeline.json``, and the end-of-run writing of the timeline and ``run.json``."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import supervision as sv

from hoopsense.errors import ConfigError
from hoopsense.pipeline.run_files import OutputPaths, PlayerRecord, RunRecord, write_record
from hoopsense.pipeline.timeline import action_totals

if TYPE_CHECKING:
    from hoopsense.pipeline.options import AnalyzeOptions
    from hoopsense.pipeline.results import AnalysisResult
    from hoopsense.pipeline.timeline import ActionEvent

TRACKS_HEADER = ("frame", "time_s", "player_id", "x1", "y1", "x2", "y2", "confidence")  # the columns every reader needs
TRACKS_COLUMNS = ("frame", "time_s", "player_id", "track_id", "team", "x1", "y1", "x2", "y2", "confidence")


COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)  # fmt: skip
KEYPOINTS_COLUMNS = ("frame", "time_s", "player_id", "track_id") + tuple(
    f"{name}_{axis}" for name in COCO_KEYPOINTS for axis in ("x", "y", "v")
)


class TrackWriter:
    """Writes one row per tracked player per frame, as frames are released.

    ``tracks.csv``: ``frame`` (0-based), ``time_s``, ``player_id`` (the
    person's identity for the whole game), ``track_id`` (the tracker fragment
    it came from), ``team`` (``A``, ``B``, ``referee``, ``crowd``, ``other``; empty when
    teams are off or not known yet), box in pixels ``x1, y1, x2, y2`` and
    ``confidence``.
    MOTChallenge txt: ``frame`` (1-based), ``id`` (the identity), ``bb_left``, ``bb_top``,
    ``bb_width``, ``bb_height``, ``conf``, ``-1, -1, -1``.
    ``keypoints.csv`` (players found by a pose model): ``frame``, ``time_s``, ``player_id``,
    ``track_id``, then ``<point>_x, <point>_y, <point>_v`` for the 17 COCO points (pixels, and the
    visibility score 0-1).
    Any path may be None to skip that file.
    """

    def __init__(self, csv_path: Path | None, mot_path: Path | None, keypoints_path: Path | None = None) -> None:
        self._csv_file = open(csv_path, "w", newline="") if csv_path else None  # noqa: SIM115
        self._csv = csv.writer(self._csv_file) if self._csv_file else None
        if self._csv:
            self._csv.writerow(TRACKS_COLUMNS)
        self._mot = open(mot_path, "w") if mot_path else None  # noqa: SIM115
        self._kp_file = open(keypoints_path, "w", newline="") if keypoints_path else None  # noqa: SIM115
        self._kp = csv.writer(self._kp_file) if self._kp_file else None
        if self._kp:
            self._kp.writerow(KEYPOINTS_COLUMNS)
        self.rows = 0

    def write(self, frame_index: int, time_s: float, players: sv.Detections) -> None:
        """Write the rows of one frame. ``players`` must carry ``tracker_id``."""
        if len(players) == 0:
            return
        conf = players.confidence if players.confidence is not None else np.ones(len(players))
        fragments = players.data.get("track_id", players.tracker_id)
        teams = players.data.get("team", [""] * len(players))
        for (x1, y1, x2, y2), tid, fid, team, c in zip(players.xyxy, players.tracker_id, fragments, teams, conf):
            if self._csv:
                self._csv.writerow(
                    (
                        frame_index,
                        f"{time_s:.4f}",
                        int(tid),
                        int(fid),
                        team,
                        f"{x1:.1f}",
                        f"{y1:.1f}",
                        f"{x2:.1f}",
                        f"{y2:.1f}",
                        f"{c:.3f}",
                    )
                )
            if self._mot:
                self._mot.write(
                    f"{frame_index + 1},{int(tid)},{x1:.1f},{y1:.1f},{x2 - x1:.1f},{y2 - y1:.1f},{c:.3f},-1,-1,-1\n"
                )
            self.rows += 1
        points = players.data.get("keypoints")
        if self._kp and points is not None and len(points) and points.shape[1:] == (len(COCO_KEYPOINTS), 3):
            for tid, fid, kp in zip(players.tracker_id, fragments, points):
                values = [f"{v:.1f}" if i % 3 < 2 else f"{v:.3f}" for i, v in enumerate(kp.reshape(-1))]
                self._kp.writerow((frame_index, f"{time_s:.4f}", int(tid), int(fid), *values))

    def close(self) -> None:
        for fh in (self._csv_file, self._mot, self._kp_file):
            if fh is not None and not fh.closed:
                fh.close()


def _csv_rows(path: Path, header: Sequence[str]) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [h for h in header if h not in (reader.fieldnames or ())]
            if missing:
                raise ConfigError(f"{path} is not a hoopsense file: no {', '.join(missing)} column")
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"cannot read {path} ({getattr(exc, 'strerror', None) or exc})") from None


def _number(path: Path, row: int, name: str, text: str | None, kind: type) -> Any:
    try:
        value = kind(text)
        if kind is float and not np.isfinite(value):
            raise ValueError
        return value
    except (TypeError, ValueError):
        raise ConfigError(f"{path} line {row + 2}: {name} is not a number ({text!r})") from None


def read_tracks_csv(path: Path) -> dict[str, np.ndarray]:
    """Read a ``tracks.csv`` into columns (numpy arrays keyed by header name: ``frame`` and
    ``player_id`` int64, the others float64). A damaged row is a one-line :class:`ConfigError`."""
    rows = _csv_rows(path, TRACKS_HEADER)
    cols: dict[str, np.ndarray] = {}
    for name in TRACKS_COLUMNS:
        if name not in TRACKS_HEADER and (not rows or name not in rows[0]):
            continue  # written by releases without identities
        if name == "team":
            cols[name] = np.asarray([r[name] or "" for r in rows], dtype=object)
            continue
        kind = int if name in ("frame", "player_id", "track_id") else float
        values = [_number(path, i, name, r[name], kind) for i, r in enumerate(rows)]
        cols[name] = np.asarray(values, dtype=np.int64 if kind is int else np.float64)
    return cols


TIMELINE_HEADER = ("player_id", "action", "start_frame", "end_frame", "start_s", "end_s", "duration_s", "confidence")


def write_timeline_csv(path: Path, events: Sequence[ActionEvent], teams: Mapping[int, str] | None = None) -> None:
    """One event per row, all players, sorted by player then start (frames 0-based, end inclusive), with
    the player's ``team`` (empty when teams are off)."""
    teams = teams or {}
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow((*TIMELINE_HEADER, "team"))
        for e in events:
            out.writerow(
                (
                    e.player_id,
                    e.action,
                    e.start_frame,
                    e.end_frame,
                    f"{e.start_s:.4f}",
                    f"{e.end_s:.4f}",
                    f"{e.duration_s:.4f}",
                    f"{e.confidence:.4f}",
                    teams.get(e.player_id, ""),
                )
            )


def timeline_document(
    events: Sequence[ActionEvent],
    *,
    labels: Sequence[str],
    background: str | None,
    fps: float,
    players: Mapping[int, tuple[int, int, int]],
    classified: set[int],
    video: str | None,
    recognizer: Mapping[str, object],
    identities: Mapping[int, Mapping[str, object]] | None = None,
    teams: Mapping[str, Mapping[str, object]] | None = None,
) -> dict:
    """The ``timeline.json`` document.

    ``players`` maps each tracked player to ``(first_frame, last_frame,
    frames)``; ``classified`` holds those that were visible long enough for
    at least one clip. Per player: its events and, per action, the number of
    events and total seconds; with identities, ``identities`` adds per player
    its ``team``, ``team_colour``, ``thumbnail`` (file in the run's folder) and
    ``track_ids`` (the tracker fragments linked into it), and ``teams`` gives
    each team's colour and players.
    """
    identities = identities or {}
    by_player: dict[int, list[ActionEvent]] = {pid: [] for pid in players}
    for e in events:
        by_player.setdefault(e.player_id, []).append(e)
    totals = action_totals(events)
    doc_players = []
    for pid in sorted(by_player):
        first, last, frames = players.get(pid, (None, None, 0))
        summary = {a: {"events": t["events"], "duration_s": t["seconds"]} for a, t in totals.get(pid, {}).items()}
        doc_players.append(
            {
                "player_id": pid,
                "first_frame": first,
                "last_frame": last,
                "frames_visible": frames,
                "classified": pid in classified,
                **{k: v for k, v in identities.get(pid, {}).items()},
                "events": [
                    {
                        "action": e.action,
                        "start_frame": e.start_frame,
                        "end_frame": e.end_frame,
                        "start_s": round(e.start_s, 4),
                        "end_s": round(e.end_s, 4),
                        "duration_s": round(e.duration_s, 4),
                        "confidence": round(e.confidence, 4),
                    }
                    for e in by_player[pid]
                ],
                "summary": summary,
            }
        )
    return {
        "video": video,
        "fps": fps,
        "labels": list(labels),
        "background": background,
        "recognizer": dict(recognizer),
        "teams": {k: dict(v) for k, v in (teams or {}).items()},
        "players": doc_players,
    }


def write_timeline_json(path: Path, document: dict) -> None:
    Path(path).write_text(json.dumps(document, indent=2, allow_nan=False), encoding="utf-8")


def read_timeline_csv(path: Path) -> list[dict[str, object]]:
    """Rows of a ``timeline.csv`` with numbers parsed; a damaged row is a one-line :class:`ConfigError`."""
    rows = _csv_rows(path, TIMELINE_HEADER)
    ints, floats = ("player_id", "start_frame", "end_frame"), ("start_s", "end_s", "duration_s", "confidence")
    return [
        {k: _number(path, i, k, v, int) if k in ints else _number(path, i, k, v, float) if k in floats else v
         for k, v in r.items()}
        for i, r in enumerate(rows)
    ]  # fmt: skip


def write_run_files(
    tmp: Mapping[str, Path],
    result: AnalysisResult,
    paths: OutputPaths,
    options: AnalyzeOptions,
    detector_name: str,
    *,
    labels: Sequence[str] = (),
    background: str | None = None,
) -> None:
    """Write the timeline files and ``run.json`` (those present in ``tmp``) of a finished or stopped run."""
    teams = {pid: str(info.get("team") or "") for pid, info in result.identities.items()}
    if result.recognizer is not None and "timeline_csv" in tmp:
        write_timeline_csv(tmp["timeline_csv"], result.events, teams)
    if result.recognizer is not None and "timeline_json" in tmp:
        doc = timeline_document(
            result.events, labels=labels, background=background, fps=result.meta.fps,
            players={pid: (s.first_frame, s.last_frame, s.frames) for pid, s in result.players.items()},
            classified=result.classified, video=paths.video.name if paths.video is not None else None,
            recognizer=result.recognizer, identities=result.identities, teams=result.teams,
        )  # fmt: skip
        doc["partial"] = result.partial
        write_timeline_json(tmp["timeline_json"], doc)
    if "run_json" in tmp:
        write_record(tmp["run_json"], run_record(result, paths, options, detector_name))


def run_record(result: AnalysisResult, paths: OutputPaths, options: AnalyzeOptions, detector_name: str) -> RunRecord:
    """The :class:`RunRecord` of a run."""
    meta = result.meta
    recognized = result.recognizer is not None
    return RunRecord(
        input={"path": str(meta.path), "width": meta.width, "height": meta.height, "fps": meta.fps,
               "n_frames": meta.n_frames, "duration_s": meta.duration_s},
        range_s=(options.start_s, options.end_s),
        detector={"name": detector_name, **asdict(options.detector)},
        tracker=asdict(options.tracker),
        identity=result.identity,
        recognizer=result.recognizer,
        outputs={k: (Path(v).name if v is not None else None) for k, v in asdict(paths).items()},
        frames=result.frames, rows=result.rows, events=len(result.events),
        players=tuple(
            PlayerRecord(tid, s.first_frame, s.last_frame, s.frames, (tid in result.classified) if recognized else None,
                         result.identities.get(tid, {}).get("team") or None)
            for tid, s in sorted(result.players.items())
        ),
        fps_achieved=round(result.fps, 2), stage_s={k: round(v, 3) for k, v in result.stage_s.items()},
        skipped_packets=result.skipped_packets, partial=result.partial, cuts=tuple(result.cuts),
    )  # fmt: skip
