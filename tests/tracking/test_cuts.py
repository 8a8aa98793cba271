"""Camera cuts: found in the stream, and the tracker starts afresh at each, so no track crosses one."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
from conftest import FOOTAGE, need_asset
from fakes import ShapeDetector, cli_with, detections
from recognizers import make_checkpoint
from synth import shapes_frame

from hoopsense.tracking.cuts import CutDetector
from hoopsense.tracking.players import PlayerTracker, TrackerConfig
from hoopsense.video import VideoWriter


def _texture(seed: int, height: int = 180, width: int = 640) -> np.ndarray:
    """A smooth random BGR picture (a stand-in for a court seen by one camera)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 20, width // 20, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def _cuts(frames: list[np.ndarray], fps: float = 25.0) -> list[int]:
    detector = CutDetector(fps)
    return [cut for i, frame in enumerate(frames) for cut in detector.push(i, frame)]


def test_a_cut_is_found_at_the_first_frame_of_the_new_shot():
    first, second = _texture(1), _texture(2)
    frames = [np.roll(first, 2 * i, axis=1)[:, :320] for i in range(40)]  # a slow pan, then the other camera
    frames += [np.roll(second, 2 * i, axis=1)[:, :320] for i in range(40)]
    assert _cuts(frames) == [40]


def test_a_fast_pan_is_no_cut():
    scene = _texture(3, width=2400)
    frames = [scene[:, 30 * i : 30 * i + 320] for i in range(60)]  # a tenth of the frame every frame
    assert _cuts(frames) == []


def test_the_cut_comes_at_most_lookahead_frames_late():
    first, second = _texture(4)[:, :320], _texture(5)[:, :320]
    detector = CutDetector(30.0)
    seen = {}
    for i in range(60):
        for cut in detector.push(i, first if i < 30 else second):
            seen[cut] = i
    assert list(seen) == [30] and seen[30] - 30 <= CutDetector.lookahead


def test_after_a_reset_the_tracker_gives_ids_never_given_before():
    tracker = PlayerTracker(TrackerConfig(confirm_frames=1), frame_width=854, frame_height=480, fps=30)
    boxes = [[100, 100, 160, 260], [400, 120, 460, 280]]
    before = set()
    for i in range(5):
        before |= set(tracker.update(detections([[x + 2 * i, y, u + 2 * i, v] for x, y, u, v in boxes])).tracker_id)
    tracker.reset()
    after = set()
    for i in range(5, 10):
        after |= set(tracker.update(detections([[x + 2 * i, y, u + 2 * i, v] for x, y, u, v in boxes])).tracker_id)
    assert len(before) == 2 and len(after) == 2
    assert min(after) > max(before)


def _video_with_a_cut(path, cut: int = 30, n: int = 60):
    """Shapes moving on a brown floor, then the same shapes, where they were, on a green floor (none of them
    wraps around the frame between frames 29 and 35)."""
    with VideoWriter(path, 320, 192, 25) as writer:
        for i in range(n):
            rgb = shapes_frame(i, 320, 192)
            if i >= cut:
                floor = (rgb == (150, 110, 70)).all(axis=2)
                rgb[floor] = (40, 150, 60)
            writer.write(rgb)
    return path


def _fragments(path) -> tuple[set[str], set[str]]:
    """The tracker fragments of the last frame before the cut and of a frame after it (once new tracks are
    confirmed)."""
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    return {r["track_id"] for r in rows if r["frame"] == "29"}, {r["track_id"] for r in rows if r["frame"] == "35"}


def test_no_track_is_carried_across_a_cut(tmp_path, capsys):
    video = _video_with_a_cut(tmp_path / "cut.mp4")
    cli = cli_with(ShapeDetector())
    common = ("--no-video", "--min-track-frames", "2", "--quiet")
    assert cli("analyze", video, "--out", tmp_path / "on.mp4", *common) == 0
    before, after = _fragments(tmp_path / "on.tracks.csv")
    assert len(before) == 3 and len(after) == 3 and not before & after
    run = json.loads((tmp_path / "on.run.json").read_text())
    assert run["cuts"] == [30] and run["tracker"]["cuts"] is True

    # off, the tracker carries the shapes' tracks on through the cut
    assert cli("analyze", video, "--out", tmp_path / "off.mp4", *common, "--cuts", "off") == 0
    before, after = _fragments(tmp_path / "off.tracks.csv")
    assert before == after and len(before) == 3
    assert json.loads((tmp_path / "off.run.json").read_text())["cuts"] == []

    # from a later start, the cut keeps its frame number in the video
    assert cli("analyze", video, "--out", tmp_path / "late.mp4", *common, "--start", "0.4") == 0
    assert json.loads((tmp_path / "late.run.json").read_text())["cuts"] == [30]
    before, after = _fragments(tmp_path / "late.tracks.csv")
    assert len(before) == 3 and len(after) == 3 and not before & after


def test_no_clip_and_no_event_spans_a_cut(tmp_path):
    """The shapes keep their identities across the cut (they look the same), but a recognizer's clip of frames of
    both shots would be of no action: the clips cut for labelling and the timeline's events end at the cut."""
    video = _video_with_a_cut(tmp_path / "cut.mp4")
    cli = cli_with(ShapeDetector())

    def across(spans) -> tuple[list, set]:  # spans crossing the cut; players with spans on both sides
        spans = list(spans)
        before = {p for p, _, last in spans if last < 30}
        return [s for s in spans if s[1] < 30 <= s[2]], before & {p for p, first, _ in spans if first >= 30}

    assert cli("clips", video, "--out", tmp_path / "clips", "--clip-len", "8", "--size", "32", "--quiet") == 0
    with open(tmp_path / "clips" / "clips.csv") as fh:
        crossing, both = across(
            (r["player_id"], int(r["start_frame"]), int(r["end_frame"])) for r in csv.DictReader(fh)
        )
    assert crossing == [] and both

    checkpoint = make_checkpoint(tmp_path / "tiny.pt", labels=("dribble", "shoot", "pass"), background=None)
    out = tmp_path / "rec.mp4"
    assert cli("analyze", video, "--out", out, "--no-video", "--recognizer", checkpoint, "--min-track-frames", "2",
               "--min-event-s", "0.2", "--quiet") == 0  # fmt: skip
    with open(tmp_path / "rec.timeline.csv") as fh:
        crossing, both = across(
            (r["player_id"], int(r["start_frame"]), int(r["end_frame"])) for r in csv.DictReader(fh)
        )
    assert crossing == [] and both


def test_the_gym_clip_cuts_and_none_in_the_nba_clip():
    """The 1080p gym clip changes camera twice (checked by eye: frames 55|56 and 115|116 are other views); the
    NBA clip pans across the court and has no cut."""
    found = {}
    for name in ("gym_warmup_1080p.mp4", "nba_broadcast_wide_854x480.mp4"):
        cap = cv2.VideoCapture(str(need_asset(FOOTAGE / name)))
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(cv2.resize(frame, (320, 320 * frame.shape[0] // frame.shape[1])))
        cap.release()
        found[name] = _cuts(frames, fps=25.0)
    assert found == {"gym_warmup_1080p.mp4": [56, 116], "nba_broadcast_wide_854x480.mp4": []}
