"""OSNet x0.25, the omni-scale person re-identification network, in torch.

The architecture follows the published OSNet design (Zhou et al., "Omni-Scale
Feature Learning for Person Re-Identification", ICCV 2019): a 7x7 stem, three
stages of omni-scale residual blocks whose four branches stack 1 to 4
lightweight 3x3 convolutions (pointwise then depthwise) and are fused by a
shared channel gate, a 1x1 head, global average pooling and a 512-d
fully connected embedding. Parameter names follow the torchreid state-dict
layout (``conv1.conv.weight``, ``conv2.0.conv2a.conv1.weight``, ...,
``fc.0.weight``, ``classifier.weight``) so that its published weights load
with ``strict=True``.

In eval mode :meth:`OSNet.forward` returns the 512-d feature before the
classifier (the re-ID embedding, not normalised).
"""

from __future__ import annotations

import torch
from torch import nn

#: Stage widths of OSNet x1.0; x0.25 divides them by four.
_WIDTHS_X1 = (64, 256, 384, 512)
_BLOCKS = (2, 2, 2)


class ConvBnRelu(nn.Module):
    """Convolution (no bias), batch norm, and ReLU unless ``relu=False``."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, padding: int = 0, relu: bool = True
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return torch.relu(x) if self.relu else x


class LightConv3x3(nn.Module):
    """A pointwise 1x1 convolution, a depthwise 3x3 convolution, batch norm and ReLU."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False, groups=c_out)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv2(self.conv1(x))))


class ChannelGate(nn.Module):
    """Squeeze-and-excitation style gate shared by the four streams of a block (reduction 16)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = channels // reduction
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.mean(dim=(2, 3), keepdim=True)
        w = torch.sigmoid(self.fc2(torch.relu(self.fc1(w))))
        return x * w


class OSBlock(nn.Module):
    """Omni-scale residual bottleneck: streams of 1, 2, 3 and 4 light 3x3 convolutions, gated and summed."""

    def __init__(self, c_in: int, c_out: int, reduction: int = 4) -> None:
        super().__init__()
        mid = c_out // reduction
        self.conv1 = ConvBnRelu(c_in, mid)
        self.conv2a = LightConv3x3(mid, mid)
        self.conv2b = nn.Sequential(*(LightConv3x3(mid, mid) for _ in range(2)))
        self.conv2c = nn.Sequential(*(LightConv3x3(mid, mid) for _ in range(3)))
        self.conv2d = nn.Sequential(*(LightConv3x3(mid, mid) for _ in range(4)))
        self.gate = ChannelGate(mid)
        self.conv3 = ConvBnRelu(mid, c_out, relu=False)
        self.downsample = ConvBnRelu(c_in, c_out, relu=False) if c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(x)
        y = (
            self.gate(self.conv2a(y))
            + self.gate(self.conv2b(y))
            + self.gate(self.conv2c(y))
            + self.gate(self.conv2d(y))
        )
        y = self.conv3(y)
        identity = self.downsample(x) if self.downsample is not None else x
        return torch.relu(y + identity)


def _stage(c_in: int, c_out: int, blocks: int, reduce: bool) -> nn.Sequential:
    layers: list[nn.Module] = [OSBlock(c_in, c_out)]
    layers += [OSBlock(c_out, c_out) for _ in range(blocks - 1)]
    if reduce:  # transition: 1x1 convolution then 2x2 average pooling
        layers.append(nn.Sequential(ConvBnRelu(c_out, c_out), nn.AvgPool2d(2, stride=2)))
    return nn.Sequential(*layers)


class OSNet(nn.Module):
    """OSNet with stage widths ``widths`` (stem, stage 2, 3, 4) and a ``feature_dim`` embedding.

    Input: float ``(N, 3, H, W)`` RGB normalised with the ImageNet mean/std (the
    published weights were trained at 256x128). Output in eval mode: ``(N,
    feature_dim)`` float features (after the embedding's batch norm and ReLU);
    in train mode with ``num_classes > 0``: ``(N, num_classes)`` identity logits.
    """

    def __init__(self, widths: tuple[int, int, int, int], num_classes: int = 0, feature_dim: int = 512) -> None:
        super().__init__()
        c0, c1, c2, c3 = widths
        self.feature_dim = feature_dim
        self.conv1 = ConvBnRelu(3, c0, kernel=7, stride=2, padding=3)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv2 = _stage(c0, c1, _BLOCKS[0], reduce=True)
        self.conv3 = _stage(c1, c2, _BLOCKS[1], reduce=True)
        self.conv4 = _stage(c2, c3, _BLOCKS[2], reduce=False)
        self.conv5 = ConvBnRelu(c3, c3)
        self.fc = nn.Sequential(nn.Linear(c3, feature_dim), nn.BatchNorm1d(feature_dim), nn.ReLU(inplace=True))
        # the identity classifier is only needed for training; an embedder builds the network without it
        self.classifier = nn.Linear(feature_dim, num_classes) if num_classes > 0 else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` normalised RGB -> ``(N, feature_dim)`` embeddings (not normalised)."""
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.conv4(self.conv3(self.conv2(x))))
        return self.fc(x.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.features(x)
        if self.training and self.classifier is not None:
            return self.classifier(v)
        return v


def osnet_x0_25(num_classes: int = 0) -> OSNet:
    """OSNet x0.25 (stage widths 16, 64, 96, 128; 512-d embedding), randomly initialised; without a
    classifier when ``num_classes`` is 0."""
    c0, c1, c2, c3 = (w // 4 for w in _WIDTHS_X1)
    return OSNet((c0, c1, c2, c3), num_classes=num_classes)
