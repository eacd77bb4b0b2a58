"""A small vision transformer written here from ViT (arXiv 2010.11929, §3.1, Eq. 1–4) and DeiT (arXiv 2012.12877,
§4: a distillation token beside the class token): a conv patch embedding, learned tokens put first, a learned
position embedding, pre-norm blocks of multi-head self-attention and an MLP, and a head reading the class token."""

from __future__ import annotations

import torch
from torch import nn


class SelfAttention(nn.Module):
    """Multi-head self-attention (ViT Eq. 5–8): one projection to q, k, v, softmax(q·kᵀ/√d)·v per head, a projection."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        n, length, dim = x.shape
        q, k, v = self.qkv(x).reshape(n, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        out = attn.softmax(-1) @ v
        return self.proj(out.transpose(1, 2).reshape(n, length, dim))


class Block(nn.Module):
    """x + MSA(LN(x)), then x + MLP(LN(x)) (ViT Eq. 2–3), the MLP two linears around a GELU."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """Patches of 4×4 embedded by a conv, a class token (and DeiT's distillation token) put first, a learned position
    embedding added, one block, a final norm, and a linear head on the class token's output."""

    def __init__(self, dim: int = 16, heads: int = 2, classes: int = 10, distilled: bool = False, image: int = 16):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, 4, 4)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.dist_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02) if distilled else None
        first = 2 if distilled else 1
        self.pos_embed = nn.Parameter(torch.randn(1, first + (image // 4) ** 2, dim) * 0.02)
        self.blocks = nn.Sequential(Block(dim, heads))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        tokens = [self.cls_token.expand(x.shape[0], -1, -1)]
        if self.dist_token is not None:
            tokens.append(self.dist_token.expand(x.shape[0], -1, -1))
        x = torch.cat([*tokens, x], 1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


class AppendedToken(nn.Module):
    """A learned token put after the patch tokens (not ViT's: its class token comes first): refused by name."""

    def __init__(self, dim: int = 16):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, 4, 4)
        self.register_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([x, self.register_token.expand(x.shape[0], -1, -1)], 1)
        return self.head(x[:, -1])


CLASS_TOKEN_PATTERNS = {
    "vit_class_token": (TinyViT, (3, 16, 16)),
    "deit_distillation_token": (lambda: TinyViT(distilled=True), (3, 16, 16)),
}
"""kind → (module factory, input shape C, H, W)."""


def class_token_model(kind: str = "vit_class_token") -> nn.Module:
    """The pattern's module, seeded, in eval mode."""
    torch.manual_seed(0)
    return CLASS_TOKEN_PATTERNS[kind][0]().eval()
