"""Weights that hoopsense knows by name, declared as data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: What a weights file is for: person/ball detection, person keypoints, action recognition, person re-identification.
TASKS = ("detector", "pose", "recognizer", "reid")


@dataclass(frozen=True)
class WeightSpec:
    """A downloadable weights file.

    ``sha256`` is the full hex digest of the file; a shorter hex prefix (at
    least 8 characters, as torchvision publishes in its file names) is
    accepted too. None, for a release that publishes no digest, pins the
    file on first use instead: the digest of the first download is kept
    beside it (``<filename>.sha256``) and every later use checks the file
    against it. ``metadata`` holds what a loader needs to know (labels,
    input size, licence...).
    """

    name: str
    url: str
    sha256: str | None
    filename: str
    task: str
    description: str
    metadata: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("name must not be empty")
        if not self.url.startswith("https://"):
            raise ValueError(f"url must be https, got {self.url!r}")
        digest = (self.sha256 or "0" * 64).lower()
        if len(digest) < 8 or len(digest) > 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"sha256 must be 8 to 64 hex characters, got {self.sha256!r}")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(map(repr, TASKS))}, got {self.task!r}")


_COCO_DETECTOR = MappingProxyType({"classes": {"person": 0, "sports ball": 32}, "licence": "AGPL-3.0"})

SPECS: tuple[WeightSpec, ...] = (
    WeightSpec(
        name="yolo11n.pt",
        url="https://github.com/ultralytics/assets/releases/download/v8.3.0/yolo11n.pt",
        sha256="0ebbc80d4a7680d14987a577cd21342b65ecfd94632bd9a8da63ae6417644ee1",
        filename="yolo11n.pt",
        task="detector",
        description="Ultralytics YOLO11n, COCO (default detector)",
        metadata=_COCO_DETECTOR,
    ),
    WeightSpec(
        name="yolo11s.pt",
        url="https://github.com/ultralytics/assets/releases/download/v8.3.0/yolo11s.pt",
        sha256="85a76fe86dd8afe384648546b56a7a78580c7cb7b404fc595f97969322d502d5",
        filename="yolo11s.pt",
        task="detector",
        description="Ultralytics YOLO11s, COCO (more accurate, about 3x slower)",
        metadata=_COCO_DETECTOR,
    ),
    WeightSpec(
        name="yolo11n-pose.pt",
        url="https://github.com/ultralytics/assets/releases/download/v8.3.0/yolo11n-pose.pt",
        sha256=None,  # Ultralytics publishes no digest: pinned on first download (see WeightSpec)
        filename="yolo11n-pose.pt",
        task="pose",
        description="Ultralytics YOLO11n-pose, COCO keypoints (players and their 17 keypoints in one pass)",
        metadata=MappingProxyType({"classes": {"person": 0}, "keypoints": 17, "licence": "AGPL-3.0"}),
    ),
    # The torchreid-format .pth of the same name in that repository (strong_sort/deep/checkpoint/) holds other
    # weights of the same architecture (their embeddings agree only to a cosine of about 0.5); hoopsense loads it
    # too, by path (--reid PATH), in torch.
    WeightSpec(
        name="osnet_x0_25_msmt17",
        url=(
            "https://github.com/HuyAIHub/PPE_Detection/raw/2feee103d8501905a501f7411229b1cb511aaae4/"
            "weights/osnet_x0_25_msmt17.onnx"
        ),
        sha256="c61799fb79be8959f950590604c6d7a097c7c0aac7aca2baa49b09406ecb5829",
        filename="osnet_x0_25_msmt17.onnx",
        task="reid",
        description=(
            "OSNet x0.25 person re-ID, MSMT17, ONNX (default re-ID embedder: in onnxruntime 3x or more faster "
            "per crop on CPU than the torchreid .pth in torch, and as good at re-identifying; bench_reid.py)"
        ),
        metadata=MappingProxyType(
            {
                "input_hw": (256, 128),
                "colour": "RGB",
                "mean": (0.485, 0.456, 0.406),
                "std": (0.229, 0.224, 0.225),
                "dim": 512,
                "licence": "MIT",
            }
        ),
    ),
)


def get_spec(name: str) -> WeightSpec | None:
    """The spec called ``name``, or None."""
    for spec in SPECS:
        if spec.name == name:
            return spec
    return None
