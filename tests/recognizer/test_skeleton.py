"""The skeleton recognizer: keypoint normalisation and augmentation, SkeletonNet, its checkpoints, the
Recognizer on keypoints (no pose model needed when the tubelets carry them), late fusion, and the
keypoints the tubelets carry from a pose detector."""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv
import torch
from recognizers import make_checkpoint

from hoopsense.errors import ConfigError
from hoopsense.recognizer.model import (
    ARCHITECTURES,
    CheckpointMeta,
    build_model,
    load_checkpoint,
    parameter_count,
    save_checkpoint,
)
from hoopsense.recognizer.recognizer import Recognizer, RecognizerConfig
from hoopsense.recognizer.skeleton import (
    FLIP,
    KEYPOINTS,
    LIMIT,
    SkeletonNet,
    augment_keypoints,
    keypoints_batch,
    normalise_keypoints,
)
from hoopsense.recognizer.tubelets import SegmentEnd, Tubelet, TubeletBuilder, TubeletConfig

# A person facing the camera, in torso lengths, hips' mid-point at the origin, y down. COCO order:
# nose, eyes (left, right), ears, shoulders, elbows, wrists, hips, knees, ankles; the person's left is +x.
TEMPLATE = np.array(
    [
        (0.0, -1.35),
        (0.07, -1.42),
        (-0.07, -1.42),
        (0.15, -1.38),
        (-0.15, -1.38),
        (0.35, -1.0),
        (-0.35, -1.0),
        (0.45, -0.5),
        (-0.45, -0.5),
        (0.5, -0.05),
        (-0.5, -0.05),
        (0.2, 0.0),
        (-0.2, 0.0),
        (0.22, 0.9),
        (-0.22, 0.9),
        (0.22, 1.8),
        (-0.22, 1.8),
    ],
    np.float32,
)
LEFT = (1, 3, 5, 7, 9, 11, 13, 15)
RIGHT = (2, 4, 6, 8, 10, 12, 14, 16)


def person(
    frames: int = 8, *, size: float = 40.0, at: tuple[float, float] = (320.0, 200.0), seed: int = 0
) -> np.ndarray:
    """Pixel keypoints float32 ``(frames, 17, 3)`` of a person (torso ``size`` pixels) who walks and waves,
    all points confident (0.5-1)."""
    rng = np.random.default_rng(seed)
    out = np.empty((frames, KEYPOINTS, 3), np.float32)
    for t in range(frames):
        pose = TEMPLATE + rng.normal(0, 0.04, TEMPLATE.shape)
        out[t, :, :2] = pose * size + (at[0] + 3 * t, at[1] - t)
        out[t, :, 2] = rng.uniform(0.5, 1.0, KEYPOINTS)
    return out


def test_template_normalises_to_itself_wherever_and_however_large():
    for size, at in ((40.0, (320.0, 200.0)), (7.5, (12.0, 900.0)), (300.0, (-50.0, 40.0))):
        kp = np.zeros((3, KEYPOINTS, 3), np.float32)
        kp[..., :2] = TEMPLATE * size + at
        kp[..., 2] = 0.9
        out = normalise_keypoints(kp)
        assert out.dtype == np.float32 and out.shape == (3, KEYPOINTS, 3)
        assert np.allclose(out[..., :2], TEMPLATE, atol=1e-4), (size, at)
        assert np.allclose(out[..., 2], 0.9)


def test_normalisation_ignores_translation_and_uniform_scale():
    kp = person(12, seed=1)
    moved = kp.copy()
    moved[..., :2] = kp[..., :2] * 2.5 + np.float32([300, -120])
    a, b = normalise_keypoints(kp), normalise_keypoints(moved)
    assert np.abs(a - b).max() < 1e-4
    assert np.isfinite(a).all() and a.dtype == np.float32
    # each frame is centred on its own hips: the walk across the picture is gone
    assert np.allclose(a[:, (11, 12), :2].mean(axis=1), 0, atol=1e-5)
    # but the player's own movements stay (noise of 0.04 torso lengths a point)
    assert np.abs(a[1:, :, :2] - a[:-1, :, :2]).mean() > 0.01


def test_confidences_are_kept_and_unseen_points_carry_no_position():
    kp = person(6, seed=2)
    kp[:, 9, 2] = 0.1  # a hidden left wrist
    kp[2, 0, 2] = 0.29  # the nose just below the threshold in one frame
    kp[3, 0, 2] = 0.3  # and exactly at it in another: seen
    out = normalise_keypoints(kp)
    assert np.array_equal(out[..., 2], kp[..., 2])
    assert np.all(out[:, 9, :2] == 0) and np.all(out[2, 0, :2] == 0)
    assert np.abs(out[3, 0, :2]).max() > 0.5  # the nose is well above the hips
    # the hidden points' positions do not matter
    kp2 = kp.copy()
    kp2[:, 9, :2] = 1e6
    kp2[2, 0, :2] = -5
    assert np.array_equal(normalise_keypoints(kp2), out)
    # a stricter threshold hides more
    strict = normalise_keypoints(kp, min_confidence=0.95)
    assert np.all(strict[kp[..., 2] < 0.95][:, :2] == 0)


def test_a_clip_with_no_confident_point_is_zeros_without_nan():
    kp = person(5, seed=3)
    kp[..., 2] = 0.05
    out = normalise_keypoints(kp)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert np.all(out[..., :2] == 0) and np.allclose(out[..., 2], 0.05)
    zeros = normalise_keypoints(np.zeros((4, KEYPOINTS, 3), np.float32))
    assert zeros.shape == (4, KEYPOINTS, 3) and np.all(zeros == 0)


def test_frames_where_nothing_is_seen_stay_zero_between_located_ones():
    kp = person(6, seed=4)
    kp[2:4, :, 2] = 0.0  # the player is lost for two frames
    out = normalise_keypoints(kp)
    assert np.isfinite(out).all()
    assert np.all(out[2:4] == 0)
    assert np.allclose(out[[0, 1, 4, 5]], normalise_keypoints(kp[[0, 1, 4, 5]]), atol=1e-5)


def test_a_frame_without_hips_is_centred_on_the_shoulders():
    kp = np.zeros((4, KEYPOINTS, 3), np.float32)
    kp[..., :2] = TEMPLATE * 50 + (100, 100)
    kp[..., 2] = 0.9
    kp[1, (11, 12), 2] = 0.1  # hips hidden in frame 1
    out = normalise_keypoints(kp)
    assert np.allclose(out[1, (5, 6), :2].mean(axis=0), 0, atol=1e-5)  # mid-shoulder is the centre
    assert np.allclose(out[1, 0, :2], TEMPLATE[0] - (0, -1.0), atol=1e-4)  # the nose, 0.35 above it
    assert np.all(out[1, (11, 12), :2] == 0)
    assert np.allclose(out[[0, 2, 3], :, :2], TEMPLATE, atol=1e-4)  # the other frames on their hips
    # neither hips nor shoulders: the mean of the confident points
    kp[2, (5, 6, 11, 12), 2] = 0.1
    out = normalise_keypoints(kp)
    seen = kp[2, :, 2] >= 0.3
    assert np.allclose(out[2, seen, :2].mean(axis=0), 0, atol=1e-5)


def test_without_a_torso_the_scale_comes_from_the_height_and_is_still_invariant():
    kp = person(6, seed=5)
    kp[:, (5, 6), 2] = 0.0  # shoulders never seen
    out = normalise_keypoints(kp)
    assert np.isfinite(out).all() and np.abs(out[..., :2]).max() > 0.1
    moved = kp.copy()
    moved[..., :2] = kp[..., :2] * 0.4 + np.float32([-20, 55])
    assert np.abs(normalise_keypoints(moved) - out).max() < 1e-4
    # a third of the height (nose to ankles, about 3.15 torso lengths) as the unit: ankles ~1.7 below the hips
    assert 1.4 < out[:, 15, 1].mean() < 2.0


def test_far_points_are_clipped_and_bad_shapes_refused():
    kp = person(3, seed=6)
    kp[:, 9, :2] = kp[:, 11, :2] + 10_000  # a wild wrist, far outside the player
    out = normalise_keypoints(kp)
    assert np.allclose(out[:, 9, :2], LIMIT) and np.abs(out).max() <= LIMIT
    with pytest.raises(ValueError, match="keypoints must be"):
        normalise_keypoints(np.zeros((4, KEYPOINTS, 2)))
    with pytest.raises(ValueError, match="keypoints must be"):
        normalise_keypoints(np.zeros((KEYPOINTS, 3)))


def test_flip_table_swaps_left_and_right_and_is_its_own_inverse():
    assert sorted(FLIP) == list(range(KEYPOINTS)) and FLIP[0] == 0
    assert all(FLIP[FLIP[i]] == i for i in range(KEYPOINTS))
    assert all(FLIP[a] == b and FLIP[b] == a for a, b in zip(LEFT, RIGHT))


def test_augment_mirrors_about_half_the_time_and_nothing_else_when_asked():
    clip = normalise_keypoints(person(8, seed=7))
    mirror = clip[:, list(FLIP)].copy()
    mirror[..., 0] *= -1
    assert np.allclose(mirror[:, :, :2], np.concatenate([-clip[:, FLIP, :1], clip[:, FLIP, 1:2]], axis=2))
    flipped = kept = 0
    for seed in range(40):
        out = augment_keypoints(clip, np.random.default_rng(seed), flip=True, rotate_deg=0, scale=0, noise=0, drop=0)
        assert out.dtype == np.float32 and out.shape == clip.shape
        expected_flip = np.random.default_rng(seed).random() < 0.5  # the first draw decides
        if expected_flip:
            assert np.allclose(out, mirror, atol=1e-6)
            flipped += 1
        else:
            assert np.allclose(out, clip, atol=1e-6)
            kept += 1
    assert flipped >= 10 and kept >= 10
    # in a mirror image the left shoulder is where the right one was, on the other side
    out = next(
        augment_keypoints(clip, np.random.default_rng(s), flip=True, rotate_deg=0, scale=0, noise=0, drop=0)
        for s in range(40)
        if np.random.default_rng(s).random() < 0.5
    )
    assert np.allclose(out[:, 5, 0], -clip[:, 6, 0]) and np.allclose(out[:, 5, 1], clip[:, 6, 1])
    assert np.allclose(out[..., 2], clip[:, list(FLIP), 2])


def test_augment_without_flip_never_mirrors_and_keeps_the_skeleton_shape():
    clip = normalise_keypoints(person(8, seed=8))
    for seed in range(20):
        out = augment_keypoints(
            clip, np.random.default_rng(seed), flip=False, rotate_deg=10, scale=0.2, noise=0, drop=0
        )
        # a rotation and zoom about the hips: distances scale by one factor, the left side stays left
        ratio = np.linalg.norm(out[..., :2], axis=-1)[clip[..., 2] > 0] / np.maximum(
            np.linalg.norm(clip[..., :2], axis=-1)[clip[..., 2] > 0], 1e-6
        )
        big = np.linalg.norm(clip[..., :2], axis=-1)[clip[..., 2] > 0] > 0.1
        assert 0.79 < ratio[big].min() and ratio[big].max() < 1.21 and np.ptp(ratio[big]) < 1e-3
        assert (out[:, 5, 0] > out[:, 6, 0]).all()  # the left shoulder still on the left (+x)
        assert np.array_equal(out[..., 2], clip[..., 2])
    dropped = augment_keypoints(clip, np.random.default_rng(0), flip=False, drop=1.0)
    assert np.all(dropped == 0)
    noisy = augment_keypoints(clip, np.random.default_rng(0), flip=False, rotate_deg=0, scale=0, noise=0.05, drop=0)
    assert 0.02 < np.abs(noisy[..., :2] - clip[..., :2]).mean() < 0.08
    assert clip is not noisy and np.array_equal(clip, normalise_keypoints(person(8, seed=8)))  # input untouched


def test_skeleton_net_output_shape_for_any_clip_length():
    torch.manual_seed(0)
    net = SkeletonNet(num_classes=5).eval()
    for b, t in ((2, 16), (3, 8), (1, 1), (4, 33)):
        x = keypoints_batch([person(t, seed=s) for s in range(b)])
        assert x.shape == (b, t, KEYPOINTS, 3) and x.dtype == torch.float32
        with torch.inference_mode():
            y = net(x)
        assert y.shape == (b, 5) and torch.isfinite(y).all()
    assert keypoints_batch([]).shape == (0, 1, KEYPOINTS, 3)
    # training mode (batch norm over the batch) works as well, and the network is as small as it says
    net.train()
    net(keypoints_batch([person(8, seed=s) for s in range(4)])).sum().backward()
    assert net.fc.weight.grad is not None and net.embed[0].weight.grad.abs().sum() > 0
    assert 0.1e6 < parameter_count(SkeletonNet(num_classes=5).state_dict()) < 0.3e6


def test_skeleton_net_reads_each_frames_pose_and_its_change_since_the_previous_frame():
    torch.manual_seed(0)
    net = SkeletonNet(num_classes=3).eval()
    seen = []
    net.embed.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    x = keypoints_batch([person(6, seed=9), person(6, seed=10)])
    with torch.inference_mode():
        net(x)
    h = seen[0]
    assert h.shape == (2, KEYPOINTS * 3 + KEYPOINTS * 2, 6)  # (batch, features, time)
    frames = x.reshape(2, 6, -1).transpose(1, 2)
    assert torch.equal(h[:, : KEYPOINTS * 3], frames)  # x, y, confidence of every point
    xy = x[..., :2].reshape(2, 6, -1).transpose(1, 2)
    change = h[:, KEYPOINTS * 3 :]
    assert torch.all(change[..., 0] == 0)  # nothing before the first frame
    assert torch.allclose(change[..., 1:], xy[..., 1:] - xy[..., :-1])
    assert change[..., 1:].abs().sum() > 0


def test_architecture_is_registered_as_a_keypoint_network():
    arch = ARCHITECTURES["skeleton-tcn"]
    assert arch.uses_keypoints and arch.kind == "skeleton" and not arch.has_pretrained
    assert not ARCHITECTURES["r2plus1d_18"].uses_keypoints
    model = build_model("skeleton-tcn", 5)
    assert isinstance(model, SkeletonNet) and model.fc.out_features == 5


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = build_model("skeleton-tcn", 5)
    model.train()
    with torch.no_grad():  # move the batch-norm statistics away from their defaults, so that they are checked too
        for s in range(3):
            model(keypoints_batch([person(10, seed=10 * s + k) for k in range(4)]) * 1.5 + 0.2)
    model.eval()
    labels = ("left", "right", "bounce", "still", "no_action")
    meta = CheckpointMeta(architecture="skeleton-tcn", labels=labels, clip_len=10, background="no_action")
    path = save_checkpoint(tmp_path / "skeleton.pt", model, meta)
    loaded, meta2 = load_checkpoint(path)
    assert isinstance(loaded, SkeletonNet) and not loaded.training
    assert meta2.architecture == "skeleton-tcn" and meta2.labels == labels and meta2.clip_len == 10
    x = keypoints_batch([person(10, seed=100 + k) for k in range(3)])
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))
    fresh = build_model("skeleton-tcn", 5).eval()
    with torch.inference_mode():
        assert not torch.allclose(fresh(x), loaded(x))  # the weights were really loaded


# ---- the recognizer on keypoints


LABELS = ("left", "right", "bounce", "still")


@pytest.fixture(scope="module")
def skeleton_checkpoint(tmp_path_factory):
    return make_checkpoint(
        tmp_path_factory.mktemp("skel") / "skeleton.pt", architecture="skeleton-tcn", labels=LABELS, background=None,
        clip_len=8, seed=0,
    )  # fmt: skip


def tubelet(track_id: int, keypoints: np.ndarray | None, start: int = 0, clip_len: int = 8) -> Tubelet:
    return Tubelet(
        track_id=track_id,
        frame_indices=np.arange(start, start + clip_len, dtype=np.int64),
        crops=np.zeros((clip_len, 16, 16, 3), np.uint8),
        boxes=np.tile(np.float32([10, 10, 30, 60]), (clip_len, 1)),
        keypoints=keypoints,
    )


def test_recognizer_classifies_tubelet_keypoints_without_a_pose_model(skeleton_checkpoint):
    rec = Recognizer(RecognizerConfig(str(skeleton_checkpoint), device="cpu"))
    assert rec.uses_keypoints and rec.pose_weights is None and rec.labels == LABELS
    assert rec.backend == "torch" and rec.dtype == torch.float32
    kps = [person(8, size=20 + 10 * k, seed=20 + k) for k in range(3)]
    preds = rec.predict([tubelet(k, kp, start=4 * k) for k, kp in enumerate(kps)])
    assert [(p.track_id, p.start_frame, p.end_frame) for p in preds] == [(0, 0, 7), (1, 4, 11), (2, 8, 15)]
    probs = np.stack([p.probs for p in preds])
    assert probs.shape == (3, 4) and probs.dtype == np.float32
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5) and (probs >= 0).all()
    # exactly the network's softmax over the normalised keypoints
    model, _ = load_checkpoint(skeleton_checkpoint)
    with torch.inference_mode():
        expected = torch.softmax(model(keypoints_batch(kps)), dim=1).numpy()
    assert np.allclose(probs, expected, atol=1e-5)
    assert np.allclose(rec.predict_keypoints(kps), expected, atol=1e-5)
    assert rec.predict_keypoints([]).shape == (0, 4)


def test_recognizer_batches_of_any_size_agree(skeleton_checkpoint):
    rec = Recognizer(RecognizerConfig(str(skeleton_checkpoint), device="cpu"))
    kps = [person(8, seed=200 + k) for k in range(70)]  # more than one batch of 64
    together = rec.predict_keypoints(kps)
    apart = np.concatenate([rec.predict_keypoints(kps[i : i + 1]) for i in (0, 63, 64, 69)])
    assert together.shape == (70, 4)
    assert np.allclose(together[[0, 63, 64, 69]], apart, atol=1e-5)
    assert not np.allclose(together[0], together[1], atol=1e-4)  # the clips really differ


def test_tubelets_without_keypoints_need_a_pose_model(skeleton_checkpoint):
    rec = Recognizer(RecognizerConfig(str(skeleton_checkpoint), device="cpu"))
    with pytest.raises(ConfigError, match="--pose") as err:
        rec.predict([tubelet(1, person(8)), tubelet(2, None)])
    assert err.value.field == "RecognizerConfig.pose"


def test_tubelets_without_keypoints_get_them_from_the_crops_in_order(skeleton_checkpoint, monkeypatch):
    rec = Recognizer(RecognizerConfig(str(skeleton_checkpoint), device="cpu"))
    from_crops = {2: person(8, seed=31), 4: person(8, seed=32)}
    asked = []

    def crop_keypoints(clips):
        asked.append(len(clips))
        return [from_crops[int(c[0, 0, 0, 0])] for c in clips]

    monkeypatch.setattr(rec, "crop_keypoints", crop_keypoints)
    given = {1: person(8, seed=30), 3: person(8, seed=33)}
    tubelets = []
    for tid in (1, 2, 3, 4):
        t = tubelet(tid, given.get(tid))
        t.crops[:] = tid  # tells the fake pose model which player it is looking at
        tubelets.append(t)
    probs = np.stack([p.probs for p in rec.predict(tubelets)])
    assert asked == [2]  # one call for the two players without keypoints
    expected = rec.predict_keypoints([given[1], from_crops[2], given[3], from_crops[4]])
    assert np.allclose(probs, expected, atol=1e-5)


@pytest.fixture(scope="module")
def partner_checkpoint(tmp_path_factory):
    """Another skeleton checkpoint with the same classes in another order and other weights."""
    return make_checkpoint(
        tmp_path_factory.mktemp("skel2") / "partner.pt", architecture="skeleton-tcn",
        labels=("still", "bounce", "left", "right"), background=None, clip_len=8, seed=1,
    )  # fmt: skip


def test_fusion_averages_both_recognizers_in_the_first_ones_label_order(skeleton_checkpoint, partner_checkpoint):
    kps = [person(8, size=25 + 5 * k, seed=40 + k) for k in range(5)]
    a = Recognizer(RecognizerConfig(str(skeleton_checkpoint), device="cpu")).predict_keypoints(kps)
    b = Recognizer(RecognizerConfig(str(partner_checkpoint), device="cpu")).predict_keypoints(kps)
    order = [("still", "bounce", "left", "right").index(name) for name in LABELS]
    assert order == [2, 3, 1, 0]
    fused = Recognizer(RecognizerConfig(str(skeleton_checkpoint), device="cpu", fuse=str(partner_checkpoint)))
    assert fused.partner is not None and fused.labels == LABELS
    probs = np.stack([p.probs for p in fused.predict([tubelet(k, kp) for k, kp in enumerate(kps)])])
    expected = (a + b[:, order]) / 2
    assert np.allclose(probs, expected, atol=1e-5)
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert not np.allclose(probs, (a + b) / 2, atol=1e-3)  # the reordering matters on these clips


def test_fusion_partner_must_have_the_same_classes_and_clips(tmp_path, skeleton_checkpoint):
    other = make_checkpoint(
        tmp_path / "other.pt", architecture="skeleton-tcn", labels=("left", "right", "jump", "still"),
        background=None, clip_len=8,
    )  # fmt: skip
    with pytest.raises(ConfigError, match="classes differ") as err:
        Recognizer(RecognizerConfig(str(skeleton_checkpoint), device="cpu", fuse=str(other)))
    assert err.value.field == "RecognizerConfig.fuse"
    fewer = make_checkpoint(
        tmp_path / "fewer.pt", architecture="skeleton-tcn", labels=LABELS[:3], background=None, clip_len=8
    )
    with pytest.raises(ConfigError, match="classes differ"):
        Recognizer(RecognizerConfig(str(skeleton_checkpoint), device="cpu", fuse=str(fewer)))
    longer = make_checkpoint(
        tmp_path / "longer.pt", architecture="skeleton-tcn", labels=LABELS, background=None, clip_len=16
    )
    with pytest.raises(ConfigError, match="clips of 16 frames"):
        Recognizer(RecognizerConfig(str(skeleton_checkpoint), device="cpu", fuse=str(longer)))


# ---- keypoints carried by the tubelets

W, H = 320, 240


def _frame(i: int) -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 0] = i
    return img


def _players(boxes: dict[int, tuple[float, ...]], keypoints: dict[int, np.ndarray] | None) -> sv.Detections:
    if not boxes:
        return sv.Detections.empty()
    ids = list(boxes)
    data = {"keypoints": np.stack([keypoints[i] for i in ids]).astype(np.float32)} if keypoints is not None else {}
    det = sv.Detections(xyxy=np.array([boxes[i] for i in ids], dtype=float), confidence=np.ones(len(ids)), data=data)
    det.tracker_id = np.array(ids)
    return det


def _points(tid: int, i: int) -> np.ndarray:
    """Keypoints of player ``tid`` at frame ``i``: distinct for every player and frame."""
    kp = np.zeros((KEYPOINTS, 3), np.float32)
    kp[:, 0] = 100 * tid + i + np.arange(KEYPOINTS)
    kp[:, 1] = 50 + 2 * i + 0.5 * np.arange(KEYPOINTS)
    kp[:, 2] = 0.5 + 0.02 * ((i + np.arange(KEYPOINTS)) % 10)
    return kp


def _run(builder: TubeletBuilder, frames: int, visible, with_keypoints: bool = True) -> list:
    out: list = []
    for i in range(frames):
        boxes = {tid: (20 + 150 * tid, 60, 60 + 150 * tid, 180) for tid in (1, 2) if i in visible[tid]}
        kps = {tid: _points(tid, i) for tid in boxes} if with_keypoints else None
        out += builder.push(i, _frame(i), _players(boxes, kps))
    return out + builder.finish()


def test_tubelets_carry_each_players_own_keypoints():
    builder = TubeletBuilder(TubeletConfig(clip_len=8, stride=4, resize=16))
    items = _run(builder, 16, {1: range(16), 2: range(3, 16)})
    wins = [x for x in items if isinstance(x, Tubelet)]
    assert {w.track_id for w in wins} == {1, 2}
    for w in wins:
        assert w.keypoints is not None and w.keypoints.shape == (8, KEYPOINTS, 3) and w.keypoints.dtype == np.float32
        expected = np.stack([_points(w.track_id, int(i)) for i in w.frame_indices])
        assert np.array_equal(w.keypoints, expected), (w.track_id, list(w.frame_indices))


def test_tubelets_without_keypoints_have_none():
    builder = TubeletBuilder(TubeletConfig(clip_len=8, stride=4, resize=16))
    wins = [x for x in _run(builder, 12, {1: range(12), 2: range(12)}, with_keypoints=False) if isinstance(x, Tubelet)]
    assert wins and all(w.keypoints is None for w in wins)


def test_a_short_segment_holds_its_last_keypoints():
    builder = TubeletBuilder(TubeletConfig(clip_len=8, stride=4, resize=16, min_fill=0.5))
    wins = [x for x in _run(builder, 10, {1: range(5), 2: ()}) if isinstance(x, Tubelet)]
    assert len(wins) == 1 and list(wins[0].frame_indices) == [0, 1, 2, 3, 4, 4, 4, 4]
    assert np.array_equal(wins[0].keypoints[5:], np.stack([_points(1, 4)] * 3))


def test_a_bridged_gap_gets_interpolated_keypoints_with_the_lower_confidence():
    builder = TubeletBuilder(TubeletConfig(clip_len=8, stride=4, resize=16, max_gap=4))
    items = _run(builder, 8, {1: [0, 1, 2, 5, 6, 7], 2: ()})
    assert not [x for x in items if isinstance(x, SegmentEnd) and x.last_frame < 7]
    wins = [x for x in items if isinstance(x, Tubelet)]
    assert len(wins) == 1 and list(wins[0].frame_indices) == list(range(8))
    kp = wins[0].keypoints
    assert kp is not None
    before, after = _points(1, 2), _points(1, 5)
    for g, a in ((3, 1 / 3), (4, 2 / 3)):
        assert np.allclose(kp[g, :, :2], (1 - a) * before[:, :2] + a * after[:, :2], atol=1e-4)
        assert np.allclose(kp[g, :, 2], np.minimum(before[:, 2], after[:, 2]))
    for i in (0, 1, 2, 5, 6, 7):
        assert np.array_equal(kp[i], _points(1, i))


def test_a_window_where_some_frames_lack_keypoints_has_none():
    builder = TubeletBuilder(TubeletConfig(clip_len=4, stride=4, resize=16))
    out: list = []
    for i in range(8):
        box = {1: (20, 60, 60, 180)}
        out += builder.push(i, _frame(i), _players(box, {1: _points(1, i)} if i != 2 else None))
    wins = [x for x in out + builder.finish() if isinstance(x, Tubelet)]
    assert [list(w.frame_indices) for w in wins] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert wins[0].keypoints is None  # frame 2 had none: no partial keypoints
    assert wins[1].keypoints is not None and np.array_equal(wins[1].keypoints[0], _points(1, 4))


def test_a_skeleton_partner_uses_the_pose_model_given(tmp_path, skeleton_checkpoint):
    pixels = make_checkpoint(
        tmp_path / "frames.pt", architecture="frames-mobilenet_v3_small-gru", labels=LABELS, background=None,
        clip_len=8, crop_size=32, resize=40,
    )  # fmt: skip
    config = RecognizerConfig(str(pixels), device="cpu", fuse=str(skeleton_checkpoint), pose="my-pose.pt")
    fused = Recognizer(config)
    assert not fused.uses_keypoints and fused.partner is not None and fused.partner.uses_keypoints
    # the user named a pose model for the skeleton recognizer, and the only skeleton recognizer is the partner
    assert fused.partner.pose_weights == "my-pose.pt"


def test_without_crops_tubelets_carry_only_keypoints_and_a_missing_frame_is_unseen():
    builder = TubeletBuilder(TubeletConfig(clip_len=8, stride=4, resize=16, cut_crops=False))
    wins = [x for x in _run(builder, 12, {1: range(12), 2: ()}) if isinstance(x, Tubelet)]
    assert wins and all(w.crops.shape == (8, 0, 0, 3) for w in wins)
    assert all(np.array_equal(w.keypoints, np.stack([_points(1, int(i)) for i in w.frame_indices])) for w in wins)
    # a frame whose detection came without keypoints: every point unseen, not a window without keypoints
    builder = TubeletBuilder(TubeletConfig(clip_len=8, stride=8, resize=16, cut_crops=False))
    out: list = []
    for i in range(8):
        boxes = {1: (20, 60, 60, 180)}
        out += builder.push(i, _frame(i), _players(boxes, None if i == 3 else {1: _points(1, i)}))
    (win,) = [x for x in out + builder.finish() if isinstance(x, Tubelet)]
    assert win.keypoints is not None and np.all(win.keypoints[3] == 0)
    assert np.array_equal(win.keypoints[4], _points(1, 4))


def test_the_recognizer_cuts_no_crops_only_when_its_keypoints_come_from_the_detector(
    skeleton_checkpoint, partner_checkpoint
):
    rec = Recognizer(RecognizerConfig(str(skeleton_checkpoint), device="cpu"))
    assert rec.tubelet_config().cut_crops and not rec.tubelet_config(detector_keypoints=True).cut_crops
    fused = Recognizer(RecognizerConfig(str(skeleton_checkpoint), device="cpu", fuse=str(partner_checkpoint)))
    assert fused.tubelet_config(detector_keypoints=True).cut_crops  # the partner may need the pixels


# ---- the ball near the player (skeleton-ball-tcn)


def ball_near(kp: np.ndarray, offset: tuple[float, float] = (0.5, 0.3), conf: float = 0.6) -> np.ndarray:
    """The ball ``(T, 3)`` at ``offset`` torso lengths from each frame's hip centre of ``person(size=40)``."""
    hips = kp[:, (11, 12), :2].mean(axis=1)
    ball = np.empty((len(kp), 3), np.float32)
    ball[:, :2] = hips + np.float32(offset) * 40.0
    ball[:, 2] = conf
    return ball


def test_the_ball_is_an_18th_point_relative_to_the_player_like_his_joints():
    kp = person(10, seed=40)
    ball = ball_near(kp)
    out = normalise_keypoints(kp, ball)
    assert out.shape == (10, KEYPOINTS + 1, 3) and out.dtype == np.float32
    assert np.array_equal(out[:, :KEYPOINTS], normalise_keypoints(kp))  # the player's points are unchanged
    assert np.allclose(out[:, KEYPOINTS, 2], 0.6)
    # translation and scale of the whole picture change nothing, the ball included
    moved, moved_ball = kp.copy(), ball.copy()
    moved[..., :2] = kp[..., :2] * 0.4 + np.float32([-80, 500])
    moved_ball[:, :2] = ball[:, :2] * 0.4 + np.float32([-80, 500])
    assert np.abs(normalise_keypoints(moved, moved_ball) - out).max() < 1e-4
    # the offset is in torso lengths (the person's torso is about one template unit of 40 pixels)
    assert np.allclose(out[:, KEYPOINTS, :2], [0.5, 0.3], atol=0.1)


def test_a_ball_far_from_the_player_or_not_found_is_all_zero():
    kp = person(6, seed=41)
    ball = ball_near(kp, offset=(0.2, 0.1))
    ball[1, :2] += 10 * 40.0  # ten torso lengths away: another player's ball
    ball[2, 2] = 0.0  # not found in this frame
    out = normalise_keypoints(kp, ball)
    assert np.all(out[[1, 2], KEYPOINTS] == 0)
    assert np.all(out[[0, 3, 4, 5], KEYPOINTS, 2] > 0)
    nobody = np.zeros_like(kp)  # no player seen: nothing to be near
    assert np.all(normalise_keypoints(nobody, ball_near(kp)) == 0)
    assert normalise_keypoints(nobody, ball_near(kp)).shape == (6, KEYPOINTS + 1, 3)
    with pytest.raises(ValueError, match="ball must be"):
        normalise_keypoints(kp, ball[:3])


def test_a_mirrored_clip_mirrors_the_ball_in_place():
    kp = person(8, seed=42)
    clip = normalise_keypoints(kp, ball_near(kp, offset=(0.6, -0.2)))
    seeds = [s for s in range(20) if np.random.default_rng(s).random() < 0.5]
    out = augment_keypoints(clip, np.random.default_rng(seeds[0]), rotate_deg=0, scale=0, noise=0, drop=0)
    assert out.shape == clip.shape
    assert np.allclose(out[:, KEYPOINTS, 0], -clip[:, KEYPOINTS, 0]) and np.allclose(
        out[:, KEYPOINTS, 1:], clip[:, KEYPOINTS, 1:]
    )
    assert np.allclose(out[:, 5, 0], -clip[:, 6, 0])  # the joints still swap sides


def test_skeleton_ball_network_reads_18_points_and_round_trips(tmp_path):
    arch = ARCHITECTURES["skeleton-ball-tcn"]
    assert arch.uses_keypoints and arch.uses_ball and not ARCHITECTURES["skeleton-tcn"].uses_ball
    torch.manual_seed(0)
    model = build_model("skeleton-ball-tcn", 3).eval()
    assert isinstance(model, SkeletonNet) and model.points == KEYPOINTS + 1
    kps = [person(8, seed=50 + k) for k in range(3)]
    x = keypoints_batch(kps, [ball_near(kp) for kp in kps])
    assert x.shape == (3, 8, KEYPOINTS + 1, 3)
    assert keypoints_batch([], []).shape == (0, 1, KEYPOINTS + 1, 3)
    meta = CheckpointMeta(architecture="skeleton-ball-tcn", labels=("a", "b", "c"), clip_len=8, background=None)
    loaded, _ = load_checkpoint(save_checkpoint(tmp_path / "ball.pt", model, meta))
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))
        # the ball changes the answer: the network does read it
        assert not torch.allclose(loaded(x), loaded(keypoints_batch(kps, [np.zeros((8, 3), np.float32)] * 3)))


@pytest.fixture(scope="module")
def ball_checkpoint(tmp_path_factory):
    return make_checkpoint(
        tmp_path_factory.mktemp("ball") / "ball.pt", architecture="skeleton-ball-tcn", labels=LABELS,
        background=None, clip_len=8, seed=0,
    )  # fmt: skip


def test_the_ball_is_found_in_the_crops_and_mapped_to_the_detectors_keypoint_pixels(ball_checkpoint, monkeypatch):
    rec = Recognizer(RecognizerConfig(str(ball_checkpoint), device="cpu"))
    assert rec.uses_ball and rec.ball_weights is None
    # a ball needs crops even when the detector gives the keypoints
    assert rec.tubelet_config(detector_keypoints=True).cut_crops
    with pytest.raises(ConfigError, match="--ball") as err:
        rec.predict([tubelet(1, person(8))])
    assert err.value.field == "RecognizerConfig.ball"

    box = np.float32([100, 50, 140, 150])  # a 100-pixel-high player: his crop is a 125-pixel square
    kp = person(8, size=25, at=(120, 100), seed=60)  # the detector's keypoints, in frame pixels
    in_crop = np.zeros((8, 3), np.float32)
    in_crop[:, :2], in_crop[:, 2] = (20.0, 10.0), 0.7  # where the detector finds it in the 16-pixel crop
    monkeypatch.setattr(rec, "crop_balls", lambda clips: [in_crop.copy() for _ in clips])
    t = Tubelet(1, np.arange(8), np.zeros((8, 16, 16, 3), np.uint8), np.tile(box, (8, 1)), keypoints=kp)
    probs = rec.predict([t])[0].probs
    # the crop spans x 57.5-182.5, y 37.5-162.5 (rounded to whole pixels), 125/16 frame pixels a crop pixel
    frame_ball = in_crop.copy()
    frame_ball[:, 0], frame_ball[:, 1] = 58 + 20 * 125 / 16, 38 + 10 * 125 / 16
    assert np.allclose(probs, rec.predict_keypoints([kp], [frame_ball])[0], atol=1e-6)
    assert not np.allclose(probs, rec.predict_keypoints([kp], [in_crop])[0], atol=1e-3)
