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
