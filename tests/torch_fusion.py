"""A two-level BiFPN written here from the EfficientDet paper (Tan, Pang, Le, arXiv 1911.09070): its fast
normalised fusion (eq. 3, O = Σ_i w_i·I_i / (ε + Σ_j w_j), each w_i ≥ 0 by a ReLU on a learned weight, one
weight per input), a depthwise separable conv after each fusion, and one prediction conv shared by both
levels. No batch norm after a conv, so that every exporter's file holds PyTorch's own parameter count.

`bifpn(fixed=True)` fuses with fixed numbers (0.25 and 0.75, halved) instead: no parameters, which a
reading of the learned fusion must not invent.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class FastFusion(nn.Module):
    """Eq. 3 of the paper over `inputs` tensors of one shape, stacked on a new last axis and summed."""

    def __init__(self, inputs: int, epsilon: float = 1e-4):
        super().__init__()
        self.weight = nn.Parameter(torch.linspace(0.6, 1.4, inputs))  # distinct values, as training leaves them
        self.epsilon = epsilon

    def forward(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        w = F.relu(self.weight)
        total = w.sum() + self.epsilon
        return torch.stack([t * w[i] / total for i, t in enumerate(tensors)], dim=-1).sum(dim=-1)


class FixedMix(nn.Module):
    """Two tensors mixed by fixed numbers, written like the fusion (scaled, divided, stacked, summed)."""

    def forward(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack([tensors[0] * 0.25 / 2.0, tensors[1] * 0.75 / 2.0], dim=-1).sum(dim=-1)


class SeparableConv(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv_dw = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.conv_pw = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_pw(self.conv_dw(x))


class TwoLevelBiFPN(nn.Module):
    """P3 (stride 2) and P4 (stride 4) of a small stem; a top-down node at P3 fusing P3 and P4 upsampled (two
    weights), a bottom-up node at P4 fusing P4, a lateral conv of it and the new P3 max-pooled (three
    weights); the prediction conv applied to both outputs (one module called twice: its parameters once)."""

    def __init__(self, channels: int = 16, fixed: bool = False):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, stride=2, padding=1)
        self.down = nn.Conv2d(channels, channels, 3, stride=2, padding=1)
        self.lateral = nn.Conv2d(channels, channels, 1)
        self.td_fuse = FixedMix() if fixed else FastFusion(2)
        self.td_conv = SeparableConv(channels)
        self.out_fuse = FastFusion(3)
        self.out_conv = SeparableConv(channels)
        self.predict = nn.Conv2d(channels, 9, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p3 = self.stem(x)
        p4 = self.down(p3)
        p3_out = self.td_conv(F.silu(self.td_fuse([p3, F.interpolate(p4, scale_factor=2.0, mode="nearest")])))
        p4_out = self.out_conv(F.silu(self.out_fuse([p4, self.lateral(p4), F.max_pool2d(p3_out, 3, 2, 1)])))
        return self.predict(p3_out), self.predict(p4_out)


def bifpn(fixed: bool = False) -> nn.Module:
    return TwoLevelBiFPN(fixed=fixed).eval()
