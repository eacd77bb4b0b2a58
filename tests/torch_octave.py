"""Torch modules written here for weights sliced into blocks: octave convolution.

Octave convolution (Chen et al. 2019, "Drop an Octave", Fig. 2): the feature maps split into a
high-frequency part (1 − α of the channels, full resolution) and a low-frequency part (α of them, half the
resolution). One C_out×C_in×k×k weight; its blocks convolve high → high, high → low (after a 2×2 average
pool), low → high (then nearest upsampling ×2) and low → low; the outputs of each frequency are summed.
The first layer has only a high input, the last only a high output. PyTorch counts the weight once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class OctaveConv(nn.Conv2d):
    """One octave conv: `mode` first (high in, both out), normal (both in and out) or last (both in, high out)."""

    def __init__(self, c_in: int, c_out: int, alpha: float = 0.5, mode: str = "normal"):
        super().__init__(c_in, c_out, 3, padding=1, bias=False)
        self.h_in = c_in if mode == "first" else c_in - int(c_in * alpha)
        self.h_out = c_out if mode == "last" else c_out - int(c_out * alpha)
        self.mode = mode

    def _conv(self, x, rows: slice, cols: slice):
        return F.conv2d(x, self.weight[rows, cols], padding=1)

    def forward(self, high, low=None):
        h, l_in = slice(0, self.h_out), slice(self.h_in, None)
        high_out = self._conv(high, h, slice(0, self.h_in))
        if low is not None:
            high_out = high_out + F.interpolate(self._conv(low, h, l_in), scale_factor=2, mode="nearest")
        if self.mode == "last":
            return high_out, None
        low_out = self._conv(F.avg_pool2d(high, 2), slice(self.h_out, None), slice(0, self.h_in))
        if low is not None:
            low_out = low_out + self._conv(low, slice(self.h_out, None), l_in)
        return high_out, low_out


class _OctaveBlock(nn.Module):
    """An octave conv, a batch norm per frequency and ReLU."""

    def __init__(self, c_in: int, c_out: int, mode: str):
        super().__init__()
        self.conv = OctaveConv(c_in, c_out, mode=mode)
        self.h_bn = nn.BatchNorm2d(self.conv.h_out)
        self.l_bn = nn.BatchNorm2d(c_out - self.conv.h_out) if mode != "last" else None

    def forward(self, high, low=None):
        high, low = self.conv(high, low)
        return torch.relu(self.h_bn(high)), (torch.relu(self.l_bn(low)) if low is not None else None)


class OctaveNet(nn.Module):
    """A stem, three octave blocks (first, normal, last) and a classifier. At width 32 torch.export keeps the
    Slices of each weight (at width 16 its optimiser folds every block into an initializer of its own)."""

    def __init__(self, width: int = 32, classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, stride=2, padding=1)
        self.block1 = _OctaveBlock(width, width, "first")
        self.block2 = _OctaveBlock(width, width, "normal")
        self.block3 = _OctaveBlock(width, 2 * width, "last")
        self.fc = nn.Linear(2 * width, classes)

    def forward(self, x):
        high, low = self.block1(torch.relu(self.stem(x)))
        high, low = self.block2(high, low)
        high, _ = self.block3(high, low)
        return self.fc(high.mean((2, 3)))


class SlicedTwice(nn.Module):
    """Two convs of blocks of one weight that overlap (`rows` 0:6 and 2:8 of 8) or leave rows unread (0:3 and 3:6 of 8)."""

    def __init__(self, overlap: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 4, 3, 3))
        self.rows = ((0, 6), (2, 8)) if overlap else ((0, 3), (3, 6))

    def forward(self, x):
        return torch.cat([F.conv2d(x, self.weight[a:b], padding=1) for a, b in self.rows], 1)


def octave_net() -> nn.Module:
    """The factory `torch:` reads; trained-looking norms, as exported models have them."""
    from torch_named import trained_batchnorm

    torch.manual_seed(0)
    return trained_batchnorm(OctaveNet().eval())
