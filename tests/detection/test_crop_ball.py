"""The ball near the player in player crops: :class:`CropBall` tiles the crops into one mosaic, gives each
crop the most confident ball in its own tile (in that crop's pixels), and refuses a model with no ball
class. A fake detector stands in for the network, so the mapping is checked exactly."""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv
from conftest import ASSETS, need_asset

from hoopsense.detection.base import BALL, PERSON
from hoopsense.detection.crop_pose import GRID, TILE, CropBall
from hoopsense.errors import WeightsError


class _MosaicDetector:
    """Finds what ``found`` lists: ``(class, x1, y1, x2, y2, confidence)`` in mosaic pixels; records the
    mosaics it was given."""

    finds_ball = True

    def __init__(self, found: list[tuple[int, float, float, float, float, float]]) -> None:
        self.found = found
        self.seen: list[np.ndarray] = []

    def detect(self, images):
        self.seen.append(images[0])
        rows = np.array(self.found, np.float32).reshape(-1, 6)
        return [sv.Detections(xyxy=rows[:, 1:5], confidence=rows[:, 5], class_id=rows[:, 0].astype(int))]


def _crop_ball(found) -> CropBall:
    model = CropBall.__new__(CropBall)  # no network: the fake detector answers
    model.detector = _MosaicDetector(found)
    model.name = "fake"
    return model


def test_each_crop_gets_the_most_confident_ball_in_its_own_tile_in_its_own_pixels():
    # crop 0: 80 wide x 160 high -> scale 1, placed at x 40..120 of tile (0, 0); crop 1: 320 x 320 ->
    # scale 0.5, filling tile (1, 0) at x 160..320; crop 2: no ball; crop 17: the second mosaic
    crops = [np.zeros((160, 80, 3), np.uint8), np.zeros((320, 320, 3), np.uint8)] + [
        np.zeros((100, 100, 3), np.uint8) for _ in range(16)
    ]
    model = _crop_ball(
        [
            (BALL, 60, 90, 80, 110, 0.4),  # crop 0's ball: centre (70, 100) -> (30, 100) in the crop
            (BALL, 50, 20, 54, 24, 0.2),  # a less confident one in the same tile
            (PERSON, 40, 0, 120, 160, 0.9),  # a person is not a ball
            (BALL, 200, 40, 220, 60, 0.3),  # crop 1's: centre (210, 50) -> (100, 100) at scale 0.5
            (BALL, 10, 10, 20, 20, 0.9),  # the grey border of tile 0, outside crop 0's picture: no one's
        ]
    )
    out = model(crops)
    assert out.shape == (18, 3) and out.dtype == np.float32
    assert np.allclose(out[0], [30, 100, 0.4])
    assert np.allclose(out[1], [100, 100, 0.3])
    assert np.all(out[2:16] == 0)
    # the second mosaic holds crops 16 and 17; the fake finds the same boxes there: crop 16 sits in tile
    # (0, 0) (100 x 100 -> scale 1.6, centred: x, y 0..160) and takes the most confident ball in it
    assert np.allclose(out[16], [15 / 1.6, 15 / 1.6, 0.9])
    assert len(model.detector.seen) == 2
    assert model.detector.seen[0].shape == (GRID * TILE, GRID * TILE, 3)


def test_whole_scenes_take_the_most_confident_ball_of_the_frame():
    model = _crop_ball([(BALL, 300, 200, 320, 220, 0.3), (BALL, 10, 10, 30, 30, 0.6)])
    out = model([np.zeros((480, 854, 3), np.uint8)], mosaic=False)
    assert np.allclose(out[0], [20, 20, 0.6])
    assert model.detector.seen[0].shape == (480, 854, 3)  # the frame as it is, not tiled


def test_a_model_without_a_ball_class_is_refused():
    pose = need_asset(ASSETS / "pose" / "yolov8n-pose_int8_openvino_model")
    with pytest.raises(WeightsError, match="no ball class"):
        CropBall(str(pose), device="cpu")


def test_the_int8_coco_detector_loads_as_a_ball_detector():
    detector = need_asset(ASSETS / "detector" / "yolov8n_int8_openvino_model")
    model = CropBall(str(detector), device="cpu")
    out = model([np.full((120, 60, 3), 114, np.uint8)] * 3)
    assert out.shape == (3, 3) and np.all(out == 0)  # grey crops hold no ball
