"""Labelled clip collections: SpaceJam format, folder-per-class, and UCF101 with its split files.

Each loader returns a :class:`ClipSet`: the labels and one :class:`ClipRecord`
per usable clip, with a ``group`` that the split keeps together (an original
clip and its augmented copies; one UCF101 ``gXX`` group of a class; the
clips of one player cut by ``hoopsense clips``) and, where the dataset
defines one, the official ``subset`` (UCF101's train/test lists). What could
not be used is listed in ``skipped`` so the CLI can report it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from hoopsense.errors import ConfigError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
FORMATS = ("spacejam", "folder", "ucf101")
# Clip shapes: SpaceJam and hoopsense clips are player crops (pad to a square,
# as the player squares seen at inference); whole scenes are cropped.
FIT_BY_FORMAT = {"spacejam": "pad", "folder": "crop", "ucf101": "crop"}


@dataclass(frozen=True)
class ClipRecord:
    """One labelled clip file. ``label`` indexes :attr:`ClipSet.labels`."""

    id: str
    path: Path
    label: int
    group: str
    subset: str | None = None  # "train" / "test" from an official split, else None


@dataclass
class ClipSet:
    format: str
    root: Path
    labels: tuple[str, ...]
    records: list[ClipRecord]
    skipped: list[str] = field(default_factory=list)

    @property
    def fit(self) -> str:
        return FIT_BY_FORMAT[self.format]

    def counts(self) -> dict[str, int]:
        out = {name: 0 for name in self.labels}
        for r in self.records:
            out[self.labels[r.label]] += 1
        return out


def load_dataset(root: str | Path, fmt: str, *, drop: tuple[str, ...] = ("discard",), fold: int = 1) -> ClipSet:
    """Load ``root`` in format ``fmt`` (``spacejam``, ``folder`` or ``ucf101``)."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"dataset folder not found: {root}")
    if fmt == "spacejam":
        data = load_spacejam(root, drop=drop)
    elif fmt == "folder":
        data = load_folder(root)
    elif fmt == "ucf101":
        data = load_ucf101(root, fold=fold)
    else:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not data.records:
        raise ConfigError(f"no usable clips in {root} ({fmt} format){_first_notes(data.skipped)}")
    return data


def _first_notes(notes: list[str]) -> str:
    return f": {'; '.join(notes[:3])}" if notes else ""


def spacejam_group(clip_id: str) -> str:
    """``0000000_flipped_rotate_330`` -> ``0000000``; ``game-p007-f000120`` -> ``game-p007``."""
    base = clip_id.split("_", 1)[0]
    return re.sub(r"-f\d+$", "", base)


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"missing {path.name} in {path.parent}")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    return doc


def load_spacejam(root: Path, *, drop: tuple[str, ...] = ("discard",)) -> ClipSet:
    """``annotation_dict.json`` (``{id: label index}``), ``labels_dict.json`` (``{index: name}``)
    and ``<id>.mp4`` clips in ``root`` or ``root/examples``. Labels named in ``drop`` are left out."""
    annotations = _read_json(root / "annotation_dict.json")
    names = _read_json(root / "labels_dict.json")
    try:
        by_index = {int(k): str(v) for k, v in names.items()}
    except ValueError as exc:
        raise ConfigError(f"labels_dict.json keys must be integers ({exc})") from exc
    kept = [i for i in sorted(by_index) if by_index[i] not in drop]
    new_index = {old: new for new, old in enumerate(kept)}
    clip_dir = root / "examples" if (root / "examples").is_dir() else root
    records, skipped = [], []
    missing: list[str] = []
    dropped = 0
    for clip_id, label in annotations.items():
        if not isinstance(label, int) or label not in by_index:
            skipped.append(f"{clip_id}: unknown label {label!r}")
            continue
        if label not in new_index:
            dropped += 1
            continue
        path = clip_dir / f"{clip_id}.mp4"
        if not path.is_file():
            missing.append(clip_id)
            continue
        records.append(ClipRecord(clip_id, path, new_index[label], spacejam_group(clip_id)))
    # Augmented copies on disk without an entry of their own (<id>_flipped_rotate_330.mp4)
    # take the label of their original.
    inherited = 0
    annotated = set(annotations)
    for path in sorted(clip_dir.glob("*_*.mp4")):
        base = path.stem.split("_", 1)[0]
        label = annotations.get(base)
        if path.stem in annotated or not isinstance(label, int) or label not in new_index:
            continue
        records.append(ClipRecord(path.stem, path, new_index[label], spacejam_group(path.stem)))
        inherited += 1
    if inherited:
        skipped.append(f"{inherited} augmented copies without an entry take their original's label")
    if missing:
        skipped.insert(0, f"{len(missing)} ids have no clip file (e.g. {', '.join(missing[:3])})")
    if dropped:
        skipped.append(f"{dropped} clips labelled {', '.join(drop)} left out")
    return ClipSet("spacejam", root, tuple(by_index[i] for i in kept), records, skipped)


_UCF_NAME = re.compile(r"^v_(?P<cls>.+)_g(?P<group>\d+)_c\d+$")


def _ucf_group(stem: str, label: str) -> str:
    m = _UCF_NAME.match(stem)
    return f"{label}_g{m.group('group')}" if m else f"{label}/{stem}"


def load_folder(root: Path) -> ClipSet:
    """``root/<class>/*.mp4|avi|...``: one class per sub-folder, names sorted."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    records, skipped = [], []
    labels: list[str] = []
    for name in classes:
        files = sorted(f for f in (root / name).iterdir() if f.suffix.lower() in VIDEO_SUFFIXES)
        if not files:
            skipped.append(f"folder {name}/ has no video files")
            continue
        index = len(labels)
        labels.append(name)
        records += [ClipRecord(f"{name}/{f.name}", f, index, _ucf_group(f.stem, name)) for f in files]
    return ClipSet("folder", root, tuple(labels), records, skipped)


def _find(root: Path, name: str) -> Path:
    for candidate in (root / name, root / "ucfTrainTestlist" / name):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"UCF101 split file {name} not found in {root} or {root / 'ucfTrainTestlist'}")


def load_ucf101(root: Path, *, fold: int = 1) -> ClipSet:
    """UCF101 videos (``root/<Class>/v_*.avi`` or ``root/UCF-101/...``) with the official
    ``classInd.txt``, ``trainlist0N.txt`` and ``testlist0N.txt`` of fold ``N``. Classes
    without any video present (a subset of UCF101) are left out."""
    if fold not in (1, 2, 3):
        raise ConfigError(f"--fold must be 1, 2 or 3, got {fold}")
    video_root = root / "UCF-101" if (root / "UCF-101").is_dir() else root
    class_ind = {}
    for line in _find(root, "classInd.txt").read_text().split("\n"):
        parts = line.split()
        if len(parts) == 2:
            class_ind[parts[1]] = int(parts[0])
    entries: list[tuple[str, str]] = []
    for subset in ("train", "test"):
        for line in _find(root, f"{subset}list0{fold}.txt").read_text().split("\n"):
            if line.strip():
                entries.append((line.split()[0].strip(), subset))
    present = []
    missing = 0
    for rel, subset in entries:
        path = video_root / rel
        cls = rel.split("/")[0]
        if cls not in class_ind:
            raise ConfigError(f"{rel}: class {cls!r} is not in classInd.txt")
        if path.is_file():
            present.append((rel, path, cls, subset))
        else:
            missing += 1
    labels = [c for c, _ in sorted(class_ind.items(), key=lambda kv: kv[1]) if any(p[2] == c for p in present)]
    index = {c: i for i, c in enumerate(labels)}
    records = [
        ClipRecord(rel, path, index[cls], _ucf_group(path.stem, cls), subset) for rel, path, cls, subset in present
    ]
    skipped = [f"{missing} listed videos are not present (classes without any video are left out)"] if missing else []
    return ClipSet("ucf101", root, tuple(labels), records, skipped)
