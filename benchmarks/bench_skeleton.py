"""Cost of the skeleton recognizer against R(2+1)D-18, and of a pose model as the detector, in one run.

1. ms per player-clip (16 frames, random weights: speed does not depend on
   them), each recognizer at its defaults: the skeleton network on keypoints
   (batches of 16), R(2+1)D-18 on 112x112 crops (OpenVINO bf16 on CPUs with
   native bf16, batch 1); and the skeleton network when the keypoints must
   first be found by the pose model in the crops (no pose detector).
2. ``analyze`` on the NBA clip (first ``--seconds``), each in a fresh process:
   - the int8 YOLOv8n detector (OpenVINO, like the pose model), tracking only;
   - the int8 YOLOv8n-pose model as the detector, tracking only;
   - the pose model as the detector with the skeleton recognizer;
   - the same with ``skeleton-ball-tcn`` (crops are cut, and the int8
     detector looks for the ball in them, 16 crops to a picture);
   - the int8 YOLOv8n detector with R(2+1)D-18 (the default recognizer).
   Printed: fps, and the recognizer's cost over its tracking-only run.

    python benchmarks/bench_skeleton.py
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from _common import ASSETS, run_child

CLIP = ASSETS / "footage" / "nba_broadcast_wide_854x480.mp4"
POSE = ASSETS / "pose" / "yolov8n-pose_int8_openvino_model"
DETECTOR = ASSETS / "detector" / "yolov8n_int8_openvino_model"  # the same runtime as the pose model: OpenVINO int8
LABELS = ("defense", "dribbling", "nothing", "passing", "shooting")


def make_checkpoint(path: Path, arch: str) -> Path:
    import torch

    from hoopsense.recognizer.model import CheckpointMeta, build_model, save_checkpoint

    torch.manual_seed(0)
    training = {"pose": str(POSE), "ball": str(DETECTOR)} if arch.startswith("skeleton") else {}
    meta = CheckpointMeta(arch, LABELS, background="nothing", training=training)
    return save_checkpoint(path, build_model(arch, len(LABELS)), meta)


def child_clips(skeleton: str, video: str) -> dict:
    import numpy as np

    from hoopsense.recognizer.recognizer import Recognizer, RecognizerConfig

    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (16, 128, 128, 3), dtype=np.uint8) for _ in range(16)]
    kps = [
        np.concatenate([rng.uniform(0, 128, (16, 17, 2)), rng.uniform(0, 1, (16, 17, 1))], axis=2) for _ in range(64)
    ]
    out = {}
    skel = Recognizer(RecognizerConfig(skeleton))
    skel.predict_keypoints(kps[:16])  # warm-up
    out["skeleton_ms"] = _ms(lambda: skel.predict_keypoints(kps), len(kps))
    skel.predict_clips(crops[:2])  # loads the pose model
    out["skeleton_crops_ms"] = _ms(lambda: skel.predict_clips(crops[:8]), 8)
    r21d = Recognizer(RecognizerConfig(video))
    r21d.predict_clips(crops[:1])
    out["r2plus1d_ms"] = _ms(lambda: r21d.predict_clips(crops[:8]), 8)
    out["r2plus1d_backend"] = r21d.backend
    return out


def _ms(call, n: int, min_s: float = 2.0) -> float:
    runs, started = 0, time.perf_counter()
    while runs < 2 or time.perf_counter() - started < min_s:
        call()
        runs += 1
    return 1000 * (time.perf_counter() - started) / (runs * n)


def child_analyze(detector: str, ckpt: str, seconds: float) -> dict:
    from hoopsense.detection import DetectorConfig
    from hoopsense.pipeline.analyze import AnalyzeOptions, OutputPaths, analyze
    from hoopsense.recognizer.recognizer import RecognizerConfig

    with tempfile.TemporaryDirectory() as tmp:
        paths = OutputPaths.beside(Path(tmp) / "out.mp4", timeline=bool(ckpt))
        options = AnalyzeOptions(
            detector=DetectorConfig(weights=detector),
            recognizer=RecognizerConfig(ckpt) if ckpt else None,
            end_s=seconds,
        )
        result = analyze(str(CLIP), paths, options)
    return {"frames": result.frames, "wall_s": result.wall_s, "fps": result.frames / result.wall_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=0.0, help="first seconds of the clip (0: all of it)")
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "clips":
            print(json.dumps(child_clips(*rest)))
        else:
            print(json.dumps(child_analyze(rest[0], rest[1], float(rest[2]))))
        return
    if not POSE.exists() or not CLIP.is_file():
        raise SystemExit(f"needs {POSE} and {CLIP} (../shared/assets)")
    os.environ.setdefault("HOOPSENSE_OFFLINE", "1")
    seconds = args.seconds or 1e6
    with tempfile.TemporaryDirectory() as tmp:
        skeleton = str(make_checkpoint(Path(tmp) / "skeleton.pt", "skeleton-tcn"))
        ball = str(make_checkpoint(Path(tmp) / "skeleton-ball.pt", "skeleton-ball-tcn"))
        video = str(make_checkpoint(Path(tmp) / "r2plus1d.pt", "r2plus1d_18"))
        clips = run_child(__file__, "clips", skeleton, video)
        print("ms per player-clip (16 frames)")
        print(f"  skeleton-tcn, keypoints given:            {clips['skeleton_ms']:8.3f}")
        print(f"  skeleton-tcn, pose model on the crops:    {clips['skeleton_crops_ms']:8.1f}")
        print(f"  r2plus1d_18 ({clips['r2plus1d_backend']}), 112x112 crops:   {clips['r2plus1d_ms']:8.1f}")
        print(f"  ratio r2plus1d_18 / skeleton-tcn:         {clips['r2plus1d_ms'] / clips['skeleton_ms']:8.0f}x")
        runs = {
            "detector, tracking only": (str(DETECTOR), ""),
            "pose model, tracking only": (str(POSE), ""),
            "pose model + skeleton-tcn": (str(POSE), skeleton),
            "pose model + skeleton-ball": (str(POSE), ball),
            "detector + r2plus1d_18": (str(DETECTOR), video),
        }
        res = {name: run_child(__file__, "analyze", det, ckpt, str(seconds)) for name, (det, ckpt) in runs.items()}
    print(f"\nanalyze on {CLIP.name} ({res['detector, tracking only']['frames']} frames)")
    for name, r in res.items():
        print(f"  {name:28} {r['fps']:6.2f} fps  {r['wall_s']:6.1f} s")
    pose_cost = res["pose model, tracking only"]["wall_s"] / res["detector, tracking only"]["wall_s"] - 1
    skel_cost = res["pose model + skeleton-tcn"]["wall_s"] / res["pose model, tracking only"]["wall_s"] - 1
    ball_cost = res["pose model + skeleton-ball"]["wall_s"] / res["pose model, tracking only"]["wall_s"] - 1
    r21d_cost = res["detector + r2plus1d_18"]["wall_s"] / res["detector, tracking only"]["wall_s"] - 1
    print(f"  pose model against the detector:            {100 * pose_cost:+.1f}% time")
    print(f"  skeleton recognition over its tracking run: {100 * skel_cost:+.1f}% time")
    print(f"  skeleton + ball (crops cut, ball detector): {100 * ball_cost:+.1f}% time")
    print(f"  R(2+1)D recognition over its tracking run:  {100 * r21d_cost:+.1f}% time")


if __name__ == "__main__":
    main()
