"""The public Python API: the README's example on a real clip, streaming, loading a run."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import FOOTAGE, ONNX_DETECTOR, need_asset
from recognizers import make_checkpoint

import hoopsense.api as hs

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    section = text[text.index("## Python API") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_readme_example_runs_on_a_real_clip(tmp_path, capsys):
    """The README's code, as it is, with its file names pointing at a real clip, the int8 detector
    and a small random recognizer."""
    video = tmp_path / "game.mp4"
    video.symlink_to(need_asset(FOOTAGE / "nba_broadcast_wide_854x480.mp4"))
    make_checkpoint(tmp_path / "model.pt", architecture="mc3_18", clip_len=8)
    code = readme_example().replace('"yolo11n.pt"', repr(str(need_asset(ONNX_DETECTOR))))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert (tmp_path / "out" / "game.mp4").is_file() and (tmp_path / "out" / "game.timeline.json").is_file()
    run = hs.load_run(tmp_path / "out")
    assert run.record.frames == 90 and run.record.recognizer["labels"] == ["dribble", "shoot", "no_action"]
    assert len(run.tracks["frame"]) > 0 and set(run.tracks) >= {"frame", "player_id", "x1", "y2"}
    assert any(re.match(r"^\d+ \d+ (dribble|shoot|no_action) [\d.]+$", line) for line in out.splitlines())


def test_stream_yields_every_frame_with_its_players(shapes_video, fake_detector):
    frames = list(
        hs.stream(
            shapes_video,
            detector=fake_detector,
            options=hs.AnalyzeOptions(tracker=hs.TrackerConfig(min_track_frames=3)),
            images=True,
        )
    )
    assert [f.index for f in frames] == list(range(40))
    assert all(f.image is not None and f.image.shape == (96, 160, 3) for f in frames)
    assert max(len(f.players) for f in frames) == 3
    assert all(f.players.tracker_id is not None for f in frames) and not any(f.actions for f in frames)


def test_stream_with_a_recognizer_gives_actions(tmp_path, fake_detector):
    from synth import make_video

    video = make_video(tmp_path / "g.mp4", n_frames=30, width=192, height=108)
    checkpoint = make_checkpoint(tmp_path / "m.pt", labels=("dribble", "shoot", "pass"), background=None)
    options = hs.AnalyzeOptions(tracker=hs.TrackerConfig(min_track_frames=2))
    frames = list(hs.stream(video, recognizer=checkpoint, options=options, detector=fake_detector))
    assert [f.index for f in frames] == list(range(30))
    labelled = [(a, c) for f in frames for a, c in f.actions.values()]
    assert labelled and all(a in ("dribble", "shoot", "pass") and 0 < c <= 1 for a, c in labelled)


def test_analyze_returns_files_and_player_summaries(tmp_path, shapes_video, fake_detector):
    result = hs.analyze(
        shapes_video,
        tmp_path / "new" / "g.mp4",
        detector=fake_detector,
        render=False,
        options=hs.AnalyzeOptions(tracker=hs.TrackerConfig(min_track_frames=3)),
    )
    names = sorted(p.name for p in result.outputs if p.parent.name != "g.players")
    assert names == ["g.mot.txt", "g.run.json", "g.tracks.csv"]
    thumbnails = sorted(p.name for p in result.outputs if p.parent.name == "g.players")
    assert thumbnails == [f"player-{pid}.jpg" for pid in sorted(result.players, key=str)]
    summaries = result.player_summaries()
    assert len(summaries) == len(result.players) >= 3
    assert all(s["frames"] > 0 and s["seconds_visible"] == pytest.approx(s["frames"] / 25, abs=1e-3) for s in summaries)
    run = hs.load_run(tmp_path / "new")
    assert np.array_equal(np.unique(run.tracks["player_id"]), np.array(sorted(result.players)))
    assert run.events == []


def test_option_errors_name_the_field():
    with pytest.raises(hs.HoopsenseError, match=r"^batch_size must be in \[1, 256\], got 0"):
        hs.DetectorConfig(batch_size=0)
    with pytest.raises(hs.HoopsenseError, match="^end_s must be a finite number, got nan"):
        hs.AnalyzeOptions(end_s=float("nan"))
