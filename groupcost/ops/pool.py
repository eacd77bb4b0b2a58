"""Pooling in 1-D, 2-D and 3-D (the input's rank decides): max and average windows, global and adaptive
average and max pooling. No MACs, no params."""

from __future__ import annotations

from dataclasses import dataclass

from groupcost.ops.adapters import ExportError, OnnxGraph, Place, Raised, Raising, TorchModule, Unary, ints, nd, options
from groupcost.ops.base import (
    KEYWORD_KINDS,
    Layer,
    LayerError,
    Shape,
    arg,
    boolean,
    format_shape,
    padding,
    per_dim,
    sizes,
    spatial,
    window_output,
)
from groupcost.ops.registry import register


class Pool(Layer):
    """A sliding window with PyTorch's size rules (ceil_mode, padding at most half the window)."""

    k: int | tuple[int, ...]
    s: int | tuple[int, ...] | None
    p: int | tuple[int, ...]
    ceil_mode: bool

    def dilation(self) -> int | tuple[int, ...]:
        return 1

    def resolved(self, x: Shape) -> tuple[int, tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """C, spatial sizes, and kernel, stride, padding (one per side, symmetric) and dilation per dimension."""
        c, dims = spatial(x, self.type_name)
        rank = len(dims)
        k = per_dim(self.k, rank, self.type_name, "k")
        s = per_dim(self.s, rank, self.type_name, "s") if self.s is not None else k
        p = per_dim(self.p, rank, self.type_name, "p")
        d = per_dim(self.dilation(), rank, self.type_name, "d")
        return c, dims, k, s, p, d

    def out_shape(self, x: Shape) -> Shape:
        c, dims, k, s, p, d = self.resolved(x)
        # ATen checks both pad ≤ k / 2 and pad ≤ (d·(k − 1) + 1) / 2; the first is the tighter
        if any(pad > kk // 2 for pad, kk in zip(p, k)):
            raise LayerError(f"padding {[v for v in p for _ in range(2)]} is more than half the window {format_shape(k)}", "PyTorch rejects this too, whatever the dilation", arg="p")
        outs = tuple(window_output(n, kk, ss, pad, pad, dd, self.ceil_mode) for n, kk, ss, pad, dd in zip(dims, k, s, p, d))
        if min(outs) < 1:
            dilated = f" (dilation {format_shape(d)})" if any(v != 1 for v in d) else ""
            padded = tuple(n + 2 * pad for n, pad in zip(dims, p))
            raise LayerError(f"window {format_shape(k)}{dilated} is larger than the padded input {format_shape(padded)}", "use a smaller window or more padding", arg="k")
        return (c, *outs)

    def forward(self, x, weights, counter):
        from groupcost.ops.kernels import pool

        _, _, k, s, p, d = self.resolved(x.shape[1:])
        mode = "max" if isinstance(self, MaxPool) else "avg"
        return pool(x, k, s, p, d, self.out_shape(x.shape[1:])[1:], mode, getattr(self, "count_include_pad", True))

    torch_name = ""  # nn.{torch_name}{1,2,3}d
    onnx_op = ""

    def torch_module(self, at: Place) -> TorchModule:
        _, _, k, s, p, d = self.resolved(at.in_shape)
        opts = options(
            stride=ints(s) if s != k else None,
            padding=ints(p) if any(p) else None,
            dilation=ints(d) if self.torch_name == "MaxPool" and d != (1,) * len(k) else None,
            ceil_mode="True" if self.ceil_mode else None,
            count_include_pad="False" if not getattr(self, "count_include_pad", True) else None,
        )
        return TorchModule(f"{nd(self.torch_name, at.in_shape)}({ints(k)}{opts})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        _, _, k, s, p, d = self.resolved(at.in_shape)
        attrs = {"kernel_shape": list(k), "strides": list(s), "pads": [*p, *p], "ceil_mode": int(self.ceil_mode)}
        if self.onnx_op == "MaxPool":
            attrs["dilations"] = list(d)
        else:
            attrs["count_include_pad"] = int(self.count_include_pad)
        g.node(self.onnx_op, [x], at.name, **attrs)


def pool_padding(value) -> int | tuple[int, ...]:
    """Pools pad symmetrically, as PyTorch's do: P or one per dimension ([h, w]); a symmetric
    [top, bottom, left, right] (or its 3-D six) is read as one per dimension."""
    pads = padding(value)
    if pads == "same":
        raise LayerError(f"pooling takes symmetric padding, got {value!r}", "give p as a number or one per dimension, e.g. [h, w]")
    if isinstance(pads, tuple) and len(pads) in (4, 6):
        if pads[::2] != pads[1::2]:
            raise LayerError(f"pooling takes symmetric padding, got {value!r}", "give p as a number or one per dimension, e.g. [h, w]")
        return pads[::2]
    return pads


KEYWORD_KINDS[pool_padding] = ("same", "valid")  # read as words, then refused or taken as 0 by pool_padding


@register("maxpool")
@dataclass(frozen=True)
class MaxPool(Pool):
    """Max pooling, as torch.nn.MaxPool1d/2d/3d."""

    k: int | tuple[int, ...] = arg(sizes, doc="window size: K or one per dimension")
    s: int | tuple[int, ...] | None = arg(sizes, None, "stride (default: the window size)", default_from="k")
    p: int | tuple[int, ...] = arg(pool_padding, 0, "padding: P or one per dimension")
    d: int | tuple[int, ...] = arg(sizes, 1, "dilation")
    ceil_mode: bool = arg(boolean, False, "round the output size up")

    def dilation(self) -> int | tuple[int, ...]:
        return self.d

    torch_name = "MaxPool"
    onnx_op = "MaxPool"

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"{r.need('MaxPool2d')}(shape, {r.a('k')}{r.kw('s', 'p', 'd', 'ceil_mode')})", "module")


@register("avgpool")
@dataclass(frozen=True)
class AvgPool(Pool):
    """Average pooling, as torch.nn.AvgPool1d/2d/3d (padding counted in the divisor unless
    count_include_pad is false, as there: Inception's pools leave it out)."""

    k: int | tuple[int, ...] = arg(sizes, doc="window size: K or one per dimension")
    s: int | tuple[int, ...] | None = arg(sizes, None, "stride (default: the window size)", default_from="k")
    p: int | tuple[int, ...] = arg(pool_padding, 0, "padding: P or one per dimension")
    ceil_mode: bool = arg(boolean, False, "round the output size up")
    count_include_pad: bool = arg(boolean, True, "count the zero padding in each window's divisor (PyTorch's default)")

    def out_shape(self, x: Shape) -> Shape:
        _, dims, k, *_ = self.resolved(x)
        if len(dims) == 3 and any(n < kk for n, kk in zip(dims, k)):  # AvgPool3d alone checks the unpadded input
            raise LayerError(f"a 3-D average pool needs an input of at least its window {format_shape(k)}, got {format_shape(dims)}", "PyTorch's AvgPool3d refuses smaller inputs, padded or not", arg="k")
        return super().out_shape(x)

    torch_name = "AvgPool"
    onnx_op = "AveragePool"

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"{r.need('AvgPool2d')}(shape, {r.a('k')}{r.kw('s', 'p', 'ceil_mode', 'count_include_pad')})", "module")


class GlobalPool(Layer):
    """C×... → C×1×...: every spatial dimension reduced to 1."""

    def out_shape(self, x: Shape) -> Shape:
        c, dims = spatial(x, self.type_name)
        return (c, *(1,) * len(dims))


@register("gap")
@dataclass(frozen=True)
class GlobalAvgPool(GlobalPool):
    """Global average pooling: C×H×W → C×1×1, no weights (compare `gdc`)."""

    def forward(self, x, weights, counter):
        return x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"{nd('AdaptiveAvgPool', at.in_shape)}(1)")

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised("nn.AdaptiveAvgPool2d(1)", "(shape[0], 1, 1)")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        Unary("GlobalAveragePool")(g, at, x)


@register("gmp")
@dataclass(frozen=True)
class GlobalMaxPool(GlobalPool):
    """Global max pooling: C×H×W → C×1×1, as torch.nn.AdaptiveMaxPool2d(1)."""

    def forward(self, x, weights, counter):
        return x.max(axis=tuple(range(2, x.ndim)), keepdims=True)

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"{nd('AdaptiveMaxPool', at.in_shape)}(1)")

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised("nn.AdaptiveMaxPool2d(1)", "(shape[0], 1, 1)")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        axes = list(range(2, len(at.in_shape) + 1))
        g.node("ReduceMax", [x, g.ints(f"{at.name}.axes", axes)], at.name, keepdims=1)


class AdaptivePool(Layer):
    size: int | tuple[int, ...]

    def out_shape(self, x: Shape) -> Shape:
        c, dims = spatial(x, self.type_name)
        return (c, *per_dim(self.size, len(dims), self.type_name, "size"))

    def forward(self, x, weights, counter):
        from groupcost.ops.kernels import adaptive_pool

        return adaptive_pool(x, self.out_shape(x.shape[1:])[1:], "max" if isinstance(self, AdaptiveMaxPool) else "avg")

    torch_name = ""  # nn.{torch_name}{1,2,3}d
    onnx_op = ""

    def torch_module(self, at: Place) -> TorchModule:
        if at.size_of is not None:  # to: a tensor's size, read at run time
            kind = "max" if isinstance(self, AdaptiveMaxPool) else "avg"
            return TorchModule(f"AdaptivePoolTo({kind!r})", f"{{m}}({{x}}, {at.size_of})", helpers=(("AdaptivePoolTo", ADAPTIVE_POOL_TO),))
        return TorchModule(f"{nd(self.torch_name, at.in_shape)}({ints(at.out_shape[1:])})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        dims, outs = at.in_shape[1:], at.out_shape[1:]
        if any(n % o for n, o in zip(dims, outs)):
            size = lambda v: "×".join(map(str, v))  # noqa: E731
            raise ExportError(f"{at.name}: {self.type_name} from {size(dims)} to {size(outs)} has no ONNX export", "ONNX has no adaptive pooling; it is exported only where the output size divides the input", at.loc)
        kernel = [n // o for n, o in zip(dims, outs)]
        g.node(self.onnx_op, [x], at.name, kernel_shape=kernel, strides=kernel)


@register("adaptive_avgpool")
@dataclass(frozen=True)
class AdaptiveAvgPool(AdaptivePool):
    """Adaptive average pooling to a fixed output size, as torch.nn.AdaptiveAvgPool1d/2d/3d."""

    size: int | tuple[int, ...] = arg(sizes, doc="output size: N or one per dimension ([H_out, W_out])")

    torch_name = "AdaptiveAvgPool"
    onnx_op = "AveragePool"

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"nn.AdaptiveAvgPool2d({r.need('_pair')}({r.a('size')}))", f"(shape[0], *{r.need('_pair')}({r.a('size')}))")


@register("adaptive_maxpool")
@dataclass(frozen=True)
class AdaptiveMaxPool(AdaptivePool):
    """Adaptive max pooling to a fixed output size, as torch.nn.AdaptiveMaxPool1d/2d/3d."""

    size: int | tuple[int, ...] = arg(sizes, doc="output size: N or one per dimension ([H_out, W_out])")

    torch_name = "AdaptiveMaxPool"
    onnx_op = "MaxPool"


ADAPTIVE_POOL_TO = '''
class AdaptivePoolTo(nn.Module):
    """Adaptive pooling ('avg' or 'max') to the spatial size of another tensor, `like`, read when forward runs."""

    def __init__(self, kind="avg"):
        super().__init__()
        self.kind = kind

    def forward(self, x, like):
        pool = getattr(F, f"adaptive_{self.kind}_pool{x.dim() - 2}d")
        return pool(x, like.shape[2:])
'''
