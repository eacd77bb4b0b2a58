"""MobileViT blocks written here from the papers' descriptions, for the ONNX import tests.

v1 (Mehta & Rastegari, "MobileViT", arXiv 2110.02178, Sec. 3.1 and Fig. 1b): a local n×n conv and a
1×1 conv to d channels; the d×H×W map unfolded into P = h·w pixel sequences of N = HW/P patches
(the batch merged with the pixels: (B·P)×N×d); L pre-norm transformer layers over each sequence apart
(multi-head self-attention with hand-written q, k, v products, and a SiLU feed-forward of twice the
width); folded back to d×H×W, a 1×1 conv back to C, joined with the block's input, a 3×3 conv.
`unfold` picks one of two spellings of the same unfolding: "merged" reshapes the batch with the
channel rows first (as the authors' code does), "split" reshapes to six dims and permutes once.

v2 (Mehta & Rastegari, "Separable Self-attention for Mobile Vision Transformers", arXiv 2206.02680,
Sec. 3 and Fig. 4): a depthwise 3×3 conv and a 1×1 conv; the map unfolded to B×d×P×N (the batch
alone); pre-norm layers with GroupNorm(1, d) and separable self-attention, all 1×1 convs: one
projection to a 1-channel score, keys and values; softmax of the scores over the N patches; the
keys weighted by them and summed over N (a context vector); ReLU(values) times the context vector
broadcast over N; an output projection; a 1×1-conv feed-forward; folded back; a 1×1 conv.
"""

from __future__ import annotations

import torch
from torch import nn


class PatchAttention(nn.Module):
    """Multi-head self-attention over (B')×N×d tokens: a qkv linear, scaled q·kᵀ, softmax, ·v, a projection."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, tokens):
        sequences, length, width = tokens.shape
        head = width // self.heads
        q, k, v = self.qkv(tokens).reshape(sequences, length, 3, self.heads, head).permute(2, 0, 3, 1, 4)
        weights = ((q * head ** -0.5) @ k.transpose(-1, -2)).softmax(dim=-1)
        mixed = (weights @ v).transpose(1, 2).reshape(sequences, length, width)
        return self.proj(mixed)


class TransformerLayer(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = PatchAttention(width, heads)
        self.norm2 = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 2 * width)
        self.act = nn.SiLU()
        self.fc2 = nn.Linear(2 * width, width)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


class MobileViTBlock(nn.Module):
    def __init__(self, channels: int, width: int, heads: int = 2, layers: int = 2, patch: tuple[int, int] = (2, 2), unfold: str = "merged"):
        super().__init__()
        self.patch, self.spelling = patch, unfold
        self.local = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.SiLU(),
                                   nn.Conv2d(channels, width, 1, bias=False))
        self.transformer = nn.Sequential(*(TransformerLayer(width, heads) for _ in range(layers)))
        self.norm = nn.LayerNorm(width)
        self.project = nn.Conv2d(width, channels, 1)
        self.fuse = nn.Conv2d(2 * channels, channels, 3, padding=1)

    def unfold(self, x):
        """B×d×H×W → (B·P)×N×d: for each of the P pixel positions inside a patch, the sequence of its N patches."""
        b, d, h, w = x.shape
        ph, pw = self.patch
        rows, cols = h // ph, w // pw
        if self.spelling == "merged":
            x = x.reshape(b * d * rows, ph, cols, pw).transpose(1, 2)  # (B·d·rows)×cols×ph×pw
            x = x.reshape(b, d, rows * cols, ph * pw).transpose(1, 3)  # B×P×N×d
        else:
            x = x.reshape(b, d, rows, ph, cols, pw).permute(0, 3, 5, 2, 4, 1)  # B×ph×pw×rows×cols×d
        return x.reshape(b * ph * pw, rows * cols, d)

    def fold(self, x, size: tuple[int, int]):
        """(B·P)×N×d → B×d×H×W, undoing `unfold`."""
        ph, pw = self.patch
        (h, w), d = size, x.shape[-1]
        rows, cols = h // ph, w // pw
        if self.spelling == "merged":
            x = x.reshape(-1, ph * pw, rows * cols, d).transpose(1, 3)  # B×d×N×P
            x = x.reshape(-1, cols, ph, pw).transpose(1, 2)  # (B·d·rows)×ph×cols×pw
        else:
            x = x.reshape(-1, ph, pw, rows, cols, d).permute(0, 5, 3, 1, 4, 2)  # B×d×rows×ph×cols×pw
        return x.reshape(-1, d, h, w)

    def forward(self, x):
        y = self.local(x)
        y = self.fold(self.norm(self.transformer(self.unfold(y))), y.shape[-2:])
        return self.fuse(torch.cat([x, self.project(y)], dim=1))


class SeparableAttention(nn.Module):
    """B×d×P×N → B×d×P×N: one score per patch, softmax over N, a context vector, ReLU(values) · context."""

    def __init__(self, width: int):
        super().__init__()
        self.width = width
        self.qkv = nn.Conv2d(width, 1 + 2 * width, 1)
        self.out = nn.Conv2d(width, width, 1)

    def forward(self, x):
        scores, keys, values = self.qkv(x).split([1, self.width, self.width], dim=1)
        context = (keys * scores.softmax(dim=-1)).sum(dim=-1, keepdim=True)  # B×d×P×1
        return self.out(torch.relu(values) * context.expand_as(values))


class SeparableLayer(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(1, width)
        self.attn = SeparableAttention(width)
        self.norm2 = nn.GroupNorm(1, width)
        self.ffn = nn.Sequential(nn.Conv2d(width, 2 * width, 1), nn.SiLU(), nn.Conv2d(2 * width, width, 1))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class MobileViTv2Block(nn.Module):
    def __init__(self, channels: int, width: int, layers: int = 2, patch: tuple[int, int] = (2, 2)):
        super().__init__()
        self.patch = patch
        self.local = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, groups=channels), nn.SiLU(),
                                   nn.Conv2d(channels, width, 1, bias=False))
        self.transformer = nn.Sequential(*(SeparableLayer(width) for _ in range(layers)))
        self.norm = nn.GroupNorm(1, width)
        self.project = nn.Conv2d(width, channels, 1)

    def forward(self, x):
        y = self.local(x)
        b, d, h, w = y.shape
        ph, pw = self.patch
        patches = y.reshape(b, d, h // ph, ph, w // pw, pw).permute(0, 1, 3, 5, 2, 4).reshape(b, d, ph * pw, -1)  # B×d×P×N
        y = self.norm(self.transformer(patches))
        y = y.reshape(b, d, ph, pw, h // ph, w // pw).permute(0, 1, 4, 2, 5, 3).reshape(b, d, h, w)
        return self.project(y)


def mobilevit(version: str = "v1", unfold: str = "merged", channels: int = 8, width: int = 12) -> nn.Module:
    """A stem conv and one MobileViT block (v1 or v2), pooled to a small classifier; deterministic weights, eval mode."""
    torch.manual_seed(0)
    block = MobileViTBlock(channels, width, unfold=unfold) if version == "v1" else MobileViTv2Block(channels, width)
    model = nn.Sequential(nn.Conv2d(3, channels, 3, stride=2, padding=1), block, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 10))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # no two equal initializers for the exporters to merge
    return model.eval()
