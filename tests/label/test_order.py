"""The labeller's orders: motion descriptors, their clusters, and the next clips dealt out over them."""

from __future__ import annotations

import numpy as np
import pytest
from motion import CLASSES, clip_frames, make_motion_dataset

from hoopsense.label.order import (
    DESCRIPTOR_SIZE,
    DIRECTIONS,
    Coverage,
    cluster,
    cluster_count,
    label_order,
    motion_descriptor,
)


def moving_square(dx: float, dy: float, frames: int = 8, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(0)
    bg = rng.integers(60, 90, (size, size, 3)).astype(np.uint8)
    out = []
    for t in range(frames):
        img = bg.copy()
        x, y = int(24 + dx * t), int(24 + dy * t)
        img[y : y + 14, x : x + 14] = (230, 200, 40)
        out.append(img)
    return np.stack(out)


def direction_votes(descriptor: np.ndarray) -> np.ndarray:
    """Squared descriptor summed over cells and halves: the votes of each direction (and still, last)."""
    return (descriptor.reshape(2, 4, DIRECTIONS + 1) ** 2).sum(axis=(0, 1))


def share(descriptor: np.ndarray, direction: int) -> float:
    """The share of ``direction`` among the votes for a direction (the background votes still)."""
    votes = direction_votes(descriptor)[:DIRECTIONS]
    return float(votes[direction] / votes.sum())


def test_descriptor_is_a_unit_vector_of_flow_directions():
    right = motion_descriptor(moving_square(2, 0))
    left = motion_descriptor(moving_square(-2, 0))
    down = motion_descriptor(moving_square(0, 2))
    still = motion_descriptor(moving_square(0, 0))
    for d in (right, left, down, still):
        assert d.shape == (DESCRIPTOR_SIZE,) and d.dtype == np.float32
        assert np.linalg.norm(d) == pytest.approx(1.0, abs=1e-5)
    # bins centred on right (0), down (2), left (4) and up (6), image y pointing down
    assert share(right, 0) > 0.9 and share(left, 4) > 0.9 and share(down, 2) > 0.9
    assert direction_votes(still)[DIRECTIONS] > 0.99  # nothing moves: all votes are "still"
    assert np.linalg.norm(right - left) > 0.5 and np.linalg.norm(right - still) > 0.5
    # the same motion in a larger frame is nearer to it than to the other motions; one frame is all still
    bigger = motion_descriptor(moving_square(2, 0, size=96))
    assert np.linalg.norm(bigger - right) < min(np.linalg.norm(bigger - x) for x in (left, down, still))
    one = motion_descriptor(moving_square(2, 0)[:1])
    assert direction_votes(one)[DIRECTIONS] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="frames must be"):
        motion_descriptor(np.zeros((4, 8, 8), np.uint8))


def test_motion_classes_fall_into_pure_clusters():
    rng = np.random.default_rng(1)
    truth = np.repeat(np.arange(len(CLASSES)), 12)
    d = np.stack([motion_descriptor(clip_frames(CLASSES[c], rng)) for c in truth])
    ids, typicality = cluster(d)
    assert ids.max() + 1 == cluster_count(len(d)) == 7
    purity = sum(np.bincount(truth[ids == k]).max() for k in np.unique(ids)) / len(truth)
    assert purity >= 0.95
    assert typicality.shape == (len(d),) and np.all((typicality > 0) & (typicality <= 1))
    centre = [np.argmin(np.linalg.norm(d - d[ids == k].mean(axis=0), axis=1) + (ids != k) * 9) for k in range(7)]
    assert all(typicality[c] == typicality[ids == ids[c]].max() for c in centre)  # the most central is most typical


def test_cluster_sizes():
    assert [cluster_count(n) for n in (1, 2, 4, 160, 4096, 20000)] == [1, 2, 2, 13, 64, 64]
    ids, typicality = cluster(np.ones((1, 4), np.float32))
    assert ids.tolist() == [0] and typicality.tolist() == [1.0]
    copies = np.repeat(np.eye(3, 4, dtype=np.float32), 10, axis=0)  # 30 clips, 3 distinct (hard-linked files)
    ids, _ = cluster(copies)
    assert len(np.unique(ids)) == 3 and all(len(np.unique(ids[i : i + 10])) == 1 for i in (0, 10, 20))
    assert cluster(np.zeros((0, 4), np.float32))[0].shape == (0,)


def test_varied_order_deals_labels_over_clusters_by_the_root_of_their_size():
    clusters = np.array([0] * 6 + [1] * 3 + [2] * 3)
    typicality = np.linspace(0.2, 1.0, 12)  # within a cluster, later clips are more typical
    order = label_order(clusters, typicality, np.zeros(12, bool))
    assert sorted(order.tolist()) == list(range(12))
    assert order[:3].tolist() == [5, 8, 11]  # each cluster's most typical, the largest cluster first
    assert np.bincount(clusters[order[:6]], minlength=3).tolist() == [2, 2, 2]
    assert np.bincount(clusters[order[:8]], minlength=3).tolist() == [4, 2, 2]  # sqrt(6) : sqrt(3) : sqrt(3)
    # a game-like imbalance: one kind of clip 25 times as common gets 5 times the questions, not 25
    big = np.array([0] * 100 + [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4)
    first = label_order(big, np.ones(len(big)), np.zeros(len(big), bool))[:18]
    assert np.bincount(big[first], minlength=5).tolist() == [10, 2, 2, 2, 2]
    # labels already given count: a cluster with labels waits for the others
    labelled = np.zeros(12, bool)
    labelled[[0, 1, 2]] = True
    again = label_order(clusters, typicality, labelled)
    assert set(again.tolist()) == set(range(3, 12))
    assert clusters[again[:3]].tolist() == [1, 2, 1] and again[0] == 8


def test_least_confident_order_weights_clusters_by_uncertainty():
    clusters = np.array([0] * 5 + [1] * 5)
    typicality = np.full(10, 0.5)
    uncertainty = np.array([0.05, 0.02, 0.1, 0.04, 0.03, 0.6, 0.5, 0.7, 0.4, np.nan])
    order = label_order(clusters, typicality, np.zeros(10, bool), uncertainty)
    # the uncertain cluster (mean 0.55 against 0.048) first, least confident first, its clip with no guess
    # yet last; then the sure cluster's least confident
    assert order[:6].tolist() == [7, 5, 6, 8, 9, 2]
    # with no guess anywhere it is the varied order
    unknown = label_order(clusters, typicality, np.zeros(10, bool), np.full(10, np.nan))
    assert sorted(unknown.tolist()) == list(range(10))
    with pytest.raises(ValueError, match="one entry per clip"):
        label_order(clusters, typicality, np.zeros(9, bool))


def test_a_weak_model_still_asks_about_every_kind_of_clip():
    """Plain least-confident-first asked 13 of 16 questions about one class; this order spreads them."""
    rng = np.random.default_rng(2)
    truth = np.repeat(np.arange(4), 20)
    d = np.stack([motion_descriptor(clip_frames(CLASSES[c], rng)) for c in truth])
    ids, typicality = cluster(d)
    uncertainty = np.where(truth == 2, 0.7, 0.3) + rng.uniform(0, 0.05, len(truth))  # unsure about one class
    plain = np.argsort(-uncertainty)[:16]
    spread = label_order(ids, typicality, np.zeros(len(truth), bool), uncertainty)[:16]
    assert np.bincount(truth[plain], minlength=4).tolist() == [0, 0, 16, 0]
    counts = np.bincount(truth[spread], minlength=4)
    assert counts.min() >= 2 and counts[2] == counts.max()  # every class asked about, the unsure one most


def test_coverage_of_a_folder_with_a_broken_clip(tmp_path):
    folder = make_motion_dataset(tmp_path / "clips", per_class=3)
    clips = sorted(p.stem for p in folder.glob("*.mp4"))
    (folder / f"{clips[0]}.mp4").write_bytes(b"not a video")
    coverage = Coverage(clips, {c: folder / f"{c}.mp4" for c in clips})
    assert coverage.order(np.zeros(len(clips), bool)) is None and not coverage.ready
    coverage.run()
    assert coverage.ready and coverage.done == coverage.total == len(clips)
    labelled = np.zeros(len(clips), bool)
    labelled[1] = True
    order = coverage.order(labelled)
    assert order is not None and sorted(order.tolist()) == [i for i in range(len(clips)) if i != 1]


def test_descriptors_are_cached_in_the_folder_and_only_new_or_changed_clips_are_computed_again(tmp_path, monkeypatch):
    import hoopsense.label.order as order

    folder = make_motion_dataset(tmp_path / "clips", per_class=3)
    clips = sorted(p.stem for p in folder.glob("*.mp4"))
    paths = {c: folder / f"{c}.mp4" for c in clips}
    cache = folder / order.CACHE
    first = Coverage(clips, paths, cache=cache)
    first.run()
    assert first.computed == len(clips) and cache.exists()
    assert first.order(np.zeros(len(clips), bool)) is not None

    computed: list[int] = []
    real = order.motion_descriptor
    monkeypatch.setattr(order, "motion_descriptor", lambda frames: computed.append(1) or real(frames))
    again = Coverage(clips, paths, cache=cache)
    again.run()
    assert again.computed == 0 and not computed  # everything came from the cache ...
    assert np.array_equal(again.clusters, first.clusters) and np.allclose(again.typicality, first.typicality)

    # ... until a clip changes (another clip's content under its name) or a new one appears
    paths[clips[0]].write_bytes(paths[clips[-1]].read_bytes())
    extra = folder / "extra.mp4"
    extra.write_bytes(paths[clips[1]].read_bytes())
    third = Coverage([*clips, "extra"], {**paths, "extra": extra}, cache=cache)
    third.run()
    assert third.computed == 2 and len(computed) == 2
    assert set(order.load_descriptors(cache)) == {*clips, "extra"}
    # a clip removed from the folder leaves the cache when it is next saved
    extra.write_bytes(paths[clips[2]].read_bytes())
    fourth = Coverage(clips[1:] + ["extra"], {**paths, "extra": extra}, cache=cache)
    fourth.run()
    assert fourth.computed == 1 and set(order.load_descriptors(cache)) == {*clips[1:], "extra"}


def test_a_damaged_or_unwritable_descriptor_cache_is_computed_again(tmp_path):
    import hoopsense.label.order as order

    folder = make_motion_dataset(tmp_path / "clips", per_class=2)
    clips = sorted(p.stem for p in folder.glob("*.mp4"))
    paths = {c: folder / f"{c}.mp4" for c in clips}
    cache = folder / order.CACHE
    cache.write_bytes(b"not a cache")
    coverage = Coverage(clips, paths, cache=cache)
    coverage.run()
    assert coverage.ready and coverage.computed == len(clips)
    assert set(order.load_descriptors(cache)) == set(clips)  # rewritten whole
    whole = cache.read_bytes()
    cache.write_bytes(whole[: len(whole) // 2])  # a real cache cut short (a full disk, a killed copy)
    assert order.load_descriptors(cache) == {}
    coverage = Coverage(clips, paths, cache=cache)
    coverage.run()
    assert coverage.ready and coverage.computed == len(clips)
    unwritable = tmp_path / "no-such-folder" / order.CACHE
    coverage = Coverage(clips, paths, cache=unwritable)
    coverage.run()  # the order still works; the cache is just not kept
    assert coverage.ready and not unwritable.exists()


def test_a_clip_that_cannot_be_decoded_is_tried_again_at_the_next_launch(tmp_path):
    import hoopsense.label.order as order

    folder = make_motion_dataset(tmp_path / "clips", per_class=2)
    clips = sorted(p.stem for p in folder.glob("*.mp4"))
    paths = {c: folder / f"{c}.mp4" for c in clips}
    (folder / f"{clips[0]}.mp4").write_bytes(b"not a video")
    cache = folder / order.CACHE
    for _ in range(2):
        coverage = Coverage(clips, paths, cache=cache)
        coverage.run()
        assert coverage.ready and clips[0] not in order.load_descriptors(cache)
    assert coverage.computed == 1  # only the broken clip, again


def test_stopping_the_coverage_keeps_what_it_computed(tmp_path, monkeypatch):
    import time

    import hoopsense.label.order as order

    folder = make_motion_dataset(tmp_path / "clips", per_class=3)
    clips = sorted(p.stem for p in folder.glob("*.mp4"))
    cache = folder / order.CACHE
    coverage = Coverage(clips, {c: folder / f"{c}.mp4" for c in clips}, cache=cache)
    real = order.motion_descriptor
    monkeypatch.setattr(order, "motion_descriptor", lambda frames: time.sleep(0.2) or real(frames))
    coverage.start()
    deadline = time.monotonic() + 60
    while coverage.computed < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    coverage.stop(wait_s=30)  # as the server does at Ctrl-C: returns once the thread saved its work
    assert not coverage.ready and 3 <= coverage.computed < len(clips)
    assert len(order.load_descriptors(cache)) == coverage.computed
