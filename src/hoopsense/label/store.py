"""The one reader and writer of a clip folder's labels.

A clip folder (SpaceJam format; ``hoopsense clips`` makes one) holds:

* ``annotation_dict.json``: ``{clip id: label index or null}`` in the order the
  clips were cut. ``null`` means nobody has labelled the clip yet, which is
  not the same as a clip labelled ``no_action``; ``train`` skips it.
* ``labels_dict.json``: ``{"0": name, "1": name, ...}``.
* ``<id>.mp4`` clips, in the folder or in ``examples/``.
* ``clips.csv`` (optional): where each clip came from (player, frames, box, source video).
* ``labelling.json`` (optional): what the labeller knows beyond the labels:
  clips marked unsure, and labels proposed by a model (``clips --from-run``)
  that nobody has reviewed yet.

:class:`LabelStore` changes these files one label at a time, for the
labelling server: every change re-reads the files when another process
changed them, applies itself on top, and is written atomically under a file
lock, so two pages (or two servers) on one folder never lose each other's
labels and a killed server loses at most the label it was writing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from hoopsense.errors import ConfigError, OutputError
from hoopsense.outputs import atomic_write_text

ANNOTATIONS = "annotation_dict.json"
LABEL_NAMES = "labels_dict.json"
SOURCES = "clips.csv"
STATE = "labelling.json"
LOCK = ".labels.lock"
STATE_FORMAT = 1
CLIPS_HEADER = ("id", "player_id", "start_frame", "end_frame", "start_s", "end_s", "x1", "y1", "x2", "y2", "source")
MAX_NAME = 64


# ---------------------------------------------------------------- plain files


def _read_json_object(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"missing {path.name} in {path.parent}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path} is not valid JSON ({str(exc).splitlines()[0][:100]})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    return doc


def read_label_names(path: str | Path) -> tuple[str, ...]:
    """Label names from a ``labels_dict.json`` (``{"0": "block", ...}``, indices 0..N-1)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        keys = sorted(doc, key=int)
        if [int(k) for k in keys] != list(range(len(keys))) or not keys:
            raise ValueError("keys must be 0..N-1")
        labels = tuple(doc[k] for k in keys)
        if not all(isinstance(x, str) for x in labels):
            raise ValueError("label names must be text")
    except FileNotFoundError:
        raise ConfigError(f"missing {path.name} in {path.parent}") from None
    except (OSError, UnicodeDecodeError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path} is not a labels_dict.json ({str(exc).splitlines()[0][:100]})") from None
    if len(set(labels)) != len(labels) or not all(x.strip() for x in labels):
        raise ConfigError(f"{path}: labels must be unique, non-empty names")
    return labels


def read_annotations(path: str | Path) -> dict[str, Any]:
    """``annotation_dict.json`` as written: ``{clip id: value}``. Values are checked by the caller
    (an int label index, or None for a clip nobody has labelled)."""
    return _read_json_object(Path(path))


def check_class_name(name: object, existing: Sequence[str] = ()) -> str:
    """A new class name, stripped; one clear error when it is empty, too long, has control
    characters or repeats an existing name (case-insensitively)."""
    if not isinstance(name, str):
        raise ConfigError("a class name must be text")
    name = name.strip()
    if not name:
        raise ConfigError("a class name cannot be empty")
    if len(name) > MAX_NAME:
        raise ConfigError(f"a class name has at most {MAX_NAME} characters, got {len(name)}")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise ConfigError("a class name cannot contain control characters")
    if name.casefold() in {x.casefold() for x in existing}:
        raise ConfigError(f"there is already a class named {name!r}")
    return name


def clip_dir(folder: Path) -> Path:
    """Where the clips of a SpaceJam-format folder are: ``folder/examples`` when it exists."""
    return folder / "examples" if (folder / "examples").is_dir() else folder


@dataclass(frozen=True)
class ClipSource:
    """A row of ``clips.csv``: the player and frames a clip was cut from, the union of its
    boxes ``(x1, y1, x2, y2)`` in source pixels, and the source video's path."""

    player_id: int
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    box: tuple[float, float, float, float]
    source: str


def read_sources(folder: Path) -> dict[str, ClipSource]:
    """``clips.csv`` by clip id (empty when the folder has none); malformed rows are left out."""
    path = folder / SOURCES
    if not path.is_file():
        return {}
    out = {}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                try:
                    out[row["id"]] = ClipSource(
                        int(row["player_id"]),
                        int(row["start_frame"]),
                        int(row["end_frame"]),
                        float(row["start_s"]),
                        float(row["end_s"]),
                        (float(row["x1"]), float(row["y1"]), float(row["x2"]), float(row["y2"])),
                        row.get("source") or "",
                    )
                except (KeyError, TypeError, ValueError):
                    continue
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"cannot read {path} ({exc})") from None
    return out


def source_row(clip: str, s: ClipSource) -> tuple:
    return (
        clip,
        s.player_id,
        s.start_frame,
        s.end_frame,
        f"{s.start_s:.4f}",
        f"{s.end_s:.4f}",
        *(f"{v:.1f}" for v in s.box),
        s.source,
    )


@dataclass
class LabellingState:
    """``labelling.json``: clips marked unsure, and proposed labels (``{id: (name, confidence)}``)
    that a model gave and nobody has reviewed yet."""

    unsure: set[str] = field(default_factory=set)
    proposed: dict[str, tuple[str, float]] = field(default_factory=dict)

    def to_json(self) -> str:
        doc = {
            "format_version": STATE_FORMAT,
            "unsure": sorted(self.unsure),
            "proposed": {k: {"label": n, "confidence": round(c, 4)} for k, (n, c) in self.proposed.items()},
        }
        return json.dumps(doc, indent=1)


def read_state(folder: Path) -> LabellingState:
    path = folder / STATE
    if not path.is_file():
        return LabellingState()
    doc = _read_json_object(path)
    version = doc.get("format_version")
    if not isinstance(version, int) or version > STATE_FORMAT:
        raise ConfigError(f"{path} has format_version {version!r}; this hoopsense reads up to {STATE_FORMAT}")
    try:
        unsure = {str(x) for x in doc.get("unsure", [])}
        proposed = {str(k): (str(v["label"]), float(v["confidence"])) for k, v in dict(doc.get("proposed", {})).items()}
    except (TypeError, KeyError, ValueError) as exc:
        raise ConfigError(f"{path} is not a labelling state file ({exc})") from None
    return LabellingState(unsure, proposed)


def write_folder(
    folder: Path,
    labels: Sequence[str],
    annotations: dict[str, int | None],
    sources: dict[str, ClipSource] | None = None,
    state: LabellingState | None = None,
) -> None:
    """Write the label files of a new clip folder (``clips`` uses this; the folder is its own)."""
    atomic_write_text(folder / LABEL_NAMES, json.dumps({str(i): n for i, n in enumerate(labels)}, indent=1))
    atomic_write_text(folder / ANNOTATIONS, json.dumps(annotations, indent=1))
    if sources is not None:
        text = io.StringIO()
        w = csv.writer(text)
        w.writerow(CLIPS_HEADER)
        for clip, s in sources.items():
            w.writerow(source_row(clip, s))
        atomic_write_text(folder / SOURCES, text.getvalue())
    if state is not None and (state.unsure or state.proposed):
        atomic_write_text(folder / STATE, state.to_json())


# ---------------------------------------------------------------- the live store


@dataclass(frozen=True)
class Change:
    """One applied change: ``version`` orders changes within one server launch."""

    version: int
    clip: str


@dataclass(frozen=True)
class ImportResult:
    applied: int
    unchanged: int
    unknown_ids: tuple[str, ...]
    new_classes: tuple[str, ...]


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class LabelStore:
    """The labels of one clip folder, changed one at a time (thread-safe, and safe between processes).

    ``clips`` lists the clip ids in cut order: the ids of ``annotation_dict.json``
    whose file exists, then clip files the annotations do not name (except
    augmented copies ``<id>_...``, which take their original's label when training).
    """

    def __init__(self, folder: str | Path, *, lock_timeout: float = 10.0) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ConfigError(f"clip folder not found: {self.folder}")
        self._lock = threading.RLock()
        self._file_lock = FileLock(str(self.folder / LOCK), timeout=lock_timeout)
        self._stamps: tuple = ()
        self.version = 0
        self._changes: deque[Change] = deque(maxlen=100_000)
        self._label_times: deque[float] = deque(maxlen=10_000)
        self.labels: list[str] = []
        self.annotations: dict[str, int | None] = {}
        self.state = LabellingState()
        self._load()
        files = clip_dir(self.folder)
        present = {p.stem for p in files.glob("*.mp4")}
        listed = [c for c in self.annotations if c in present]
        stray = sorted(c for c in present - set(self.annotations) if "_" not in c)
        self.clips: list[str] = listed + stray
        self._known = set(self.clips)
        self.missing = len(self.annotations) - len(listed)
        self.sources = read_sources(self.folder)

    # -- reading

    def _paths(self) -> tuple[Path, Path, Path]:
        return self.folder / ANNOTATIONS, self.folder / LABEL_NAMES, self.folder / STATE

    def _load(self) -> bool:
        """Re-read the files when they changed on disk; True when something was re-read."""
        stamps = tuple(_stamp(p) for p in self._paths())
        if stamps == self._stamps:
            return False
        ann_path, names_path, _ = self._paths()
        labels = list(read_label_names(names_path))
        raw = read_annotations(ann_path) if ann_path.is_file() else {}
        annotations: dict[str, int | None] = {}
        for k, v in raw.items():
            if v is None or (isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(labels)):
                annotations[str(k)] = v
            else:
                raise ConfigError(
                    f"{ann_path}: clip {k!r} has label {v!r}; labels are indices 0..{len(labels) - 1} or null"
                )
        state = read_state(self.folder)
        if self._stamps:  # a reload: record what another process changed, so pages can follow
            for clip in set(annotations) | set(self.annotations):
                if annotations.get(clip) != self.annotations.get(clip) or (
                    (clip in state.unsure) != (clip in self.state.unsure)
                ):
                    self._record(clip)
        self.labels, self.annotations, self.state = labels, annotations, state
        self._stamps = stamps
        return True

    def refresh(self) -> None:
        with self._lock:
            self._load()

    def check(self, clip: str) -> str:
        """``clip`` when it is a clip of this folder, else :class:`KeyError` (never a path)."""
        if clip not in self._known:
            raise KeyError(clip)
        return clip

    def is_clip(self, clip: str) -> bool:
        return clip in self._known

    def source_video(self, clip: str) -> Path | None:
        """The source video ``clips.csv`` names for ``clip``, where it is now: as written, or
        beside the folder (a folder moved with its game). None when there is none."""
        s = self.sources.get(clip)
        if s is None or not s.source:
            return None
        named = Path(s.source)
        for candidate in (named, self.folder / named.name, self.folder.parent / named.name):
            if candidate.is_file():
                return candidate
        return None

    def clip_path(self, clip: str) -> Path:
        return clip_dir(self.folder) / f"{self.check(clip)}.mp4"

    def label_of(self, clip: str) -> int | None:
        return self.annotations.get(clip)

    def proposal(self, clip: str) -> tuple[str, float] | None:
        """The unreviewed model proposal that is still the clip's label, if any."""
        p = self.state.proposed.get(clip)
        label = self.annotations.get(clip)
        if p is None or label is None or self.labels[label] != p[0]:
            return None
        return p

    @property
    def lock(self) -> threading.RLock:
        """Hold it to read several things at one moment (changes wait meanwhile)."""
        return self._lock

    def counts(self) -> dict[str, Any]:
        with self._lock:
            return self._counts()

    def _counts(self) -> dict[str, Any]:
        per_class = [0] * len(self.labels)
        labelled = 0
        for clip in self.clips:
            label = self.annotations.get(clip)
            if label is not None:
                per_class[label] += 1
                labelled += 1
        unreviewed = sum(1 for c in self.state.proposed if c in self._known and self.proposal(c) is not None)
        unsure = sum(1 for c in self.state.unsure if c in self._known)
        return {
            "total": len(self.clips),
            "labelled": labelled,
            "per_class": per_class,
            "unsure": unsure,
            "unreviewed": unreviewed,
            "per_minute": self.labels_per_minute(),
        }

    def labels_per_minute(self, window_s: float = 300.0) -> float:
        """Labels given through this store in the last ``window_s`` seconds, per minute of that activity."""
        now = time.monotonic()
        times = [t for t in self._label_times if now - t <= window_s]
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return 60.0 * (len(times) - 1) / (times[-1] - times[0])

    def changes_since(self, version: int) -> list[str] | None:
        """Clips changed after ``version`` (None: too old, re-read everything)."""
        with self._lock:
            self._locked_refresh()
            if self._changes and version < self._changes[0].version - 1:
                return None
            return list(dict.fromkeys(c.clip for c in self._changes if c.version > version))

    def _locked_refresh(self) -> None:
        try:
            with self._file_lock:
                self._load()
        except Timeout:
            pass  # another process is writing; its change shows on the next poll

    # -- writing

    def _record(self, clip: str) -> None:
        self.version += 1
        self._changes.append(Change(self.version, clip))

    def _write(self, *, annotations: bool = False, labels: bool = False, state: bool = False) -> None:
        ann_path, names_path, state_path = self._paths()
        try:
            if labels:
                atomic_write_text(names_path, json.dumps({str(i): n for i, n in enumerate(self.labels)}, indent=1))
            if annotations:
                atomic_write_text(ann_path, json.dumps(self.annotations, indent=1))
            if state:
                atomic_write_text(state_path, self.state.to_json())
        finally:
            self._stamps = tuple(_stamp(p) for p in self._paths())

    def _mutate(self, fn):
        with self._lock:
            try:
                with self._file_lock:
                    self._load()
                    return fn()
            except Timeout:
                raise OutputError(f"the labels of {self.folder} are locked by another process; try again") from None

    def set_label(self, clip: str, label: int | None, *, expect: int | str | None = "any") -> int:
        """Label ``clip`` with class index ``label`` (None: unlabel it). With ``expect``, only
        when the clip's label is still that (else :class:`ConflictError`). Returns the version."""
        self.check(clip)

        def apply() -> int:
            if label is not None and not 0 <= label < len(self.labels):
                raise ConfigError(f"label must be a class index in 0..{len(self.labels) - 1} or null, got {label}")
            if expect != "any" and self.annotations.get(clip) != expect:
                raise ConflictError(f"clip {clip} was labelled meanwhile (another page?); it was not changed")
            had_state = clip in self.state.unsure or clip in self.state.proposed
            self.annotations[clip] = label
            self._write(annotations=True)
            if had_state:  # a person has looked at it: no longer unsure, no longer an unreviewed proposal
                self.state.unsure.discard(clip)
                self.state.proposed.pop(clip, None)
                self._write(state=True)
            if label is not None:
                self._label_times.append(time.monotonic())
            self._record(clip)
            return self.version

        return self._mutate(apply)

    def set_unsure(self, clip: str, unsure: bool) -> int:
        self.check(clip)

        def apply() -> int:
            if unsure:
                self.state.unsure.add(clip)
            else:
                self.state.unsure.discard(clip)
            self._write(state=True)
            self._record(clip)
            return self.version

        return self._mutate(apply)

    def add_class(self, name: str) -> int:
        """Append a class; returns its index."""

        def apply() -> int:
            checked = check_class_name(name, self.labels)
            self.labels.append(checked)
            self._write(labels=True)
            self.version += 1
            return len(self.labels) - 1

        return self._mutate(apply)

    # -- CSV

    def export_csv(self) -> str:
        """``clip_id,label`` for every labelled clip, in cut order."""
        with self._lock:
            self._locked_refresh()
            out = io.StringIO()
            w = csv.writer(out, lineterminator="\n")
            w.writerow(("clip_id", "label"))
            for clip in self.clips:
                label = self.annotations.get(clip)
                if label is not None:
                    w.writerow((clip, self.labels[label]))
            return out.getvalue()

    def import_csv(self, text: str, *, add_classes: bool = True) -> ImportResult:
        """Apply ``clip_id,label`` rows (a header row is optional; an empty label unlabels the clip).
        Unknown class names become new classes when ``add_classes``. All rows or none are applied."""
        rows = _parse_label_rows(text)

        def apply() -> ImportResult:
            names = {n: i for i, n in enumerate(self.labels)}
            folded = {n.casefold(): i for i, n in enumerate(self.labels)}
            new: list[str] = []
            unknown, changes = [], []
            for clip, name in rows:
                if clip not in self._known:
                    unknown.append(clip)
                    continue
                if not name:
                    changes.append((clip, None))
                    continue
                index = names.get(name, folded.get(name.casefold()))
                if index is None:
                    if not add_classes:
                        raise ConfigError(f"label {name!r} (clip {clip}) is not a class of this folder")
                    check_class_name(name, self.labels + new)
                    new.append(name)
                    index = len(self.labels) + len(new) - 1
                    names[name], folded[name.casefold()] = index, index
                changes.append((clip, index))
            applied = [(c, v) for c, v in changes if self.annotations.get(c) != v]
            if new:
                self.labels.extend(new)
                self._write(labels=True)
            for clip, value in applied:
                self.annotations[clip] = value
                self.state.unsure.discard(clip)
                self.state.proposed.pop(clip, None)
                self._record(clip)
            if applied:
                self._write(annotations=True, state=True)
            return ImportResult(len(applied), len(changes) - len(applied), tuple(unknown), tuple(new))

        return self._mutate(apply)


class ConflictError(ConfigError):
    """A conditional change found the label changed meanwhile."""


def _parse_label_rows(text: str) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    try:
        reader = csv.reader(io.StringIO(text))
        for n, row in enumerate(reader, 1):
            if not row or all(not x.strip() for x in row):
                continue
            if len(row) > 2:
                raise ConfigError(f"line {n}: expected clip_id,label, got {len(row)} fields")
            clip, name = row[0].strip(), (row[1].strip() if len(row) == 2 else "")
            if n == 1 and clip.lower() in ("clip_id", "id") and name.lower() in ("label", "action", "class"):
                continue
            rows.append((clip, name))
    except csv.Error as exc:
        raise ConfigError(f"not a CSV file ({exc})") from None
    return rows
