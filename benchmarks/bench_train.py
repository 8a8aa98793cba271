"""Training throughput of the recognizer (clips/s), e.g. R(2+1)D-18 at batch 8 on this machine.

Two figures per architecture:

* compute: forward + backward + AdamW step on random 16x112x112 clips
  already in memory (what the network costs);
* loop: one epoch of ``hoopsense train`` on SpaceJam-sized clips (128x176,
  16 frames, H.264 files made here), including decoding, augmentation and
  validation-free clips/s as the loop reports it.

    python benchmarks/bench_train.py --arch r2plus1d_18 --batch-size 8
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hoopsense.recognizer.model import ARCHITECTURES, build_model
from hoopsense.recognizer.transforms import normalise_batch


def compute_throughput(arch: str, batch: int, steps: int, dtype: torch.dtype = torch.float32) -> float:
    spec = ARCHITECTURES[arch]
    model = build_model(arch, 10).train()
    fmt = torch.channels_last_3d if spec.kind == "video" else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    clips = torch.randint(0, 256, (batch, 16, 112, 112, 3), dtype=torch.uint8)
    y = torch.randint(0, 10, (batch,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        x = normalise_batch(clips, mean=spec.mean, std=spec.std).contiguous(memory_format=fmt)
        with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - started)


def loop_throughput(arch: str, batch: int, clips: int, precision: str = "fp32") -> float:
    from hoopsense.training.formats import load_dataset
    from hoopsense.training.loop import TrainConfig, train
    from hoopsense.video import VideoWriter

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        root.mkdir()
        ann = {}
        for i in range(clips):
            with VideoWriter(root / f"{i:07d}.mp4", 128, 176, 16, pixel_format="rgb24") as w:
                base = rng.integers(0, 256, (176, 128, 3), dtype=np.uint8)
                for t in range(16):
                    w.write(np.roll(base, 2 * t, axis=1))
            ann[f"{i:07d}"] = i % 4
        (root / "annotation_dict.json").write_text(json.dumps(ann))
        (root / "labels_dict.json").write_text(json.dumps({str(i): f"class{i}" for i in range(4)}))
        config = TrainConfig(
            architecture=arch, epochs=1, batch_size=batch, init="none", val_fraction=0.125, precision=precision
        )
        result = train(load_dataset(root, "spacejam"), config, Path(tmp) / "m.pt")
    return result.history[0]["train_clips_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", nargs="*", default=["r2plus1d_18"], choices=list(ARCHITECTURES))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--clips", type=int, default=64, help="clips in the loop measurement")
    parser.add_argument(
        "--precision", nargs="*", default=["fp32", "bf16"], choices=["fp32", "bf16"], help="CPU precisions to measure"
    )
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cuda: {torch.cuda.is_available()}")
    for arch in args.arch:
        for precision in args.precision:
            dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
            c = compute_throughput(arch, args.batch_size, args.steps, dtype)
            print(f"{arch:24s} {precision} batch {args.batch_size}: compute {c:6.2f} clips/s ({1000 / c:6.0f} ms/clip)")
            lp = loop_throughput(arch, args.batch_size, args.clips, precision)
            print(f"{arch:24s} {precision} batch {args.batch_size}: hoopsense train loop {lp:6.2f} clips/s")


if __name__ == "__main__":
    main()
