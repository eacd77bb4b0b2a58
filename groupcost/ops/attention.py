"""Squeeze-and-excitation: channel attention reported as one row."""

from __future__ import annotations

from dataclasses import dataclass

from groupcost.ops.activation import plain_activation_name
from groupcost.ops.base import Cost, Layer, Shape, arg, feature_map, positive_int
from groupcost.ops.registry import register


@register("se")
@dataclass(frozen=True)
class SqueezeExcitation(Layer):
    """GAP → 1×1 conv C→S (bias) → act → 1×1 conv S→C (bias) → gate → scale the input.

    As torchvision's SqueezeExcitation; the two 1×1 convs count as convolution MACs.
    """

    counts_macs = True

    squeeze: int = arg(positive_int, doc="squeeze channels S, e.g. divisible(c_in / 4, 8)")
    act: str = arg(plain_activation_name, "relu", "activation between the two convs")
    gate: str = arg(plain_activation_name, "sigmoid", "gating activation (sigmoid or hsigmoid)")

    def out_shape(self, x: Shape) -> Shape:
        feature_map(x, self.type_name)
        return x

    def cost(self, x: Shape, y: Shape) -> Cost:
        c = x[0]
        weights = 2 * c * self.squeeze
        return Cost(params=weights + self.squeeze + c, macs=weights, weights=weights)

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        c, s = x[0], self.squeeze
        return {"fc1.weight": (s, c, 1, 1), "fc1.bias": (s,), "fc2.weight": (c, s, 1, 1), "fc2.bias": (c,)}

    def forward(self, x, weights, counter):
        from groupcost.ops.registry import LAYER_TYPES

        pooled = x.mean(axis=(2, 3))
        hidden = LAYER_TYPES[self.act]().forward(counter.matmul(pooled, weights["fc1.weight"][:, :, 0, 0].T) + weights["fc1.bias"], {}, counter)
        scale = LAYER_TYPES[self.gate]().forward(counter.matmul(hidden, weights["fc2.weight"][:, :, 0, 0].T) + weights["fc2.bias"], {}, counter)
        return x * scale[:, :, None, None]
