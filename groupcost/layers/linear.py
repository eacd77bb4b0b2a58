"""Fully connected layers."""

from __future__ import annotations

from dataclasses import dataclass

from groupcost.layers.base import Cost, Layer, LayerError, Shape, arg, boolean, format_shape, positive_int
from groupcost.layers.registry import register


@register("fc", "linear")
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
        return Cost(params=weights + (self.out if self.bias else 0), macs=weights, weights=weights)

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        return {"weight": (self.out, x[0]), **({"bias": (self.out,)} if self.bias else {})}

    def forward(self, x, weights, counter):
        y = counter.matmul(x, weights["weight"].T)
        return y + weights["bias"] if self.bias else y
