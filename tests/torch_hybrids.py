"""Conv-attention hybrid blocks written from their papers' descriptions, for the ONNX pattern tests.

XCiT (arXiv 2106.09681, §3) and EdgeNeXt (arXiv 2206.10589, §3.2) add to their tokens a Fourier encoding of the
positions, built from the feature map's size at run time (a mask of ones counted along the rows and columns,
normalised to 2π, sine and cosine over geometric wavelengths: DETR's) and projected to the channels by a 1×1 conv.
"""

from __future__ import annotations

import torch
from torch import nn


class FourierProjected(nn.Module):
    """A conv stem, the projected Fourier encoding added to its map (`map`) or to its tokens B × N × C (`tokens`,
    EdgeNeXt's spelling: reshape to B × C × N, permute), and a 1×1 conv head on the map."""

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
        tokens = tokens + self.encoding(n, h, w).reshape(n, -1, h * w).permute(0, 2, 1)
        return self.head(tokens.permute(0, 2, 1).reshape(n, c, h, w))


def hybrid_block(kind: str = "tokens") -> nn.Module:
    """The block, seeded, in eval mode; input 3 × 8 × 8."""
    torch.manual_seed(0)
    return FourierProjected(kind).eval()


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
