"""The composited tracking sequences of ``benchmarks/composite_tracking.py``: ground truth that the
``trackers`` evaluation accepts, boxes clipped to the frame, exits that leave gaps, cuts that change the view.

The fast tests paste drawn players on drawn courts (no shared assets); the slow one cuts real players."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FOOTAGE, ONNX_DETECTOR, need_asset

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import composite_tracking as ct

from hoopsense.video import read_frames

N_FRAMES = 80


def _figure(colour: tuple[int, int, int], height: int, lean: int) -> tuple[np.ndarray, np.ndarray]:
    """A drawn player: RGBA crop with an opaque body and transparent margins, and the body's box."""
    import cv2

    h, w = height + 12, height // 2 + 12
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., :3] = 90  # what leaks through a soft edge: a grey surround, as a cut crop has
    body = np.zeros((h, w), np.uint8)
    cv2.ellipse(body, (w // 2 + lean, 6 + height // 2), (height // 5, height // 2 - 1), 0, 0, 360, 255, -1)
    rgba[..., :3][body > 0] = colour
    rgba[..., 3] = body
    ys, xs = np.nonzero(body >= 128)
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
    return rgba, box


def _actors() -> list[ct.Actor]:
    colours = [(220, 40, 40), (40, 40, 220), (240, 240, 240), (20, 20, 20), (230, 200, 40), (40, 160, 60)]
    actors = []
    for i, colour in enumerate(colours):
        frames = [_figure(colour, 120, lean) for lean in (-2, 0, 2)]
        actors.append(ct.Actor(f"drawn{i}", [f[0] for f in frames], np.stack([f[1] for f in frames])))
    return actors


def _courts() -> dict[str, ct.Court]:
    rng = np.random.default_rng(0)
    practice = np.clip(rng.normal(150, 25, (720, 1280, 3)), 0, 255).astype(np.uint8)
    practice[:, :, 0] = 200  # warm floor
    euro = np.clip(rng.normal(90, 25, (604, 855, 3)), 0, 255).astype(np.uint8)
    euro[:, :, 2] = 210  # blue floor
    return {
        "practice": ct.Court("practice", practice, feet=(470, 695), heights=(92, 205), x_range=(0, 280), view_y=220),
        "euroball": ct.Court("euroball", euro, feet=(200, 585), heights=(95, 240), x_range=(0, 1), view_y=100),
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """An 80-frame composited sequence: pan, exit and re-entry, crossings, then a cut to the other court."""
    actors, courts = _actors(), _courts()
    script, order = ct.plan_script(seed=3, index=0, actors=actors, courts=courts, n_frames=N_FRAMES, n_players=5)
    seq = tmp_path_factory.mktemp("composite") / "tiny-01"
    video = ct.write_sequence(seq, script, actors, order, courts, {"seed": 3})
    gt = np.loadtxt(seq / "gt" / "gt.txt", delimiter=",", ndmin=2)
    events = json.loads((seq / "events.json").read_text())
    return {"seq": seq, "video": video, "gt": gt, "events": events, "script": script, "actors": actors,
            "order": order, "courts": courts}  # fmt: skip


def _evaluate(gt_path: Path, pred_path: Path):
    from trackers.eval import evaluate_mot_sequence

    return evaluate_mot_sequence(gt_path, pred_path, metrics=["CLEAR", "HOTA", "Identity"])


def _write_prediction(path: Path, gt: np.ndarray) -> Path:
    path.write_text(
        "".join(f"{int(r[0])},{int(r[1])},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f},1,-1,-1,-1\n" for r in gt)
    )
    return path


def test_gt_rows_are_well_formed(tiny):
    gt, events = tiny["gt"], tiny["events"]
    assert gt.shape[1] == 9
    assert set(np.unique(gt[:, 1]).astype(int)) == set(range(1, 6))
    assert gt[:, 0].min() >= 1 and gt[:, 0].max() <= N_FRAMES
    assert np.all(gt[:, 6] == 1) and np.all(gt[:, 7] == 1)  # considered, class pedestrian
    assert np.all((gt[:, 8] >= 0) & (gt[:, 8] <= 1))
    assert gt[:, 8].min() < 0.6, "a crossing should hide part of the player behind"
    frame_ids = gt[:, :2].astype(int)
    assert len({tuple(r) for r in frame_ids}) == len(gt), "one row per id per frame"
    info = (tiny["seq"] / "seqinfo.ini").read_text()
    assert "seqLength=80" in info and "imWidth=854" in info and "imHeight=480" in info
    assert events["cut_frames"] and events["pans"] and events["exits"] and len(events["crossings"]) == 4


def test_gt_boxes_are_inside_the_frame_and_match_the_pasted_bodies(tiny):
    gt, script = tiny["gt"], tiny["script"]
    x, y, w, h = gt[:, 2], gt[:, 3], gt[:, 4], gt[:, 5]
    assert np.all((w > 0) & (h > 0))
    assert np.all((x >= 0) & (y >= 0) & (x + w <= 854 + 1e-6) & (y + h <= 480 + 1e-6))
    clipped = 0
    for t in range(N_FRAMES):
        rows = {int(r[1]): r for r in gt[gt[:, 0] == t + 1]}
        for p in ct.place(script, tiny["actors"], tiny["order"], tiny["courts"], t):
            if p.pid not in rows:
                continue
            # the drawn body's own pixels, clipped to the frame, give the same box (to resizing error)
            ys, xs = np.nonzero(p.rgba[..., 3] >= 128)
            body = np.array([xs.min() + p.left, ys.min() + p.top, xs.max() + 1 + p.left, ys.max() + 1 + p.top], float)
            body = np.clip(body, 0, [854, 480, 854, 480])
            r = rows[p.pid]
            assert np.allclose([r[2], r[3], r[2] + r[4], r[3] + r[5]], body, atol=2.5), (t, p.pid)
            clipped += bool(r[2] == 0 or r[2] + r[4] >= 854 - 1e-6)
    assert clipped > 0, "the exit should pass through the edge of the frame"


def test_an_exit_leaves_a_gap_in_that_players_rows(tiny):
    gt = tiny["gt"]
    for ev in tiny["events"]["exits"] + tiny["events"]["late_entries"]:
        frames = gt[gt[:, 1] == ev["id"], 0]
        assert not np.any((frames >= ev["out_from"]) & (frames <= ev["out_to"])), ev
        assert np.any(frames > ev["out_to"]), f"player {ev['id']} comes back"
    ev = tiny["events"]["exits"][0]
    frames = gt[gt[:, 1] == ev["id"], 0]
    assert np.any(frames < ev["out_from"]), "the exit starts in view"


def test_the_cut_changes_the_background(tiny):
    frames = read_frames(tiny["video"])
    assert len(frames) == N_FRAMES
    frames = frames[:, ::4, ::4].astype(np.float32)
    cut = tiny["events"]["cut_frames"][0]  # 1-based: the first frame of the new view
    steps = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    at_cut = steps[cut - 2]
    others = np.delete(steps, cut - 2)
    assert at_cut > 20 and at_cut > 4 * others.max(), (at_cut, others.max())
    # and the pan moves the background between its frames
    pan = tiny["events"]["pans"][0]
    before = ct.background(tiny["script"], tiny["courts"], pan["from"] - 1)
    after = ct.background(tiny["script"], tiny["courts"], pan["to"] - 1)
    assert np.abs(before.astype(float) - after.astype(float)).mean() > 5


def test_ground_truth_as_prediction_scores_perfectly(tiny, tmp_path):
    pred = _write_prediction(tmp_path / "pred.txt", tiny["gt"])
    result = _evaluate(tiny["seq"] / "gt" / "gt.txt", pred)
    assert result.Identity.IDF1 == pytest.approx(1.0)
    assert result.HOTA.HOTA == pytest.approx(1.0)
    assert result.CLEAR.IDSW == 0


def test_swapped_ids_score_lower(tiny, tmp_path):
    gt = tiny["gt"].copy()
    a, b = tiny["events"]["crossings"][0]["behind"], tiny["events"]["crossings"][0]["front"]
    later = gt[:, 0] > tiny["events"]["crossings"][0]["frame"]
    ids = gt[:, 1].copy()
    gt[later & (ids == a), 1], gt[later & (ids == b), 1] = b, a  # the tracker swaps them at the crossing
    pred = _write_prediction(tmp_path / "swapped.txt", gt)
    result = _evaluate(tiny["seq"] / "gt" / "gt.txt", pred)
    assert result.Identity.IDF1 < 0.95
    assert result.HOTA.HOTA < 0.95
    assert result.CLEAR.IDSW >= 2


def test_scripts_are_deterministic_per_seed():
    actors, courts = _actors(), _courts()
    one, order_one = ct.plan_script(5, 1, actors, courts, n_frames=N_FRAMES, n_players=5)
    two, order_two = ct.plan_script(5, 1, actors, courts, n_frames=N_FRAMES, n_players=5)
    other, _ = ct.plan_script(6, 1, actors, courts, n_frames=N_FRAMES, n_players=5)
    assert order_one == order_two and one.events == two.events
    assert all(a.keys == b.keys for pid in one.tracks for a, b in zip(one.tracks[pid], two.tracks[pid]))
    assert any(a.keys != b.keys for pid in one.tracks for a, b in zip(one.tracks[pid], other.tracks[pid]))
    frame_one, rows_one = ct.render(one, ct.place(one, actors, order_one, courts, 30), courts, 30)
    frame_two, rows_two = ct.render(two, ct.place(two, actors, order_two, courts, 30), courts, 30)
    assert np.array_equal(frame_one, frame_two) and rows_one == rows_two


@pytest.mark.slow
def test_real_players_are_cut_with_a_soft_mask(tmp_path):
    need_asset(ONNX_DETECTOR)
    need_asset(FOOTAGE / "euroball_pass.mp4")
    detect = ct.yolo_person_detector(ONNX_DETECTOR)
    source = next(s for s in ct.ACTOR_SOURCES if s.name == "euro_red6")
    actors = ct.build_bank(tmp_path, detect, sources=[source], run_len=4)
    assert len(actors) == 1 and len(actors[0].crops) == 4
    actor = actors[0]
    for crop, (x1, y1, x2, y2) in zip(actor.crops, actor.boxes):
        h, w = crop.shape[:2]
        assert crop.dtype == np.uint8 and crop.shape[2] == 4
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        alpha = crop[..., 3]
        assert alpha[int((y1 + y2) / 2), int((x1 + x2) / 2)] > 200, "the body is opaque"
        assert alpha[0, 0] == 0 and alpha[-1, -1] == 0, "the corners are transparent"
        assert 0 < np.mean((alpha > 0) & (alpha < 255)) < 0.5, "the edge is soft"
    again = ct.build_bank(tmp_path, None, sources=[source], run_len=4)  # from the cache, no detector
    assert all(np.array_equal(a, b) for a, b in zip(actor.crops, again[0].crops))
