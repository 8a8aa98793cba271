"""``hoopsense batch --ray`` on a real local Ray cluster bound to loopback: three real clips, one worker
killed in the middle of a game, every game complete with the tracks of a plain ``analyze`` (slow)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ASSETS, FOOTAGE, need_asset

from hoopsense.cli import main

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'hoopsense[ray]')")

DETECTOR = ASSETS / "detector" / "yolov8n_int8_openvino_model"
CLIPS = ("nba_broadcast_wide_854x480.mp4", "euroball_pass.mp4", "practice_3players_1280x720.mp4")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(tmp_path_factory):
    """A one-node Ray cluster on 127.0.0.1 with two CPUs; yields its address."""
    ray_cli = Path(sys.executable).with_name("ray")
    port = _free_port()
    temp = tmp_path_factory.mktemp("ray")  # Ray's sockets live here
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    start = [
        str(ray_cli), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "2",
        "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", str(temp),
    ]  # fmt: skip
    subprocess.run(start, check=True, env=env, capture_output=True, timeout=120)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(ray_cli), "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def test_ray_batch_survives_a_killed_worker(tmp_path, cluster, capsys):
    need_asset(DETECTOR)
    games = [str(need_asset(FOOTAGE / c)) for c in CLIPS]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    out = tmp_path / "season"
    killed: list[int] = []

    def kill_a_worker() -> None:
        progress = out / ".nba_broadcast_wide_854x480.progress.json"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not killed:
            try:
                doc = json.loads(progress.read_text())
            except (OSError, ValueError):
                time.sleep(0.05)
                continue
            if doc["done"] > 5:
                os.kill(doc["pid"], signal.SIGKILL)  # the Ray worker process running the game
                killed.append(doc["pid"])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_worker)
    killer.start()
    args = ["--detector", str(DETECTOR), "--end", "1.5", "--no-video"]
    code = main(["batch", *games, str(broken), "--out", str(out), "--ray", cluster, "--no-report", *args])
    killer.join()
    said = capsys.readouterr()
    assert killed, "no game was seen running on a Ray worker"
    assert code == 1, said.err  # the broken game failed (after Ray's retry); the others went on
    assert "3 games analysed, 0 skipped, 1 failed" in said.out
    assert "failed: broken:" in said.err and "broken.mp4" in said.err and "Traceback" not in said.err
    season = json.loads((out / "season.json").read_text())
    assert [g["status"] for g in season["games"]] == ["done"] * 3 + ["failed"]
    for clip in games:
        name = Path(clip).stem
        plain = tmp_path / "plain" / name
        assert main(["analyze", clip, "--out", str(plain), "--quiet", *args]) == 0
        ours = (out / name / f"{name}.tracks.csv").read_text()
        assert ours == plain.with_name(f"{name}.tracks.csv").read_text(), name
        assert len(ours.splitlines()) > 10
    assert not list(out.glob(".*"))  # the killed attempt's staging folder was removed

    # resumable on Ray too: nothing to do the second time (without the broken game)
    assert main(["batch", *games, "--out", str(out), "--ray", cluster, "--no-report", *args]) == 0
    assert "nothing to do" in capsys.readouterr().out
