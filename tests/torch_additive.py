"""SwiftFormer's efficient additive attention written from the paper (Shaker et al., "SwiftFormer: Efficient Additive
Attention for Transformer-based Real-time Mobile Vision Applications", arXiv 2303.15446, Fig. 2d): queries and keys
from linear layers, L2-normalised; each query's score against a learned vector w_g (scaled by d^-1/2) softmaxed over
the tokens; the global query, the scores' weighted sum of the queries, repeated for every token
(`unsqueeze(1).repeat(1, N, 1)`, as Hugging Face's SwiftFormer writes it) and multiplied by the keys; a linear, the
queries added back, a final linear, then a mean over the tokens and a classifier. `copies` > 1 tiles the tokens
themselves (real copies, no broadcast), which groupcost refuses by name."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F


class AdditiveAttentionClassifier(nn.Module):
    def __init__(self, dim: int = 16, classes: int = 10, copies: int = 1):
        super().__init__()
        self.copies = copies
        self.embed = nn.Conv2d(3, dim, 3, stride=2, padding=1)
        self.to_query, self.to_key = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.w_g = nn.Parameter(torch.randn(dim, 1))
        self.scale = dim ** -0.5
        self.proj, self.final = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        if self.copies > 1:
            tokens = tokens.repeat(1, self.copies, 1)
        query = F.normalize(self.to_query(tokens), dim=-1)
        key = F.normalize(self.to_key(tokens), dim=-1)
        scores = ((query @ self.w_g) * self.scale).softmax(dim=1)
        global_query = (scores * query).sum(dim=1)
        global_query = global_query.unsqueeze(1).repeat(1, key.shape[1], 1)
        out = self.final(self.proj(global_query * key) + query)
        return self.head(out.mean(dim=1))


def additive_attention(copies: int = 1, nested: bool = False) -> nn.Module:
    """The classifier; `nested`: held as `attn` in a Sequential, so that w_g is a parameter of the module `attn` (timm's)."""
    torch.manual_seed(0)
    model = AdditiveAttentionClassifier(copies=copies)
    return (nn.Sequential(OrderedDict(attn=model)) if nested else model).eval()
