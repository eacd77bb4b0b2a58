"""Pooling: max and average windows, global and adaptive average pooling. No MACs, no params."""

from __future__ import annotations

from dataclasses import dataclass

from groupcost.layers.base import (
    KEYWORD_KINDS,
    Layer,
    LayerError,
    Shape,
    arg,
    boolean,
    feature_map,
    padding,
    size_pair,
    window_output,
)
from groupcost.layers.registry import register


class Pool(Layer):
    """A sliding window with PyTorch's size rules (ceil_mode, padding at most half the window)."""

    k: tuple[int, int]
    s: tuple[int, int] | None
    p: tuple[int, int, int, int]
    ceil_mode: bool

    def dilation(self) -> tuple[int, int]:
        return 1, 1

    def out_shape(self, x: Shape) -> Shape:
        c, h, w = feature_map(x, self.type_name)
        (kh, kw), (dh, dw) = self.k, self.dilation()
        sh, sw = self.s or self.k
        top, bottom, left, right = self.p
        # ATen checks both pad ≤ k / 2 and pad ≤ (d·(k − 1) + 1) / 2; the first is the tighter
        if max(top, bottom) > kh // 2 or max(left, right) > kw // 2:
            raise LayerError(f"padding {list(self.p)} is more than half the window {kh}×{kw}", "PyTorch rejects this too, whatever the dilation", arg="p")
        h_out = window_output(h, kh, sh, top, bottom, dh, self.ceil_mode)
        w_out = window_output(w, kw, sw, left, right, dw, self.ceil_mode)
        if h_out < 1 or w_out < 1:
            dilated = f" (dilation {dh}×{dw})" if (dh, dw) != (1, 1) else ""
            raise LayerError(f"window {kh}×{kw}{dilated} is larger than the padded input {h + top + bottom}×{w + left + right}", "use a smaller window or more padding", arg="k")
        return c, h_out, w_out

    def forward(self, x, weights, counter):
        from groupcost.kernels import pool2d

        _, h_out, w_out = self.out_shape(x.shape[1:])
        mode = "max" if isinstance(self, MaxPool) else "avg"
        return pool2d(x, self.k, self.s or self.k, (self.p[0], self.p[2]), self.dilation(), (h_out, w_out), mode)


def pool_padding(value) -> tuple[int, int, int, int]:
    """Pools pad symmetrically, as PyTorch's do: P or [P_h, P_w]."""
    pads = padding(value)
    if pads == "same" or pads[0] != pads[1] or pads[2] != pads[3]:
        raise LayerError(f"pooling takes symmetric padding, got {value!r}", "give p as a number or [h, w]")
    return pads


KEYWORD_KINDS[pool_padding] = ("same", "valid")  # read as words, then refused or taken as 0 by pool_padding


@register("maxpool")
@dataclass(frozen=True)
class MaxPool(Pool):
    """Max pooling, as torch.nn.MaxPool2d."""

    k: tuple[int, int] = arg(size_pair, doc="window size")
    s: tuple[int, int] | None = arg(size_pair, None, "stride (default: the window size)")
    p: tuple[int, int, int, int] = arg(pool_padding, (0, 0, 0, 0), "padding")
    d: tuple[int, int] = arg(size_pair, (1, 1), "dilation")
    ceil_mode: bool = arg(boolean, False, "round the output size up")

    def dilation(self) -> tuple[int, int]:
        return self.d


@register("avgpool")
@dataclass(frozen=True)
class AvgPool(Pool):
    """Average pooling, as torch.nn.AvgPool2d."""

    k: tuple[int, int] = arg(size_pair, doc="window size")
    s: tuple[int, int] | None = arg(size_pair, None, "stride (default: the window size)")
    p: tuple[int, int, int, int] = arg(pool_padding, (0, 0, 0, 0), "padding")
    ceil_mode: bool = arg(boolean, False, "round the output size up")


@register("gap")
@dataclass(frozen=True)
class GlobalAvgPool(Layer):
    """Global average pooling: C×H×W → C×1×1, no weights (compare `gdc`)."""

    def out_shape(self, x: Shape) -> Shape:
        return feature_map(x, self.type_name)[0], 1, 1

    def forward(self, x, weights, counter):
        return x.mean(axis=(2, 3), keepdims=True)


@register("adaptive_avgpool")
@dataclass(frozen=True)
class AdaptiveAvgPool(Layer):
    """Adaptive average pooling to a fixed output size, as torch.nn.AdaptiveAvgPool2d."""

    size: tuple[int, int] = arg(size_pair, doc="output size: N or [H_out, W_out]")

    def out_shape(self, x: Shape) -> Shape:
        return feature_map(x, self.type_name)[0], *self.size

    def forward(self, x, weights, counter):
        from groupcost.kernels import adaptive_avg_pool2d

        return adaptive_avg_pool2d(x, self.size)
