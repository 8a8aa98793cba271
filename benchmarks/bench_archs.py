"""Inference cost of every recognizer architecture at its full size, in one run so the figures compare.

For each network of ``ARCHITECTURES`` (random weights: speed does not depend
on them), on 16-frame 112x112 clips at batch 1 and 8, in fp32 and in bf16
(CPU autocast): ms per clip, clips/s and GFLOPs per clip. The memory layout
is the recognizer's own (channels-last 3D for the video networks on CPU).
GFLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode``: 2 per
multiply-add of the convolutions and matrix products (element-wise work,
pooling and normalisation are left out), so R(2+1)D-18 shows about twice
torchvision's "40.5 GFLOPS", which count multiply-adds.

    python benchmarks/bench_archs.py
    python benchmarks/bench_archs.py --arch r2plus1d_18 frames-mobilenet_v3_small-gru --threads 1
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from hoopsense.devices import native_bf16
from hoopsense.recognizer.model import ARCHITECTURES, build_model

CLIP = (3, 16, 112, 112)  # channels, frames, height, width: what the recognizers are trained and run on
CLASSES = 11  # SpaceJam's labels


def gflops_per_clip(model: torch.nn.Module, memory_format: torch.memory_format) -> float:
    """FLOPs of one forward pass on one ``(1, 3, 16, 112, 112)`` clip, in billions."""
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(torch.zeros(1, *CLIP).contiguous(memory_format=memory_format))
    return counter.get_total_flops() / 1e9


def ms_per_clip(
    model: torch.nn.Module, batch: int, dtype: torch.dtype, memory_format: torch.memory_format, min_s: float
) -> float:
    """Mean wall time per clip of forward passes on random ``(batch, 3, 16, 112, 112)`` input, after a warm-up,
    repeated until ``min_s`` seconds and at least 3 passes."""
    x = torch.randn(batch, *CLIP, generator=torch.Generator().manual_seed(0)).contiguous(memory_format=memory_format)
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
        model(x)  # warm-up: oneDNN picks and compiles its kernels here
        passes, started = 0, time.perf_counter()
        while passes < 3 or time.perf_counter() - started < min_s:
            model(x)
            passes += 1
        wall = time.perf_counter() - started
    return 1000 * wall / (passes * batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", nargs="*", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    parser.add_argument("--batch", nargs="*", type=int, default=[1, 8])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default 0: torch's own choice)")
    parser.add_argument("--min-seconds", type=float, default=3.0, help="time each case for at least this long")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
        f"{torch.get_num_threads()} torch threads, native bf16: {native_bf16()}, torch {torch.__version__}"
    )
    print(f"clips of {CLIP[1]}x{CLIP[2]}x{CLIP[3]}, random weights, {CLASSES} classes, CPU\n")
    print(f"{'architecture':32s} {'GFLOPs/clip':>11s} {'precision':>9s} {'batch':>5s} {'ms/clip':>9s} {'clips/s':>8s}")
    rows = []
    for name in args.arch:
        spec = ARCHITECTURES[name]
        fmt = torch.channels_last_3d if spec.kind == "video" else torch.contiguous_format
        torch.manual_seed(0)
        model = build_model(name, CLASSES).eval().to(memory_format=fmt)
        gflops = gflops_per_clip(model, fmt)
        for label, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            for batch in args.batch:
                ms = ms_per_clip(model, batch, dtype, fmt, args.min_seconds)
                rows.append((name, label, batch, ms, gflops))
                print(f"{name:32s} {gflops:11.2f} {label:>9s} {batch:5d} {ms:9.1f} {1000 / ms:8.1f}", flush=True)
    base = {(r[1], r[2]): r for r in rows if r[0] == "r2plus1d_18"}
    if base:
        print("\nagainst r2plus1d_18 at the same precision and batch")
        print(f"{'architecture':32s} {'precision':>9s} {'batch':>5s} {'FLOPs ratio':>11s} {'speed-up':>8s}")
        for name, label, batch, ms, gflops in rows:
            ref = base[(label, batch)]
            if name != ref[0]:
                print(f"{name:32s} {label:>9s} {batch:5d} {ref[4] / gflops:10.1f}x {ref[3] / ms:7.1f}x")


if __name__ == "__main__":
    main()
