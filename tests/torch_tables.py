"""Attention blocks with a learned relative position bias, written here from the papers' descriptions.

LeViT (arXiv 2104.01136, §4.2 "Attention bias"): every head adds to its logits a learned bias per
relative offset (|Δy|, |Δx|) between two positions of the r × r window, a table of heads × (number
of distinct offsets) read through a fixed index of N × N. Swin (arXiv 2103.14030, §3.2 "Relative
position bias"): a table of (2M − 1)² × heads read through the index of signed offsets, viewed as
N × N × heads and permuted to heads × N × N. PyTorch counts each table once; the index is a buffer.
"""

from __future__ import annotations

import torch
from torch import nn


def _points(side: int) -> list[tuple[int, int]]:
    return [(y, x) for y in range(side) for x in range(side)]


class OffsetBiasAttention(nn.Module):
    """Multi-head self-attention over the positions of a side × side feature map, a learned bias per head
    and absolute offset added to the logits (LeViT), then a 1 × 1 projection back to the channels."""

    def __init__(self, channels: int = 8, heads: int = 2, side: int = 4):
        super().__init__()
        self.heads, self.side = heads, side
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        offsets: dict[tuple[int, int], int] = {}
        index = [offsets.setdefault((abs(p[0] - q[0]), abs(p[1] - q[1])), len(offsets)) for p in _points(side) for q in _points(side)]
        self.attention_biases = nn.Parameter(torch.randn(heads, len(offsets)))
        self.register_buffer("attention_bias_idxs", torch.tensor(index).view(side * side, side * side), persistent=False)

    def forward(self, x):
        n, c, h, w = x.shape
        q, k, v = self.qkv(x).reshape(n, 3, self.heads, c // self.heads, h * w).unbind(1)
        logits = q.transpose(-2, -1) @ k * (c // self.heads) ** -0.5
        logits = logits + self.attention_biases[:, self.attention_bias_idxs]
        y = v @ logits.softmax(-1).transpose(-2, -1)
        return self.proj(y.reshape(n, c, h, w))


class RelativePositionBias(nn.Module):
    """Swin's bias: a (2M − 1)² × heads table, gathered by the signed offsets of every pair of positions."""

    def __init__(self, heads: int, side: int):
        super().__init__()
        self.side = side
        self.relative_position_bias_table = nn.Parameter(torch.randn((2 * side - 1) ** 2, heads))
        index = [(p[0] - q[0] + side - 1) * (2 * side - 1) + p[1] - q[1] + side - 1 for p in _points(side) for q in _points(side)]
        self.register_buffer("relative_position_index", torch.tensor(index), persistent=False)

    def forward(self):
        n = self.side * self.side
        return self.relative_position_bias_table[self.relative_position_index].view(n, n, -1).permute(2, 0, 1).unsqueeze(0)


class WindowBiasAttention(OffsetBiasAttention):
    """The same attention with Swin's relative position bias, a module of its own."""

    def __init__(self, channels: int = 8, heads: int = 2, side: int = 4):
        super().__init__(channels, heads, side)
        del self.attention_biases, self.attention_bias_idxs
        self.rel_pos = RelativePositionBias(heads, side)

    def forward(self, x):
        n, c, h, w = x.shape
        q, k, v = self.qkv(x).reshape(n, 3, self.heads, c // self.heads, h * w).unbind(1)
        logits = q.transpose(-2, -1) @ k * (c // self.heads) ** -0.5 + self.rel_pos()
        y = v @ logits.softmax(-1).transpose(-2, -1)
        return self.proj(y.reshape(n, c, h, w))


class TableBlock(nn.Module):
    """A conv stem to a side × side map, then the attention of `kind`."""

    def __init__(self, kind: str = "offsets", channels: int = 8, heads: int = 2, side: int = 4):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, stride=2, padding=1)
        self.attn = (OffsetBiasAttention if kind == "offsets" else WindowBiasAttention)(channels, heads, side)

    def forward(self, x):
        return self.attn(self.stem(x))


def table_block(kind: str = "offsets") -> nn.Module:
    """The block, seeded, in eval mode; input 3 × 8 × 8."""
    torch.manual_seed(0)
    return TableBlock(kind).eval()
