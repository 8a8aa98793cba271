"""Streaming writers for track files: ``tracks.csv`` and MOTChallenge txt."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import supervision as sv

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
