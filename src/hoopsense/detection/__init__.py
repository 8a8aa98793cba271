"""Person and ball detection: the :class:`Detector` protocol and its Ultralytics YOLO implementation."""

from hoopsense.detection.base import BALL, CLASS_NAMES, PERSON, Detector, DetectorConfig
from hoopsense.detection.yolo import YoloDetector

__all__ = ["BALL", "CLASS_NAMES", "PERSON", "Detector", "DetectorConfig", "YoloDetector"]
