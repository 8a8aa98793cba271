"""The detector's own CPU engines (OpenVINO, ONNX Runtime): letterbox, decoding, parity with
Ultralytics' predictor on real frames, and the cached OpenVINO export of ``.pt`` weights."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import supervision as sv
from conftest import ASSETS, FOOTAGE, ONNX_DETECTOR, need_asset

from hoopsense.detection import DetectorConfig, YoloDetector
from hoopsense.detection.engines import decode, export_folder, letterbox
from hoopsense.devices import openvino_available
from hoopsense.errors import ConfigError

OPENVINO_DETECTOR = ASSETS / "detector" / "yolov8n_int8_openvino_model"
needs_openvino = pytest.mark.skipif(not openvino_available(), reason="openvino is not installed")


def _raw(boxes_cxcywh, class_scores, n_classes=80, n=50):
    """A YOLOv8-style head output ``(4 + n_classes, n)`` with the given candidates first."""
    out = np.zeros((4 + n_classes, n), np.float32)
    for i, (box, scores) in enumerate(zip(boxes_cxcywh, class_scores)):
        out[:4, i] = box
        for c, s in scores.items():
            out[4 + c, i] = s
    return out


def test_letterbox_matches_ultralytics_geometry():
    from ultralytics.data.augment import LetterBox

    image = np.random.default_rng(0).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    ours, place = letterbox(image, (384, 640))
    theirs = LetterBox((384, 640), auto=False, stride=32)(image=image)
    assert ours.shape == theirs.shape == (384, 640, 3)
    assert np.array_equal(ours, theirs)
    assert (place.gain, place.left, place.top) == (1.0, 0, 12)
    square, place = letterbox(image, (640, 640))
    assert square.shape == (640, 640, 3) and place.top == 140 and (square[:140] == 114).all()


def test_decode_keeps_the_asked_classes_with_their_best_score():
    out = _raw(
        [(100, 100, 20, 40), (300, 100, 20, 40), (500, 100, 10, 10), (100, 300, 20, 40)],
        [{0: 0.9}, {0: 0.3, 56: 0.6}, {32: 0.4}, {0: 0.04}],  # person, chair-first, ball, too weak
    )
    boxes, scores, classes = decode(out, [0, 32], conf=0.05, iou=0.7)
    assert classes.tolist() == [0, 32]  # the chair-first box takes its best class and is dropped, as Ultralytics does
    assert np.allclose(scores, [0.9, 0.4])
    assert np.allclose(boxes[0], [90, 80, 110, 120])


def test_decode_suppresses_overlaps_per_class_only():
    out = _raw(
        [(100, 100, 20, 40), (101, 100, 20, 40), (100, 100, 20, 40)],
        [{0: 0.9}, {0: 0.8}, {32: 0.5}],
    )
    boxes, scores, classes = decode(out, [0, 32], conf=0.05, iou=0.7)
    assert sorted(classes.tolist()) == [0, 32] and np.isclose(scores.max(), 0.9)  # the ball overlaps, yet stays
    assert len(boxes) == 2 and np.allclose(boxes[classes == 0], [[90, 80, 110, 120]])


def test_decode_end_to_end_heads_and_empty_output():
    e2e = np.array([[10, 10, 30, 50, 0.9, 0], [40, 10, 60, 50, 0.2, 2], [70, 10, 90, 50, 0.03, 0]], np.float32)
    boxes, scores, classes = decode(e2e, [0, 32], conf=0.05, iou=0.7)
    assert classes.tolist() == [0] and np.allclose(boxes, [[10, 10, 30, 50]])
    boxes, scores, classes = decode(np.zeros((84, 20), np.float32), [0, 32], conf=0.05, iou=0.7)
    assert boxes.shape == (0, 4) and scores.shape == (0,) and classes.shape == (0,)
    with pytest.raises(ValueError, match="unexpected YOLO output shape"):
        decode(np.zeros((3, 5), np.float32), [0], conf=0.05, iou=0.7)


def _nba_frames(n: int, every: int = 10) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(need_asset(FOOTAGE / "nba_broadcast_wide_854x480.mp4")))
    frames = []
    index = 0
    while len(frames) < n:
        ok, frame = cap.read()
        if not ok:
            break
        if index % every == 0:
            frames.append(cv2.resize(frame, (640, 360), interpolation=cv2.INTER_AREA))
        index += 1
    return frames


def _matched(a: sv.Detections, b: sv.Detections, min_iou: float) -> int:
    if len(a) == 0 or len(b) == 0:
        return 0
    return int((sv.box_iou_batch(a.xyxy, b.xyxy).max(axis=1) >= min_iou).sum())


@pytest.mark.slow
@needs_openvino
def test_openvino_path_gives_ultralytics_boxes_on_real_frames():
    weights = str(need_asset(OPENVINO_DETECTOR))
    frames = _nba_frames(6)
    ours = YoloDetector(DetectorConfig(weights=weights, device="cpu", conf=0.25))
    theirs = YoloDetector(DetectorConfig(weights=weights, device="cpu", conf=0.25, backend="ultralytics"))
    assert (ours.backend, theirs.backend) == ("openvino", "ultralytics")
    scale = 640 / 854
    a, b = ours.detect(frames, bgr=True, scale=scale), theirs.detect(frames, bgr=True, scale=scale)
    assert sum(len(d) for d in a) > 30  # a broadcast frame holds about ten people
    # hoopsense computes the network's float layers in f32, Ultralytics leaves OpenVINO's bf16 default on CPUs
    # that have bf16: the same boxes, to a few borderline ones
    found = sum(_matched(x, y, 0.95) for x, y in zip(a, b))
    assert found >= 0.95 * sum(len(y) for y in b) and found >= 0.95 * sum(len(x) for x in a)
    for x in a:
        assert set(x.class_id.tolist()) <= {0, 1}
        assert x.xyxy[:, [0, 2]].max() <= 855 and x.xyxy[:, [1, 3]].max() <= 481  # original pixels (1 px rounding)


@pytest.mark.slow
def test_onnxruntime_engine_gives_ultralytics_boxes_on_real_frames():
    weights = str(need_asset(ONNX_DETECTOR))
    frames = _nba_frames(6)
    ours = YoloDetector(DetectorConfig(weights=weights, device="cpu", backend="onnxruntime"))
    theirs = YoloDetector(DetectorConfig(weights=weights, device="cpu", backend="ultralytics"))
    assert ours.backend == "onnxruntime" and ours._engine.source == Path(weights)  # the file as it is
    a, b = ours.detect(frames, bgr=True), theirs.detect(frames, bgr=True)
    assert sum(len(d) for d in a) > 30
    for x, y in zip(a, b):  # same runtime, same letterbox, same decoding rules: the same boxes
        assert len(x) == len(y) and _matched(x, y, 0.99) == len(x)
        assert np.abs(np.sort(x.confidence) - np.sort(y.confidence)).max() < 1e-3


@pytest.mark.slow
@needs_openvino
def test_openvino_reads_onnx_weights_and_finds_the_players():
    frames = _nba_frames(4)
    ours = YoloDetector(
        DetectorConfig(weights=str(need_asset(ONNX_DETECTOR)), device="cpu", conf=0.25, backend="openvino")
    )
    theirs = YoloDetector(DetectorConfig(weights=str(ONNX_DETECTOR), device="cpu", conf=0.25, backend="ultralytics"))
    assert ours.backend == "openvino"
    a, b = ours.detect(frames, bgr=True), theirs.detect(frames, bgr=True)
    persons = [int((d.class_id == 0).sum()) for d in a]
    assert min(persons) >= 8, persons
    # OpenVINO and ONNX Runtime quantise activations their own way: nearly the same boxes, not bit-equal
    agree = sum(_matched(x, y, 0.9) for x, y in zip(a, b)) / max(1, sum(len(y) for y in b))
    assert agree >= 0.85, agree


def _random_pt(path):
    """A YOLOv8n with random weights and COCO's class names, saved as Ultralytics ``.pt`` weights."""
    from ultralytics import YOLO

    model = YOLO("yolov8n.yaml", task="detect")
    model.model.names = {i: f"class{i}" for i in range(80)} | {0: "person", 32: "sports ball"}
    model.save(str(path))
    return path


@pytest.mark.slow
@needs_openvino
def test_pt_weights_are_exported_once_and_cached_by_hash(tmp_path, monkeypatch):
    weights = _random_pt(tmp_path / "net.pt")
    first = YoloDetector(DetectorConfig(weights=str(weights), device="cpu"))
    assert first.backend == "openvino"
    folder = export_folder(weights)
    assert folder.parent == tmp_path and folder.name.startswith("net.") and any(folder.glob("*.xml"))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left
    stamp = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    from ultralytics import YOLO

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(YOLO, "export", no_export)
    second = YoloDetector(DetectorConfig(weights=str(weights), device="cpu"))
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamp
    image = _nba_frames(1)[0]
    a, b = first.detect([image], bgr=True)[0], second.detect([image], bgr=True)[0]
    assert np.array_equal(a.xyxy, b.xyxy)
    monkeypatch.undo()

    from hoopsense.detection.engines import OpenVinoYolo

    batched = OpenVinoYolo(sorted(folder.glob("*.xml"))[0], imgsz=640)  # an export has dynamic shapes: batches run
    _batch_matches_single_frames(batched, _nba_frames(3), distinct=False)
    assert not batched._unbatchable

    _random_pt(weights)  # new weights under the same name: a new export, the old one untouched
    YoloDetector(DetectorConfig(weights=str(weights), device="cpu"))
    assert export_folder(weights) != folder and folder.is_dir()


@needs_openvino
def test_read_only_weights_folder_exports_to_the_cache(tmp_path, monkeypatch):
    weights = tmp_path / "ro" / "net.pt"
    weights.parent.mkdir()
    weights.write_bytes(b"not a real model, only hashed")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if p == weights.parent else real_access(p, mode))
    monkeypatch.setenv("HOOPSENSE_HOME", str(tmp_path / "home"))
    assert export_folder(weights).parent == tmp_path / "home" / "weights" / "openvino"


def test_engines_are_refused_where_they_cannot_run(monkeypatch):
    with pytest.raises(ConfigError, match="backend must be one of auto, openvino, onnxruntime, ultralytics"):
        DetectorConfig(backend="tensorrt")
    with pytest.raises(ConfigError, match="onnxruntime needs an .onnx file"):
        YoloDetector(DetectorConfig(weights=str(need_asset(OPENVINO_DETECTOR)), device="cpu", backend="onnxruntime"))
    import hoopsense.detection.yolo as yolo

    monkeypatch.setattr(yolo, "openvino_available", lambda: False)
    with pytest.raises(ConfigError, match="needs the openvino package"):
        YoloDetector(DetectorConfig(weights=str(need_asset(ONNX_DETECTOR)), device="cpu", backend="openvino"))
    # auto: the int8 .onnx file's float rewrite, in ONNX Runtime without OpenVINO
    assert YoloDetector(DetectorConfig(weights=str(ONNX_DETECTOR), device="cpu")).backend == "onnxruntime"


def _batch_matches_single_frames(engine, frames, *, distinct=True):
    """The outputs of a call with several frames are those of each frame alone, in order (checked when the
    network's outputs differ from frame to frame: a random network's barely do)."""
    batch = engine(frames, bgr=True)
    single = [engine([f], bgr=True)[0] for f in frames]
    assert len(batch) == len(single) == len(frames)
    diff = np.array([[np.abs(a - b).max() for b, _ in single] for a, _ in batch])
    for i, ((a, pa), (b, pb)) in enumerate(zip(batch, single)):
        assert pa == pb and np.allclose(a, b, rtol=1e-2, atol=1e-3)
        if distinct:
            assert diff[i, i] < np.delete(diff[i], i).min()  # each output is its own frame's: the order is kept


@pytest.mark.slow
@needs_openvino
def test_a_network_with_its_batch_baked_in_runs_frame_by_frame():
    from hoopsense.detection.engines import OpenVinoYolo

    engine = OpenVinoYolo(sorted(need_asset(OPENVINO_DETECTOR).glob("*.xml"))[0], imgsz=640)
    _batch_matches_single_frames(engine, _nba_frames(3))
    assert engine._unbatchable  # this int8 export fixes the batch at 1
