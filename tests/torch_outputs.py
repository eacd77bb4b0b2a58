"""Torch modules whose forward returns something other than a tensor, as model libraries' models do: a Hugging
Face-style ModelOutput (an ordered dict of the outputs computed, None for those not computed), a dataclass, a
dict, a nested tuple; read by the tests as `torch:torch_outputs:FACTORY` (needs torch)."""

from __future__ import annotations

import collections
import dataclasses

import torch
from torch import nn


class Classifier(nn.Module):
    """A stem conv, global pooling and a linear head: `features` (the conv's map) and `logits` (its forward returns the logits alone)."""

    def __init__(self, width: int = 8, classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.head = nn.Linear(width, classes)

    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.stem(x)
        return features, self.head(features.mean((2, 3)))

    def forward(self, x):
        return self.parts(x)[1]


class OutputDict(collections.OrderedDict):
    """A ModelOutput-like result: a dict subclass holding only the outputs that were computed."""


class LibraryStyle(Classifier):
    """Returns OutputDict(logits=...) without the loss or hidden states (none asked for)."""

    def forward(self, x):
        return OutputDict(logits=self.parts(x)[1])


@dataclasses.dataclass
class Result:
    loss: torch.Tensor | None
    logits: torch.Tensor
    label: str


class DataclassResult(Classifier):
    def forward(self, x):
        return Result(loss=None, logits=self.parts(x)[1], label="class")


class Nested(Classifier):
    """((features, logits), {"pooled": ...}): every tensor, depth first."""

    def forward(self, x):
        features, logits = self.parts(x)
        return (features, logits), {"pooled": features.mean((2, 3)), "note": None}


class NoTensor(Classifier):
    def forward(self, x):
        self.parts(x)
        return {"loss": None}


def library_style() -> nn.Module:
    return LibraryStyle()


def dataclass_result() -> nn.Module:
    return DataclassResult()


def nested() -> nn.Module:
    return Nested()


def no_tensor() -> nn.Module:
    return NoTensor()
