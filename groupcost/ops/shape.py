"""Layers that only move data: flatten, dropout, channel shuffle (reshapes and slices: groupcost.ops.view)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from groupcost.ops.adapters import OnnxGraph, Place, Raised, Raising, TorchModule, Unary
from groupcost.ops.base import Layer, LayerError, Shape, arg, format_shape, positive_int, probability, spatial
from groupcost.ops.view import dim_index, whole
from groupcost.ops.registry import register


@register("flatten")
@dataclass(frozen=True)
class Flatten(Layer):
    """torch.flatten(x, start, end): dims start to end made one (PyTorch's numbering, 0 the batch).

    The default, 1 to -1, gives C×H×W → (C·H·W,)."""

    start: int = arg(whole, 1, "first dim flattened (1: the channels)")
    end: int = arg(whole, -1, "last dim flattened (-1: the last)")

    def span(self, x: Shape) -> tuple[int, int]:
        """[first, last] indices into the per-sample shape."""
        first, last = dim_index(self.start, x, self.type_name, "start"), dim_index(self.end, x, self.type_name, "end")
        if last < first:
            raise LayerError(f"flatten start {self.start} comes after end {self.end} on N×{format_shape(x)}", "start is the first dim flattened, end the last", arg="end")
        return first, last

    @property
    def whole_sample(self) -> bool:
        return (self.start, self.end) == (1, -1)

    def out_shape(self, x: Shape) -> Shape:
        first, last = self.span(x)
        return (*x[:first], math.prod(x[first:last + 1]), *x[last + 1:])

    def forward(self, x, weights, counter):
        return x.reshape(x.shape[0], *self.out_shape(x.shape[1:]))

    def torch_module(self, at: Place) -> TorchModule:
        if self.whole_sample:
            return TorchModule("nn.Flatten()")
        first, last = self.span(at.in_shape)
        return TorchModule(f"nn.Flatten({first + 1}, {last + 1})")

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        if r.a("start") is None and r.a("end") is None:
            return Raised("nn.Flatten()", f"({r.need('_numel')}(shape),)")
        start, end = r.a("start") or "1", r.a("end") or "-1"
        return Raised(f"nn.Flatten({start}, {end})", f"{r.need('_flattened')}(shape, {start}, {end})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        if self.whole_sample:
            Unary("Flatten", {"axis": 1})(g, at, x)
        else:
            g.node("Reshape", [x, g.ints(f"{at.name}.shape", [0, *at.out_shape])], at.name)


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
