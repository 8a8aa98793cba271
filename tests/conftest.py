"""Shared fixtures: offline settings, synthetic videos, a fake detector, real assets."""

from __future__ import annotations

import os
import shutil
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


def chromium_path() -> str:
    """Debian's Chromium for the browser tests (``HOOPSENSE_CHROMIUM`` overrides); skips the test when it or
    Playwright is missing, or fails it when HOOPSENSE_REQUIRE_BROWSER=1 (set by CI)."""
    path = os.environ.get("HOOPSENSE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    problem = None
    if path is None:
        problem = "Chromium is not installed (Debian: apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "Playwright is not installed (pip install -e '.[dev]')"
    if problem:
        if os.environ.get("HOOPSENSE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required but {problem}")
        pytest.skip(problem)
    return path


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium (Playwright), one per test module."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        yield b
        b.close()


def need_asset(path: Path) -> Path:
    """Skip the calling test with a clear reason when a shared asset is absent."""
    if not path.exists():
        pytest.skip(f"real asset not available: {path} (the shared assets folder is absent on this machine)")
    return path


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("HOOPSENSE_HOME", str(tmp_path_factory.mktemp("hoopsense_home")))


@pytest.fixture(autouse=True)
def _torch_threads_restored():
    """Each test leaves torch's thread count as it found it. Ultralytics' predictor lowers it to cores - 1 when it
    starts (a helper of the composite benchmark runs it in this process), and every later test then trained and
    ran its networks on one core of two: the R(2+1)D learning test took 164 s instead of 108."""
    import torch

    before = torch.get_num_threads()
    yield
    if torch.get_num_threads() != before:
        torch.set_num_threads(before)


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
