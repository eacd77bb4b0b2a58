"""A small U-Net (Ronneberger et al. 2015: upsample, concatenate the skip, conv) written here, over an encoder that
starts at stride 4, as a patch-embedding transformer does: for the stride-2 level it has no features and hands
the decoder a placeholder of no channels (`torch.empty(B, 0, H/2, W/2)`), which the decoder concatenates as it
does every skip. `with_skip=True` gives the stride-2 level a real skip of 4 channels instead of the placeholder.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class EmptySkipUNet(nn.Module):
    def __init__(self, with_skip: bool = False):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, 16, 4, stride=4)  # stride 4
        self.down = nn.Conv2d(16, 32, 3, stride=2, padding=1)  # stride 8
        self.skip2 = nn.Conv2d(3, 4, 3, stride=2, padding=1) if with_skip else None
        self.up1 = nn.Conv2d(32 + 16, 16, 3, padding=1)
        self.up2 = nn.Conv2d(16 + (4 if with_skip else 0), 8, 3, padding=1)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        level2 = self.skip2(x) if self.skip2 is not None else torch.empty(b, 0, h // 2, w // 2, dtype=x.dtype)
        level4 = self.patch_embed(x)
        level8 = self.down(level4)
        y = F.relu(self.up1(torch.cat([F.interpolate(level8, scale_factor=2.0, mode="nearest"), level4], dim=1)))
        y = F.relu(self.up2(torch.cat([F.interpolate(y, scale_factor=2.0, mode="nearest"), level2], dim=1)))
        return self.head(y)


def empty_skip_unet(with_skip: bool = False) -> nn.Module:
    return EmptySkipUNet(with_skip).eval()
