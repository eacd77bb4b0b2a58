"""Blocked local self-attention with halos, written here from HaloNet (Vaswani et al., "Scaling Local Self-Attention
for Parameter Efficient Visual Backbones", arXiv 2103.12731, §2.2, Fig. 2): the map is cut into b × b query blocks;
each block attends to its own (b + 2h) × (b + 2h) neighbourhood of keys and values, the padded map unfolded into
overlapping windows (`Tensor.unfold(dim, b + 2h, b)` along H, then W). q, k and v are 1×1 convs; per head,
softmax(q·kᵀ/√d)·v, and the blocks put back in place."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class HaloAttention(nn.Module):
    def __init__(self, dim: int, heads: int, block: int, halo: int):
        super().__init__()
        self.heads, self.block, self.halo = heads, block, halo
        self.width = dim // heads
        self.scale = self.width ** -0.5
        self.q = nn.Conv2d(dim, dim, 1, bias=False)
        self.kv = nn.Conv2d(dim, 2 * dim, 1, bias=False)

    def forward(self, x):
        n, c, h, w = x.shape
        b, d, window = self.block, self.width, self.block + 2 * self.halo
        rows, cols = h // b, w // b
        q = self.q(x).reshape(n * self.heads, d, rows, b, cols, b).permute(0, 2, 4, 3, 5, 1).reshape(n * self.heads, rows * cols, b * b, d)
        kv = F.pad(self.kv(x), [self.halo] * 4).unfold(2, window, b).unfold(3, window, b)  # N × 2C × rows × cols × window × window
        kv = kv.reshape(n * self.heads, 2 * d, rows * cols, window * window).permute(0, 2, 3, 1)
        k, v = torch.split(kv, d, dim=-1)
        weights = ((q * self.scale) @ k.transpose(-1, -2)).softmax(-1)
        out = (weights @ v).reshape(n * self.heads, rows, cols, b, b, d).permute(0, 5, 1, 3, 2, 4)
        return out.reshape(n, c, h, w)


class HaloNet(nn.Module):
    """A stride-2 conv stem, a residual halo-attention block between 1×1 convs, a global pool and a linear head."""

    def __init__(self, dim: int = 16, heads: int = 2, block: int = 4, halo: int = 1, classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(3, dim, 3, 2, 1)
        self.reduce = nn.Conv2d(dim, dim, 1)
        self.attn = HaloAttention(dim, heads, block, halo)
        self.expand = nn.Conv2d(dim, dim, 1)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        x = x + self.expand(torch.relu(self.attn(torch.relu(self.reduce(x)))))
        return self.head(x.mean((2, 3)))


HALO_SHAPES = {"halo_blocks": (3, 16, 16), "halo_one_block": (3, 8, 8)}
"""kind → input shape: 2 × 2 query blocks of 4 × 4 on the 8 × 8 map, or one block (the index is 1 × 8)."""


def halo_model(kind: str = "halo_blocks") -> nn.Module:
    """The net, seeded, in eval mode (the shape is the kind's input)."""
    torch.manual_seed(0)
    return HaloNet().eval()
