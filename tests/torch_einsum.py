"""A CvT-style classifier written from the paper (Wu et al., "CvT: Introducing Convolutions to Vision Transformers",
arXiv 2103.15808, Fig. 2 and Sec. 3): a strided conv token embedding, a class token joined to the tokens (the last
stage's), multi-head attention whose scores and context are written with `torch.einsum` (as Hugging Face's CvT writes
them: "bhlk,bhtk->bhlt", then "bhlt,bhtv->bhlv"), an MLP, and the head: the class token split off, a layer norm of
it, its mean over the one token, a linear classifier. `equation` replaces the score's einsum, for the refusals."""

from __future__ import annotations

import torch
from torch import nn


class EinsumAttentionClassifier(nn.Module):
    def __init__(self, dim: int = 16, heads: int = 2, classes: int = 10, equation: str = "bhlk,bhtk->bhlt"):
        super().__init__()
        self.heads, self.equation = heads, equation
        self.embed = nn.Conv2d(3, dim, 3, stride=2, padding=1)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.norm1 = nn.LayerNorm(dim)
        self.query, self.key, self.value = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.layernorm = nn.LayerNorm(dim)
        self.classifier = nn.Linear(dim, classes)

    def _heads(self, tokens):
        batch, length, dim = tokens.shape
        return tokens.view(batch, length, self.heads, dim // self.heads).permute(0, 2, 1, 3)

    def forward(self, x):
        features = self.embed(x)
        batch, dim, height, width = features.shape
        tokens = features.view(batch, dim, height * width).permute(0, 2, 1)
        tokens = torch.cat((self.cls_token.expand(batch, -1, -1), tokens), dim=1)
        y = self.norm1(tokens)
        q, k, v = self._heads(self.query(y)), self._heads(self.key(y)), self._heads(self.value(y))
        scores = torch.einsum(self.equation, q, k) * (q.shape[-1] ** -0.5)
        context = torch.einsum("bhlt,bhtv->bhlv", scores.softmax(dim=-1), v)
        batch, heads, length, width = context.shape
        tokens = tokens + self.proj(context.permute(0, 2, 1, 3).reshape(batch, length, heads * width))
        tokens = tokens + self.mlp(self.norm2(tokens))
        cls_token, _ = torch.split(tokens, [1, tokens.shape[1] - 1], 1)
        return self.classifier(self.layernorm(cls_token).mean(dim=1))


def einsum_attention(equation: str = "bhlk,bhtk->bhlt") -> EinsumAttentionClassifier:
    torch.manual_seed(0)
    return EinsumAttentionClassifier(equation=equation).eval()
