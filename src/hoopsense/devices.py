"""Choosing the torch device for the detector and the recognizer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hoopsense.errors import ConfigError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"


def check_device_name(device: str) -> None:
    """Raise :class:`ConfigError` unless ``device`` is a name :func:`pick_device` understands."""
    if not (device in ("auto", "cpu", "cuda", "mps") or device.startswith("cuda:") or device.isdigit()):
        raise ConfigError(f"device must be {DEVICE_CHOICES}, got {device!r}")


def pick_device(device: str) -> str:
    """Resolve ``auto`` to ``cuda:0`` when a CUDA device is present, else ``cpu``.

    Raises :class:`ConfigError` when CUDA is asked for but not available."""
    import torch

    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if (device.startswith("cuda") or device.isdigit()) and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA device is available here; use --device cpu or auto")
    if device.isdigit():
        return f"cuda:{device}"
    return device


def usable_cores() -> int:
    """CPU cores this process may run on."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def use_all_cores() -> None:
    """Give torch every usable core (Ultralytics sets ``OMP_NUM_THREADS=1`` when imported)."""
    import torch

    cores = usable_cores()
    if torch.get_num_threads() != cores:
        torch.set_num_threads(cores)


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    """Compute dtype for ``precision`` (``auto``, ``fp32``, ``bf16``, ``fp16``) on a torch device.

    ``auto`` is fp16 on CUDA and fp32 elsewhere; fp16 needs CUDA."""
    import torch

    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("--precision fp16 needs a CUDA device; on CPU use bf16 or fp32")
    if precision not in ("fp32", "bf16", "fp16"):
        raise ConfigError(f"--precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
