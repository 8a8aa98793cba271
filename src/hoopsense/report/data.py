"""The data a report page is built from, read back from a run's output files.

:func:`report_data` reads ``<stem>.run.json``, ``<stem>.tracks.csv`` and (when
the run recognised actions) ``<stem>.timeline.json``, and returns a
:class:`ReportData`: per player its colour in the video, the time spans in
which it was visible, its team and thumbnail, and every action event. Times
are seconds from the start of the video, as the browser's video clock counts
them.

Runs with teams group the players: team ``A``, team ``B``, other people and
players whose team is not known, then the crowd and the referees (when the run
kept them). A player's colour is the one the annotated video draws him in: his
team's jersey colour (a referee's own shirt colour), grey for others, the crowd
and unknowns,
and, in runs without teams, the per-player palette colour. Thumbnails are
the ``player-<id>.jpg`` files of the run's gallery folder, embedded as
``data:`` URIs; only plain JPEG files inside the run's folder are read.
"""

from __future__ import annotations

import base64
import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hoopsense.errors import ConfigError
from hoopsense.pipeline.render import NO_TEAM_COLOUR, PLAIN_SIDES, action_colours, player_colour
from hoopsense.pipeline.run_files import RunFiles, read_json

GAP_FRAMES = 5  # a player missing for more frames than this starts a new visible span
TEAM_ORDER = ("A", "B", "other", "crowd", "referee")  # the order of the page's lane groups
TEAM_NAMES = {"A": "Team A", "B": "Team B", "other": "Other / unknown", "crowd": "Crowd", "referee": "Referees"}
THUMBNAIL_LIMIT = 256 * 1024  # larger thumbnail files are left out of the page
_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_JPEG_MAGIC = b"\xff\xd8\xff"


@dataclass
class PlayerLane:
    player_id: int
    colour: str
    visible: list[tuple[float, float]]
    classified: bool = False
    team: str | None = None  # "A", "B", "referee", "other", "crowd"; None when not known or teams are off
    thumbnail: str | None = None  # data:image/jpeg;base64,... of the player's gallery crop


@dataclass
class TeamGroup:
    """One group of lanes: ``team`` is ``A``, ``B``, ``other`` (also players whose team is not known), ``crowd`` or
    ``referee``."""

    team: str
    colour: str | None  # the swatch of the group's header; None when the run does not say
    players: list[int]

    @property
    def name(self) -> str:
        return TEAM_NAMES[self.team]


@dataclass
class ReportData:
    """Everything the page shows; :meth:`to_json` is what the page's script reads."""

    title: str
    video: str | None  # the annotated video's path while loading; in the page, a relative path or a data: URI
    fps: float
    offset_s: float  # game time of the annotated video's first frame (--start)
    duration_s: float  # length of the analysed part
    labels: tuple[str, ...]
    background: str | None
    players: list[PlayerLane]
    events: list[tuple[int, int, float, float, float]] = field(
        default_factory=list
    )  # player, label, start_s, end_s, confidence
    recognized: bool = False
    partial: bool = False
    groups: list[TeamGroup] = field(default_factory=list)  # empty when the run has no teams

    @property
    def colours(self) -> list[str]:
        return action_colours(self.labels, self.background)

    def to_json(self) -> dict:
        return {
            "title": self.title,
            "video": self.video,
            "fps": self.fps,
            "offset": self.offset_s,
            "duration": self.duration_s,
            "recognized": self.recognized,
            "partial": self.partial,
            "labels": list(self.labels),
            "background": self.background,
            "colours": self.colours,
            "players": [_player_json(p) for p in self.players],
            "groups": [
                {"team": g.team, "name": g.name, "colour": g.colour, "players": list(g.players)} for g in self.groups
            ],
            # compact rows: [player, label index, start_s, end_s, confidence]
            "events": [[p, a, round(s, 3), round(e, 3), round(c, 4)] for p, a, s, e, c in self.events],
        }


def _player_json(p: PlayerLane) -> dict:
    doc: dict[str, Any] = {
        "id": p.player_id,
        "colour": p.colour,
        "visible": [[round(a, 3), round(b, 3)] for a, b in p.visible],
        "classified": p.classified,
    }
    if p.team is not None:
        doc["team"] = p.team
    if p.thumbnail is not None:
        doc["thumbnail"] = p.thumbnail
    return doc


def stream_spans(tracks_csv: Path, fps: float, gap: int = GAP_FRAMES) -> dict[int, list[tuple[float, float]]]:
    """Visible spans per player read row by row from a ``tracks.csv`` (memory grows with spans, not rows)."""
    return stream_tracks(tracks_csv, fps, gap)[0]


def stream_tracks(
    tracks_csv: Path, fps: float, gap: int = GAP_FRAMES
) -> tuple[dict[int, list[tuple[float, float]]], dict[int, str]]:
    """Visible spans per player and, from the ``team`` column when the file has one, each
    player's team (its first non-empty value), read row by row from a ``tracks.csv``.

    A damaged file (no header, a row whose frame or player is not a whole number) is a
    one-line :class:`ConfigError` naming the line."""
    open_spans: dict[int, list[int]] = {}
    spans: dict[int, list[tuple[float, float]]] = {}
    teams: dict[int, str] = {}
    try:
        with open(tracks_csv, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None or "frame" not in header or "player_id" not in header:
                raise ConfigError(f"{tracks_csv} is not a hoopsense tracks file (no frame/player_id header)")
            fi, pi = header.index("frame"), header.index("player_id")
            ti = header.index("team") if "team" in header else None
            for line, row in enumerate(reader, start=2):
                try:
                    frame, pid = int(row[fi]), int(row[pi])
                except (IndexError, ValueError):
                    raise ConfigError(f"{tracks_csv} line {line}: not a tracks row ({','.join(row)[:60]!r})") from None
                if ti is not None and pid not in teams and ti < len(row) and row[ti]:
                    teams[pid] = row[ti]
                cur = open_spans.get(pid)
                if cur is None:
                    open_spans[pid] = [frame, frame]
                    spans.setdefault(pid, [])
                elif frame - cur[1] > gap + 1:
                    spans[pid].append((cur[0] / fps, (cur[1] + 1) / fps))
                    open_spans[pid] = [frame, frame]
                else:
                    cur[1] = max(cur[1], frame)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"cannot read {tracks_csv} ({getattr(exc, 'strerror', None) or exc})") from None
    for pid, (a, b) in open_spans.items():
        spans[pid].append((a / fps, (b + 1) / fps))
    return spans, teams


def report_data(path: Path) -> tuple[ReportData, RunFiles]:
    """Read a finished (or partial) analysis into :class:`ReportData` (``video`` is the
    annotated video's path, or None), with the run's files."""
    run = RunFiles.find(path)
    record = run.record
    tracks_path = run.path("tracks_csv")
    if tracks_path is None or not tracks_path.is_file():
        raise ConfigError(f"{tracks_path or run.stem + '.tracks.csv'} not found; the report needs the run's tracks")
    spans, row_teams = stream_tracks(tracks_path, record.fps)
    players = [PlayerLane(pid, player_colour(pid), s) for pid, s in sorted(spans.items())]
    video = run.path("video")
    data = ReportData(
        title=Path(str(record.input.get("path", run.stem))).name,
        video=str(video) if video is not None else None,
        fps=record.fps,
        offset_s=record.start_s,
        duration_s=record.duration_s,
        labels=(),
        background=None,
        players=players,
        partial=record.partial,
    )
    teams = _Teams(row_teams)
    identity = getattr(record, "identity", None)  # the run record's identity section, in runs that have one
    teams.on = isinstance(identity, dict) and identity.get("teams") is True
    teams.read_identity(identity)
    timeline_path = run.path("timeline_json") if record.outputs.get("timeline_json") else None
    if timeline_path is not None:
        if not timeline_path.is_file():
            raise ConfigError(f"{timeline_path} not found; the run recognised actions but its timeline is missing")
        doc = read_json(timeline_path, "a usable timeline file")
        _add_timeline(data, doc)
        teams.read_timeline(doc)
    teams.apply(data)
    add_thumbnails(data, run)
    return data, run


def _add_timeline(data: ReportData, doc: Any) -> None:
    try:
        data.labels = tuple(str(x) for x in doc["labels"])
        data.background = doc.get("background")
        index = {name: i for i, name in enumerate(data.labels)}
        lanes = {p.player_id: p for p in data.players}
        events = []
        for p in doc["players"]:
            lane = lanes.get(int(p["player_id"]))
            if lane is not None:
                lane.classified = bool(p.get("classified"))
            for e in p["events"]:
                row = (
                    int(p["player_id"]),
                    index[e["action"]],
                    float(e["start_s"]),
                    float(e["end_s"]),
                    float(e["confidence"]),
                )
                if not all(math.isfinite(v) for v in row[2:]):
                    raise ValueError("non-finite time or confidence")
                events.append(row)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"the run's timeline.json is damaged ({type(exc).__name__}: {str(exc)[:80]})") from None
    data.recognized = True
    data.events = sorted(events, key=lambda e: (e[2], e[0]))


def _colour(value: Any) -> str | None:
    return value if isinstance(value, str) and _HEX_COLOUR.fullmatch(value) else None


class _Teams:
    """Each player's team and colour, from the tracks' ``team`` column and the timeline's
    ``teams`` and per-player ``team``/``team_colour`` (the timeline wins where both say)."""

    def __init__(self, row_teams: dict[int, str]) -> None:
        self.team: dict[int, str | None] = dict(row_teams)
        self.player_colour: dict[int, str] = {}
        self.team_colour: dict[str, str] = {}
        self.on = False  # the run gave teams (even when none could be told apart)

    def read_identity(self, identity: Any) -> None:
        """The team and player colours of the run record's identity section (runs without a timeline)."""
        if not isinstance(identity, dict):
            return
        self._read_team_colours(identity.get("team_colours"))
        players = identity.get("player_colours")
        for pid, value in players.items() if isinstance(players, dict) else ():
            colour = _colour(value)
            if colour is not None and isinstance(pid, str) and pid.isdigit():
                self.player_colour[int(pid)] = colour

    def _read_team_colours(self, teams: Any) -> None:
        for name, colour in teams.items() if isinstance(teams, dict) else ():
            colour = _colour(colour.get("colour") if isinstance(colour, dict) else colour)
            if name in TEAM_NAMES and colour is not None:
                self.team_colour[name] = colour

    def read_timeline(self, doc: Any) -> None:
        """The optional team fields of a ``timeline.json``; a field of the wrong type is ignored."""
        teams = doc.get("teams") if isinstance(doc, dict) else None
        if isinstance(teams, dict):
            self.on = self.on or bool(teams)
            self._read_team_colours(teams)
        players = doc.get("players") if isinstance(doc, dict) else None
        for p in players if isinstance(players, list) else []:
            if not isinstance(p, dict) or "team" not in p or not isinstance(p.get("player_id"), int):
                continue
            self.on = True
            pid = p["player_id"]
            self.team[pid] = p["team"] if isinstance(p["team"], str) and p["team"] else None
            colour = _colour(p.get("team_colour"))
            if colour is not None:
                self.player_colour[pid] = colour

    def apply(self, data: ReportData) -> None:
        """Set each lane's team and colour, order the lanes by group and fill ``data.groups``."""
        if not (self.on or any(self.team.values())):
            return
        by_group: dict[str, list[PlayerLane]] = {name: [] for name in TEAM_ORDER}
        for lane in data.players:
            team = self.team.get(lane.player_id)
            lane.team = team if team in TEAM_NAMES else None
            group = lane.team if lane.team is not None else "other"
            if group in PLAIN_SIDES:
                lane.colour = NO_TEAM_COLOUR  # as the video draws them
            else:  # a referee's own shirt colour, else his team's; the palette colour when the run does not say
                lane.colour = self.player_colour.get(lane.player_id) or self.team_colour.get(group) or lane.colour
            by_group[group].append(lane)
        data.players = [lane for name in TEAM_ORDER for lane in by_group[name]]
        data.groups = [
            TeamGroup(
                name,
                NO_TEAM_COLOUR if name in PLAIN_SIDES else self.team_colour.get(name),
                [lane.player_id for lane in lanes],
            )
            for name, lanes in by_group.items()
            if lanes
        ]


def plain_name(value: Any) -> str | None:
    """``value`` when it names a file or folder directly in the run's folder (the rules of the run
    record's output names), else None."""
    if not isinstance(value, str):
        return None
    if not value or value in (".", "..") or "/" in value or "\\" in value or "\x00" in value:
        return None
    return None if Path(value).is_absolute() else value


def read_thumbnail(folder: Path, gallery: Path, name: str) -> str | None:
    """The ``data:`` URI of the JPEG ``gallery/name``, or None when it is missing, unreadable,
    not a JPEG, larger than :data:`THUMBNAIL_LIMIT` or (through a link) outside ``folder``."""
    if plain_name(name) is None:
        return None
    try:
        path = (gallery / name).resolve(strict=True)
        if not path.is_relative_to(folder.resolve(strict=True)) or not path.is_file():
            return None
        if path.stat().st_size > THUMBNAIL_LIMIT:
            return None
        with open(path, "rb") as fh:
            data = fh.read(THUMBNAIL_LIMIT + 1)
    except (OSError, RuntimeError):
        return None
    if len(data) > THUMBNAIL_LIMIT or not data.startswith(_JPEG_MAGIC):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def add_thumbnails(data: ReportData, run: RunFiles) -> None:
    """Embed each player's ``player-<id>.jpg`` from the gallery folder the run record names
    (``outputs.gallery``); a gallery name with a path in it is ignored."""
    gallery = plain_name(run.record.outputs.get("gallery"))
    if gallery is None or not (run.folder / gallery).is_dir():
        return
    for lane in data.players:
        lane.thumbnail = read_thumbnail(run.folder, run.folder / gallery, f"player-{lane.player_id}.jpg")
