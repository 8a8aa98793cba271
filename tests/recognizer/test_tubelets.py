"""Tubelet windows: counts, padding of short tracks, bridging of gaps, bounded memory."""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv

from hoopsense.errors import ConfigError
from hoopsense.recognizer.tubelets import (
    SegmentEnd,
    Tubelet,
    TubeletBuilder,
    TubeletConfig,
)

W, H = 320, 240


def frame(i: int) -> np.ndarray:
    """BGR frame whose blue channel encodes the frame index, so crops tell where they came from."""
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 0] = i
    return img


def players(boxes: dict[int, tuple[float, float, float, float]]) -> sv.Detections:
    if not boxes:
        return sv.Detections.empty()
    ids = list(boxes)
    det = sv.Detections(xyxy=np.array([boxes[i] for i in ids], dtype=float), confidence=np.ones(len(ids)))
    det.tracker_id = np.array(ids)
    return det


def run(builder: TubeletBuilder, visible: dict[int, list[int]], n_frames: int, box=(100, 60, 140, 180)):
    out: list[Tubelet | SegmentEnd] = []
    for i in range(n_frames):
        out += builder.push(i, frame(i), players({tid: box for tid, frames in visible.items() if i in frames}))
    return out + builder.finish()


def windows(items) -> list[Tubelet]:
    return [x for x in items if isinstance(x, Tubelet)]


@pytest.mark.parametrize(
    ("length", "expected_starts"),
    [
        (16, [0]),
        (40, [0, 8, 16, 24]),  # windows end at frames 15, 23, 31, 39: nothing left over
        (44, [0, 8, 16, 24, 28]),  # 4 frames uncovered at the end (>= stride / 2): one last window 28..43
        (42, [0, 8, 16, 24]),  # 2 frames left over: not worth a clip
    ],
)
def test_window_count_for_a_known_track_length(length, expected_starts):
    builder = TubeletBuilder(TubeletConfig(clip_len=16, stride=8, resize=32))
    items = run(builder, {1: list(range(length))}, length + 2)
    wins = windows(items)
    assert [w.start_frame for w in wins] == expected_starts
    for w in wins:
        assert w.crops.shape == (16, 32, 32, 3) and w.crops.dtype == np.uint8
        assert list(w.frame_indices) == list(range(w.start_frame, w.start_frame + 16))
        # crops are RGB: the blue channel (index 2) carries the frame index
        assert [int(c[16, 16, 2]) for c in w.crops] == list(w.frame_indices)
    assert items[-1] == SegmentEnd(1, length - 1)


def test_frame_step_spans_more_frames():
    builder = TubeletBuilder(TubeletConfig(clip_len=4, stride=6, frame_step=2, resize=16))
    wins = windows(run(builder, {3: list(range(13))}, 13))
    assert [list(w.frame_indices) for w in wins] == [[0, 2, 4, 6], [6, 8, 10, 12]]


def test_short_track_is_flushed_padded_and_a_tiny_one_is_not():
    builder = TubeletBuilder(TubeletConfig(clip_len=16, stride=8, resize=16, min_fill=0.5))
    items = run(builder, {1: list(range(10)), 2: list(range(5))}, 30)
    wins = windows(items)
    assert len(wins) == 1 and wins[0].track_id == 1
    assert list(wins[0].frame_indices) == list(range(10)) + [9] * 6  # the last crop is held
    assert SegmentEnd(1, 9) in items and SegmentEnd(2, 4) in items


def test_short_gap_is_bridged_with_interpolated_boxes():
    builder = TubeletBuilder(TubeletConfig(clip_len=16, stride=8, resize=16, max_gap=4))
    visible = [i for i in range(20) if i not in (6, 7, 8)]
    out = []
    for i in range(20):
        box = (100 + 2 * i, 60, 140 + 2 * i, 180)  # moving right 2 px a frame
        out += builder.push(i, frame(i), players({1: box} if i in visible else {}))
    wins = windows(out)
    assert [w.start_frame for w in wins] == [0]
    w = wins[0]
    assert list(w.frame_indices) == list(range(16))
    assert w.boxes[7] == pytest.approx([114, 60, 154, 180])  # interpolated at frame 7
    assert int(w.crops[7][8, 8, 2]) == 7  # and cropped from frame 7 itself
    assert not [x for x in out if isinstance(x, SegmentEnd)]


def test_long_gap_ends_the_segment_and_starts_a_new_one():
    builder = TubeletBuilder(TubeletConfig(clip_len=8, stride=4, resize=16, max_gap=3))
    visible = list(range(10)) + list(range(20, 30))
    items = run(builder, {5: visible}, 32)
    ends = [x for x in items if isinstance(x, SegmentEnd)]
    assert ends == [SegmentEnd(5, 9), SegmentEnd(5, 29)]
    starts = [w.start_frame for w in windows(items)]
    assert starts == [0, 2, 20, 22]  # 0..7, last window 2..9, then the new segment
    kinds = [("end", x.last_frame) if isinstance(x, SegmentEnd) else ("win", x.start_frame) for x in items]
    assert kinds.index(("end", 9)) < kinds.index(("win", 20))  # the old segment ends before the new one starts


@pytest.mark.parametrize("gap", [0, 2])
def test_a_jump_ends_the_segment_even_within_the_gap(gap):
    """A player who leaves on the right and comes back on the left (or a camera cut) is not
    interpolated across the picture: the first segment ends, a new one starts where he reappears."""
    builder = TubeletBuilder(TubeletConfig(clip_len=8, stride=4, resize=16, max_gap=4))
    out = []
    for i in range(20 + gap):
        box = (10 + 2 * i, 60, 50 + 2 * i, 180) if i < 10 else (250, 60, 290, 180)  # box height 120
        out += builder.push(i, frame(i), players({} if 10 <= i < 10 + gap else {1: box}))
    out += builder.finish()
    assert [x for x in out if isinstance(x, SegmentEnd)] == [SegmentEnd(1, 9), SegmentEnd(1, 19 + gap)]
    for w in windows(out):  # no window mixes the two places
        centres = (w.boxes[:, 0] + w.boxes[:, 2]) / 2
        assert np.all(centres < 100) or np.all(centres > 260), w.boxes
    # a walk (2 px a frame) over the same gap is bridged
    steady = TubeletBuilder(TubeletConfig(clip_len=8, stride=4, resize=16, max_gap=4))
    items = run(steady, {1: [i for i in range(20) if not 10 <= i < 10 + gap]}, 20)
    assert [x for x in items if isinstance(x, SegmentEnd)] == [SegmentEnd(1, 19)]


@pytest.mark.parametrize("gap", [0, 2])
def test_a_cut_ends_every_segment_and_no_gap_is_bridged_across_it(gap):
    """A player seen on both sides of a camera cut, where nothing else would end his segment (the same place in
    both shots, or a short gap), gets no window mixing the two shots."""
    builder = TubeletBuilder(TubeletConfig(clip_len=8, stride=4, resize=16, max_gap=4))
    out = []
    for i in range(24):
        seen = {} if 12 <= i < 12 + gap else {1: (100, 60, 140, 180), 2: (200, 60, 240, 180)}
        out += builder.push(i, frame(i), players(seen), cut=i == 12 + gap)
    out += builder.finish()
    ends = [x for x in out if isinstance(x, SegmentEnd)]
    assert ends == [SegmentEnd(1, 11), SegmentEnd(2, 11), SegmentEnd(1, 23), SegmentEnd(2, 23)]
    assert {w.track_id for w in windows(out)} == {1, 2}
    for w in windows(out):
        assert np.all(w.frame_indices < 12) or np.all(w.frame_indices >= 12 + gap), w.frame_indices
        assert all(int(c[8, 8, 2]) == i for c, i in zip(w.crops, w.frame_indices, strict=True))  # cut from its frame
    # without the cut the same frames make one segment per player, bridged over the gap
    steady = TubeletBuilder(TubeletConfig(clip_len=8, stride=4, resize=16, max_gap=4))
    items = run(steady, {1: [i for i in range(24) if not 12 <= i < 12 + gap]}, 24)
    assert [x for x in items if isinstance(x, SegmentEnd)] == [SegmentEnd(1, 23)]


def test_memory_per_track_is_bounded_by_the_clip_span():
    builder = TubeletBuilder(TubeletConfig(clip_len=8, stride=4, resize=16, max_gap=2))
    for i in range(200):
        builder.push(i, frame(i), players({1: (10, 10, 50, 90), 2: (200, 10, 240, 90)}))
    assert builder.active_tracks == 2
    assert all(len(t.frames) <= 8 for t in builder._tracks.values())
    assert len(builder._recent) <= 2


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match=r"^clip_len must be in \[1, 256\], got 0") as err:
        TubeletConfig(clip_len=0)
    assert err.value.field == "TubeletConfig.clip_len"
    with pytest.raises(ConfigError, match="^stride") as err:
        TubeletConfig(stride=0)
    assert err.value.field == "TubeletConfig.stride"
