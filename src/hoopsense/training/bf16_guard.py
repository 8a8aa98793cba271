"""Work around a oneDNN bug that made bf16 training on CPU go NaN.

On CPUs with AVX512-BF16 but no AMX, oneDNN's bf16 weight-gradient kernel
(``jit_bf16:avx512_core_bf16``, backward_weights; oneDNN 3.x as bundled with
torch 2.x) returns garbage when a convolution's input is shorter than its
kernel along an axis: values up to 1e35, often inf or NaN, different on every
call. The forward pass and the input gradients are right, and so is fp32.
R(2+1)D-18, R3D-18 and MC3-18 on 16-frame clips hit it in ``layer4``, whose
3-tap temporal convolutions see 2 frames; AdamW then turns one such gradient
element into a NaN weight and every later loss is NaN. (Measured: bf16
weight gradients of those three layers up to 6.4e34 on a real training batch
at 16x112x112, against at most ~150 for the whole fp32 gradient norm.)

:func:`fp32_short_input_convs` runs exactly those convolutions in fp32 under
autocast; every other layer keeps bf16's speed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn


def _forward(conv: nn.Module, forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    kernel = conv.kernel_size  # type: ignore[attr-defined]
    if torch.is_autocast_enabled(x.device.type) and any(n < k for n, k in zip(x.shape[2:], kernel, strict=False)):
        with torch.autocast(x.device.type, enabled=False):
            return forward(x.float())
    return forward(x)


def fp32_short_input_convs(model: nn.Module) -> nn.Module:
    """Make every convolution of ``model`` run in fp32, under autocast, when its input is
    shorter than its kernel along some axis (see the module docstring). Returns ``model``."""
    for module in model.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            module.forward = functools.partial(_forward, module, module.forward)  # type: ignore[method-assign]
    return model
