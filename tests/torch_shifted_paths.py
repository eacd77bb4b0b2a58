"""NASNet's factorized reduction (Zoph et al. 2018, arXiv 1707.07012, as its reference code builds the path that
halves a cell's input): two paths of a stride-2 average pool and a 1×1 conv, the second on the input shifted by one
pixel (a zero padding of −1 before and +1 after each spatial axis), concatenated and batch-normalised."""

from __future__ import annotations

import torch
from torch import nn


class FactorizedReduction(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.path_1 = nn.Sequential(nn.AvgPool2d(1, stride=2, count_include_pad=False), nn.Conv2d(c_in, c_out // 2, 1, bias=False))
        self.path_2 = nn.Sequential(nn.ZeroPad2d((-1, 1, -1, 1)), nn.AvgPool2d(1, stride=2, count_include_pad=False),
                                    nn.Conv2d(c_in, c_out - c_out // 2, 1, bias=False))
        self.final_path_bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return self.final_path_bn(torch.cat([self.path_1(x), self.path_2(x)], 1))


class ShiftedNet(nn.Module):
    """A stem conv with its BN and ReLU, a factorized reduction, and a classifier."""

    def __init__(self):
        super().__init__()
        self.conv_0 = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.reduction = FactorizedReduction(8, 12)
        self.head = nn.Linear(12, 5)

    def forward(self, x):
        return self.head(self.reduction(self.conv_0(x)).mean((2, 3)))


def shifted_net() -> nn.Module:
    """The net, seeded, in eval mode, its batch norms given trained-looking statistics."""
    from torch_named import trained_batchnorm

    torch.manual_seed(0)
    return trained_batchnorm(ShiftedNet().eval())
