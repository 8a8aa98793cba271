"""Choosing the torch device for the detector and the recognizer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hoopsense.errors import ConfigError, field_name

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # the one list: recognizer, training and the CLI use it


def check_device_name(device: str, *, owner: object = "device") -> None:
    """Raise :class:`ConfigError` (field ``device`` of ``owner``) unless ``device`` is a name
    :func:`pick_device` understands."""
    ok = isinstance(device, str) and (
        device in ("auto", "cpu", "cuda", "mps")
        or (device.startswith("cuda:") and device[5:].isdigit())
        or device.isdigit()
    )
    if not ok:
        raise ConfigError(f"device must be {DEVICE_CHOICES}, got {device!r}", field=field_name(owner, "device"))


def pick_device(device: str) -> str:
    """Resolve ``auto`` to ``cuda:0`` when a CUDA device is present, else ``cpu``.

    Raises :class:`ConfigError` when CUDA is asked for but not available."""
    import torch

    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if (device.startswith("cuda") or device.isdigit()) and not torch.cuda.is_available():
        raise ConfigError(f"device {device}: no CUDA device is available here; use cpu or auto", field="device")
    if device.isdigit():
        return f"cuda:{device}"
    return device


def usable_cores() -> int:
    """CPU cores this process may run on."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def openvino_available() -> bool:
    """True when the ``openvino`` package can be imported (the CPU engine of the detector and recognizer)."""
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def native_bf16() -> bool:
    """True when this CPU computes bfloat16 natively (AVX512-BF16 or AMX), where bf16 inference
    runs about 2.5x faster than fp32; read from ``/proc/cpuinfo`` (False where it cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool({"avx512_bf16", "amx_bf16"} & flags)
    except OSError:
        pass
    return False


def pick_dtype(precision: str, device: torch.device, *, inference: bool = False) -> torch.dtype:
    """Compute dtype for ``precision`` (``auto``, ``fp32``, ``bf16``, ``fp16``) on a torch device.

    ``auto`` is fp16 on CUDA; on the CPU it is bf16 for ``inference`` on a CPU
    with native bf16 (top-1 agreement with fp32 measured at 99% or more on
    trained checkpoints, see ``tests/training/test_learning.py``) and fp32
    otherwise (training keeps fp32 on the CPU). fp16 needs CUDA."""
    import torch

    if precision == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if inference and device.type == "cpu" and native_bf16() else torch.float32
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("precision fp16 needs a CUDA device; on CPU use bf16 or fp32", field="precision")
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}", field="precision")
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
