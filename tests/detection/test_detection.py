"""The detector protocol, its settings, and the YOLO adapter's promises (no code from weights, threads kept)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import ONNX_DETECTOR, need_asset
from fakes import ShapeDetector

from hoopsense.detection import Detector, DetectorConfig, YoloDetector
from hoopsense.errors import ConfigError, WeightsError


def test_fakes_and_yolo_implement_the_protocol():
    assert isinstance(ShapeDetector(), Detector)
    assert {"input_size", "detect"} <= set(dir(YoloDetector))  # name and batch_size are set per instance


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"imgsz": 100}, "imgsz", "imgsz must be in [32, 4096], a multiple of 32, got 100"),
        ({"conf": float("nan")}, "conf", "conf must be in (0, 1), got nan"),
        ({"conf": 1.0}, "conf", "conf must be in (0, 1), got 1.0"),
        ({"batch_size": 0}, "batch_size", "batch_size must be in [1, 256], got 0"),
        ({"device": "cuda:x"}, "device", "device must be auto, cpu, cuda, cuda:N or mps, got 'cuda:x'"),
        ({"weights": ""}, "weights", "weights must be a non-empty text, got ''"),
    ],
)
def test_config_errors_say_the_field(kwargs, field, message):
    with pytest.raises(ConfigError) as err:
        DetectorConfig(**kwargs)
    assert str(err.value) == message and err.value.field == f"DetectorConfig.{field}"


@pytest.mark.slow
def test_yolo_adapter_keeps_torch_threads_and_detects():
    torch.set_num_threads(2)
    detector = YoloDetector(DetectorConfig(weights=str(need_asset(ONNX_DETECTOR)), device="cpu"))
    assert torch.get_num_threads() == 2  # Ultralytics lowers it when its predictor starts; the adapter restores it
    found = detector.detect([np.zeros((360, 640, 3), np.uint8)], bgr=True)
    assert len(found) == 1 and found[0].xyxy.shape[1] == 4


def test_pickled_code_in_detector_weights_never_runs(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    weights = tmp_path / "evil.pt"
    torch.save({"model": Payload()}, weights)
    with pytest.raises(WeightsError, match="could run code when loaded"):
        YoloDetector(DetectorConfig(weights=str(weights), device="cpu"))
    assert not marker.exists()


def test_a_renamed_openvino_folder_is_one_clear_error(tmp_path):
    import shutil

    from conftest import ASSETS

    source = need_asset(ASSETS / "detector" / "yolov8n_int8_openvino_model")
    renamed = tmp_path / "my-detector"
    shutil.copytree(source, renamed)
    with pytest.raises(
        WeightsError, match=r"must be named '<name>_openvino_model'.*rename it to my-detector_openvino_model"
    ):
        YoloDetector(DetectorConfig(weights=str(renamed), device="cpu"))
    renamed.rename(tmp_path / "my-detector_openvino_model")  # as the message says: then it loads
    assert (
        YoloDetector(DetectorConfig(weights=str(tmp_path / "my-detector_openvino_model"), device="cpu")).backend
        == "openvino"
    )
