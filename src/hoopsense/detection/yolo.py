"""Person and ball detection with an Ultralytics YOLO model: the :class:`Detector` adapter.

This is the only module that imports ``ultralytics``. It returns one
``supervision.Detections`` per frame holding the ``person`` and ball boxes
(COCO's ``sports ball``, or a ``basketball`` or ``ball`` class), with ``class_id`` remapped to :data:`PERSON` and :data:`BALL`.

On the CPU the network runs in OpenVINO or ONNX Runtime with hoopsense's own
pre- and post-processing (:mod:`hoopsense.detection.engines`); elsewhere, or
with ``backend="ultralytics"``, through Ultralytics' predictor.

Loading never runs code from the weights file: a ``.pt`` (which Ultralytics
unpickles) is first checked by :func:`~hoopsense.weights.pickle_scan.check_torch_pickle`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import supervision as sv

from hoopsense.detection.base import BALL, BALL_NAMES, CLASS_NAMES, PERSON, DetectorConfig
from hoopsense.detection.engines import (
    Letterbox,
    OnnxRuntimeYolo,
    OpenVinoYolo,
    decode_with_extra,
    is_openvino_folder,
    openvino_source,
)
from hoopsense.devices import openvino_available, pick_device
from hoopsense.errors import ConfigError, OutputError, WeightsError, first_line
from hoopsense.weights import resolve


class YoloDetector:
    """A loaded YOLO model that detects persons and balls in batches of frames (a :class:`Detector`)."""

    def __init__(self, config: DetectorConfig | None = None, *, need_person: bool = True) -> None:
        """``need_person=False``: a ball detector (:class:`~hoopsense.detection.crop_pose.CropBall`) may
        have no person class."""
        self.config = config or DetectorConfig()
        self.weights_path: Path = resolve(self.config.weights, what="detector weights")
        self.name = str(self.weights_path)
        self.device = pick_device(self.config.device)
        # frames per call when not given: 8 on CUDA; on the CPU 4 (a .pt ran about 2x faster per frame in batches
        # of 4 than one by one, in PyTorch and in OpenVINO) but 1 for .onnx files (fixed-shape exports ran slower
        # in batches through Ultralytics' predictor)
        self._onnx = self.weights_path.is_file() and self.weights_path.suffix.lower() == ".onnx"
        self.batch_size = self.config.batch_size or (8 if self.device.startswith("cuda") else 1 if self._onnx else 4)
        if is_openvino_folder(self.weights_path) and not self.weights_path.name.endswith("_openvino_model"):
            raise WeightsError(
                f"OpenVINO detector folder {self.weights_path} must be named '<name>_openvino_model' (as Ultralytics "
                f"exports it); rename it to {self.weights_path.name}_openvino_model"
            )
        if self.weights_path.is_file() and self.weights_path.suffix.lower() in (".pt", ".pth"):
            from hoopsense.weights.pickle_scan import check_torch_pickle

            check_torch_pickle(self.weights_path, what="detector weights")
        import torch
        from ultralytics import YOLO

        self._engine: OpenVinoYolo | OnnxRuntimeYolo | None = None
        threads = torch.get_num_threads()
        try:
            self._model = YOLO(str(self.weights_path))  # the task (detect or pose) comes from the weights
            names = dict(self._model.names)
            self.task = str(self._model.task)
            self._engine = self._load_engine()
            if self._engine is None:
                # Set the predictor up now: Ultralytics lowers torch's thread count when it does (to
                # cores - 1), and this adapter gives the process back as it found it.
                self._model.predict(
                    np.zeros((64, 64, 3), np.uint8), imgsz=self.config.imgsz, device=self.device, verbose=False
                )
        except (WeightsError, ConfigError):
            raise
        except Exception as exc:  # Ultralytics raises many types for a bad file
            raise WeightsError(f"cannot load detector weights {self.weights_path}: {first_line(exc)}") from exc
        finally:
            torch.set_num_threads(threads)
        if self.task not in ("detect", "pose"):
            raise WeightsError(f"detector {self.weights_path} is a {self.task} model; give a detection or a pose model")
        self._n_classes = len(names)
        by_name = {str(v).lower(): int(k) for k, v in names.items()}
        if "person" not in by_name and need_person:
            raise WeightsError(
                f"detector {self.weights_path} has no 'person' class (classes: {', '.join(list(by_name)[:8])}...)"
            )
        self._person_id = by_name.get("person", -1)
        self._ball_id = next((by_name[n] for n in BALL_NAMES if n in by_name), None)
        self._classes = [c for c in (by_name.get("person"), self._ball_id) if c is not None]

    @property
    def finds_ball(self) -> bool:
        """The model has a ball class (``sports ball``, ``basketball`` or ``ball``)."""
        return self._ball_id is not None

    @property
    def backend(self) -> str:
        """``openvino`` or ``onnxruntime`` (hoopsense's own CPU path) or ``ultralytics`` (its predictor)."""
        return self._engine.name if self._engine is not None else "ultralytics"

    def _load_engine(self) -> OpenVinoYolo | OnnxRuntimeYolo | None:
        """The engine the config asks for; ``auto`` on the CPU: for an ``.onnx`` file, ONNX Runtime, or
        OpenVINO (when installed) on its float rewrite when it is dynamically quantised; OpenVINO for a
        ``.pt`` or an OpenVINO folder. None: Ultralytics' predictor. ``onnxruntime`` and ``openvino``
        run an ``.onnx`` file as it is."""
        wanted, weights, onnx = self.config.backend, self.weights_path, self._onnx
        if wanted == "ultralytics" or (wanted == "auto" and self.device != "cpu"):
            return None
        if self.device != "cpu":
            raise ConfigError(
                f"detector backend {wanted} runs on the CPU, not {self.device}; use --device cpu or backend auto",
                field="DetectorConfig.backend",
            )
        if wanted == "auto" and onnx:
            source = _float_copy(weights)
            if source is not None and openvino_available():
                return OpenVinoYolo(source, imgsz=self.config.imgsz, sized=partial(_float_copy, weights))
            return OnnxRuntimeYolo(source or weights, imgsz=self.config.imgsz)
        if wanted == "onnxruntime":
            if not onnx:
                raise ConfigError(
                    f"detector backend onnxruntime needs an .onnx file, not {weights}", field="DetectorConfig.backend"
                )
            return OnnxRuntimeYolo(weights, imgsz=self.config.imgsz)
        if not openvino_available():
            if wanted == "auto":
                return None
            raise ConfigError(
                "detector backend openvino needs the openvino package: pip install openvino",
                field="DetectorConfig.backend",
            )
        source = openvino_source(weights)
        if source is None:
            if wanted == "openvino":
                raise ConfigError(
                    f"OpenVINO cannot run detector weights {weights} (give a .pt, .onnx or OpenVINO folder)",
                    field="DetectorConfig.backend",
                )
            return None
        return OpenVinoYolo(source, imgsz=self.config.imgsz)

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
        if self._engine is not None:
            found = []
            for i in range(0, len(images), self.batch_size):
                for output, place in self._engine(images[i : i + self.batch_size], bgr=bgr):
                    found.append(self._decode(output, place, images[0].shape, scale))
            return found
        batch = [img if bgr else np.ascontiguousarray(img[..., ::-1]) for img in images]
        out: list[sv.Detections] = []
        step = self.batch_size
        for i in range(0, len(batch), step):
            results = self._model.predict(
                batch[i : i + step],
                imgsz=self.config.imgsz,
                conf=self.config.conf,
                iou=self.config.iou,
                classes=self._classes,
                device=self.device,
                half=self.config.half if self.config.half is not None else self.device.startswith("cuda"),
                verbose=False,
            )
            out.extend(self._to_detections(r, scale) for r in results)
        return out

    def _decode(self, output: np.ndarray, place: Letterbox, shape: tuple[int, ...], scale: float) -> sv.Detections:
        xyxy, conf, cls, extra = decode_with_extra(
            output, self._classes, conf=self.config.conf, iou=self.config.iou, n_classes=self._n_classes
        )
        h, w = shape[:2]
        shift = np.array([place.left, place.top], np.float32)
        xyxy = (xyxy - np.tile(shift, 2)) / np.float32(place.gain)
        np.clip(xyxy, 0, np.array([w, h, w, h], np.float32), out=xyxy)
        keypoints = None
        if self.task == "pose" and extra.shape[1] >= 3:
            keypoints = extra.reshape(len(extra), extra.shape[1] // 3, 3).copy()
            keypoints[..., :2] = (keypoints[..., :2] - shift) / np.float32(place.gain) / np.float32(scale)
        return self._detections(xyxy / np.float32(scale), conf, cls, keypoints)

    def _to_detections(self, result: object, scale: float) -> sv.Detections:
        boxes = result.boxes  # type: ignore[attr-defined]
        xyxy = boxes.xyxy.cpu().numpy().astype(np.float32).reshape(-1, 4) / np.float32(scale)
        conf = boxes.conf.cpu().numpy().astype(np.float32).reshape(-1)
        cls = boxes.cls.cpu().numpy().astype(int).reshape(-1)
        keypoints = None
        found = getattr(result, "keypoints", None)
        if self.task == "pose" and found is not None and found.data is not None:
            keypoints = found.data.cpu().numpy().astype(np.float32).reshape(len(xyxy), -1, 3)
            keypoints[..., :2] /= np.float32(scale)
        return self._detections(xyxy, conf, cls, keypoints)

    def _detections(
        self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray, keypoints: np.ndarray | None = None
    ) -> sv.Detections:
        """float32 ``(N, 4)`` boxes in original pixels, scores and the model's class ids (and, from a pose
        model, float32 ``(N, K, 3)`` keypoints: x, y in original pixels and visibility 0-1) -> Detections
        (keypoints in ``data["keypoints"]``)."""
        class_id = np.where(cls == self._person_id, PERSON, BALL).astype(int)
        names = (
            np.array([CLASS_NAMES[c] for c in class_id], dtype=object) if len(class_id) else np.empty(0, dtype=object)
        )
        data: dict[str, np.ndarray] = {"class_name": names}
        if keypoints is not None:
            data["keypoints"] = keypoints.astype(np.float32)
        return sv.Detections(
            xyxy=xyxy.astype(np.float32).reshape(-1, 4),
            confidence=conf.astype(np.float32).reshape(-1),
            class_id=class_id,
            data=data,
        )


def _float_copy(weights: Path, height: int | None = None, width: int | None = None) -> Path | None:
    """The float rewrite of the dynamically quantised ``.onnx`` ``weights`` (see
    :mod:`hoopsense.detection.dequantize`), made for ``height`` x ``width`` inputs when given (a 16:9 frame
    fits 384x640, 40% fewer pixels than the file's own 640x640); None when there is none (the file is not
    dynamically quantised, its head cannot be resized, or there is nowhere to keep the rewrite)."""
    from hoopsense.detection.dequantize import dequantized

    try:
        return dequantized(weights, size=(height, width) if height and width else None)
    except (OSError, OutputError):
        return None
