"""Run folders written directly in the file formats of runs with identities and teams (and of older runs),
for report tests that need no analysis.

The default game: 6 players over 50 frames at 25 fps; 2 and 4 play for team A
(white), 1 for team B (navy), 3 is another person, 6's team is not known and
5 is a kept referee. Thumbnails in ``game.players``: valid JPEGs for 1, 2, 5
and 6; 3's is a PNG under a ``.jpg`` name and 4's is over the size limit.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

FPS = 25
FRAMES = 50
LABELS = ("dribble", "shoot", "no_action")
TEAM_OF = {1: "B", 2: "A", 3: "other", 4: "A", 5: "referee", 6: None}
TEAM_COLOURS = {"A": "#f2f2f2", "B": "#1d3f8f"}
OWN_COLOUR = {3: "#7a4b12", 5: "#262626"}  # shirt colours of the other person and the referee
# each player's team_colour in the timeline: his team's, or for the referee and the other person his own
PLAYER_COLOUR = {1: TEAM_COLOURS["B"], 2: TEAM_COLOURS["A"], 4: TEAM_COLOURS["A"], **OWN_COLOUR}
SEEN = {pid: range(FRAMES) for pid in TEAM_OF} | {6: range(10, 31)}
GROUP_ORDER = [2, 4, 1, 3, 6, 5]  # A, B, other/unknown, referees; by ID within each
GOOD_THUMBNAILS = (1, 2, 5, 6)


def jpeg(colour: tuple[int, int, int], height: int = 192, width: int = 80) -> bytes:
    """A JPEG of a figure on a plain background (``colour`` is BGR), ``height`` x ``width`` pixels."""
    img = np.full((height, width, 3), (60, 90, 120), dtype=np.uint8)
    img[height // 5 : height * 4 // 5, width // 4 : width * 3 // 4] = colour
    ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


def png(height: int = 192, width: int = 80) -> bytes:
    ok, data = cv2.imencode(".png", np.zeros((height, width, 3), dtype=np.uint8))
    assert ok
    return data.tobytes()


def events_of(pid: int) -> list[dict]:
    """Two events per player, at times that differ between players."""
    s = 0.1 + 0.05 * pid
    return [
        {"action": "dribble", "start_s": s, "end_s": s + 0.5, "confidence": 0.8},
        {"action": "shoot", "start_s": s + 0.9, "end_s": s + 1.4, "confidence": 0.6},
    ]


def write_run(
    folder: Path,
    *,
    teams: bool = True,
    timeline: bool = True,
    gallery: str | None = "game.players",
    old_format: bool = False,
    video: Path | None = None,
    record_colours: bool = True,
) -> Path:
    """Write ``game.run.json``, ``game.tracks.csv`` and (``timeline``) ``game.timeline.json`` into
    ``folder`` and return the run.json's path.

    ``old_format`` writes the files of releases before identities (no ``track_id``/``team``
    columns, no identity section, no gallery); ``teams=False`` those of a run with
    ``--teams off``; ``gallery`` names the thumbnails folder in the record (None: no gallery);
    ``record_colours=False`` leaves the team and player colours out of the record's identity
    section (as the first releases with teams did).
    ``video`` is copied in as ``game.mp4``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with_team = teams and not old_format
    header = "frame,time_s,player_id,x1,y1,x2,y2,confidence" if old_format else (
        "frame,time_s,player_id,track_id,team,x1,y1,x2,y2,confidence"
    )  # fmt: skip
    rows = [header]
    for frame in range(FRAMES):
        for pid in sorted(TEAM_OF):
            if frame not in SEEN[pid]:
                continue
            box = f"{10 * pid},20,{10 * pid + 8},60,0.9"
            if old_format:
                rows.append(f"{frame},{frame / FPS:.4f},{pid},{box}")
            else:
                team = (TEAM_OF[pid] or "") if with_team else ""
                rows.append(f"{frame},{frame / FPS:.4f},{pid},{100 + pid},{team},{box}")
    (folder / "game.tracks.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    outputs: dict = {
        "video": None,
        "tracks_csv": "game.tracks.csv",
        "mot": None,
        "run_json": "game.run.json",
        "timeline_csv": None,
        "timeline_json": "game.timeline.json" if timeline else None,
    }
    if video is not None:
        (folder / "game.mp4").write_bytes(video.read_bytes())
        outputs["video"] = "game.mp4"
    if gallery is not None and not old_format:
        outputs["gallery"] = gallery
    players = []
    for pid in sorted(TEAM_OF):
        seen = SEEN[pid]
        entry: dict = {"player_id": pid, "first_frame": seen[0], "last_frame": seen[-1], "frames": len(seen)}
        if with_team and TEAM_OF[pid] is not None:
            entry["team"] = TEAM_OF[pid]
        players.append(entry)
    record: dict = {
        "input": {"path": "/games/game.mp4", "width": 192, "height": 108, "fps": FPS, "n_frames": FRAMES},
        "range_s": [0.0, None],
        "detector": {},
        "tracker": {},
        "recognizer": {"labels": list(LABELS)} if timeline else None,
        "outputs": outputs,
        "frames": FRAMES,
        "rows": len(rows) - 1,
        "events": 2 * len(TEAM_OF) if timeline else 0,
        "players": players,
        "format_version": 1,
    }
    if not old_format:
        counts: dict[str, int] = {}
        for team in TEAM_OF.values():
            if team is not None:
                counts[team] = counts.get(team, 0) + 1
        record["identity"] = {
            "embedder": "colour",
            "linking": True,
            "fragments": len(TEAM_OF),
            "identities": len(TEAM_OF),
            "linked_fragments": 0,
            "teams": teams,
            **({"team_counts": counts} if teams else {}),
            "keep_referees": True,
        }
        if teams and record_colours:
            record["identity"]["team_colours"] = {**TEAM_COLOURS, "referee": OWN_COLOUR[5], "other": OWN_COLOUR[3]}
            record["identity"]["player_colours"] = {str(pid): c for pid, c in PLAYER_COLOUR.items()}
    (folder / "game.run.json").write_text(json.dumps(record, indent=2), encoding="utf-8")

    if timeline:
        doc_players = []
        for pid in sorted(TEAM_OF):
            entry = {"player_id": pid, "classified": True, "events": events_of(pid)}
            if not old_format:
                entry["track_ids"] = [100 + pid]
                if gallery is not None:
                    entry["thumbnail"] = f"{gallery}/player-{pid}.jpg"
            if with_team:
                team = TEAM_OF[pid]
                entry["team"] = team
                entry["team_colour"] = PLAYER_COLOUR.get(pid)
            doc_players.append(entry)
        doc: dict = {"labels": list(LABELS), "background": "no_action", "fps": FPS, "players": doc_players}
        if not old_format:
            colours = {**TEAM_COLOURS, "referee": OWN_COLOUR[5], "other": OWN_COLOUR[3]}  # a group's first member's
            doc["teams"] = {
                name: {"colour": colour, "players": [p for p, t in TEAM_OF.items() if t == name]}
                for name, colour in colours.items()
                if with_team
            }
        (folder / "game.timeline.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")

    if gallery is not None and not old_format and "/" not in gallery and gallery not in ("", ".", ".."):
        write_gallery(folder / gallery)
    return folder / "game.run.json"


def write_gallery(folder: Path) -> None:
    """``player-<id>.jpg`` for :data:`GOOD_THUMBNAILS`, a PNG as 3's and an oversized JPEG as 4's."""
    folder.mkdir(parents=True, exist_ok=True)
    for pid in GOOD_THUMBNAILS:
        (folder / f"player-{pid}.jpg").write_bytes(jpeg((40 * pid, 255 - 30 * pid, 120)))
    (folder / "player-3.jpg").write_bytes(png())
    (folder / "player-4.jpg").write_bytes(jpeg((0, 0, 255)) + b"\0" * (300 * 1024))
