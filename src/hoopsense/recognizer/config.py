"""Recognizer settings and its prediction type (plain data, no torch import)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hoopsense.devices import check_device_name
from hoopsense.errors import ConfigError, check_range

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class WindowPrediction:
    """Class probabilities (float32 ``(C,)``, summing to 1) of one player's clip over frames ``start..end``."""

    track_id: int
    start_frame: int
    end_frame: int
    probs: np.ndarray


@dataclass(frozen=True)
class RecognizerConfig:
    """``checkpoint``: a hoopsense recognizer file. ``batch_size`` clips per forward pass
    (None: 16 on CUDA, 1 on CPU, where larger batches measured slower and bigger).

    ``precision``: ``auto`` (fp16 on CUDA, fp32 on CPU), ``fp32``, ``bf16``
    (much faster on CPUs with AMX/AVX-512 BF16) or ``fp16`` (CUDA only).
    """

    checkpoint: str
    device: str = "auto"
    batch_size: int | None = None
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.batch_size is not None:
            check_range("--batch-size", self.batch_size, 1, 1024)
        if self.precision not in PRECISIONS:
            raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        check_device_name(self.device)
