"""Attention on part of a feature map's channels, written here from the papers' descriptions.

SHViT (arXiv 2401.16456, §4.2 "Single-Head Self-Attention"): the channels are split into a part that attends
and the rest, left as it is; the attending part is normalised (GroupNorm of one group), projected by a 1 × 1
conv to a single head's query, key and value, attends over every position, and is concatenated with the rest
before a ReLU and a 1 × 1 projection with BN.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvNorm(nn.Sequential):
    """A conv without bias and its BatchNorm2d (the exporters that fold constants merge the two)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out)


class SingleHeadPartial(nn.Module):
    """SHViT's single-head attention on the first `part` channels; the rest joins again before the projection."""

    def __init__(self, channels: int = 16, part: int = 4, key: int = 8):
        super().__init__()
        self.channels, self.part, self.key = channels, part, key
        self.norm = nn.GroupNorm(1, part)
        self.qkv = ConvNorm(part, 2 * key + part)
        self.proj = nn.Sequential(nn.ReLU(), ConvNorm(channels, channels))

    def forward(self, x):
        n, _, h, w = x.shape
        attending, rest = torch.split(x, [self.part, self.channels - self.part], dim=1)
        q, k, v = torch.split(self.qkv(self.norm(attending)), [self.key, self.key, self.part], dim=1)
        q, k, v = q.flatten(2), k.flatten(2), v.flatten(2)
        weights = ((q.transpose(-2, -1) @ k) * self.key ** -0.5).softmax(dim=-1)
        attended = (v @ weights.transpose(-2, -1)).reshape(n, self.part, h, w)
        return self.proj(torch.cat([attended, rest], dim=1))


class Residual(nn.Module):
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return x + self.inner(x)


class WindowNet(nn.Module):
    """A conv stem to 16 channels at half the input's size, one residual mixer, pooling and a classifier."""

    def __init__(self, mixer: nn.Module, classes: int = 10):
        super().__init__()
        self.stem = ConvNorm(3, 16, 3, stride=2)
        self.mixer = Residual(mixer)
        self.head = nn.Linear(16, classes)

    def forward(self, x):
        return self.head(self.mixer(self.stem(x)).mean((2, 3)))


def window_model(kind: str = "single_head") -> nn.Module:
    """A small network around one mixer: `single_head` (SHViT)."""
    from torch_named import trained_batchnorm

    torch.manual_seed(0)
    mixers = {"single_head": SingleHeadPartial}
    return trained_batchnorm(WindowNet(mixers[kind]()).eval())
