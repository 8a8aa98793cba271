"""``hoopsense batch`` on real clips in local worker processes: outputs equal to ``analyze``, resume,
retry after a killed worker, failures reported, the season summary (slow-ish: a few seconds per game)."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ASSETS, FOOTAGE, need_asset
from recognizers import make_checkpoint
from workers import WorkerKiller

from hoopsense.batch.games import find_games
from hoopsense.batch.summary import distance_body_heights
from hoopsense.cli import main
from hoopsense.errors import ConfigError

DETECTOR = ASSETS / "detector" / "yolov8n_int8_openvino_model"
CLIPS = ("euroball_pass.mp4", "practice_3players_1280x720.mp4")


def _clips() -> list[str]:
    need_asset(DETECTOR)
    return [str(need_asset(FOOTAGE / c)) for c in CLIPS]


def _batch(games, out, *extra: str) -> int:
    return main(["batch", *games, "--out", str(out), "--detector", str(DETECTOR), "--end", "1", "--no-video", *extra])


# ------------------------------------------------------------------ which games


def test_games_from_files_folders_patterns_and_lists(tmp_path):
    for sub in ("home", "away"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "g1.mp4").write_bytes(b"x")
    (tmp_path / "home" / "notes.txt").write_text("not a list of games?")
    (tmp_path / "home" / "g2.MOV").write_bytes(b"x")
    listing = tmp_path / "season.txt"
    listing.write_text("# the season\nhome/g2.MOV\naway/*.mp4  # away games\n\n")
    games = find_games([str(tmp_path / "home" / "g1.mp4"), str(listing), str(tmp_path / "home")])
    assert [g.video.name for g in games] == ["g1.mp4", "g2.MOV", "g1.mp4"]  # each video once, in order given
    assert [g.name for g in games] == ["home_g1", "g2", "away_g1"]  # equal stems get their folder's name
    with pytest.raises(ConfigError, match="no video matches"):
        find_games([str(tmp_path / "*.mkv")])
    with pytest.raises(ConfigError, match="not found"):
        find_games([str(tmp_path / "missing.mp4")])
    (tmp_path / "scores.csv").write_text("x")
    with pytest.raises(ConfigError, match="neither a video"):
        find_games([str(tmp_path / "scores.csv")])


def test_distance_in_body_heights_counts_steps_in_view_only():
    fps = 10.0
    frames = np.arange(0, 40)
    x = frames * 2.0  # 2 px per frame = 10 px per half second, box 100 px high: 0.1 body height per half second
    d = distance_body_heights(frames, x, np.zeros(40), x + 20, np.full(40, 100.0), fps)
    assert d == pytest.approx(0.1 * 7)  # 8 half-second samples, 7 steps
    # a gap of 3 s out of view adds nothing, however far the player moved meanwhile
    gap = np.concatenate([frames, frames + 70])
    xs = np.concatenate([x, x + 500])
    d2 = distance_body_heights(gap, xs, np.zeros(80), xs + 20, np.full(80, 100.0), fps)
    assert d2 == pytest.approx(0.1 * 14)


# ------------------------------------------------------------------ real runs


@pytest.mark.slow
def test_batch_equals_analyze_then_resumes(tmp_path, capsys):
    games = _clips()
    out = tmp_path / "season"
    assert _batch(games, out, "--jobs", "2") == 0
    # the same outputs as one plain analyze of each clip
    plain = tmp_path / "plain" / "euroball_pass"
    assert (
        main(
            [
                "analyze",
                games[0],
                "--out",
                str(plain),
                "--no-video",
                "--detector",
                str(DETECTOR),
                "--end",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    ours = (out / "euroball_pass" / "euroball_pass.tracks.csv").read_text()
    assert ours == plain.with_name("euroball_pass.tracks.csv").read_text()
    assert len(ours.splitlines()) > 10
    season = json.loads((out / "season.json").read_text())
    assert [g["status"] for g in season["games"]] == ["done", "done"]
    assert all(g["players"] for g in season["games"])
    rows = (out / "season.csv").read_text().splitlines()
    assert rows[0].startswith("game,player_id,team,seconds_visible,distance_body_heights")
    assert len(rows) - 1 == sum(len(g["players"]) for g in season["games"])
    capsys.readouterr()

    # a second batch does nothing and says so
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.parent != out}
    assert _batch(games, out, "--jobs", "2") == 0
    assert "nothing to do" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.parent != out} == before

    # one game's output deleted (and a stale staging folder of an interrupted run): only that game is redone
    (out / "practice_3players_1280x720" / "practice_3players_1280x720.tracks.csv").unlink()
    (out / ".practice_3players_1280x720.partial").mkdir()
    (out / ".practice_3players_1280x720.partial" / "junk.csv").write_text("half")
    assert _batch(games, out, "--jobs", "2") == 0
    said = capsys.readouterr().out
    assert "1 of 2 games already complete" in said and "1 games analysed" in said
    assert (out / "practice_3players_1280x720" / "practice_3players_1280x720.tracks.csv").is_file()
    assert not (out / ".practice_3players_1280x720.partial").exists()
    assert (out / "euroball_pass" / "euroball_pass.tracks.csv").stat().st_mtime_ns == before[
        out / "euroball_pass" / "euroball_pass.tracks.csv"
    ]

    # other options (a recognizer): redone, not skipped; the summary counts each player's events
    model = make_checkpoint(tmp_path / "model.pt")
    assert _batch(games, out, "--jobs", "2", "--recognizer", str(model), "--keep-background") == 0
    assert "2 games analysed" in capsys.readouterr().out
    summary = list(csv.DictReader((out / "season.csv").open()))
    for game in ("euroball_pass", "practice_3players_1280x720"):
        events = list(csv.DictReader((out / game / f"{game}.timeline.csv").open()))
        assert events
        ours = {(r["player_id"], r["action"]): int(r["events"]) for r in summary if r["game"] == game and r["action"]}
        theirs: dict = {}
        for e in events:
            theirs[(e["player_id"], e["action"])] = theirs.get((e["player_id"], e["action"]), 0) + 1
        assert ours == theirs


@pytest.mark.slow
def test_killed_worker_is_retried_and_a_broken_game_fails_alone(tmp_path, capsys):
    games = _clips()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    nba = str(need_asset(FOOTAGE / "nba_broadcast_wide_854x480.mp4"))
    out = tmp_path / "out"
    args = ["--detector", str(DETECTOR), "--end", "2", "--no-video", "--jobs", "2"]
    with WorkerKiller(out / ".nba_broadcast_wide_854x480.progress.json") as killer:
        code = main(["batch", nba, str(broken), games[0], "--out", str(out), *args])
    err = capsys.readouterr().err
    assert killer.killed, "the worker was never seen running"
    assert code == 1
    assert "failed: broken:" in err and "error: 1 of 3 games failed: broken" in err
    assert "Traceback" not in err
    assert (out / "nba_broadcast_wide_854x480" / "nba_broadcast_wide_854x480.tracks.csv").is_file()
    assert (out / "euroball_pass" / "euroball_pass.tracks.csv").is_file()
    assert not (out / "broken").exists()
    assert not list(out.glob(".*"))  # no staging folder or progress file left behind
    season = json.loads((out / "season.json").read_text())
    status = {g["game"]: g["status"] for g in season["games"]}
    assert status == {"nba_broadcast_wide_854x480": "done", "broken": "failed", "euroball_pass": "done"}
    assert "broken.mp4" in next(g["error"] for g in season["games"] if g["game"] == "broken")


def test_batch_usage_errors(tmp_path, capsys):
    (tmp_path / "a.mp4").write_bytes(b"x")
    assert main(["batch", str(tmp_path / "a.mp4"), "--out", str(tmp_path / "o"), "--jobs", "0"]) == 1
    assert "--jobs must be at least 1" in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "a.mp4"), "--out", str(tmp_path / "o"), "--gpus-per-game", "1"]) == 1
    assert "--gpus-per-game needs --ray" in capsys.readouterr().err
    (tmp_path / "f").write_text("x")
    assert main(["batch", str(tmp_path / "a.mp4"), "--out", str(tmp_path / "f")]) == 1
    assert "is a file" in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "nothing*.mp4"), "--out", str(tmp_path / "o")]) == 1
    assert "no video matches" in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "a.mp4"), "--out", str(tmp_path / "o"), "--cpus-per-game", "2"]) == 1
    assert "--cpus-per-game needs --ray" in capsys.readouterr().err
    if (
        importlib.util.find_spec("ray") is not None
    ):  # a wrong address fails in seconds, not after Ray's minutes of retries
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # nothing listens there once closed
        assert main(["batch", str(tmp_path / "a.mp4"), "--out", str(tmp_path / "o"), "--ray", f"127.0.0.1:{port}"]) == 1
        assert "cannot reach the Ray cluster" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_and_leaves_no_half_written_game(tmp_path):
    games = [str(need_asset(FOOTAGE / "nba_broadcast_wide_854x480.mp4")), *_clips()]
    need_asset(DETECTOR)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "hoopsense.cli", "batch", *games, "--out", str(out), "--detector", str(DETECTOR)]
    cmd += ["--end", "4", "--no-video", "--jobs", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    progress = out / ".nba_broadcast_wide_854x480.progress.json"
    deadline = time.monotonic() + 120
    worker = None
    while time.monotonic() < deadline and worker is None:
        try:
            doc = json.loads(progress.read_text())
            worker = doc["pid"] if doc["done"] > 3 else None
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    assert worker is not None, "the first game never started"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted:" in stderr and "Traceback" not in stderr
    time.sleep(0.5)
    assert not Path(f"/proc/{worker}").exists() or "zombie" in Path(f"/proc/{worker}/status").read_text().lower()
    assert not (out / "nba_broadcast_wide_854x480").exists()
    assert not list(out.glob(".*"))  # no staging folder, no progress file
    # the next run does the whole season
    assert _batch(games, out, "--jobs", "2") == 0
    assert all((out / Path(g).stem / f"{Path(g).stem}.run.json").is_file() for g in games)
