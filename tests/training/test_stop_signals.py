"""Ctrl-C and SIGTERM stop ``hoopsense train`` within seconds, leave no worker behind and say how to resume.

A real process gets a real signal while it is inside a long training step
(full-size R(2+1)D-18 clips in fp32: several seconds per step on 2 cores).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from motion import make_motion_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_motion_dataset(tmp_path_factory.mktemp("stop") / "data", per_class=6)


def _start(data, out):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-m", "hoopsense", "train", str(data), "--out", str(out), "--init", "none", "--epochs", "3",
            "--clip-len", "16", "--resize", "128", "--crop-size", "112", "--batch-size", "8", "--workers", "1",
            "--precision", "fp32"]  # fmt: skip
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_worker(proc: subprocess.Popen, timeout_s: float = 120) -> list[int]:
    """The pids of the process's children once a clip-loading worker runs (training has started)."""
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        children = parent.children(recursive=True)
        if children:
            time.sleep(2.0)  # well inside the first (long) step
            return [c.pid for c in parent.children(recursive=True)]
        time.sleep(0.2)
    proc.kill()
    pytest.fail("training never started a loader worker")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_training_promptly_and_cleanly(data, tmp_path, signum):
    out = tmp_path / "m.pt"
    proc = _start(data, out)
    children = _wait_for_worker(proc)
    sent = time.monotonic()
    proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    elapsed = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert elapsed < 8, f"took {elapsed:.1f} s to stop"
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("interrupted: training stopped"), err
    assert "Traceback" not in err
    assert "nothing to resume" in lines[-1] or "--resume" in lines[-1]
    time.sleep(0.5)
    alive = [pid for pid in children if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"worker processes outlived train: {alive}"
    assert not out.exists()
