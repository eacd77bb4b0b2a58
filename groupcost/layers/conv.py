"""Convolutions: standard, grouped, depthwise, pointwise, depthwise-separable and GDC."""

from __future__ import annotations

from dataclasses import dataclass

from groupcost.layers.base import (
    Cost,
    Layer,
    LayerError,
    Macro,
    Shape,
    arg,
    boolean,
    feature_map,
    padding,
    positive_int,
    same_padding,
    size_pair,
    window_output,
)
from groupcost.layers.activation import activation, activation_name
from groupcost.layers.norm import BatchNorm
from groupcost.layers.registry import register


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
    """A 2-D convolution resolved against its input: everything the arithmetic needs."""

    c_in: int
    c_out: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pads: tuple[int, int, int, int]
    dilation: tuple[int, int]
    groups: int
    bias: bool

    def out_shape(self, h: int, w: int) -> Shape:
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.stride, self.dilation
        top, bottom, left, right = self.pads
        h_out = window_output(h, kh, sh, top, bottom, dh)
        w_out = window_output(w, kw, sw, left, right, dw)
        if h_out < 1 or w_out < 1:
            raise LayerError(
                f"kernel {kh}×{kw} (dilation {dh}×{dw}) is larger than the padded input {h + top + bottom}×{w + left + right}",
                "use a smaller kernel or more padding",
                arg="k",
            )
        return self.c_out, h_out, w_out

    @property
    def weights(self) -> int:
        return self.c_out * (self.c_in // self.groups) * self.kernel[0] * self.kernel[1]

    def cost(self, y: Shape) -> Cost:
        _, h_out, w_out = y
        return Cost(params=self.weights + (self.c_out if self.bias else 0), macs=self.weights * h_out * w_out, weights=self.weights)


def resolve_pads(pads, kernel, stride, dilation, h: int, w: int) -> tuple[int, int, int, int]:
    if pads != "same":
        return pads
    return (*same_padding(h, kernel[0], stride[0], dilation[0]), *same_padding(w, kernel[1], stride[1], dilation[1]))


class ConvLike(Layer):
    """Shared shape and cost of every convolution type: subclasses only describe their geometry."""

    counts_macs = True

    def geometry(self, x: Shape) -> ConvGeometry:
        raise NotImplementedError

    def out_shape(self, x: Shape) -> Shape:
        _, h, w = feature_map(x, self.type_name)
        return self.geometry(x).out_shape(h, w)

    def cost(self, x: Shape, y: Shape) -> Cost:
        return self.geometry(x).cost(y)

    def group_count(self, x: Shape) -> int:
        return self.geometry(x).groups

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        g = self.geometry(x)
        return {"weight": (g.c_out, g.c_in // g.groups, *g.kernel), **({"bias": (g.c_out,)} if g.bias else {})}

    def forward(self, x, weights, counter):
        from groupcost.kernels import conv2d

        g = self.geometry(x.shape[1:])
        _, h_out, w_out = g.out_shape(x.shape[2], x.shape[3])
        return conv2d(x, weights["weight"], weights.get("bias"), g.stride, g.pads, g.dilation, g.groups, (h_out, w_out), counter)


@register("conv")
@dataclass(frozen=True)
class Conv(ConvLike):
    """2-D convolution, as torch.nn.Conv2d (bias defaults to true, as there)."""

    out: int = arg(positive_int, doc="output channels C_out")
    k: tuple[int, int] = arg(size_pair, doc="kernel size: K or [K_h, K_w]")
    s: tuple[int, int] = arg(size_pair, (1, 1), "stride: S or [S_h, S_w]")
    p: tuple[int, int, int, int] | str = arg(padding, (0, 0, 0, 0), "padding: P, [P_h, P_w], [top, bottom, left, right], same or valid")
    d: tuple[int, int] = arg(size_pair, (1, 1), "dilation: D or [D_h, D_w]")
    groups: int = arg(positive_int, 1, "number of groups G; must divide C_in and C_out", alias="g")
    bias: bool = arg(boolean, True, "add a learnable bias per output channel")

    def geometry(self, x: Shape) -> ConvGeometry:
        c_in, h, w = feature_map(x, self.type_name)
        check_groups(c_in, self.out, self.groups)
        return ConvGeometry(c_in, self.out, self.k, self.s, resolve_pads(self.p, self.k, self.s, self.d, h, w), self.d, self.groups, self.bias)


@register("dwconv")
@dataclass(frozen=True)
class DepthwiseConv(ConvLike):
    """Depthwise convolution: G = C_in, each filter 1×K×K; `mult` filters per channel."""

    k: tuple[int, int] = arg(size_pair, doc="kernel size: K or [K_h, K_w]")
    s: tuple[int, int] = arg(size_pair, (1, 1), "stride")
    p: tuple[int, int, int, int] | str = arg(padding, (0, 0, 0, 0), "padding, as for conv")
    d: tuple[int, int] = arg(size_pair, (1, 1), "dilation")
    mult: int = arg(positive_int, 1, "depth multiplier: C_out = mult × C_in")
    bias: bool = arg(boolean, True, "add a learnable bias per output channel")

    def geometry(self, x: Shape) -> ConvGeometry:
        c_in, h, w = feature_map(x, self.type_name)
        return ConvGeometry(c_in, c_in * self.mult, self.k, self.s, resolve_pads(self.p, self.k, self.s, self.d, h, w), self.d, c_in, self.bias)


@register("pwconv")
@dataclass(frozen=True)
class PointwiseConv(ConvLike):
    """1×1 convolution (optionally grouped, as in ShuffleNet, or strided, as in ResNet shortcuts)."""

    out: int = arg(positive_int, doc="output channels C_out")
    s: tuple[int, int] = arg(size_pair, (1, 1), "stride")
    groups: int = arg(positive_int, 1, "number of groups G", alias="g")
    bias: bool = arg(boolean, True, "add a learnable bias per output channel")

    def geometry(self, x: Shape) -> ConvGeometry:
        c_in, _, _ = feature_map(x, self.type_name)
        check_groups(c_in, self.out, self.groups)
        return ConvGeometry(c_in, self.out, (1, 1), self.s, (0, 0, 0, 0), (1, 1), self.groups, self.bias)


@register("gdc")
@dataclass(frozen=True)
class GlobalDepthwiseConv(ConvLike):
    """Global depthwise conv (MobileFaceNet): a depthwise kernel covering the whole plane, C×H×W → C×1×1."""

    bias: bool = arg(boolean, False, "add a learnable bias per channel (MobileFaceNet has none)")

    def geometry(self, x: Shape) -> ConvGeometry:
        c, h, w = feature_map(x, self.type_name)
        return ConvGeometry(c, c, (h, w), (1, 1), (0, 0, 0, 0), (1, 1), c, self.bias)



@register("dwsep")
@dataclass(frozen=True)
class DepthwiseSeparable(Macro):
    """Depthwise K×K then pointwise 1×1 (MobileNet), each part reported as its own row."""

    out: int = arg(positive_int, doc="output channels of the pointwise part")
    k: tuple[int, int] = arg(size_pair, (3, 3), "depthwise kernel size")
    s: tuple[int, int] = arg(size_pair, (1, 1), "depthwise stride")
    p: tuple[int, int, int, int] | str = arg(padding, "same", "depthwise padding (default: same)")
    d: tuple[int, int] = arg(size_pair, (1, 1), "depthwise dilation")
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
