"""Games per hour of ``hoopsense batch`` on this machine: local workers (--jobs 1, --jobs 2) and Ray.

Each configuration analyses the same real clips from scratch into its own
folder (tracking only by default, the int8 OpenVINO detector; ``--recognizer``
adds a checkpoint), in one run, so the ratios compare like with like. Ray
runs with ``--ray local`` (a one-node cluster started by the run, counted in
its time) and one CPU per game, like ``--jobs 2`` on two cores.

    python benchmarks/bench_batch.py [--end 10] [--recognizer model.pt]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ASSETS

CLIPS = ("nba_broadcast_wide_854x480.mp4", "euroball_pass.mp4", "practice_3players_1280x720.mp4", "lebron_on_court.mp4")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--end", type=float, default=10.0, help="seconds of each clip (default: 10)")
    p.add_argument("--recognizer", help="checkpoint for the recognition runs (default: tracking only)")
    p.add_argument("--configs", default="jobs1,jobs2,ray", help="which of jobs1, jobs2, ray to run")
    args = p.parse_args()
    games = [str(ASSETS / "footage" / c) for c in CLIPS if (ASSETS / "footage" / c).is_file()]
    detector = ASSETS / "detector" / "yolov8n_int8_openvino_model"
    common = ["--detector", str(detector), "--end", str(args.end), "--no-video", "--quiet"]
    if args.recognizer:
        common += ["--recognizer", args.recognizer]
    configs = {"jobs1": ["--jobs", "1"], "jobs2": ["--jobs", "2"], "ray": ["--ray", "local", "--cpus-per-game", "1"]}
    from hoopsense.video.meta import probe

    video_s = sum(min(probe(g).duration_s, args.end) for g in games)
    print(
        f"{len(games)} games, {video_s:.1f} s of video in all, {'with recognizer' if args.recognizer else 'tracking only'}"
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        # warm the OpenVINO cache and the page cache once, outside the timings
        subprocess.run(
            [sys.executable, "-m", "hoopsense.cli", "batch", games[0], "--out", f"{tmp}/warm", *common], check=True
        )
        for name in args.configs.split(","):
            out = Path(tmp) / name
            t0 = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "hoopsense.cli", "batch", *games, "--out", str(out), *common, *configs[name]],
                capture_output=True, text=True,
            )  # fmt: skip
            wall = time.perf_counter() - t0
            if done.returncode != 0:
                raise SystemExit(f"{name} failed: {done.stderr[-2000:]}")
            results[name] = wall
            print(
                f"{name:6s} {wall:7.1f} s  {3600 * len(games) / wall:7.0f} games/h  {video_s / wall:5.2f}x real time",
                flush=True,
            )
            shutil.rmtree(out, ignore_errors=True)
    if "jobs1" in results and "jobs2" in results:
        print(f"jobs2 / jobs1 throughput: {results['jobs1'] / results['jobs2']:.2f}x")
    if "ray" in results and "jobs2" in results:
        print(
            f"Ray overhead against --jobs 2: {results['ray'] - results['jobs2']:+.1f} s ({results['ray'] / results['jobs2']:.2f}x the time)"
        )


if __name__ == "__main__":
    main()
