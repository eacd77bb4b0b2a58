"""Class attention written here from CaiT (Touvron et al., arXiv 2103.17239, §3.2, Fig. 2): after the self-attention
blocks, the class token is the one query of an attention over itself and the patch tokens, then goes through an MLP,
each residual scaled per channel (LayerScale, §3.1); the patch tokens pass unchanged. Two ways of writing the token
sequence: the class token held apart and joined before the patch tokens in every block (CaiT's figure), or the whole
sequence carried from block to block, its class token sliced off (`x[:, :1]`), layer-normed alone and joined back
before the patch tokens (`x[:, 1:]`), as XCiT's class-attention layers take it (arXiv 2106.09681, §3)."""

from __future__ import annotations

import torch
from torch import nn


class ClassAttention(nn.Module):
    """softmax(q·kᵀ/√d)·v per head with q from the class token alone and k, v from every token, then a projection."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.q, self.k, self.v, self.proj = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x):
        n, length, dim = x.shape
        width = dim // self.heads
        q = self.q(x[:, 0]).reshape(n, 1, self.heads, width).transpose(1, 2)
        k = self.k(x).reshape(n, length, self.heads, width).transpose(1, 2)
        v = self.v(x).reshape(n, length, self.heads, width).transpose(1, 2)
        weights = ((q * self.scale) @ k.transpose(-2, -1)).softmax(-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(n, 1, dim))


class LayerScale(nn.Module):
    """A learned scale per channel (CaiT §3.1: a diagonal matrix on each residual branch)."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.rand(dim) + 0.5)

    def forward(self, x):
        return self.gamma * x


class ClassBlock(nn.Module):
    """CaiT's class-attention stage: cls + γ₁·CA(LN([cls, patches])), then cls + γ₂·MLP(LN(cls)); the held-apart
    block returns the class token alone, joined before the patch tokens again for the next block."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = ClassAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.ls1, self.ls2 = LayerScale(dim), LayerScale(dim)

    def update(self, tokens):
        """The class token (the first of `tokens`) updated, the patch tokens read."""
        cls = tokens[:, :1] + self.ls1(self.attn(self.norm1(tokens)))
        return cls + self.ls2(self.mlp(self.norm2(cls)))


class HeldApart(ClassBlock):
    def forward(self, tokens):
        return self.update(tokens)


class Carried(ClassBlock):
    def forward(self, x):
        return torch.cat([self.update(x), x[:, 1:]], 1)


class ClassAttentionNet(nn.Module):
    """Patches of 4×4 embedded by a conv, two class-attention blocks over a learned class token, a final norm over
    every token, and a linear head on the class token."""

    def __init__(self, carried: bool, dim: int = 16, heads: int = 2, classes: int = 10):
        super().__init__()
        self.carried = carried
        self.patch_embed = nn.Conv2d(3, dim, 4, 4)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.blocks = nn.ModuleList((Carried if carried else HeldApart)(dim, heads) for _ in range(2))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        patches = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), patches], 1)
        for block in self.blocks:
            x = block(x) if self.carried else torch.cat([block(x), patches], 1)
        return self.head(self.norm(x)[:, 0])


CLASS_ATTENTION_PATTERNS = {"class_attention_held_apart": False, "class_attention_carried": True}
"""kind → whether the whole token sequence is carried from block to block (XCiT) or the class token held apart (CaiT)."""

INPUT_SHAPE = (3, 16, 16)


def class_attention_model(kind: str = "class_attention_carried") -> nn.Module:
    """The pattern's module, seeded, in eval mode."""
    torch.manual_seed(0)
    return ClassAttentionNet(CLASS_ATTENTION_PATTERNS[kind]).eval()
