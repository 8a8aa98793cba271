"""Weights that hoopsense knows by name, declared as data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class WeightSpec:
    """A downloadable weights file.

    ``sha256`` is the full hex digest of the file; a shorter hex prefix (at
    least 8 characters, as torchvision publishes in its file names) is
    accepted too. ``metadata`` holds what a loader needs to know (labels,
    input size, licence...).
    """

    name: str
    url: str
    sha256: str
    filename: str
    task: str
    description: str
    metadata: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("name must not be empty")
        if not self.url.startswith("https://"):
            raise ValueError(f"url must be https, got {self.url!r}")
        digest = self.sha256.lower()
        if len(digest) < 8 or len(digest) > 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"sha256 must be 8 to 64 hex characters, got {self.sha256!r}")
        if self.task not in ("detector", "recognizer"):
            raise ValueError(f"task must be 'detector' or 'recognizer', got {self.task!r}")


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
)


def get_spec(name: str) -> WeightSpec | None:
    """The spec called ``name``, or None."""
    for spec in SPECS:
        if spec.name == name:
            return spec
    return None
