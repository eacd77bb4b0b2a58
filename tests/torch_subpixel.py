"""Torch modules written here for sub-pixel upsampling (PixelShuffle) in a decoder.

Dense upsampling convolution (Wang et al. 2018, "Understanding Convolution for Semantic Segmentation"): a
3×3 conv to classes·r² channels at 1/r of the resolution, then a pixel shuffle to full resolution.
"""

from __future__ import annotations

from torch import nn


class DenseUpsamplingHead(nn.Module):
    """A stride-4 encoder (two stride-2 convs with norms) and a DUC head of `classes` outputs (r = 4)."""

    def __init__(self, width: int = 16, classes: int = 5, r: int = 4):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                                     nn.Conv2d(width, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.duc = nn.Conv2d(width, classes * r * r, 3, padding=1)
        self.shuffle = nn.PixelShuffle(r)

    def forward(self, x):
        return self.shuffle(self.duc(self.encoder(x)))
