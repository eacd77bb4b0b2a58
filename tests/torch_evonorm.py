"""EvoNorm-S0 (Liu et al., "Evolving Normalization-Activation Layers", arXiv 2004.02967, Table 1: y = x·σ(v·x) /
s_{w,h,c/g}(x) · γ + β, s the standard deviation over each group of C/G channels and all positions; v, γ and β learned
per channel, 3C parameters; tests/torch_cnn_patterns.py writes the norm) in a small residual net of conv → EvoNorm-S0
pairs, as the paper puts it in place of BN-ReLU."""

from __future__ import annotations

import torch
from torch import nn

from torch_cnn_patterns import EvoNormS0


class EvoNormNet(nn.Module):
    """A stem conv, one residual pair of 3×3 convs each followed by EvoNorm-S0, a global pool and a linear head."""

    def __init__(self, width: int = 16, groups: int = 4, classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, 2, 1, bias=False)
        self.norm0 = EvoNormS0(width, groups)
        self.conv1 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.norm1 = EvoNormS0(width, groups)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.norm2 = EvoNormS0(width, groups)
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        x = self.norm0(self.stem(x))
        x = x + self.norm2(self.conv2(self.norm1(self.conv1(x))))
        return self.head(x.mean((2, 3)))


INPUT_SHAPE = (3, 16, 16)


def evonorm_model() -> nn.Module:
    """The net, seeded, in eval mode."""
    torch.manual_seed(0)
    return EvoNormNet().eval()
