"""Layers that change the spatial size without weights: upsampling, cropping, padding, pixel (un)shuffle.
None has parameters or MACs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from groupcost.ops.adapters import OnnxGraph, Place, Raised, Raising, TorchModule, torch_pad
from groupcost.ops.base import (
    Layer,
    LayerError,
    Shape,
    arg,
    boolean,
    feature_map,
    format_shape,
    non_negative_int,
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
        if self.scale is not None and self.size is not None:
            raise LayerError("upsample takes scale: or size:, not both", "e.g. - upsample: {scale: 2}", arg="scale")
        if self.scale is None and self.size is None:
            raise LayerError("upsample needs either scale or size", "e.g. - upsample: {scale: 2}")
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

    def torch_module(self, at: Place) -> TorchModule:
        corners = f", align_corners={self.align_corners}" if self.mode != "nearest" else ""
        if at.size_of is not None:  # to: a tensor's size, read at run time as torchvision's F.interpolate(x, size=y.shape[-2:])
            return TorchModule(f"UpsampleTo({self.mode!r}{corners})", f"{{m}}({{x}}, {at.size_of})", helpers=(("UpsampleTo", UPSAMPLE_TO),))
        if self.size is not None:
            out = at.out_shape[1:]
            return TorchModule(f"nn.Upsample(size={out if len(out) > 1 else out[0]}, mode={self.mode!r}{corners})")
        scale = self.scale if not isinstance(self.scale, tuple) else tuple(float(v) for v in self.scale)
        return TorchModule(f"nn.Upsample(scale_factor={scale!r}, mode={self.mode!r}{corners})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        """Resize as torch's interpolate: nearest as floor(out / scale) ('asymmetric', floor), the linear
        modes half-pixel (or align_corners); a scale is given as scales (torch, too, maps by 1/scale), a size as
        sizes: the input's batch (read by Shape, as torch.onnx does: it is symbolic), then C and the spatial size."""
        name = at.name
        if self.mode == "nearest":
            attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
        else:
            attrs = {"mode": "linear", "coordinate_transformation_mode": "align_corners" if self.align_corners else "pytorch_half_pixel"}
        rank = len(at.in_shape) - 1
        if self.scale is not None and not self.align_corners:  # align_corners maps by (in − 1)/(out − 1) whatever the scale: sizes
            import numpy as np

            factors = self.scale if isinstance(self.scale, tuple) else (self.scale,) * rank
            # ONNX floors input × scale in float32: scales where that gives groupcost's (torch's) sizes, else sizes
            agrees = all(math.floor(float(np.float32(n) * np.float32(f))) == o for n, f, o in zip(at.in_shape[1:], factors, at.out_shape[1:]))
            if agrees:
                scales = g.floats(f"{name}.scales", [1.0, 1.0, *map(float, factors)])
                g.node("Resize", [x, "", scales], name, **attrs)
                return
        batch = g.node("Shape", [x], f"{name}/batch", start=0, end=1)  # N, read when it runs: the batch is symbolic
        sizes = g.node("Concat", [batch, g.ints(f"{name}.sizes", list(at.out_shape))], f"{name}/sizes", axis=0)
        g.node("Resize", [x, "", "", sizes], name, **attrs)


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

    def torch_module(self, at: Place) -> TorchModule:
        if at.size_of is not None:  # to: a tensor's size, read at run time
            return TorchModule("CenterCrop()", f"{{m}}({{x}}, {at.size_of})", helpers=(("CenterCrop", CENTER_CROP),))
        return TorchModule(f"CenterCrop({tuple(at.out_shape[1:])!r})", helpers=(("CenterCrop", CENTER_CROP),))

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        dims, outs = at.in_shape[1:], at.out_shape[1:]
        starts = [(n - t) // 2 for n, t in zip(dims, outs)]
        name = at.name
        g.node("Slice", [x, g.ints(f"{name}.starts", starts), g.ints(f"{name}.ends", [s + t for s, t in zip(starts, outs)]),
                         g.ints(f"{name}.axes", list(range(2, 2 + len(dims))))], name)


def pad_value(value) -> float:
    """A number, or an infinity (YAML's `-.inf`): a max pool never picks a padding of -inf."""
    if isinstance(value, float) and math.isinf(value):
        return value
    return real(value)


def channel_pads(value: Any) -> tuple[int, int]:
    """[before, after]: channels added ahead of the input's and after them; N, as `p` takes it, is N on both sides."""
    if isinstance(value, list) and len(value) == 2:
        return non_negative_int(value[0]), non_negative_int(value[1])
    if isinstance(value, list):
        raise LayerError(f"channels takes [before, after] or one number, got {len(value)} numbers", "e.g. channels: [0, 8] adds 8 channels after the input's")
    return non_negative_int(value), non_negative_int(value)


@register("pad")
@dataclass(frozen=True)
class Pad(Layer):
    """Padding, as torch.nn.functional.pad: constant (`value`), reflect (mirror without the edge) or replicate (edge);
    a constant padding may add channels too (a residual's zero channels: HighResNet, CIFAR ResNets' option A)."""

    p: int | tuple[int, ...] = arg(padding, 0, "amounts: P, one per dimension, or [before, after] per dimension ([top, bottom, left, right])")
    mode: str = arg(one_of("constant", "reflect", "replicate"), "constant", "constant, reflect or replicate")
    value: float = arg(pad_value, 0.0, "the constant to pad with (mode constant); -.inf before a max pool (TensorFlow's \"SAME\" max pool)")
    channels: tuple[int, int] = arg(channel_pads, (0, 0), "[before, after] (or N: N on both sides): channels of `value` added ahead of the input's and after them (mode constant)")

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
        if self.mode != "constant" and any(self.channels):
            raise LayerError(f"a {self.mode} padding cannot add channels", "PyTorch pads only the spatial dimensions so; use mode: constant", arg="channels")
        return (x[0] + sum(self.channels), *(n + pads[2 * i] + pads[2 * i + 1] for i, n in enumerate(dims)))

    def forward(self, x, weights, counter):
        import numpy as np

        pads = self.pads(x.shape[1:])
        widths = ((0, 0), self.channels, *zip(pads[::2], pads[1::2]))
        if self.mode == "constant":
            return np.pad(x, widths, constant_values=self.value)
        return np.pad(x, widths, mode={"reflect": "reflect", "replicate": "edge"}[self.mode])

    def torch_module(self, at: Place) -> TorchModule:
        shown = repr(self.value) if math.isfinite(self.value) else f"float('{self.value}')"
        value = f", {shown}" if self.mode == "constant" and self.value != 0 else ""
        pads = (*self.channels, *self.pads(at.in_shape)) if any(self.channels) else self.pads(at.in_shape)
        return TorchModule(f"Pad({torch_pad(pads)}, {self.mode!r}{value})", helpers=(("Pad", PAD),))

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        name = at.name
        pads = self.pads(at.in_shape)
        before, after = self.channels
        inputs = [x, g.ints(f"{name}.pads", [0, before, *pads[::2], 0, after, *pads[1::2]])]
        if self.mode == "constant":
            inputs.append(g.tensor(f"{name}.value", (), repr(self.value)))
        g.node("Pad", inputs, name, mode={"constant": "constant", "reflect": "reflect", "replicate": "edge"}[self.mode])


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

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"nn.PixelShuffle({self.r})")

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"nn.PixelShuffle({r.a('r')})", f"(shape[0] // {r.a('r')} ** 2, shape[1] * {r.a('r')}, shape[2] * {r.a('r')})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        g.node("DepthToSpace", [x], at.name, blocksize=self.r, mode="CRD")  # CRD is torch's PixelShuffle order


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

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"nn.PixelUnshuffle({self.r})")

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"nn.PixelUnshuffle({r.a('r')})", f"(shape[0] * {r.a('r')} ** 2, shape[1] // {r.a('r')}, shape[2] // {r.a('r')})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        """torch's order (channel c·r² + i·r + j), which ONNX's SpaceToDepth does not keep: reshape, transpose, reshape."""
        c, h, w = at.in_shape
        r, name = self.r, at.name
        split = g.node("Reshape", [x, g.ints(f"{name}/split.shape", [0, c, h // r, r, w // r, r])], f"{name}/split")
        moved = g.node("Transpose", [split], f"{name}/transposed", perm=[0, 1, 3, 5, 2, 4])
        g.node("Reshape", [moved, g.ints(f"{name}.shape", [0, c * r * r, h // r, w // r])], name)


CENTER_CROP = '''
class CenterCrop(nn.Module):
    """Centre crop to `size`, or to the spatial size of `like`: offset (size_in − size) // 2 in each spatial dimension."""

    def __init__(self, size=None):
        super().__init__()
        self.size = None if size is None else tuple(size)

    def forward(self, x, like=None):
        sizes = self.size if like is None else like.shape[2:]
        for axis, size in enumerate(sizes, start=2):
            x = x.narrow(axis, (x.shape[axis] - size) // 2, size)
        return x
'''

UPSAMPLE_TO = '''
class UpsampleTo(nn.Module):
    """Resampling to the spatial size of another tensor, `like`, read when forward runs: F.interpolate."""

    def __init__(self, mode="nearest", align_corners=None):
        super().__init__()
        self.mode, self.align_corners = mode, align_corners

    def forward(self, x, like):
        return F.interpolate(x, size=like.shape[2:], mode=self.mode, align_corners=self.align_corners)
'''

PAD = '''
class Pad(nn.Module):
    """F.pad as a module: `pad` in F.pad's order (last dimension first), mode constant, reflect or replicate."""

    def __init__(self, pad, mode="constant", value=0.0):
        super().__init__()
        self.pad, self.mode, self.value = tuple(pad), mode, value

    def forward(self, x):
        if self.mode == "constant":
            return F.pad(x, self.pad, "constant", self.value)
        return F.pad(x, self.pad, self.mode)
'''
