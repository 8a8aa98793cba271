"""Speed and memory of ``hoopsense analyze`` on real clips, next to plain ``YOLO.track``.

For each clip it prints:

* hoopsense with video rendering: time per stage, end-to-end fps, peak memory;
* hoopsense tracking only (``--no-video``): fps and peak memory, with the
  default detector backend (OpenVINO on the CPU) and with Ultralytics'
  predictor (``--det-backend ultralytics``);
* with ``--baseline-src``, the tracking-only run of another checkout (e.g. an
  earlier commit: ``git worktree add /tmp/base <commit>``, then
  ``--baseline-src /tmp/base/src``);
* plain Ultralytics ``YOLO(model).track(clip, stream=True)`` (ByteTrack) on the
  same weights file and clip: fps and peak memory;

then peak memory when the first clip is analysed once and looped twice as
long, to show that memory does not grow with the length of the video.

Every measurement runs in a fresh Python process so peak RSS is its own.

    python benchmarks/bench_analyze.py --detector ../shared/assets/detector/yolov8n_int8.onnx
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from _common import ASSETS, peak_mib
from _common import run_child as _run

DEFAULT_CLIPS = [
    ASSETS / "footage" / "gym_warmup_1080p.mp4",
    ASSETS / "footage" / "nba_broadcast_wide_854x480.mp4",
]


def child_hoopsense(clip: str, detector: str, video: bool, backend: str = "auto", reid: str | None = None) -> dict:
    from hoopsense.detection import DetectorConfig
    from hoopsense.identity.stage import IdentityConfig
    from hoopsense.pipeline.analyze import AnalyzeOptions, OutputPaths, analyze

    with tempfile.TemporaryDirectory() as tmp:
        paths = OutputPaths.beside(Path(tmp) / "out.mp4", video=video)
        config = (
            DetectorConfig(weights=detector) if backend == "auto" else DetectorConfig(weights=detector, backend=backend)
        )
        options = AnalyzeOptions(detector=config, identity=IdentityConfig(reid=reid))
        result = analyze(clip, paths, options)
    return {
        "frames": result.frames,
        "fps": result.fps,
        "wall_s": result.wall_s,
        "players": len(result.players),
        "stage_s": result.stage_s,
        "peak_mib": peak_mib(),
    }


def child_yolo_track(clip: str, detector: str) -> dict:
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    os.environ.setdefault("YOLO_OFFLINE", "True")
    from ultralytics import YOLO

    model = YOLO(detector, task="detect")
    frames, ids = 0, set()
    started = time.perf_counter()
    for result in model.track(clip, stream=True, tracker="bytetrack.yaml", classes=[0], verbose=False):
        frames += 1
        if result.boxes.id is not None:
            ids.update(int(i) for i in result.boxes.id.tolist())
    wall = time.perf_counter() - started
    return {"frames": frames, "fps": frames / wall, "wall_s": wall, "players": len(ids), "peak_mib": peak_mib()}


def run_child(kind: str, clip: Path, detector: str, src: str | None = None, reid: str | None = None) -> dict:
    extra = ["--reid", reid] if reid else []
    return _run(__file__, kind, "--clip", str(clip), "--detector", detector, *extra, src=src)


def loop_clip(clip: Path, times: int, out: Path) -> Path:
    """Re-encode ``clip`` ``times`` times back to back (same codec settings for every length)."""
    from hoopsense.video import VideoReader, VideoWriter, probe

    meta = probe(clip)
    with VideoWriter(out, meta.width, meta.height, meta.fps_fraction) as writer:
        for _ in range(times):
            with VideoReader(clip) as reader:
                for frame in reader:
                    writer.write(frame.image)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", default=str(ASSETS / "detector" / "yolov8n_int8.onnx"))
    parser.add_argument("--clips", nargs="*", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument(
        "--reid",
        help="re-ID weights for hoopsense (default: its default, osnet_x0_25_msmt17, which falls back to colour "
        "histograms where it cannot be downloaded: pass a local copy, e.g. ../shared/assets/reid/"
        "osnet_x0_25_msmt17.onnx, to time the default weights offline)",
    )
    parser.add_argument("--baseline-src", help="src folder of another checkout to compare tracking-only speed with")
    parser.add_argument("--child", choices=["video", "tracks", "tracks-ultralytics", "yolo"], help=argparse.SUPPRESS)
    parser.add_argument("--clip", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        if args.child == "yolo":
            out = child_yolo_track(args.clip, args.detector)
        elif args.child == "tracks-ultralytics":
            out = child_hoopsense(args.clip, args.detector, video=False, backend="ultralytics", reid=args.reid)
        else:
            out = child_hoopsense(args.clip, args.detector, video=args.child == "video", reid=args.reid)
        print(json.dumps(out))
        return

    missing = [p for p in [Path(args.detector), *args.clips] if not p.exists()]
    if missing:
        raise SystemExit(f"missing input: {', '.join(map(str, missing))}")
    print(f"detector: {args.detector}   cores: {os.cpu_count()}")
    for clip in args.clips:
        from hoopsense.video import probe

        meta = probe(clip)
        print(f"\n== {clip.name}: {meta.width}x{meta.height}, {meta.n_frames} frames, {meta.fps:.2f} fps")
        video = run_child("video", clip, args.detector, reid=args.reid)
        tracks = run_child("tracks", clip, args.detector, reid=args.reid)
        ultra = run_child("tracks-ultralytics", clip, args.detector, reid=args.reid)
        base = (
            run_child("tracks", clip, args.detector, src=args.baseline_src, reid=args.reid)
            if args.baseline_src
            else None
        )
        yolo = run_child("yolo", clip, args.detector)
        for name, r in (("hoopsense (video)", video), ("hoopsense (--no-video)", tracks)):
            print(
                f"{name + ',':24s} per stage, ms/frame: "
                + ", ".join(f"{k} {1000 * v / r['frames']:.1f}" for k, v in r["stage_s"].items())
            )
        rows = [("hoopsense (video)", video), ("hoopsense (--no-video)", tracks), ("  detector: ultralytics", ultra)]
        rows += [("  baseline checkout", base)] if base else []
        for name, r in (*rows, ("YOLO.track", yolo)):
            print(
                f"{name:24s} {r['fps']:6.2f} fps  {r['wall_s']:6.1f} s  peak {r['peak_mib']:7.0f} MiB  "
                f"players {r['players']}"
            )
        print(f"tracking-only speed vs YOLO.track: {tracks['fps'] / yolo['fps']:.2f}x", end="")
        print(f", vs the baseline checkout: {tracks['fps'] / base['fps']:.2f}x" if base else "")

    clip = args.clips[-1]
    with tempfile.TemporaryDirectory() as tmp:
        once = loop_clip(clip, 1, Path(tmp) / "x1.mp4")
        twice = loop_clip(clip, 2, Path(tmp) / "x2.mp4")
        r1 = run_child("video", once, args.detector, reid=args.reid)
        r2 = run_child("video", twice, args.detector, reid=args.reid)
    print(f"\n== memory vs length ({clip.name} re-encoded, with video rendering)")
    print(f"1x: {r1['frames']} frames, peak {r1['peak_mib']:.0f} MiB")
    print(f"2x: {r2['frames']} frames, peak {r2['peak_mib']:.0f} MiB  (ratio {r2['peak_mib'] / r1['peak_mib']:.3f})")


if __name__ == "__main__":
    main()
