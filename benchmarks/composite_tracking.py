"""Composited basketball tracking sequences with exact ground truth.

Real players are cut from the shared footage (``../shared/assets/footage``):
the int8 detector finds a chosen person in a run of consecutive frames, each
frame's crop gets a soft alpha mask (difference to the clip's temporal median
for the static-camera practice clip, GrabCut inside the box plus a soft body
prior for the others), so the pasted player animates. The players are pasted
on real empty courts: the temporal median of the static practice clip, and a
player-free part of the euroball clip (median over frames with the detected
people masked out). Each player follows a scripted trajectory in the court's
own pixel coordinates, drawn back to front by feet position, so the one nearer
the camera occludes the other.

Every sequence has, by construction:

* two crossings with one player passing in front of another, one of them by
  two similar-looking players (both in white warm-ups, or both in black);
* an exit through the side of the view and a re-entry after a gap;
* a camera pan: the view slides over the court, background and players shift together;
* a cut: a hard change of view (the other court, or a zoomed crop of another
  part of the same court), after which every player reappears at a new
  position and size; one of them only enters some time later.

Output per sequence, MOTChallenge style::

    OUT_DIR/composite-01/composite-01.mp4   854x480, 25 fps, 300 frames by default
    OUT_DIR/composite-01/gt/gt.txt          frame (1-based), id, x, y, w, h, 1, 1, visibility
    OUT_DIR/composite-01/seqinfo.ini
    OUT_DIR/composite-01/events.json        cut and pan frames, crossings, exits, who is who

Boxes are the person's box clipped to the frame; a row is written while at
least :data:`MIN_INSIDE` of the box is inside the frame (occluded players keep
their rows). Visibility is the share of the player's mask that is inside the
frame and not covered by a player drawn in front. Everything is deterministic
for a seed; the cut crops and backgrounds are cached under ``OUT_DIR/_cache``
and finished sequences are reused (see :func:`ensure_sequences`).

    python benchmarks/composite_tracking.py /tmp/hoopsense-composite --seed 0
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import itertools
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT.parent / "shared" / "assets"
FOOTAGE = ASSETS / "footage"
DETECTOR = ASSETS / "detector" / "yolov8n_int8.onnx"

GENERATOR_VERSION = 1  # bump when the output of a seed changes
BANK_VERSION = 1  # bump when the cut crops change
COURT_VERSION = 2  # bump when the empty courts change
WIDTH, HEIGHT, FPS = 854, 480, 25
MIN_INSIDE = 0.25  # share of a box that must be inside the frame for a ground-truth row
RUN_LEN = 24  # consecutive source frames per player (played forwards then backwards)


# ---------------------------------------------------------------------------------------------
# Players: a run of RGBA crops of one person


@dataclass(frozen=True)
class ActorSource:
    """Where a player is cut from: ``clip`` in the footage folder, its first frame, and a box
    ``(x1, y1, x2, y2)`` in source pixels near the person in that frame. ``mask`` is ``"still"``
    (static camera: difference to the clip's median) or ``"grabcut"``."""

    name: str
    clip: str
    start: int
    seed_box: tuple[float, float, float, float]
    mask: str = "grabcut"
    look: str = ""


# Visibly different people, and two similar-looking pairs (``look`` groups them).
ACTOR_SOURCES: tuple[ActorSource, ...] = (
    ActorSource("gym_ponytail", "gym_warmup_1080p.mp4", 60, (832, 268, 1054, 875), look="white warm-up"),
    ActorSource("gym_wilmington", "gym_warmup_1080p.mp4", 60, (491, 334, 632, 832), look="white warm-up"),
    ActorSource("euro_red6", "euroball_pass.mp4", 0, (179, 119, 260, 306), look="red jersey"),
    ActorSource("nba_referee", "nba_broadcast_wide_854x480.mp4", 0, (60, 317, 133, 434), look="referee"),
    ActorSource("nba_blue30", "nba_broadcast_wide_854x480.mp4", 0, (306, 230, 337, 332), look="blue jersey"),
    ActorSource("davis_white15", "davis.mp4", 7, (637, 284, 682, 437), look="white jersey"),
    ActorSource("practice_black", "practice_3players_1280x720.mp4", 0, (561, 335, 608, 478), "still", "black"),
    ActorSource("practice_grey", "practice_3players_1280x720.mp4", 0, (689, 332, 751, 488), "still", "black"),
    ActorSource("practice_bald", "practice_3players_1280x720.mp4", 0, (256, 322, 345, 526), "still", "bald"),
)
SIMILAR_PAIRS = (("gym_ponytail", "gym_wilmington"), ("practice_black", "practice_grey"))


@dataclass
class Actor:
    """A player to paste: ``crops`` are uint8 RGBA ``(h, w, 4)`` arrays (RGB order, alpha 0-255),
    ``boxes`` float ``(n, 4)`` the person's box ``(x1, y1, x2, y2)`` in each crop's pixels."""

    name: str
    crops: list[np.ndarray]
    boxes: np.ndarray
    look: str = ""

    def __post_init__(self) -> None:
        if not self.crops or len(self.crops) != len(self.boxes):
            raise ValueError(
                f"actor {self.name}: needs as many boxes as crops (got {len(self.boxes)}, {len(self.crops)})"
            )
        self.boxes = np.asarray(self.boxes, dtype=np.float64)

    @property
    def height(self) -> float:
        """Median person height over the run, in crop pixels."""
        return float(np.median(self.boxes[:, 3] - self.boxes[:, 1]))

    def frame_at(self, i: int) -> int:
        """Crop index for animation step ``i``: forwards, then backwards, looping."""
        n = len(self.crops)
        if n == 1:
            return 0
        k = i % (2 * n - 2)
        return k if k < n else 2 * n - 2 - k


def _read_frames(path: Path, first: int, count: int, step: int = 1) -> list[np.ndarray]:
    """RGB uint8 frames ``first, first + step, ...`` (``count`` of them at most), read in order."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SystemExit(f"cannot open {path}")
    out: list[np.ndarray] = []
    i = 0
    try:
        while len(out) < count:
            ok, frame = cap.read()
            if not ok:
                break
            if i >= first and (i - first) % step == 0:
                out.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            i += 1
    finally:
        cap.release()
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of box ``a`` (4,) with boxes ``b`` (n, 4), xyxy."""
    x1, y1 = np.maximum(a[0], b[:, 0]), np.maximum(a[1], b[:, 1])
    x2, y2 = np.minimum(a[2], b[:, 2]), np.minimum(a[3], b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return inter / np.maximum(area, 1e-9)


PersonDetector = Callable[[np.ndarray], np.ndarray]


def yolo_person_detector(weights: Path = DETECTOR, conf: float = 0.3) -> PersonDetector:
    """A function RGB uint8 ``(H, W, 3)`` -> person boxes float ``(n, 4)`` xyxy, with the int8 detector."""
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    os.environ.setdefault("YOLO_OFFLINE", "True")
    from ultralytics import YOLO

    model = YOLO(str(weights), task="detect")

    def detect(image: np.ndarray) -> np.ndarray:
        result = model.predict(image[..., ::-1], classes=[0], conf=conf, imgsz=640, verbose=False)[0]
        return result.boxes.xyxy.cpu().numpy().astype(np.float64).reshape(-1, 4)

    return detect


def follow(boxes_per_frame: Sequence[np.ndarray], seed_box: Sequence[float]) -> np.ndarray:
    """The box of one person through frames: best IoU with the previous box (or ``seed_box``).
    Returns float ``(n, 4)``; stops early (fewer rows) when the person is lost."""
    prev = np.asarray(seed_box, dtype=np.float64)
    out = []
    for boxes in boxes_per_frame:
        if len(boxes) == 0:
            break
        ious = _iou(prev, boxes)
        k = int(np.argmax(ious))
        if ious[k] < 0.3:
            break
        prev = boxes[k]
        out.append(prev)
    return np.array(out, dtype=np.float64).reshape(-1, 4)


def _smooth_boxes(boxes: np.ndarray, radius: int = 2) -> np.ndarray:
    """Moving average of boxes over ``2 * radius + 1`` frames (edges use what exists)."""
    out = np.empty_like(boxes)
    for i in range(len(boxes)):
        out[i] = boxes[max(0, i - radius) : i + radius + 1].mean(axis=0)
    return out


def _feather_rect(h: int, w: int, margin: float) -> np.ndarray:
    """float32 ``(h, w)``: 1 inside, falling to 0 over ``margin`` pixels at the edges."""
    ys = np.minimum(np.arange(h), np.arange(h)[::-1]) + 0.5
    xs = np.minimum(np.arange(w), np.arange(w)[::-1]) + 0.5
    m = max(margin, 1.0)
    return (np.clip(ys / m, 0, 1)[:, None] * np.clip(xs / m, 0, 1)[None, :]).astype(np.float32)


def _body_prior(h: int, w: int, box: np.ndarray, width: float, height: float) -> np.ndarray:
    """A soft super-ellipse inside ``box`` (crop pixels): 1 in the middle, 0 outside.
    ``width``/``height`` are its half-axes as fractions of the box size."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    bw, bh = max(box[2] - box[0], 1), max(box[3] - box[1], 1)
    d = (np.abs(xx - cx) / (width * bw)) ** 4 + (np.abs(yy - cy) / (height * bh)) ** 4
    return np.clip((1.0 - d) / 0.35, 0, 1).astype(np.float32)


def _largest_near(mask: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Keep the connected parts of a binary mask that touch the middle third of ``box``."""
    n, labels = cv2.connectedComponents(mask.astype(np.uint8))
    if n <= 2:
        return mask
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    core = labels[int(y1 + h / 6) : int(y2 - h / 6), int(x1 + w / 3) : int(x2 - w / 3) + 1]
    keep = [k for k in np.unique(core) if k != 0]
    return np.isin(labels, keep) if keep else mask


def _alpha_still(crop: np.ndarray, plate: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Alpha float32 0-1 from the difference of an RGB crop to the same crop of the empty court."""
    a = cv2.GaussianBlur(crop, (3, 3), 0).astype(np.float32)
    b = cv2.GaussianBlur(plate, (3, 3), 0).astype(np.float32)
    diff = np.abs(a - b).max(axis=2)
    fg = diff > 28
    fg &= _body_prior(*crop.shape[:2], box, 0.62, 0.56) > 0
    fg = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)) > 0
    fg = _largest_near(fg, box)
    alpha = np.maximum(fg.astype(np.float32), 0.85 * _body_prior(*crop.shape[:2], box, 0.18, 0.42))
    return alpha


def _alpha_grabcut(crop: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Alpha float32 0-1: GrabCut initialised with the person box, joined with a soft body prior."""
    h, w = crop.shape[:2]
    x1, y1, x2, y2 = box
    rect = (
        int(max(0, x1)),
        int(max(0, y1)),
        int(max(1, min(w, x2) - max(0, x1))),
        int(max(1, min(h, y2) - max(0, y1))),
    )
    mask = np.zeros((h, w), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(crop[..., ::-1].copy(), mask, rect, bgd, fgd, 3, cv2.GC_INIT_WITH_RECT)
        fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    except cv2.error:
        fg = np.zeros((h, w), bool)
    box_area = max((x2 - x1) * (y2 - y1), 1)
    if fg.sum() < 0.2 * box_area:  # GrabCut lost the person: the soft prior alone
        return _body_prior(h, w, box, 0.5, 0.5)
    fg = _largest_near(fg, box)
    return np.maximum(fg.astype(np.float32), 0.85 * _body_prior(h, w, box, 0.2, 0.44))


def cut_actor(
    source: ActorSource, frames: Sequence[np.ndarray], boxes: np.ndarray, plate: np.ndarray | None = None
) -> Actor:
    """RGBA crops of one person: ``frames`` RGB uint8, ``boxes`` ``(n, 4)`` the person in each frame
    (source pixels), ``plate`` the empty-court RGB image for ``mask="still"``."""
    cv2.setRNGSeed(0)
    boxes = _smooth_boxes(boxes)
    crops, inner = [], []
    for frame, box in zip(frames, boxes):
        H, W = frame.shape[:2]
        x1, y1, x2, y2 = box
        bw, bh = x2 - x1, y2 - y1
        X1, Y1 = int(max(0, np.floor(x1 - 0.18 * bw))), int(max(0, np.floor(y1 - 0.08 * bh)))
        X2, Y2 = int(min(W, np.ceil(x2 + 0.18 * bw))), int(min(H, np.ceil(y2 + 0.08 * bh)))
        crop = np.ascontiguousarray(frame[Y1:Y2, X1:X2])
        local = np.array([x1 - X1, y1 - Y1, x2 - X1, y2 - Y1])
        if source.mask == "still" and plate is not None:
            alpha = _alpha_still(crop, plate[Y1:Y2, X1:X2], local)
        else:
            alpha = _alpha_grabcut(crop, local)
        alpha = cv2.GaussianBlur(alpha, (0, 0), max(0.8, 0.008 * bh))
        alpha *= _feather_rect(*alpha.shape, margin=0.04 * bh)
        rgba = np.dstack([crop, np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)])
        crops.append(rgba)
        inner.append(local)
    return Actor(source.name, crops, np.array(inner), source.look)


def _save_actor(path: Path, actor: Actor) -> None:
    arrays = {f"crop_{i:03d}": c for i, c in enumerate(actor.crops)}
    tmp = path.with_name(path.stem + ".part.npz")
    np.savez_compressed(tmp, boxes=actor.boxes, name=np.array(actor.name), look=np.array(actor.look), **arrays)
    os.replace(tmp, path)


def _load_actor(path: Path) -> Actor:
    with np.load(path) as data:
        keys = sorted(k for k in data.files if k.startswith("crop_"))
        return Actor(str(data["name"]), [data[k] for k in keys], data["boxes"], str(data["look"]))


# ---------------------------------------------------------------------------------------------
# Empty courts


@dataclass(frozen=True)
class Court:
    """An empty court image (RGB uint8, any size) and where players may stand on it.

    ``feet`` is the range of feet y (court pixels) from the far side to the near
    side, ``heights`` the person heights (court pixels) at those two ends
    (linear in between); ``x_range`` the left edges and ``view_y`` the top
    edge a 1x view of 854x480 may take without showing anything that is not
    court (a screen overlay, the image border).
    """

    name: str
    image: np.ndarray
    feet: tuple[float, float]
    heights: tuple[float, float]
    x_range: tuple[float, float]
    view_y: float

    def person_height(self, y: float) -> float:
        (f0, f1), (h0, h1) = self.feet, self.heights
        return h0 + (h1 - h0) * (y - f0) / (f1 - f0)


def median_plate(path: Path, step: int = 8, detector: PersonDetector | None = None) -> np.ndarray:
    """The empty court of a static-camera clip: RGB uint8 per-pixel median of every ``step``-th frame.
    With ``detector``, people (boxes widened) are left out of the median and pixels never free are inpainted."""
    frames = _read_frames(path, 0, 10_000, step)
    stack = np.stack(frames).astype(np.float32)
    if detector is not None:
        for i, frame in enumerate(frames):
            for x1, y1, x2, y2 in detector(frame):
                w, h = x2 - x1, y2 - y1
                ya, yb = int(max(0, y1 - 0.15 * h)), int(y2 + 0.15 * h)
                xa, xb = int(max(0, x1 - 0.3 * w)), int(x2 + 0.3 * w)
                stack[i, ya:yb, xa:xb] = np.nan
        with np.errstate(all="ignore"):
            plate = np.nanmedian(stack, axis=0)
        hole = np.isnan(plate[..., 0])
        plate = np.nan_to_num(plate).astype(np.uint8)
        if hole.any():
            plate = cv2.inpaint(plate, hole.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA)
        return plate
    return np.median(stack, axis=0).astype(np.uint8)


def build_courts(cache: Path, detector: PersonDetector | None) -> dict[str, Court]:
    """The two empty courts (cached as PNG under ``cache``).

    * ``practice``: median of the static practice clip (1280x720). A 854x480
      view with its top at y=220 stays clear of the app overlay (speaker
      icon, score board, top) when its left edge is within 0-280 px (the
      STOP button sits further right). A bag by the wall is painted out.
    * ``euroball``: median of the euroball clip with detected people left
      out; its right part (x 265-640, y 95-360, free of people in every
      frame) is scaled 2.28x to 855x604.
    """
    cache.mkdir(parents=True, exist_ok=True)
    out: dict[str, Court] = {}
    practice = cache / f"court_practice_v{COURT_VERSION}.png"
    if not practice.exists():
        plate = median_plate(FOOTAGE / "practice_3players_1280x720.mp4", step=8)
        hole = np.zeros(plate.shape[:2], np.uint8)
        hole[412:462, 714:756] = 255  # a bag by the wall that the detector takes for a crouching person
        _write_png(practice, cv2.inpaint(plate, hole, 7, cv2.INPAINT_TELEA))
    out["practice"] = Court(
        "practice", _read_png(practice), feet=(470, 695), heights=(92, 205), x_range=(0, 280), view_y=220
    )
    euro = cache / f"court_euroball_v{COURT_VERSION}.png"
    if not euro.exists():
        if detector is None:
            raise SystemExit("the euroball court needs the person detector once (to leave people out of its median)")
        plate = median_plate(FOOTAGE / "euroball_pass.mp4", step=1, detector=detector)[95:360, 265:640]
        _write_png(euro, cv2.resize(plate, (855, 604), interpolation=cv2.INTER_CUBIC))
    out["euroball"] = Court("euroball", _read_png(euro), feet=(200, 585), heights=(95, 240), x_range=(0, 1), view_y=100)
    return out


def _write_png(path: Path, rgb: np.ndarray) -> None:
    tmp = path.with_name(path.stem + ".part.png")
    cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    os.replace(tmp, path)


def _read_png(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"cannot read {path}; delete it to rebuild")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def build_bank(
    cache: Path,
    detector: PersonDetector | None = None,
    sources: Sequence[ActorSource] = ACTOR_SOURCES,
    run_len: int = RUN_LEN,
) -> list[Actor]:
    """Cut (or load from ``cache``) one :class:`Actor` per source, ``run_len`` frames each.
    A ``mask="still"`` source is masked by its difference to its clip's plain temporal median."""
    cache.mkdir(parents=True, exist_ok=True)
    actors = []
    plates: dict[str, np.ndarray] = {}
    for src in sources:
        path = cache / f"actor_{src.name}_{run_len}_v{BANK_VERSION}.npz"
        if path.exists():
            actors.append(_load_actor(path))
            continue
        if detector is None:
            detector = yolo_person_detector()
        frames = _read_frames(FOOTAGE / src.clip, src.start, run_len)
        boxes = follow([detector(f) for f in frames], src.seed_box)
        if len(boxes) < min(run_len, 4):
            raise SystemExit(
                f"{src.name}: person near {src.seed_box} in {src.clip}@{src.start} followed for only {len(boxes)} frames"
            )
        plate = None
        if src.mask == "still":
            plate = plates.get(src.clip)
            if plate is None:
                plate = plates[src.clip] = median_plate(FOOTAGE / src.clip, step=8)
        actor = cut_actor(src, frames[: len(boxes)], boxes, plate)
        _save_actor(path, actor)
        actors.append(actor)
    return actors


# ---------------------------------------------------------------------------------------------
# Scripts: shots, camera and trajectories


@dataclass(frozen=True)
class Shot:
    """Frames ``[start, end)`` seen through one camera on ``court``. The view's top-left corner
    (court pixels) moves linearly from ``x_from`` to ``x_to`` during ``[pan_start, pan_end)``;
    ``scale`` is output pixels per court pixel."""

    start: int
    end: int
    court: str
    x_from: float
    x_to: float
    y: float
    scale: float = 1.0
    pan_start: int = 0
    pan_end: int = 0

    def view_x(self, t: float) -> float:
        if self.pan_end <= self.pan_start or t <= self.pan_start:
            return self.x_from
        if t >= self.pan_end:
            return self.x_to
        return self.x_from + (self.x_to - self.x_from) * (t - self.pan_start) / (self.pan_end - self.pan_start)


@dataclass
class Track:
    """Keyframes ``(frame, x, y)`` (court pixels, feet point) of one player in one shot."""

    keys: list[tuple[float, float, float]] = field(default_factory=list)

    def at(self, t: float) -> tuple[float, float]:
        ts = [k[0] for k in self.keys]
        i = int(np.searchsorted(ts, t))
        if i <= 0:
            return self.keys[0][1], self.keys[0][2]
        if i >= len(self.keys):
            return self.keys[-1][1], self.keys[-1][2]
        (t0, x0, y0), (t1, x1, y1) = self.keys[i - 1], self.keys[i]
        f = (t - t0) / max(t1 - t0, 1e-9)
        return x0 + (x1 - x0) * f, y0 + (y1 - y0) * f


@dataclass
class Script:
    """What a sequence shows: its shots, each player's tracks per shot, and the planned events."""

    shots: list[Shot]
    tracks: dict[int, list[Track]]  # player id -> one Track per shot
    events: dict = field(default_factory=dict)
    phases: dict[int, int] = field(default_factory=dict)  # player id -> first animation step
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def n_frames(self) -> int:
        return self.shots[-1].end

    def shot_at(self, t: int) -> tuple[int, Shot]:
        for i, s in enumerate(self.shots):
            if s.start <= t < s.end:
                return i, s
        raise IndexError(t)


class _Planner:
    """Builds the tracks of one shot: scripted anchors first, then wandering between them."""

    def __init__(self, rng: np.random.Generator, shot: Shot, court: Court, width: int, height: int) -> None:
        self.rng, self.shot, self.court = rng, shot, court
        self.view_w, self.view_h = width / shot.scale, height / shot.scale
        self.vmax = 0.008 * self.view_w  # court pixels per frame: a jog
        self.anchors: dict[int, list[tuple[float, float, float]]] = {}
        f0, f1 = court.feet
        top, bottom = shot.y + 0.35 * self.view_h, shot.y + self.view_h - 6 / shot.scale
        self.y_lo, self.y_hi = max(f0, top), min(f1, bottom)

    def x_bounds(self, t: float, y: float) -> tuple[float, float]:
        """Feet x range that keeps a player of feet ``y`` wholly in view at ``t``."""
        half = 0.3 * self.court.person_height(y) + 8 / self.shot.scale
        left = self.shot.view_x(t)
        return left + half, left + self.view_w - half

    def inside_point(self, t: float) -> tuple[float, float]:
        y = self.rng.uniform(self.y_lo, self.y_hi)
        lo, hi = self.x_bounds(t, y)
        return self.rng.uniform(lo + 0.05 * (hi - lo), hi - 0.05 * (hi - lo)), y

    def add(self, pid: int, t: float, x: float, y: float) -> None:
        self.anchors.setdefault(pid, []).append((float(t), float(x), float(y)))

    def crossing(self, a: int, b: int, t: float, half_span: int) -> dict:
        """``a`` walks left to right, ``b`` right to left, slightly nearer the camera, meeting at ``t``."""
        y = self.rng.uniform(self.y_lo, self.y_lo + 0.6 * (self.y_hi - self.y_lo))
        dy = self.rng.uniform(0.06, 0.12) * self.court.person_height(y)
        lo, hi = self.x_bounds(t, y + dy)
        xc = self.rng.uniform(lo + 0.35 * (hi - lo), hi - 0.35 * (hi - lo))
        reach = min(self.vmax * 0.8 * half_span, 0.3 * (hi - lo))
        self.add(a, t - half_span, xc - reach, y)
        self.add(a, t + half_span, xc + reach, y)
        self.add(b, t - half_span, xc + reach, y + dy)
        self.add(b, t + half_span, xc - reach, y + dy)
        return {"front": b, "behind": a, "frame": int(t) + 1}

    def exit_and_return(self, pid: int, t_out: float, t_back: float) -> dict:
        """``pid`` walks out through a side (left or right at random), is out of view during
        ``[t_out, t_back]`` and walks back in through a side chosen at random."""
        y = self.rng.uniform(self.y_lo, self.y_hi)
        height = self.court.person_height(y)
        lead = max(12, int(0.1 * (t_back - t_out)))
        lo, hi = self.x_bounds(t_out - lead, y)
        left = self.rng.random() < 0.5
        start_x = lo + 0.12 * (hi - lo) if left else hi - 0.12 * (hi - lo)
        self.add(pid, t_out - lead, start_x, y)
        margin = 0.5 * height + 20 / self.shot.scale  # the whole box past the edge
        for t in np.linspace(t_out, t_back, max(2, int((t_back - t_out) / 10) + 1)):
            view = self.shot.view_x(t)
            self.add(pid, t, view - margin if left else view + self.view_w + margin, y)
        back_left = self.rng.random() < 0.5
        lo, hi = self.x_bounds(t_back + lead, y)
        self.add(pid, t_back + lead, lo + 0.12 * (hi - lo) if back_left else hi - 0.12 * (hi - lo), y)
        return {"id": pid, "side_out": "left" if left else "right", "side_in": "left" if back_left else "right"}

    def enter_late(self, pid: int, t_in: float) -> dict:
        """``pid`` is out of view from the shot's start and walks in at ``t_in``."""
        y = self.rng.uniform(self.y_lo, self.y_hi)
        margin = 0.5 * self.court.person_height(y) + 20 / self.shot.scale
        left = self.rng.random() < 0.5
        for t in np.linspace(self.shot.start, t_in, max(2, int((t_in - self.shot.start) / 10) + 1)):
            view = self.shot.view_x(t)
            self.add(pid, t, view - margin if left else view + self.view_w + margin, y)
        lead = 20
        lo, hi = self.x_bounds(t_in + lead, y)
        self.add(pid, t_in + lead, lo + 0.15 * (hi - lo) if left else hi - 0.15 * (hi - lo), y)
        return {"id": pid, "side_in": "left" if left else "right"}

    def track(self, pid: int) -> Track:
        """Anchors of ``pid`` plus wandering waypoints every ~45 frames between and around them."""
        s, rng = self.shot, self.rng
        anchors = sorted(self.anchors.get(pid, []))
        if not anchors or anchors[0][0] > s.start:
            x, y = self.inside_point(s.start)
            if anchors:  # start where the first anchor can be reached at walking speed
                t1, x1, y1 = anchors[0]
                reach = self.vmax * 0.8 * (t1 - s.start)
                x = x1 + np.clip(x - x1, -reach, reach)
                y = y1 + np.clip(y - y1, -0.3 * reach, 0.3 * reach)
                lo, hi = self.x_bounds(s.start, y)
                x = float(np.clip(x, lo, hi))
            anchors.insert(0, (float(s.start), x, y))
        if anchors[-1][0] < s.end - 1:
            t0, x0, y0 = anchors[-1]
            x, y = self.inside_point(s.end - 1)
            reach = self.vmax * 0.8 * (s.end - 1 - t0)
            x = x0 + np.clip(x - x0, -reach, reach)
            y = y0 + np.clip(y - y0, -0.3 * reach, 0.3 * reach)
            lo, hi = self.x_bounds(s.end - 1, y)
            anchors.append((float(s.end - 1), float(np.clip(x, lo, hi)), y))
        keys = [anchors[0]]
        for (t0, x0, y0), (t1, x1, y1) in itertools.pairwise(anchors):
            n = int((t1 - t0) // 45)
            for k in range(1, n + 1):
                t = t0 + (t1 - t0) * k / (n + 1)
                f = (t - t0) / (t1 - t0)
                slack = self.vmax * 0.5 * min(t - t0, t1 - t)
                x = x0 + (x1 - x0) * f + rng.uniform(-slack, slack)
                y = y0 + (y1 - y0) * f + rng.uniform(-0.3 * slack, 0.3 * slack)
                y = float(np.clip(y, self.y_lo, self.y_hi))
                if self._in_view(t0, x0, y0) and self._in_view(t1, x1, y1):
                    lo, hi = self.x_bounds(t, y)
                    x = float(np.clip(x, lo, hi))
                keys.append((t, x, y))
            keys.append((t1, x1, y1))
        return Track(keys)

    def _in_view(self, t: float, x: float, y: float) -> bool:
        lo, hi = self.x_bounds(t, y)
        return lo <= x <= hi


def plan_script(
    seed: int,
    index: int,
    actors: Sequence[Actor],
    courts: dict[str, Court],
    n_frames: int = 300,
    n_players: int = 7,
) -> tuple[Script, list[int]]:
    """The script of sequence ``index`` (0-based) for ``seed``, and the actor index of each player id
    (id ``k`` is ``actors[order[k - 1]]``). Variants by ``index % 3``: practice with a pan then a cut
    to euroball; euroball then a cut to practice with a pan back; practice with a pan then a cut to a
    zoomed crop of another part of the practice court."""
    rng = np.random.default_rng([seed, index, 7919])
    width, height = WIDTH, HEIGHT
    names = [a.name for a in actors]
    pairs = [p for p in SIMILAR_PAIRS if p[0] in names and p[1] in names]
    pair = pairs[index % len(pairs)] if pairs else None
    chosen: list[int] = [names.index(pair[0]), names.index(pair[1])] if pair else []
    rest = [i for i in rng.permutation(len(actors)) if i not in chosen]
    chosen += [int(i) for i in rest[: max(0, min(n_players, len(actors)) - len(chosen))]]
    if len(chosen) < 5:
        raise ValueError(f"a script needs at least 5 players, got {len(chosen)}")
    order = [chosen[i] for i in rng.permutation(len(chosen))]
    ids = list(range(1, len(order) + 1))
    pair_ids = [1 + order.index(chosen[0]), 1 + order.index(chosen[1])] if pair else []

    variant = index % 3
    cut = int(n_frames * (0.55, 0.47, 0.5)[variant])
    practice, euro = courts["practice"], courts["euroball"]
    px_lo, px_hi = practice.x_range
    e_hi = max(0.0, euro.image.shape[1] - width)
    if variant == 0:
        pan = (int(0.2 * n_frames), int(0.4 * n_frames))
        shots = [
            Shot(0, cut, "practice", px_lo, px_hi, practice.view_y, 1.0, *pan),
            Shot(cut, n_frames, "euroball", 0.0, 0.0, euro.view_y),
        ]
    elif variant == 1:
        pan = (cut + int(0.15 * n_frames), cut + int(0.35 * n_frames))
        shots = [
            Shot(0, cut, "euroball", e_hi, e_hi, euro.view_y),
            Shot(cut, n_frames, "practice", px_hi, px_lo, practice.view_y, 1.0, *pan),
        ]
    else:  # the cut shows a zoomed crop of the right part of the same court
        zoom = 1.45
        right = px_hi + width - width / zoom  # left edge of a zoomed view ending where a 1x view at px_hi ends
        bottom = practice.view_y + height  # same lowest court row as the 1x view
        pan_a = (int(0.25 * n_frames), int(0.42 * n_frames))
        pan_b = (cut + int(0.2 * n_frames), cut + int(0.32 * n_frames))
        shots = [
            Shot(0, cut, "practice", px_lo, px_lo + 0.6 * (px_hi - px_lo), practice.view_y, 1.0, *pan_a),
            Shot(
                cut, n_frames, "practice", right, right - 0.25 * (px_hi - px_lo), bottom - height / zoom, zoom, *pan_b
            ),
        ]

    tracks: dict[int, list[Track]] = {pid: [] for pid in ids}
    events: dict = {"cut_frames": [], "pans": [], "crossings": [], "exits": [], "late_entries": []}
    for si, shot in enumerate(shots):
        court = courts[shot.court]
        planner = _Planner(rng, shot, court, width, height)
        length = shot.end - shot.start
        span = max(4, int(0.09 * length))
        others = [p for p in ids if p not in pair_ids]
        rng.shuffle(others)
        # crossing of two different-looking players, crossing of the similar pair (or two more others)
        a, b = others[0], others[1]
        events["crossings"].append(planner.crossing(a, b, shot.start + 0.3 * length, span))
        c, d = (pair_ids if pair_ids else others[2:4])[:: 1 if si == 0 else -1]
        events["crossings"].append(planner.crossing(c, d, shot.start + 0.72 * length, span))
        rest = [p for p in others if p not in (a, b, c, d)]
        if si == 0:  # exit and re-entry
            t_out = shot.start + int(0.25 * length)
            t_back = t_out + max(6, int(0.35 * length))
            ev = planner.exit_and_return(rest[0], t_out, t_back)
            ev.update(out_from=t_out + 1, out_to=t_back + 1)  # 1-based frames during which it is out of view
            events["exits"].append(ev)
        else:  # one player comes in only some time after the cut
            t_in = shot.start + int(0.3 * length)
            ev = planner.enter_late(rest[0], t_in)
            ev.update(out_from=shot.start + 1, out_to=t_in + 1)
            events["late_entries"].append(ev)
        for pid in ids:
            tracks[pid].append(planner.track(pid))
        if si > 0:
            events["cut_frames"].append(shot.start + 1)
        if shot.pan_end > shot.pan_start and shot.x_to != shot.x_from:
            events["pans"].append(
                {"from": shot.pan_start + 1, "to": shot.pan_end, "dx": (shot.x_to - shot.x_from) * shot.scale}
            )
    events["similar_pair"] = pair_ids
    phases = {pid: int(rng.integers(0, 1000)) for pid in ids}
    return Script(shots, tracks, events, phases, width, height), order


# ---------------------------------------------------------------------------------------------
# Rendering and ground truth


@dataclass(frozen=True)
class Placement:
    """One player pasted in one frame: the resized RGBA crop, its top-left corner in the frame,
    the person's box ``(x1, y1, x2, y2)`` in frame pixels (not clipped) and its depth (feet y)."""

    pid: int
    rgba: np.ndarray
    left: int
    top: int
    box: tuple[float, float, float, float]
    depth: float


def place(
    script: Script, actors: Sequence[Actor], order: Sequence[int], courts: dict[str, Court], t: int
) -> list[Placement]:
    """Where every player is drawn in frame ``t`` (0-based), back to front."""
    si, shot = script.shot_at(t)
    court = courts[shot.court]
    vx, vy, s = shot.view_x(t), shot.y, shot.scale
    out = []
    for pid, tracks in script.tracks.items():
        x, y = tracks[si].at(t)
        fx, fy = (x - vx) * s, (y - vy) * s
        height = court.person_height(y) * s
        if fx < -height or fx > script.width + height:  # far outside the view: nothing to draw
            continue
        actor = actors[order[pid - 1]]
        k = actor.frame_at(t + script.phases.get(pid, 0))
        crop, (b0, b1, b2, b3) = actor.crops[k], actor.boxes[k]
        ratio = height / actor.height
        h, w = crop.shape[:2]
        nw, nh = max(1, round(w * ratio)), max(1, round(h * ratio))
        kx, ky = nw / w, nh / h
        interp = cv2.INTER_AREA if ratio < 1 else cv2.INTER_LINEAR
        rgba = cv2.resize(crop, (nw, nh), interpolation=interp)
        left, top = round(fx - kx * (b0 + b2) / 2), round(fy - ky * b3)
        box = (left + kx * b0, top + ky * b1, left + kx * b2, top + ky * b3)
        out.append(Placement(pid, rgba, left, top, box, y))
    out.sort(key=lambda p: (p.depth, p.pid))
    return out


def background(script: Script, courts: dict[str, Court], t: int) -> np.ndarray:
    """The empty court seen by the camera in frame ``t``: RGB uint8 ``(height, width, 3)``."""
    _, shot = script.shot_at(t)
    s, vx, vy = shot.scale, shot.view_x(t), shot.y
    m = np.array([[s, 0, -s * vx], [0, s, -s * vy]], dtype=np.float64)
    flags = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(
        courts[shot.court].image, m, (script.width, script.height), flags=flags, borderMode=cv2.BORDER_REFLECT
    )


def _window(p: Placement, width: int, height: int) -> tuple[slice, slice, slice, slice] | None:
    """Frame rows/cols and crop rows/cols where ``p`` overlaps the frame, or None."""
    h, w = p.rgba.shape[:2]
    x0, y0 = max(0, p.left), max(0, p.top)
    x1, y1 = min(width, p.left + w), min(height, p.top + h)
    if x1 <= x0 or y1 <= y0:
        return None
    return slice(y0, y1), slice(x0, x1), slice(y0 - p.top, y1 - p.top), slice(x0 - p.left, x1 - p.left)


def render(
    script: Script, placements: Sequence[Placement], courts: dict[str, Court], t: int
) -> tuple[np.ndarray, list[tuple]]:
    """Frame ``t`` as RGB uint8 ``(height, width, 3)`` and its ground-truth rows
    ``(frame 1-based, id, x, y, w, h, 1, 1, visibility)``."""
    W, H = script.width, script.height
    frame = background(script, courts, t).astype(np.float32)
    for p in placements:  # back to front
        win = _window(p, W, H)
        if win is None:
            continue
        fy, fx, cy, cx = win
        part = p.rgba[cy, cx].astype(np.float32)
        a = part[..., 3:4] / 255.0
        frame[fy, fx] = frame[fy, fx] * (1 - a) + part[..., :3] * a
    covered = np.zeros((H, W), bool)
    rows = []
    for p in reversed(placements):  # front to back: what is still uncovered is visible
        solid = p.rgba[..., 3] >= 128
        total = int(solid.sum())
        win = _window(p, W, H)
        visible = 0
        if win is not None:
            fy, fx, cy, cx = win
            mine = solid[cy, cx]
            visible = int((mine & ~covered[fy, fx]).sum())
            covered[fy, fx] |= mine
        x1, y1, x2, y2 = p.box
        cx1, cy1, cx2, cy2 = max(0.0, x1), max(0.0, y1), min(float(W), x2), min(float(H), y2)
        if cx2 - cx1 < 1 or cy2 - cy1 < 1:
            continue
        if (cx2 - cx1) * (cy2 - cy1) < MIN_INSIDE * (x2 - x1) * (y2 - y1):
            continue
        vis = visible / total if total else 0.0
        rows.append((t + 1, p.pid, cx1, cy1, cx2 - cx1, cy2 - cy1, 1, 1, vis))
    rows.sort(key=lambda r: r[1])
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8), rows


def write_sequence(
    seq_dir: Path,
    script: Script,
    actors: Sequence[Actor],
    order: Sequence[int],
    courts: dict[str, Court],
    meta: dict | None = None,
) -> Path:
    """Write ``<name>.mp4``, ``gt/gt.txt``, ``seqinfo.ini`` and ``events.json`` into ``seq_dir``
    (``events.json`` last, so its presence means the sequence is complete). Returns the mp4 path."""
    from hoopsense.video import VideoWriter

    name = seq_dir.name
    (seq_dir / "gt").mkdir(parents=True, exist_ok=True)
    (seq_dir / "events.json").unlink(missing_ok=True)
    video = seq_dir / f"{name}.mp4"
    rows: list[tuple] = []
    with VideoWriter(video, script.width, script.height, FPS, crf=18) as writer:
        for t in range(script.n_frames):
            frame, frame_rows = render(script, place(script, actors, order, courts, t), courts, t)
            writer.write(frame)
            rows += frame_rows
    gt = "".join(f"{f},{i},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{c},{k},{v:.3f}\n" for f, i, x, y, w, h, c, k, v in rows)
    (seq_dir / "gt" / "gt.txt").write_text(gt)
    info = configparser.ConfigParser()
    info.optionxform = str  # type: ignore[assignment,method-assign]
    info["Sequence"] = {
        "name": name,
        "imDir": "img1",
        "frameRate": str(FPS),
        "seqLength": str(script.n_frames),
        "imWidth": str(script.width),
        "imHeight": str(script.height),
        "imExt": ".jpg",
        "video": video.name,
    }
    with open(seq_dir / "seqinfo.ini", "w") as fh:
        info.write(fh, space_around_delimiters=False)
    players = {
        str(pid): {"actor": actors[order[pid - 1]].name, "look": actors[order[pid - 1]].look} for pid in script.tracks
    }
    shots = [
        {
            "first": s.start + 1,
            "last": s.end,
            "court": s.court,
            "scale": s.scale,
            "view_x": [s.x_from, s.x_to],
            "view_y": s.y,
        }
        for s in script.shots
    ]
    doc = {**(meta or {}), "frames": script.n_frames, "fps": FPS, "width": script.width, "height": script.height,
           "players": players, "shots": shots, **script.events}  # fmt: skip
    (seq_dir / "events.json").write_text(json.dumps(doc, indent=1))
    return video


def bank_key(sources: Sequence[ActorSource] = ACTOR_SOURCES) -> str:
    """A short digest of the player sources and bank version: sequences made from another bank are remade."""
    text = json.dumps([BANK_VERSION, COURT_VERSION, RUN_LEN, [list(asdict(s).values()) for s in sources]])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def ensure_sequences(
    out_dir: Path,
    seed: int = 0,
    count: int = 3,
    n_frames: int = 300,
    n_players: int = 7,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Sequence folders ``composite-01 ...`` under ``out_dir``, generated unless already there for the same
    seed, length and generator version. Needs the shared footage and detector the first time."""
    out_dir = Path(out_dir)
    seqs = [out_dir / f"composite-{i + 1:02d}" for i in range(count)]
    meta = {"generator_version": GENERATOR_VERSION, "bank": bank_key(), "seed": seed, "players_wanted": n_players}
    todo = []
    for i, seq in enumerate(seqs):
        events = seq / "events.json"
        ok = False
        if events.exists() and not force:
            try:
                doc = json.loads(events.read_text())
                ok = all(doc.get(k) == v for k, v in meta.items()) and doc.get("frames") == n_frames
            except ValueError:
                ok = False
        if not ok:
            todo.append(i)
    if not todo:
        return seqs
    for path in (FOOTAGE, DETECTOR):
        if not path.exists():
            raise SystemExit(f"{path} is missing: the composite sequences are cut from the shared assets")
    cache = out_dir / "_cache"
    detector: PersonDetector | None = None
    needs_detector = not (cache / f"court_euroball_v{COURT_VERSION}.png").exists() or any(
        not (cache / f"actor_{s.name}_{RUN_LEN}_v{BANK_VERSION}.npz").exists() for s in ACTOR_SOURCES
    )
    if needs_detector:
        log(f"cutting players from {FOOTAGE} (once; cached in {cache})")
        detector = yolo_person_detector()
    courts = build_courts(cache, detector)
    actors = build_bank(cache, detector)
    for i in todo:
        script, order = plan_script(seed, i, actors, courts, n_frames, n_players)
        write_sequence(seqs[i], script, actors, order, courts, meta)
        log(f"wrote {seqs[i]}")
    return seqs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out_dir", type=Path, help="folder for the sequences (and the cache of cut players)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the scripts (default: 0)")
    parser.add_argument("--sequences", type=int, default=3, help="how many sequences (default: 3)")
    parser.add_argument("--frames", type=int, default=300, help="frames per sequence (default: 300 = 12 s at 25 fps)")
    parser.add_argument("--players", type=int, default=7, help="players per sequence (default: 7)")
    parser.add_argument("--force", action="store_true", help="regenerate even when the sequences exist")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))  # this checkout's hoopsense (its video writer)
    seqs = ensure_sequences(args.out_dir, args.seed, args.sequences, args.frames, args.players, args.force)
    for seq in seqs:
        doc = json.loads((seq / "events.json").read_text())
        gt = np.loadtxt(seq / "gt" / "gt.txt", delimiter=",", ndmin=2)
        print(
            f"{seq}: {doc['frames']} frames, {len(doc['players'])} players, {len(gt)} boxes, "
            f"cut at {doc['cut_frames']}, pans {[(p['from'], p['to']) for p in doc['pans']]}, "
            f"crossings {[(c['behind'], c['front'], c['frame']) for c in doc['crossings']]}, "
            f"exits {[(e['id'], e['out_from'], e['out_to']) for e in doc['exits']]}, similar pair {doc['similar_pair']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
