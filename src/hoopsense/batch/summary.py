"""The season summary of a batch: per game and player, time on screen, distance and actions.

``season.json`` lists every game (its status, and for finished ones each
player); ``season.csv`` has one row per game, player and action (one row
with an empty action for a player without events), so a spreadsheet pivots
it directly.

Distance is in body heights, in the picture: the player's feet (bottom
centre of the box) sampled every half second, each step divided by the
player's box height then. It needs no court calibration; a panning camera
adds its own motion, so compare it between players of one game or between
games filmed alike.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hoopsense.batch.schedule import GameState
from hoopsense.errors import HoopsenseError
from hoopsense.outputs import atomic_write_text

SUMMARY_FORMAT = 1
CSV_FIELDS = (
    "game", "player_id", "team", "seconds_visible", "distance_body_heights", "action", "events", "action_seconds",
)  # fmt: skip


def distance_body_heights(
    frame: np.ndarray, x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray, fps: float
) -> float:
    """Distance walked by one player in body heights: the feet sampled every half second; a step
    is counted only between samples at most one second apart (not across a time out of view).

    Arguments are one player's track rows (any order), boxes in pixels.
    """
    if len(frame) < 2:
        return 0.0
    order = np.argsort(frame, kind="stable")
    f, feet_x, feet_y = frame[order], ((x1 + x2) / 2)[order], y2[order]
    h = (y2 - y1)[order]
    step = max(1, round(fps / 2))
    keep = np.concatenate([[True], (f[1:] // step) != (f[:-1] // step)])  # first row of each half second
    f, feet_x, feet_y, h = f[keep], feet_x[keep], feet_y[keep], h[keep]
    if len(f) < 2:
        return 0.0
    moved = np.hypot(np.diff(feet_x), np.diff(feet_y)) / np.maximum((h[1:] + h[:-1]) / 2, 1.0)
    near = np.diff(f) <= 2 * step
    return float(moved[near].sum())


def game_summary(folder: Path, name: str) -> dict[str, Any]:
    """``{"frames", "duration_s", "players": [...]}`` of the finished run in ``folder``."""
    from hoopsense.api import load_run
    from hoopsense.pipeline.timeline import action_totals

    run = load_run(folder / f"{name}.run.json")
    fps = run.record.fps
    t = run.tracks
    totals = action_totals(run.events)
    players = []
    for p in run.record.players:
        rows = t["player_id"] == p.player_id
        players.append({
            "player_id": p.player_id, "team": p.team, "seconds_visible": round(p.frames / fps, 3),
            "distance_body_heights": round(distance_body_heights(
                t["frame"][rows], t["x1"][rows], t["y1"][rows], t["x2"][rows], t["y2"][rows], fps
            ), 2),
            "actions": totals.get(p.player_id, {}),
        })  # fmt: skip
    return {"frames": run.record.frames, "duration_s": round(run.record.duration_s, 3), "players": players}


def write_summary(out: Path, states: Sequence[GameState]) -> list[Path]:
    """Write ``out/season.json`` and ``out/season.csv`` for every game of ``states``; returns the paths."""
    games: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for s in states:
        doc: dict[str, Any] = {"game": s.game.name, "video": str(s.game.video), "status": s.status}
        if s.status in ("done", "skipped"):
            try:
                doc.update(game_summary(s.task.folder, s.game.name))
            except HoopsenseError as exc:
                doc.update(status="unreadable", error=" ".join(str(exc).split()))
        elif s.error:
            doc["error"] = s.error
        games.append(doc)
        for p in doc.get("players", ()):
            base = {
                "game": s.game.name, "player_id": p["player_id"], "team": p["team"] or "",
                "seconds_visible": p["seconds_visible"], "distance_body_heights": p["distance_body_heights"],
            }  # fmt: skip
            if not p["actions"]:
                rows.append({**base, "action": "", "events": 0, "action_seconds": 0})
            for action, a in sorted(p["actions"].items()):
                rows.append({**base, "action": action, "events": a["events"], "action_seconds": a["seconds"]})
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    summary = {"format_version": SUMMARY_FORMAT, "games": games}
    return [
        atomic_write_text(out / "season.json", json.dumps(summary, indent=1)),
        atomic_write_text(out / "season.csv", text.getvalue()),
    ]
