"""A backbone whose last stage is returned as a map and a classifier that moves it straight back to tokens (as Hugging
Face's PVTv2 writes its head: the encoder's `permute(0, 3, 1, 2)` to N×C×H×W, the classifier's `permute(0, 2, 3, 1)`
and reshape to N×L×C, the batch read from the map's shape, a mean over the tokens, a linear): a conv patch embedding, a layer norm and an MLP on the
tokens (channels last), then the head."""

from __future__ import annotations

import torch
from torch import nn


class MapThenTokens(nn.Module):
    def __init__(self, dim: int = 16, classes: int = 10):
        super().__init__()
        self.embed = nn.Conv2d(3, dim, 3, stride=2, padding=1)
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.layer_norm = nn.LayerNorm(dim)
        self.classifier = nn.Linear(dim, classes)

    def forward(self, x):
        features = self.embed(x)
        batch, dim, height, width = features.shape
        tokens = features.flatten(2).transpose(1, 2)
        tokens = tokens + self.mlp(self.norm(tokens))
        tokens = self.layer_norm(tokens)
        stage = tokens.reshape(batch, height, width, -1).permute(0, 3, 1, 2).contiguous()  # the stage's output map
        # the classifier's tokens, its batch read from the map's shape: the exporter's Shape node reads the permuted map
        sequence = stage.permute(0, 2, 3, 1).reshape(stage.shape[0], -1, dim)
        return self.classifier(sequence.mean(dim=1))


def map_then_tokens() -> MapThenTokens:
    torch.manual_seed(0)
    return MapThenTokens().eval()
