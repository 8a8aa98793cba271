"""Helpers shared by the benchmark scripts: child processes and peak memory."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT.parent / "shared" / "assets"
DETECTOR = ASSETS / "detector" / "yolov8n_int8.onnx"


def peak_mib() -> float:
    """Peak resident memory of this process in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(script: str, *args: str, src: str | Path | None = None) -> dict:
    """Run ``script --child ...`` in a fresh Python (so its peak memory is its own); return its last JSON line.

    ``src``: a ``src`` folder of another hoopsense checkout (e.g. ``git worktree add /tmp/base <commit>``)
    to import instead of this one, to compare against an earlier version in the same run."""
    cmd = [sys.executable, script, "--child", *args]
    env = None
    if src is not None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
