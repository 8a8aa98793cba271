"""Show the teams and referees found on a real clip: one line per tracked identity, and a picture to look at.

Runs the detector and ByteTrack over the first frames of a clip, accumulates each
identity's mean jersey feature, and prints what :func:`assign_teams` makes of it
(team, colour, frames seen, last box). With ``--png``, writes the last frame
with each box drawn in its team's colour and labelled ``id:team``, plus a strip
of every identity's crop, so that the result can be checked by eye.

    python benchmarks/show_teams.py --frames 165 --png /tmp/teams.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from hoopsense.detection import DetectorConfig, YoloDetector
from hoopsense.identity.teams import TeamModel, assign_teams, jersey_features
from hoopsense.tracking.players import PlayerTracker, TrackerConfig
from hoopsense.video import VideoReader

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT.parent / "shared" / "assets"


def bgr(colour: str) -> tuple[int, int, int]:
    return int(colour[5:7], 16), int(colour[3:5], 16), int(colour[1:3], 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=ASSETS / "footage" / "nba_broadcast_wide_854x480.mp4")
    parser.add_argument("--detector", type=Path, default=ASSETS / "detector" / "yolov8n_int8.onnx")
    parser.add_argument("--frames", type=int, default=60, help="frames to read from the start")
    parser.add_argument("--png", type=Path, help="write the last frame, annotated, and the crops here")
    args = parser.parse_args()

    detector = YoloDetector(DetectorConfig(weights=str(args.detector), device="cpu"))
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    last_box: dict[int, np.ndarray] = {}
    crops: dict[int, np.ndarray] = {}
    image = None
    with VideoReader(args.clip, pixel_format="bgr24") as reader:
        meta = reader.meta
        tracker = PlayerTracker(TrackerConfig(), meta.width, meta.height, meta.fps)
        for frame in reader:
            image = frame.image
            tracked = tracker.update(detector.detect([image], bgr=True)[0])
            for tid, box, feature in zip(tracked.tracker_id, tracked.xyxy, jersey_features(image, tracked.xyxy)):
                tid = int(tid)
                sums[tid] = sums.get(tid, 0) + feature
                counts[tid] = counts.get(tid, 0) + 1
                last_box[tid] = box
                if counts[tid] in (1, 10):
                    x1, y1, x2, y2 = (int(v) for v in box)
                    crop = image[max(y1, 0) : max(y2, y1 + 1), max(x1, 0) : max(x2, x1 + 1)]
                    if crop.size:
                        crops[tid] = cv2.resize(crop, (48, 120), interpolation=cv2.INTER_NEAREST)
            if frame.index + 1 >= args.frames:
                break
    features = {i: sums[i] / counts[i] for i in sums}
    teams = assign_teams(features, counts)
    model = TeamModel.fit(np.stack(list(features.values())), np.array(list(counts.values()))) if features else None
    print(f"{args.clip.name}: {len(features)} identities over {args.frames} frames")
    print("groups:", model.colours if model is not None else "teams could not be told apart")
    for tid in sorted(teams):
        box = ", ".join(f"{v:.0f}" for v in last_box[tid])
        print(f"  id {tid:3d}  {teams[tid].name:8s} {teams[tid].colour}  seen {counts[tid]:4d}  last box [{box}]")
    if args.png is not None and image is not None:
        canvas = image.copy()
        for tid, (x1, y1, x2, y2) in last_box.items():
            colour = bgr(teams[tid].colour)
            cv2.rectangle(canvas, (int(x1), int(y1)), (int(x2), int(y2)), colour, 2)
            label = f"{tid}:{teams[tid].name}"
            cv2.putText(canvas, label, (int(x1), int(y1) - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 255), 1)
        cv2.imwrite(str(args.png), canvas)
        tiles = []
        for tid in sorted(crops):
            tile = crops[tid].copy()
            cv2.rectangle(tile, (0, 0), (47, 119), bgr(teams[tid].colour), 3)
            cv2.putText(tile, str(tid), (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 255), 1)
            tiles.append(tile)
        if tiles:
            strip = args.png.with_name(args.png.stem + "_crops.png")
            cv2.imwrite(str(strip), np.hstack(tiles))
            print(f"wrote {args.png} and {strip}")


if __name__ == "__main__":
    main()
