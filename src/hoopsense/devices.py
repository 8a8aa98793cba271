"""Choosing the torch device for the detector and the recognizer."""

from __future__ import annotations

from hoopsense.errors import ConfigError

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
