"""Rebuild Ultralytics ``.pt`` weights from the shared int8 YOLOv8n ONNX file, to measure the ``.pt`` path offline.

The default detector is a ``.pt`` (``yolo11n.pt``), which this machine cannot
download. The shared ``yolov8n_int8.onnx`` (Ultralytics' COCO YOLOv8n, exported
with batch norm folded into the convolutions, then dynamically quantised by
ONNX Runtime) keeps every convolution as ``<state-dict name>.weight_quantized``
with its scale and zero point, so its weights dequantise into a fused
Ultralytics YOLOv8n exactly (to the int8 rounding of the weights). The script
writes that model as a ``.pt`` and prints how many of its person boxes match
those of the ONNX file on real frames, so benchmarks can compare hoopsense and
``YOLO.track`` on the same real-weights ``.pt``. Uses the ``onnx`` package
(a hoopsense dependency).

    python benchmarks/onnx_to_pt.py /tmp/yolov8n-from-onnx.pt
"""

from __future__ import annotations

import argparse
import ast
import os
from pathlib import Path

from _common import ASSETS, DETECTOR


def rebuild(onnx_path: Path, out: Path) -> Path:
    import onnx
    import torch
    from onnx import numpy_helper
    from ultralytics import YOLO

    graph = onnx.load(str(onnx_path))
    arrays = {i.name: numpy_helper.to_array(i) for i in graph.graph.initializer}
    meta = {p.key: p.value for p in graph.metadata_props}
    yolo = YOLO("yolov8n.yaml", task="detect")
    model = yolo.model.fuse()  # batch norm folded into the convolutions, as in the export
    state = model.state_dict()
    new = {}
    for name in state:
        if name.endswith(".weight") and name[: -len("weight")] + "weight_quantized" in arrays:
            base = name[: -len(".weight")]
            q = arrays[base + ".weight_quantized"].astype("float32")
            zp = arrays[base + ".weight_zero_point"].astype("float32")
            new[name] = torch.from_numpy((q - zp) * arrays[base + ".weight_scale"])
        elif name in arrays:
            new[name] = torch.from_numpy(arrays[name].copy())
        else:
            new[name] = state[name]  # fixed buffers (anchors, the DFL's arange), not learned
    missing = [n for n in state if n.endswith((".weight", ".bias")) and new[n] is state[n]]
    if missing:
        raise SystemExit(f"the ONNX file has no weights for {len(missing)} parameters, e.g. {missing[:3]}")
    model.load_state_dict(new)
    model.names = ast.literal_eval(meta["names"])
    yolo.model = model
    yolo.save(str(out))
    return out


def compare(pt: Path, onnx_path: Path, frames: int = 8) -> None:
    import cv2
    import supervision as sv

    from hoopsense.detection import DetectorConfig, YoloDetector

    clip = ASSETS / "footage" / "nba_broadcast_wide_854x480.mp4"
    cap = cv2.VideoCapture(str(clip))
    images = []
    while len(images) < frames:
        ok, frame = cap.read()
        if not ok:
            break
        images.append(cv2.resize(frame, (640, 360), interpolation=cv2.INTER_AREA))
    a = YoloDetector(DetectorConfig(weights=str(pt), backend="ultralytics", conf=0.25)).detect(images, bgr=True)
    b = YoloDetector(DetectorConfig(weights=str(onnx_path), conf=0.25)).detect(images, bgr=True)
    matched = total = 0
    for x, y in zip(a, b):
        total += len(y)
        if len(x) and len(y):
            matched += int((sv.box_iou_batch(y.xyxy, x.xyxy).max(axis=1) >= 0.8).sum())
    print(f"{matched} of the ONNX file's {total} boxes (conf 0.25) found by the rebuilt .pt at IoU >= 0.8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the .pt to write")
    parser.add_argument("--onnx", type=Path, default=DETECTOR)
    args = parser.parse_args()
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    os.environ.setdefault("YOLO_OFFLINE", "True")
    compare(rebuild(args.onnx, args.out), args.onnx)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
