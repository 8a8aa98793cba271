"""``analyze --recognizer`` on synthetic video with a stand-in detector and a tiny random recognizer."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from fakes import ShapeDetector, cli_with, detections
from recognizers import make_checkpoint
from synth import make_video

from hoopsense.cli import main
from hoopsense.pipeline.export import read_timeline_csv, read_tracks_csv
from hoopsense.pipeline.render import Renderer

FPS = 25


def run_cli(*args) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    # no background class: every settled window yields an event, whatever the random weights say
    return make_checkpoint(
        tmp_path_factory.mktemp("ckpt") / "tiny.pt", labels=("dribble", "shoot", "pass"), background=None
    )


@pytest.fixture
def video(tmp_path):
    return make_video(tmp_path / "game.mp4", n_frames=60, width=192, height=108)


@pytest.fixture
def drawn(monkeypatch):
    """Records the action (class index, confidence) drawn next to each player, per frame."""
    frames: list[dict[int, tuple[int, float]]] = []

    class Recording(Renderer):
        def draw(self, image, players, extra=None, colours=None, **options):
            frames.append(dict(extra or {}))
            return super().draw(image, players, extra, colours, **options)

    monkeypatch.setattr("hoopsense.pipeline.analyze.Renderer", Recording)
    return frames


def test_actions_reach_the_video_and_the_timeline_files(tmp_path, video, checkpoint, cli, drawn, capsys):
    out = tmp_path / "out" / "game.mp4"
    out.parent.mkdir()
    code = cli(
        "analyze",
        video,
        "--out",
        out,
        "--recognizer",
        checkpoint,
        "--min-track-frames",
        "3",
        "--min-event-s",
        "0.2",
        "--batch-size",
        "3",
    )
    assert code == 0, capsys.readouterr().err
    tracks = read_tracks_csv(out.with_name("game.tracks.csv"))
    events = read_timeline_csv(out.with_name("game.timeline.csv"))
    with open(out.with_name("game.timeline.csv")) as fh:
        assert next(csv.reader(fh)) == [
            "player_id",
            "action",
            "start_frame",
            "end_frame",
            "start_s",
            "end_s",
            "duration_s",
            "confidence",
            "team",
        ]
    assert events, "the recognizer produced no events"
    for e in events:
        rows = tracks["frame"][tracks["player_id"] == e["player_id"]]
        assert len(rows), f"event of unknown player {e['player_id']}"
        assert rows.min() <= e["start_frame"] <= e["end_frame"] <= rows.max()
        assert e["start_s"] == pytest.approx(e["start_frame"] / FPS, abs=1e-3)
        assert e["end_s"] == pytest.approx((e["end_frame"] + 1) / FPS, abs=1e-3)
        assert e["duration_s"] == pytest.approx(e["end_s"] - e["start_s"], abs=1e-3)
        assert e["duration_s"] >= 0.2 - 1e-6
        assert e["action"] in ("dribble", "shoot", "pass") and 0 < e["confidence"] <= 1
    # the video shows, frame by frame, exactly the action of the timeline, on every frame the player is seen
    # (an event bridges a frame or two where the detector missed the player: nothing is drawn there)
    assert len(drawn) == 60  # one entry per video frame, from frame 0
    seen = {(int(f), int(p)) for f, p in zip(tracks["frame"], tracks["player_id"], strict=True)}
    expected = 0
    for e in events:
        for f in range(e["start_frame"], e["end_frame"] + 1):
            if (f, e["player_id"]) not in seen:
                assert e["player_id"] not in drawn[f], (f, e)
                continue
            expected += 1
            index, confidence = drawn[f].get(e["player_id"], (-1, 0.0))
            assert index == ("dribble", "shoot", "pass").index(e["action"]), (f, e, index)  # label and colour index
            assert 0 < confidence <= 1
    assert expected >= 0.9 * sum(e["end_frame"] - e["start_frame"] + 1 for e in events)
    assert sum(len(d) for d in drawn) == expected
    doc = json.loads(out.with_name("game.timeline.json").read_text())
    assert doc["labels"] == ["dribble", "shoot", "pass"] and doc["fps"] == FPS
    assert {p["player_id"] for p in doc["players"]} == set(tracks["player_id"].tolist())
    for p in doc["players"]:
        mine = [e for e in events if e["player_id"] == p["player_id"]]
        assert len(p["events"]) == len(mine)
        assert sum(s["events"] for s in p["summary"].values()) == len(mine)
        for action, s in p["summary"].items():
            total = sum(e["duration_s"] for e in mine if e["action"] == action)
            assert s["duration_s"] == pytest.approx(total, abs=1e-3)
    run = json.loads(out.with_name("game.run.json").read_text())
    assert (
        run["recognizer"]["clip_len"] == 4 and run["recognizer"]["stride"] == 4
    )  # one clip span: every frame in one clip
    assert run["recognizer"]["clips_classified"] > 0 and run["events"] == len(events)
    assert "actions" in capsys.readouterr().out


def test_clip_options_change_the_windows(tmp_path, video, checkpoint, cli):
    out = tmp_path / "g.mp4"
    assert (
        cli(
            "analyze",
            video,
            "--no-video",
            "--out",
            out,
            "--recognizer",
            checkpoint,
            "--clip-len",
            "8",
            "--stride",
            "8",
            "--quiet",
        )
        == 0
    )
    run = json.loads((tmp_path / "g.run.json").read_text())
    assert (run["recognizer"]["clip_len"], run["recognizer"]["stride"]) == (8, 8)
    import torch

    assert run["recognizer"]["batch_size"] == (16 if torch.cuda.is_available() else 1)  # measured best per device
    assert not (tmp_path / "g.mp4").exists()
    assert (tmp_path / "g.timeline.json").exists()


def test_tracking_only_run_says_so_once_and_writes_no_timeline(tmp_path, video, cli, capsys):
    assert cli("analyze", video, "--out", tmp_path / "t.mp4") == 0
    err = capsys.readouterr().err
    assert err.count("tracking only") == 1
    assert not list(tmp_path.glob("*.timeline.*"))


def test_video_shorter_than_a_clip_is_an_error_and_writes_nothing(tmp_path, checkpoint, cli, capsys):
    short = make_video(tmp_path / "short.mp4", n_frames=10)
    code = cli("analyze", short, "--out", tmp_path / "o.mp4", "--recognizer", checkpoint, "--clip-len", "16")
    err = capsys.readouterr().err
    assert code == 1 and "has 10 frames but the recognizer needs clips of 16 frames" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.mp4"]


class BlinkingDetector(ShapeDetector):
    """Sees the players for 6 frames, then misses them for 12 (longer than a bridgeable gap)."""

    def detect(self, images, *, bgr=False, scale=1.0):
        found = super().detect(images, bgr=bgr, scale=scale)
        return [
            d if (self.frames_seen - len(images) + k) % 18 < 6 else detections(np.empty((0, 4)))
            for k, d in enumerate(found)
        ]


def test_players_seen_too_briefly_are_an_error_and_write_nothing(tmp_path, video, checkpoint, monkeypatch, capsys):
    cli = cli_with(BlinkingDetector())
    code = cli(
        "analyze",
        video,
        "--out",
        tmp_path / "o.mp4",
        "--recognizer",
        checkpoint,
        "--clip-len",
        "16",
        "--min-track-frames",
        "2",
    )
    err = capsys.readouterr().err
    assert code == 1 and "no player was visible long enough to classify: clips need 16 frames" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["game.mp4"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clip-len", "8"], "--clip-len needs a recognizer"),
        (["--recognizer", "missing.pt"], "recognizer checkpoint not found: 'missing.pt'"),
        (["--recognizer", "{bad}"], "not a PyTorch checkpoint"),
        (["--recognizer", "{ckpt}", "--smooth", "4"], "--smooth must be an odd number"),
        (["--recognizer", "{ckpt}", "--batch-size", "0"], "--batch-size must be in"),
    ],
)
def test_bad_recognizer_options_are_one_line_errors(tmp_path, video, checkpoint, cli, capsys, args, message):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    args = [a.replace("{bad}", str(bad)).replace("{ckpt}", str(checkpoint)) for a in args]
    code = cli("analyze", video, "--out", tmp_path / "o.mp4", *args)
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err
    assert not list(tmp_path.glob("o*"))


def test_interrupted_run_keeps_a_partial_timeline(tmp_path, video, checkpoint, monkeypatch, capsys):
    cli = cli_with(ShapeDetector(interrupt_at=41))
    code = cli(
        "analyze",
        video,
        "--out",
        tmp_path / "o.mp4",
        "--recognizer",
        checkpoint,
        "--min-track-frames",
        "3",
        "--min-event-s",
        "0.2",
    )
    assert code == 130
    doc = json.loads((tmp_path / "o.timeline.partial.json").read_text())
    assert doc["partial"] is True
    assert (tmp_path / "o.timeline.partial.csv").exists() and not (tmp_path / "o.timeline.csv").exists()


def test_inspect_prints_the_metadata(checkpoint, capsys):
    assert run_cli("inspect", checkpoint) == 0
    out = capsys.readouterr().out
    assert "r2plus1d_18" in out and "0:dribble, 1:shoot, 2:pass" in out and "4 frames" in out
    assert run_cli("inspect", checkpoint, "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["labels"] == ["dribble", "shoot", "pass"] and doc["crop_size"] == 32


def test_inspect_rejects_a_file_that_is_not_a_checkpoint(tmp_path, capsys):
    bad = tmp_path / "x.pt"
    bad.write_text("hello")
    assert run_cli("inspect", bad) == 1
    err = capsys.readouterr().err
    assert "not a PyTorch checkpoint" in err and len(err.strip().splitlines()) == 1
