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

The same kernel fails on other shapes with no simple rule: a (1, 3, 3)
spatial convolution from 128 to 230 channels (R(2+1)D-18's ``layer2`` on
8-frame 112x112 clips, whose input there is 4 x 28 x 28) gives NaN weight
gradients for inputs of 1 to 4 frames at 28 x 28, not at 14 x 14 nor at 8
frames, and not with 128 or 144 output channels.

:func:`fp32_short_input_convs` therefore runs a convolution in fp32 under
autocast when its input is shorter than its kernel, and otherwise probes each
new input shape once when training: the bf16 weight gradient of a random
input of that shape against the fp32 one (a fraction of a second per
convolution and shape); a shape whose bf16 gradient is not finite or more
than 10% off runs in fp32 from then on. Every other convolution keeps bf16's
speed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

TOLERANCE = 0.1  # largest relative error of a bf16 weight gradient (about 0.003-0.004 measured where it works)


def _probe(conv: nn.Module, shape: torch.Size, channels_last: bool) -> bool:
    """True when ``conv``'s bf16 weight gradient for inputs of ``shape`` is wrong (see the module docstring)."""
    weight = conv.weight.detach()  # type: ignore[union-attr]
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(tuple(shape), generator=generator).to(weight.device)
    if channels_last and x.dim() == 5:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    grads = []
    for dtype in (torch.bfloat16, torch.float32):
        w = weight.float().clone().requires_grad_(True)
        with torch.enable_grad(), torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=dtype != torch.float32):
            out = conv._conv_forward(x, w, None)  # type: ignore[operator]
            out.float().sum().backward()
        grads.append(w.grad)
    fast, ref = grads
    if fast is None or ref is None or not torch.isfinite(fast).all():
        return True
    return bool((fast - ref).abs().max() > TOLERANCE * ref.abs().max().clamp_min(1e-12))


def _forward(
    conv: nn.Module, forward: Callable[[torch.Tensor], torch.Tensor], wrong: dict, x: torch.Tensor
) -> torch.Tensor:
    if not torch.is_autocast_enabled(x.device.type):
        return forward(x)
    kernel = conv.kernel_size  # type: ignore[attr-defined]
    fp32 = any(n < k for n, k in zip(x.shape[2:], kernel, strict=False))
    if not fp32 and torch.is_grad_enabled() and x.device.type == "cpu" and not conv.transposed:  # type: ignore[attr-defined]
        channels_last = x.dim() == 5 and x.is_contiguous(memory_format=torch.channels_last_3d)
        key = (tuple(x.shape), channels_last)
        if key not in wrong:
            wrong[key] = _probe(conv, x.shape, channels_last)
        fp32 = wrong[key]
    if fp32:
        with torch.autocast(x.device.type, enabled=False):
            return forward(x.float())
    return forward(x)


def fp32_short_input_convs(model: nn.Module) -> nn.Module:
    """Make every convolution of ``model`` run in fp32, under autocast, where oneDNN's bf16 weight gradient
    is wrong: inputs shorter than the kernel, and input shapes a one-off probe finds wrong (see the module
    docstring). Returns ``model``."""
    for module in model.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            wrong: dict = {}
            module.forward = functools.partial(_forward, module, module.forward, wrong)  # type: ignore[method-assign]
    return model
