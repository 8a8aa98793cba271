"""The ``hoopsense`` command: outputs, options and every expected error."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import ShapeDetector, cli_with
from synth import make_video

from hoopsense.cli import main
from hoopsense.video import probe


def run_cli(*args):
    return main([str(a) for a in args])


def test_analyze_writes_video_tracks_mot_and_run_json(tmp_path, shapes_video, cli, capsys):
    out = tmp_path / "annotated.mp4"
    assert cli("analyze", shapes_video, "--out", out, "--min-track-frames", "3") == 0
    meta, got = probe(shapes_video), probe(out)
    assert (got.width, got.height, got.n_frames, got.fps) == (meta.width, meta.height, meta.n_frames, meta.fps)
    assert got.has_audio
    with open(tmp_path / "annotated.tracks.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["frame", "time_s", "player_id", "track_id", "team", "x1", "y1", "x2", "y2", "confidence"]
    ids = {int(r["player_id"]) for r in rows}
    assert len(ids) >= 3 and min(ids) == 1
    for r in rows:
        assert float(r["time_s"]) == pytest.approx(int(r["frame"]) / 25, abs=1e-3)
        assert float(r["x1"]) < float(r["x2"]) and float(r["y1"]) < float(r["y2"])
    mot = (tmp_path / "annotated.mot.txt").read_text().splitlines()
    assert len(mot) == len(rows)
    first = mot[0].split(",")
    assert int(first[0]) == int(rows[0]["frame"]) + 1 and len(first) == 10  # MOT frames are 1-based
    run = json.loads((tmp_path / "annotated.run.json").read_text())
    assert run["frames"] == 40 and run["partial"] is False and len(run["players"]) == len(ids)
    text = capsys.readouterr().out
    assert "players found" in text and "fps" in text
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def test_annotated_video_shows_player_marks(tmp_path, shapes_video, cli):
    out = tmp_path / "a.mp4"
    assert cli("analyze", shapes_video, "--out", out, "--min-track-frames", "3", "--quiet") == 0
    from hoopsense.video import VideoReader

    with VideoReader(shapes_video) as r1, VideoReader(out) as r2:
        diffs = [abs(a.image.astype(int) - b.image.astype(int)).mean() for a, b in zip(r1, r2)]
    assert max(diffs[10:]) > 3  # ellipses and labels were drawn


def test_no_video_and_explicit_track_paths(tmp_path, shapes_video, cli):
    tracks, mot = tmp_path / "t.csv", tmp_path / "m.txt"
    code = cli(
        "analyze",
        shapes_video,
        "--no-video",
        "--out",
        tmp_path / "base.mp4",
        "--tracks",
        tracks,
        "--mot",
        mot,
        "--quiet",
    )
    assert code == 0 and tracks.exists() and mot.exists()
    assert not (tmp_path / "base.mp4").exists()


def test_start_end_limit_the_range(tmp_path, shapes_video, cli):
    out = tmp_path / "part.mp4"
    assert (
        cli(
            "analyze",
            shapes_video,
            "--out",
            out,
            "--start",
            "0.4",
            "--end",
            "1.2",
            "--min-track-frames",
            "2",
            "--quiet",
        )
        == 0
    )
    assert probe(out).n_frames == 20
    with open(tmp_path / "part.tracks.csv") as fh:
        frames = {int(r["frame"]) for r in csv.DictReader(fh)}
    assert min(frames) >= 10 and max(frames) < 30


def _assert_error(capsys, code, pattern):
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error:"), err
    assert pattern in " ".join(lines)


def test_missing_empty_and_non_video_inputs(tmp_path, capsys, cli):
    _assert_error(capsys, cli("analyze", tmp_path / "nope.mp4", "--out", tmp_path / "o.mp4"), "not found")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    _assert_error(capsys, cli("analyze", empty, "--out", tmp_path / "o.mp4"), "empty")
    text = tmp_path / "x.mp4"
    text.write_text("hello\n" * 50)
    _assert_error(capsys, cli("analyze", text, "--out", tmp_path / "o.mp4"), "cannot read")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.mp4", "x.mp4"]


def test_truncated_input_leaves_no_output(tmp_path, capsys, cli):
    src = make_video(tmp_path / "src.mp4", n_frames=80)
    full = tmp_path / "full.mp4"
    assert cli("analyze", src, "--out", full, "--quiet", "--min-track-frames", "2") == 0
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    _assert_error(capsys, cli("analyze", cut, "--out", out_dir / "o.mp4", "--quiet"), "truncated")
    assert list(out_dir.iterdir()) == []


def test_missing_output_folders_are_created(tmp_path, shapes_video, cli):
    out = tmp_path / "no" / "dir" / "o.mp4"
    assert cli("analyze", shapes_video, "--out", out, "--quiet") == 0
    assert out.is_file() and out.with_name("o.tracks.csv").is_file()


def test_failed_run_removes_the_folders_it_created(tmp_path, shapes_video, capsys):
    cli = cli_with(ShapeDetector(blind=True))
    _assert_error(
        capsys, cli("analyze", shapes_video, "--out", tmp_path / "new" / "o.mp4", "--quiet"), "no players found"
    )
    assert not (tmp_path / "new").exists()


def test_unwritable_output(tmp_path, shapes_video, capsys, cli):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        # root ignores folder permissions: /proc refuses new files even to root
        target = locked if not os.access(locked, os.W_OK) else Path("/proc")
        _assert_error(capsys, cli("analyze", shapes_video, "--out", target / "o.mp4"), "cannot write")
    finally:
        locked.chmod(0o700)


def test_output_must_be_mp4_and_out_required(tmp_path, shapes_video, capsys):
    _assert_error(capsys, run_cli("analyze", shapes_video, "--out", tmp_path / "o.txt"), ".mp4")
    _assert_error(capsys, run_cli("analyze", shapes_video), "--out is required")


def test_bad_ranges(tmp_path, shapes_video, capsys, cli):
    _assert_error(
        capsys, cli("analyze", shapes_video, "--out", tmp_path / "o.mp4", "--start", "2", "--end", "1"), "--end"
    )
    _assert_error(capsys, cli("analyze", shapes_video, "--out", tmp_path / "o.mp4", "--start", "99"), "past the end")


def test_missing_and_corrupt_weights(tmp_path, shapes_video, capsys):
    _assert_error(
        capsys,
        run_cli("analyze", shapes_video, "--out", tmp_path / "o.mp4", "--detector", tmp_path / "none.pt"),
        "detector weights not found",
    )
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage" * 100)
    _assert_error(
        capsys,
        run_cli("analyze", shapes_video, "--out", tmp_path / "o.mp4", "--detector", bad),
        "cannot load detector weights",
    )
    _assert_error(
        capsys,
        run_cli("analyze", shapes_video, "--out", tmp_path / "o.mp4", "--detector", "yolo11n.pt"),
        "HOOPSENSE_OFFLINE",
    )
    assert not list(tmp_path.glob("o*"))


def test_no_players_found_is_an_error_without_outputs(tmp_path, shapes_video, capsys, monkeypatch):
    cli = cli_with(ShapeDetector(blind=True))
    _assert_error(capsys, cli("analyze", shapes_video, "--out", tmp_path / "o.mp4", "--quiet"), "no players found")
    assert not list(tmp_path.glob("o*"))


def test_ctrl_c_leaves_valid_partial_outputs(tmp_path, capsys, monkeypatch):
    src = make_video(tmp_path / "long.mp4", n_frames=60, audio="aac")
    cli = cli_with(ShapeDetector(interrupt_at=33, batch_size=1))
    out = tmp_path / "game.mp4"
    code = cli("analyze", src, "--out", out, "--min-track-frames", "2", "--det-batch-size", "1", "--quiet")
    err = capsys.readouterr().err
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "game.tracks.csv").exists()
    partial = tmp_path / "game.partial.mp4"
    assert probe(partial).n_frames == 32
    with open(tmp_path / "game.tracks.partial.csv") as fh:
        frames = [int(r["frame"]) for r in csv.DictReader(fh)]
    assert frames and max(frames) == 31
    run = json.loads((tmp_path / "game.run.partial.json").read_text())
    assert run["partial"] is True and run["frames"] == 32


# A process that gets a real SIGINT while it draws its 20th frame (the fake detector stands in for YOLO)
CTRL_C_WHILE_DRAWING = """
import signal, sys
sys.path.insert(0, sys.argv[1])
from fakes import ShapeDetector, cli_with
from hoopsense.pipeline import analyze
draw, calls = analyze.Renderer.draw, []
def draw_then_ctrl_c(self, *args, **kwargs):
    calls.append(1)
    if len(calls) == 20:
        signal.raise_signal(signal.SIGINT)
    return draw(self, *args, **kwargs)
analyze.Renderer.draw = draw_then_ctrl_c
sys.exit(cli_with(ShapeDetector(batch_size=1))(*sys.argv[2:]))
"""


def test_ctrl_c_during_a_frame_loses_no_frame_from_the_partial_video(tmp_path):
    """A real SIGINT while a frame is being drawn: that frame and those after it still agree.

    The frames the tracker still holds are written out after Ctrl-C; a frame dropped in the
    middle shifted every later video frame against its track rows. Run in its own process, as a
    user's Ctrl-C meets it.
    """
    src = make_video(tmp_path / "long.mp4", n_frames=60)
    out = tmp_path / "game.mp4"
    args = ["analyze", src, "--out", out, "--min-track-frames", "1", "--det-batch-size", "1", "--quiet"]
    result = subprocess.run(
        [sys.executable, "-c", CTRL_C_WHILE_DRAWING, Path(__file__).parent, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 130 and "interrupted" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    frames = probe(tmp_path / "game.partial.mp4").n_frames
    assert 20 <= frames < 60
    with open(tmp_path / "game.tracks.partial.csv") as fh:
        rows = {int(r["frame"]) for r in csv.DictReader(fh)}
    assert rows == set(range(min(rows), frames))  # the tracker confirms its first players after a frame or two


def test_weights_list_and_version(capsys):
    assert run_cli("weights", "list") == 0
    out = capsys.readouterr().out
    assert "yolo11n.pt" in out and "cache folder" in out
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["analyze"])
    assert exc.value.code == 2


def test_python_dash_m_entry_point(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "hoopsense", "analyze", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o.mp4")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "error:" in result.stderr and "not found" in result.stderr and "Traceback" not in result.stderr


def test_detector_input_is_scaled_but_boxes_are_in_frame_pixels(tmp_path, monkeypatch):
    src = make_video(tmp_path / "big.mp4", n_frames=30, width=320, height=192)
    small = ShapeDetector(downscale=2)
    cli = cli_with(small)
    assert cli("analyze", src, "--no-video", "--out", tmp_path / "s", "--min-track-frames", "3", "--quiet") == 0
    assert small.sizes == {(160, 96)}
    cli = cli_with(ShapeDetector())
    assert cli("analyze", src, "--no-video", "--out", tmp_path / "f", "--min-track-frames", "3", "--quiet") == 0
    from hoopsense.pipeline.export import read_tracks_csv

    a, b = read_tracks_csv(tmp_path / "s.tracks.csv"), read_tracks_csv(tmp_path / "f.tracks.csv")
    assert len(a["frame"]) == len(b["frame"]) > 0
    for key in ("x1", "y1", "x2", "y2"):
        assert abs(a[key] - b[key]).max() <= 4  # same boxes, within the half-size rounding


def test_out_of_range_options_are_one_line_errors(tmp_path, shapes_video, capsys, cli):
    for option, value, pattern in (
        ("--crf", "99", "--crf must be in [0, 51]"),
        ("--imgsz", "100", "--imgsz must be"),
        ("--min-track-frames", "0", "--min-track-frames must be in [1, 10000]"),
        ("--det-batch-size", "0", "--det-batch-size must be in [1, 256]"),
        ("--court", "1,2,3", "--court"),
    ):
        _assert_error(capsys, cli("analyze", shapes_video, "--out", tmp_path / "o.mp4", option, value), pattern)
    assert not list(tmp_path.glob("o*"))


def test_cuda_requested_without_cuda(tmp_path, shapes_video, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    _assert_error(
        capsys,
        run_cli("analyze", shapes_video, "--out", tmp_path / "o.mp4", "--detector", onnx, "--device", "cuda"),
        "no CUDA device",
    )


def test_the_summary_says_how_fragments_became_people_and_who_was_left_out():
    from hoopsense.cli import identity_summary

    identity = {
        "linking": True, "fragments": 17, "identities": 15, "keep_referees": False, "keep_crowd": False,
        "team_counts": {"A": 4, "B": 5, "crowd": 4, "referee": 2},
    }  # fmt: skip
    assert identity_summary(identity) == (
        "17 track fragments linked into 15 people; team A 4, team B 5; "
        "left out: 2 referees (--keep-referees keeps them), 4 in the crowd (--keep-crowd keeps them)"
    )
    swapped = identity_summary({**identity, "fragments": 23, "swaps": 3})
    assert swapped.startswith("23 track fragments linked into 15 people (3 swapped pairs of IDs given back); ")
    assert "(1 swapped pair of IDs given back)" in identity_summary({**identity, "swaps": 1})
    both = identity_summary({**identity, "swaps": 1, "reclaims": 2})
    assert "(1 swapped pair of IDs given back, 2 IDs taken back from a track that drifted onto another player)" in both
    assert "(1 ID taken back from a track" in identity_summary({**identity, "reclaims": 1})
    kept = {**identity, "keep_referees": True, "keep_crowd": True, "linking": False}
    assert identity_summary(kept) == "team A 4, team B 5"
    assert identity_summary({"linking": False, "teams": False}) == "" and identity_summary(None) == ""
