"""``hoopsense batch --ray`` on a real local Ray cluster: three real clips and a broken one, one worker
killed in the middle of a game, every good game complete with the tracks of a plain ``analyze`` (slow).

The cluster is started with ``--node-ip-address 127.0.0.1``, but Ray replaces
a loopback address by the machine's and its servers listen on every
interface, so the cluster also requires Ray's token authentication (its own
token file here), which the driver must then present.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ASSETS, FOOTAGE, need_asset
from workers import WorkerKiller

from hoopsense.cli import main

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("ray") is None, reason="Ray is not installed (pip install 'hoopsense[ray]')"
    ),
]

DETECTOR = ASSETS / "detector" / "yolov8n_int8_openvino_model"
CLIPS = ("nba_broadcast_wide_854x480.mp4", "euroball_pass.mp4", "practice_3players_1280x720.mp4")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(tmp_path_factory, monkeypatch):
    """A one-node Ray cluster with two CPUs and token authentication; yields its address."""
    ray_cli = Path(sys.executable).with_name("ray")
    port = _free_port()
    temp = tmp_path_factory.mktemp("ray")  # Ray's sockets live here
    token = temp / "auth_token"
    token.write_text(secrets.token_hex(32))
    for key, value in {
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
        "RAY_USAGE_STATS_ENABLED": "0",
    }.items():
        monkeypatch.setenv(key, value)  # for `ray start` and for the driver (hoopsense batch) alike; Ray reads
        # them when it is imported, so the driver runs as its own process, as a user runs it
    env = dict(os.environ)
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


def _hoopsense(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hoopsense.cli", *args], capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "400"},
    )  # fmt: skip


def test_ray_batch_survives_a_killed_worker(tmp_path, cluster):
    need_asset(DETECTOR)
    games = [str(need_asset(FOOTAGE / c)) for c in CLIPS]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    out = tmp_path / "season"
    args = ["--detector", str(DETECTOR), "--end", "1.5", "--no-video"]
    with WorkerKiller(out / ".nba_broadcast_wide_854x480.progress.json") as killer:  # a Ray worker process
        said = _hoopsense("batch", *games, str(broken), "--out", str(out), "--ray", cluster, "--no-report", *args)
    assert killer.killed, "no game was seen running on a Ray worker"
    assert said.returncode == 1, said.stderr  # the broken game failed (after Ray's retry); the others went on
    assert "3 games analysed, 0 skipped, 1 failed" in said.stdout
    assert "failed: broken:" in said.stderr and "broken.mp4" in said.stderr
    assert "Traceback" not in said.stdout + said.stderr
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
    again = _hoopsense("batch", *games, "--out", str(out), "--ray", cluster, "--no-report", *args)
    assert again.returncode == 0 and "nothing to do" in again.stdout
