"""One torch module per groupcost layer type, written from torch's documented layers.

`layer_module(step)` builds the torch equivalent of one resolved layer step; the graph around it
is built by torch_reference.py.
"""

from __future__ import annotations

import torch
from torch import nn

from groupcost.ops import conv as gc_conv
from groupcost.graph.network import LayerStep
from torch_math_patterns import ResponseNorm

ACTIVATIONS = {
    "relu": nn.ReLU, "relu6": nn.ReLU6, "leakyrelu": nn.LeakyReLU, "elu": nn.ELU, "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid, "hsigmoid": nn.Hardsigmoid, "silu": nn.SiLU, "hswish": nn.Hardswish,
    "tanh": nn.Tanh, "mish": nn.Mish, "identity": nn.Identity,
}


class Shuffle(nn.Module):
    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c = x.shape[:2]
        return x.reshape(n, self.groups, c // self.groups, *x.shape[2:]).transpose(1, 2).reshape(x.shape)


class SE(nn.Module):
    def __init__(self, c: int, squeeze: int, act: str, gate: str):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, squeeze, 1), nn.Conv2d(squeeze, c, 1)
        self.act, self.gate = ACTIVATIONS[act](), ACTIVATIONS[gate]()

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.fc2(self.act(self.fc1(s))))


class TokenAttention(nn.MultiheadAttention):
    """Self-attention over the positions of a feature map (Vaswani et al. 2017 on the flattened
    tokens): N×C×(spatial) → L×N×C, nn.MultiheadAttention's functional form, back. Called directly
    with need_weights=True it takes the path of explicit batched matrix products, which
    FlopCounterMode counts (bmm); the module's inference fast path is a fused kernel it does not count."""

    def __init__(self, channels: int, heads: int, bias: bool, batch_dims: int = 0):
        super().__init__(channels, heads, bias=bias)
        self.batch_dims = batch_dims  # leading positional dims whose every index is a sequence of its own

    def forward(self, x):
        n, c = x.shape[:2]
        sequences = x.shape[2:2 + self.batch_dims].numel()
        if self.batch_dims:  # L×(N·S)×C: the S sequences of each sample side by side with the batch
            tokens = x.reshape(n, c, sequences, -1).permute(3, 0, 2, 1).reshape(-1, n * sequences, c)
        else:
            tokens = x.reshape(n, c, -1).permute(2, 0, 1)
        y, _ = nn.functional.multi_head_attention_forward(
            tokens, tokens, tokens, self.embed_dim, self.num_heads, self.in_proj_weight, self.in_proj_bias, None, None, False, 0.0,
            self.out_proj.weight, self.out_proj.bias, training=False, need_weights=True)
        if self.batch_dims:
            return y.reshape(-1, n, sequences, c).permute(1, 3, 2, 0).reshape(x.shape)
        return y.permute(1, 2, 0).reshape(x.shape)


class Crop(nn.Module):
    """Centre crop: offset (size − target) // 2 per spatial dimension."""

    def __init__(self, target: tuple[int, ...]):
        super().__init__()
        self.target = target

    def forward(self, x):
        for axis, t in enumerate(self.target, start=2):
            x = x.narrow(axis, (x.shape[axis] - t) // 2, t)
        return x


class View(nn.Module):
    """slice, reshape, transpose, permute as torch's own indexing and tensor methods do them, from the
    layer's arguments (PyTorch's dim numbering, the batch 0)."""

    def __init__(self, name: str, layer):
        super().__init__()
        self.name, self.layer = name, layer

    def forward(self, x):
        layer = self.layer
        if self.name == "slice":
            return x[(slice(None),) * (layer.dim % x.dim()) + (slice(layer.start, layer.stop, layer.step),)]
        if self.name == "reshape":
            return x.reshape(x.shape[0], *layer.shape)
        # dims counted from the end are written counted from the front, as groupcost's own export writes them:
        # TorchScript's exporter, folding constants, reads a negative perm out of bounds (a segfault now and then)
        if self.name == "transpose":
            return x.transpose(*(d % x.dim() for d in layer.dims))
        return x.permute(*(d % x.dim() for d in layer.dims))


VIEWS = ("slice", "reshape", "transpose", "permute")


class Pad(nn.Module):
    def __init__(self, pads: tuple[int, ...], mode: str, value: float, channels: tuple[int, int] = (0, 0)):
        super().__init__()
        pairs = [pads[i : i + 2] for i in range(0, len(pads), 2)]
        if any(channels):
            pairs.insert(0, channels)  # F.pad's pair for the channels comes after every spatial one
        self.pad = tuple(v for pair in reversed(pairs) for v in pair)  # torch lists the last dimension first
        self.mode, self.value = mode, value

    def forward(self, x):
        if self.mode == "constant":
            return nn.functional.pad(x, self.pad, "constant", self.value)
        return nn.functional.pad(x, self.pad, self.mode)


class ChannelLinear(nn.Linear):
    """nn.Linear on the channels at every position: moved last, mapped, moved back (ConvNeXt's MLP)."""

    def forward(self, x):
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


class ChannelLayerNorm(nn.LayerNorm):
    """nn.LayerNorm over the channels at every position."""

    def forward(self, x):
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


class LayerScale(nn.Module):
    def __init__(self, shape: tuple[int, ...], init: float):
        super().__init__()
        self.layer_scale = nn.Parameter(torch.full(shape, init))

    def forward(self, x):
        return x * self.layer_scale


class GatheredTable(nn.Module):
    """x + table[:, index]: a learned table of `entries` values per channel, read at each position through a
    fixed index (LeViT's attention biases); position p (flat) reads entry p mod entries, as groupcost's kernel does.
    `shared`: one row of `entries` values for every channel (one head's biases in every window, EfficientViT)."""

    def __init__(self, shape: tuple[int, ...], entries: int, shared: bool = False):
        super().__init__()
        self.table = nn.Parameter(torch.zeros(1 if shared else shape[0], entries))
        index = [p % entries for p in range(int(torch.Size(shape[1:]).numel()))]
        self.register_buffer("index", torch.tensor(index).view(shape[1:]), persistent=False)

    def forward(self, x):
        return x + self.table[:, self.index]


class LearnedTokens(nn.Module):
    """ViT's class token (DeiT's class and distillation tokens) on channels-first tokens N × C × L: `tokens` learned
    vectors of C values, the same for every sample, put before the L tokens (and YOLOS's `after` detection tokens after them)."""

    def __init__(self, channels: int, tokens: int, after: int = 0):
        super().__init__()
        self.token = nn.Parameter(torch.randn(1, channels, tokens))
        self.after_token = nn.Parameter(torch.randn(1, channels, after)) if after else None

    def forward(self, x):
        last = [self.after_token.expand(x.shape[0], -1, -1)] if self.after_token is not None else []
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x, *last], 2)


class FourierEncoding(nn.Conv2d):
    """x + conv1x1(P) (XCiT §3, after DETR): P holds, for each position of the rows × cols map, sin and cos of its
    row and column counted from a mask of ones and normalised to 2π, over the wavelengths 10000^(2⌊k/2⌋/half)."""

    def __init__(self, shape: tuple[int, ...], features: int, temperature: float, bias: bool, grid: tuple[int, int]):
        super().__init__(features, shape[0], 1, bias=bias)
        self.half, self.temperature, self.grid = features // 2, temperature, grid

    def forward(self, x):
        rows, cols = self.grid
        mask = torch.ones(x.shape[0], rows, cols)  # one encoding per sample, as the batch's shape gives
        row, col = mask.cumsum(1), mask.cumsum(2)
        row = row / (row[:, -1:, :] + 1e-6) * 2 * torch.pi
        col = col / (col[:, :, -1:] + 1e-6) * 2 * torch.pi
        wavelengths = self.temperature ** (2 * (torch.arange(self.half) // 2) / self.half)
        parts = []
        for place in (row, col):
            phase = place[..., None] / wavelengths  # 1 × rows × cols × half
            parts.append(torch.stack((phase[..., 0::2].sin(), phase[..., 1::2].cos()), dim=4).flatten(3))
        encoding = torch.cat(parts, dim=3).permute(0, 3, 1, 2)
        return x + super().forward(encoding).reshape(x.shape)


class FrozenBatchNorm2d(nn.Module):
    """Batch norm with scale, shift and statistics held as buffers (torchvision.ops' description)."""

    def __init__(self, c: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        for name, init in (("weight", torch.ones), ("bias", torch.zeros), ("running_mean", torch.zeros), ("running_var", torch.ones)):
            self.register_buffer(name, init(c))

    def forward(self, x):
        scale = self.weight / torch.sqrt(self.running_var + self.eps)
        return x * scale[:, None, None] + (self.bias - self.running_mean * scale)[:, None, None]


FUNCTIONS = {"sqrt": torch.sqrt, "reciprocal": torch.reciprocal, "exp": torch.exp, "log": torch.log, "abs": torch.abs, "neg": torch.neg,
             "erf": torch.erf, "sin": torch.sin, "cos": torch.cos, "softplus": nn.functional.softplus}
"""`unary`'s functions, as torch names them."""


class Function(nn.Module):
    """A torch function of one tensor, as a module."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class ConstantOp(nn.Module):
    """x op c for a constant c (a parameter `value` where learned), as torch's operators broadcast it."""

    def __init__(self, op: str, value: float, shape: tuple[int, ...], learned: bool):
        super().__init__()
        self.op = op
        if learned:
            self.value = nn.Parameter(torch.full(shape, value))
        else:
            self.constant = torch.full(shape, value)

    def forward(self, x):
        c = self.value if hasattr(self, "value") else self.constant
        if self.op == "add":
            return x + c
        if self.op == "sub":
            return x - c
        if self.op == "mul":
            return x * c
        if self.op == "div":
            return x / c
        if self.op == "pow":
            return x ** c
        if self.op in ("max", "min"):  # a clamp by a tensor, as F.normalize clamps a norm by eps
            return torch.maximum(x, c) if self.op == "max" else torch.minimum(x, c)
        return c - x if self.op == "rsub" else c / x


class Reduction(nn.Module):
    """torch's own reductions over dims: sum, mean, amax, and the L2 norm as sqrt(sum(x²))."""

    def __init__(self, op: str, dims: tuple[int, ...], keepdim: bool):
        super().__init__()
        self.op, self.dims, self.keepdim = op, dims, keepdim

    def forward(self, x):
        if self.op == "sum":
            return x.sum(dim=self.dims, keepdim=self.keepdim)
        if self.op == "mean":
            return x.mean(dim=self.dims, keepdim=self.keepdim)
        if self.op == "max":
            return x.amax(dim=self.dims, keepdim=self.keepdim)
        return (x * x).sum(dim=self.dims, keepdim=self.keepdim).sqrt()


class DistanceToBox(nn.Module):
    """Anchor-free box decoding, as YOLO-style detectors' code describes it: each cell's centre (x + 0.5,
    y + 0.5), minus and plus the (l, t, r, b) distances, scaled by the level's stride."""

    def __init__(self, grids, strides, xywh: bool):
        super().__init__()
        self.grids, self.strides, self.xywh = grids, strides, xywh

    def forward(self, x):
        centres, scales = [], []
        for (h, w), stride in zip(self.grids, self.strides):
            ys, xs = torch.meshgrid(torch.arange(h, device=x.device) + 0.5, torch.arange(w, device=x.device) + 0.5, indexing="ij")
            centres.append(torch.stack((xs.flatten(), ys.flatten())))
            scales.append(torch.full((h * w,), float(stride), device=x.device))
        centre, scale = torch.cat(centres, 1), torch.cat(scales)
        near, far = centre - x[:, :2], centre + x[:, 2:]
        boxes = torch.cat(((near + far) / 2, far - near), 1) if self.xywh else torch.cat((near, far), 1)
        return boxes * scale


def _by_rank(rank: int, *classes):
    return classes[rank - 1]


def conv_module(step: LayerStep) -> nn.Module:
    """Conv1d/2d/3d or ConvTranspose1d/2d/3d; asymmetric padding as an explicit zero pad in front."""
    layer, x = step.layer, step.in_shape
    g = layer.geometry(x)
    rank = len(x) - 1
    if isinstance(g, gc_conv.TransposedGeometry):
        cls = _by_rank(rank, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
        return cls(g.c_in, g.c_out, g.kernel, g.stride, g.pads[::2], g.output_padding, g.groups, g.bias, g.dilation)
    cls = _by_rank(rank, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    conv = cls(g.c_in, g.c_out, g.kernel, g.stride, 0, g.dilation, g.groups, g.bias)
    if g.pads[::2] == g.pads[1::2]:
        conv.padding = g.pads[::2]
        return conv
    return nn.Sequential(Pad(g.pads, "constant", 0.0), conv)


def layer_module(step: LayerStep) -> nn.Module:
    layer, x = step.layer, step.in_shape
    rank = len(x) - 1  # spatial dimensions; 0 for a flat input
    if isinstance(layer, gc_conv.ConvLike):
        return conv_module(step)
    name = layer.type_name
    if name == "fc":
        return nn.Linear(x[0], layer.out, layer.bias)
    if name == "linear":
        return (nn.Linear if rank == 0 else ChannelLinear)(x[0], layer.out, layer.bias)
    if name == "bn":
        return (nn.BatchNorm1d if len(x) <= 2 else nn.BatchNorm2d if len(x) == 3 else nn.BatchNorm3d)(x[0], affine=layer.affine)
    if name == "frozenbn":
        return FrozenBatchNorm2d(x[0], layer.eps)
    if name == "dist2bbox":
        return DistanceToBox([tuple(level) for level in layer.grids], layer.strides, layer.xywh)
    if name == "layernorm":
        return (nn.LayerNorm if rank == 0 else ChannelLayerNorm)(x[0], eps=layer.eps, elementwise_affine=layer.affine, bias=layer.bias)
    if name == "groupnorm":
        norm = nn.GroupNorm(layer.groups, x[0], eps=layer.eps, affine=layer.affine)
        if layer.affine and not layer.bias:
            norm.bias = None  # a learned scale alone (MetaFormer's GroupNorm1NoBias)
        return norm
    if name == "instancenorm":
        return _by_rank(rank, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)(x[0], eps=layer.eps, affine=layer.affine)
    if name == "layerscale":
        return LayerScale((x[0], *(1,) * rank), layer.init)
    if name == "reduce":
        return Reduction(layer.op, tuple(d % (len(x) + 1) for d in layer.dims), layer.keepdim)
    if name == "bias_table":
        return GatheredTable(x, layer.entries, layer.shared)
    if name == "fourier_position":
        return FourierEncoding(x, layer.features, layer.temperature, layer.bias, layer.rows_cols(x))
    if name == "elementwise":
        return ConstantOp(layer.op, layer.value, layer.shape, layer.learned)
    if name == "prelu":
        return nn.PReLU(1 if layer.shared else x[0])
    if name in ("maxpool", "avgpool"):
        _, _, k, s, p, d = layer.resolved(x)
        if name == "maxpool":
            return _by_rank(rank, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)(k, s, p, d, ceil_mode=layer.ceil_mode)
        return _by_rank(rank, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)(k, s, p, ceil_mode=layer.ceil_mode, count_include_pad=layer.count_include_pad)
    if name == "gap":
        return _by_rank(rank, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)(1)
    if name == "gmp":
        return _by_rank(rank, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)(1)
    if name == "adaptive_avgpool":
        return _by_rank(rank, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)(step.out_shape[1:])
    if name == "adaptive_maxpool":
        return _by_rank(rank, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)(step.out_shape[1:])
    if name == "upsample":
        corners = layer.align_corners if layer.mode != "nearest" else None
        if layer.size is not None:
            return nn.Upsample(size=step.out_shape[1:], mode=layer.mode, align_corners=corners)
        scale = layer.scale if not isinstance(layer.scale, tuple) else tuple(float(v) for v in layer.scale)
        return nn.Upsample(scale_factor=scale, mode=layer.mode, align_corners=corners)
    if name == "crop":
        return Crop(step.out_shape[1:])
    if name == "pad":
        return Pad(layer.pads(x), layer.mode, layer.value, layer.channels)
    if name == "pixelshuffle":
        return nn.PixelShuffle(layer.r)
    if name == "pixelunshuffle":
        return nn.PixelUnshuffle(layer.r)
    if name == "flatten":
        return nn.Flatten(layer.start, layer.end)
    if name in VIEWS:
        return View(name, layer)
    if name == "dropout":
        return nn.Dropout(layer.p)
    if name == "lrn":
        return nn.LocalResponseNorm(layer.size)
    if name == "shuffle":
        return Shuffle(layer.groups)
    if name == "se":
        return SE(x[0], layer.squeeze, layer.act, layer.gate)
    if name == "softmax":
        return nn.Softmax(layer.dim)
    if name == "attention":
        return TokenAttention(x[0], layer.heads, layer.bias, layer.batch_dims)
    if name == "unary":
        return Function(FUNCTIONS[layer.fn])
    if name == "grn":
        return ResponseNorm(x[0], channels_last=False, eps=layer.eps)
    if name == "class_token":
        return LearnedTokens(x[0], layer.tokens, layer.after)
    if name == "gelu":
        return nn.GELU(approximate=layer.approximate)
    if name == "leakyrelu":
        return nn.LeakyReLU(layer.slope)
    return ACTIVATIONS[name]()
