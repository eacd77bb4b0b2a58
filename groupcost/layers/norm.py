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

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        return {"weight": (x[0],), "bias": (x[0],)} if self.affine else {}

    def forward(self, x, weights, counter):
        """Inference with fresh running statistics (mean 0, variance 1), as a new torch module has."""
        channel = (1, -1) + (1,) * (x.ndim - 2)
        if not self.affine:
            return x / (1.0 + 1e-5) ** 0.5
        y = x * (weights["weight"] / (1.0 + 1e-5) ** 0.5).reshape(channel)
        y += weights["bias"].reshape(channel)
        return y


@register("lrn")
@dataclass(frozen=True)
class LocalResponseNorm(Layer):
    """Local response normalisation across `size` neighbouring channels (AlexNet); no parameters."""

    size: int = arg(positive_int, 5, "number of neighbouring channels")

    def forward(self, x, weights, counter):
        """torch.nn.LocalResponseNorm(size, alpha=1e-4, beta=0.75, k=1): x / (k + α·mean of x² over the window)^β."""
        import numpy as np

        squares = np.pad(x * x, ((0, 0), (self.size // 2, (self.size - 1) // 2), (0, 0), (0, 0)))
        sums = np.concatenate([np.zeros_like(squares[:, :1]), squares.cumsum(axis=1)], axis=1)
        window = (sums[:, self.size :] - sums[:, : -self.size]) / self.size
        return x / (1.0 + 1e-4 * window) ** 0.75
