"""Dynamically quantised ONNX detectors are rewritten once into float convolutions (faster in ONNX Runtime
on x86) that compute what the int8 model computes, up to its activation rounding; anything else is left
as it is."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ASSETS, FOOTAGE, need_asset

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from hoopsense.detection.dequantize import dequantized, dequantized_file, rewrite  # noqa: E402

ONNX_DETECTOR = ASSETS / "detector" / "yolov8n_int8.onnx"


def _float_conv_model(path, seed: int = 0):
    """Two 3x3 convolutions with a ReLU between them, float weights: input ``x`` (1, 3, 16, 16)."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32)
    w2 = rng.normal(0, 0.3, (4, 8, 3, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["h"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Conv", ["r", "w2"], ["y"], pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(
        nodes, "convs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 16, 16])],
        initializer=[numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def _run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_a_dynamically_quantised_model_becomes_float_convolutions_with_its_own_weights(tmp_path):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    plain = _float_conv_model(tmp_path / "plain.onnx")
    quantised = tmp_path / "int8.onnx"
    quantize_dynamic(str(plain), str(quantised), op_types_to_quantize=["Conv"], weight_type=QuantType.QUInt8)
    ops = [n.op_type for n in onnx.load(str(quantised)).graph.node]
    assert ops.count("ConvInteger") == 2 and "DynamicQuantizeLinear" in ops

    out = dequantized(quantised, export_dir=tmp_path / "cache")
    assert out == dequantized_file(quantised, tmp_path / "cache") and out.is_file()
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert ops == ["Conv", "Relu", "Conv"]  # the quantisers, casts and scale products are gone
    x = np.random.default_rng(1).normal(0, 1, (1, 3, 16, 16)).astype(np.float32)
    exact, rewritten, int8 = _run(plain, x), _run(out, x), _run(quantised, x)
    # the rewrite multiplies by the int8 weights (dequantised), so it is as close to the float model as the
    # weight rounding allows, and closer than the int8 model, which also rounds every activation
    scale = np.abs(exact).max()
    assert np.abs(rewritten - exact).max() < 0.05 * scale
    assert np.abs(rewritten - exact).mean() < np.abs(int8 - exact).mean()
    # made once: a second call returns the same file untouched
    stamp = out.stat().st_mtime_ns
    assert dequantized(quantised, export_dir=tmp_path / "cache") == out and out.stat().st_mtime_ns == stamp


def test_models_without_the_pattern_are_left_as_they_are(tmp_path):
    plain = _float_conv_model(tmp_path / "plain.onnx")
    assert dequantized(plain, export_dir=tmp_path / "cache") is None  # nothing quantised
    assert not (tmp_path / "cache").exists()
    # a ConvInteger fed straight from a uint8 input (no DynamicQuantizeLinear): not the pattern
    graph = helper.make_graph(
        [helper.make_node("ConvInteger", ["x", "w"], ["y"])], "static",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [1, 1, 2, 2])],
        initializer=[numpy_helper.from_array(np.ones((1, 1, 3, 3), np.uint8), "w")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    before = model.SerializeToString()
    assert rewrite(model) is False and model.SerializeToString() == before
    onnx.save(model, str(tmp_path / "static.onnx"))
    assert dequantized(tmp_path / "static.onnx", export_dir=tmp_path / "cache") is None
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    assert dequantized(tmp_path / "broken.onnx", export_dir=tmp_path / "cache") is None


def test_the_int8_detector_finds_the_same_players_after_the_rewrite(tmp_path):
    from hoopsense.detection.base import DetectorConfig
    from hoopsense.detection.yolo import YoloDetector
    from hoopsense.video import read_frames

    weights = need_asset(ONNX_DETECTOR)
    frames = read_frames(need_asset(FOOTAGE / "nba_broadcast_wide_854x480.mp4"), max_frames=30)[::10]
    ours = YoloDetector(DetectorConfig(weights=str(weights), conf=0.25, device="cpu"))
    assert ours.backend == "openvino" and ours._engine is not None  # the rewrite runs in OpenVINO
    source = ours._engine.source
    assert source.name.endswith(".dequantized.onnx") and source.parent != weights.parent
    raw = YoloDetector(DetectorConfig(weights=str(weights), conf=0.25, device="cpu", backend="onnxruntime"))
    assert raw._engine.source == weights  # the int8 file as it is
    matched, total = _confident_players_found(ours, raw, frames)
    assert total >= 15 and matched >= 0.9 * total, (matched, total)


def test_the_head_is_resized_for_wide_frames_with_the_anchors_it_would_have(tmp_path):
    from onnx import numpy_helper as nh

    from hoopsense.detection.dequantize import anchors, resize

    weights = need_asset(ONNX_DETECTOR)
    base = dequantized(weights, export_dir=tmp_path)
    model = onnx.load(str(base))
    # the anchor table baked into the 640x640 export is exactly what anchors() computes for 640x640
    tables = [nh.to_array(t) for t in model.graph.initializer if nh.to_array(t).shape == (1, 2, 8400)]
    points, strides = anchors(640, 640)
    assert tables and all(np.array_equal(t[0], points) for t in tables) and strides.shape == (8400,)
    wide = dequantized(weights, size=(384, 640), export_dir=tmp_path)
    assert wide is not None and wide.name.endswith(".384x640.dequantized.onnx")
    session = ort.InferenceSession(str(wide), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, 3, 384, 640]
    out = session.run(None, {"images": np.zeros((1, 3, 384, 640), np.float32)})[0]
    assert out.shape == (1, 84, 80 * 48 + 40 * 24 + 20 * 12)
    # a network without a YOLO anchor table is not resized, and left untouched
    plain = onnx.load(str(_float_conv_model(tmp_path / "plain.onnx")))
    before = plain.SerializeToString()
    assert resize(plain, 384, 640) is False and plain.SerializeToString() == before


def test_a_wide_frame_runs_at_384x640_and_finds_the_players_of_the_square_input(tmp_path):
    from hoopsense.detection.base import DetectorConfig
    from hoopsense.detection.yolo import YoloDetector
    from hoopsense.video import read_frames

    weights = need_asset(ONNX_DETECTOR)
    frames = read_frames(need_asset(FOOTAGE / "nba_broadcast_wide_854x480.mp4"), max_frames=60)[::10]
    wide = YoloDetector(DetectorConfig(weights=str(weights), conf=0.25, device="cpu"))
    square = YoloDetector(DetectorConfig(weights=str(weights), conf=0.25, device="cpu"))
    square._engine._sized = None  # the rewrite at the file's own 640x640
    assert wide._engine.input_shape(480, 854) == (384, 640) and square._engine.input_shape(480, 854) == (640, 640)
    matched, total = _confident_players_found(wide, square, frames)
    assert total >= 30 and matched >= 0.9 * total, (matched, total)


def _confident_players_found(ours, reference, frames) -> tuple[int, int]:
    """How many of ``reference``'s confident persons (score >= 0.4: beyond borderline) ``ours`` finds at
    IoU > 0.8, and how many there are, over ``frames``."""
    from hoopsense.detection.base import PERSON

    matched = total = 0
    for frame in frames:
        a, b = ours.detect([frame])[0], reference.detect([frame])[0]
        a, b = a[a.class_id == PERSON], b[(b.class_id == PERSON) & (b.confidence >= 0.4)]
        total += len(b)
        matched += sum(_best_iou(box, a.xyxy) > 0.8 for box in b.xyxy)
    return matched, total


def _best_iou(box: np.ndarray, boxes: np.ndarray) -> float:
    if not len(boxes):
        return 0.0
    x1, y1 = np.maximum(boxes[:, 0], box[0]), np.maximum(boxes[:, 1], box[1])
    x2, y2 = np.minimum(boxes[:, 2], box[2]), np.minimum(boxes[:, 3], box[3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) + (box[2] - box[0]) * (box[3] - box[1])
    return float((inter / (areas - inter)).max())
