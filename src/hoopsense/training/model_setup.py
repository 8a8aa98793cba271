"""Setting a network up for fine-tuning: initial weights, frozen layers, learning-rate schedule."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from hoopsense.errors import ConfigError, WeightsError
from hoopsense.recognizer.model import ARCHITECTURES, build_model

if TYPE_CHECKING:
    from hoopsense.training.loop import TrainConfig


def init_model(config: TrainConfig, n_classes: int) -> tuple[nn.Module, str]:
    """The network to train, with its initial weights as ``config.init`` asks, and a line saying which."""
    arch = ARCHITECTURES[config.architecture]
    if config.init == "none":
        return build_model(config.architecture, n_classes), "random (none asked)"
    if config.init == "auto" and not arch.has_pretrained:
        return build_model(config.architecture, n_classes), "random (no pretrained weights exist)"
    if config.init == "auto":
        try:
            return build_model(config.architecture, n_classes, init="pretrained"), f"{arch.pretrained_on} (torchvision)"
        except WeightsError as exc:
            warnings.warn(f"training from scratch: {exc}", stacklevel=2)
            return build_model(config.architecture, n_classes), "random (pretrained weights unavailable)"
    model = build_model(config.architecture, n_classes, init=config.init)
    return model, (f"{arch.pretrained_on} (torchvision)" if config.init == "pretrained" else str(config.init))


def _in_layer(name: str, layer: str) -> bool:
    return name == layer or name.startswith(layer + ".")


def freeze(model: nn.Module, prefixes: tuple[str, ...] | None) -> list[nn.Parameter]:
    """Train only the parameters under ``prefixes`` (all when None); returns those to optimise."""
    if not prefixes:
        return list(model.parameters())
    names = [n for n, _ in model.named_parameters()]
    for p in prefixes:
        if not any(_in_layer(n, p) for n in names):
            layers = ", ".join(dict.fromkeys(n.split(".")[0] for n in names))
            raise ConfigError(f"train_layers: no layer {p!r}; layers are {layers}", field="TrainConfig.train_layers")
    trainable = []
    for n, param in model.named_parameters():
        keep = any(_in_layer(n, p) for p in prefixes)
        param.requires_grad_(keep)
        if keep:
            trainable.append(param)
    return trainable


def frozen_batchnorm_eval(model: nn.Module) -> None:
    """Keep the running statistics of fully frozen normalisation layers."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
            p.requires_grad for p in module.parameters()
        ):
            module.eval()


def schedule(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """One linear warm-up to the peak learning rate, then cosine decay to zero."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def class_counts(records: Any, n: int) -> np.ndarray:
    """Clips per class index."""
    return np.bincount([r.label for r in records], minlength=n)
