"""Fully connected layers: `fc` on a flat input, `linear` on the channels at every position."""

from __future__ import annotations

import math
from dataclasses import dataclass

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
