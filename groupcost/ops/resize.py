"""Layers that change the spatial size without weights: upsampling, cropping, padding, pixel (un)shuffle.
None has parameters or MACs."""

from __future__ import annotations

import math
from dataclasses import dataclass

from groupcost.ops.base import (
    Layer,
    LayerError,
    Shape,
    arg,
    boolean,
    feature_map,
    format_shape,
    one_of,
    padding,
    per_dim,
    positive_int,
    real,
    resolve_padding,
    scales,
    sizes,
    spatial,
)
from groupcost.ops.registry import register

MODE_RANK = {"linear": 1, "bilinear": 2, "trilinear": 3}
RANK_SHAPE = {1: "C×L", 2: "C×H×W", 3: "C×T×H×W"}


@register("upsample")
@dataclass(frozen=True)
class Upsample(Layer):
    """Resampling to a `scale` or a `size`, as torch.nn.functional.interpolate (and nn.Upsample).

    With `scale`, the output is floor(size × scale) per dimension, and the interpolation uses 1/scale as
    its ratio, as PyTorch does; with `size`, the ratio is input / output.
    """

    mode: str = arg(one_of("nearest", "linear", "bilinear", "trilinear"), "nearest", "nearest (any rank), linear (1-D), bilinear (2-D) or trilinear (3-D)")
    scale: float | tuple[float, ...] | None = arg(scales, None, "scale factor: one number or one per dimension (e.g. 2)")
    size: int | tuple[int, ...] | None = arg(sizes, None, "output size instead of a scale: one number or one per dimension")
    align_corners: bool = arg(boolean, False, "align the corner pixels (interpolating modes only)")

    def out_shape(self, x: Shape) -> Shape:
        c, dims = spatial(x, self.type_name)
        rank = len(dims)
        if self.mode in MODE_RANK and MODE_RANK[self.mode] != rank:
            raise LayerError(f"mode {self.mode} needs a {RANK_SHAPE[MODE_RANK[self.mode]]} input, got {format_shape(x)}",
                             "nearest works in any rank; linear is 1-D, bilinear 2-D, trilinear 3-D", arg="mode")
        if self.align_corners and self.mode == "nearest":
            raise LayerError("align_corners applies to the interpolating modes only", "use mode linear, bilinear or trilinear, or drop align_corners", arg="align_corners")
        if (self.scale is None) == (self.size is None):
            raise LayerError("upsample needs either scale or size", "e.g. - upsample: {scale: 2}", arg="scale" if self.scale is not None else None)
        if self.size is not None:
            return (c, *per_dim(self.size, rank, self.type_name, "size"))
        factors = per_dim(self.scale, rank, self.type_name, "scale")
        outs = tuple(math.floor(float(n) * f) for n, f in zip(dims, factors))  # torch: floor(float(size) * scale)
        if min(outs) < 1:
            raise LayerError(f"scale {'×'.join(map(str, factors))} leaves an output of {format_shape(outs)}", "use a larger scale", arg="scale")
        return (c, *outs)

    def forward(self, x, weights, counter):
        from groupcost.ops.kernels import interpolate

        out = self.out_shape(x.shape[1:])[1:]
        factors = per_dim(self.scale, len(out), self.type_name, "scale") if self.scale is not None else None
        return interpolate(x, out, self.mode, self.align_corners, factors)


@register("crop")
@dataclass(frozen=True)
class CenterCrop(Layer):
    """Centre crop to `size`, as U-Net crops its skip connections: offset (H − h) // 2 per dimension.

    An odd difference cuts the extra pixel from the end (offset rounded down, as U-Net ports do).
    """

    size: int | tuple[int, ...] = arg(sizes, doc="output size: one number or one per dimension")

    def out_shape(self, x: Shape) -> Shape:
        c, dims = spatial(x, self.type_name)
        target = per_dim(self.size, len(dims), self.type_name, "size")
        if any(t > n for t, n in zip(target, dims)):
            raise LayerError(f"crop size {format_shape(target)} is larger than the input {format_shape(dims)}", "crop to a size within the input", arg="size")
        return (c, *target)

    def forward(self, x, weights, counter):
        target = self.out_shape(x.shape[1:])[1:]
        return x[(slice(None), slice(None), *(slice((n - t) // 2, (n - t) // 2 + t) for n, t in zip(x.shape[2:], target)))]


@register("pad")
@dataclass(frozen=True)
class Pad(Layer):
    """Padding, as torch.nn.functional.pad: constant (`value`), reflect (mirror without the edge) or replicate (edge)."""

    p: int | tuple[int, ...] = arg(padding, doc="amounts: P, one per dimension, or [before, after] per dimension ([top, bottom, left, right])")
    mode: str = arg(one_of("constant", "reflect", "replicate"), "constant", "constant, reflect or replicate")
    value: float = arg(real, 0.0, "the constant to pad with (mode constant)")

    def pads(self, x: Shape) -> tuple[int, ...]:
        _, dims = spatial(x, self.type_name)
        if self.p == "same":
            raise LayerError("pad takes amounts, not 'same'", "e.g. p: 1 or p: [top, bottom, left, right]", arg="p")
        return resolve_padding(self.p, len(dims), self.type_name)

    def out_shape(self, x: Shape) -> Shape:
        pads = self.pads(x)
        dims = x[1:]
        if self.mode == "reflect" and any(max(pads[2 * i], pads[2 * i + 1]) >= n for i, n in enumerate(dims)):
            raise LayerError(f"reflect padding {list(pads)} must be smaller than the input {format_shape(dims)}", "PyTorch rejects this too", arg="p")
        return (x[0], *(n + pads[2 * i] + pads[2 * i + 1] for i, n in enumerate(dims)))

    def forward(self, x, weights, counter):
        import numpy as np

        pads = self.pads(x.shape[1:])
        widths = ((0, 0), (0, 0), *zip(pads[::2], pads[1::2]))
        if self.mode == "constant":
            return np.pad(x, widths, constant_values=self.value)
        return np.pad(x, widths, mode={"reflect": "reflect", "replicate": "edge"}[self.mode])


@register("pixelshuffle")
@dataclass(frozen=True)
class PixelShuffle(Layer):
    """Sub-pixel upsampling, as torch.nn.PixelShuffle: C×H×W → C/r² × H·r × W·r."""

    r: int = arg(positive_int, doc="upscale factor r; r² must divide C")

    def out_shape(self, x: Shape) -> Shape:
        c, h, w = feature_map(x, self.type_name)
        if c % (self.r * self.r):
            raise LayerError(f"r²={self.r * self.r} does not divide C={c}", f"legal r here: {', '.join(str(r) for r in range(1, c + 1) if c % (r * r) == 0)}", arg="r")
        return c // (self.r * self.r), h * self.r, w * self.r

    def forward(self, x, weights, counter):
        n, c, h, w = x.shape
        r = self.r
        return x.reshape(n, c // (r * r), r, r, h, w).transpose(0, 1, 4, 2, 5, 3).reshape(n, c // (r * r), h * r, w * r)


@register("pixelunshuffle")
@dataclass(frozen=True)
class PixelUnshuffle(Layer):
    """The inverse of pixelshuffle, as torch.nn.PixelUnshuffle: C×H×W → C·r² × H/r × W/r."""

    r: int = arg(positive_int, doc="downscale factor r; must divide H and W")

    def out_shape(self, x: Shape) -> Shape:
        c, h, w = feature_map(x, self.type_name)
        if h % self.r or w % self.r:
            raise LayerError(f"r={self.r} does not divide H×W={h}×{w}", f"legal r here: {', '.join(str(r) for r in range(1, min(h, w) + 1) if h % r == 0 and w % r == 0)}", arg="r")
        return c * self.r * self.r, h // self.r, w // self.r

    def forward(self, x, weights, counter):
        n, c, h, w = x.shape
        r = self.r
        return x.reshape(n, c, h // r, r, w // r, r).transpose(0, 1, 3, 5, 2, 4).reshape(n, c * r * r, h // r, w // r)
