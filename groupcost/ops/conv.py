"""Convolutions in 1-D, 2-D and 3-D (the input's rank decides): standard, grouped, depthwise, pointwise,
depthwise-separable, GDC and transposed."""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, replace

from groupcost.ops.adapters import OnnxGraph, Place, Raised, Raising, TorchModule, Unraisable, ints, nd, onnx_pads, onnx_params, options, torch_pad
from groupcost.ops.base import (
    Cost,
    Layer,
    LayerError,
    Macro,
    Shape,
    arg,
    boolean,
    format_shape,
    offsets,
    padding,
    per_dim,
    positive_int,
    positive_real,
    resolve_padding,
    same_padding,
    sizes,
    spatial,
    window_output,
)
from groupcost.ops.activation import activation, activation_name
from groupcost.ops.conv_weights import (FILTER_DOC, FILTERS, FIXED_FILTER, STANDARDISATIONS, STANDARDISED_CONV, WS_DOC, WS_EPS_DOC, check_weight_args,
                                        fixed_kernel, onnx_fixed, onnx_standardised, standardised)
from groupcost.ops.norm import BatchNorm
from groupcost.ops.registry import register


def legal_groups(c_in: int, c_out: int) -> list[int]:
    """Every G that divides both channel counts."""
    return [g for g in range(1, min(c_in, c_out) + 1) if c_in % g == 0 and c_out % g == 0]


def nearest(values: list[int], target: int, n: int = 2) -> list[int]:
    return sorted(sorted(values, key=lambda v: (abs(v - target), v))[:n])


def check_groups(c_in: int, c_out: int, groups: int) -> None:
    if c_in % groups == 0 and c_out % groups == 0:
        return
    which = " and ".join(f"{name}={c}" for name, c in (("C_in", c_in), ("C_out", c_out)) if c % groups)
    legal = legal_groups(c_in, c_out)
    shown = ", ".join(map(str, legal)) if len(legal) <= 16 else ", ".join(map(str, nearest(legal, groups, 6))) + ", ..."
    raise LayerError(f"groups={groups} does not divide {which}", f"legal G here: {shown}", arg="groups")


@dataclass(frozen=True)
class ConvGeometry:
    """A convolution of any rank (1-D, 2-D, 3-D) resolved against its input: everything the arithmetic needs.

    `kernel`, `stride` and `dilation` have one entry per spatial dimension; `pads` two, (before, after)
    per dimension, flattened: (top, bottom, left, right) in 2-D.
    """

    c_in: int
    c_out: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    pads: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    bias: bool

    def out_shape(self, *dims: int) -> Shape:
        """C_out and, per dimension, floor((size + pads − d·(k − 1) − 1) / s) + 1."""
        outs = tuple(
            window_output(size, k, s, self.pads[2 * i], self.pads[2 * i + 1], d)
            for i, (size, k, s, d) in enumerate(zip(dims, self.kernel, self.stride, self.dilation))
        )
        if min(outs) < 1:
            padded = tuple(size + self.pads[2 * i] + self.pads[2 * i + 1] for i, size in enumerate(dims))
            raise LayerError(
                f"kernel {format_shape(self.kernel)} (dilation {format_shape(self.dilation)}) is larger than the padded input {format_shape(padded)}",
                "use a smaller kernel or more padding",
                arg="k",
            )
        return (self.c_out, *outs)

    @property
    def weights(self) -> int:
        return self.c_out * (self.c_in // self.groups) * math.prod(self.kernel)

    def weight_shape(self) -> tuple[int, ...]:
        return (self.c_out, self.c_in // self.groups, *self.kernel)

    def cost(self, y: Shape) -> Cost:
        """One MAC per weight per output position."""
        return Cost(params=self.weights + (self.c_out if self.bias else 0), macs=self.weights * math.prod(y[1:]), weights=self.weights)


@dataclass(frozen=True)
class TransposedGeometry(ConvGeometry):
    """A transposed convolution: pads are symmetric, (p, p) per dimension, and `output_padding` adds
    to the far side of each output dimension (PyTorch's ConvTranspose rule). Its MACs depend on the
    input's size, kept in `in_sizes`."""

    output_padding: tuple[int, ...] = ()
    in_sizes: tuple[int, ...] = ()

    def out_shape(self, *dims: int) -> Shape:
        """Per dimension (size − 1)·s − 2p + d·(k − 1) + output_padding + 1."""
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= s and op >= d:
                raise LayerError(
                    f"output_padding {format_shape(self.output_padding)} must be smaller than the stride {format_shape(self.stride)} or the dilation {format_shape(self.dilation)}",
                    "PyTorch rejects this too",
                    arg="output_padding",
                )
        outs = tuple(
            (size - 1) * s - self.pads[2 * i] - self.pads[2 * i + 1] + d * (k - 1) + op + 1
            for i, (size, k, s, d, op) in enumerate(zip(dims, self.kernel, self.stride, self.dilation, self.output_padding))
        )
        if min(outs) < 1:
            raise LayerError(f"padding {format_shape(self.pads[::2])} leaves an output of {format_shape(outs)}", "use less padding", arg="p")
        return (self.c_out, *outs)

    def weight_shape(self) -> tuple[int, ...]:
        return (self.c_in, self.c_out // self.groups, *self.kernel)

    def cost(self, y: Shape) -> Cost:
        """One MAC per weight per *input* position: every input value meets every weight of its group once."""
        return Cost(params=self.weights + (self.c_out if self.bias else 0), macs=self.weights * math.prod(self.in_sizes), weights=self.weights)


def resolve_pads(pads, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...], dims: tuple[int, ...], type_name: str = "conv") -> tuple[int, ...]:
    """(before, after) per dimension; 'same' gives output ceil(size / s), the odd pixel after."""
    if pads != "same":
        return resolve_padding(pads, len(dims), type_name)
    return tuple(p for size, k, s, d in zip(dims, kernel, stride, dilation) for p in same_padding(size, k, s, d))


class ConvLike(Layer):
    """Shared shape and cost of every convolution type: subclasses only describe their geometry."""

    counts_macs = True

    def geometry(self, x: Shape) -> ConvGeometry:
        raise NotImplementedError

    def out_shape(self, x: Shape) -> Shape:
        _, dims = spatial(x, self.type_name)
        return self.geometry(x).out_shape(*dims)

    def weight_kind(self) -> tuple[str, bool]:
        """Its weight standardisation (`ws`) and whether its kernel is a fixed filter (groupcost.ops.conv_weights)."""
        ws, fixed = getattr(self, "ws", "none"), getattr(self, "filter", "learned") == "binomial"
        check_weight_args(ws, fixed)
        return ws, fixed

    def cost(self, x: Shape, y: Shape) -> Cost:
        cost = self.geometry(x).cost(y)
        ws, fixed = self.weight_kind()
        if fixed:  # a buffer: no parameter, no weight of the papers' count; the MACs of a conv
            return Cost(params=cost.params - cost.weights, macs=cost.macs)
        return replace(cost, params=cost.params + y[0]) if ws == "scaled" else cost

    def buffer_counts(self, x: Shape) -> tuple[int, int]:
        return (self.geometry(x).weights, 0) if self.weight_kind()[1] else (0, 0)

    def group_count(self, x: Shape) -> int:
        return self.geometry(x).groups

    def window(self, x: Shape) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        g = self.geometry(x)
        return g.kernel, g.stride, g.dilation, g.output_padding if isinstance(g, TransposedGeometry) else ()

    def kind_label(self, x: Shape) -> str:
        """'standard 3×3', 'grouped 3×3', 'depthwise 3×3', 'pointwise 1×1' or 'GDC 7×7' on a C×H×W input; the type's name elsewhere."""
        if len(x) != 3:
            return self.type_name
        g = self.geometry(x)
        kernel = "×".join(map(str, g.kernel))
        if self.weight_kind()[1]:
            return f"blur {kernel}"
        if g.groups == g.c_in > 1 and g.kernel == x[1:] and not any(g.pads):
            return f"GDC {kernel}"
        if g.groups == g.c_in > 1:
            return f"depthwise {kernel}"
        if g.groups > 1:
            return f"grouped {kernel}"
        return f"pointwise {kernel}" if g.kernel == (1, 1) else f"standard {kernel}"

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        """PyTorch's order: weight, bias, then a standardised conv's gain (C_out×1×…); a fixed filter has no weight."""
        g = self.geometry(x)
        ws, fixed = self.weight_kind()
        gain = {"gain": (g.c_out, *(1,) * (len(g.kernel) + 1))} if ws == "scaled" else {}
        return {**({} if fixed else {"weight": g.weight_shape()}), **({"bias": (g.c_out,)} if g.bias else {}), **gain}

    def forward(self, x, weights, counter):
        from groupcost.ops.kernels import conv, conv_transpose

        g = self.geometry(x.shape[1:])
        out = g.out_shape(*x.shape[2:])[1:]
        if isinstance(g, TransposedGeometry):
            return conv_transpose(x, weights["weight"], weights.get("bias"), g.stride, g.pads[::2], g.dilation, g.groups, out, counter)
        ws, fixed = self.weight_kind()
        kernel = fixed_kernel(g.weight_shape(), x.dtype) if fixed else standardised(weights["weight"], ws, getattr(self, "ws_eps", 0.0), weights.get("gain"))
        return conv(x, kernel, weights.get("bias"), g.stride, g.pads, g.dilation, g.groups, out, counter)

    def torch_module(self, at: Place) -> TorchModule:
        x = at.in_shape
        g = self.geometry(x)
        ones = (1,) * len(g.kernel)
        if isinstance(g, TransposedGeometry):
            return TorchModule(
                f"{nd('ConvTranspose', x)}({g.c_in}, {g.c_out}, {ints(g.kernel)}"
                + options(
                    stride=ints(g.stride) if g.stride != ones else None,
                    padding=ints(g.pads[::2]) if any(g.pads) else None,
                    output_padding=ints(g.output_padding) if any(g.output_padding) else None,
                    groups=g.groups if g.groups != 1 else None,
                    bias=None if g.bias else "False",
                    dilation=ints(g.dilation) if g.dilation != ones else None,
                )
                + ")"
            )
        before, after = g.pads[::2], g.pads[1::2]
        symmetric = before == after
        ws, fixed = self.weight_kind()
        helpers: tuple[tuple[str, str], ...] = ()
        if fixed:
            module = (f"FixedFilter({g.c_in}, {g.c_out}, {tuple(g.kernel)}, {tuple(g.stride)}, {tuple(before) if symmetric else (0,) * len(before)}, "
                      f"{tuple(g.dilation)}, {g.bias})")
            helpers = (("FixedFilter", FIXED_FILTER),)
        else:
            module = (
                f"{f'StdConv{len(g.kernel)}d' if ws != 'none' else nd('Conv', x)}({g.c_in}, {g.c_out}, {ints(g.kernel)}"
                + options(
                    stride=ints(g.stride) if g.stride != ones else None,
                    padding=ints(before) if symmetric and any(before) else None,
                    dilation=ints(g.dilation) if g.dilation != ones else None,
                    groups=g.groups if g.groups != 1 else None,
                    bias=None if g.bias else "False",
                    ws=repr(ws) if ws != "none" else None,
                    ws_eps=repr(getattr(self, "ws_eps", 0.0)) if ws != "none" else None,
                )
                + ")"
            )
            helpers = (("StdConv", STANDARDISED_CONV),) if ws != "none" else ()
        if symmetric:
            return TorchModule(module, helpers=helpers)
        return TorchModule(module, f"{{m}}(F.pad({{x}}, {torch_pad(g.pads)}))", helpers)

    def onnx_kernel(self, g: OnnxGraph, at: Place) -> list[str]:
        """The conv's kernel (and bias) inputs: its initializers, standardised or a fixed filter where it says so."""
        shapes = self.weight_shapes(at.in_shape)
        ws, fixed = self.weight_kind()
        geo = self.geometry(at.in_shape)
        params = onnx_params(g, at, {k: v for k, v in shapes.items() if k != "gain"}, {"weight": "kernel"})
        if fixed:
            return [onnx_fixed(g, at, geo.weight_shape()), *params]
        if ws != "none":
            params[0] = onnx_standardised(g, at, params[0], geo.weight_shape(), ws, getattr(self, "ws_eps", 0.0))
        return params

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        geo = self.geometry(at.in_shape)
        inputs = [x, *self.onnx_kernel(g, at)]
        if isinstance(geo, TransposedGeometry):
            g.node("ConvTranspose", inputs, at.name, kernel_shape=list(geo.kernel), strides=list(geo.stride), pads=onnx_pads(geo.pads),
                   dilations=list(geo.dilation), group=geo.groups, output_padding=list(geo.output_padding))
            return
        g.node("Conv", inputs, at.name, kernel_shape=list(geo.kernel), strides=list(geo.stride), pads=onnx_pads(geo.pads), dilations=list(geo.dilation), group=geo.groups)


def _spatial_args(layer, x: Shape, *names: str) -> tuple[int, tuple[int, ...], list[tuple]]:
    """C_in, the spatial sizes, and each named per-dimension argument expanded to the input's rank."""
    c_in, dims = spatial(x, layer.type_name)
    return c_in, dims, [per_dim(getattr(layer, name), len(dims), layer.type_name, name) for name in names]


@register("conv")
@dataclass(frozen=True)
class Conv(ConvLike):
    """Convolution, as torch.nn.Conv1d/2d/3d by the input's rank (bias defaults to true, as there)."""

    groupable = True

    out: int = arg(positive_int, doc="output channels C_out")
    k: int | tuple[int, ...] = arg(sizes, doc="kernel size: K, or one per dimension ([K_h, K_w]; [K_t, K_h, K_w])")
    s: int | tuple[int, ...] = arg(sizes, 1, "stride: S or one per dimension")
    p: int | tuple[int, ...] | str = arg(padding, 0, "padding: P, one per dimension, [before, after] per dimension ([top, bottom, left, right]), same or valid")
    d: int | tuple[int, ...] = arg(sizes, 1, "dilation: D or one per dimension")
    groups: int = arg(positive_int, 1, "number of groups G; must divide C_in and C_out", alias="g")
    bias: bool = arg(boolean, True, "add a learnable bias per output channel")
    ws: str = arg(STANDARDISATIONS, "none", WS_DOC)
    ws_eps: float = arg(positive_real, 1e-6, WS_EPS_DOC)

    def geometry(self, x: Shape) -> ConvGeometry:
        c_in, dims, (k, s, d) = _spatial_args(self, x, "k", "s", "d")
        check_groups(c_in, self.out, self.groups)
        return ConvGeometry(c_in, self.out, k, s, resolve_pads(self.p, k, s, d, dims, self.type_name), d, self.groups, self.bias)

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        if "ws" in r.values:
            return None
        return Raised(f"{r.need('Conv2d')}(shape, {r.a('out')}, {r.a('k')}{r.kw('s', 'p', 'd', 'groups', 'bias')})", "module")


@register("dwconv")
@dataclass(frozen=True)
class DepthwiseConv(ConvLike):
    """Depthwise convolution: G = C_in, each filter 1×K×K; `mult` filters per channel."""

    k: int | tuple[int, ...] = arg(sizes, doc="kernel size: K or one per dimension")
    s: int | tuple[int, ...] = arg(sizes, 1, "stride")
    p: int | tuple[int, ...] | str = arg(padding, 0, "padding, as for conv")
    d: int | tuple[int, ...] = arg(sizes, 1, "dilation")
    mult: int = arg(positive_int, 1, "depth multiplier: C_out = mult × C_in")
    bias: bool = arg(boolean, True, "add a learnable bias per output channel")
    ws: str = arg(STANDARDISATIONS, "none", WS_DOC)
    ws_eps: float = arg(positive_real, 1e-6, WS_EPS_DOC)
    filter: str = arg(FILTERS, "learned", FILTER_DOC)

    def geometry(self, x: Shape) -> ConvGeometry:
        c_in, dims, (k, s, d) = _spatial_args(self, x, "k", "s", "d")
        return ConvGeometry(c_in, c_in * self.mult, k, s, resolve_pads(self.p, k, s, d, dims, self.type_name), d, c_in, self.bias)

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        if "ws" in r.values or "filter" in r.values:
            return None
        mult = f"shape[0] * {r.a('mult')}" if r.a("mult") is not None else "shape[0]"
        return Raised(f"{r.need('Conv2d')}(shape, {mult}, {r.a('k')}{r.kw('s', 'p', 'd')}, groups=shape[0]{r.kw('bias')})", "module")


@register("pwconv")
@dataclass(frozen=True)
class PointwiseConv(ConvLike):
    """1×1 convolution (optionally grouped, as in ShuffleNet, or strided, as in ResNet shortcuts)."""

    groupable = True

    out: int = arg(positive_int, doc="output channels C_out")
    s: int | tuple[int, ...] = arg(sizes, 1, "stride")
    groups: int = arg(positive_int, 1, "number of groups G", alias="g")
    bias: bool = arg(boolean, True, "add a learnable bias per output channel")
    ws: str = arg(STANDARDISATIONS, "none", WS_DOC)
    ws_eps: float = arg(positive_real, 1e-6, WS_EPS_DOC)

    def geometry(self, x: Shape) -> ConvGeometry:
        c_in, dims, (s,) = _spatial_args(self, x, "s")
        check_groups(c_in, self.out, self.groups)
        rank = len(dims)
        return ConvGeometry(c_in, self.out, (1,) * rank, s, (0,) * (2 * rank), (1,) * rank, self.groups, self.bias)

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        if "ws" in r.values:
            return None
        return Raised(f"{r.need('Conv2d')}(shape, {r.a('out')}, 1{r.kw('s', 'groups', 'bias')})", "module")


@register("gdc")
@dataclass(frozen=True)
class GlobalDepthwiseConv(ConvLike):
    """Global depthwise conv (MobileFaceNet): a depthwise kernel covering the whole plane, C×H×W → C×1×1."""

    bias: bool = arg(boolean, False, "add a learnable bias per channel (MobileFaceNet has none)")

    def geometry(self, x: Shape) -> ConvGeometry:
        c, dims = spatial(x, self.type_name)
        rank = len(dims)
        return ConvGeometry(c, c, dims, (1,) * rank, (0,) * (2 * rank), (1,) * rank, c, self.bias)

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"{r.need('Conv2d')}(shape, shape[0], shape[1:], groups=shape[0], bias={r.a('bias') or 'False'})", "module")


@register("convtranspose")
@dataclass(frozen=True)
class ConvTranspose(ConvLike):
    """Transposed convolution, as torch.nn.ConvTranspose1d/2d/3d (U-Net's up-convolution)."""

    groupable = True

    out: int = arg(positive_int, doc="output channels C_out")
    k: int | tuple[int, ...] = arg(sizes, doc="kernel size: K or one per dimension")
    s: int | tuple[int, ...] = arg(sizes, 1, "stride: S or one per dimension")
    p: int | tuple[int, ...] = arg(offsets, 0, "padding taken off both sides of each output dimension: P or one per dimension")
    output_padding: int | tuple[int, ...] = arg(offsets, 0, "added to the far side of each output dimension; smaller than the stride or the dilation")
    d: int | tuple[int, ...] = arg(sizes, 1, "dilation: D or one per dimension")
    groups: int = arg(positive_int, 1, "number of groups G; must divide C_in and C_out", alias="g")
    bias: bool = arg(boolean, True, "add a learnable bias per output channel")

    def geometry(self, x: Shape) -> TransposedGeometry:
        c_in, dims, (k, s, p, op, d) = _spatial_args(self, x, "k", "s", "p", "output_padding", "d")
        check_groups(c_in, self.out, self.groups)
        return TransposedGeometry(c_in, self.out, k, s, tuple(v for v in p for _ in range(2)), d, self.groups, self.bias, op, dims)


@register("dwconvtranspose")
@dataclass(frozen=True)
class DepthwiseConvTranspose(ConvLike):
    """Depthwise transposed convolution: G = C_in, `mult` filters per channel (the upsampling of
    light decoders), as torch.nn.ConvTranspose1d/2d/3d(C, mult·C, k, groups=C)."""

    k: int | tuple[int, ...] = arg(sizes, doc="kernel size: K or one per dimension")
    s: int | tuple[int, ...] = arg(sizes, 1, "stride: S or one per dimension")
    p: int | tuple[int, ...] = arg(offsets, 0, "padding taken off both sides of each output dimension: P or one per dimension")
    output_padding: int | tuple[int, ...] = arg(offsets, 0, "added to the far side of each output dimension; smaller than the stride or the dilation")
    d: int | tuple[int, ...] = arg(sizes, 1, "dilation: D or one per dimension")
    mult: int = arg(positive_int, 1, "depth multiplier: C_out = mult × C_in")
    bias: bool = arg(boolean, True, "add a learnable bias per output channel")

    def geometry(self, x: Shape) -> TransposedGeometry:
        c_in, dims, (k, s, p, op, d) = _spatial_args(self, x, "k", "s", "p", "output_padding", "d")
        return TransposedGeometry(c_in, c_in * self.mult, k, s, tuple(v for v in p for _ in range(2)), d, c_in, self.bias, op, dims)



@register("dwsep")
@dataclass(frozen=True)
class DepthwiseSeparable(Macro):
    """Depthwise K×K then pointwise 1×1 (MobileNet), each part reported as its own row."""

    out: int = arg(positive_int, doc="output channels of the pointwise part")
    k: int | tuple[int, ...] = arg(sizes, 3, "depthwise kernel size")
    s: int | tuple[int, ...] = arg(sizes, 1, "depthwise stride")
    p: int | tuple[int, ...] | str = arg(padding, "same", "depthwise padding (default: same)")
    d: int | tuple[int, ...] = arg(sizes, 1, "depthwise dilation")
    bias: bool = arg(boolean, True, "biases on both convolutions")
    bn: bool = arg(boolean, False, "batch norm after each part")
    act: str | None = arg(activation_name, None, "activation after each part (e.g. relu)")

    def expand(self) -> tuple[tuple[str, Layer], ...]:
        after = ((("bn", BatchNorm()),) if self.bn else ()) + (((self.act, activation(self.act)),) if self.act else ())
        dw = DepthwiseConv(k=self.k, s=self.s, p=self.p, d=self.d, bias=self.bias)
        pw = PointwiseConv(out=self.out, bias=self.bias)
        return (
            ("dw", dw),
            *((f"dw_{suffix}", layer) for suffix, layer in after),
            ("pw", pw),
            *((f"pw_{suffix}", layer) for suffix, layer in after),
        )

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        """Depthwise then pointwise, in an nn.Sequential under the entry's name (`NAME.dw`, `NAME.dw_bn`, ...)."""
        try:
            bn = bool(ast.literal_eval(r.values.get("bn", "False")))
            act = ast.literal_eval(r.values["act"]) if "act" in r.values else None
        except ValueError:
            raise Unraisable(f"dwsep with bn or act computed at {r.loc}") from None
        var = r.fresh("sep")
        conv = r.need("Conv2d")
        lines = [f"{var} = nn.Sequential()"]
        for part, make in (("dw", f"{conv}(shape, shape[0], {r.values.get('k', '3')}{r.kw('s')}, p={r.values.get('p', repr('same'))}{r.kw('d')}, groups=shape[0]{r.kw('bias')})"),
                           ("pw", f"{conv}(shape, {r.values['out']}, 1{r.kw('bias')})")):
            lines += [f"{var}.{part} = {make}", f"shape = {var}.{part}.out_shape"]
            if bn:
                lines.append(f"{var}.{part}_bn = {r.need('_batchnorm')}(shape)")
            if act:
                lines.append(f"{var}.add_module({part + '_' + act!r}, {r.need('activation')}({act!r}))")
        return Raised(var, None, tuple(lines))
