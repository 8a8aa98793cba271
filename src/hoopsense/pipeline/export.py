"""Writers for the result files: ``tracks.csv``, MOTChallenge txt, ``timeline.csv`` and ``timeline.json``."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import supervision as sv

if TYPE_CHECKING:
    from hoopsense.pipeline.timeline import ActionEvent

TRACKS_HEADER = ("frame", "time_s", "player_id", "x1", "y1", "x2", "y2", "confidence")


class TrackWriter:
    """Writes one row per tracked player per frame, as frames are released.

    ``tracks.csv``: ``frame`` (0-based), ``time_s``, ``player_id``, box in
    pixels ``x1, y1, x2, y2`` and ``confidence``.
    MOTChallenge txt: ``frame`` (1-based), ``id``, ``bb_left``, ``bb_top``,
    ``bb_width``, ``bb_height``, ``conf``, ``-1, -1, -1``.
    Either path may be None to skip that file.
    """

    def __init__(self, csv_path: Path | None, mot_path: Path | None) -> None:
        self._csv_file = open(csv_path, "w", newline="") if csv_path else None  # noqa: SIM115
        self._csv = csv.writer(self._csv_file) if self._csv_file else None
        if self._csv:
            self._csv.writerow(TRACKS_HEADER)
        self._mot = open(mot_path, "w") if mot_path else None  # noqa: SIM115
        self.rows = 0

    def write(self, frame_index: int, time_s: float, players: sv.Detections) -> None:
        """Write the rows of one frame. ``players`` must carry ``tracker_id``."""
        if len(players) == 0:
            return
        conf = players.confidence if players.confidence is not None else np.ones(len(players))
        for (x1, y1, x2, y2), tid, c in zip(players.xyxy, players.tracker_id, conf):
            if self._csv:
                self._csv.writerow(
                    (frame_index, f"{time_s:.4f}", int(tid), f"{x1:.1f}", f"{y1:.1f}", f"{x2:.1f}", f"{y2:.1f}", f"{c:.3f}")
                )
            if self._mot:
                self._mot.write(
                    f"{frame_index + 1},{int(tid)},{x1:.1f},{y1:.1f},{x2 - x1:.1f},{y2 - y1:.1f},{c:.3f},-1,-1,-1\n"
                )
            self.rows += 1

    def close(self) -> None:
        for fh in (self._csv_file, self._mot):
            if fh is not None and not fh.closed:
                fh.close()


def read_tracks_csv(path: Path) -> dict[str, np.ndarray]:
    """Read a ``tracks.csv`` into columns (numpy arrays keyed by header name)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    cols: dict[str, np.ndarray] = {}
    for name in TRACKS_HEADER:
        values = [r[name] for r in rows]
        dtype = int if name in ("frame", "player_id") else float
        cols[name] = np.asarray(values, dtype=dtype) if values else np.empty(0, dtype=dtype)
    return cols


TIMELINE_HEADER = ("player_id", "action", "start_frame", "end_frame", "start_s", "end_s", "duration_s", "confidence")


def write_timeline_csv(path: Path, events: Sequence[ActionEvent]) -> None:
    """One event per row, all players, sorted by player then start (frames 0-based, end inclusive)."""
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(TIMELINE_HEADER)
        for e in events:
            out.writerow(
                (e.player_id, e.action, e.start_frame, e.end_frame, f"{e.start_s:.4f}", f"{e.end_s:.4f}", f"{e.duration_s:.4f}", f"{e.confidence:.4f}")
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
) -> dict:
    """The ``timeline.json`` document.

    ``players`` maps each tracked player to ``(first_frame, last_frame,
    frames)``; ``classified`` holds those that were visible long enough for
    at least one clip. Per player: its events and, per action, the number of
    events and total seconds.
    """
    by_player: dict[int, list[ActionEvent]] = {pid: [] for pid in players}
    for e in events:
        by_player.setdefault(e.player_id, []).append(e)
    doc_players = []
    for pid in sorted(by_player):
        first, last, frames = players.get(pid, (None, None, 0))
        summary: dict[str, dict[str, float]] = {}
        for e in by_player[pid]:
            s = summary.setdefault(e.action, {"events": 0, "duration_s": 0.0})
            s["events"] += 1
            s["duration_s"] = round(s["duration_s"] + e.duration_s, 4)
        doc_players.append(
            {
                "player_id": pid,
                "first_frame": first,
                "last_frame": last,
                "frames_visible": frames,
                "classified": pid in classified,
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
        "players": doc_players,
    }


def write_timeline_json(path: Path, document: dict) -> None:
    Path(path).write_text(json.dumps(document, indent=2))


def read_timeline_csv(path: Path) -> list[dict[str, object]]:
    """Rows of a ``timeline.csv`` with numbers parsed."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    ints, floats = ("player_id", "start_frame", "end_frame"), ("start_s", "end_s", "duration_s", "confidence")
    return [{k: int(v) if k in ints else float(v) if k in floats else v for k, v in r.items()} for r in rows]
