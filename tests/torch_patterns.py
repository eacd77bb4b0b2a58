"""Torch modules written here that reproduce what real model libraries export, one pattern each.

Each is built by `pattern(kind)` (the factory `torch:torch_patterns:pattern` reads, with `--arg
kind=...`) at the input shape in INPUTS. They are written from the papers' descriptions and from
what the exports contain, not copied from any library.
"""

from __future__ import annotations

import torch
from torch import nn


class BatchNormAct(nn.BatchNorm2d):
    """A batch norm with its activation inside (one module holds the parameters and the act)."""

    def __init__(self, channels: int):
        super().__init__(channels)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(super().forward(x))


class PreActivation(nn.Module):
    """A pre-activation residual block: norm + act before each conv, a norm + act after the sum."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1)
        self.bn1 = BatchNormAct(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.norm = BatchNormAct(width)

    def forward(self, x):
        x = self.conv1(x)
        return self.norm(self.conv2(self.bn1(x)) + x)


PATTERNS = {
    "preact": (PreActivation, (3, 16, 16)),
}
"""kind → (module class, input shape C, H, W)."""


def pattern(kind: str = "preact", **kwargs) -> nn.Module:
    """The pattern's module, seeded, in eval mode."""
    torch.manual_seed(0)
    return PATTERNS[kind][0](**kwargs).eval()
