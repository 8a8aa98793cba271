"""Shared fixtures: offline settings, synthetic videos, a fake detector, real assets."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Never let Ultralytics install packages or reach the network during tests.
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
os.environ.setdefault("YOLO_OFFLINE", "True")
os.environ.setdefault("YOLO_VERBOSE", "False")
os.environ.setdefault("HOOPSENSE_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).parent))

from fakes import ShapeDetector, cli_with
from synth import make_video

ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "assets"
ONNX_DETECTOR = ASSETS / "detector" / "yolov8n_int8.onnx"
FOOTAGE = ASSETS / "footage"


def need_asset(path: Path) -> Path:
    """Skip the calling test with a clear reason when a shared asset is absent."""
    if not path.exists():
        pytest.skip(f"real asset not available: {path} (the shared assets folder is absent on this machine)")
    return path


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("HOOPSENSE_HOME", str(tmp_path_factory.mktemp("hoopsense_home")))


@pytest.fixture
def shapes_video(tmp_path) -> Path:
    """A 40-frame 160x96 25 fps H.264 mp4 with three moving rectangles and an AAC track."""
    return make_video(tmp_path / "shapes.mp4", n_frames=40, audio="aac")


@pytest.fixture
def fake_detector() -> ShapeDetector:
    """A :class:`~hoopsense.detection.Detector` that finds the synthetic rectangles."""
    return ShapeDetector()


@pytest.fixture
def cli(fake_detector):
    """``cli("analyze", video, ...)`` runs the CLI in-process with the fake detector; returns the exit code."""
    return cli_with(fake_detector)
