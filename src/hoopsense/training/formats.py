"""Labelled clip collections: SpaceJam format, folder-per-class, and UCF101 with its split files.

Each loader returns a :class:`ClipSet`: the labels and one :class:`ClipRecord`
per usable clip, with a ``group`` that the split keeps together (an original
clip and its augmented copies; one UCF101 ``gXX`` group of a class; the
clips of one player cut by ``hoopsense clips``) and, where the dataset
defines one, the official ``subset`` (UCF101's train/test lists). What could
not be used is listed in ``skipped`` so the CLI can report it.

:func:`load_datasets` merges several folders (several games) into one set;
a SpaceJam-format folder's label files are read through
:mod:`hoopsense.label.store`, the one reader of a clip folder's labels.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from hoopsense.errors import ConfigError
from hoopsense.label.store import ANNOTATIONS, LABEL_NAMES, clip_dir, read_annotations, read_label_names, read_state

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
    """``root`` is the first (or only) folder; ``roots`` lists every folder of a merged set."""

    format: str
    root: Path
    labels: tuple[str, ...]
    records: list[ClipRecord]
    skipped: list[str] = field(default_factory=list)
    roots: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        if not self.roots:
            self.roots = (self.root,)

    @property
    def fit(self) -> str:
        return FIT_BY_FORMAT[self.format]

    @property
    def where(self) -> str:
        """The folder, or the folders joined with ``, `` (for messages)."""
        return ", ".join(str(r) for r in self.roots)

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


def load_datasets(
    roots: Sequence[str | Path], fmt: str, *, drop: tuple[str, ...] = ("discard",), fold: int = 1
) -> ClipSet:
    """Load one folder (exactly as :func:`load_dataset`) or several (several games) merged into one set.

    Several folders, all in format ``fmt``: the labels are the union by name in the order
    they first appear (a folder may lack classes); clip ids and groups become
    ``<folder name>/<id>`` (a repeated folder name gets ``-2``, ``-3``...), so ids stay unique
    and no group spans two folders; each note starts with its folder's name."""
    paths = [Path(r) for r in roots]
    if not paths:
        raise ConfigError("no dataset folder given")
    for path in paths:
        if not path.is_dir():
            raise ConfigError(f"dataset folder not found: {path}")
    if len(paths) == 1:
        return load_dataset(paths[0], fmt, drop=drop, fold=fold)
    seen: dict[Path, Path] = {}
    for path in paths:
        real = path.resolve()
        if real in seen:
            also = f" (also as {seen[real]})" if str(seen[real]) != str(path) else ""
            raise ConfigError(f"dataset folder {path} is given twice{also}")
        seen[real] = path
    return merge([load_dataset(path, fmt, drop=drop, fold=fold) for path in paths])


def merge(sets: Sequence[ClipSet]) -> ClipSet:
    """One set of several (see :func:`load_datasets`)."""
    labels = tuple(dict.fromkeys(name for s in sets for name in s.labels))
    index = {name: i for i, name in enumerate(labels)}
    records: list[ClipRecord] = []
    skipped: list[str] = []
    for prefix, s in zip(folder_prefixes([s.root for s in sets]), sets):
        merged = [index[name] for name in s.labels]
        records += [
            replace(r, id=f"{prefix}/{r.id}", label=merged[r.label], group=f"{prefix}/{r.group}") for r in s.records
        ]
        skipped += [f"{prefix}: {note}" for note in s.skipped]
    return ClipSet(sets[0].format, sets[0].root, labels, records, skipped, roots=tuple(s.root for s in sets))


def folder_prefixes(roots: Sequence[Path]) -> list[str]:
    """The id prefix of each merged folder: its name, with ``-2``, ``-3``... when a name repeats."""
    names: list[str] = []
    for root in roots:
        base = Path(root).resolve().name or "data"
        name, k = base, 1
        while name in names:
            k += 1
            name = f"{base}-{k}"
        names.append(name)
    return names


def _first_notes(notes: list[str]) -> str:
    return f": {'; '.join(notes[:3])}" if notes else ""


def spacejam_group(clip_id: str) -> str:
    """``0000000_flipped_rotate_330`` -> ``0000000``; ``game-p007-f000120`` -> ``game-p007``."""
    base = clip_id.split("_", 1)[0]
    return re.sub(r"-f\d+$", "", base)


def load_spacejam(root: Path, *, drop: tuple[str, ...] = ("discard",)) -> ClipSet:
    """``annotation_dict.json`` (``{id: label index or null}``), ``labels_dict.json`` (``{index: name}``)
    and ``<id>.mp4`` clips in ``root`` or ``root/examples``. Labels named in ``drop`` are left out,
    and so are clips nobody has labelled yet (``null``); labels that a model proposed and nobody
    has reviewed (``labelling.json``) are used, and counted in a note."""
    annotations = read_annotations(root / ANNOTATIONS)
    names = read_label_names(root / LABEL_NAMES)
    state = read_state(root)
    kept = [i for i, name in enumerate(names) if name not in drop]
    new_index = {old: new for new, old in enumerate(kept)}
    files = clip_dir(root)
    records: list[ClipRecord] = []
    unknown: list[str] = []
    missing: list[str] = []
    dropped = unlabelled = proposals = 0

    def label_of(value: object) -> int | None:
        return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names) else None

    def unreviewed(clip_id: str, label: int) -> bool:
        proposal = state.proposed.get(clip_id)
        return proposal is not None and proposal[0] == names[label]

    for clip_id, value in annotations.items():
        if value is None:
            unlabelled += 1
            continue
        label = label_of(value)
        if label is None:
            unknown.append(f"{clip_id}: unknown label {value!r}")
            continue
        if label not in new_index:
            dropped += 1
            continue
        path = files / f"{clip_id}.mp4"
        if not path.is_file():
            missing.append(clip_id)
            continue
        records.append(ClipRecord(clip_id, path, new_index[label], spacejam_group(clip_id)))
        proposals += unreviewed(clip_id, label)
    # Augmented copies on disk without an entry of their own (<id>_flipped_rotate_330.mp4)
    # take the label of their original; clip files without any entry wait for a label.
    inherited = 0
    for path in sorted(files.glob("*.mp4")):
        if path.stem in annotations:
            continue
        base = path.stem.split("_", 1)[0]
        if base == path.stem or (base in annotations and annotations[base] is None):
            unlabelled += 1
            continue
        label = label_of(annotations.get(base))
        if label is None or label not in new_index:
            continue
        records.append(ClipRecord(path.stem, path, new_index[label], spacejam_group(path.stem)))
        proposals += unreviewed(base, label)
        inherited += 1
    skipped: list[str] = []
    if missing:
        skipped.append(f"{len(missing)} ids have no clip file (e.g. {', '.join(missing[:3])})")
    if unlabelled and not any(v is not None for v in annotations.values()):
        skipped.insert(0, f"nothing is labelled yet ({unlabelled} clips; label them with `hoopsense label {root}`)")
    elif unlabelled:
        skipped.append(f"{unlabelled} clips are not labelled yet (label them with `hoopsense label {root}`)")
    skipped += unknown
    if proposals:
        skipped.append(
            f"{proposals} labels are model proposals nobody has reviewed; review them with `hoopsense label {root}`"
        )
    if inherited:
        skipped.append(f"{inherited} augmented copies without an entry take their original's label")
    if dropped:
        skipped.append(f"{dropped} clips labelled {', '.join(drop)} left out")
    return ClipSet("spacejam", root, tuple(names[i] for i in kept), records, skipped)


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
