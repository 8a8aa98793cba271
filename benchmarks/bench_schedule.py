"""How much a sparser recognition schedule changes the timeline, and what it saves.

Runs ``analyze --recognizer CKPT`` on a clip with the dense schedule (a clip
every half clip, the default: every frame is classified twice) and with longer
strides, then prints for each stride: clips classified, recognizer seconds,
events, and the share of player-frames whose action (or "no action yet")
matches the dense run's timeline. Tracking does not depend on the schedule,
so player ids match between runs.

    python benchmarks/bench_schedule.py CKPT [--clip CLIP] [--strides 8 16 24]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import ASSETS, DETECTOR


def run(clip: Path, ckpt: Path, stride: int | None) -> tuple[dict[tuple[int, int], str], dict]:
    from hoopsense import api as hs

    options = hs.AnalyzeOptions(
        detector=hs.DetectorConfig(weights=str(DETECTOR)),
        recognizer=hs.RecognizerConfig(str(ckpt)),
        stride=stride,
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = hs.analyze(str(clip), str(Path(tmp) / "out.mp4"), options=options, render=False)
    labels: dict[tuple[int, int], str] = {}
    for event in result.events:
        for frame in range(event.start_frame, event.end_frame + 1):
            labels[(event.player_id, frame)] = event.action
    rows = {(pid, f) for pid, stats in result.players.items() for f in range(stats.first_frame, stats.last_frame + 1)}
    recognize = sum(v for k, v in result.stage_s.items() if k.startswith("recognize") and not k.endswith("_wait"))
    info = {
        "clips": result.windows,
        "recognize_s": recognize,
        "events": len(result.events),
        "rows": rows,
        "stride": result.recognizer["stride"],
    }
    return labels, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--clip", type=Path, default=ASSETS / "footage" / "nba_broadcast_wide_854x480.mp4")
    parser.add_argument(
        "--strides", type=int, nargs="+", default=None, help="strides to compare (default: 1x, 2x, 3x half a clip)"
    )
    args = parser.parse_args()
    dense, base = run(args.clip, args.checkpoint, None)
    half = base["stride"]
    strides = args.strides or [2 * half, 3 * half]
    print(f"{args.clip.name}, {args.checkpoint.name}: dense schedule = stride {half}")
    print(
        f"stride {half:3d} (dense):  {base['clips']:5d} clips  {base['recognize_s']:6.1f} s recognizer  {base['events']:4d} events"
    )
    for stride in strides:
        labels, info = run(args.clip, args.checkpoint, stride)
        rows = base["rows"] | info["rows"]
        same = sum(dense.get(r) == labels.get(r) for r in rows) / max(1, len(rows))
        print(
            f"stride {stride:3d}:          {info['clips']:5d} clips  {info['recognize_s']:6.1f} s recognizer  "
            f"{info['events']:4d} events  same action as dense on {100 * same:.1f}% of player-frames "
            f"({info['clips'] / max(1, base['clips']):.2f}x the clips)"
        )


if __name__ == "__main__":
    main()
