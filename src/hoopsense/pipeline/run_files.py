"""The one owner of a run's files: their names, finding them again, and the run record.

For ``--out game.mp4`` a run writes ``game.mp4``, ``game.tracks.csv``,
``game.mot.txt``, ``game.run.json`` and, with a recognizer,
``game.timeline.csv`` and ``game.timeline.json`` (:class:`OutputPaths`).
``run.json`` is the :class:`RunRecord`, a typed and versioned document that
:func:`write_record` writes and :func:`read_record` reads back (and checks).
A record names the other files by plain file name in its own folder; a name
with a path in it is refused when read, so a record can never make a reader
(the report) open a file outside the run.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hoopsense import __version__
from hoopsense.errors import ConfigError
from hoopsense.outputs import atomic_write_text

RUN_FORMAT = 1  # version of the run.json layout; 0 is the unversioned layout of earlier releases
GALLERY_SUFFIX = ".players"
OUTPUT_KINDS = ("video", "tracks_csv", "mot", "run_json", "timeline_csv", "timeline_json")
_SUFFIXES = {
    "tracks_csv": ".tracks.csv",
    "mot": ".mot.txt",
    "run_json": ".run.json",
    "timeline_csv": ".timeline.csv",
    "timeline_json": ".timeline.json",
    "keypoints_csv": ".keypoints.csv",
}


@dataclass(frozen=True)
class OutputPaths:
    """Final paths of a run's outputs; None skips that output."""

    video: Path | None
    tracks_csv: Path | None
    mot: Path | None
    run_json: Path | None
    timeline_csv: Path | None = None
    timeline_json: Path | None = None
    gallery: Path | None = None  # folder of player thumbnails (``game.players``), filled at the end of a run
    keypoints_csv: Path | None = None  # players' keypoints, written only when the detector is a pose model

    @classmethod
    def beside(cls, base: Path, *, video: bool = True, timeline: bool = False) -> OutputPaths:
        """``base`` = ``out/game.mp4`` gives ``game.mp4``, ``game.tracks.csv``, ``game.mot.txt``,
        ``game.run.json`` and, with ``timeline``, ``game.timeline.csv`` and ``game.timeline.json``."""
        stem = stem_of(Path(base))
        named = {kind: stem.with_name(stem.name + suffix) for kind, suffix in _SUFFIXES.items()}
        return cls(
            video=stem.with_name(stem.name + ".mp4") if video else None,
            tracks_csv=named["tracks_csv"],
            mot=named["mot"],
            run_json=named["run_json"],
            timeline_csv=named["timeline_csv"] if timeline else None,
            timeline_json=named["timeline_json"] if timeline else None,
            gallery=stem.with_name(stem.name + GALLERY_SUFFIX),
            keypoints_csv=named["keypoints_csv"],
        )

    def items(self) -> dict[str, Path]:
        """The output files every run writes, by kind (not the gallery folder, nor the keypoints file that
        only a pose model's run writes)."""
        return {k: Path(v) for k, v in asdict(self).items() if v is not None and k not in ("gallery", "keypoints_csv")}


def stem_of(path: Path) -> Path:
    """``out/game.mp4`` -> ``out/game``; ``out/game.run.json`` -> ``out/game``."""
    name = path.name
    for suffix in (*_SUFFIXES.values(), ".report.html"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)])
    return path.with_suffix("") if path.suffix else path


@dataclass(frozen=True)
class PlayerRecord:
    player_id: int
    first_frame: int
    last_frame: int
    frames: int
    classified: bool | None = None
    team: str | None = None


@dataclass(frozen=True)
class RunRecord:
    """``run.json``: what was analysed, how, what came out, per player when it was seen.

    ``input`` holds the video's path, size, ``fps``, ``n_frames`` and
    ``duration_s``; ``range_s`` the analysed part; ``outputs`` the file name
    of each output kind (None when not written), all in the record's folder.
    """

    input: dict[str, Any]
    range_s: tuple[float, float | None]
    detector: dict[str, Any]
    tracker: dict[str, Any]
    recognizer: dict[str, Any] | None
    outputs: dict[str, str | None]
    frames: int
    rows: int
    events: int
    players: tuple[PlayerRecord, ...]
    fps_achieved: float = 0.0
    stage_s: dict[str, float] = field(default_factory=dict)
    skipped_packets: int = 0
    partial: bool = False
    identity: dict[str, Any] | None = None
    cuts: tuple[int, ...] = ()  # frames where the tracker started afresh (camera cuts)
    hoopsense_version: str = __version__
    format_version: int = RUN_FORMAT

    @property
    def fps(self) -> float:
        return float(self.input["fps"])

    @property
    def start_s(self) -> float:
        return float(self.range_s[0] or 0.0)

    @property
    def duration_s(self) -> float:
        """Length of the analysed part (``frames / fps``)."""
        return self.frames / self.fps

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["range_s"] = list(self.range_s)
        doc["players"] = [
            {k: v for k, v in asdict(p).items() if not (k in ("classified", "team") and v is None)}
            for p in self.players
        ]
        return _finite(doc)

    @classmethod
    def from_json(cls, doc: Any, source: Path | str = "run.json") -> RunRecord:
        """Check and read a ``run.json`` document; raises :class:`ConfigError` naming ``source``."""
        try:
            return cls._parse(doc)
        except ConfigError as exc:
            raise ConfigError(f"{source} is not a usable hoopsense run file: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0][:120]
            raise ConfigError(f"{source} is not a usable hoopsense run file ({what})") from None

    @classmethod
    def _parse(cls, doc: Any) -> RunRecord:
        if not isinstance(doc, dict):
            raise ConfigError("not a JSON object")
        version = int(doc.get("format_version", 0))
        if version > RUN_FORMAT:
            raise ConfigError(f"format {version} is newer than this hoopsense reads ({RUN_FORMAT}); upgrade hoopsense")
        inp = dict(doc["input"])
        fps = float(inp["fps"])
        if not math.isfinite(fps) or fps <= 0:
            raise ConfigError(f"input fps must be a positive number, got {inp['fps']}")
        frames = int(doc["frames"])
        if frames < 0:
            raise ConfigError(f"frames must be >= 0, got {frames}")
        start, end = (list(doc.get("range_s") or [0.0, None]) + [None])[:2]
        start = float(start or 0.0)
        if not math.isfinite(start) or start < 0:
            raise ConfigError(f"range_s must start at a time >= 0, got {start}")
        outputs = {str(k): _plain_name(v, k) for k, v in dict(doc.get("outputs") or {}).items()}
        players = tuple(
            PlayerRecord(
                int(p["player_id"]),
                int(p["first_frame"]),
                int(p["last_frame"]),
                int(p["frames"]),
                None if p.get("classified") is None else bool(p["classified"]),
                None if p.get("team") is None else str(p["team"]),
            )
            for p in doc.get("players") or []
        )
        return cls(
            input=inp, range_s=(start, None if end is None else float(end)), detector=dict(doc.get("detector") or {}),
            tracker=dict(doc.get("tracker") or {}), recognizer=doc.get("recognizer"), outputs=outputs,
            frames=frames, rows=int(doc.get("rows", 0)), events=int(doc.get("events", 0)), players=players,
            fps_achieved=float(doc.get("fps_achieved") or 0.0), stage_s=dict(doc.get("stage_s") or {}),
            skipped_packets=int(doc.get("skipped_packets", 0)), partial=bool(doc.get("partial", False)),
            identity=doc.get("identity") if isinstance(doc.get("identity"), dict) else None,
            cuts=tuple(int(c) for c in doc.get("cuts") or ()),
            hoopsense_version=str(doc.get("hoopsense_version", "unknown")), format_version=version,
        )  # fmt: skip


def _plain_name(value: Any, kind: str) -> str | None:
    """A file name in the run's own folder, or None; anything with a path in it is refused."""
    if value is None:
        return None
    name = str(value)
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name or Path(name).is_absolute():
        raise ConfigError(f"its {kind} output {name!r} is not a file name in the run's folder")
    return name


def _finite(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None (``run.json`` never holds ``Infinity``)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_record(path: Path, record: RunRecord) -> None:
    """Write ``run.json`` atomically (strict JSON: no NaN or Infinity)."""
    atomic_write_text(path, json.dumps(record.to_json(), indent=2, allow_nan=False))


def read_json(path: Path, what: str) -> Any:
    """The JSON document in one of a run's files; a one-line :class:`ConfigError` when it cannot
    be read or parsed (``"<path> is not <what> (invalid JSON: ...)"``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path} ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not {what} (invalid JSON: {exc.msg} at line {exc.lineno})") from None


def read_record(path: Path) -> RunRecord:
    """Read and check a ``run.json``; one-line :class:`ConfigError` for any damaged or foreign file."""
    return RunRecord.from_json(read_json(path, "a usable hoopsense run file"), path)


@dataclass(frozen=True)
class RunFiles:
    """A finished (or partial) run on disk: its folder, stem and record."""

    folder: Path
    stem: str
    record: RunRecord

    @property
    def run_json(self) -> Path:
        return self.folder / f"{self.stem}.run.json"

    def path(self, kind: str) -> Path | None:
        """The run's file of ``kind`` (see :data:`OUTPUT_KINDS`) when its record names one."""
        name = self.record.outputs.get(kind)
        if name is None and self.record.format_version == 0 and kind in _SUFFIXES:
            name = self.stem + _SUFFIXES[kind]  # earlier records did not always name every file
        return self.folder / name if name else None

    @classmethod
    def find(cls, path: str | Path) -> RunFiles:
        """The run at ``path``: its ``.run.json``, its annotated video, or a folder holding one run."""
        path = Path(path)
        if path.is_dir():
            runs = sorted(path.glob("*.run.json"))
            if not runs:
                raise ConfigError(f"no *.run.json in {path}; pass the folder of an analysis (or its .run.json)")
            if len(runs) > 1:
                names = ", ".join(r.name for r in runs[:4])
                raise ConfigError(f"{path} holds several runs ({names}); pass one .run.json")
            path = runs[0]
        if not (path.name.endswith(".run.json") or path.suffix.lower() in (".mp4", ".m4v", ".mov")):
            raise ConfigError(
                f"{path} is not an analysis output; pass its folder, its .run.json or its annotated video"
            )
        stem = stem_of(path).name
        run_json = path.with_name(f"{stem}.run.json")
        if not run_json.is_file():
            raise ConfigError(f"{run_json} not found; the run's .run.json is needed")
        return cls(path.parent, stem, read_record(run_json))
