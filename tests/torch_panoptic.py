"""The semantic segmentation branch of Panoptic FPN (Kirillov, Girshick, He, Dollár, arXiv 1901.02446, Fig. 3),
written here: each pyramid level goes through a 3×3 conv and is upsampled to 1/4 of the input, the levels are summed
element-wise, stacked ahead of the batch and summed over that axis as written in PyTorch (`torch.stack(levels).sum(0)`),
then a 1×1 conv to the classes and an upsampling to the input size.

`merge="mean"` averages them instead (`torch.mean(torch.stack(levels), dim=0)`, as MONAI's RegUNet and LocalNet merge
their levels; `stacked=1` makes and stacks the first level alone, RegUNet's default); `merge="max"` takes the largest level
(`torch.stack(levels).amax(0)`): neither a sum nor a mean, which stays refused.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class SemanticBranch(nn.Module):
    def __init__(self, channels: int = 8, classes: int = 5, merge: str = "sum", stacked: int = 3):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, stride=4, padding=1)  # 1/4
        self.down = nn.ModuleList(nn.Conv2d(channels, channels, 3, stride=2, padding=1) for _ in range(stacked - 1))  # 1/8, 1/16
        self.level_convs = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(stacked))
        self.classifier = nn.Conv2d(channels, classes, 1)
        self.merge = merge

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = [self.stem(x)]
        for down in self.down:
            levels.append(down(levels[-1]))
        size = levels[0].shape[-2:]
        branches = [F.interpolate(conv(level), size=size, mode="bilinear", align_corners=False) for conv, level in zip(self.level_convs, levels)]
        stacked = torch.stack(branches)
        merged = stacked.sum(dim=0) if self.merge == "sum" else torch.mean(stacked, dim=0) if self.merge == "mean" else stacked.amax(dim=0)
        return F.interpolate(self.classifier(merged), scale_factor=4.0, mode="bilinear", align_corners=False)


def semantic_branch(merge: str = "sum", stacked: int = 3) -> nn.Module:
    return SemanticBranch(merge=merge, stacked=stacked).eval()
