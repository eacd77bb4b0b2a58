"""A MobileViTV2 block written from the paper (Mehta & Rastegari, "Separable Self-attention for Mobile Vision
Transformers", arXiv 2206.02680, Fig. 1 and 4): local 3×3 depthwise and 1×1 convs, the map cut into p×p patches,
separable self-attention over the patches (a 1×1 conv to one score row, k and v; softmax over the patches; the
context vector, the sum of k weighted by the scores, times ReLU(v)), then the patches folded back and projected.
`cut="unfold"` cuts and folds with `F.unfold` / `F.fold` (stride p, as Hugging Face's MobileViTV2 writes it);
`cut="unfold_only"` cuts with `F.unfold` and puts back with reshape and permute (TorchScript writes no fold below
opset 18); `overlap=True` cuts 3×3 patches at stride 2, which groupcost refuses by name."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class SeparableAttentionBlock(nn.Module):
    def __init__(self, channels: int = 4, dim: int = 8, patch: int = 2, cut: str = "unfold", overlap: bool = False):
        super().__init__()
        self.patch, self.cut, self.overlap = patch, cut, overlap
        self.local_dw = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.local_pw = nn.Conv2d(channels, dim, 1, bias=False)
        self.norm = nn.GroupNorm(1, dim)
        self.qkv = nn.Conv2d(dim, 1 + 2 * dim, 1)
        self.out = nn.Conv2d(dim, dim, 1)
        self.project = nn.Conv2d(dim, channels, 1)

    def forward(self, x):
        y = self.local_pw(self.local_dw(x))
        batch, dim, height, width = y.shape
        p = self.patch
        kernel, stride = (3, 2) if self.overlap else (p, p)
        patches = F.unfold(y, kernel, stride=stride).reshape(batch, dim, kernel * kernel, -1)
        q, k, v = self.qkv(self.norm(patches)).split([1, dim, dim], dim=1)
        scores = q.softmax(dim=-1)
        context = (k * scores).sum(dim=-1, keepdim=True)
        z = patches + self.out(F.relu(v) * context.expand_as(v))
        if self.cut == "unfold":
            folded = F.fold(z.reshape(batch, dim * kernel * kernel, -1), (height, width), kernel, stride=stride)
        elif self.overlap:  # no way back to the map: the patches' mean, a 1×L map
            folded = z.mean(dim=2, keepdim=True)
        else:
            rows, cols = height // p, width // p
            folded = z.reshape(batch, dim, p, p, rows, cols).permute(0, 1, 4, 2, 5, 3).reshape(batch, dim, height, width)
        return self.project(folded)


def separable_attention(cut: str = "unfold", overlap: bool = False) -> SeparableAttentionBlock:
    torch.manual_seed(0)
    return SeparableAttentionBlock(cut=cut, overlap=overlap).eval()


class OverlappingFold(nn.Module):
    """A 1×1 conv's 64 positions read as 3×3 patches at stride 2 and folded into a 17×17 map (overlapping sums)."""

    def __init__(self, channels: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * 9, 1)

    def forward(self, x):
        y = self.conv(x)
        return F.fold(y.reshape(y.shape[0], y.shape[1], -1), (17, 17), 3, stride=2)
