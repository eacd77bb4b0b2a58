"""Attention over feature maps whose keys and values are reduced in space, written from the papers' descriptions for
the ONNX pattern tests.

PVT v2 (Wang et al., "PVT v2: Improved Baselines with Pyramid Vision Transformer", arXiv 2106.13797, §3 and Fig. 1):
an overlapping patch embedding (a conv of kernel 2s − 1 and stride s, zero padding s − 1, then a layer norm over the
channels of the map moved channels last, the positions flattened to tokens B × N × C); pre-norm blocks of
spatial-reduction attention (queries from a linear on every token; keys and values from a linear on the tokens of the
map reduced by a conv of kernel and stride R, then layer-normed; heads, scaled q·kᵀ, softmax, ·v, a projection) and a
feed-forward whose hidden tokens pass a depthwise 3×3 conv on the map between its two linears; the tokens reshaped
back to the map at the end of the stage.

`fused` writes the attention as F.scaled_dot_product_attention, as the libraries do when they export; PyTorch's
FlopCounterMode does not count that kernel on the CPU, so the reference counts the same module written out.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def attend(q, k, v, fused: bool):
    """softmax(q·kᵀ / √d)·v over the last two dims."""
    if fused:
        return F.scaled_dot_product_attention(q, k, v)
    weights = ((q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
    return weights @ v


class SpatialReductionAttention(nn.Module):
    """PVT v2's attention over B × N × C tokens of an h × w map: keys and values from the map reduced R times."""

    def __init__(self, channels: int, heads: int, reduction: int, fused: bool):
        super().__init__()
        self.heads, self.fused = heads, fused
        self.q = nn.Linear(channels, channels)
        self.kv = nn.Linear(channels, 2 * channels)
        self.sr = nn.Conv2d(channels, channels, reduction, stride=reduction)
        self.norm = nn.LayerNorm(channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, x, h: int, w: int):
        b, n, c = x.shape
        q = self.q(x).reshape(b, n, self.heads, -1).permute(0, 2, 1, 3)
        reduced = self.sr(x.permute(0, 2, 1).reshape(b, c, h, w)).reshape(b, c, -1).permute(0, 2, 1)
        k, v = self.kv(self.norm(reduced)).reshape(b, -1, 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        return self.proj(attend(q, k, v, self.fused).transpose(1, 2).reshape(b, n, c))


class DepthwiseMlp(nn.Module):
    """A linear, a depthwise 3×3 conv on the hidden tokens as a map, GELU, a linear."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(channels, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x, h: int, w: int):
        x = self.fc1(x)
        b, n, c = x.shape
        x = self.dwconv(x.transpose(1, 2).reshape(b, c, h, w)).flatten(2).transpose(1, 2)
        return self.fc2(self.act(x))


class PyramidBlock(nn.Module):
    def __init__(self, channels: int, heads: int, reduction: int, fused: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(channels)
        self.attn = SpatialReductionAttention(channels, heads, reduction, fused)
        self.norm2 = nn.LayerNorm(channels)
        self.mlp = DepthwiseMlp(channels, 2 * channels)

    def forward(self, x, h: int, w: int):
        x = x + self.attn(self.norm1(x), h, w)
        return x + self.mlp(self.norm2(x), h, w)


class PyramidStage(nn.Module):
    """An overlapping patch embedding (kernel 7, stride 4), two blocks, a layer norm, the tokens back to a map, a head."""

    def __init__(self, channels: int = 8, heads: int = 2, reduction: int = 2, fused: bool = True, classes: int = 5):
        super().__init__()
        self.proj = nn.Conv2d(3, channels, 7, stride=4, padding=3)
        self.embed_norm = nn.LayerNorm(channels)
        self.blocks = nn.ModuleList(PyramidBlock(channels, heads, reduction, fused) for _ in range(2))
        self.norm = nn.LayerNorm(channels)
        self.head = nn.Linear(channels, classes)

    def forward(self, x):
        x = self.embed_norm(self.proj(x).permute(0, 2, 3, 1))
        b, h, w, c = x.shape
        x = x.reshape(b, -1, c)
        for block in self.blocks:
            x = block(x, h, w)
        x = self.norm(x).reshape(b, h, w, c).permute(0, 3, 1, 2)
        return self.head(x.mean((2, 3)))


def spatial_model(kind: str = "pvt", fused: bool = True) -> nn.Module:
    """The model, seeded, in eval mode; input 3 × 16 × 16."""
    torch.manual_seed(0)
    models = {"pvt": PyramidStage}
    return models[kind](fused=fused).eval()
