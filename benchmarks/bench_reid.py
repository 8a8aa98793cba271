"""Appearance embedders for re-identification: speed per crop, and how well each tells people apart.

1. Speed: one frame's worth of real player crops (``--crops``, default 10,
   found by the int8 detector in frame ``--frame`` of the NBA clip) embedded
   by OSNet x0.25 in onnxruntime (the shared ``.onnx``, batch of 1 per call),
   OSNet x0.25 in torch fp32 on CPU (the shared ``.pth``, one batch) and the
   colour histograms. The embedders take turns in every round, so load from
   other processes hits them alike; median and best ms per crop, and the
   ratio to onnxruntime.
2. Separation (``--gaps``, default 5 and 30 frames): persons detected
   (confidence >= 0.4) at frame t of three real clips are followed frame by
   frame to t + gap through one-to-one box overlaps (IoU >= 0.5), so each
   pair is one person; a pair counts as re-identified when the crop at t is
   closer to its partner than to every other person at t + gap. Prints the
   share re-identified and the mean margin (cosine to the partner minus the
   best cosine to anyone else).

    python benchmarks/bench_reid.py [--rounds 30] [--gaps 5,30] [--no-separation]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _common import ASSETS, DETECTOR

REID = ASSETS / "reid"
FOOTAGE = ASSETS / "footage"
CLIPS = ("nba_broadcast_wide_854x480.mp4", "davis.mp4", "euroball_pass.mp4")


def detect_people(model, frame_rgb: np.ndarray, conf: float) -> np.ndarray:
    """xyxy ``(N, 4)`` of persons in an RGB frame, most confident first."""
    import torch

    threads = torch.get_num_threads()
    r = model.predict(frame_rgb, classes=[0], conf=conf, verbose=False)[0]
    torch.set_num_threads(threads)  # Ultralytics lowers it to cores - 1
    order = np.argsort(-r.boxes.conf.numpy())
    return r.boxes.xyxy.numpy()[order].astype(np.float64)


def embedders() -> list:
    from hoopsense.identity.reid import ColourEmbedder, OsnetEmbedder

    return [
        OsnetEmbedder(REID / "osnet_x0_25_msmt17.onnx"),
        OsnetEmbedder(REID / "osnet_x0_25_msmt17.pth", device="cpu"),
        ColourEmbedder(),
    ]


def speed(model, frame_index: int, n_crops: int, rounds: int) -> None:
    import cv2
    import torch

    from hoopsense.video import read_frames

    frame = read_frames(FOOTAGE / CLIPS[0], max_frames=frame_index + 1)[frame_index]
    boxes = detect_people(model, frame, conf=0.15)[:n_crops]
    image = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    sizes = (boxes[:, 2:] - boxes[:, :2]).round().astype(int)
    print(
        f"{len(boxes)} crops from frame {frame_index} of {CLIPS[0]}: sizes (w x h) from {sizes.min(0)} to {sizes.max(0)}"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs, load average {load}")
    print(f"{rounds} rounds, the embedders taking turns\n")
    models = embedders()
    times: dict[str, list[float]] = {e.name: [] for e in models}
    for e in models:
        for _ in range(3):
            e.embed(image, boxes)  # warm-up
    for _ in range(rounds):
        for e in models:
            started = time.perf_counter()
            e.embed(image, boxes)
            times[e.name].append((time.perf_counter() - started) * 1000 / len(boxes))
    base_med = float(np.median(times[models[0].name]))
    base_best = min(times[models[0].name])
    print(f"{'embedder':42s} {'median ms/crop':>15s} {'best ms/crop':>13s} {'median, best vs onnxruntime':>28s}")
    for name, ts in times.items():
        med, best = float(np.median(ts)), min(ts)
        print(f"{name:42s} {med:15.2f} {best:13.2f} {med / base_med:18.3g}x {best / base_best:7.3g}x")
    a, b = models[0].embed(image, boxes), models[1].embed(image, boxes)
    cos = (a * b).sum(axis=1)
    print(
        f"\ncosine between the .onnx and .pth embeddings of the same crops: mean {cos.mean():.3f} "
        f"(min {cos.min():.3f}, max {cos.max():.3f})"
    )


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def _chain(boxes: list[np.ndarray], t: int, gap: int) -> list[tuple[int, int]]:
    """Pairs (i at frame t, j at frame t + gap) linked frame by frame through one-to-one IoU >= 0.5 matches."""
    links = {i: i for i in range(len(boxes[t]))}
    for k in range(t, t + gap):
        if not links or len(boxes[k + 1]) == 0:
            return []
        iou = _iou(boxes[k], boxes[k + 1])
        step = {}
        for i in range(len(boxes[k])):
            j = int(iou[i].argmax())
            if iou[i, j] >= 0.5 and int(iou[:, j].argmax()) == i:
                step[i] = j
        links = {start: step[cur] for start, cur in links.items() if cur in step}
    return sorted(links.items())


def separation(model, gaps: list[int], step: int) -> None:
    import cv2

    from hoopsense.video import read_frames

    models = embedders()
    hits = {(g, e.name): 0 for g in gaps for e in models}
    margins: dict[tuple[int, str], list[float]] = {(g, e.name): [] for g in gaps for e in models}
    pairs = dict.fromkeys(gaps, 0)
    for clip in CLIPS:
        frames = read_frames(FOOTAGE / clip)
        boxes = [detect_people(model, f, conf=0.4) for f in frames]
        cache: dict[tuple[int, str], np.ndarray] = {}

        def vectors(t: int, e) -> np.ndarray:
            if (t, e.name) not in cache:
                cache[t, e.name] = e.embed(cv2.cvtColor(frames[t], cv2.COLOR_RGB2BGR), boxes[t])
            return cache[t, e.name]

        for gap in gaps:
            for t in range(0, len(frames) - gap, step):
                match = _chain(boxes, t, gap)
                if not match or len(boxes[t + gap]) < 2:
                    continue
                pairs[gap] += len(match)
                for e in models:
                    sim = vectors(t, e) @ vectors(t + gap, e).T
                    for i, j in match:
                        best_other = np.delete(sim[i], j).max()
                        hits[gap, e.name] += int(sim[i, j] > best_other)
                        margins[gap, e.name].append(float(sim[i, j] - best_other))
        print(f"{clip}: {len(frames)} frames; pairs so far {pairs}")
    print(f"\n{'embedder':42s} {'gap':>5s} {'pairs':>6s} {'re-identified':>14s} {'mean margin':>12s}")
    for gap in gaps:
        for e in models:
            rate = hits[gap, e.name] / max(1, pairs[gap])
            print(f"{e.name:42s} {gap:5d} {pairs[gap]:6d} {rate:14.1%} {np.mean(margins[gap, e.name]):12.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frame", type=int, default=30)
    parser.add_argument("--crops", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--gaps", default="5,30", help="frame gaps between the crops compared, comma-separated")
    parser.add_argument("--step", type=int, default=10, help="frames between the pairs' first frames")
    parser.add_argument("--no-separation", action="store_true")
    args = parser.parse_args()
    for needed in (DETECTOR, REID / "osnet_x0_25_msmt17.onnx", REID / "osnet_x0_25_msmt17.pth", FOOTAGE / CLIPS[0]):
        if not needed.exists():
            raise SystemExit(f"shared asset missing: {needed}")
    import torch

    threads = torch.get_num_threads()
    from ultralytics import YOLO

    model = YOLO(str(DETECTOR), task="detect")
    torch.set_num_threads(threads)
    speed(model, args.frame, args.crops, args.rounds)
    if not args.no_separation:
        print()
        separation(model, [int(g) for g in args.gaps.split(",")], args.step)


if __name__ == "__main__":
    main()
