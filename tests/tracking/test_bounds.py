"""``benchmarks/tracking_bounds.py``: the detection cap, the fragment cap and the IDF1 of a run, on hand-made
ground truth where each value is known."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import tracking_bounds as tb

FRAMES = 20


def _gt() -> np.ndarray:
    """Two people walking apart for FRAMES frames: person 1 at the left, person 2 at the right."""
    rows = []
    for f in range(1, FRAMES + 1):
        rows.append([f, 1, 100 + f, 100, 50, 120, 1, 1, 1.0])
        rows.append([f, 2, 400 - f, 100, 50, 120, 1, 1, 1.0])
    return np.array(rows, dtype=np.float64)


def _box(gt: np.ndarray, frame: int, person: int, identity: int, track: int | None = None) -> tb.Box:
    row = gt[(gt[:, 0] == frame) & (gt[:, 1] == person)][0]
    return tb.Box(frame, tuple(row[2:6]), identity, identity if track is None else track)  # type: ignore[arg-type]


def test_ground_truth_as_output_scores_one_everywhere():
    gt = _gt()
    out = tb.bounds(gt, [_box(gt, int(f), int(p), int(p)) for f, p in gt[:, :2]])
    assert (out.recall, out.precision) == (1.0, 1.0)
    assert out.detection_cap == out.fragment_cap == out.idf1 == 1.0


def test_missed_boxes_lower_the_detection_cap_and_a_false_box_the_precision():
    gt = _gt()
    boxes = [_box(gt, f, 1, 1) for f in range(1, FRAMES + 1)]  # person 2 is never found
    boxes.append(tb.Box(3, (700.0, 300.0, 40.0, 80.0), 9, 9))  # a box on nobody
    out = tb.bounds(gt, boxes)
    assert out.recall == pytest.approx(0.5)
    assert out.precision == pytest.approx(FRAMES / (FRAMES + 1))
    assert out.detection_cap == pytest.approx(2 * FRAMES / (2 * FRAMES + FRAMES + 1))
    assert out.fragment_cap == out.idf1 == out.detection_cap  # what was found kept one identity


def test_a_swap_inside_a_track_lowers_the_fragment_cap_and_relinking_cannot_undo_it():
    gt = _gt()
    half = FRAMES // 2
    boxes = []
    for f in range(1, FRAMES + 1):  # track 1 follows person 1, then jumps to person 2; track 2 the reverse
        boxes.append(_box(gt, f, 1 if f <= half else 2, 1))
        boxes.append(_box(gt, f, 2 if f <= half else 1, 2))
    out = tb.bounds(gt, boxes)
    assert out.detection_cap == 1.0
    assert out.fragment_cap == pytest.approx(0.5)  # each track is half right, whatever is linked to what
    assert out.idf1 == pytest.approx(0.5)


def test_fragments_of_one_person_cost_identity_until_linked():
    gt = _gt()
    half = FRAMES // 2
    broken, linked = [], []
    for f in range(1, FRAMES + 1):
        track = 1 if f <= half else 3  # person 1 comes back under a new tracker ID
        broken.append(_box(gt, f, 1, track))
        linked.append(_box(gt, f, 1, 1, track=track))  # the same fragments, joined into one identity
        broken.append(_box(gt, f, 2, 2))
        linked.append(_box(gt, f, 2, 2))
    unlinked, joined = tb.bounds(gt, broken), tb.bounds(gt, linked)
    assert unlinked.fragment_cap == joined.fragment_cap == 1.0  # perfect linking would join them
    assert unlinked.fragments == joined.fragments == 3
    assert unlinked.idf1 == pytest.approx(0.75)  # person 1 keeps only half his rows under one ID
    assert joined.idf1 == 1.0


def test_a_wrong_link_scores_below_the_fragment_cap():
    gt = _gt()
    half = FRAMES // 2
    boxes = []
    for f in range(1, FRAMES + 1):
        # person 1's second fragment (track 3) is given person 2's identity
        boxes.append(_box(gt, f, 1, 1 if f <= half else 2, track=1 if f <= half else 3))
        if f <= half:
            boxes.append(_box(gt, f, 2, 2))
    out = tb.bounds(gt, boxes)
    assert out.fragment_cap == pytest.approx(2 * (FRAMES + half) / (2 * FRAMES + len(boxes)))  # tracks 1 and 3 joined
    assert out.idf1 == pytest.approx(2 * 2 * half / (2 * FRAMES + len(boxes)))  # identity 2 holds two people


def test_sequences_combine_weighted_by_their_rows():
    gt = _gt()
    perfect = tb.bounds(gt, [_box(gt, int(f), int(p), int(p)) for f, p in gt[:, :2]])
    half = tb.bounds(gt, [_box(gt, f, 1, 1) for f in range(1, FRAMES + 1)])
    both = tb.combined([perfect, half])
    assert both.matched == perfect.matched + half.matched
    total_tp = perfect.matched + half.matched
    assert both.detection_cap == pytest.approx(2 * total_tp / (2 * len(gt) + perfect.boxes + half.boxes))


def test_tracks_csv_and_mot_files_are_read_with_their_frame_bases(tmp_path):
    csv_path = tmp_path / "x.tracks.csv"
    csv_path.write_text("frame,time_s,player_id,track_id,team,x1,y1,x2,y2,confidence\n0,0.0,5,7,A,10,20,60,140,0.9\n")
    mot = tmp_path / "x.txt"
    mot.write_text("1,5,10.0,20.0,50.0,120.0,0.9,-1,-1,-1\n1,-1,0,0,1,1,0,-1,-1,-1\n")
    (row,) = tb.read_tracks_csv(csv_path)
    assert (row.frame, row.identity, row.track, row.xywh) == (1, 5, 7, (10.0, 20.0, 50.0, 120.0))
    assert tb.read_mot(mot) == [tb.Box(1, (10.0, 20.0, 50.0, 120.0), 5, 5)]


def test_a_pair_below_the_iou_threshold_never_crowds_out_a_valid_match():
    # box B covers person 2 at IoU 0.52; box A covers person 2 at 0.43, and B overlaps person 1 at 0.26.
    # Maximising the plain IoU sum pairs B with person 1 and A with person 2 (0.69 > 0.52), both below
    # 0.5: no match at all, where B-person 2 is a valid one.
    gt = np.array([[1, 1, 0, 0, 100, 100, 1, 1, 1.0], [1, 2, 100, 0, 100, 100, 1, 1, 1.0]])
    a = tb.Box(1, (140.0, 0.0, 100.0, 100.0), 1, 1)
    b = tb.Box(1, (55.0, 0.0, 120.0, 100.0), 2, 2)
    assert tb.match(gt, [a, b]) == [None, 2]
    assert tb.bounds(gt, [a, b]).matched == 1


def test_an_empty_sequence_does_not_spoil_the_combined_figures():
    gt = _gt()
    perfect = tb.bounds(gt, [_box(gt, int(f), int(p), int(p)) for f, p in gt[:, :2]])
    empty = tb.bounds(gt[:0], [])
    both = tb.combined([perfect, empty])
    assert both.detection_cap == both.fragment_cap == both.idf1 == 1.0
