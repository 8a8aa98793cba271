"""Window predictions -> events: smoothing, ownership, hysteresis, background, segments.

All cases use fps 10, clips of 8 frames every 4 frames. Window k covers
frames 4k..4k+7; overlapping windows split their frames at the midpoint of
their centres, so in a run of windows starting at frame 0 window 0 owns
0..5, window k owns 4k+2..4k+5 and the last window owns up to its end.
"""

from __future__ import annotations

import numpy as np
import pytest

from hoopsense.errors import ConfigError
from hoopsense.pipeline.timeline import (
    ActionEvent,
    Timeline,
    TimelineConfig,
    build_events,
)
from hoopsense.recognizer.windows import WindowPrediction

LABELS = ("dribble", "shoot")
A = np.array([0.8, 0.2], np.float32)  # dribble
X = np.array([0.1, 0.9], np.float32)  # shoot
FPS = 10.0


def wins(classes: list[np.ndarray], player: int = 1, first: int = 0) -> list[WindowPrediction]:
    return [WindowPrediction(player, first + 4 * k, first + 4 * k + 7, p) for k, p in enumerate(classes)]


def ev(action, start, end, conf, player=1) -> ActionEvent:
    return ActionEvent(player, action, start, end, start / FPS, (end + 1) / FPS, conf)


def check(events, expected):
    assert [(e.player_id, e.action, e.start_frame, e.end_frame) for e in events] == [
        (e.player_id, e.action, e.start_frame, e.end_frame) for e in expected
    ]
    for got, want in zip(events, expected):
        assert got.start_s == pytest.approx(want.start_s) and got.end_s == pytest.approx(want.end_s)
        assert got.duration_s == pytest.approx((got.end_frame - got.start_frame + 1) / FPS)
        assert got.confidence == pytest.approx(want.confidence, abs=1e-6)


def test_one_action_is_one_event_over_all_frames():
    events = build_events(wins([A] * 4), LABELS, FPS, TimelineConfig(smooth=1, min_event_s=0.5))
    check(events, [ev("dribble", 0, 19, 0.8)])


def test_one_noisy_window_does_not_split_an_event_with_smoothing():
    classes = [A, A, A, X, A, A, A, A]
    events = build_events(wins(classes), LABELS, FPS, TimelineConfig(smooth=3, min_event_s=0.0))
    # frames 0..35; the smoothed probability of dribble is 0.8 except for windows 2, 3, 4 (owning 10..21): 0.5667
    conf = (24 * 0.8 + 12 * (1.7 / 3)) / 36
    check(events, [ev("dribble", 0, 35, conf)])


def test_one_noisy_window_does_not_split_an_event_with_the_minimum_length():
    classes = [A, A, A, X, A, A, A, A]
    events = build_events(wins(classes), LABELS, FPS, TimelineConfig(smooth=1, min_event_s=0.5))
    check(events, [ev("dribble", 0, 35, (32 * 0.8 + 4 * 0.1) / 36)])  # window 3 owns 14..17


def test_without_smoothing_or_minimum_each_window_counts():
    classes = [A, A, A, X, A, A, A, A]
    events = build_events(wins(classes), LABELS, FPS, TimelineConfig(smooth=1, min_event_s=0.0))
    check(events, [ev("dribble", 0, 13, 0.8), ev("shoot", 14, 17, 0.9), ev("dribble", 18, 35, 0.8)])


def test_a_lasting_change_starts_a_new_event_where_it_began():
    classes = [A, A, A, A, X, X, X, X]
    events = build_events(wins(classes), LABELS, FPS, TimelineConfig(smooth=1, min_event_s=0.5))
    check(events, [ev("dribble", 0, 17, 0.8), ev("shoot", 18, 35, 0.9)])


def test_a_short_opening_run_goes_to_the_first_confirmed_action():
    classes = [X, A, A, A, A, A, A, A]
    events = build_events(wins(classes), LABELS, FPS, TimelineConfig(smooth=1, min_event_s=1.0))
    check(events, [ev("dribble", 0, 35, (6 * 0.1 + 30 * 0.8) / 36)])  # window 0 (X) owns 0..5


def test_a_segment_shorter_than_the_minimum_has_no_event():
    events = build_events(wins([A]), LABELS, FPS, TimelineConfig(smooth=1, min_event_s=1.0))
    assert events == []


def test_background_events_are_dropped_unless_kept():
    labels = ("dribble", "no_action")
    classes = [A, A, A, A, X, X, X, X]
    dropped = build_events(wins(classes), labels, FPS, TimelineConfig(smooth=1), background="no_action")
    check(dropped, [ev("dribble", 0, 17, 0.8)])
    kept = build_events(
        wins(classes), labels, FPS, TimelineConfig(smooth=1, keep_background=True), background="no_action"
    )
    check(kept, [ev("dribble", 0, 17, 0.8), ev("no_action", 18, 35, 0.9)])


def test_segments_are_never_bridged_and_end_where_the_player_was_last_seen():
    first = wins([A, A])  # 0..11
    second = wins([X, X], first=40)  # 40..51
    events = build_events(first + second, LABELS, FPS, TimelineConfig(smooth=1, min_event_s=0.5), segment_ends={1: 51})
    check(events, [ev("dribble", 0, 11, 0.8), ev("shoot", 40, 51, 0.9)])
    timeline = Timeline(LABELS, FPS, TimelineConfig(smooth=1, min_event_s=0.5))
    for w in first:
        timeline.add(w)
    timeline.end_segment(1, 13)  # seen two frames past the last window
    check(timeline.events(), [ev("dribble", 0, 13, 0.8)])


def test_players_are_independent_and_sorted():
    preds = wins([X, X, X], player=7) + wins([A, A, A], player=2)
    events = build_events(preds, LABELS, FPS, TimelineConfig(smooth=3, min_event_s=0.5))
    check(events, [ev("dribble", 0, 15, 0.8, player=2), ev("shoot", 0, 15, 0.9, player=7)])


def test_labels_shown_online_equal_the_final_events():
    """What the video shows at each frame (once settled) is exactly the timeline's event."""
    rng = np.random.default_rng(3)
    classes = [A if rng.random() < 0.6 else X for _ in range(40)]
    config = TimelineConfig(smooth=3, min_event_s=0.6)
    timeline = Timeline(LABELS, FPS, config)
    shown: dict[int, str | None] = {}
    next_frame = 0
    for w in wins(classes):
        timeline.add(w)
        assert timeline.final_until(1) >= next_frame - 1  # never goes back
        while next_frame <= timeline.final_until(1):
            found = timeline.label_at(1, next_frame)
            shown[next_frame] = LABELS[found[0]] if found else None
            next_frame += 1
    timeline.end_segment(1, 4 * 39 + 7)
    while next_frame <= timeline.final_until(1):
        found = timeline.label_at(1, next_frame)
        shown[next_frame] = LABELS[found[0]] if found else None
        next_frame += 1
    expected: dict[int, str | None] = {f: None for f in range(4 * 39 + 8)}
    for e in timeline.events():
        for f in range(e.start_frame, e.end_frame + 1):
            expected[f] = e.action
    assert len(timeline.events()) >= 2  # the random sequence does change action
    assert shown == expected


def test_config_is_validated():
    with pytest.raises(ConfigError, match="^smooth must be an odd number"):
        TimelineConfig(smooth=2)
    with pytest.raises(ConfigError, match="^min_event_s"):
        TimelineConfig(min_event_s=-1)
    with pytest.raises(ConfigError, match="^min_event_s .* got nan"):
        TimelineConfig(min_event_s=float("nan"))
