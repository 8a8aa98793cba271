"""What every detector provides: the :class:`Detector` protocol, its settings and class ids.

The pipeline depends only on this protocol; :class:`~hoopsense.detection.yolo.YoloDetector`
is the Ultralytics implementation, and tests pass their own fakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import supervision as sv

from hoopsense.devices import check_device_name
from hoopsense.errors import check_choice, check_range, check_text

PERSON = 0
BALL = 1
CLASS_NAMES = {PERSON: "person", BALL: "sports ball"}
BALL_NAMES = ("sports ball", "basketball", "ball")  # a model's ball class: the first of these it has
DETECTOR_BACKENDS = ("auto", "openvino", "onnxruntime", "ultralytics")


@runtime_checkable
class Detector(Protocol):
    """Finds persons (and balls) in batches of frames.

    ``name`` says which model it is (recorded in the run's files);
    ``batch_size`` is how many frames :meth:`detect` is best given at once.
    """

    name: str
    batch_size: int

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """The size a ``width`` x ``height`` frame may be scaled down to before :meth:`detect`."""
        ...

    def detect(self, images: Sequence[np.ndarray], *, bgr: bool = False, scale: float = 1.0) -> list[sv.Detections]:
        """One ``sv.Detections`` per uint8 ``(H, W, 3)`` image (RGB, or BGR when ``bgr``):
        xyxy in original pixels (images were scaled down by ``scale``), ``confidence``
        and ``class_id`` in {:data:`PERSON`, :data:`BALL`}."""
        ...


@dataclass(frozen=True)
class DetectorConfig:
    """How to load and run the YOLO detector.

    ``weights``: an Ultralytics model name known to ``hoopsense weights list``
    (default ``yolo11n.pt``, downloaded once) or a local ``.pt``/``.onnx`` file
    or OpenVINO folder. ``conf`` is kept low on purpose: ByteTrack uses
    low-score boxes to keep small or occluded players. ``device``: ``auto``
    (CUDA when present, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

    ``backend``: ``auto`` runs the network on the CPU with hoopsense's own
    pre- and post-processing, in OpenVINO for ``.pt`` weights (exported once
    and cached) and OpenVINO folders, in ONNX Runtime for ``.onnx`` files
    (see :mod:`hoopsense.detection.engines` for the measurements), and through
    Ultralytics' own predictor elsewhere (CUDA, MPS); ``openvino``,
    ``onnxruntime`` and ``ultralytics`` force one. ``batch_size``: frames per
    detector call (None: 8 on CUDA; on the CPU 1 in ONNX Runtime and 4
    otherwise, the fastest measured on a 2-core CPU).
    ``half``: fp16 inference in Ultralytics' predictor (None: on CUDA).
    """

    weights: str = "yolo11n.pt"
    imgsz: int = 640
    conf: float = 0.05
    iou: float = 0.7
    device: str = "auto"
    batch_size: int | None = None
    half: bool | None = None
    backend: str = "auto"

    def __post_init__(self) -> None:
        check_range(self, "imgsz", 32, 4096, multiple_of=32)
        check_range(self, "conf", 0.0, 1.0, open_interval=True)
        check_range(self, "iou", 0.0, 1.0, open_low=True)
        if self.batch_size is not None:
            check_range(self, "batch_size", 1, 256)
        check_choice(self, "backend", DETECTOR_BACKENDS)
        check_text(self, "weights")
        check_device_name(self.device, owner=self)
