"""A vision transformer whose learned position embedding is resampled to the input's grid on every forward, written
here from ViT (arXiv 2010.11929, §3.2 "Fine-tuning and higher resolution": the pre-trained position embeddings are
2D-interpolated to the new grid) and DPT (arXiv 2103.13413, §3: the same ViT backbone at any input size). The
class token's position row is kept as it is; the grid rows are viewed as a map, resized, and put back after it."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from torch_class_tokens import Block

RESIZED_POSITIONS = {"bilinear": ("bilinear", (3, 16, 20)), "bicubic": ("bicubic", (3, 20, 12)), "same_grid": ("bilinear", (3, 96, 96))}
"""kind → (interpolation, input shape): the table is learned for a 24×24 grid (96×96 pixels, 4×4 patches), DPT's
(384×384 pixels, 16×16 patches); a table that small torch.export's optimiser would compute into a constant."""


class ResizedPositionViT(nn.Module):
    """4×4 patches embedded by a conv, a class token put first, the learned (1, 1 + 24·24, C) position table resized to
    the patches' grid and added, one pre-norm block, a final norm, and a linear head on the class token."""

    def __init__(self, mode: str, dim: int = 16, heads: int = 2, classes: int = 10, grid: int = 24):
        super().__init__()
        self.mode, self.grid = mode, grid
        self.patch_embed = nn.Conv2d(3, dim, 4, 4)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.position_embeddings = nn.Parameter(torch.randn(1, 1 + grid * grid, dim) * 0.02)
        self.blocks = nn.Sequential(Block(dim, heads))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def positions(self, height: int, width: int) -> torch.Tensor:
        """The class token's row, then the grid rows viewed as a C×24×24 map, resized to C×height×width and flattened."""
        first = self.position_embeddings[:, :1]
        rows = self.position_embeddings[0, 1:]
        grid = rows.reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(height, width), mode=self.mode, align_corners=False)
        return torch.cat([first, grid.permute(0, 2, 3, 1).reshape(1, height * width, -1)], dim=1)

    def forward(self, x):
        x = self.patch_embed(x)
        height, width = x.shape[2], x.shape[3]
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.blocks(x + self.positions(height, width))
        return self.head(self.norm(x)[:, 0])


def resized_position_model(kind: str) -> nn.Module:
    torch.manual_seed(0)
    return ResizedPositionViT(RESIZED_POSITIONS[kind][0]).eval()
