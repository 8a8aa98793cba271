"""The data a report page is built from, read back from a run's output files.

:func:`report_data` reads ``<stem>.run.json``, ``<stem>.tracks.csv`` and (when
the run recognised actions) ``<stem>.timeline.json``, and returns a
:class:`ReportData`: per player its colour in the video and the time spans
in which it was visible, and every action event. Times are seconds from the
start of the video, as the browser's video clock counts them.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hoopsense.errors import ConfigError
from hoopsense.pipeline.render import action_colours, player_colour
from hoopsense.pipeline.run_files import RunFiles, read_json

GAP_FRAMES = 5  # a player missing for more frames than this starts a new visible span


@dataclass
class PlayerLane:
    player_id: int
    colour: str
    visible: list[tuple[float, float]]
    classified: bool = False


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
            "players": [
                {
                    "id": p.player_id,
                    "colour": p.colour,
                    "visible": [[round(a, 3), round(b, 3)] for a, b in p.visible],
                    "classified": p.classified,
                }
                for p in self.players
            ],
            # compact rows: [player, label index, start_s, end_s, confidence]
            "events": [[p, a, round(s, 3), round(e, 3), round(c, 4)] for p, a, s, e, c in self.events],
        }


def stream_spans(tracks_csv: Path, fps: float, gap: int = GAP_FRAMES) -> dict[int, list[tuple[float, float]]]:
    """Visible spans per player read row by row from a ``tracks.csv`` (memory grows with spans, not rows).

    A damaged file (no header, a row whose frame or player is not a whole number) is a
    one-line :class:`ConfigError` naming the line."""
    open_spans: dict[int, list[int]] = {}
    spans: dict[int, list[tuple[float, float]]] = {}
    try:
        with open(tracks_csv, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None or "frame" not in header or "player_id" not in header:
                raise ConfigError(f"{tracks_csv} is not a hoopsense tracks file (no frame/player_id header)")
            fi, pi = header.index("frame"), header.index("player_id")
            for line, row in enumerate(reader, start=2):
                try:
                    frame, pid = int(row[fi]), int(row[pi])
                except (IndexError, ValueError):
                    raise ConfigError(f"{tracks_csv} line {line}: not a tracks row ({','.join(row)[:60]!r})") from None
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
    return spans


def report_data(path: Path) -> tuple[ReportData, RunFiles]:
    """Read a finished (or partial) analysis into :class:`ReportData` (``video`` is the
    annotated video's path, or None), with the run's files."""
    run = RunFiles.find(path)
    record = run.record
    tracks_path = run.path("tracks_csv")
    if tracks_path is None or not tracks_path.is_file():
        raise ConfigError(f"{tracks_path or run.stem + '.tracks.csv'} not found; the report needs the run's tracks")
    spans = stream_spans(tracks_path, record.fps)
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
    timeline_path = run.path("timeline_json") if record.outputs.get("timeline_json") else None
    if timeline_path is not None:
        if not timeline_path.is_file():
            raise ConfigError(f"{timeline_path} not found; the run recognised actions but its timeline is missing")
        _add_timeline(data, read_json(timeline_path, "a usable timeline file"))
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
