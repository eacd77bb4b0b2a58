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


class ZeroInitialised(nn.Module):
    """Two residual blocks whose last BatchNorm scale starts at zero and a layer scale of equal
    constants, as untrained models ship (ResNet's zero_init_last, ConvNeXt's 1e-6 gamma); `shared`
    calls the second block's module twice instead."""

    def __init__(self, width: int = 8, shared: bool = False):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.blocks = nn.ModuleList()
        for _ in range(2):
            block = nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))
            nn.init.zeros_(block[1].weight)
            self.blocks.append(block)
        self.gamma = nn.ParameterList([nn.Parameter(torch.full((width, 1, 1), 1e-6)) for _ in range(2)])
        self.shared = shared

    def forward(self, x):
        x = self.stem(x)
        for i in range(2):
            x = x + self.gamma[i] * self.blocks[1 if self.shared else i](x)
        return x


def zero_initialised(width: int = 8, shared: bool = False) -> ZeroInitialised:
    return ZeroInitialised(width, shared)


class Failing(nn.Module):
    """A model whose forward fails for the input it is given (a fixed-size model called at another size)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        if x.shape[-1] != 32:
            raise ValueError("this model takes 32x32 inputs")
        return self.conv(x)


def failing() -> Failing:
    return Failing()
