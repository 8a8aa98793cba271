"""Where a tracker configuration loses identity, against ground truth: the detector, the tracker or the linking.

Every output box is first matched to a ground-truth person in its frame
(Hungarian on IoU, at least 0.5). From those matches, three IDF1 values are
computed the same way, so they can be compared with each other:

* ``detection cap``: the IDF1 if every output box carried its true
  identity, ``2 TP / (GT + output boxes)``. Only the detector (and the
  tracker's choice of which boxes to output) limits it.
* ``fragment cap``: the IDF1 if the run's fragments (the tracker's own IDs,
  cut where hoopsense's linker split them; ``track_id`` in ``tracks.csv``)
  were linked perfectly, each joined to the person it covers most. What ID
  swaps inside fragments (one track ID moving from one person to another)
  cost comes out as the gap to the detection cap. More, shorter fragments
  raise it (each box its own fragment reaches the detection cap) and leave
  more to the linking, so read it with the number of fragments.
* ``IDF1``: the configuration's own identities, scored with the same
  matches. The gap to the fragment cap is what the linking loses (or, when
  it splits fragments, gains).

IDF1 here takes each frame's box matching as given and then the best
one-to-one pairing of output identities with people (standard IDF1 pairs
identities first, so its value can be a little higher; the ``trackers``
evaluation in :mod:`bench_tracking` gives the standard one).
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

MIN_IOU = 0.5


@dataclass(frozen=True)
class Box:
    """One output row: 1-based frame, ``x, y, w, h``, the output identity and the tracker's own ID."""

    frame: int
    xywh: tuple[float, float, float, float]
    identity: int
    track: int


@dataclass(frozen=True)
class Bounds:
    gt_rows: int
    boxes: int
    matched: int
    fragments: int  # distinct tracker IDs (fragments) in the output: more, shorter ones raise the fragment cap
    detection_cap: float
    fragment_cap: float
    idf1: float

    @property
    def recall(self) -> float:
        return self.matched / self.gt_rows if self.gt_rows else float("nan")

    @property
    def precision(self) -> float:
        return self.matched / self.boxes if self.boxes else float("nan")


def read_gt(path: Path) -> np.ndarray:
    """MOTChallenge ground truth rows ``frame, id, x, y, w, h, ...`` (scored rows only)."""
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    if rows.shape[1] >= 8:
        rows = rows[(rows[:, 6] != 0) & (rows[:, 7] == 1)]
    return rows


def read_mot(path: Path) -> list[Box]:
    """A MOT result file: its IDs are both the identities and the tracker's IDs."""
    out = []
    for line in path.read_text().splitlines():
        parts = line.split(",")
        if len(parts) < 6 or int(float(parts[1])) < 0:
            continue
        ident = int(float(parts[1]))
        out.append(Box(int(float(parts[0])), tuple(float(v) for v in parts[2:6]), ident, ident))  # type: ignore[arg-type]
    return out


def read_tracks_csv(path: Path) -> list[Box]:
    """hoopsense's ``tracks.csv``: ``player_id`` is the identity, ``track_id`` the tracker's fragment."""
    out = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            x1, y1, x2, y2 = (float(row[k]) for k in ("x1", "y1", "x2", "y2"))
            frame = int(row["frame"]) + 1  # 0-based in tracks.csv, 1-based in MOT files
            out.append(Box(frame, (x1, y1, x2 - x1, y2 - y1), int(row["player_id"]), int(row["track_id"])))
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def match(gt: np.ndarray, boxes: Sequence[Box]) -> list[int | None]:
    """The ground-truth person each box covers (IoU >= 0.5, one box per person per frame), or None."""
    people: list[int | None] = [None] * len(boxes)
    by_frame: dict[int, list[int]] = defaultdict(list)
    for i, box in enumerate(boxes):
        by_frame[box.frame].append(i)
    for frame, idx in by_frame.items():
        truth = gt[gt[:, 0] == frame]
        if not len(truth):
            continue
        iou = _iou(truth[:, 2:6], np.array([boxes[i].xywh for i in idx], dtype=np.float64))
        # most matches at IoU >= 0.5 first, then the highest IoU among them: pairs below 0.5 must not
        # crowd out a valid pair (as maximising the plain IoU sum can)
        gain = np.where(iou >= MIN_IOU, max(iou.shape) + iou, 0.0)
        rows, cols = linear_sum_assignment(-gain)
        for r, c in zip(rows, cols, strict=True):
            if iou[r, c] >= MIN_IOU:
                people[idx[c]] = int(truth[r, 1])
    return people


def _id_tp(people: Sequence[int | None], units: Sequence[Hashable]) -> float:
    """Matched boxes kept by the best one-to-one pairing of output units with people."""
    counts = Counter((p, u) for p, u in zip(people, units, strict=True) if p is not None)
    if not counts:
        return 0.0
    ps = sorted({p for p, _ in counts})
    us = sorted({u for _, u in counts}, key=repr)
    table = np.zeros((len(ps), len(us)))
    for (p, u), n in counts.items():
        table[ps.index(p), us.index(u)] = n
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum())


def _perfectly_linked(people: Sequence[int | None], units: Sequence[Hashable]) -> list[Hashable]:
    """Each unit relabelled with the person it covers most (a unit that covers nobody stays itself)."""
    votes: dict[Hashable, Counter] = defaultdict(Counter)
    for p, u in zip(people, units, strict=True):
        if p is not None:
            votes[u][p] += 1
    best = {u: ("person", c.most_common(1)[0][0]) for u, c in votes.items()}
    return [best.get(u, ("unit", u)) for u in units]


def bounds(gt: np.ndarray, boxes: Sequence[Box]) -> Bounds:
    people = match(gt, boxes)
    matched = sum(p is not None for p in people)
    total = len(gt) + len(boxes)
    f1: Callable[[float], float] = lambda tp: 2 * tp / total if total else float("nan")  # noqa: E731
    tracks = [b.track for b in boxes]
    return Bounds(
        gt_rows=len(gt),
        boxes=len(boxes),
        matched=matched,
        fragments=len(set(tracks)),
        detection_cap=f1(matched),
        fragment_cap=f1(_id_tp(people, _perfectly_linked(people, tracks))),
        idf1=f1(_id_tp(people, [b.identity for b in boxes])),
    )


def combined(parts: Sequence[Bounds]) -> Bounds:
    """Several sequences as one (each sequence's people and IDs kept apart, as the evaluation does)."""
    parts = [p for p in parts if p.gt_rows + p.boxes]  # an empty sequence has nothing to weigh
    gt = sum(p.gt_rows for p in parts)
    n = sum(p.boxes for p in parts)
    total = gt + n
    weigh = lambda attr: sum(getattr(p, attr) * (p.gt_rows + p.boxes) for p in parts) / total if total else float("nan")  # noqa: E731
    return Bounds(
        gt, n, sum(p.matched for p in parts), sum(p.fragments for p in parts),
        weigh("detection_cap"), weigh("fragment_cap"), weigh("idf1"),
    )  # fmt: skip
