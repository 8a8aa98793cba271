"""Recognizer settings (plain data, no torch import)."""

from __future__ import annotations

from dataclasses import dataclass

from hoopsense.devices import PRECISIONS, check_device_name
from hoopsense.errors import check_choice, check_range, check_text


@dataclass(frozen=True)
class RecognizerConfig:
    """``checkpoint``: a hoopsense recognizer file. ``batch_size`` clips per forward pass
    (None: 16 on CUDA, 1 on CPU, where larger batches measured slower and bigger).

    ``precision``: ``auto`` (fp16 on CUDA; on CPUs with native bf16,
    AVX512-BF16 or AMX, bf16 for the 3D video networks, about 2.5x faster
    than fp32, and fp32 for the frame-based ones, which bf16 does not speed
    up; fp32 on other CPUs), ``fp32``, ``bf16`` or ``fp16`` (CUDA only).

    ``compile``: run the network through ``torch.compile`` (batches are padded
    to ``batch_size`` so one graph serves the whole game); it costs a minute
    of compilation at start and is meant for long runs on a GPU.

    ``backend``: ``auto`` runs the 3D video networks on the CPU in OpenVINO
    (converted at load, a few seconds; about 2.7x PyTorch in bf16) and
    everything else in PyTorch; ``torch`` or ``openvino`` force one.

    ``pose``: for a skeleton checkpoint, the pose model that finds the keypoints in player crops when
    the detector gives none (None: the one the checkpoint was trained with). A pose model used as
    the detector gives them directly, and then none runs on crops.

    ``ball``: for a ``skeleton-ball-tcn`` checkpoint, the detector (with a ball class) that finds the
    ball in the player crops (None: the one the checkpoint was trained with).

    ``fuse``: a second checkpoint with the same classes, clip length and frame step; the class
    probabilities of both are averaged (late fusion, e.g. a skeleton and an R(2+1)D checkpoint).
    """

    checkpoint: str
    device: str = "auto"
    batch_size: int | None = None
    precision: str = "auto"
    compile: bool = False
    backend: str = "auto"
    pose: str | None = None
    ball: str | None = None
    fuse: str | None = None

    def __post_init__(self) -> None:
        check_text(self, "checkpoint")
        for name in ("pose", "ball", "fuse"):
            if getattr(self, name) is not None:
                check_text(self, name)
        if self.batch_size is not None:
            check_range(self, "batch_size", 1, 1024)
        check_choice(self, "precision", PRECISIONS)
        check_choice(self, "backend", ("auto", "torch", "openvino"))
        check_device_name(self.device, owner=self)
