"""Torch modules written here for GhostNet (Han et al. 2020, "GhostNet: More Features from Cheap Operations").

A ghost module makes half its output channels with a 1×1 conv and the other half from those with a cheap 3×3
depthwise conv, concatenated. Its squeeze-and-excitation gates with a hard sigmoid that some implementations
write as `torch.clamp(x, 0, 1)` (bounds other than relu6's).
"""

from __future__ import annotations

import torch
from torch import nn


class _Ghost(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.primary = nn.Sequential(nn.Conv2d(c_in, c_out // 2, 1, bias=False), nn.BatchNorm2d(c_out // 2), nn.ReLU())
        self.cheap = nn.Sequential(nn.Conv2d(c_out // 2, c_out // 2, 3, padding=1, groups=c_out // 2, bias=False), nn.BatchNorm2d(c_out // 2), nn.ReLU())

    def forward(self, x):
        y = self.primary(x)
        return torch.cat((y, self.cheap(y)), 1)


class _ClampedExcitation(nn.Module):
    """Squeeze-and-excitation gated by clamp(x, 0, 1)."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x):
        gate = self.expand(torch.relu(self.reduce(x.mean((2, 3), keepdim=True))))
        return x * torch.clamp(gate, min=0.0, max=1.0)


class GhostBottleneck(nn.Module):
    """Stem, a ghost bottleneck (ghost expand, excitation, ghost project, residual) and a classifier."""

    def __init__(self, width: int = 16, classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, stride=2, padding=1)
        self.expand = _Ghost(width, 3 * width)
        self.se = _ClampedExcitation(3 * width, width)
        self.project = _Ghost(3 * width, width)
        self.fc = nn.Linear(width, classes)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        x = x + self.project(self.se(self.expand(x)))
        return self.fc(x.mean((2, 3)))
