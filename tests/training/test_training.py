"""Datasets, leakage-free splits, augmentation and metrics (fast; the learning test is in test_learning.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from motion import clip_frames, make_motion_dataset
from synth import make_video

from hoopsense.errors import ConfigError
from hoopsense.training.augment import Augment, fit_square, prepare_clip, sample_indices
from hoopsense.training.formats import load_dataset, spacejam_group
from hoopsense.training.metrics import classification_report, confusion_matrix
from hoopsense.training.splits import load_split, make_split, save_split


@pytest.fixture(scope="module")
def motion(tmp_path_factory) -> Path:
    return make_motion_dataset(tmp_path_factory.mktemp("motion") / "data", per_class=10, copies=2)


def test_spacejam_format_reports_missing_clips_and_drops_discard(tmp_path):
    root = make_motion_dataset(tmp_path / "sj", per_class=2)
    ann = json.loads((root / "annotation_dict.json").read_text())
    ann["9999999"] = 0  # no file
    ann["0000001_flipped_rotate_30"] = 4  # "discard"
    ann["0000002"] = 17  # unknown label
    (root / "annotation_dict.json").write_text(json.dumps(ann))
    (root / "labels_dict.json").write_text(
        json.dumps({"0": "left", "1": "right", "2": "bounce", "3": "still", "4": "discard"})
    )
    (root / "0000001_flipped_rotate_30.mp4").write_bytes((root / "0000001.mp4").read_bytes())
    data = load_dataset(root, "spacejam")
    assert data.labels == ("left", "right", "bounce", "still")
    assert len(data.records) == 7  # 8 clips, one with an unknown label
    notes = " | ".join(data.skipped)
    assert (
        "1 ids have no clip file (e.g. 9999999)" in notes
        and "unknown label 17" in notes
        and "discard left out" in notes
    )
    kept = load_dataset(root, "spacejam", drop=())
    assert "discard" in kept.labels and len(kept.records) == 8


def test_group_rules():
    assert spacejam_group("0000000_flipped_rotate_330") == spacejam_group("0000000_translate_32_0") == "0000000"
    assert spacejam_group("nba-game-p007-f000120") == spacejam_group("nba-game-p007-f000136") == "nba-game-p007"


def test_real_spacejam_labels_and_clips_load():
    from conftest import ASSETS, need_asset

    src = need_asset(ASSETS / "action" / "spacejam")
    data = load_dataset(src, "spacejam")
    assert data.labels == (
        "block",
        "pass",
        "run",
        "dribble",
        "shoot",
        "ball in hand",
        "defense",
        "pick",
        "no_action",
        "walk",
    )
    assert {r.id for r in data.records} == {"0000000_flipped_rotate_330", "0000000_translate_32_0"}
    assert all(data.labels[r.label] == "pass" for r in data.records)
    assert len({r.group for r in data.records}) == 1
    assert any("37085 ids have no clip file" in s for s in data.skipped)  # only augmented copies are here


def _ucf(tmp_path: Path) -> Path:
    root = tmp_path / "ucf"
    for cls in ("Basketball", "Archery"):
        for g in (1, 2, 3):
            for c in (1, 2):
                (root / cls).mkdir(parents=True, exist_ok=True)
                make_video(
                    root / cls / f"v_{cls}_g{g:02d}_c{c:02d}.avi", n_frames=6, width=64, height=48, codec="mpeg4"
                )
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 Archery\n2 Basketball\n3 Diving\n")
    train = [
        f"{cls}/v_{cls}_g{g:02d}_c{c:02d}.avi {i}"
        for i, cls in ((1, "Archery"), (2, "Basketball"))
        for g in (2, 3)
        for c in (1, 2)
    ]
    test = [f"{cls}/v_{cls}_g01_c{c:02d}.avi" for cls in ("Archery", "Basketball") for c in (1, 2)] + [
        "Diving/v_Diving_g01_c01.avi"
    ]
    (lists / "trainlist01.txt").write_text("\n".join(train) + "\n")
    (lists / "testlist01.txt").write_text("\n".join(test) + "\n")
    return root


def test_ucf101_official_split_and_groups(tmp_path):
    data = load_dataset(_ucf(tmp_path), "ucf101")
    assert data.labels == ("Archery", "Basketball")  # Diving has no video here
    assert any("1 listed videos are not present" in s for s in data.skipped)
    test = {r.id for r in data.records if r.subset == "test"}
    assert test == {f"{c}/v_{c}_g01_c0{k}.avi" for c in ("Archery", "Basketball") for k in (1, 2)}
    split = make_split(data, val_fraction=0.3, seed=1)
    assert set(split.test) == test
    groups = {r.id: r.group for r in data.records}
    assert not {groups[i] for i in split.train} & {groups[i] for i in split.val}
    assert split.val  # drawn from the official training list


def test_folder_format(tmp_path):
    for cls in ("pass", "shoot"):
        for k in range(3):
            (tmp_path / "d" / cls).mkdir(parents=True, exist_ok=True)
            make_video(tmp_path / "d" / cls / f"{cls}{k}.mp4", n_frames=4, width=32, height=32)
    (tmp_path / "d" / "empty").mkdir()
    data = load_dataset(tmp_path / "d", "folder")
    assert data.labels == ("pass", "shoot") and len(data.records) == 6
    assert any("empty/ has no video" in s for s in data.skipped)
    with pytest.raises(ConfigError, match="dataset folder not found"):
        load_dataset(tmp_path / "nope", "folder")
    with pytest.raises(ConfigError, match="no usable clips"):
        load_dataset(tmp_path / "d" / "empty", "folder")


def test_split_keeps_groups_together_and_is_stratified_and_seeded(motion, tmp_path):
    data = load_dataset(motion, "spacejam")
    assert len(data.records) == 120  # 40 originals with 2 copies each
    split = make_split(data, val_fraction=0.25, seed=3)
    group = {r.id: r.group for r in data.records}
    label = {r.id: r.label for r in data.records}
    assert not {group[i] for i in split.train} & {group[i] for i in split.val}  # no original/copy crosses
    assert sorted(split.train + split.val) == sorted(group)
    for c in range(4):
        n_val = sum(label[i] == c for i in split.val)
        assert n_val == 9  # 3 of the class's 10 groups (0.25 of 30 clips, whole groups of 3)
    assert make_split(data, val_fraction=0.25, seed=3) == split
    assert make_split(data, val_fraction=0.25, seed=4).val != split.val
    path = save_split(split, tmp_path / "split.json", data)
    assert load_split(path, data) == split
    other = load_dataset(make_motion_dataset(tmp_path / "other", per_class=1), "spacejam")
    with pytest.raises(ConfigError, match="not in"):
        load_split(path, other)


def test_sample_indices_centre_random_and_padding():
    assert list(sample_indices(20, 4, 2)) == [6, 8, 10, 12]  # span 7, centred
    assert list(sample_indices(3, 5)) == [0, 1, 2, 2, 2]  # short clips repeat the last frame
    rng = np.random.default_rng(0)
    for _ in range(50):
        idx = sample_indices(30, 8, 2, rng=rng, jitter=2)
        assert idx.min() >= 0 and idx.max() <= 29 and len(idx) == 8


def test_fit_square_pads_with_fill_and_keeps_the_player_centred():
    clip = np.full((2, 176, 128, 3), 200, np.uint8)  # SpaceJam shape: 128 wide, 176 high
    out = fit_square(clip, 64, fill=(1, 2, 3))
    assert out.shape == (2, 64, 64, 3)
    assert (out[:, :, :5] == (1, 2, 3)).all() and (out[:, :, -5:] == (1, 2, 3)).all()
    assert (out[:, :, 28:36] == 200).all()


def test_augmentation_keeps_shapes_dtype_and_range():
    rng = np.random.default_rng(1)
    frames = clip_frames("right", rng)
    for k in range(5):
        r = np.random.default_rng(k)
        clip = prepare_clip(
            frames,
            clip_len=8,
            frame_step=2,
            resize=40,
            crop_size=32,
            fit_mode="pad",
            fill=(0, 0, 0),
            augment=Augment(),
            rng=r,
        )
        assert clip.shape == (8, 32, 32, 3) and clip.dtype == np.uint8
    plain = prepare_clip(frames, clip_len=8, frame_step=2, resize=40, crop_size=32, fit_mode="pad", fill=(0, 0, 0))
    again = prepare_clip(frames, clip_len=8, frame_step=2, resize=40, crop_size=32, fit_mode="pad", fill=(0, 0, 0))
    assert np.array_equal(plain, again)  # evaluation clips are deterministic
    flipped = Augment(rotate_deg=0, translate=0, scale=0, colour=0).apply(frames, np.random.default_rng(0), (0, 0, 0))
    same = np.array_equal(flipped, frames)
    mirrored = np.array_equal(flipped, frames[:, :, ::-1])
    assert same or mirrored
    assert np.array_equal(
        Augment(flip=False, rotate_deg=0, translate=0, scale=0, colour=0).apply(
            frames, np.random.default_rng(5), (0, 0, 0)
        ),
        frames,
    )


def test_confusion_matrix_by_hand():
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    r = classification_report([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], ("a", "b", "c"))
    assert r.accuracy == pytest.approx(4 / 6)
    # precision a 1/2, b 1/2, c 1; recall a 1/2, b 1, c 2/3
    assert r.precision.tolist() == pytest.approx([0.5, 0.5, 1.0])
    assert r.recall.tolist() == pytest.approx([0.5, 1.0, 2 / 3])
    assert r.macro_f1 == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)


@pytest.mark.parametrize("seed", range(5))
def test_metrics_equal_scikit_learn(seed):
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    n = 6
    y_true = rng.integers(0, n - 1, 200)  # the last class never appears
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, n, 200))
    r = classification_report(y_true, y_pred, [str(i) for i in range(n)])
    assert r.accuracy == pytest.approx(sk.accuracy_score(y_true, y_pred))
    assert r.macro_f1 == pytest.approx(sk.f1_score(y_true, y_pred, average="macro", zero_division=0))
    p, rc, f, s = sk.precision_recall_fscore_support(y_true, y_pred, labels=list(range(n)), zero_division=0)
    assert r.precision == pytest.approx(p) and r.recall == pytest.approx(rc) and r.f1 == pytest.approx(f)
    assert r.support.tolist() == s.tolist()
    assert r.confusion.tolist() == sk.confusion_matrix(y_true, y_pred, labels=list(range(n))).tolist()
