"""Keypoints of training clips: the cache beside the clips (keyed by the pose model's content, refreshed
when a clip changes), extraction that never loads the pose model when everything is cached, and the real
int8 pose model on player crops tiled in a mosaic (where the shared assets are)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ASSETS, FOOTAGE, need_asset

from hoopsense.errors import WeightsError
from hoopsense.recognizer.skeleton import KEYPOINTS
from hoopsense.training.augment import Augment
from hoopsense.training.formats import ClipRecord, load_dataset
from hoopsense.training.keypoints import (
    FOLDER,
    KeypointDataset,
    cache_file,
    extract_ball,
    extract_keypoints,
    load_cached,
    model_key,
    save_cached,
)

POSE = ASSETS / "pose" / "yolov8n-pose_int8_openvino_model"


def keypoints(frames: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    kp = np.empty((frames, KEYPOINTS, 3), np.float32)
    kp[..., :2] = rng.uniform(0, 128, (frames, KEYPOINTS, 2))
    kp[..., 2] = rng.uniform(0, 1, (frames, KEYPOINTS))
    return kp


def clip_file(path: Path, content: bytes = b"a clip") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def dummy_pose(tmp_path) -> Path:
    """A 'pose model' that is not one: loading it fails, so a test that reaches for it fails too."""
    return clip_file(tmp_path / "weights" / "dummy-pose.pt", b"this is not a pose model")


def test_cache_round_trip_beside_the_clip(tmp_path):
    clip = clip_file(tmp_path / "data" / "0000001.mp4")
    kp = keypoints(16, seed=1)
    written = save_cached(clip, "pose-abc", kp)
    assert written == tmp_path / "data" / FOLDER / "pose-abc" / "0000001.mp4.npz"
    assert written == cache_file(clip, "pose-abc") and written.is_file()
    back = load_cached(clip, "pose-abc")
    assert back is not None and back.dtype == np.float32 and np.array_equal(back, kp)
    assert load_cached(clip, "pose-other") is None  # another pose model: another file
    assert cache_file(clip, "pose-other") != written
    assert not [p for p in written.parent.iterdir() if p.name != written.name]  # no temporary file left
    other = clip_file(tmp_path / "data" / "0000002.mp4")
    assert load_cached(other, "pose-abc") is None  # nothing cached for another clip


def test_a_changed_clip_is_not_read_from_the_cache(tmp_path):
    clip = clip_file(tmp_path / "0000001.mp4", b"first version")
    save_cached(clip, "pose-abc", keypoints(8))
    assert load_cached(clip, "pose-abc") is not None
    stat = clip.stat()
    clip.write_bytes(b"the second, longer version of the clip")
    os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert load_cached(clip, "pose-abc") is None
    # same size, only the modification time changed: also stale
    save_cached(clip, "pose-abc", keypoints(8, seed=2))
    assert load_cached(clip, "pose-abc") is not None
    os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns + 9_000_000_000))
    assert load_cached(clip, "pose-abc") is None
    # cached again, it is read again
    kp = keypoints(8, seed=3)
    save_cached(clip, "pose-abc", kp)
    assert np.array_equal(load_cached(clip, "pose-abc"), kp)


def test_a_damaged_or_wrong_cache_file_is_ignored(tmp_path):
    clip = clip_file(tmp_path / "c.mp4")
    path = save_cached(clip, "k", keypoints(4))
    path.write_bytes(b"garbage")
    assert load_cached(clip, "k") is None
    path.write_bytes(b"")
    assert load_cached(clip, "k") is None
    save_cached(clip, "k", np.zeros((4, 5, 3), np.float32))  # not 17 keypoints
    assert load_cached(clip, "k") is None


def test_a_read_only_dataset_keeps_its_cache_under_hoopsense_home(tmp_path):
    clip = clip_file(tmp_path / "shared" / "0000001.mp4")
    (tmp_path / "shared").chmod(0o555)
    try:
        path = cache_file(clip, "pose-abc")
        home = Path(os.environ["HOOPSENSE_HOME"])
        assert path.is_relative_to(home / "keypoints" / "pose-abc") and path.name == "0000001.mp4.npz"
        kp = keypoints(6)
        assert save_cached(clip, "pose-abc", kp) == path
        assert np.array_equal(load_cached(clip, "pose-abc"), kp)
        assert not (tmp_path / "shared" / FOLDER).exists()
        # another read-only folder with a clip of the same name has its own file
        twin = clip_file(tmp_path / "other" / "0000001.mp4")
        (tmp_path / "other").chmod(0o555)
        assert cache_file(twin, "pose-abc") != path
    finally:
        (tmp_path / "shared").chmod(0o755)
        if (tmp_path / "other").exists():
            (tmp_path / "other").chmod(0o755)


def test_model_key_names_the_model_and_hashes_its_content(tmp_path):
    weights = clip_file(tmp_path / "a" / "yolo11n-pose.pt", b"weights v1")
    key = model_key(weights)
    assert key.startswith("yolo11n-pose-") and len(key) == len("yolo11n-pose-") + 12
    assert model_key(weights) == key  # stable
    copy = clip_file(tmp_path / "b" / "yolo11n-pose.pt", b"weights v1")
    assert model_key(copy) == key  # the content, not the place, names the cache
    weights.write_bytes(b"weights v2")
    assert model_key(weights) != key and model_key(weights).startswith("yolo11n-pose-")

    folder = tmp_path / "yolov8n-pose_int8_openvino_model"
    clip_file(folder / "yolov8n-pose.xml", b"<net/>")
    clip_file(folder / "yolov8n-pose.bin", b"\x00\x01\x02")
    clip_file(folder / "metadata.yaml", b"task: pose")
    fkey = model_key(folder)
    assert fkey.startswith("yolov8n-pose_int8-") and "openvino" not in fkey
    assert model_key(folder) == fkey
    moved = tmp_path / "elsewhere" / folder.name
    shutil.copytree(folder, moved)
    assert model_key(moved) == fkey
    (moved / "yolov8n-pose.bin").write_bytes(b"\x00\x01\x03")  # one changed file changes the key
    assert model_key(moved) != fkey


def test_extraction_reads_the_cache_and_never_loads_the_pose_model(tmp_path, dummy_pose):
    key = model_key(dummy_pose)
    records, expected = [], {}
    for k in range(5):
        clip = clip_file(tmp_path / "data" / f"{k:07d}.mp4", f"clip {k}".encode())
        expected[clip.stem] = keypoints(10 + k, seed=k)
        assert save_cached(clip, key, expected[clip.stem]) is not None
        records.append(ClipRecord(clip.stem, clip, k % 2, clip.stem))
    progress = []
    found, got_key = extract_keypoints(
        records, str(dummy_pose), device="cpu", on_clip=lambda i, n: progress.append((i, n))
    )
    assert got_key == key
    assert set(found) == set(expected)
    assert all(np.array_equal(found[i], expected[i]) for i in expected)
    assert progress == [(i, 5) for i in range(1, 6)]
    # the premise: a clip that is not cached makes it load the dummy, which fails
    new = clip_file(tmp_path / "data" / "0000009.mp4", b"not cached")
    with pytest.raises(WeightsError):
        extract_keypoints([*records, ClipRecord("0000009", new, 0, "0000009")], str(dummy_pose), device="cpu")


def test_keypoint_dataset_samples_normalised_clips(tmp_path):
    kp = keypoints(20, seed=4)
    kp[..., 2] = 0.9
    kp[:, 11:13, :2] = (60, 80)  # hips together: a known centre
    records = [ClipRecord("a", tmp_path / "a.mp4", 1, "a"), ClipRecord("b", tmp_path / "b.mp4", 0, "b")]
    plain = KeypointDataset(records, {"a": kp, "b": kp[:3]}, clip_len=8, frame_step=2)
    x, y = plain[0]
    assert x.shape == (8, KEYPOINTS, 3) and x.dtype.is_floating_point and y == 1
    assert np.allclose(x[:, 11:13, :2].numpy(), 0, atol=1e-5)  # centred on the hips
    assert np.allclose(x[..., 2].numpy(), 0.9)
    short, label = plain[1]
    assert short.shape == (8, KEYPOINTS, 3) and label == 0  # 3 frames padded to 8
    assert np.array_equal(plain[0][0].numpy(), x.numpy())  # no augmentation: the same clip every time
    augmented = KeypointDataset(records, {"a": kp, "b": kp[:3]}, 8, 2, augment=Augment(), seed=1)
    first = augmented[0][0].numpy()
    assert np.array_equal(augmented[0][0].numpy(), first)  # seeded by the epoch and index
    augmented.epoch = 1
    assert not np.allclose(augmented[0][0].numpy(), first)


# ---- the real int8 pose model on player crops


def _write_clip(path: Path, frames: np.ndarray) -> None:
    from hoopsense.video import VideoWriter

    with VideoWriter(path, frames.shape[2], frames.shape[1], 16, pixel_format="rgb24", crf=12) as writer:
        for f in frames:
            writer.write(f)


def test_mosaic_keypoints_of_real_crops_match_the_full_frame_and_are_cached(tmp_path, monkeypatch):
    pose = need_asset(POSE)
    video = need_asset(FOOTAGE / "nba_broadcast_wide_854x480.mp4")
    from hoopsense.detection import crop_pose
    from hoopsense.detection.base import PERSON, DetectorConfig
    from hoopsense.detection.crop_pose import CropPose
    from hoopsense.detection.yolo import YoloDetector
    from hoopsense.recognizer.transforms import crop_square, square_box
    from hoopsense.video import read_frames

    frames = read_frames(video, max_frames=4)
    found = YoloDetector(DetectorConfig(weights=str(pose), device="cpu")).detect([frames[0]])[0]
    heights = found.xyxy[:, 3] - found.xyxy[:, 1]
    full = found.data["keypoints"]
    players = [
        i
        for i in range(len(found))
        if found.class_id[i] == PERSON
        and found.confidence[i] >= 0.25
        and heights[i] >= 60
        and (full[i, :, 2] > 0.5).sum() >= 8
    ]
    assert len(players) >= 4, (found.confidence, heights)
    size = 128
    crops, places = [], []
    for i in players:
        crops.append(crop_square(frames[0], found.xyxy[i], context=1.25, size=size, bgr=False))
        sx1, sy1, sx2, _ = square_box(found.xyxy[i], 1.25)
        places.append((round(sx1), round(sy1), max(1, round(sx2 - sx1))))

    model = CropPose(str(pose), device="cpu")
    assert model.name == pose.name
    in_crops = model(crops)
    assert in_crops.shape == (len(players), KEYPOINTS, 3) and in_crops.dtype == np.float32
    errors = []
    for j, i in enumerate(players):
        x1, y1, side = places[j]
        back = in_crops[j, :, :2] * side / size + (x1, y1)  # crop pixels -> frame pixels
        seen = (in_crops[j, :, 2] > 0.5) & (full[i, :, 2] > 0.5)
        assert seen.sum() >= 6, (j, in_crops[j, :, 2], full[i, :, 2])
        errors.append(np.linalg.norm(back[seen] - full[i, seen, :2], axis=1) / heights[i])
    per_player = [float(np.median(e)) for e in errors]
    assert np.median(np.concatenate(errors)) < 0.15, per_player
    assert sum(e < 0.15 for e in per_player) >= 0.8 * len(players), per_player
    # one crop alone (the rest of its mosaic empty) gives the same points as among the others
    alone = model(crops[:1])
    seen = (alone[0, :, 2] > 0.5) & (in_crops[0, :, 2] > 0.5)
    assert np.median(np.linalg.norm(alone[0, seen, :2] - in_crops[0, seen, :2], axis=1)) < 0.05 * size
    # an empty crop has no player: all zeros
    grey = np.full((size, size, 3), 114, np.uint8)
    assert np.all(model([grey])[0] == 0)

    # a SpaceJam-format set of these crops, four frames each
    root = tmp_path / "crops"
    root.mkdir()
    annotations = {}
    for j, i in enumerate(players):
        clip = np.stack([crop_square(f, found.xyxy[i], context=1.25, size=size, bgr=False) for f in frames])
        _write_clip(root / f"{j:07d}.mp4", clip)
        annotations[f"{j:07d}"] = j % 2
    (root / "annotation_dict.json").write_text(json.dumps(annotations))
    (root / "labels_dict.json").write_text(json.dumps({"0": "run", "1": "walk"}))
    data = load_dataset(root, "spacejam")
    assert data.fit == "pad" and len(data.records) == len(players)

    started = time.perf_counter()
    first, key = extract_keypoints(data.records, str(pose), mosaic=True, device="cpu")
    assert key == model_key(pose) and key.startswith("yolov8n-pose_int8-")
    cached = sorted((root / FOLDER / key).iterdir())
    assert [p.name for p in cached] == [f"{r.id}.mp4.npz" for r in sorted(data.records, key=lambda r: r.id)]
    for record in data.records:
        kp = first[record.id]
        assert kp.shape == (4, KEYPOINTS, 3) and kp.dtype == np.float32
        j = int(record.id)  # the index of the player's crop
        seen = (kp[0, :, 2] > 0.5) & (in_crops[j, :, 2] > 0.5)
        assert seen.sum() >= 6
        # the decoded clip's first frame gives about the crop's own points (H.264 at crf 12)
        assert np.median(np.linalg.norm(kp[0, seen, :2] - in_crops[j, seen, :2], axis=1)) < 0.05 * size
    print(f"\nextracted {len(players)} clips in {time.perf_counter() - started:.1f} s")

    def no_model(*args, **kwargs):
        raise AssertionError("the pose model was loaded although every clip is cached")

    monkeypatch.setattr(crop_pose, "CropPose", no_model)
    again, key2 = extract_keypoints(data.records, str(pose), mosaic=True, device="cpu")
    assert key2 == key and set(again) == set(first)
    assert all(np.array_equal(again[r], first[r]) for r in first)


def test_the_ball_is_cached_beside_the_keypoints_under_its_detectors_own_key(tmp_path, monkeypatch):
    clip = clip_file(tmp_path / "data" / "0000002.mp4")
    ball = np.zeros((16, 3), np.float32)
    ball[3:7] = (40.0, 80.0, 0.5)
    save_cached(clip, "pose-abc", keypoints(16, seed=2))
    written = save_cached(clip, "yolo-def", ball, "ball")
    assert written == tmp_path / "data" / FOLDER / "yolo-def" / "0000002.mp4.npz"
    assert np.array_equal(load_cached(clip, "yolo-def", "ball"), ball)
    assert load_cached(clip, "yolo-def") is None  # a ball file holds no keypoints
    assert load_cached(clip, "pose-abc", "ball") is None  # and a keypoint file no ball
    save_cached(clip, "yolo-bad", np.zeros((16, 4), np.float32), "ball")
    assert load_cached(clip, "yolo-bad", "ball") is None  # a wrong shape is not a ball

    # extraction reads the cache and never loads the detector
    from hoopsense.detection import crop_pose

    def no_model(*args, **kwargs):
        raise AssertionError("the ball detector was loaded although every clip is cached")

    monkeypatch.setattr(crop_pose, "CropBall", no_model)
    detector = clip_file(tmp_path / "weights" / "dummy-detector.pt", b"not a detector")
    save_cached(clip, model_key(detector), ball, "ball")
    record = ClipRecord(id="0000002", path=clip, label=0, group="g")
    found, key = extract_ball([record], str(detector), device="cpu")
    assert key == model_key(detector) and np.array_equal(found["0000002"], ball)


def test_keypoint_dataset_adds_the_ball_as_an_18th_point(tmp_path):
    clip = clip_file(tmp_path / "data" / "0000003.mp4")
    kp = keypoints(12, seed=3)
    kp[..., 2] = 0.9
    ball = np.zeros((12, 3), np.float32)
    ball[:, :2] = kp[:, (11, 12), :2].mean(axis=1) + 5.0  # beside the hips
    ball[:, 2] = 0.5
    record = ClipRecord(id="0000003", path=clip, label=1, group="g")
    items = KeypointDataset([record], {"0000003": kp}, 8, 1, balls={"0000003": ball})
    x, label = items[0]
    assert label == 1 and tuple(x.shape) == (8, KEYPOINTS + 1, 3)
    assert np.allclose(x[:, KEYPOINTS, 2].numpy(), 0.5)
    without = KeypointDataset([record], {"0000003": kp}, 8, 1)
    assert np.array_equal(without[0][0].numpy(), x[:, :KEYPOINTS].numpy())
