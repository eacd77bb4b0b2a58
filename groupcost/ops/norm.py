"""Normalisation and other per-channel layers that are free of MACs by our convention.

Every one takes flat, 1-D, 2-D and 3-D inputs unless it says otherwise; C is the first dimension."""

from __future__ import annotations

import math
from dataclasses import dataclass

from groupcost.ops.adapters import (
    OnnxGraph,
    Place,
    Raised,
    Raising,
    TorchModule,
    Unraisable,
    channel_shape,
    channels_last,
    nd,
    onnx_params,
    options,
    rank,
)
from groupcost.ops.base import Cost, Layer, LayerError, Shape, arg, boolean, feature_map, format_shape, positive_int, positive_real, probability, real, spatial
from groupcost.ops.registry import register


@register("bn", "batchnorm")
@dataclass(frozen=True)
class BatchNorm(Layer):
    """Batch norm: a learned scale and shift per channel (running statistics are buffers)."""

    affine: bool = arg(boolean, True, "learn scale and shift (2 parameters per channel)")
    eps: float = arg(positive_real, 1e-5, "added to the variance, as torch.nn.BatchNorm2d's eps")
    momentum: float = arg(probability, 0.1, "the running statistics' update factor, as torch's momentum (no effect on cost or inference)")

    def out_shape(self, x: Shape) -> Shape:
        if len(x) > 4:  # PyTorch has BatchNorm1d, 2d and 3d
            spatial(x, self.type_name)
        return x

    def cost(self, x: Shape, y: Shape) -> Cost:
        return Cost(params=2 * x[0] if self.affine else 0)

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        return {"weight": (x[0],), "bias": (x[0],)} if self.affine else {}

    def buffer_counts(self, x: Shape) -> tuple[int, int]:
        """running_mean and running_var (C each), and num_batches_tracked (one int64), as torch allocates them."""
        return 2 * x[0], 1

    def forward(self, x, weights, counter):
        """Inference with fresh running statistics (mean 0, variance 1), as a new torch module has."""
        channel = (1, -1) + (1,) * (x.ndim - 2)
        if not self.affine:
            return x / (1.0 + self.eps) ** 0.5
        y = x * (weights["weight"] / (1.0 + self.eps) ** 0.5).reshape(channel)
        y += weights["bias"].reshape(channel)
        return y

    def torch_options(self) -> str:
        """eps and momentum where they differ from torch's defaults (so the default stays unwritten)."""
        return options(eps=repr(self.eps) if self.eps != 1e-5 else None, momentum=repr(self.momentum) if self.momentum != 0.1 else None)

    def torch_module(self, at: Place) -> TorchModule:
        kind = {1: "BatchNorm1d", 2: "BatchNorm1d", 3: "BatchNorm2d", 4: "BatchNorm3d"}[len(at.in_shape)]
        return TorchModule(f"nn.{kind}({at.in_shape[0]}{'' if self.affine else ', affine=False'}{self.torch_options()})")

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"{r.need('_batchnorm')}(shape{r.kw('affine', 'eps', 'momentum')})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        c = at.in_shape[0]
        scale, shift = _scale_shift(g, at, self)
        mean, var = g.tensor(f"{at.name}.running_mean", (c,), "zeros"), g.tensor(f"{at.name}.running_var", (c,), "ones")
        momentum = {} if self.momentum == 0.1 else {"momentum": 1.0 - self.momentum}  # ONNX keeps the old statistics' share
        g.node("BatchNormalization", [x, scale, shift, mean, var], at.name, epsilon=self.eps, **momentum)


@register("frozenbn")
@dataclass(frozen=True)
class FrozenBatchNorm(Layer):
    """Batch norm whose scale, shift and statistics are all fixed buffers: no parameters.

    torchvision.ops.FrozenBatchNorm2d, the norm of its detection backbones: the state_dict holds
    `weight`, `bias`, `running_mean` and `running_var` (C each, no `num_batches_tracked`), and
    PyTorch's parameter count leaves them out (RetinaNet-ResNet-50-FPN's 34,014,999).
    """

    eps: float = arg(positive_real, 1e-5, "added to the variance, as torchvision's FrozenBatchNorm2d's eps")

    def out_shape(self, x: Shape) -> Shape:
        if len(x) != 3:
            raise LayerError(f"frozenbn needs a C×H×W input, got {format_shape(x)}", "frozenbn is 2-D only, as FrozenBatchNorm2d")
        return x

    def buffer_counts(self, x: Shape) -> tuple[int, int]:
        return 4 * x[0], 0

    def forward(self, x, weights, counter):
        """Fresh buffers (scale 1, shift 0, mean 0, variance 1), as a new torch module has."""
        return x / (1.0 + self.eps) ** 0.5

    def torch_module(self, at: Place) -> TorchModule:
        eps = "" if self.eps == 1e-5 else f", eps={self.eps!r}"
        return TorchModule(f"FrozenBatchNorm2d({at.in_shape[0]}{eps})", helpers=(("FrozenBatchNorm2d", FROZEN_BATCH_NORM),))

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        c = at.in_shape[0]
        inputs = [g.tensor(f"{at.name}.{key}", (c,), fill) for key, fill in (("weight", "ones"), ("bias", "zeros"), ("running_mean", "zeros"), ("running_var", "ones"))]
        g.node("BatchNormalization", [x, *inputs], at.name, epsilon=self.eps)


FROZEN_BATCH_NORM = '''
class FrozenBatchNorm2d(nn.Module):
    """Batch norm with fixed scale, shift and statistics, all buffers (torchvision.ops.FrozenBatchNorm2d)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(channels))
        self.register_buffer("bias", torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x):
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale[:, None, None] + shift[:, None, None]
'''


@register("lrn")
@dataclass(frozen=True)
class LocalResponseNorm(Layer):
    """Local response normalisation across `size` neighbouring channels (AlexNet); no parameters."""

    size: int = arg(positive_int, 5, "number of neighbouring channels")

    def out_shape(self, x: Shape) -> Shape:
        return feature_map(x, self.type_name)  # 2-D only, as its kernel

    def forward(self, x, weights, counter):
        """torch.nn.LocalResponseNorm(size, alpha=1e-4, beta=0.75, k=1): x / (k + α·mean of x² over the window)^β."""
        import numpy as np

        squares = np.pad(x * x, ((0, 0), (self.size // 2, (self.size - 1) // 2), (0, 0), (0, 0)))
        sums = np.concatenate([np.zeros_like(squares[:, :1]), squares.cumsum(axis=1)], axis=1)
        window = (sums[:, self.size :] - sums[:, : -self.size]) / self.size
        return x / (1.0 + 1e-4 * window) ** 0.75

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"nn.LocalResponseNorm({self.size})")

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"nn.LocalResponseNorm({r.a('size') or '5'})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        g.node("LRN", [x], at.name, size=self.size, alpha=1e-4, beta=0.75, bias=1.0)


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
    bias = True  # a learned shift with the scale; layernorm and groupnorm take it as an argument (MetaFormer's norms have none)

    def cost(self, x: Shape, y: Shape) -> Cost:
        return Cost(params=sum(math.prod(dims) for dims in self.weight_shapes(x).values()))

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        if not self.affine:
            return {}
        return {"weight": (x[0],), "bias": (x[0],)} if self.bias else {"weight": (x[0],)}

    def axes(self, x) -> tuple[int, ...]:
        raise NotImplementedError

    def affine_forward(self, y, x, weights):
        """The normalised `y` scaled (and shifted) per channel of the input `x`, where the norm is affine."""
        if self.affine:
            y = y * weights["weight"].reshape(_channel(x))
            if self.bias:
                y = y + weights["bias"].reshape(_channel(x))
        return y

    def forward(self, x, weights, counter):
        return self.affine_forward(_normalize(x, self.axes(x), self.eps), x, weights).astype(x.dtype)


@register("layernorm")
@dataclass(frozen=True)
class LayerNorm(AffineNorm):
    """Layer norm over the channels at every position (ConvNeXt's LayerNorm2d), or over a flat input's features."""

    eps: float = arg(positive_real, 1e-6, "added to the variance (ConvNeXt: 1e-6; torch.nn.LayerNorm's default is 1e-5)")
    affine: bool = arg(boolean, True, "learn a scale and shift per channel (2 parameters per channel)")
    bias: bool = arg(boolean, True, "with `affine`, learn the shift too (false: the scale alone, C parameters, as nn.LayerNorm(bias=False))")

    def axes(self, x) -> tuple[int, ...]:
        return (1,)

    def torch_module(self, at: Place) -> TorchModule:
        opts = f", eps={self.eps!r}" + ("" if self.affine else ", elementwise_affine=False") + ("" if self.bias else ", bias=False")
        if len(at.in_shape) == 1:
            return TorchModule(f"nn.LayerNorm({at.in_shape[0]}{opts})")
        return TorchModule(f"ChannelLayerNorm({at.in_shape[0]}{opts})", helpers=(("ChannelLayerNorm", CHANNEL_LAYER_NORM),))

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"{r.need('_layernorm')}(shape{r.kw('eps', 'affine', 'bias')})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        """LayerNormalization over the last axis (the channels moved there); without a learned shift, its bias input left out."""
        operands = _scale_shift(g, at, self)
        if len(at.in_shape) == 1:
            g.node("LayerNormalization", [x, *operands], at.name, axis=-1, epsilon=self.eps)
            return
        last, back = channels_last(g, at, x)
        y = g.node("LayerNormalization", [last, *operands], f"{at.name}/normalized", axis=-1, epsilon=self.eps)
        g.node("Transpose", [y], at.name, perm=back)


@register("groupnorm")
@dataclass(frozen=True)
class GroupNorm(AffineNorm):
    """Group norm, as torch.nn.GroupNorm: statistics over each group of C/G channels and all positions."""

    groups: int = arg(positive_int, doc="number of groups G; must divide C", alias="g")
    eps: float = arg(positive_real, 1e-5, "added to the variance")
    affine: bool = arg(boolean, True, "learn a scale and shift per channel")
    bias: bool = arg(boolean, True, "with `affine`, learn the shift too (false: the scale alone, C parameters, MetaFormer's GroupNorm1NoBias)")

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
        return self.affine_forward(y, x, weights).astype(x.dtype)

    def torch_module(self, at: Place) -> TorchModule:
        if self.affine and not self.bias:
            return TorchModule(f"GroupNormNoBias({self.groups}, {at.in_shape[0]}, eps={self.eps!r})", helpers=(("GroupNormNoBias", GROUP_NORM_NO_BIAS),))
        return TorchModule(f"nn.GroupNorm({self.groups}, {at.in_shape[0]}, eps={self.eps!r}{'' if self.affine else ', affine=False'})")

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        if r.a("bias") is not None:  # nn.GroupNorm has no bias argument: a subclass without one where the spec's is false
            return Raised(f"{r.need('_groupnorm')}({r.a('groups')}, shape[0]{r.kw('eps', 'affine', 'bias')})")
        return Raised(f"nn.GroupNorm({r.a('groups')}, shape[0]{r.kw('eps', 'affine')})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        """N×G×(C/G·positions), normalised per group (InstanceNormalization with unit scale), reshaped back, then weight and bias per channel."""
        name, groups, shape = at.name, self.groups, at.in_shape
        grouped = g.node("Reshape", [x, g.ints(f"{name}/grouped.shape", [0, groups, -1])], f"{name}/grouped")
        normal = g.node("InstanceNormalization", [grouped, g.tensor(f"{name}/group_scale", (groups,), "ones"), g.tensor(f"{name}/group_shift", (groups,), "zeros")],
                        f"{name}/normalized", epsilon=self.eps)
        if not self.affine:
            g.node("Reshape", [normal, g.ints(f"{name}.shape", [0, *shape])], name)
            return
        y = g.node("Reshape", [normal, g.ints(f"{name}/ungrouped.shape", [0, *shape])], f"{name}/ungrouped")
        dims = channel_shape(at)
        if not self.bias:
            g.node("Mul", [y, g.tensor(f"{name}.weight", dims, "ones")], name)
            return
        y = g.node("Mul", [y, g.tensor(f"{name}.weight", dims, "ones")], f"{name}/scaled")
        g.node("Add", [y, g.tensor(f"{name}.bias", dims, "zeros")], name)


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

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"{nd('InstanceNorm', at.in_shape)}({at.in_shape[0]}, eps={self.eps!r}{', affine=True' if self.affine else ''})")

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"(nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)[len(shape) - 2](shape[0]{r.kw('eps', 'affine')})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        scale, shift = _scale_shift(g, at, self)
        g.node("InstanceNormalization", [x, scale, shift], at.name, epsilon=self.eps)


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

    def torch_module(self, at: Place) -> TorchModule:
        if at.name.rsplit(".", 1)[-1] == "layer_scale":
            # named after its one tensor (torchvision's `features.1.0.layer_scale`): a parameter, not a module
            return TorchModule(f"nn.Parameter(torch.full({channel_shape(at)!r}, {self.init!r}))", "{x} * {m}")
        x = at.in_shape
        shape = "(" + ", ".join(map(str, (x[0], *(1,) * rank(x)))) + ("," if len(x) == 1 else "") + ")"
        return TorchModule(f"LayerScale({shape}, {self.init!r})", helpers=(("LayerScale", LAYER_SCALE),))

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        init = r.a("init") or "1e-06"
        dims = "(shape[0], *(1,) * (len(shape) - 1))"
        if r.written_name == "layer_scale":  # named after its one tensor: a parameter of the enclosing module (torchvision's `features.1.0.layer_scale`)
            if not r.parameter_ok:
                raise Unraisable(f"a layerscale named layer_scale where forward does not call entries by name, at {r.loc}")
            return Raised(f"nn.Parameter(torch.full({dims}, float({init})))")
        return Raised(f"{r.need('LayerScale')}({dims}, {init})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        # named after its one tensor (torchvision's `features.1.0.layer_scale`): the initializer takes that
        # state_dict key, and the output tensor a name apart from it, `NAME/output` (the node keeps NAME)
        own = at.name.rsplit(".", 1)[-1] == "layer_scale"
        weight = g.tensor(at.name if own else f"{at.name}.layer_scale", channel_shape(at), repr(self.init))
        g.node("Mul", [x, weight], f"{at.name}/output" if own else at.name, name=at.name)


def _scale_shift(g: OnnxGraph, at: Place, layer: BatchNorm | AffineNorm) -> list[str]:
    """The learned scale and shift (the scale alone where the norm learns no shift), or a unit scale and zero shift where the norm has none."""
    if layer.affine:
        return onnx_params(g, at, layer.weight_shapes(at.in_shape), {"weight": "ones", "bias": "zeros"})
    c = at.in_shape[0]
    return [g.tensor(f"{at.name}.unit_scale", (c,), "ones"), g.tensor(f"{at.name}.zero_shift", (c,), "zeros")]


CHANNEL_LAYER_NORM = '''
class ChannelLayerNorm(nn.LayerNorm):
    """nn.LayerNorm over the channels at every position (ConvNeXt's LayerNorm2d)."""

    def forward(self, x):
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)
'''

GROUP_NORM_NO_BIAS = '''
class GroupNormNoBias(nn.GroupNorm):
    """nn.GroupNorm with a learned scale and no shift (MetaFormer's GroupNorm1NoBias)."""

    def __init__(self, groups, channels, eps=1e-5, affine=True):
        super().__init__(groups, channels, eps=eps, affine=affine)
        self.bias = None
'''

LAYER_SCALE = '''
class LayerScale(nn.Module):
    """A learned scale per channel, torchvision's `layer_scale` (C×1×1)."""

    def __init__(self, shape, init):
        super().__init__()
        self.layer_scale = nn.Parameter(torch.full(shape, init))

    def forward(self, x):
        return x * self.layer_scale
'''
