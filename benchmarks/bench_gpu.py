"""Per-stage throughput on a CUDA GPU, and ``analyze --recognizer`` end to end against real time.

Prints, on one clip (default: the 1080p gym clip):

1. decoding alone (PyAV, frames/s at full size and scaled to the detector's input);
2. the detector alone (Ultralytics ``.pt`` on CUDA, fp16) at batch 1, 8 and 16: frames/s;
3. the recognizer alone (R(2+1)D-18, 16x112x112): clips/s at batch 1, 8, 16 and 32 in
   fp16 with channels-last (the default), fp16 without channels-last, fp32, and fp16
   through ``torch.compile``;
4. ``analyze --recognizer`` end to end on the clip: fps and how many times real time.

No weights need to be downloaded: without ``--detector`` a YOLOv8n with random
weights is built from Ultralytics' own model definition for the detector's
throughput (speed does not depend on the weights, except that random weights
give a different number of boxes to the NMS), and the recognizer has random
weights too. A random detector finds no players, so the end-to-end run then
uses the shared int8 OpenVINO detector on the CPU (said in its line) with the
recognizer on the GPU; pass a real ``.pt`` to run everything on the GPU.

    python benchmarks/bench_gpu.py                     # on a machine with a CUDA GPU
    python benchmarks/bench_gpu.py --device cpu --quick  # the same code paths on the CPU, briefly
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _common import ASSETS

LABELS = ("block", "pass", "run", "dribble", "shoot", "ball in hand", "defense", "pick", "no_action", "walk", "discard")


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def random_detector(path: Path) -> Path:
    from ultralytics import YOLO

    model = YOLO("yolov8n.yaml", task="detect")
    model.model.names = {i: f"class{i}" for i in range(80)} | {0: "person", 32: "sports ball"}
    model.save(str(path))
    return path


def random_recognizer(path: Path) -> Path:
    import torch

    from hoopsense.recognizer.model import CheckpointMeta, build_model, save_checkpoint

    torch.manual_seed(0)
    return save_checkpoint(path, build_model("r2plus1d_18", len(LABELS)), CheckpointMeta("r2plus1d_18", LABELS))


def bench_decode(clip: Path, frames: int) -> None:
    from hoopsense.video import VideoReader, probe

    meta = probe(clip)
    for label, small in (("full size", None), ("detector size", (640, int(round(640 * meta.height / meta.width))))):
        n = 0
        started = time.perf_counter()
        with VideoReader(clip, pixel_format="bgr24", small_size=small, full=small is None) as reader:
            for _ in reader:
                n += 1
                if n >= frames:
                    break
        print(f"decode ({label}): {n / (time.perf_counter() - started):7.1f} frames/s")


def bench_detector(weights: Path, device: str, clip: Path, frames: int) -> None:
    import cv2

    from hoopsense.detection import DetectorConfig, YoloDetector
    from hoopsense.video import VideoReader

    images = []
    with VideoReader(clip, pixel_format="bgr24") as reader:
        for frame in reader:
            h, w = frame.image.shape[:2]
            images.append(cv2.resize(frame.image, (640, int(round(640 * h / w)))))
            if len(images) >= 16:
                break
    images = (images * (frames // len(images) + 1))[:frames]
    for batch in (1, 8, 16):
        det = YoloDetector(DetectorConfig(weights=str(weights), device=device, batch_size=batch))
        det.detect(images[:batch], bgr=True)
        _sync(device)
        started = time.perf_counter()
        det.detect(images, bgr=True)
        _sync(device)
        wall = time.perf_counter() - started
        print(f"detector ({det.backend}, batch {batch:2d}): {len(images) / wall:7.1f} frames/s")


def bench_recognizer(ckpt: Path, device: str, clips_n: int, quick: bool) -> None:
    import numpy as np

    from hoopsense.recognizer.recognizer import Recognizer, RecognizerConfig

    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (16, 128, 128, 3), dtype=np.uint8) for _ in range(clips_n)]
    gpu = device.startswith("cuda")
    variants = [("fp16, channels-last", "fp16" if gpu else "bf16", False, True)]
    variants += [("fp16, contiguous", "fp16" if gpu else "bf16", False, False), ("fp32", "fp32", False, True)]
    if not quick:
        variants.append(("fp16, torch.compile", "fp16" if gpu else "bf16", True, True))
    for name, precision, compiled, channels_last in variants:
        for batch in (1, 8, 16, 32) if not quick else (1, 8):
            rec = Recognizer(
                RecognizerConfig(str(ckpt), device=device, batch_size=batch, precision=precision, compile=compiled)
            )
            if not channels_last:
                import torch

                rec._memory_format = torch.contiguous_format
                rec.model = rec.model.to(memory_format=torch.contiguous_format)
            rec.predict_clips(clips[: batch * 2])  # warm-up (and compilation)
            _sync(device)
            started = time.perf_counter()
            rec.predict_clips(clips)
            _sync(device)
            wall = time.perf_counter() - started
            print(f"recognizer ({name}, batch {batch:2d}): {len(clips) / wall:8.1f} clips/s")


def bench_end_to_end(clip: Path, weights: Path | None, ckpt: Path, device: str, seconds: float | None) -> None:
    from hoopsense.detection import DetectorConfig
    from hoopsense.pipeline.analyze import AnalyzeOptions, OutputPaths, analyze
    from hoopsense.recognizer.recognizer import RecognizerConfig
    from hoopsense.video import probe

    meta = probe(clip)
    det_device = device
    if weights is None:
        weights, det_device = ASSETS / "detector" / "yolov8n_int8_openvino_model", "cpu"
        print(f"end to end: detector {weights.name} on the CPU (no real .pt given), recognizer on {device}")
    with tempfile.TemporaryDirectory() as tmp:
        options = AnalyzeOptions(
            detector=DetectorConfig(weights=str(weights), device=det_device),
            recognizer=RecognizerConfig(str(ckpt), device=device),
            end_s=seconds,
        )
        result = analyze(clip, OutputPaths.beside(Path(tmp) / "out.mp4", timeline=True), options)
    video_s = result.frames / meta.fps
    print(
        f"analyze --recognizer ({meta.width}x{meta.height}, {result.frames} frames, {len(result.players)} players, "
        f"{result.windows} clips): {result.fps:.1f} fps = {video_s / result.wall_s:.2f}x real time"
    )
    print("    per stage, s: " + ", ".join(f"{k} {v:.2f}" for k, v in result.stage_s.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=ASSETS / "footage" / "gym_warmup_1080p.mp4")
    parser.add_argument("--detector", type=Path, help="a .pt detector (default: YOLOv8n with random weights)")
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--quick", action="store_true", help="few iterations, no torch.compile (to check the script)")
    args = parser.parse_args()
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    os.environ.setdefault("YOLO_OFFLINE", "True")
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: run on a GPU machine, or pass --device cpu --quick to check the script")
    if not args.clip.exists():
        raise SystemExit(f"missing clip: {args.clip}")
    name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu"
    print(f"device: {args.device} ({name}), torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        weights = args.detector or random_detector(Path(tmp) / "yolov8n-random.pt")
        ckpt = random_recognizer(Path(tmp) / "r2plus1d_18.pt")
        bench_decode(args.clip, 30 if args.quick else 146)
        bench_detector(weights, args.device, args.clip, 8 if args.quick else 128)
        bench_recognizer(ckpt, args.device, 8 if args.quick else 128, args.quick)
        bench_end_to_end(args.clip, args.detector, ckpt, args.device, 1.0 if args.quick else None)


if __name__ == "__main__":
    main()
