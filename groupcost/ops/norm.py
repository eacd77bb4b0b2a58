"""Normalisation and other per-channel layers that are free of MACs by our convention.

Every one takes flat, 1-D, 2-D and 3-D inputs unless it says otherwise; C is the first dimension."""

from __future__ import annotations

import math
from dataclasses import dataclass

from groupcost.ops.base import Cost, Layer, LayerError, Shape, arg, boolean, format_shape, positive_int, positive_real, real, spatial
from groupcost.ops.registry import register


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


def _channel(x) -> tuple[int, ...]:
    """The shape that broadcasts a per-channel vector over an (N, C, *spatial) tensor."""
    return (1, -1) + (1,) * (x.ndim - 2)


def _normalize(x, axes: tuple[int, ...], eps: float):
    """(x − mean) / sqrt(var + eps) over `axes`, biased variance, computed in float64."""
    import numpy as np

    wide = x.astype(np.float64)
    mean = wide.mean(axis=axes, keepdims=True)
    var = ((wide - mean) ** 2).mean(axis=axes, keepdims=True)
    return (wide - mean) / np.sqrt(var + eps)


class AffineNorm(Layer):
    """A normalisation with an optional learned scale and shift per channel (PyTorch's `weight`, `bias`)."""

    affine: bool
    eps: float

    def cost(self, x: Shape, y: Shape) -> Cost:
        return Cost(params=2 * x[0] if self.affine else 0)

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        return {"weight": (x[0],), "bias": (x[0],)} if self.affine else {}

    def axes(self, x) -> tuple[int, ...]:
        raise NotImplementedError

    def forward(self, x, weights, counter):
        y = _normalize(x, self.axes(x), self.eps)
        if self.affine:
            y = y * weights["weight"].reshape(_channel(x)) + weights["bias"].reshape(_channel(x))
        return y.astype(x.dtype)


@register("layernorm")
@dataclass(frozen=True)
class LayerNorm(AffineNorm):
    """Layer norm over the channels at every position (ConvNeXt's LayerNorm2d), or over a flat input's features."""

    eps: float = arg(positive_real, 1e-6, "added to the variance (ConvNeXt: 1e-6; torch.nn.LayerNorm's default is 1e-5)")
    affine: bool = arg(boolean, True, "learn a scale and shift per channel (2 parameters per channel)")

    def axes(self, x) -> tuple[int, ...]:
        return (1,)


@register("groupnorm")
@dataclass(frozen=True)
class GroupNorm(AffineNorm):
    """Group norm, as torch.nn.GroupNorm: statistics over each group of C/G channels and all positions."""

    groups: int = arg(positive_int, doc="number of groups G; must divide C", alias="g")
    eps: float = arg(positive_real, 1e-5, "added to the variance")
    affine: bool = arg(boolean, True, "learn a scale and shift per channel")

    def out_shape(self, x: Shape) -> Shape:
        c = x[0]
        if c % self.groups:
            legal = [g for g in range(1, c + 1) if c % g == 0]
            raise LayerError(f"groups={self.groups} does not divide C={c}", f"legal groups here: {', '.join(map(str, legal))}", arg="groups")
        if math.prod(x) == self.groups:
            raise LayerError(f"groupnorm needs more than one value per group: {self.groups} groups of {format_shape(x)}", "PyTorch rejects this too", arg="groups")
        return x

    def forward(self, x, weights, counter):
        n, c = x.shape[:2]
        y = _normalize(x.reshape(n, self.groups, -1), (2,), self.eps).reshape(x.shape)
        if self.affine:
            y = y * weights["weight"].reshape(_channel(x)) + weights["bias"].reshape(_channel(x))
        return y.astype(x.dtype)


@register("instancenorm")
@dataclass(frozen=True)
class InstanceNorm(AffineNorm):
    """Instance norm, as torch.nn.InstanceNorm1d/2d/3d: statistics per sample and channel over all positions."""

    affine: bool = arg(boolean, False, "learn a scale and shift per channel (torch's default: no)")
    eps: float = arg(positive_real, 1e-5, "added to the variance")

    def out_shape(self, x: Shape) -> Shape:
        _, dims = spatial(x, self.type_name)
        if math.prod(dims) == 1:
            raise LayerError(f"instancenorm needs more than one position, got {format_shape(x)}", "PyTorch rejects this too")
        return x

    def axes(self, x) -> tuple[int, ...]:
        return tuple(range(2, x.ndim))


@register("layerscale")
@dataclass(frozen=True)
class LayerScale(Layer):
    """A learned scale γ per channel (ConvNeXt, CaiT): C parameters, stored as torchvision's `layer_scale` (C, 1, 1)."""

    init: float = arg(real, 1e-6, "initial value of every γ (for exported models; no effect on cost)")

    def cost(self, x: Shape, y: Shape) -> Cost:
        return Cost(params=x[0])

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        return {"layer_scale": (x[0], *(1,) * (len(x) - 1))}

    def forward(self, x, weights, counter):
        return x * weights["layer_scale"].reshape(_channel(x))
