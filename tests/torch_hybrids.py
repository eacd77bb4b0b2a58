"""Conv-attention hybrid blocks written from their papers' descriptions, for the ONNX pattern tests.

XCiT's cross-covariance attention (arXiv 2106.09681, §3.1, Algorithm 1): q, k, v from one linear, split into heads
of d channels; q and k L2-normalised along the tokens; the d × d attention q̂·k̂ᵀ scaled by a learned temperature per
head, softmax, applied to v; a linear projection. EdgeNeXt runs it on a map's tokens and reshapes them back to the
map channels last for its layer norm and MLP.

XCiT (arXiv 2106.09681, §3) and EdgeNeXt (arXiv 2206.10589, §3.2) add to their tokens a Fourier encoding of the
positions, built from the feature map's size at run time (a mask of ones counted along the rows and columns,
normalised to 2π, sine and cosine over geometric wavelengths: DETR's) and projected to the channels by a 1×1 conv.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class FourierProjected(nn.Module):
    """A conv stem, the projected Fourier encoding added to its map (`map`) or to its tokens B × N × C (`tokens`,
    EdgeNeXt's spelling: reshape to B × C × N, permute; `repeated`, XCiT's: made for one sample and repeated for each),
    and a 1×1 conv head on the map."""

    def __init__(self, layout: str = "tokens", channels: int = 8, hidden: int = 4, temperature: float = 10000.0):
        super().__init__()
        self.layout, self.hidden, self.temperature = layout, hidden, temperature
        self.conv = nn.Conv2d(3, channels, 3, stride=2, padding=1)
        self.pos = nn.Module()
        self.pos.token_projection = nn.Conv2d(2 * hidden, channels, 1)
        self.head = nn.Conv2d(channels, channels, 1)

    def encoding(self, n: int, h: int, w: int):
        mask = torch.ones(n, h, w)
        rows, cols = mask.cumsum(1), mask.cumsum(2)
        rows = rows / (rows[:, -1:, :] + 1e-6) * 2 * torch.pi
        cols = cols / (cols[:, :, -1:] + 1e-6) * 2 * torch.pi
        wavelengths = self.temperature ** (2 * (torch.arange(self.hidden) // 2) / self.hidden)
        rows, cols = rows[..., None] / wavelengths, cols[..., None] / wavelengths
        rows = torch.stack((rows[..., 0::2].sin(), rows[..., 1::2].cos()), dim=4).flatten(3)
        cols = torch.stack((cols[..., 0::2].sin(), cols[..., 1::2].cos()), dim=4).flatten(3)
        return self.pos.token_projection(torch.cat((rows, cols), dim=3).permute(0, 3, 1, 2))

    def forward(self, x):
        y = self.conv(x)
        n, c, h, w = y.shape
        if self.layout == "map":
            return self.head(y + self.encoding(n, h, w))
        tokens = y.reshape(n, c, h * w).permute(0, 2, 1)
        encoding = self.encoding(1, h, w).repeat(n, 1, 1, 1) if self.layout == "repeated" else self.encoding(n, h, w)  # XCiT's: one, repeated
        tokens = tokens + encoding.reshape(n, -1, h * w).permute(0, 2, 1)
        return self.head(tokens.permute(0, 2, 1).reshape(n, c, h, w))


class CrossCovariance(nn.Module):
    """XCiT's attention over channels: B × N × C tokens in, the same out."""

    def __init__(self, channels: int, heads: int):
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.rand(heads, 1, 1) + 0.5)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, tokens):
        n, length, c = tokens.shape
        q, k, v = self.qkv(tokens).reshape(n, length, 3, self.heads, c // self.heads).permute(2, 0, 3, 4, 1).unbind(0)
        attention = (F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)) * self.temperature
        out = attention.softmax(dim=-1) @ v  # B × heads × d × N
        return self.proj(out.permute(0, 3, 1, 2).reshape(n, length, c))


class CrossCovarianceBlock(nn.Module):
    """EdgeNeXt's split-depth-wise transpose attention block, less its multi-scale convs: a conv stem, the map's tokens
    through a layer norm, cross-covariance attention and a layer scale (residual), reshaped back to the map channels
    last, a layer norm and a two-layer MLP, channels first again, and a 1×1 conv head."""

    def __init__(self, channels: int = 8, heads: int = 2):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, stride=2, padding=1)
        self.norm_xca = nn.LayerNorm(channels)
        self.xca = CrossCovariance(channels, heads)
        self.gamma_xca = nn.Parameter(torch.rand(channels))
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.fc1, self.fc2 = nn.Linear(channels, 4 * channels), nn.Linear(4 * channels, channels)
        self.head = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        y = self.conv(x)
        n, c, h, w = y.shape
        tokens = y.reshape(n, c, h * w).permute(0, 2, 1)
        tokens = tokens + self.gamma_xca * self.xca(self.norm_xca(tokens))
        mapped = self.fc2(F.gelu(self.fc1(self.norm(tokens.reshape(n, h, w, c)))))
        return self.head(y + mapped.permute(0, 3, 1, 2))


class PreNormMBConv(nn.Module):
    """CoAtNet's MBConv (arXiv 2106.04803, §2.1, with its pre-activation norm): a stem of two convs without bias,
    then per block a norm, a 1×1 expansion and a 3×3 depthwise conv without bias (each followed by a norm), and a
    1×1 projection with a bias (no norm after it), added to the block's input."""

    def __init__(self, channels: int = 8, blocks: int = 2):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.SiLU(),
                                  nn.Conv2d(channels, channels, 3, padding=1, bias=False))
        self.blocks = nn.ModuleList(nn.Sequential(nn.BatchNorm2d(channels), nn.Conv2d(channels, 4 * channels, 1, bias=False), nn.BatchNorm2d(4 * channels),
                                                  nn.SiLU(), nn.Conv2d(4 * channels, 4 * channels, 3, padding=1, groups=4 * channels, bias=False),
                                                  nn.BatchNorm2d(4 * channels), nn.SiLU(), nn.Conv2d(4 * channels, channels, 1))
                                    for _ in range(blocks))

    def forward(self, x):
        y = self.stem(x)
        for block in self.blocks:
            y = y + block(y)
        return y


def hybrid_block(kind: str = "tokens") -> nn.Module:
    """The block, seeded, in eval mode; input 3 × 8 × 8: `tokens`, `repeated` and `map` a projected Fourier encoding added there,
    `xca` cross-covariance attention, `mbconv` CoAtNet's pre-norm MBConv."""
    torch.manual_seed(0)
    return {"xca": CrossCovarianceBlock, "mbconv": PreNormMBConv}.get(kind, lambda: FourierProjected(kind))().eval()


class MaskOffset(nn.Module):
    """A conv, plus a mask of ones as large as the batch, built from the map's shape and reshaped per sample
    (`torch.ones(n, h * w).reshape(n, 1, h, w)`), and a 1×1 conv head."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, stride=2, padding=1)
        self.head = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        y = self.conv(x)
        n, _, h, w = y.shape
        return self.head(y + torch.ones(n, h * w).reshape(n, 1, h, w))
