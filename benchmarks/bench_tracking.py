"""Identity accuracy (HOTA, IDF1, ID switches) and speed of tracker configurations, against ground truth.

Datasets:

* ``composite``: sequences from ``benchmarks/composite_tracking.py`` (real
  players pasted on real empty courts on known trajectories: crossings,
  occlusions, an exit and re-entry, a camera pan and a cut). Generated on the
  first run and reused (``--data``).
* ``MOT17-02`` (``--mot17``): the real pedestrian sequence in
  ``../shared/eval/tracking`` (measuring only: never tune on it). Scored as
  MOTChallenge does it: only pedestrian rows marked for consideration count,
  and predictions on distractors (static people, reflections, people on
  vehicles) are neither rewarded nor penalised.

Configurations (all with the same int8 detector, 640 px input, person class only):

* plain Ultralytics ``YOLO.track`` with ``bytetrack.yaml`` and ``botsort.yaml``;
* ``hoopsense analyze --no-video --mot`` with this build's defaults, and with
  the ``--tracker/--reid/--teams`` variants; a variant whose flags (or flag
  values) ``hoopsense analyze --help`` does not list is reported as
  "not available in this build".

hoopsense runs with ``--min-height 0`` (no person-size filter, as ``YOLO.track``
has none) unless ``--min-height`` says otherwise; its other filters (minimum
track length, detector score) stay at its defaults. Scores come from the
``trackers`` library's evaluation (TrackEval parity), with all sequences of a
dataset combined. ``ms/frame`` is the wall time of the tracking loop (decode,
detect, track, identities; start-up and model loading excluded) divided by the
frames; ``proc s`` is the whole process. Per-stage figures come from the run's
``run.json`` (stages named ``*reid*``/``*identity*`` and ``*team*``).

On the composite set a second table says where each configuration loses
identity (:mod:`tracking_bounds`): the detector's recall and precision, the
IDF1 cap of its boxes (every box with its true identity), the cap of the
tracker's own fragments linked perfectly (what ID swaps inside tracks cost),
and the configuration's IDF1 on the same box matches (what linking loses).

    python benchmarks/bench_tracking.py                       # composite set, default configurations
    python benchmarks/bench_tracking.py --mot17               # and MOT17-02
    python benchmarks/bench_tracking.py --config "mine=--tracker botsort --lost-buffer 90"
    python benchmarks/bench_tracking.py --only "YOLO.track bytetrack,hoopsense defaults"
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import composite_tracking  # noqa: E402
import tracking_bounds  # noqa: E402

SHARED = ROOT.parent / "shared"
DETECTOR = SHARED / "assets" / "detector" / "yolov8n_int8.onnx"
MOT17 = SHARED / "eval" / "tracking"
MOT17_SEQ = "MOT17-02"
REID_ONNX = "../shared/assets/reid/osnet_x0_25_msmt17.onnx"  # relative to the repository root
DEFAULT_DATA = Path(tempfile.gettempdir()) / "hoopsense-bench" / "composite"

YOLO_PREFIX = "yolo:"
DEFAULT_CONFIGS: list[tuple[str, str]] = [
    ("YOLO.track bytetrack", YOLO_PREFIX + "bytetrack.yaml"),
    ("YOLO.track botsort", YOLO_PREFIX + "botsort.yaml"),
    ("hoopsense defaults", ""),
    ("bytetrack", "--tracker bytetrack --reid off --teams off"),
    ("botsort", "--tracker botsort --reid off --teams off"),
    ("ocsort", "--tracker ocsort --reid off --teams off"),
    ("bytetrack + colour re-ID", "--tracker bytetrack --reid colour --teams off"),
    ("botsort + colour re-ID", "--tracker botsort --reid colour --teams off"),
    ("bytetrack + OSNet re-ID", f"--tracker bytetrack --reid {REID_ONNX} --teams off"),
    ("botsort + OSNet re-ID", f"--tracker botsort --reid {REID_ONNX} --teams off"),
    ("ocsort + OSNet re-ID", f"--tracker ocsort --reid {REID_ONNX} --teams off"),
    ("botsort + OSNet re-ID + teams", f"--tracker botsort --reid {REID_ONNX} --teams on"),
]
METRICS = ["CLEAR", "HOTA", "Identity"]


@dataclass
class Outcome:
    """What one configuration gave on one dataset."""

    name: str
    note: str = ""  # why there are no scores ("not available in this build", a failure)
    hota: float = float("nan")
    idf1: float = float("nan")
    idsw: int = 0
    ids_found: int = 0
    ids_gt: int = 0
    frames: int = 0
    loop_s: float = 0.0
    process_s: float = 0.0
    reid_s: float | None = None
    team_s: float | None = None
    bounds: tracking_bounds.Bounds | None = None  # composite set only: where identity is lost


# ---------------------------------------------------------------------------------------------
# What this build's `hoopsense analyze` accepts


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("YOLO_AUTOINSTALL", "False")
    env.setdefault("YOLO_OFFLINE", "True")
    env.setdefault("HOOPSENSE_OFFLINE", "1")
    return env


def analyze_flags() -> dict[str, set[str] | None]:
    """Options of ``hoopsense analyze`` from its ``--help``: flag -> allowed values (None when free)."""
    done = subprocess.run(
        [sys.executable, "-m", "hoopsense", "analyze", "--help"],
        capture_output=True, text=True, env={**_child_env(), "COLUMNS": "400"}, cwd=ROOT, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"hoopsense analyze --help failed:\n{done.stderr[-2000:]}")
    flags: dict[str, set[str] | None] = {}
    for match in re.finditer(r"(--[a-z][a-z0-9-]*)(?:[ =](\{[^}]*\}|[A-Z_]+))?", done.stdout):
        flag, value = match.group(1), match.group(2)
        choices = set(value.strip("{}").split(",")) if value and value.startswith("{") else None
        if flag not in flags or (flags[flag] is None and choices):
            flags[flag] = choices
    return flags


def missing_flags(args: list[str], flags: dict[str, set[str] | None]) -> list[str]:
    """The options (or option values) of ``args`` that this build does not list."""
    missing = []
    for i, token in enumerate(args):
        if not token.startswith("--"):
            continue
        flag, _, inline = token.partition("=")
        if flag not in flags:
            missing.append(flag)
            continue
        choices = flags[flag]
        value = inline or (args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("--") else "")
        if choices and value and value not in choices:
            missing.append(f"{flag} {value}")
    return missing


# ---------------------------------------------------------------------------------------------
# Running the trackers


def run_hoopsense(video: Path, mot: Path, extra: list[str], min_height: float, workdir: Path) -> dict:
    """``hoopsense analyze`` on ``video`` writing ``mot``; returns frames, loop and process seconds and stage seconds."""
    out = workdir / f"{video.stem}.mp4"
    cmd = [
        sys.executable, "-m", "hoopsense", "analyze", str(video), "--out", str(out), "--no-video",
        "--mot", str(mot), "--detector", str(DETECTOR), "--min-height", str(min_height), "--quiet", *extra,
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(), cwd=ROOT, check=False)
    process_s = time.perf_counter() - started
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or done.stdout).strip().splitlines() if ln.strip()]
        raise RuntimeError(lines[-1] if lines else f"exit code {done.returncode}")
    record = json.loads((workdir / f"{video.stem}.run.json").read_text())
    frames = int(record["frames"])
    fps = float(record.get("fps_achieved") or 0.0)
    return {"frames": frames, "loop_s": frames / fps if fps > 0 else process_s, "process_s": process_s,
            "stage_s": dict(record.get("stage_s") or {})}  # fmt: skip


def child_yolo_track(video: str, tracker: str, mot: str, detector: str, max_frames: int) -> dict:
    """In a fresh process: ``YOLO.track`` (persons only, 640 px) over ``video``, MOT rows to ``mot``."""
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    os.environ.setdefault("YOLO_OFFLINE", "True")
    from ultralytics import YOLO

    model = YOLO(detector, task="detect")
    frames = 0
    started = time.perf_counter()
    with open(mot, "w") as fh:
        for result in model.track(video, stream=True, tracker=tracker, classes=[0], imgsz=640, verbose=False):
            frames += 1
            boxes = result.boxes
            if boxes.id is not None:
                for (x1, y1, x2, y2), tid, conf in zip(boxes.xyxy.tolist(), boxes.id.tolist(), boxes.conf.tolist()):
                    fh.write(f"{frames},{int(tid)},{x1:.1f},{y1:.1f},{x2 - x1:.1f},{y2 - y1:.1f},{conf:.3f},-1,-1,-1\n")
            if max_frames and frames >= max_frames:
                break
    return {"frames": frames, "loop_s": time.perf_counter() - started}


def run_yolo(video: Path, mot: Path, tracker: str, max_frames: int) -> dict:
    cmd = [sys.executable, __file__, "--child-yolo", str(video), tracker, str(mot), str(DETECTOR), str(max_frames)]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(), cwd=ROOT, check=False)
    process_s = time.perf_counter() - started
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
        raise RuntimeError(lines[-1] if lines else f"exit code {done.returncode}")
    info = json.loads(done.stdout.strip().splitlines()[-1])
    return {**info, "process_s": process_s, "stage_s": {}}


def _keep_frames(mot: Path, last: int) -> None:
    """Drop rows after frame ``last`` (1-based) from a MOT file."""
    rows = [ln for ln in mot.read_text().splitlines() if ln.strip() and int(float(ln.split(",")[0])) <= last]
    mot.write_text("".join(ln + "\n" for ln in rows))


def _ids(path: Path, gt: bool) -> int:
    """Distinct ids of a MOT file (for ground truth: only rows scored as pedestrians)."""
    ids = set()
    for line in path.read_text().splitlines():
        parts = line.split(",")
        if len(parts) < 6:
            continue
        if gt and len(parts) >= 8 and (float(parts[6]) == 0 or int(float(parts[7])) != 1):
            continue
        if int(float(parts[1])) >= 0:
            ids.add(int(float(parts[1])))
    return len(ids)


# ---------------------------------------------------------------------------------------------
# One dataset


@dataclass(frozen=True)
class Dataset:
    """Sequences ``gt_dir/<name>/gt/gt.txt`` with their videos, scored on frames ``1..frames[name]``."""

    key: str
    title: str
    gt_dir: Path
    videos: dict[str, Path]
    frames: dict[str, int]


def composite_dataset(data: Path, seed: int, count: int, n_frames: int) -> Dataset:
    seqs = composite_tracking.ensure_sequences(data, seed=seed, count=count, n_frames=n_frames)
    return Dataset(
        "composite",
        f"composite (seed {seed}, {count} x {n_frames} frames, {data})",
        data,
        {s.name: s / f"{s.name}.mp4" for s in seqs},
        {s.name: n_frames for s in seqs},
    )


def mot17_dataset(work: Path, max_frames: int) -> Dataset:
    seq = MOT17 / MOT17_SEQ
    for path in (seq / "gt" / "gt.txt", seq / f"{MOT17_SEQ}.mp4"):
        if not path.exists():
            raise SystemExit(f"{path} is missing (the shared eval folder is absent on this machine)")
    total = 600
    n = min(max_frames, total) if max_frames else total
    gt_dir = MOT17
    if n < total:  # score only the frames that every configuration saw
        gt_dir = work / "mot17-gt"
        (gt_dir / MOT17_SEQ / "gt").mkdir(parents=True, exist_ok=True)
        shutil.copy(seq / "gt" / "gt.txt", gt_dir / MOT17_SEQ / "gt" / "gt.txt")
        _keep_frames(gt_dir / MOT17_SEQ / "gt" / "gt.txt", n)
    return Dataset(
        MOT17_SEQ,
        f"{MOT17_SEQ} (real pedestrians, {n} frames, 960x540)",
        gt_dir,
        {MOT17_SEQ: seq / f"{MOT17_SEQ}.mp4"},
        {MOT17_SEQ: n},
    )


def score(dataset: Dataset, results: Path, outcome: Outcome) -> None:
    from trackers.eval import evaluate_mot_sequences

    seqmap = results / "seqmap.txt"
    seqmap.write_text("name\n" + "".join(f"{name}\n" for name in dataset.videos))
    for name in dataset.videos:
        pred = results / f"{name}.txt"
        if not pred.exists() or not pred.read_text().strip():  # the evaluator refuses an empty file
            pred.write_text("1,-1,0,0,1,1,0,-1,-1,-1\n")
    result = evaluate_mot_sequences(dataset.gt_dir, results, seqmap=seqmap, metrics=METRICS).aggregate
    outcome.hota = result.HOTA.HOTA
    outcome.idf1 = result.Identity.IDF1
    outcome.idsw = int(result.CLEAR.IDSW)
    outcome.ids_found = sum(_ids(results / f"{n}.txt", gt=False) for n in dataset.videos)
    outcome.ids_gt = sum(_ids(dataset.gt_dir / n / "gt" / "gt.txt", gt=True) for n in dataset.videos)


def run_config(dataset: Dataset, name: str, spec: str, flags: dict, min_height: float, work: Path, log) -> Outcome:
    outcome = Outcome(name)
    is_yolo = spec.startswith(YOLO_PREFIX)
    extra = shlex.split(spec) if not is_yolo else []
    if not is_yolo:
        missing = missing_flags(extra, flags)
        if missing:
            outcome.note = f"not available in this build (no {', '.join(missing)})"
            return outcome
    results = work / re.sub(r"[^A-Za-z0-9_.-]+", "_", name) / dataset.key
    results.mkdir(parents=True, exist_ok=True)
    reid = team = 0.0
    seen_reid = seen_team = False
    for seq, video in dataset.videos.items():
        mot = results / f"{seq}.txt"
        log(f"  {name} on {seq} ...")
        try:
            if is_yolo:
                info = run_yolo(video, mot, spec[len(YOLO_PREFIX) :], dataset.frames[seq])
            else:
                info = run_hoopsense(video, mot, extra, min_height, results)
        except RuntimeError as exc:
            outcome.note = f"failed on {seq}: {exc}"
            return outcome
        _keep_frames(mot, dataset.frames[seq])
        frames = min(int(info["frames"]), dataset.frames[seq])
        outcome.frames += frames
        outcome.loop_s += info["loop_s"] * frames / max(int(info["frames"]), 1)
        outcome.process_s += info["process_s"]
        for stage, seconds in info["stage_s"].items():
            key = stage.lower()
            if "team" in key:
                team, seen_team = team + seconds, True
            elif "reid" in key or "re-id" in key or "identity" in key:
                reid, seen_reid = reid + seconds, True
    outcome.reid_s = reid if seen_reid else None
    outcome.team_s = team if seen_team else None
    score(dataset, results, outcome)
    if dataset.key == "composite":
        outcome.bounds = dataset_bounds(dataset, results)
    return outcome


def dataset_bounds(dataset: Dataset, results: Path) -> tracking_bounds.Bounds:
    """Detection and fragment caps of a run (see :mod:`tracking_bounds`): hoopsense's tracks.csv gives the
    tracker's own IDs beside the identities; a MOT file's IDs are both."""
    parts = []
    for seq in dataset.videos:
        gt = tracking_bounds.read_gt(dataset.gt_dir / seq / "gt" / "gt.txt")
        gt = gt[gt[:, 0] <= dataset.frames[seq]]
        tracks = results / f"{seq}.tracks.csv"
        boxes = (
            tracking_bounds.read_tracks_csv(tracks)
            if tracks.exists()
            else tracking_bounds.read_mot(results / f"{seq}.txt")
        )
        parts.append(tracking_bounds.bounds(gt, [b for b in boxes if b.frame <= dataset.frames[seq]]))
    return tracking_bounds.combined(parts)


def bounds_table(outcomes: list[Outcome]) -> str:
    """Where each configuration loses identity: detector, tracker swaps, linking (IDF1 on one matching)."""
    head = ("configuration", "recall", "precision", "IDF1 detection cap", "fragments", "IDF1 fragment cap", "IDF1")
    rows = [
        (o.name, f"{100 * b.recall:.1f}", f"{100 * b.precision:.1f}", f"{100 * b.detection_cap:.1f}",
         str(b.fragments), f"{100 * b.fragment_cap:.1f}", f"{100 * b.idf1:.1f}")
        for o in outcomes if (b := o.bounds) is not None
    ]  # fmt: skip
    if not rows:
        return ""
    return "\n".join([
        "where identity is lost (boxes matched to people at IoU 0.5 once; in %)",
        *_aligned(head, rows),
        "detection cap: every output box with its true identity; fragment cap: the run's fragments linked "
        "perfectly; IDF1: the configuration's identities on the same matches.",
    ])  # fmt: skip


def _aligned(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """``head``, a rule and ``rows`` in aligned columns (names left, figures right); a row of a name and a
    note (shorter than ``head``) prints the note after the name."""
    full = [r for r in rows if len(r) == len(head)]
    widths = [
        max(len(head[i]), *(len(r[i]) for r in full), *(len(r[0]) for r in rows if i == 0)) for i in range(len(head))
    ]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    lines = [fmt(head), "-" * len(fmt(head))]
    for r in rows:
        lines.append(fmt(r) if len(r) == len(head) else f"{r[0].ljust(widths[0])}  {r[1]}")
    return lines


def table(title: str, outcomes: list[Outcome], min_height: float) -> str:
    head = ("configuration", "HOTA", "IDF1", "IDsw", "IDs found/GT", "ms/frame", "re-ID ms/f", "teams ms/f", "proc s")
    rows = []
    for o in outcomes:
        if o.note:
            rows.append((o.name, o.note))
            continue
        per = lambda s: "-" if s is None else f"{1000 * s / max(o.frames, 1):.1f}"  # noqa: E731
        rows.append((
            o.name, f"{100 * o.hota:.1f}", f"{100 * o.idf1:.1f}", str(o.idsw), f"{o.ids_found}/{o.ids_gt}",
            f"{1000 * o.loop_s / max(o.frames, 1):.0f}", per(o.reid_s), per(o.team_s), f"{o.process_s:.0f}",
        ))  # fmt: skip
    lines = [title, *_aligned(head, rows)]
    lines.append(
        f"HOTA and IDF1 in %, all sequences combined; hoopsense with --min-height {min_height:g}; "
        "ms/frame: tracking loop wall time (start-up and model loading excluded); proc s: whole processes."
    )
    return "\n".join(lines)


def parse_configs(extra: list[str], only: str | None) -> list[tuple[str, str]]:
    configs = dict(DEFAULT_CONFIGS)
    for item in extra:
        name, sep, spec = item.partition("=")
        if not sep or not name.strip():
            raise SystemExit(
                f"--config wants NAME=ARGS (ARGS: hoopsense analyze options, or yolo:TRACKER.yaml), got {item!r}"
            )
        configs[name.strip()] = spec.strip()
    if only:
        wanted = [n.strip() for n in only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in configs]
        if unknown:
            raise SystemExit(f"unknown configuration(s) {unknown}; known: {list(configs)}")
        return [(n, configs[n]) for n in wanted]
    return list(configs.items())


def main(argv: list[str] | None = None) -> int:
    global DETECTOR
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help=f"folder of the composite sequences (default: {DEFAULT_DATA})"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the composite sequences (default: 0)")
    parser.add_argument("--sequences", type=int, default=3, help="composite sequences (default: 3)")
    parser.add_argument("--frames", type=int, default=300, help="frames per composite sequence (default: 300)")
    parser.add_argument("--mot17", action="store_true", help=f"also score {MOT17_SEQ} (real pedestrians)")
    parser.add_argument("--no-composite", action="store_true", help="skip the composite set (with --mot17)")
    parser.add_argument(
        "--mot17-frames", type=int, default=0, help=f"score only the first N frames of {MOT17_SEQ} (default: all 600)"
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help="add or replace a configuration: hoopsense analyze options, or yolo:TRACKER.yaml",
    )
    parser.add_argument("--only", help="comma-separated configuration names to run")
    parser.add_argument(
        "--detector", type=Path, default=None, help="detector weights for every configuration (default: int8 ONNX)"
    )
    parser.add_argument(
        "--min-height",
        type=float,
        default=0.0,
        help="hoopsense's person-size filter for every hoopsense configuration (default: 0 = none, like YOLO.track)",
    )
    parser.add_argument("--keep", type=Path, help="keep the tracker outputs in this folder")
    parser.add_argument("--child-yolo", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_yolo:
        video, tracker, mot, detector, max_frames = args.child_yolo
        print(json.dumps(child_yolo_track(video, tracker, mot, detector, int(max_frames))))
        return 0
    DETECTOR = args.detector or DETECTOR
    if not DETECTOR.exists():
        raise SystemExit(f"{DETECTOR} is missing (the shared assets folder is absent on this machine)")
    configs = parse_configs(args.config, args.only)
    flags = analyze_flags()
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    datasets = []
    if not args.no_composite:
        datasets.append(composite_dataset(args.data, args.seed, args.sequences, args.frames))
    if args.mot17:
        datasets.append(mot17_dataset(work, args.mot17_frames))
    try:
        for dataset in datasets:
            log(f"{dataset.title}:")
            outcomes = [run_config(dataset, n, s, flags, args.min_height, work, log) for n, s in configs]
            print(table(dataset.title, outcomes, args.min_height), flush=True)
            print(flush=True)
            lost = bounds_table(outcomes)
            if lost:
                print(lost, flush=True)
                print(flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
