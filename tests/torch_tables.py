"""Attention blocks with a learned relative position bias, and a positional encoding computed at run time,
written here from the papers' descriptions.

LeViT (arXiv 2104.01136, §4.2 "Attention bias"): every head adds to its logits a learned bias per
relative offset (|Δy|, |Δx|) between two positions of the r × r window, a table of heads × (number
of distinct offsets) read through a fixed index of N × N. Swin (arXiv 2103.14030, §3.2 "Relative
position bias"): a table of (2M − 1)² × heads read through the index of signed offsets, viewed as
N × N × heads and permuted to heads × N × N. PyTorch counts each table once; the index is a buffer.
Swin V2 (arXiv 2111.09883, §3.3 "Scaling up window resolution"): the bias computed by a small MLP (two layers, a ReLU
between) from the log-spaced signed offsets, sign(Δ)·log(1 + |Δ|); its parameters are the MLP's, not a table's.
DETR (arXiv 2005.12872, appendix A.4; after "Attention is all you need" §3.5): a fixed sine encoding of
the row and column of each position, the positions counted by a cumulative sum of a mask of ones,
sin and cos of them over a geometric range of frequencies, no parameters.
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
        logits = self.attention_biases[:, self.attention_bias_idxs] + logits  # the table first: the Add reads it first
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


class ZeroPositionBias(RelativePositionBias):
    """Swin's table initialised to zeros, as an untrained model holds it."""

    def __init__(self, heads: int, side: int):
        super().__init__(heads, side)
        nn.init.zeros_(self.relative_position_bias_table)


class PositionMlpBias(nn.Module):
    """Swin V2's continuous bias: an MLP from each pair's log-spaced signed offsets (Δy, Δx) to one value per head."""

    def __init__(self, heads: int, side: int, hidden: int = 32):
        super().__init__()
        self.side = side
        self.mlp = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, heads))
        offsets = torch.tensor([(p[0] - q[0], p[1] - q[1]) for p in _points(side) for q in _points(side)], dtype=torch.float32)
        self.register_buffer("offsets", offsets.sign() * offsets.abs().log1p(), persistent=False)

    def forward(self):
        n = self.side * self.side
        return self.mlp(self.offsets).view(n, n, -1).permute(2, 0, 1).unsqueeze(0)


class WindowBiasAttention(OffsetBiasAttention):
    """The same attention with Swin's relative position bias (or `bias`, another of the same interface), a module of its own."""

    def __init__(self, channels: int = 8, heads: int = 2, side: int = 4, bias: type[nn.Module] = RelativePositionBias):
        super().__init__(channels, heads, side)
        del self.attention_biases, self.attention_bias_idxs
        self.rel_pos = bias(heads, side)

    def forward(self, x):
        n, c, h, w = x.shape
        q, k, v = self.qkv(x).reshape(n, 3, self.heads, -1, h * w).unbind(1)  # the batch and a -1 (EfficientFormer V2)
        logits = q.transpose(-2, -1) @ k * (c // self.heads) ** -0.5 + self.rel_pos()
        y = v @ logits.softmax(-1).transpose(-2, -1)
        return self.proj(y.reshape(n, c, h, w))


class ShiftedWindowAttention(WindowBiasAttention):
    """Swin's attention in a shifted window (§3.2 "Efficient batch computation for shifted configuration"): positions
    from different regions of the cyclically shifted map may not attend to each other, a fixed mask added to the
    logits, 0 within a region and −100 across (a buffer, no parameters)."""

    def __init__(self, channels: int = 8, heads: int = 2, side: int = 4):
        super().__init__(channels, heads, side)
        regions = [(y >= side // 2) * 2 + (x >= side // 2) for y, x in _points(side)]
        mask = torch.tensor([[0.0 if a == b else -100.0 for b in regions] for a in regions])
        self.register_buffer("attn_mask", mask, persistent=False)

    def forward(self, x):
        n, c, h, w = x.shape
        q, k, v = self.qkv(x).reshape(n, 3, self.heads, -1, h * w).unbind(1)
        logits = q.transpose(-2, -1) @ k * (c // self.heads) ** -0.5 + self.rel_pos() + self.attn_mask
        y = v @ logits.softmax(-1).transpose(-2, -1)
        return self.proj(y.reshape(n, c, h, w))


class TableBlock(nn.Module):
    """A conv stem to a side × side map, then the attention of `kind`: offsets (LeViT), window (Swin), zeros (Swin's table
    untrained), mlp (Swin V2's bias), shifted (Swin's with its mask)."""

    def __init__(self, kind: str = "offsets", channels: int = 8, heads: int = 2, side: int = 4):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, stride=2, padding=1)
        biases = {"zeros": ZeroPositionBias, "mlp": PositionMlpBias}
        if kind in ("offsets", "shifted"):
            self.attn = (OffsetBiasAttention if kind == "offsets" else ShiftedWindowAttention)(channels, heads, side)
        else:
            self.attn = WindowBiasAttention(channels, heads, side, biases.get(kind, RelativePositionBias))

    def forward(self, x):
        return self.attn(self.stem(x))


class SineEncoded(nn.Module):
    """A conv, DETR's sine positional encoding of its feature map (built from the map's shape at run time)
    added to it, and a 1 × 1 conv."""

    def __init__(self, channels: int = 8, temperature: float = 10000.0):
        super().__init__()
        self.temperature = temperature
        self.conv = nn.Conv2d(3, channels, 3, stride=2, padding=1)
        self.head = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        y = self.conv(x)
        n, c, h, w = y.shape
        mask = torch.ones(1, h, w, dtype=y.dtype)
        rows, cols = mask.cumsum(1), mask.cumsum(2)
        half = c // 2
        frequencies = self.temperature ** (2 * (torch.arange(half, dtype=y.dtype) // 2) / half)
        rows, cols = rows[:, :, :, None] / frequencies, cols[:, :, :, None] / frequencies
        rows = torch.stack((rows[:, :, :, 0::2].sin(), rows[:, :, :, 1::2].cos()), dim=4).flatten(3)
        cols = torch.stack((cols[:, :, :, 0::2].sin(), cols[:, :, :, 1::2].cos()), dim=4).flatten(3)
        encoding = torch.cat((rows, cols), dim=3).permute(0, 3, 1, 2)
        return self.head(y + encoding)


def table_block(kind: str = "offsets") -> nn.Module:
    """The block, seeded, in eval mode; input 3 × 8 × 8."""
    torch.manual_seed(0)
    return {"sine": SineEncoded, "selected": Selected}.get(kind, lambda: TableBlock(kind))().eval()


class Selected(nn.Module):
    """Positions picked by a constant index: the first row of a feature map (`y[:, :, 0]`, as a class token is
    picked from its tokens) and a channel (`y[:, 2]`, a chosen branch), each read by a layer."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, stride=2, padding=1)
        self.row = nn.Conv1d(channels, channels, 1)
        self.head = nn.Linear(channels * 4 + 4 * 4, 10)

    def forward(self, x):
        y = self.conv(x)
        parts = (self.row(y[:, :, 0]).flatten(1), y[:, 2].flatten(1))
        return self.head(torch.cat(parts, 1))
