"""A per-frame 2D CNN with temporal average pooling: the classic frame-based baseline."""

from __future__ import annotations

import torch
from torch import nn


class FrameCNN(nn.Module):
    """EfficientNet-B0 applied to every frame, features averaged over time, then a linear head.

    Input float ``(B, 3, T, H, W)`` like the video networks; output ``(B, classes)``.
    Parameter names follow torchvision's ``efficientnet_b0`` (``features.*``)
    with the head named ``fc`` like the video networks.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        from torchvision.models import efficientnet_b0

        self.features = efficientnet_b0(weights=None).features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        feats = self.pool(self.features(frames)).flatten(1).view(b, t, -1).mean(dim=1)
        return self.fc(self.dropout(feats))


def from_torchvision_state(state: dict) -> dict:
    """Rename torchvision ``efficientnet_b0`` keys (``classifier.1.*``) to :class:`FrameCNN`'s (``fc.*``)."""
    return {("fc." + k.split(".", 2)[2] if k.startswith("classifier.1.") else k): v for k, v in state.items()}
