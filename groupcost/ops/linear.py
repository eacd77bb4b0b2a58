"""Fully connected layers: `fc` on a flat input, `linear` on the channels at every position."""

from __future__ import annotations

import math
from dataclasses import dataclass

from groupcost.ops.adapters import OnnxGraph, Place, Raised, Raising, TorchModule, channels_last, onnx_params
from groupcost.ops.base import Cost, Layer, LayerError, Shape, arg, boolean, format_shape, positive_int
from groupcost.ops.registry import register


@register("fc")
@dataclass(frozen=True)
class Linear(Layer):
    """Fully connected layer on a flat input, as torch.nn.Linear."""

    counts_macs = True

    out: int = arg(positive_int, doc="output features")
    bias: bool = arg(boolean, True, "add a learnable bias per output")

    def out_shape(self, x: Shape) -> Shape:
        if len(x) != 1:
            raise LayerError(f"fc needs a flat input, got {format_shape(x)}", "add `- flatten` before it")
        return (self.out,)

    def cost(self, x: Shape, y: Shape) -> Cost:
        weights = x[0] * self.out
        return Cost(params=weights + (self.out if self.bias else 0), macs=weights * math.prod(y[1:]), weights=weights)

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        return {"weight": (self.out, x[0]), **({"bias": (self.out,)} if self.bias else {})}

    def forward(self, x, weights, counter):
        y = counter.matmul(x, weights["weight"].T)
        return y + weights["bias"] if self.bias else y

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"nn.Linear({at.in_shape[0]}, {self.out}{'' if self.bias else ', bias=False'})")

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"nn.Linear(shape[0], {r.a('out')}{r.kw('bias')})", f"({r.a('out')},)")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        g.node("Gemm", [x, *onnx_params(g, at, self.weight_shapes(at.in_shape), {"weight": "kernel"})], at.name, transB=1)


@register("linear")
@dataclass(frozen=True)
class ChannelLinear(Linear):
    """torch.nn.Linear on the channels at every position (ConvNeXt's channels-last MLP): a 1×1 conv.

    C×... → out×...: in·out weights (+ out), in·out MACs per position, as `pwconv` with the same bias.
    On a flat input it is `fc`.
    """

    def out_shape(self, x: Shape) -> Shape:
        return (self.out, *x[1:])

    def forward(self, x, weights, counter):
        import numpy as np

        channels_last = np.moveaxis(x, 1, -1)
        y = counter.matmul(channels_last.reshape(-1, x.shape[1]), weights["weight"].T)
        if self.bias:
            y += weights["bias"]
        return np.moveaxis(y.reshape(*channels_last.shape[:-1], self.out), -1, 1)

    def torch_module(self, at: Place) -> TorchModule:
        if len(at.in_shape) == 1:
            return super().torch_module(at)
        return TorchModule(f"ChannelLinear({at.in_shape[0]}, {self.out}{'' if self.bias else ', bias=False'})", helpers=(("ChannelLinear", CHANNEL_LINEAR),))

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"{r.need('_linear')}(shape, {r.a('out')}{r.kw('bias')})", f"({r.a('out')}, *shape[1:])")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        """nn.Linear on the channels at every position: channels last, MatMul by Wᵀ (+ bias), channels back."""
        if len(at.in_shape) == 1:
            super().onnx_nodes(g, at, x)
            return
        params = onnx_params(g, at, self.weight_shapes(at.in_shape), {"weight": "kernel"})
        last, back = channels_last(g, at, x)
        wt = g.node("Transpose", [params[0]], f"{at.name}/weight_t", perm=[1, 0])
        y = g.node("MatMul", [last, wt], f"{at.name}/matmul")
        if len(params) > 1:
            y = g.node("Add", [y, params[1]], f"{at.name}/bias")
        g.node("Transpose", [y], at.name, perm=back)


CHANNEL_LINEAR = '''
class ChannelLinear(nn.Linear):
    """nn.Linear on the channels at every position: channels moved last, mapped, moved back."""

    def forward(self, x):
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)
'''
