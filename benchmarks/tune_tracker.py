"""Sweep ByteTrack parameters on real broadcast clips and print ID-stability figures.

The detector runs once per clip (at a low score threshold); every parameter set
then replays those detections through :class:`PlayerTracker` and the delay line
exactly as ``analyze`` does. With no ground truth, the figures are proxies:

* ``ids``: distinct player IDs (10 players + referees is ideal on a wide shot);
* ``kept``: IDs present in at least 70% of the frames (players who kept their ID);
* ``born``/``lost``: IDs that start after frame 5 or end before the last frames
  away from the picture border (each is a player who lost or took an ID);
* ``per_frame``: median number of tracked people per frame.

    python benchmarks/tune_tracker.py --detector ../shared/assets/detector/yolov8n_int8.onnx

``--composite 1 2`` sweeps against ground truth instead: the composited
sequences of ``composite_tracking.py`` for those seeds (keep seed 0, which
``bench_tracking.py`` reports, out of it), detections replayed through the
tracker and delay line for ByteTrack and BoT-SORT, scored by the tracker's own
IDF1 (no re-identification) with the detection and fragment caps of
``tracking_bounds.py``.

    python benchmarks/tune_tracker.py --composite 1 2
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from hoopsense.detection import DetectorConfig, YoloDetector
from hoopsense.pipeline.stream import DelayLine, TrackedFrame
from hoopsense.tracking.players import PlayerTracker, TrackerConfig
from hoopsense.video import VideoReader

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT.parent / "shared" / "assets"
CLIPS = ["nba_broadcast_wide_854x480.mp4", "davis.mp4", "euroball_pass.mp4"]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def detect_all(detector: YoloDetector, clip: Path) -> tuple[tuple[int, int, float], list]:
    with VideoReader(clip, pixel_format="bgr24") as reader:
        dets = [detector.detect([f.image], bgr=True)[0] for f in reader]
        meta = reader.meta
    return (meta.width, meta.height, meta.fps), dets


def released(
    size: tuple[int, int, float], dets: list, cfg: TrackerConfig, images: list | None = None
) -> Iterator[TrackedFrame]:
    """The frames ``analyze`` would write: ``dets`` through the tracker (``images`` feed BoT-SORT's camera-motion
    compensation) and the delay line."""
    width, height, fps = size
    tracker = PlayerTracker(cfg, width, height, fps)
    delay = DelayLine(cfg.min_track_frames)
    for i, d in enumerate(dets):
        yield from delay.push(TrackedFrame(i, i / fps, None, tracker.update(d, images[i] if images else None)))
    yield from delay.flush()


def replay(size: tuple[int, int, float], dets: list, cfg: TrackerConfig, conf: float) -> dict[str, float]:
    width, height, _ = size
    first: dict[int, tuple[int, np.ndarray]] = {}
    last: dict[int, tuple[int, np.ndarray]] = {}
    count: dict[int, int] = {}
    per_frame: list[int] = []

    for item in released(size, [d[d.confidence >= conf] for d in dets], cfg):
        per_frame.append(len(item.players))
        for tid, box in zip(item.players.tracker_id.tolist(), item.players.xyxy):
            first.setdefault(tid, (item.index, box))
            last[tid] = (item.index, box)
            count[tid] = count.get(tid, 0) + 1

    n = len(dets)

    def interior(box: np.ndarray) -> bool:
        x1, y1, x2, y2 = box
        return x1 > 0.05 * width and x2 < 0.95 * width and y1 > 0.05 * height and y2 < 0.95 * height

    return {
        "ids": len(count),
        "kept": sum(c >= 0.7 * n for c in count.values()),
        "born": sum(f > 5 and interior(b) for f, b in first.values()),
        "lost": sum(f < n - 6 and interior(b) for f, b in last.values()),
        "per_frame": float(np.median(per_frame)) if per_frame else 0.0,
    }


def against_ground_truth(detector: YoloDetector, seeds: list[int], top: int) -> None:
    """The ``--composite`` sweep (see the module docstring)."""
    import composite_tracking
    import tracking_bounds

    sequences = []
    for seed in seeds:
        folder = Path(tempfile.gettempdir()) / "hoopsense-bench" / f"composite-seed{seed}"
        for seq in composite_tracking.ensure_sequences(folder, seed=seed):
            with VideoReader(seq / f"{seq.name}.mp4", pixel_format="bgr24") as reader:
                frames = [f.image for f in reader]
                meta = reader.meta
            dets = [detector.detect([im], bgr=True)[0] for im in frames]
            gt = tracking_bounds.read_gt(seq / "gt" / "gt.txt")
            sequences.append(((meta.width, meta.height, meta.fps), frames, dets, gt))

    def score(cfg: TrackerConfig) -> tracking_bounds.Bounds:
        parts = []
        for size, frames, dets, gt in sequences:
            boxes = [
                tracking_bounds.Box(item.index + 1, (x1, y1, x2 - x1, y2 - y1), tid, tid)
                for item in released(size, dets, cfg, frames)
                for tid, (x1, y1, x2, y2) in zip(item.players.tracker_id.tolist(), item.players.xyxy.tolist())
            ]
            parts.append(tracking_bounds.bounds(gt, boxes))
        return tracking_bounds.combined(parts)

    defaults = TrackerConfig()
    grid = itertools.product(
        ["bytetrack", "botsort"], [(0.25, 0.25), (0.35, 0.35), (0.5, 0.5), (0.5, 0.25)], [0.05, 0.2], [5, 10]
    )
    rows = []
    for kind, (start, high), iou, min_frames in grid:
        cfg = TrackerConfig(
            kind=kind, activation=start, high_conf=high, min_iou=iou, min_track_frames=min_frames, min_height=0.0
        )
        mark = (kind, start, high, iou, min_frames) == (
            defaults.kind, defaults.activation, defaults.high_conf, defaults.min_iou, defaults.min_track_frames,
        )  # fmt: skip
        rows.append((score(cfg), (kind, start, high, iou, min_frames), mark))
    rows.sort(key=lambda r: -r[0].idf1)
    print(f"composite seeds {seeds}: tracker IDF1 (no re-identification), best first; in %")
    print("kind       start  high   iou  min frames | recall  prec  det cap  fragments  frag cap  IDF1")
    shown = rows[:top] + [r for r in rows[top:] if r[2]]
    for b, (kind, start, high, iou, min_frames), mark in shown:
        print(
            f"{kind:9s}  {start:5.2f} {high:5.2f} {iou:5.2f} {min_frames:11d} | {100 * b.recall:6.1f} "
            f"{100 * b.precision:5.1f} {100 * b.detection_cap:8.1f} {b.fragments:10d} {100 * b.fragment_cap:9.1f} "
            f"{100 * b.idf1:5.1f}{'  <- defaults' if mark else ''}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", default=str(ASSETS / "detector" / "yolov8n_int8.onnx"))
    parser.add_argument("--top", type=int, default=10, help="how many parameter sets to print")
    parser.add_argument(
        "--composite",
        type=int,
        nargs="+",
        metavar="SEED",
        help="sweep against the composite ground truth of these seeds",
    )
    args = parser.parse_args()
    if args.composite:
        against_ground_truth(YoloDetector(DetectorConfig(weights=args.detector)), args.composite, args.top * 2)
        return

    detector = YoloDetector(DetectorConfig(weights=args.detector, conf=0.03))
    data = {name: detect_all(detector, ASSETS / "footage" / name) for name in CLIPS}
    grid = itertools.product([0.3, 0.4, 0.5, 0.6], [0.05, 0.1, 0.2], [0.03, 0.05, 0.1], [1, 3], [30, 60])
    rows = []
    for high, iou, conf, confirm, lost in grid:
        cfg = TrackerConfig(activation=high, high_conf=high, min_iou=iou, confirm_frames=confirm, lost_buffer=lost)
        per_clip = [replay(*data[name], cfg, conf) for name in CLIPS]
        churn = sum(r["born"] + r["lost"] for r in per_clip)
        rows.append((churn, (high, iou, conf, confirm, lost), per_clip))
    rows.sort(key=lambda r: (r[0], -sum(c["kept"] for c in r[2])))
    defaults = TrackerConfig()
    default_key = (
        defaults.high_conf,
        defaults.min_iou,
        DetectorConfig().conf,
        defaults.confirm_frames,
        defaults.lost_buffer,
    )
    print(
        "high  iou   conf  confirm lost | churn | per clip ("
        + ", ".join(CLIPS)
        + "): ids/kept/born/lost/median per frame"
    )
    for churn, key, per_clip in rows[: args.top] + [r for r in rows if r[1] == default_key]:
        mark = "  <- defaults" if key == default_key else ""
        clips = "  ".join(f"{c['ids']}/{c['kept']}/{c['born']}/{c['lost']}/{c['per_frame']:.0f}" for c in per_clip)
        print(f"{key[0]:.2f}  {key[1]:.2f}  {key[2]:.2f}  {key[3]:7d} {key[4]:4d} | {churn:5d} | {clips}{mark}")


if __name__ == "__main__":
    main()
