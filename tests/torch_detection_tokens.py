"""A small YOLOS written here from its paper (arXiv 2106.00666, §2.1 and §2.2): a ViT whose encoder reads, after the
class token and the patch tokens, learned detection tokens; the learned position table (class token, grid, detection
tokens) resampled to the input's grid by bicubic interpolation of its grid rows (§2.2, "for detection ... we
interpolate the position embeddings"); its mid position embeddings, one such table per block after the first,
added before each later block; and box predictions, an MLP with a sigmoid, read from the detection tokens' outputs."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from torch_class_tokens import Block

DETECTION_TOKEN_PATTERNS = {"one_block": (1, (3, 16, 20)), "mid_positions": (3, (3, 20, 16))}
"""kind → (blocks, input shape): 4×4 patches, the tables learned for a 24×24 grid (96×96 pixels)."""


def resampled(table: torch.Tensor, grid: int, detections: int, height: int, width: int) -> torch.Tensor:
    """A (…, 1 + grid² + detections, C) table: its class row, its grid rows resized bicubic to height × width, its detection rows."""
    first, rows, last = table[..., :1, :], table[..., 1:-detections, :], table[..., -detections:, :]
    lead = rows.shape[:-2]
    maps = rows.reshape(-1, grid, grid, rows.shape[-1]).permute(0, 3, 1, 2)
    maps = F.interpolate(maps, size=(height, width), mode="bicubic", align_corners=False)
    rows = maps.permute(0, 2, 3, 1).reshape(*lead, height * width, rows.shape[-1])
    return torch.cat([first, rows, last], dim=-2)


class TinyYolos(nn.Module):
    def __init__(self, blocks: int, dim: int = 16, heads: int = 2, detections: int = 5, grid: int = 24):
        super().__init__()
        self.grid, self.detections = grid, detections
        self.patch_embed = nn.Conv2d(3, dim, 4, 4)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.detection_tokens = nn.Parameter(torch.randn(1, detections, dim) * 0.02)
        self.position_embeddings = nn.Parameter(torch.randn(1, 1 + grid * grid + detections, dim) * 0.02)
        self.mid_position_embeddings = nn.Parameter(torch.randn(blocks - 1, 1, 1 + grid * grid + detections, dim) * 0.02) if blocks > 1 else None
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(blocks))
        self.norm = nn.LayerNorm(dim)
        self.box_head = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 4))

    def forward(self, x):
        x = self.patch_embed(x)
        height, width = x.shape[2], x.shape[3]
        x = x.flatten(2).transpose(1, 2)
        n = x.shape[0]
        x = torch.cat([self.cls_token.expand(n, -1, -1), x, self.detection_tokens.expand(n, -1, -1)], dim=1)
        x = x + resampled(self.position_embeddings, self.grid, self.detections, height, width)
        mid = resampled(self.mid_position_embeddings, self.grid, self.detections, height, width) if self.mid_position_embeddings is not None else None
        for k, block in enumerate(self.blocks):
            x = block(x)
            if mid is not None and k < len(self.blocks) - 1:
                x = x + mid[k]
        return self.box_head(self.norm(x)[:, -self.detections:, :]).sigmoid()


def detection_token_model(kind: str) -> nn.Module:
    torch.manual_seed(0)
    return TinyYolos(DETECTION_TOKEN_PATTERNS[kind][0]).eval()
