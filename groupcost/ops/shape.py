"""Layers that only move data: flatten, dropout, channel shuffle."""

from __future__ import annotations

import math
from dataclasses import dataclass

from groupcost.ops.adapters import OnnxGraph, Place, Raised, Raising, TorchModule, Unary
from groupcost.ops.base import Layer, LayerError, Shape, arg, positive_int, probability, spatial
from groupcost.ops.registry import register


@register("flatten")
@dataclass(frozen=True)
class Flatten(Layer):
    """C×H×W → (C·H·W), as torch.flatten(x, 1)."""

    def out_shape(self, x: Shape) -> Shape:
        return (math.prod(x),)

    def forward(self, x, weights, counter):
        return x.reshape(x.shape[0], -1)

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule("nn.Flatten()")

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised("nn.Flatten()", f"({r.need('_numel')}(shape),)")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        Unary("Flatten", {"axis": 1})(g, at, x)


@register("dropout")
@dataclass(frozen=True)
class Dropout(Layer):
    """Dropout: the identity at inference."""

    p: float = arg(probability, 0.5, "drop probability (no effect on cost)")

    def forward(self, x, weights, counter):
        return x

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"nn.Dropout({self.p})")

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"nn.Dropout({r.a('p') or '0.5'})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        Unary("Identity")(g, at, x)  # inference


@register("shuffle")
@dataclass(frozen=True)
class ChannelShuffle(Layer):
    """ShuffleNet's channel shuffle: lets information cross groups at no parameter or MAC cost."""

    groups: int = arg(positive_int, doc="number of groups g; must divide C", alias="g")

    def out_shape(self, x: Shape) -> Shape:
        c, _ = spatial(x, self.type_name)
        if c % self.groups:
            legal = [g for g in range(1, c + 1) if c % g == 0]
            raise LayerError(f"groups={self.groups} does not divide C={c}", f"legal g here: {', '.join(map(str, legal))}", arg="groups")
        return x

    def forward(self, x, weights, counter):
        n, c, *rest = x.shape
        return x.reshape(n, self.groups, c // self.groups, -1).transpose(0, 2, 1, 3).reshape(x.shape)

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"nn.ChannelShuffle({self.groups})")

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"nn.ChannelShuffle({r.a('groups')})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        c, *dims = at.in_shape
        k = self.groups
        split = g.node("Reshape", [x, g.ints(f"{at.name}/grouped.shape", [0, k, c // k, *dims])], f"{at.name}/grouped")
        perm = [0, 2, 1, *range(3, 3 + len(dims))]
        swapped = g.node("Transpose", [split], f"{at.name}/transposed", perm=perm)
        g.node("Reshape", [swapped, g.ints(f"{at.name}.shape", [0, c, *dims])], at.name)
