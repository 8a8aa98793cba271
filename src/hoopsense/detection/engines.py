"""YOLO networks run directly in OpenVINO or ONNX Runtime on the CPU, with hoopsense's own
pre- and post-processing: the CPU path of :class:`~hoopsense.detection.yolo.YoloDetector`.

What runs each kind of weights (``backend="auto"``), chosen by measurement on
a 2-core CPU:

* a ``.pt`` file: OpenVINO, on an export made once by Ultralytics and cached
  beside the weights (or in the cache folder when that is read-only), named by
  the file's sha256, so a changed file is exported again and an unchanged one
  never is;
* an OpenVINO folder (``*_openvino_model/``): OpenVINO, on its ``.xml`` (the
  int8 YOLOv8n folder runs in about 24 ms a frame);
* an ``.onnx`` file: ONNX Runtime, its reference runtime; but a dynamically
  quantised one (``ConvInteger``) is first rewritten once into float
  convolutions with its own dequantised weights (:mod:`~hoopsense.detection.dequantize`),
  which OpenVINO runs: the int8 YOLOv8n at 640x640 took 61.5 ms a frame as
  it is in ONNX Runtime, 45.0 ms rewritten in ONNX Runtime and 33.6 ms
  rewritten in OpenVINO (f32), on a quiet 2-core CPU. ``backend="onnxruntime"``
  and ``backend="openvino"`` run the file as it is.

Why not Ultralytics' own predictor: its generic post-processing thresholds all
80 COCO classes (``--conf 0.05`` then cost tens of milliseconds a frame) and it
builds a result object per frame. Here the raw output is decoded for the two
classes hoopsense keeps (person, sports ball) with Ultralytics' rules (a box
takes its best-scoring class; class-wise NMS), so a low ``conf`` costs nothing.

Exported models have dynamic input shapes, so frames are letterboxed to the
smallest multiple of the stride that holds them (640x384 for 16:9 video, as
Ultralytics does for ``.pt`` models) instead of a 640x640 square.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from hoopsense.errors import WeightsError, first_line

PAD_VALUE = 114  # Ultralytics' letterbox grey
STRIDE = 32


def is_openvino_folder(path: Path) -> bool:
    """True for a folder holding an OpenVINO IR model (``*.xml`` with its ``.bin``)."""
    return path.is_dir() and any(path.glob("*.xml"))


def openvino_source(weights: Path, *, export_dir: Path | None = None) -> Path | None:
    """The file OpenVINO should read for ``weights`` (exporting a ``.pt`` once), or None when
    OpenVINO cannot run this kind of weights."""
    if is_openvino_folder(weights):
        return sorted(weights.glob("*.xml"))[0]
    suffix = weights.suffix.lower()
    if weights.is_file() and suffix == ".onnx":
        return weights
    if weights.is_file() and suffix in (".pt", ".pth"):
        return export_pt(weights, export_dir=export_dir)
    return None


def export_folder(weights: Path, export_dir: Path | None = None) -> Path:
    """Where the OpenVINO export of the ``.pt`` file ``weights`` is cached: beside it as
    ``<stem>.<sha256[:12]>.openvino/`` when that folder is writable, else under ``export_dir``
    (default: the weights cache folder)."""
    from hoopsense.weights.cache import cache_dir, sha256_of

    name = f"{weights.stem}.{sha256_of(weights)[:12]}.openvino"
    if export_dir is None and os.access(weights.parent, os.W_OK):
        return weights.parent / name
    return (export_dir or cache_dir() / "openvino") / name


def export_pt(weights: Path, *, export_dir: Path | None = None) -> Path:
    """The ``.xml`` of the cached OpenVINO export of ``weights`` (a checked Ultralytics ``.pt``),
    exported now if missing. The export is made in a temporary folder and renamed into place,
    so an interrupted export never leaves a folder that looks complete."""
    target = export_folder(weights, export_dir)
    found = sorted(target.glob("*.xml")) if target.is_dir() else []
    if found:
        return found[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        from ultralytics import YOLO

        staged = work / f"{weights.stem}.pt"
        try:
            os.link(weights, staged)
        except OSError:
            shutil.copy2(weights, staged)
        try:
            out = Path(str(YOLO(str(staged)).export(format="openvino", dynamic=True, half=False)))
        except Exception as exc:  # Ultralytics raises many types for a model it cannot export
            raise WeightsError(f"cannot export detector weights {weights} to OpenVINO: {first_line(exc)}") from exc
        try:
            os.replace(out, target)
        except OSError:
            if not any(target.glob("*.xml")):  # another process may have won the race with an equal export
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return sorted(target.glob("*.xml"))[0]


@dataclass(frozen=True)
class Letterbox:
    """How a frame was placed in the network input: scaled by ``gain``, then shifted by ``(left, top)``."""

    gain: float
    left: int
    top: int


def letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """Fit uint8 ``(H, W, 3)`` ``image`` into ``size`` (height, width) as Ultralytics does: scale
    down or up keeping the aspect ratio, centre, pad with grey. Returns the ``size`` image and the
    placement."""
    h, w = image.shape[:2]
    out_h, out_w = size
    gain = min(out_h / h, out_w / w)
    new_w, new_h = int(round(w * gain)), int(round(h * gain))
    if (new_w, new_h) != (w, h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    dw, dh = (out_w - new_w) / 2, (out_h - new_h) / 2
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    if top or bottom or left or right:
        image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return image, Letterbox(gain, left, top)


def _nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by class-wise NMS (torchvision's, as Ultralytics uses), best score first."""
    import torch
    from torchvision.ops import batched_nms

    keep = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), iou)
    return keep.numpy()


def decode(
    output: np.ndarray, keep_classes: Sequence[int], *, conf: float, iou: float, max_det: int = 300
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes of one image from a YOLO head's raw output.

    ``output``: float ``(4 + C, N)`` (YOLOv8/11: centre x, y, width, height in
    input pixels, then C class scores) or ``(N, 6)`` (end-to-end heads such as
    YOLO26/v10: x1, y1, x2, y2, score, class, already filtered by NMS). Each
    candidate takes its best class (as Ultralytics does); those of a class in
    ``keep_classes`` scoring above ``conf`` are kept, then class-wise NMS at
    ``iou``. Returns xyxy float32 ``(K, 4)`` in input pixels, scores float32
    ``(K,)`` and class ids int64 ``(K,)``, best first.
    """
    boxes, scores, cls, _ = decode_with_extra(output, keep_classes, conf=conf, iou=iou, max_det=max_det)
    return boxes, scores, cls


def decode_with_extra(
    output: np.ndarray, keep_classes: Sequence[int], *, conf: float, iou: float, max_det: int = 300,
    n_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """:func:`decode`, for heads with ``n_classes`` class rows followed by per-box extra rows (a pose
    head: 17 x (x, y, visibility) keypoints in input pixels). Also returns the kept boxes' extra rows,
    float32 ``(K, E)`` (``E`` = 0 without extras)."""
    keep_classes = np.asarray(list(keep_classes), dtype=np.int64)
    if output.ndim == 2 and output.shape[1] == 6 and output.shape[0] != 6:
        boxes, scores, cls = output[:, :4], output[:, 4], output[:, 5].astype(np.int64)
        mask = (scores > conf) & np.isin(cls, keep_classes)
        order = np.argsort(-scores[mask], kind="stable")[:max_det]
        return (
            boxes[mask][order].astype(np.float32),
            scores[mask][order].astype(np.float32),
            cls[mask][order],
            np.zeros((len(order), 0), np.float32),
        )
    if output.ndim != 2 or output.shape[0] <= 4:
        raise ValueError(f"unexpected YOLO output shape {output.shape}")
    end = output.shape[0] if n_classes is None else 4 + n_classes
    class_scores, extra = output[4:end], output[end:]
    best = class_scores.argmax(axis=0)
    candidates = np.isin(best, keep_classes)
    idx = np.flatnonzero(candidates)
    scores = class_scores[best[idx], idx]
    above = scores > conf
    idx, scores, cls = idx[above], scores[above].astype(np.float32), best[idx][above].astype(np.int64)
    if not len(idx):
        empty = np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
        return (*empty, np.zeros((0, len(extra)), np.float32))
    cx, cy, bw, bh = output[:4, idx]
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1).astype(np.float32)
    keep = _nms(boxes, scores, cls, iou)[:max_det]
    return boxes[keep], scores[keep], cls[keep], extra[:, idx[keep]].T.astype(np.float32)


def _blob(image: np.ndarray, shape: tuple[int, int], bgr: bool) -> tuple[np.ndarray, Letterbox]:
    """float32 ``(1, 3, H, W)`` RGB 0-1 network input of a uint8 image letterboxed to ``shape``."""
    boxed, place = letterbox(image, shape)
    rgb = boxed[..., ::-1] if bgr else boxed
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))[None].astype(np.float32) * np.float32(1 / 255), place


def _input_shape(fixed: tuple[int, int] | None, imgsz: int, height: int, width: int) -> tuple[int, int]:
    """Network input (height, width) for a ``height`` x ``width`` frame: the model's own when fixed, else the
    smallest stride multiple holding an ``imgsz`` letterbox of the frame."""
    if fixed is not None:
        return fixed
    gain = imgsz / max(height, width)
    return (int(np.ceil(height * gain / STRIDE) * STRIDE), int(np.ceil(width * gain / STRIDE) * STRIDE))


class OnnxRuntimeYolo:
    """A YOLO ``.onnx`` network in an ONNX Runtime CPU session, one frame per run.

    A model with a fixed input size keeps it; one with a dynamic size gets the
    smallest stride multiple that holds an ``imgsz`` letterbox of the frame.
    """

    name = "onnxruntime"

    def __init__(self, source: Path, *, imgsz: int) -> None:
        import onnxruntime as ort

        self.source = source
        try:
            self._session = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types with long texts
            raise WeightsError(f"ONNX Runtime cannot read detector weights {source}: {first_line(exc)}") from exc
        inputs = self._session.get_inputs()[0]
        self._input = inputs.name
        h, w = inputs.shape[2:4] if len(inputs.shape) == 4 else (None, None)
        self.fixed = (h, w) if isinstance(h, int) and isinstance(w, int) else None
        self.imgsz = imgsz

    def __call__(self, images: Sequence[np.ndarray], *, bgr: bool) -> list[tuple[np.ndarray, Letterbox]]:
        """Raw head output float32 of each uint8 ``(H, W, 3)`` image (BGR when ``bgr``, else RGB;
        all of one size) and where the image sits in the network input."""
        out = []
        for image in images:
            blob, place = _blob(image, _input_shape(self.fixed, self.imgsz, *image.shape[:2]), bgr)
            out.append((np.asarray(self._session.run(None, {self._input: blob})[0])[0], place))
        return out


class OpenVinoYolo:
    """A YOLO network compiled by OpenVINO for the CPU, in latency mode (every core on one request).

    ``source``: an ``.xml`` or ``.onnx`` file (see :func:`openvino_source`). A
    model with a fixed input size keeps its height and width; one with a
    dynamic size is set, on the first frames, to the smallest stride multiple
    that holds an ``imgsz`` letterbox of them, and re-set if the frame size
    changes. The frames of one call run as one batch when the network can be
    reshaped to it (one frame at a time otherwise): on the 2-core test machine
    the int8 YOLOv8n ran the NBA clip at about 23 fps one frame at a time and
    28 fps in batches of 4. (Concurrent requests through ``AsyncInferQueue``
    are avoided: they can hang on some Intel and AMD CPUs, as Ultralytics notes.)
    """

    name = "openvino"

    def __init__(self, source: Path, *, imgsz: int, sized: Callable[[int, int], Path | None] | None = None) -> None:
        """``sized``: for a fixed-size model, where to read a copy of it made for another input (height,
        width) (None where there is none): frames are then letterboxed to the smallest stride multiple
        that holds them, as for a dynamic model, instead of to the model's own square."""
        import openvino as ov

        self.source = source
        self._sized = sized
        self._sources: dict[tuple[int, int], Path | None] = {}
        self._core = ov.Core()
        try:
            self._model = self._core.read_model(str(source))
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses with multi-line text
            raise WeightsError(f"OpenVINO cannot read detector weights {source}: {first_line(exc)}") from exc
        shape = self._model.inputs[0].get_partial_shape()
        self.fixed: tuple[int, int] | None = None
        if shape[2].is_static and shape[3].is_static:
            self.fixed = (int(shape[2].get_length()), int(shape[3].get_length()))
        self.imgsz = imgsz
        self._compiled: dict[tuple[int, int, int], Any] = {}  # (batch, height, width) -> compiled network
        self._unbatchable = False

    def input_shape(self, height: int, width: int) -> tuple[int, int]:
        """Network input (height, width) for a ``height`` x ``width`` frame."""
        if self._sized is not None and self.fixed is not None:
            shape = _input_shape(None, self.imgsz, height, width)
            if shape not in self._sources:
                self._sources[shape] = self._sized(*shape) if shape != self.fixed else self.source
            if self._sources[shape] is not None:
                return shape
        return _input_shape(self.fixed, self.imgsz, height, width)

    def _network(self, batch: int, shape: tuple[int, int]) -> Any:
        """The network compiled for ``batch`` frames of ``shape`` (None when it cannot take that batch)."""
        key = (batch, *shape)
        if key not in self._compiled:
            if len(self._compiled) >= 4:  # a few shapes at most (the last batch of a video is smaller)
                self._compiled.pop(next(iter(self._compiled)))
            sized = self._sources.get(shape)
            model = self._core.read_model(str(sized)) if sized is not None and sized != self.source else self._model
            try:
                model.reshape([batch, 3, *shape])
                # f32, not OpenVINO's bf16 default on CPUs that have bf16: with a YOLOv8n .pt on MOT17-02, bf16
                # ran 15 ms a frame against 27 but lost 1.3 IDF1 points; f32 tracks exactly as PyTorch does
                config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
                self._compiled[key] = self._core.compile_model(model, "CPU", config)
            except Exception:  # a graph with the batch size baked in: one frame at a time
                if batch == 1:
                    raise
                self._unbatchable = True
                return None
        return self._compiled[key]

    def __call__(self, images: Sequence[np.ndarray], *, bgr: bool) -> list[tuple[np.ndarray, Letterbox]]:
        """Raw head output float32 of each uint8 ``(H, W, 3)`` image (BGR when ``bgr``, else RGB;
        all of one size) and where the image sits in the network input."""
        if not images:
            return []
        shape = self.input_shape(*images[0].shape[:2])
        blobs, places = zip(*(_blob(image, shape, bgr) for image in images))
        network = None if self._unbatchable or len(blobs) == 1 else self._network(len(blobs), shape)
        if network is not None:
            outputs = list(np.asarray(network(np.concatenate(blobs))[0]))
        else:
            single = self._network(1, shape)
            outputs = [np.asarray(single(blob)[0])[0] for blob in blobs]
        return list(zip(outputs, places))
