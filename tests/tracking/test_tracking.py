import numpy as np
import pytest
from fakes import detections

from hoopsense.detection import BALL, PERSON, DetectorConfig
from hoopsense.errors import ConfigError
from hoopsense.pipeline.stream import DelayLine, TrackedFrame
from hoopsense.tracking import filters
from hoopsense.tracking.players import PlayerTracker, TrackerConfig


def test_persons_and_min_height_filters_do_not_mutate_input():
    dets = detections([(0, 0, 10, 50), (0, 0, 10, 5), (20, 20, 30, 30)], class_id=PERSON)
    dets.class_id[2] = BALL
    before = dets.xyxy.copy()
    people = filters.persons(dets)
    assert len(people) == 2
    tall = filters.min_height(people, frame_height=100, fraction=0.1)
    assert tall.xyxy.tolist() == [[0, 0, 10, 50]]
    assert np.array_equal(dets.xyxy, before) and len(dets) == 3


def parse_polygon(text, width, height):
    """Text -> pixels, as TrackerConfig and PlayerTracker do it."""
    return filters.to_pixels(filters.court_points(text), width, height)


def test_parse_polygon_fractions_and_pixels():
    frac = parse_polygon("0,0.5, 1,0.5, 1,1, 0,1", width=200, height=100)
    assert frac.tolist() == [[0, 50], [200, 50], [200, 100], [0, 100]]
    px = parse_polygon("10,10;100,10;100,90", width=200, height=100)
    assert px.tolist() == [[10, 10], [100, 10], [100, 90]]
    with pytest.raises(ConfigError, match="at least 3"):
        parse_polygon("1,2,3,4", 10, 10)
    with pytest.raises(ConfigError, match="numbers"):
        parse_polygon("a,b,c,d,e,f", 10, 10)


def test_inside_polygon_uses_feet():
    court = parse_polygon("0,0.5,1,0.5,1,1,0,1", width=200, height=100)
    # first: head outside, feet inside (kept); second: entirely above the court line
    dets = detections([(10, 20, 30, 80), (50, 5, 70, 40)])
    kept = filters.inside_polygon(dets, court)
    assert kept.xyxy.tolist() == [[10, 20, 30, 80]]


def _walk(n_frames, starts, step=4.0, size=(20, 60)):
    """Boxes moving right by ``step`` px per frame from each start x."""
    for i in range(n_frames):
        yield detections([(x + step * i, 100, x + step * i + size[0], 100 + size[1]) for x in starts])


def test_tracker_gives_stable_ids_starting_at_one():
    tracker = PlayerTracker(TrackerConfig(confirm_frames=1), frame_width=854, frame_height=480, fps=30)
    ids = [tuple(sorted(tracker.update(d).tracker_id.tolist())) for d in _walk(30, [50, 200, 350])]
    assert ids[-1] == (1, 2, 3)
    assert set(ids[5:]) == {(1, 2, 3)}


def test_tracker_keeps_id_through_a_short_gap_and_low_scores():
    tracker = PlayerTracker(TrackerConfig(confirm_frames=1), frame_width=854, frame_height=480, fps=30)
    seen = []
    for i, dets in enumerate(_walk(40, [100])):
        if 15 <= i < 20:
            dets = detections(np.empty((0, 4)))  # occluded for 5 frames
        elif 20 <= i < 25:
            dets.confidence[:] = 0.2  # faint: only ByteTrack's second stage keeps it
        seen.extend(tracker.update(dets).tracker_id.tolist())
    assert set(seen) == {1}


def test_each_tracker_owns_its_ids():
    a = PlayerTracker(TrackerConfig(confirm_frames=1), 854, 480, 30)
    b = PlayerTracker(TrackerConfig(confirm_frames=1), 854, 480, 30)
    for dets in _walk(5, [10, 300]):
        a.update(dets)
    for dets in _walk(3, [500]):
        out = b.update(dets)
    assert out.tracker_id.tolist() == [1]
    assert sorted(a.update(next(_walk(1, [30, 320]))).tracker_id.tolist()) == [1, 2]


def test_tracker_filters_short_people_and_off_court():
    court = ((0.0, 240.0), (640.0, 240.0), (640.0, 480.0), (0.0, 480.0))
    tracker = PlayerTracker(TrackerConfig(confirm_frames=1, min_height=0.1, court=court), 854, 480, 30)
    dets = detections([(10, 300, 30, 400), (100, 300, 120, 320), (200, 50, 220, 200)])
    assert tracker.players(dets).xyxy.tolist() == [[10, 300, 30, 400]]
    for _ in range(3):
        out = tracker.update(dets)
    assert out.xyxy.tolist() == [[10, 300, 30, 400]]


def test_config_validation_names_the_argument():
    with pytest.raises(ConfigError, match="min_height"):
        TrackerConfig(min_height=1.5)
    with pytest.raises(ConfigError, match="activation"):
        TrackerConfig(activation=-0.1)
    with pytest.raises(ConfigError, match="imgsz"):
        DetectorConfig(imgsz=100)
    with pytest.raises(ConfigError, match="device"):
        DetectorConfig(device="gpu")


def _tracked(index, ids):
    dets = detections([(i, 0, i + 1, 1) for i in ids])
    dets.tracker_id = np.asarray(ids, dtype=int)
    return TrackedFrame(index, index / 30, None, dets)


def test_delay_line_drops_short_tracks_and_keeps_all_rows_of_long_ones():
    line = DelayLine(min_frames=4)
    released = []
    for i in range(10):
        ids = [1] + ([2] if 3 <= i < 5 else [])  # track 2 lives 2 frames only
        released.extend(line.push(_tracked(i, ids)))
        assert len(line._queue) <= line.lag
    released.extend(line.flush())
    assert [r.index for r in released] == list(range(10))
    assert all(r.players.tracker_id.tolist() == [1] for r in released)


def test_doubled_pairs_are_one_box_inside_another_with_the_feet_together():
    boxes = np.array(
        [
            (100, 100, 140, 220),  # 0: a body
            (104, 140, 136, 222),  # 1: inside 0, feet 2 px apart: the same person boxed twice
            (300, 100, 340, 220),  # 2: another player, apart
            (304, 130, 336, 200),  # 3: inside 2 but feet 20 px higher: a player deeper in the picture, behind
            (320, 100, 380, 220),  # 4: overlaps 2 side by side (less than 0.9 inside), feet together
        ],
        dtype=np.float32,
    )
    assert filters.doubled_pairs(boxes, 0.9, 0.05) == [(0, 1)]
    assert filters.doubled_pairs(boxes, 0.9, 0.2) == [(0, 1), (2, 3)]  # looser feet: the player behind too
    assert filters.doubled_pairs(boxes[:1], 0.9, 0.05) == [] and filters.doubled_pairs(boxes[:0], 0.9, 0.05) == []


def _doubled_run(drop: bool, body_missed: int | None = None, behind: bool = False) -> list[list[int]]:
    """A player walks alone for 10 frames; for the next 10 the detector also boxes his body with an arm raised (a
    taller box around the first, feet together), except in frame ``body_missed`` where it finds only that one;
    then only the tall box stays. ``behind``: the second box is a smaller player standing behind him (feet 20 px
    higher). The IDs shown in each frame."""
    tracker = PlayerTracker(
        TrackerConfig(confirm_frames=1, drop_doubled=drop), frame_width=854, frame_height=480, fps=30
    )
    shown = []
    for i in range(30):
        x = 100 + 2 * i
        body, raised = (x, 100, x + 30, 190), (x - 4, 60, x + 34, 191)
        if behind:
            body, raised = (x + 4, 95, x + 26, 170), (x - 4, 60, x + 34, 191)
        boxes = [body] if i < 10 else [body, raised] if i < 20 and i != body_missed else [raised]
        shown.append(sorted(tracker.update(detections(boxes)).tracker_id.tolist()))
    return shown


def test_a_player_boxed_twice_shows_once_with_drop_doubled():
    kept = _doubled_run(drop=False)
    assert all(len(ids) == 2 for ids in kept[11:20])  # both tracks shown: one player as two
    dropped = _doubled_run(drop=True)
    assert all(ids == [1] for ids in dropped[1:20])  # the first track, seen the longest without a break
    later = {i for ids in dropped[20:] for i in ids}
    assert all(len(ids) == 1 for ids in dropped[20:]) and len(later) == 1  # then the tall box, alone, under one ID
    assert later == {i for ids in kept[20:] for i in ids}  # the tracker followed the same tracks either way


def test_drop_doubled_keeps_showing_the_track_it_showed():
    """The body box is missed for one frame: the tall box's track is shown then, and it stays shown when both
    boxes are back (the one shown in the previous frame wins), so the ID changes once, not back and forth."""
    shown = _doubled_run(drop=True, body_missed=14)
    assert all(ids == [1] for ids in shown[1:14]) and shown[14] == [2]
    assert all(ids == [2] for ids in shown[14:])


def test_drop_doubled_keeps_a_player_standing_behind_another():
    shown = _doubled_run(drop=True, behind=True)
    assert all(len(ids) == 2 for ids in shown[11:20])  # his feet are higher up: two people, both shown
