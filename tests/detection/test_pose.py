"""A pose model as the detector: keypoints decoded with their boxes, carried to the tracks, written to
``<stem>.keypoints.csv`` and drawn on request (real int8 YOLOv8n-pose where the shared assets are)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import supervision as sv
from conftest import ASSETS, FOOTAGE, ONNX_DETECTOR, need_asset

from hoopsense.cli import main
from hoopsense.detection.engines import decode, decode_with_extra
from hoopsense.pipeline.export import KEYPOINTS_COLUMNS, TrackWriter
from hoopsense.pipeline.render import draw_skeletons

POSE = ASSETS / "pose" / "yolov8n-pose_int8_openvino_model"


def _pose_head(boxes: list[tuple[float, float, float, float, float]], n: int = 8) -> np.ndarray:
    """A raw pose-head output ``(4 + 1 + 51, n)``: the given ``(cx, cy, w, h, score)`` candidates, the rest
    empty; each candidate's keypoints are its index + 0.5 everywhere (so the tests can tell them apart)."""
    out = np.zeros((56, n), np.float32)
    for i, (cx, cy, w, h, score) in enumerate(boxes):
        out[:5, i] = (cx, cy, w, h, score)
        out[5:, i] = i + 0.5
    return out


def test_pose_head_keeps_each_boxs_own_keypoints_through_nms():
    # candidate 1 overlaps candidate 0 and scores lower: NMS drops it; 2 stands alone and is best
    out = _pose_head([(50, 50, 20, 40, 0.6), (51, 50, 20, 40, 0.5), (200, 80, 30, 60, 0.9)])
    boxes, scores, cls, kept = decode_with_extra(out, [0], conf=0.25, iou=0.7, n_classes=1)
    assert scores.tolist() == pytest.approx([0.9, 0.6]) and cls.tolist() == [0, 0]
    assert kept.shape == (2, 51)
    assert np.allclose(kept[0], 2.5) and np.allclose(kept[1], 0.5)  # candidate 2's points, then candidate 0's
    # without n_classes the extra rows would be read as class scores: decode() of a detect head is unchanged
    plain = decode(out[:5], [0], conf=0.25, iou=0.7)
    assert np.allclose(plain[0], boxes) and np.allclose(plain[1], scores)
    empty = decode_with_extra(np.zeros((56, 8), np.float32), [0], conf=0.25, iou=0.7, n_classes=1)
    assert [a.shape for a in empty] == [(0, 4), (0,), (0,), (0, 51)]


def test_keypoints_file_rows_follow_the_players(tmp_path):
    kp = np.arange(2 * 17 * 3, dtype=np.float32).reshape(2, 17, 3) / 10
    players = sv.Detections(
        xyxy=np.array([[0, 0, 10, 20], [30, 0, 40, 20]], np.float32), confidence=np.array([0.9, 0.8]),
        class_id=np.zeros(2, int), tracker_id=np.array([3, 7]),
        data={"keypoints": kp, "track_id": np.array([5, 9])},
    )  # fmt: skip
    writer = TrackWriter(tmp_path / "t.csv", None, tmp_path / "k.csv")
    writer.write(12, 0.48, players)
    writer.write(13, 0.52, players[players.tracker_id == 7])
    writer.close()
    rows = list(csv.reader((tmp_path / "k.csv").open()))
    assert tuple(rows[0]) == KEYPOINTS_COLUMNS and len(rows[0]) == 4 + 51
    assert [r[:4] for r in rows[1:]] == [
        ["12", "0.4800", "3", "5"],
        ["12", "0.4800", "7", "9"],
        ["13", "0.5200", "7", "9"],
    ]
    assert float(rows[2][4]) == pytest.approx(kp[1, 0, 0], abs=0.05) and float(rows[2][6]) == pytest.approx(
        kp[1, 0, 2], abs=5e-4
    )


def test_skeleton_is_drawn_between_visible_points_only():
    canvas = np.zeros((100, 100, 3), np.uint8)
    person = np.zeros((1, 17, 3), np.float32)
    person[0, 5] = (20, 20, 0.9)  # left shoulder
    person[0, 6] = (80, 20, 0.9)  # right shoulder: joined to the left one
    person[0, 11] = (20, 80, 0.1)  # left hip, not visible: no line to it
    draw_skeletons(canvas, person)
    assert canvas[20, 50].any()  # on the shoulder line
    assert not canvas[50, 20].any()  # where the shoulder-hip line would be


@pytest.mark.slow
def test_analyze_with_a_pose_model_writes_keypoints_inside_the_players(tmp_path):
    video = need_asset(FOOTAGE / "nba_broadcast_wide_854x480.mp4")
    out = tmp_path / "nba.mp4"
    args = ["analyze", str(video), "--out", str(out), "--detector", str(need_asset(POSE)), "--end", "1.5", "--quiet"]
    assert main([*args, "--draw-pose"]) == 0
    tracks = list(csv.DictReader((tmp_path / "nba.tracks.csv").open()))
    points = list(csv.DictReader((tmp_path / "nba.keypoints.csv").open()))
    assert len(points) == len(tracks) > 50  # one keypoint row per player row, in the same order
    inside = visible = 0
    for t, k in zip(tracks, points):
        assert (t["frame"], t["player_id"], t["track_id"]) == (k["frame"], k["player_id"], k["track_id"])
        x1, y1, x2, y2 = (float(t[c]) for c in ("x1", "y1", "x2", "y2"))
        margin = 0.1 * (y2 - y1)
        for name in ("nose", "left_shoulder", "right_hip", "left_ankle"):
            if float(k[f"{name}_v"]) >= 0.5:
                visible += 1
                x, y = float(k[f"{name}_x"]), float(k[f"{name}_y"])
                inside += x1 - margin <= x <= x2 + margin and y1 - margin <= y <= y2 + margin
    assert visible > 100 and inside / visible > 0.97
    run = json.loads((tmp_path / "nba.run.json").read_text())
    assert run["outputs"]["keypoints_csv"] == "nba.keypoints.csv"

    # a plain detector writes no keypoints file and says so in the run record
    plain = tmp_path / "plain" / "nba.mp4"
    assert (
        main(
            [
                "analyze",
                str(video),
                "--out",
                str(plain),
                "--detector",
                str(need_asset(ONNX_DETECTOR)),
                "--end",
                "0.5",
                "--no-video",
                "--quiet",
            ]
        )
        == 0
    )
    assert not (plain.parent / "nba.keypoints.csv").exists()
    assert json.loads((plain.parent / "nba.run.json").read_text())["outputs"]["keypoints_csv"] is None


@pytest.mark.slow
def test_openvino_pose_keypoints_match_ultralytics(tmp_path):
    from hoopsense.detection.base import DetectorConfig
    from hoopsense.detection.yolo import YoloDetector
    from hoopsense.video.reader import VideoReader

    with VideoReader(need_asset(FOOTAGE / "nba_broadcast_wide_854x480.mp4"), end_s=0.1) as reader:
        image = next(iter(reader)).image
    ours = YoloDetector(DetectorConfig(weights=str(need_asset(POSE)), device="cpu")).detect([image])[0]
    ref = YoloDetector(DetectorConfig(weights=str(POSE), device="cpu", backend="ultralytics")).detect([image])[0]
    assert len(ours) >= 8 and len(ours) == len(ref)
    iou = sv.box_iou_batch(ours.xyxy, ref.xyxy)
    match = iou.argmax(axis=1)
    assert (iou.max(axis=1) > 0.9).all()
    kp, kp_ref = ours.data["keypoints"], ref.data["keypoints"][match]
    seen = (kp[..., 2] > 0.5) & (kp_ref[..., 2] > 0.5)
    error = np.linalg.norm(kp[..., :2] - kp_ref[..., :2], axis=-1)[seen]
    assert np.median(error) < 2.0 and np.percentile(error, 95) < 8.0, (np.median(error), np.percentile(error, 95))


def _skeleton_checkpoint(path, pose):
    import torch

    from hoopsense.recognizer.model import CheckpointMeta, build_model, save_checkpoint

    torch.manual_seed(0)
    meta = CheckpointMeta("skeleton-tcn", ("dribble", "shoot", "pass"), clip_len=8, training={"pose": str(pose)})
    return save_checkpoint(path, build_model("skeleton-tcn", 3), meta)


def test_skeleton_recognizer_reads_the_pose_detectors_keypoints_or_finds_them_in_the_crops(tmp_path):
    video = need_asset(FOOTAGE / "nba_broadcast_wide_854x480.mp4")
    pose = need_asset(POSE)
    ckpt = _skeleton_checkpoint(tmp_path / "skeleton.pt", pose)
    common = ["--recognizer", str(ckpt), "--end", "1.5", "--no-video", "--quiet"]

    one_pass = tmp_path / "pose" / "nba.mp4"
    assert main(["analyze", str(video), "--out", str(one_pass), "--detector", str(pose), *common]) == 0
    rec = json.loads((one_pass.parent / "nba.run.json").read_text())["recognizer"]
    assert rec["architecture"] == "skeleton-tcn" and rec["clips_classified"] > 20
    # every clip's keypoints came with the detections: no second model ran on the crops
    assert rec["keypoints"]["from_detector"] == rec["clips_classified"] and rec["keypoints"]["from_crops"] == 0
    assert rec["crops_cut"] is False  # nothing needs the pixels
    events = list(csv.DictReader((one_pass.parent / "nba.timeline.csv").open()))
    assert events and {e["action"] for e in events} <= {"dribble", "shoot", "pass"}

    # a plain detector: the checkpoint's pose model finds the keypoints in the player crops
    crops = tmp_path / "crops" / "nba.mp4"
    assert (
        main(["analyze", str(video), "--out", str(crops), "--detector", str(need_asset(ONNX_DETECTOR)), *common]) == 0
    )
    rec = json.loads((crops.parent / "nba.run.json").read_text())["recognizer"]
    assert rec["clips_classified"] > 20
    assert rec["keypoints"]["from_crops"] == rec["clips_classified"] and rec["keypoints"]["from_detector"] == 0
    assert rec["crops_cut"] is True
    assert rec["keypoints"]["pose_model"] == str(pose)


def test_a_ball_recognizer_finds_the_ball_in_the_crops_beside_the_pose_detectors_keypoints(tmp_path):
    import torch

    from hoopsense.recognizer.model import CheckpointMeta, build_model, save_checkpoint

    video = need_asset(FOOTAGE / "nba_broadcast_wide_854x480.mp4")
    pose, detector = need_asset(POSE), need_asset(ONNX_DETECTOR)
    torch.manual_seed(0)
    meta = CheckpointMeta(
        "skeleton-ball-tcn",
        ("dribble", "shoot", "pass"),
        clip_len=8,
        training={"pose": str(pose), "ball": str(detector)},
    )
    ckpt = save_checkpoint(tmp_path / "ball.pt", build_model("skeleton-ball-tcn", 3), meta)
    out = tmp_path / "pose" / "nba.mp4"
    argv = ["analyze", str(video), "--out", str(out), "--detector", str(pose), "--recognizer", str(ckpt)]
    assert main([*argv, "--end", "1.5", "--no-video", "--quiet"]) == 0
    rec = json.loads((out.parent / "nba.run.json").read_text())["recognizer"]
    assert rec["architecture"] == "skeleton-ball-tcn" and rec["clips_classified"] > 20
    # the keypoints came with the detections, the ball from the crops (which had to be cut for it)
    assert rec["keypoints"]["from_detector"] == rec["clips_classified"] and rec["keypoints"]["from_crops"] == 0
    assert rec["crops_cut"] is True and rec["keypoints"]["ball_model"] == str(detector)
    assert 0 <= rec["keypoints"]["clips_with_ball"] <= rec["clips_classified"]
    print(f"\nball found in {rec['keypoints']['clips_with_ball']} of {rec['clips_classified']} clips")
    events = list(csv.DictReader((out.parent / "nba.timeline.csv").open()))
    assert events and {e["action"] for e in events} <= {"dribble", "shoot", "pass"}
    # a ball detector with no ball class is refused with one line, and no output is left behind
    bad = tmp_path / "bad" / "nba.mp4"
    code = main([*argv[:3], str(bad), *argv[4:], "--ball", str(pose), "--end", "0.5", "--no-video", "--quiet"])
    assert code != 0 and not bad.parent.exists()
