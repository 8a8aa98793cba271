"""The skeleton recognizer learns motion from keypoints, and nothing from shuffled labels (slow: a few
seconds each).

A synthetic keypoint set with the classes of :mod:`motion` (left, right, bounce, still): stick figures of
the 17 COCO keypoints that walk or run facing left or right (nose ahead of the ears, legs and arms
swinging), squat and jump on the spot (knees bending and stretching, arms swinging up), or stand (front
or side view, a little sway). Position, size, pace, proportions, noise and confidences vary per clip, and
a few points are unseen. Every frame is centred on the hips by the network's normalisation, so the walk
across the picture is gone: a walker is told from a stander by his limbs alone, and a standing player
seen from the side shows the same head as a walker. The clips are tiny stand-in videos whose keypoint
cache is filled in advance, so training never runs a pose model.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from motion import CLASSES

from hoopsense.errors import ConfigError
from hoopsense.recognizer.model import load_checkpoint
from hoopsense.recognizer.recognizer import Recognizer, RecognizerConfig
from hoopsense.recognizer.skeleton import KEYPOINTS
from hoopsense.training.augment import Augment
from hoopsense.training.formats import load_dataset
from hoopsense.training.keypoints import load_cached, model_key, save_cached
from hoopsense.training.loop import TrainConfig, train
from hoopsense.video import VideoWriter

pytestmark = pytest.mark.slow

FRAMES = 24
CONFIG = TrainConfig(
    architecture="skeleton-tcn",
    epochs=25,
    batch_size=16,
    lr=1e-3,
    clip_len=16,
    augment=Augment(flip=False),  # left and right are mirror images of each other
    device="cpu",
    workers=0,
    patience=25,
)


def _angle(a: np.ndarray | float, length: float) -> np.ndarray:
    """The offset of a limb of ``length`` hanging ``a`` radians from straight down (positive: towards +x)."""
    return length * np.stack([np.sin(a), np.cos(a)], axis=-1)


def _head(points: np.ndarray, neck: np.ndarray, facing: int, width: float) -> None:
    """Nose, eyes and ears around the head above ``neck``: facing the camera (0) or sideways (+-1), where
    the nose and eyes lie ahead of the ears."""
    head = np.asarray(neck, float) + (0.1 * facing, -0.38)
    if facing == 0:
        points[0] = head + (0.0, 0.03)
        points[1], points[2] = head + (0.07 * width, -0.04), head + (-0.07 * width, -0.04)
        points[3], points[4] = head + (0.15 * width, 0.0), head + (-0.15 * width, 0.0)
    else:
        points[0] = head + (0.16 * facing, 0.03)
        points[1], points[2] = head + (0.11 * facing, -0.04), head + (0.1 * facing, -0.05)
        points[3], points[4] = head + (-0.04 * facing, -0.01), head + (-0.06 * facing, -0.02)


def _walker(t: np.ndarray, facing: int, rng: np.random.Generator) -> np.ndarray:
    """Side view of a player walking or running towards ``facing`` (-1 left, +1 right): ``(T, 17, 2)`` in
    torso lengths around the hips."""
    pace = rng.uniform(0.35, 0.8)  # radians of the stride cycle a frame: a stride every 8-18 frames
    swing = rng.uniform(0.3, 0.65)  # how far the thighs swing: walking to running
    lean = rng.uniform(0.05, 0.25) + 0.2 * (swing - 0.3)
    thigh, shin, arm = (rng.uniform(0.8, 1.0) * (1 + rng.uniform(-0.1, 0.1)) for _ in range(3))
    phase = pace * t + rng.uniform(0, 2 * np.pi)
    out = np.zeros((len(t), KEYPOINTS, 2))
    for k in range(len(t)):
        p = out[k]
        p[11], p[12] = (0.03 * facing, 0.0), (-0.03 * facing, 0.0)
        p[5], p[6] = (lean * facing + 0.04 * facing, -1.0), (lean * facing - 0.04 * facing, -1.0)
        _head(p, (p[5] + p[6]) / 2, facing, 1.0)
        for side in (0, 1):  # the left (COCO 11, 13, 15) and the right leg, half a stride apart
            at = phase[k] + side * np.pi
            s = np.sin(at)
            up = facing * swing * s  # the thigh swings forward and back
            bend = 0.15 + 0.7 * max(0.0, np.sin(at + 1.2))  # the knee bends back as the foot comes forward
            knee = p[11 + side] + _angle(up, 0.9 * thigh)
            p[13 + side] = knee
            p[15 + side] = knee + _angle(up - facing * bend, 0.9 * shin)
            # the arm on the same side swings against the leg
            a = -facing * 0.8 * swing * s
            elbow = p[5 + side] + _angle(a, 0.5 * arm)
            p[7 + side] = elbow
            p[9 + side] = elbow + _angle(a + facing * (0.3 + swing), 0.45 * arm)
        p[:, 1] -= 0.06 * abs(np.sin(phase[k]))  # the body rises at mid-stride
    return out


def _front(width: float, arm: float, leg: float) -> np.ndarray:
    """A player facing the camera, standing upright: ``(17, 2)`` in torso lengths around the hips."""
    p = np.zeros((KEYPOINTS, 2))
    p[5], p[6] = (0.35 * width, -1.0), (-0.35 * width, -1.0)
    _head(p, (0.0, -1.0), 0, width)
    p[7], p[8] = (0.42 * width, -1 + 0.5 * arm), (-0.42 * width, -1 + 0.5 * arm)
    p[9], p[10] = (0.45 * width, -1 + 0.95 * arm), (-0.45 * width, -1 + 0.95 * arm)
    p[11], p[12] = (0.2 * width, 0.0), (-0.2 * width, 0.0)
    p[13], p[14] = (0.21 * width, 0.9 * leg), (-0.21 * width, 0.9 * leg)
    p[15], p[16] = (0.21 * width, 1.8 * leg), (-0.21 * width, 1.8 * leg)
    return p


def _jumper(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A player facing the camera who squats and jumps again and again."""
    width, arm, leg = rng.uniform(0.85, 1.15), rng.uniform(0.85, 1.1), rng.uniform(0.85, 1.1)
    pace = rng.uniform(0.4, 0.9)
    depth = rng.uniform(0.5, 1.0)
    phase = pace * t + rng.uniform(0, 2 * np.pi)
    out = np.zeros((len(t), KEYPOINTS, 2))
    for k in range(len(t)):
        squat = depth * (1 - np.cos(phase[k])) / 2  # 0 stretched (in the air) to depth (deepest squat)
        raised = 1 - squat / depth
        p = _front(width, arm, leg)
        p[[0, 1, 2, 3, 4, 5, 6], 1] += 0.15 * squat  # the trunk leans forward: it looks shorter
        p[[13, 14], 0] *= 1 + 0.6 * squat  # knees forward and apart
        p[[13, 14], 1] = 0.9 * leg * (1 - 0.45 * squat)
        p[[15, 16], 1] = 1.8 * leg * (1 - 0.5 * squat) + 0.1 * raised  # ankles closer, toes pointed in the air
        p[[7, 8], 1] = p[[5, 6], 1] + 0.5 * arm * (1 - 1.6 * raised)  # arms swing up as he takes off
        p[[9, 10], 1] = p[[5, 6], 1] + 0.95 * arm * (1 - 1.8 * raised)
        out[k] = p
    return out


def _stander(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A player standing still, seen from the front or from either side, swaying a little."""
    facing = int(rng.integers(-1, 2))
    if facing == 0:
        pose = _front(rng.uniform(0.85, 1.15), rng.uniform(0.85, 1.1), rng.uniform(0.85, 1.1))
    else:
        pose = _walker(np.zeros(1), facing, rng)[0]
        pose[[13, 14, 15, 16], 0] = pose[[11, 12, 11, 12], 0]  # legs together, straight
        pose[[13, 14], 1], pose[[15, 16], 1] = 0.9, 1.8
        pose[[7, 8, 9, 10], 0] = pose[[5, 6, 5, 6], 0] + 0.05 * facing  # arms hanging
        pose[[7, 8], 1], pose[[9, 10], 1] = -0.5, -0.05
    sway = rng.uniform(0, 0.04) * np.sin(rng.uniform(0.1, 0.4) * t + rng.uniform(0, 2 * np.pi))
    out = np.repeat(pose[None], len(t), axis=0)
    out[:, :11, 0] += sway[:, None]  # the upper body sways over the hips
    return out


def skeleton_clip(cls: str, rng: np.random.Generator, frames: int = FRAMES) -> np.ndarray:
    """Pixel keypoints float32 ``(frames, 17, 3)`` of one clip of class ``cls``."""
    t = np.arange(frames, dtype=float)
    if cls in ("left", "right"):
        body = _walker(t, -1 if cls == "left" else 1, rng)
    elif cls == "bounce":
        body = _jumper(t, rng)
    else:
        body = _stander(t, rng)
    size = rng.uniform(12, 60)  # torso length in pixels: far and near players
    noise = rng.uniform(0.01, 0.05)  # of a torso length, per point and frame
    body = body + rng.normal(0, noise, body.shape)
    # where the player is in the picture, and how he crosses it (undone by the hip-centring)
    speed = {"left": -1, "right": 1}.get(cls, 0) * rng.uniform(0.05, 0.4) + rng.normal(0, 0.02)
    start = np.array([rng.uniform(100, 1180), rng.uniform(150, 600)])
    xy = body * size + start + np.stack([speed * size * t, np.zeros_like(t)], axis=1)[:, None, :]
    conf = rng.uniform(0.5, 1.0, (frames, KEYPOINTS))
    lost = rng.random((frames, KEYPOINTS)) < 0.05
    conf[lost] = rng.uniform(0, 0.25, lost.sum())
    return np.concatenate([xy, conf[..., None]], axis=2).astype(np.float32)


def _stand_in(root: Path) -> Path:
    """A tiny grey video to copy as every clip of a set whose keypoints are cached in advance."""
    stand_in = root / "stand-in.mp4.tmp"
    with VideoWriter(stand_in, 16, 16, 16, pixel_format="rgb24") as writer:
        for _ in range(2):
            writer.write(np.full((16, 16, 3), 128, np.uint8))
    return stand_in


def make_skeleton_dataset(
    root: Path, pose: Path, per_class: int = 60, *, seed: int = 0, shuffle_labels: bool = False
) -> Path:
    """A SpaceJam-format set in ``root`` (stand-in clips, ``annotation_dict.json``, ``labels_dict.json``)
    whose keypoints are cached as if ``pose`` had found them."""
    root.mkdir(parents=True)
    stand_in = _stand_in(root)
    key = model_key(pose)
    rng = np.random.default_rng(seed)
    annotations: dict[str, int] = {}
    for label, cls in enumerate(CLASSES):
        for _ in range(per_class):
            clip_id = f"{len(annotations):07d}"
            clip = root / f"{clip_id}.mp4"
            shutil.copyfile(stand_in, clip)
            assert save_cached(clip, key, skeleton_clip(cls, rng)) is not None
            annotations[clip_id] = label
    stand_in.unlink()
    if shuffle_labels:
        values = list(annotations.values())
        np.random.default_rng(seed + 1000).shuffle(values)
        annotations = dict(zip(annotations, values))
    (root / "annotation_dict.json").write_text(json.dumps(annotations))
    (root / "labels_dict.json").write_text(json.dumps({str(i): c for i, c in enumerate(CLASSES)}))
    return root


@pytest.fixture(autouse=True)
def _one_thread():
    """The network is tiny: one thread trains it as fast as two, and does not slow down to a crawl when the
    other core is busy (two threads then wait on each other at every small operation)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def dummy_pose(tmp_path) -> Path:
    """A pose 'model' that cannot be loaded: training must take every clip's keypoints from the cache."""
    path = tmp_path / "dummy-pose.pt"
    path.write_bytes(b"not a pose model: every clip's keypoints are cached")
    return path


def train_on_skeletons(folder: Path, pose: Path, *, shuffle: bool, seed: int = 0):
    root = make_skeleton_dataset(
        folder / ("shuffled" if shuffle else "skeletons"), pose, seed=seed, shuffle_labels=shuffle
    )
    config = replace(CONFIG, pose=str(pose))
    checkpoint = folder / f"{root.name}.pt"
    started = time.perf_counter()
    result = train(load_dataset(root, "spacejam"), config, checkpoint)
    print(
        f"\nskeleton-tcn on {root.name} (seed {seed}): best val accuracy {result.best['val_accuracy']:.3f}, "
        f"macro-F1 {result.best['val_macro_f1']:.3f} at epoch {result.best_epoch}, "
        f"{time.perf_counter() - started:.1f} s"
    )
    return result, checkpoint, root


def test_learns_motion_classes_from_keypoints(tmp_path, dummy_pose):
    result, checkpoint, root = train_on_skeletons(tmp_path, dummy_pose, shuffle=False)
    assert result.best["val_accuracy"] >= 0.9, result.history
    assert result.best["val_macro_f1"] >= 0.9, result.history
    _, meta = load_checkpoint(checkpoint)
    assert meta.architecture == "skeleton-tcn" and meta.labels == CLASSES and meta.clip_len == 16
    assert meta.training["pose_key"] == model_key(dummy_pose)
    assert Path(meta.training["pose"]).name == dummy_pose.name
    # the checkpoint classifies validation clips through the recognizer as it scored in training
    rec = Recognizer(RecognizerConfig(str(checkpoint), device="cpu"))
    val = [r for r in load_dataset(root, "spacejam").records if r.id in set(result.split.val)]
    key = model_key(dummy_pose)
    clips = [load_cached(r.path, key)[4:20] for r in val]  # the centred 16 of 24 frames, as validation takes
    predicted = rec.predict_keypoints(clips).argmax(axis=1)
    accuracy = float(np.mean(predicted == np.array([r.label for r in val])))
    assert accuracy == pytest.approx(result.best["val_accuracy"], abs=1e-6)


def test_shuffled_labels_stay_near_chance(tmp_path, dummy_pose):
    result, _, _ = train_on_skeletons(tmp_path, dummy_pose, shuffle=True)
    assert result.best["val_accuracy"] <= 0.5, result.history  # chance is 0.25 with four balanced classes


BALL_CLASSES = ("dribble", "hold", "no_ball")


def ball_clip(cls: str, rng: np.random.Generator, frames: int = FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """A standing player (the same body in every class) and the ball ``(frames, 3)`` in the same pixels:
    bouncing between his hand and the floor (``dribble``), held at his chest (``hold``), or nowhere near
    him (``no_ball``: none found, or another player's ball a few body heights away). The detector misses
    the ball in about a fifth of the frames."""
    t = np.arange(frames, dtype=float)
    body = _stander(t, rng) + rng.normal(0, 0.02, (frames, KEYPOINTS, 2))
    if cls == "dribble":
        bounce = np.abs(np.sin(rng.uniform(0.3, 0.6) * t + rng.uniform(0, np.pi)))
        ball = np.stack([body[:, 10, 0] + rng.uniform(-0.1, 0.1), body[:, 10, 1] + 0.2 + 1.6 * bounce], axis=1)
    elif cls == "hold":
        chest = body[:, [5, 6, 11, 12]].mean(axis=1)
        ball = chest + (rng.uniform(-0.1, 0.1), rng.uniform(-0.25, -0.05)) + rng.normal(0, 0.03, (frames, 2))
    else:
        side = rng.choice([-1.0, 1.0])
        ball = np.stack([np.full(frames, side * rng.uniform(5, 8)), np.full(frames, rng.uniform(-1, 1.5))], axis=1)
    size = rng.uniform(12, 60)
    start = np.array([rng.uniform(100, 1180), rng.uniform(150, 600)])
    conf = rng.uniform(0.5, 1.0, (frames, KEYPOINTS))
    keypoints = np.concatenate([body * size + start, conf[..., None]], axis=2).astype(np.float32)
    seen = rng.uniform(0.2, 0.9, frames) * (rng.random(frames) > 0.2)
    if cls == "no_ball" and rng.random() < 0.5:
        seen[:] = 0.0
    balls = np.concatenate([ball * size + start, seen[:, None]], axis=1).astype(np.float32)
    balls[seen == 0] = 0.0
    return keypoints, balls


def make_ball_dataset(root: Path, pose: Path, ball: Path, per_class: int = 40, seed: int = 0) -> Path:
    """As :func:`make_skeleton_dataset`, for :data:`BALL_CLASSES`, with the ball cached as if the detector
    ``ball`` had found it."""
    root.mkdir(parents=True)
    stand_in = _stand_in(root)
    pose_key, ball_key = model_key(pose), model_key(ball)
    rng = np.random.default_rng(seed)
    annotations: dict[str, int] = {}
    for label, cls in enumerate(BALL_CLASSES):
        for _ in range(per_class):
            clip_id = f"{len(annotations):07d}"
            clip = root / f"{clip_id}.mp4"
            shutil.copyfile(stand_in, clip)
            keypoints, balls = ball_clip(cls, rng)
            assert save_cached(clip, pose_key, keypoints) is not None
            assert save_cached(clip, ball_key, balls, "ball") is not None
            annotations[clip_id] = label
    stand_in.unlink()
    (root / "annotation_dict.json").write_text(json.dumps(annotations))
    (root / "labels_dict.json").write_text(json.dumps({str(i): c for i, c in enumerate(BALL_CLASSES)}))
    return root


def test_the_ball_input_tells_apart_actions_that_the_body_alone_cannot(tmp_path, dummy_pose):
    """The same standing bodies in every class: only where the ball is near the player separates them."""
    dummy_ball = tmp_path / "dummy-ball.pt"
    dummy_ball.write_bytes(b"not a detector: every clip's ball is cached")
    data = load_dataset(make_ball_dataset(tmp_path / "balls", dummy_pose, dummy_ball), "spacejam")
    scores = {}
    for arch in ("skeleton-ball-tcn", "skeleton-tcn"):
        config = replace(CONFIG, architecture=arch, pose=str(dummy_pose), ball=str(dummy_ball), epochs=20)
        result = train(data, config, tmp_path / f"{arch}.pt")
        scores[arch] = result.best["val_accuracy"]
    print(f"\nval accuracy with the ball {scores['skeleton-ball-tcn']:.3f}, without {scores['skeleton-tcn']:.3f}")
    assert scores["skeleton-ball-tcn"] >= 0.9, scores
    assert scores["skeleton-tcn"] <= 0.6, scores  # chance is 1/3
    _, meta = load_checkpoint(tmp_path / "skeleton-ball-tcn.pt")
    assert meta.training["ball_key"] == model_key(dummy_ball) and Path(meta.training["ball"]).name == dummy_ball.name
    # through the recognizer, with the cached balls, the checkpoint reads the ball as it did in training
    rec = Recognizer(RecognizerConfig(str(tmp_path / "skeleton-ball-tcn.pt"), device="cpu"))
    assert rec.uses_ball and rec.ball_weights == meta.training["ball"]
    val = [r for r in data.records if r.id in set(result.split.val)]
    kps = [load_cached(r.path, model_key(dummy_pose))[4:20] for r in val]
    balls = [load_cached(r.path, model_key(dummy_ball), "ball")[4:20] for r in val]
    predicted = rec.predict_keypoints(kps, balls).argmax(axis=1)
    assert float(np.mean(predicted == np.array([r.label for r in val]))) >= 0.9
    with pytest.raises(ConfigError, match="reads the ball"):
        rec.predict_keypoints(kps)
