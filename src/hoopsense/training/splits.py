"""Seeded, class-stratified train/validation splits that never separate a group.

Groups (an original clip and its augmented copies, a UCF101 ``gXX`` group, the
clips of one player from one game) go wholly to one side, so no near-copy of
a training clip is ever used for validation. An official test list (UCF101)
stays the test set; the validation set is then drawn from its training list.
The split is written to a JSON file that evaluation reads back; it names the
dataset folder (``root``) and, for a set merged from several folders, all of
them (``roots``; the clip ids are then ``<folder name>/<id>``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hoopsense.errors import ConfigError
from hoopsense.outputs import atomic_write_text
from hoopsense.training.formats import ClipRecord, ClipSet


@dataclass(frozen=True)
class Split:
    """Clip ids per subset; ``test`` is empty unless the dataset has an official test list."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    seed: int
    val_fraction: float

    def subset(self, name: str) -> tuple[str, ...]:
        if name not in ("train", "val", "test"):
            raise ConfigError(f"unknown subset {name!r}; use train, val or test")
        return getattr(self, name)


def make_split(data: ClipSet, *, val_fraction: float = 0.2, seed: int = 0) -> Split:
    """Per class, shuffle the class's groups (seeded) and move whole groups to
    validation until it holds ``val_fraction`` of the class's clips (at least
    one group when the class has two or more)."""
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"--val-fraction must be in (0, 1), got {val_fraction}")
    test = tuple(r.id for r in data.records if r.subset == "test")
    pool = [r for r in data.records if r.subset != "test"]
    groups: dict[str, list[ClipRecord]] = defaultdict(list)
    for r in pool:
        groups[r.group].append(r)
    by_class: dict[int, list[str]] = defaultdict(list)
    for name in sorted(groups):
        labels = [r.label for r in groups[name]]
        by_class[max(set(labels), key=labels.count)].append(name)  # a group goes with its main label
    rng = np.random.default_rng(seed)
    val_groups: set[str] = set()
    for label in sorted(by_class):
        names = list(by_class[label])
        rng.shuffle(names)
        total = sum(len(groups[g]) for g in names)
        taken = 0
        for g in names[:-1]:  # always leave a group for training
            if taken >= val_fraction * total:
                break
            val_groups.add(g)
            taken += len(groups[g])
    train = tuple(r.id for r in pool if r.group not in val_groups)
    val = tuple(r.id for r in pool if r.group in val_groups)
    return Split(train, val, test, seed, val_fraction)


def save_split(split: Split, path: Path, data: ClipSet) -> Path:
    doc: dict = {"format": data.format, "root": str(data.root)}
    if len(data.roots) > 1:
        doc["roots"] = [str(r) for r in data.roots]
    doc |= {
        "labels": list(data.labels),
        "seed": split.seed,
        "val_fraction": split.val_fraction,
        "train": list(split.train),
        "val": list(split.val),
        "test": list(split.test),
    }
    return atomic_write_text(path, json.dumps(doc, indent=1))


def load_split(path: Path, data: ClipSet) -> Split:
    """Read a split file and check that it belongs to ``data``."""
    try:
        doc = json.loads(Path(path).read_text())
        split = Split(
            tuple(doc["train"]),
            tuple(doc["val"]),
            tuple(doc.get("test", ())),
            int(doc["seed"]),
            float(doc["val_fraction"]),
        )
    except FileNotFoundError:
        raise ConfigError(f"split file not found: {path}") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path} is not a hoopsense split file ({exc})") from exc
    known = {r.id for r in data.records}
    unknown = [i for i in (*split.train, *split.val, *split.test) if i not in known]
    if unknown:
        raise ConfigError(
            f"split file {path} names {len(unknown)} clips that are not in {data.where} (e.g. {unknown[0]}); "
            f"was it made for another dataset?"
        )
    return split


def records_of(data: ClipSet, ids: tuple[str, ...]) -> list[ClipRecord]:
    by_id = {r.id: r for r in data.records}
    return [by_id[i] for i in ids]
