"""Person and ball detection with an Ultralytics YOLO model.

This is the only module that imports ``ultralytics``. It returns one
``supervision.Detections`` per frame holding the ``person`` and ``sports ball``
boxes, with ``class_id`` remapped to :data:`PERSON` and :data:`BALL`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import supervision as sv

from hoopsense.devices import check_device_name, pick_device
from hoopsense.errors import ConfigError, WeightsError, check_range
from hoopsense.weights import resolve

PERSON = 0
BALL = 1
CLASS_NAMES = {PERSON: "person", BALL: "sports ball"}


@dataclass(frozen=True)
class DetectorConfig:
    """How to load and run the detector.

    ``weights``: an Ultralytics model name known to ``hoopsense weights list``
    (default ``yolo11n.pt``, downloaded once) or a local ``.pt``/``.onnx`` file
    or OpenVINO folder. ``conf`` is kept low on purpose: ByteTrack uses
    low-score boxes to keep small or occluded players. ``device``: ``auto``
    (CUDA when present, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    """

    weights: str = "yolo11n.pt"
    imgsz: int = 640
    conf: float = 0.05
    iou: float = 0.7
    device: str = "auto"
    batch_size: int = 4
    half: bool = False

    def __post_init__(self) -> None:
        if not 32 <= self.imgsz <= 4096 or self.imgsz % 32:
            raise ConfigError(f"imgsz must be a multiple of 32 in [32, 4096], got {self.imgsz}")
        if not 0.0 < self.conf < 1.0:
            raise ConfigError(f"conf must be in (0, 1), got {self.conf}")
        if not 0.0 < self.iou <= 1.0:
            raise ConfigError(f"iou must be in (0, 1], got {self.iou}")
        check_range("batch_size", self.batch_size, 1, 256)
        check_device_name(self.device)


def _quiet_ultralytics() -> None:
    # Never let Ultralytics pip-install packages or phone home while analysing.
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    os.environ.setdefault("YOLO_OFFLINE", "True")
    os.environ.setdefault("YOLO_VERBOSE", "False")


class Detector:
    """A loaded YOLO model that detects persons and balls in batches of frames."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        self.weights_path: Path = resolve(self.config.weights, option="--detector")
        self.device = pick_device(self.config.device)
        _quiet_ultralytics()
        from ultralytics import YOLO

        try:
            self._model = YOLO(str(self.weights_path), task="detect")
            names = dict(self._model.names)
        except Exception as exc:  # Ultralytics raises many types for a bad file
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise WeightsError(f"cannot load detector weights {self.weights_path}: {reason}") from exc
        by_name = {str(v).lower(): int(k) for k, v in names.items()}
        if "person" not in by_name:
            raise WeightsError(
                f"detector {self.weights_path} has no 'person' class (classes: {', '.join(list(by_name)[:8])}...)"
            )
        self._person_id = by_name["person"]
        self._ball_id = by_name.get("sports ball")
        self._classes = [self._person_id] + ([self._ball_id] if self._ball_id is not None else [])

    @property
    def model_name(self) -> str:
        return self.weights_path.name

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """The size to which a ``width`` x ``height`` frame can be scaled down before
        :meth:`detect` without losing anything: its longest side becomes ``imgsz``
        (the model letterboxes to that anyway). Never scales up."""
        scale = min(1.0, self.config.imgsz / max(width, height))
        return max(2, int(round(width * scale))), max(2, int(round(height * scale)))

    def detect(self, images: Sequence[np.ndarray], *, bgr: bool = False, scale: float = 1.0) -> list[sv.Detections]:
        """Detect persons and balls.

        ``images``: uint8 ``(H, W, 3)`` arrays, RGB (or BGR when ``bgr=True``),
        all of one size. When they were scaled down from the original frames
        by ``scale`` (e.g. 640/1920), boxes are returned in original pixels.
        Returns one ``sv.Detections`` per image (xyxy, ``confidence``,
        ``class_id`` in {:data:`PERSON`, :data:`BALL`}, ``data["class_name"]``).
        """
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        if not images:
            return []
        batch = [img if bgr else np.ascontiguousarray(img[..., ::-1]) for img in images]
        out: list[sv.Detections] = []
        step = self.config.batch_size
        for i in range(0, len(batch), step):
            results = self._model.predict(
                batch[i : i + step],
                imgsz=self.config.imgsz,
                conf=self.config.conf,
                iou=self.config.iou,
                classes=self._classes,
                device=self.device,
                half=self.config.half,
                verbose=False,
            )
            out.extend(self._to_detections(r, scale) for r in results)
        return out

    def _to_detections(self, result: object, scale: float) -> sv.Detections:
        boxes = result.boxes  # type: ignore[attr-defined]
        xyxy = boxes.xyxy.cpu().numpy().astype(np.float32).reshape(-1, 4) / np.float32(scale)
        conf = boxes.conf.cpu().numpy().astype(np.float32).reshape(-1)
        cls = boxes.cls.cpu().numpy().astype(int).reshape(-1)
        class_id = np.where(cls == self._person_id, PERSON, BALL).astype(int)
        names = np.array([CLASS_NAMES[c] for c in class_id], dtype=object) if len(class_id) else np.empty(0, dtype=object)
        return sv.Detections(xyxy=xyxy, confidence=conf, class_id=class_id, data={"class_name": names})
