"""Normalisation and other per-channel layers that are free of MACs by our convention."""

from __future__ import annotations

from dataclasses import dataclass

from groupcost.layers.base import Cost, Layer, Shape, arg, boolean, positive_int
from groupcost.layers.registry import register


@register("bn", "batchnorm")
@dataclass(frozen=True)
class BatchNorm(Layer):
    """Batch norm: a learned scale and shift per channel (running statistics are buffers)."""

    affine: bool = arg(boolean, True, "learn scale and shift (2 parameters per channel)")

    def cost(self, x: Shape, y: Shape) -> Cost:
        return Cost(params=2 * x[0] if self.affine else 0)


@register("lrn")
@dataclass(frozen=True)
class LocalResponseNorm(Layer):
    """Local response normalisation across `size` neighbouring channels (AlexNet); no parameters."""

    size: int = arg(positive_int, 5, "number of neighbouring channels")
