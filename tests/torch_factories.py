"""A tiny torch module factory, read by the tests as `torch:torch_factories:tiny` (needs torch)."""

from __future__ import annotations

import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self, width: int = 8, classes: int = 4):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.act = nn.ReLU()
        self.mix = nn.Conv2d(width, width, 1, bias=False)
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        x = self.mix(self.act(self.stem(x)))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def tiny(width: int = 8, classes: int = 4) -> Tiny:
    return Tiny(width, classes)
