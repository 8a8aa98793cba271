"""This tree's ``hoopsense analyze`` against another checkout's, on the same clip, in the same run.

Both run the real CLI in fresh processes, alternating (A, B, A, B, ...) so that
the load of this shared machine falls on both alike; each reports the speed it
measured itself (``fps_achieved`` and the per-stage seconds in its
``run.json``). Two cases: tracking only (``--no-video``) and recognition
(``--recognizer``, a random R(2+1)D-18 at 16x112x112, fp32, the clip's first
3 seconds). Prints each run, the medians and the ratio B/A.

    git worktree add /tmp/hs-base <commit>
    python benchmarks/bench_versions.py --base /tmp/hs-base --detector ../shared/assets/detector/yolov8n_int8.onnx
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ASSETS

HERE = Path(__file__).resolve().parents[1]


def make_checkpoint(path: Path) -> Path:
    sys.path.insert(0, str(HERE / "src"))
    import torch

    from hoopsense.recognizer.model import CheckpointMeta, build_model, save_checkpoint

    torch.manual_seed(0)
    labels = ("dribble", "shoot", "pass", "no_action")
    model = build_model("r2plus1d_18", len(labels))
    save_checkpoint(path, model, CheckpointMeta(architecture="r2plus1d_18", labels=labels, background="no_action"))
    return path


def run(tree: Path, clip: Path, detector: str, extra: list[str], out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "YOLO_OFFLINE": "True", "YOLO_AUTOINSTALL": "False"}
    args = [sys.executable, "-m", "hoopsense", "analyze", str(clip), "--no-video", "--out", str(out),
            "--detector", detector, "--quiet", *extra]  # fmt: skip
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: {done.stderr.strip()[-500:]}")
    record = json.loads(out.with_name(out.name + ".run.json").read_text())
    return {"fps": record["fps_achieved"], "stage_s": record["stage_s"], "frames": record["frames"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, required=True, help="the other checkout (its src/ is imported)")
    parser.add_argument("--detector", default=str(ASSETS / "detector" / "yolov8n_int8.onnx"))
    parser.add_argument("--clip", type=Path, default=ASSETS / "footage" / "nba_broadcast_wide_854x480.mp4")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    trees = {"A (base)": args.base.resolve(), "B (this tree)": HERE}
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = make_checkpoint(Path(tmp) / "r2p1d.pt")
        cases = {"tracking only": [], "recognition fp32, first 3 s": ["--recognizer", str(ckpt), "--end", "3"]}
        for case, extra in cases.items():
            fps: dict[str, list[float]] = {name: [] for name in trees}
            for i in range(args.repeats):
                for name, tree in trees.items():
                    r = run(tree, args.clip, args.detector, extra, Path(tmp) / f"{i}-{name[0]}")
                    fps[name].append(r["fps"])
                    stages = ", ".join(f"{k} {v:.1f}s" for k, v in r["stage_s"].items())
                    print(f"{case:30s} {name:14s} run {i + 1}: {r['fps']:6.2f} fps ({r['frames']} frames; {stages})")
            medians = {name: statistics.median(v) for name, v in fps.items()}
            ratio = medians["B (this tree)"] / medians["A (base)"]
            print(
                f"{case:30s} median A {medians['A (base)']:.2f} fps, B {medians['B (this tree)']:.2f} fps: B/A = {ratio:.2f}"
            )


if __name__ == "__main__":
    main()
