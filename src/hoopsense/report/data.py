"""The data a report page is built from, read back from a run's output files.

:func:`load_run` reads ``<stem>.run.json``, ``<stem>.tracks.csv`` and (when
the run recognised actions) ``<stem>.timeline.json``, and returns a
:class:`ReportData`: per player its colour in the video and the time spans
in which it was visible, and every action event. Times are seconds from the
start of the video, as the browser's video clock counts them.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from hoopsense.errors import ConfigError
from hoopsense.pipeline.render import action_colours, player_colour

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
    video: str | None  # path relative to the page, or a data: URI
    fps: float
    offset_s: float  # game time of the annotated video's first frame (--start)
    duration_s: float  # length of the analysed part
    labels: tuple[str, ...]
    background: str | None
    players: list[PlayerLane]
    events: list[tuple[int, int, float, float, float]] = field(default_factory=list)  # player, label, start_s, end_s, confidence
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
                {"id": p.player_id, "colour": p.colour, "visible": [[round(a, 3), round(b, 3)] for a, b in p.visible], "classified": p.classified}
                for p in self.players
            ],
            # compact rows: [player, label index, start_s, end_s, confidence]
            "events": [[p, a, round(s, 3), round(e, 3), round(c, 4)] for p, a, s, e, c in self.events],
        }


def stream_spans(tracks_csv: Path, fps: float, gap: int = GAP_FRAMES) -> dict[int, list[tuple[float, float]]]:
    """Visible spans per player read row by row from a ``tracks.csv`` (memory grows with spans, not rows)."""
    open_spans: dict[int, list[int]] = {}
    spans: dict[int, list[tuple[float, float]]] = {}
    with open(tracks_csv, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or "frame" not in header or "player_id" not in header:
            raise ConfigError(f"{tracks_csv} is not a hoopsense tracks file (no frame/player_id header)")
        fi, pi = header.index("frame"), header.index("player_id")
        for row in reader:
            frame, pid = int(row[fi]), int(row[pi])
            cur = open_spans.get(pid)
            if cur is None:
                open_spans[pid] = [frame, frame]
                spans.setdefault(pid, [])
            elif frame - cur[1] > gap + 1:
                spans[pid].append((cur[0] / fps, (cur[1] + 1) / fps))
                open_spans[pid] = [frame, frame]
            else:
                cur[1] = max(cur[1], frame)
    for pid, (a, b) in open_spans.items():
        spans[pid].append((a / fps, (b + 1) / fps))
    return spans


def run_files(path: Path) -> dict[str, Path]:
    """The output files of a run, from its ``.run.json``, its video, or a folder holding one run."""
    path = Path(path)
    if path.is_dir():
        runs = sorted(path.glob("*.run.json"))
        if not runs:
            raise ConfigError(f"no *.run.json in {path}; pass the folder of an analysis (or its .run.json)")
        if len(runs) > 1:
            raise ConfigError(f"{path} holds several runs ({', '.join(r.name for r in runs[:4])}); pass one .run.json")
        path = runs[0]
    if path.name.endswith(".run.json"):
        stem = path.name[: -len(".run.json")]
    elif path.suffix in (".mp4", ".m4v", ".mov"):
        stem = path.stem
    else:
        raise ConfigError(f"{path} is not an analysis output; pass its folder, its .run.json or its annotated video")
    folder = path.parent
    files = {
        "run": folder / f"{stem}.run.json",
        "tracks": folder / f"{stem}.tracks.csv",
        "timeline": folder / f"{stem}.timeline.json",
        "video": folder / f"{stem}.mp4",
        "stem": folder / stem,
    }
    if not files["run"].is_file():
        raise ConfigError(f"{files['run']} not found; rebuild needs the run's .run.json")
    return files


def load_run(path: Path) -> ReportData:
    """Read a finished (or partial) analysis into :class:`ReportData`."""
    files = run_files(path)
    try:
        run = json.loads(files["run"].read_text())
        fps = float(run["input"]["fps"])
        offset = float((run.get("range_s") or [0.0])[0] or 0.0)
        duration = int(run["frames"]) / fps
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{files['run']} is not a hoopsense run file ({exc})") from exc
    tracks_name = (run.get("outputs") or {}).get("tracks_csv")
    tracks_path = files["run"].parent / tracks_name if tracks_name else files["tracks"]
    if not tracks_path.is_file():
        raise ConfigError(f"{tracks_path} not found; the report needs the run's tracks")
    players = [PlayerLane(pid, player_colour(pid), spans) for pid, spans in sorted(stream_spans(tracks_path, fps).items())]
    video_name = (run.get("outputs") or {}).get("video")
    data = ReportData(
        title=Path(run["input"].get("path", files["stem"].name)).name,
        video=video_name,
        fps=fps,
        offset_s=offset,
        duration_s=duration,
        labels=(),
        background=None,
        players=players,
        partial=bool(run.get("partial")),
    )
    timeline_name = (run.get("outputs") or {}).get("timeline_json")
    if timeline_name:
        timeline_path = files["run"].parent / timeline_name
        if not timeline_path.is_file():
            raise ConfigError(f"{timeline_path} not found; the run recognised actions but its timeline is missing")
        _add_timeline(data, json.loads(timeline_path.read_text()))
    return data


def _add_timeline(data: ReportData, doc: dict) -> None:
    data.recognized = True
    data.labels = tuple(doc["labels"])
    data.background = doc.get("background")
    index = {name: i for i, name in enumerate(data.labels)}
    lanes = {p.player_id: p for p in data.players}
    for p in doc["players"]:
        lane = lanes.get(int(p["player_id"]))
        if lane is not None:
            lane.classified = bool(p.get("classified"))
        for e in p["events"]:
            data.events.append((int(p["player_id"]), index[e["action"]], float(e["start_s"]), float(e["end_s"]), float(e["confidence"])))
    data.events.sort(key=lambda e: (e[2], e[0]))
