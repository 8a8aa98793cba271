"""Recognizer throughput and end-to-end speed of ``analyze --recognizer`` against a naive loop.

1. Throughput of the recognizer alone (R(2+1)D-18, 16 frames of 112x112, random
   weights: speed does not depend on the weights) at batch sizes 1, 4 and 16,
   in fp32 and, on CPUs with native bfloat16, bf16: clips/s and ms per clip,
   next to the compute floor: the network's GFLOPs per clip over the measured
   peak of a large matrix product in the same precision.
2. End to end on real clips (first ``--seconds`` of each): hoopsense
   ``analyze --recognizer`` (all players' clips batched, channels-last,
   frames held until labels settle) against a naive loop that runs the same
   detector and tracker frame by frame and classifies each player's window on
   its own as soon as it fills (torchvision-style per-clip preprocessing,
   default memory layout, batch of one), drawing and encoding the same video.
   hoopsense runs at its defaults and, for comparison, with fp32; with
   ``--baseline-src`` also another checkout at its defaults (e.g. an earlier
   commit: ``git worktree add /tmp/base <commit>``, ``--baseline-src /tmp/base/src``).

Each measurement runs in a fresh process so its peak memory is its own.

    python benchmarks/bench_recognize.py
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _common import ASSETS, DETECTOR, peak_mib, run_child

CLIPS = [ASSETS / "footage" / "nba_broadcast_wide_854x480.mp4", ASSETS / "footage" / "gym_warmup_1080p.mp4"]
LABELS = ("block", "pass", "run", "dribble", "shoot", "ball in hand", "defense", "pick", "no_action", "walk", "discard")


def make_checkpoint(path: Path) -> Path:
    import torch

    from hoopsense.recognizer.model import CheckpointMeta, build_model, save_checkpoint

    torch.manual_seed(0)
    meta = CheckpointMeta("r2plus1d_18", LABELS, background="no_action")
    return save_checkpoint(path, build_model("r2plus1d_18", len(LABELS)), meta)


def child_throughput(ckpt: str, precision: str) -> dict:
    import numpy as np

    from hoopsense.recognizer.recognizer import Recognizer, RecognizerConfig

    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (16, 128, 128, 3), dtype=np.uint8) for _ in range(32)]
    out = {}
    for bs in (1, 4, 16):
        rec = Recognizer(RecognizerConfig(ckpt, batch_size=bs, precision=precision))
        rec.predict_clips(clips[:bs])  # warm-up
        n = 16 if bs < 16 else 32
        started = time.perf_counter()
        rec.predict_clips(clips[:n])
        wall = time.perf_counter() - started
        out[str(bs)] = {"clips_s": n / wall, "ms_clip": 1000 * wall / n}
    out["device"] = str(rec.device)
    return out


def child_floor(precision: str) -> dict:
    """GFLOPs per 16x112x112 clip of R(2+1)D-18 and the peak GFLOP/s of a large matmul in ``precision``."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from hoopsense.recognizer.model import build_model

    model = build_model("r2plus1d_18", len(LABELS)).eval()
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(torch.zeros(1, 3, 16, 112, 112))
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    a, b = torch.randn(4096, 4096, dtype=dtype), torch.randn(4096, 4096, dtype=dtype)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return {"gflops_clip": counter.get_total_flops() / 1e9, "peak_gflops": 2 * 4096**3 / best / 1e9}


def child_pipeline(clip: str, ckpt: str, seconds: float, batch: int, precision: str) -> dict:
    """``analyze --recognizer`` on the first ``seconds``; ``precision`` "auto" is the default."""
    from hoopsense.detection import DetectorConfig
    from hoopsense.pipeline.analyze import AnalyzeOptions, OutputPaths, analyze
    from hoopsense.recognizer.recognizer import RecognizerConfig

    with tempfile.TemporaryDirectory() as tmp:
        paths = OutputPaths.beside(Path(tmp) / "out.mp4", timeline=True)
        options = AnalyzeOptions(
            detector=DetectorConfig(weights=str(DETECTOR)),
            recognizer=RecognizerConfig(ckpt, batch_size=batch or None, precision=precision),
            end_s=seconds,
        )
        result = analyze(clip, paths, options)
    return {
        "frames": result.frames,
        "fps": result.fps,
        "wall_s": result.wall_s,
        "clips": result.windows,
        "players": len(result.players),
        "stage_s": result.stage_s,
        "peak_mib": peak_mib(),
        "provisional": result.provisional_frames,
        "batch_size": result.recognizer["batch_size"],
        "precision": result.recognizer["precision"],
    }


def child_naive(clip: str, ckpt: str, seconds: float) -> dict:
    import cv2
    import numpy as np
    import torch

    from hoopsense.detection import DetectorConfig, YoloDetector
    from hoopsense.pipeline.render import Renderer, action_colours
    from hoopsense.recognizer.model import load_checkpoint
    from hoopsense.tracking.players import PlayerTracker, TrackerConfig
    from hoopsense.video import VideoReader, VideoWriter, probe

    meta = probe(clip)
    model, info = load_checkpoint(ckpt)
    detector = YoloDetector(DetectorConfig(weights=str(DETECTOR), backend="ultralytics"))  # as a naive user runs it
    tracker = PlayerTracker(TrackerConfig(), meta.width, meta.height, meta.fps)
    renderer = Renderer(meta.height, info.labels, action_colours(info.labels, info.background))
    mean = torch.tensor(info.mean).view(3, 1, 1, 1)
    std = torch.tensor(info.std).view(3, 1, 1, 1)
    crops: dict[int, list] = defaultdict(list)
    seen: dict[int, int] = defaultdict(int)
    shown: dict[int, tuple[int, float]] = {}
    frames = clips = 0
    recognize_s = 0.0
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as tmp,
        VideoReader(clip, end_s=seconds, pixel_format="bgr24") as reader,
        VideoWriter(
            Path(tmp) / "naive.mp4", meta.width, meta.height, meta.fps_fraction or meta.fps, pixel_format="bgr24"
        ) as writer,
    ):
        for frame in reader:
            players = tracker.update(detector.detect([frame.image], bgr=True)[0])
            for (x1, y1, x2, y2), tid in zip(players.xyxy, players.tracker_id):
                side = max(x2 - x1, y2 - y1) * info.context
                cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
                a, b = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
                part = frame.image[b : int(cy + side / 2), a : int(cx + side / 2)]
                crops[tid].append(cv2.cvtColor(cv2.resize(part, (info.resize, info.resize)), cv2.COLOR_BGR2RGB))
                crops[tid] = crops[tid][-info.clip_len :]
                seen[tid] += 1
                if len(crops[tid]) == info.clip_len and (seen[tid] - info.clip_len) % (info.clip_len // 2) == 0:
                    t = time.perf_counter()
                    x = torch.from_numpy(np.stack(crops[tid])).permute(3, 0, 1, 2).float() / 255
                    off = (info.resize - info.crop_size) // 2
                    x = ((x[:, :, off : off + info.crop_size, off : off + info.crop_size] - mean) / std)[None]
                    with torch.no_grad():
                        probs = torch.softmax(model(x), dim=1)[0]
                    k = int(probs.argmax())
                    shown[int(tid)] = (k, float(probs[k]))
                    recognize_s += time.perf_counter() - t
                    clips += 1
            writer.write(renderer.draw(frame.image, players, shown))
            frames += 1
    wall = time.perf_counter() - started
    return {
        "frames": frames,
        "fps": frames / wall,
        "wall_s": wall,
        "clips": clips,
        "recognize_s": recognize_s,
        "peak_mib": peak_mib(),
    }


def bf16_native() -> bool:
    from hoopsense.devices import native_bf16

    return native_bf16()


def recognize_s(stages: dict) -> float:
    """Seconds of recognizer compute (the stage ran in the caller's thread before, in a worker now)."""
    return sum(v for k, v in stages.items() if k.startswith("recognize") and not k.endswith("_wait"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="*", type=Path, default=CLIPS)
    parser.add_argument("--seconds", type=float, default=3.0, help="analyse the first N seconds of each clip")
    parser.add_argument(
        "--batch-size", type=int, default=0, help="hoopsense recognizer batch size (default 0: hoopsense's own default)"
    )
    parser.add_argument("--baseline-src", help="src folder of another checkout to compare end-to-end speed with")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child:
        kind, *values = [args.child, *rest]
        fn = {"throughput": child_throughput, "pipeline": child_pipeline, "naive": child_naive, "floor": child_floor}[
            kind
        ]
        conv = {
            "throughput": (str, str), "pipeline": (str, str, float, int, str), "naive": (str, str, float),
            "floor": (str,),
        }[kind]  # fmt: skip
        print(json.dumps(fn(*(c(v) for c, v in zip(conv, values)))))
        return

    missing = [p for p in [DETECTOR, *args.clips] if not p.exists()]
    if missing:
        raise SystemExit(f"missing input: {', '.join(map(str, missing))}")
    precisions = ["fp32", "bf16"] if bf16_native() else ["fp32"]
    print(f"cores: {len(os.sched_getaffinity(0))}   native bf16: {bf16_native()}")
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = str(make_checkpoint(Path(tmp) / "r2plus1d_18.pt"))
        print("\n== recognizer alone: R(2+1)D-18, 16x112x112 clips")
        for precision in precisions:
            floor = run_child(__file__, "floor", precision)
            floor_ms = 1000 * floor["gflops_clip"] / floor["peak_gflops"]
            print(
                f"{precision}: {floor['gflops_clip']:.1f} GFLOPs per clip, matmul peak {floor['peak_gflops']:.0f} "
                f"GFLOP/s -> floor {floor_ms:.0f} ms/clip"
            )
            r = run_child(__file__, "throughput", ckpt, precision)
            for bs in ("1", "4", "16"):
                print(
                    f"{r['device']:5s} {precision:5s} batch {bs:>2s}: {r[bs]['clips_s']:6.2f} clips/s  "
                    f"{r[bs]['ms_clip']:7.1f} ms/clip  ({r[bs]['ms_clip'] / floor_ms:.2f}x the floor)"
                )
        for clip in args.clips:
            from hoopsense.video import probe

            meta = probe(clip)
            print(f"\n== {clip.name}: {meta.width}x{meta.height}, first {args.seconds:g} s")
            naive = run_child(__file__, "naive", str(clip), ckpt, str(args.seconds))
            print(
                f"naive loop (fp32, one clip at a time)     {naive['fps']:5.2f} fps  {naive['wall_s']:6.1f} s  "
                f"{naive['clips']} clips, {1000 * naive['recognize_s'] / max(1, naive['clips']):.0f} ms/clip  "
                f"peak {naive['peak_mib']:.0f} MiB"
            )
            runs = [("hoopsense (defaults)", "auto", None)]
            runs += [("hoopsense (fp32)", "fp32", None)] if bf16_native() else []
            runs += [("baseline checkout (defaults)", "auto", args.baseline_src)] if args.baseline_src else []
            results = {}
            for name, precision, src in runs:
                cmd = ("pipeline", str(clip), ckpt, str(args.seconds), str(args.batch_size), precision)
                r = results[name] = run_child(__file__, *cmd, src=src)
                print(
                    f"{name:30s} {r['fps']:5.2f} fps  {r['wall_s']:6.1f} s  {r['clips']} clips, "
                    f"{1000 * recognize_s(r['stage_s']) / max(1, r['clips']):.0f} ms/clip "
                    f"({r.get('precision', '?')}, batch {r['batch_size']})  peak {r['peak_mib']:.0f} MiB  "
                    f"-> {r['fps'] / naive['fps']:.2f}x the naive loop"
                )
                print(
                    "    per stage, ms/frame: "
                    + ", ".join(f"{k} {1000 * v / r['frames']:.1f}" for k, v in r["stage_s"].items())
                )
                if r["provisional"]:
                    print(f"    frames released with provisional labels: {r['provisional']}")
            if args.baseline_src:
                ratio = results["hoopsense (defaults)"]["fps"] / results["baseline checkout (defaults)"]["fps"]
                print(f"defaults vs the baseline checkout's defaults: {ratio:.2f}x end-to-end fps")


if __name__ == "__main__":
    main()
