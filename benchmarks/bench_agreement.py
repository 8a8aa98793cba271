"""Top-1 agreement of the default CPU recognizer (OpenVINO, bf16 on CPUs with native bf16) with PyTorch fp32.

A trained checkpoint runs on the clips of a labelled folder (e.g.
``../shared/eval/basketball5``, every clip, whatever its split: this
measures the two runtimes against each other, not accuracy) at its own clip
length and at ``--clip-len`` (16 by default: the full clip size of the
SpaceJam-style models), each clip prepared once and given to both. Prints
the agreement and the largest difference of class probabilities.

    python benchmarks/bench_agreement.py model.pt ../shared/eval/basketball5 --format folder
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("data", type=Path)
    parser.add_argument("--format", default="folder")
    parser.add_argument("--clip-len", type=int, default=16)
    args = parser.parse_args()
    os.environ.setdefault("HOOPSENSE_OFFLINE", "1")
    from hoopsense.recognizer.recognizer import Recognizer, RecognizerConfig
    from hoopsense.training.augment import prepare_clip
    from hoopsense.training.formats import load_dataset
    from hoopsense.video import read_frames

    fast = Recognizer(RecognizerConfig(str(args.checkpoint), device="cpu"))
    ref = Recognizer(RecognizerConfig(str(args.checkpoint), device="cpu", precision="fp32", backend="torch"))
    meta = fast.meta
    data = load_dataset(args.data, args.format)
    print(f"{args.checkpoint.name} ({meta.architecture}): {fast.backend} {fast.dtype} against torch {ref.dtype}")
    for clip_len in dict.fromkeys((meta.clip_len, args.clip_len)):
        same, worst = 0, 0.0
        for record in data.records:
            clip = prepare_clip(
                read_frames(record.path, max_frames=2000), clip_len=clip_len, frame_step=meta.frame_step,
                resize=meta.resize, crop_size=meta.resize, fit_mode=data.fit, fill=fast.fill,
            )  # fmt: skip
            a, b = fast.predict_clips([clip])[0], ref.predict_clips([clip])[0]
            same += int(a.argmax() == b.argmax())
            worst = max(worst, float(np.abs(a - b).max()))
        n = len(data.records)
        print(
            f"  {clip_len:2d} frames x {meta.crop_size}x{meta.crop_size}: top-1 agreement {same}/{n} "
            f"({100 * same / n:.1f}%), largest probability difference {worst:.4f}"
        )


if __name__ == "__main__":
    main()
