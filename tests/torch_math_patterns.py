"""Torch modules written here for the arithmetic of activations in real models' exports, each from
its paper's description: ConvNeXt V2's global response norm (arXiv 2301.00808, Algorithm 1) in both
layouts, a layer norm written out over the channels (ConvNeXt's channels-first LayerNorm), GELU's
tanh approximation (PyTorch's `approximate='tanh'`), and the element-wise arithmetic of two
activations and of one (a linear attention's division by a sum, a norm's square root).

`pattern(kind)` builds one, seeded, in eval mode (the `torch:` factory of the tests).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn


class ResponseNorm(nn.Module):
    """GRN as the paper writes it: G = ‖x‖₂ over the positions, N = G / (mean_C G + eps), γ·(x·N) + β + x."""

    def __init__(self, channels: int, channels_last: bool, eps: float = 1e-6):
        super().__init__()
        self.channels_last = channels_last
        self.eps = eps
        self.gamma = nn.Parameter(torch.rand(channels))
        self.beta = nn.Parameter(torch.rand(channels))

    def forward(self, x):
        if self.channels_last:
            spatial, channel, per_channel = tuple(range(1, x.dim() - 1)), -1, (1,) * (x.dim() - 1) + (-1,)
        else:
            spatial, channel, per_channel = tuple(range(2, x.dim())), 1, (1, -1) + (1,) * (x.dim() - 2)
        g = torch.norm(x, p=2, dim=spatial, keepdim=True)
        n = g / (g.mean(dim=channel, keepdim=True) + self.eps)
        return self.gamma.view(per_channel) * (x * n) + self.beta.view(per_channel) + x


class ConvNextV2Block(nn.Module):
    """ConvNeXt V2's block: 7×7 depthwise, channels-last LayerNorm, Linear 4C, GELU, GRN, Linear C, residual."""

    def __init__(self, c: int):
        super().__init__()
        self.dwconv = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.pwconv1 = nn.Linear(c, 4 * c)
        self.act = nn.GELU()
        self.grn = ResponseNorm(4 * c, channels_last=True)
        self.pwconv2 = nn.Linear(4 * c, c)

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(y)))))
        return x + y.permute(0, 3, 1, 2)


class GrnNets(nn.Module):
    """A stem, a ConvNeXt V2 block (GRN channels-last), then a 1×1 conv MLP with GRN channels-first."""

    def __init__(self, c: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 2, stride=2)
        self.block = ConvNextV2Block(c)
        self.fc1 = nn.Conv2d(c, 2 * c, 1)
        self.grn = ResponseNorm(2 * c, channels_last=False)
        self.fc2 = nn.Conv2d(2 * c, c, 1)

    def forward(self, x):
        return self.fc2(self.grn(self.fc1(self.block(self.stem(x)))))


class ChannelsFirstLayerNorm(nn.Module):
    """ConvNeXt's LayerNorm over the channels of N×C×H×W, written out: (x − μ) / √(σ² + eps), scaled and shifted."""

    def __init__(self, c: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(c))
        self.bias = nn.Parameter(torch.rand(c))
        self.eps = eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class LastAxisLayerNorm(nn.Module):
    """The same over the last axis of a channels-last tensor."""

    def __init__(self, c: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(c))
        self.bias = nn.Parameter(torch.rand(c))
        self.eps = eps

    def forward(self, x):
        u = x.mean(-1, keepdim=True)
        s = (x - u).pow(2).mean(-1, keepdim=True)
        return (x - u) / torch.sqrt(s + self.eps) * self.weight + self.bias


class VarianceLayerNorm(nn.Module):
    """The channels-first layer norm from torch.var_mean and a reciprocal square root: (x − μ)·rsqrt(σ² + eps)."""

    def __init__(self, c: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(c))
        self.bias = nn.Parameter(torch.rand(c))
        self.eps = eps

    def forward(self, x):
        s, u = torch.var_mean(x, dim=1, unbiased=False, keepdim=True)
        x = (x - u) * torch.rsqrt(s + self.eps)
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class VarianceNorms(nn.Module):
    """A conv, the var_mean / rsqrt layer norm (or another norm of c channels), a 1×1 conv."""

    def __init__(self, c: int = 8, norm: type[nn.Module] = VarianceLayerNorm):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.norm = norm(c)
        self.conv = nn.Conv2d(c, c, 1)

    def forward(self, x):
        return self.conv(self.norm(self.stem(x)))


class StdNorm(nn.Module):
    """x divided by its unbiased standard deviation over the channels, then scaled (timm's SimpleNorm2d):
    torch.var's N / (N − 1), which TorchScript computes from the shape (Shape, Gather, ReduceProd)."""

    def __init__(self, c: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(c))
        self.eps = eps

    def forward(self, x):
        x = x / torch.sqrt(torch.var(x, dim=1, keepdim=True) + self.eps)
        return x * self.weight.view(1, -1, 1, 1)


class StdNorms(VarianceNorms):
    """A conv, the standard-deviation norm, a 1×1 conv."""

    def __init__(self, c: int = 8):
        super().__init__(c, StdNorm)


class WrittenNorms(nn.Module):
    """A conv, the written-out channels-first layer norm, a 1×1 conv, the last-axis one on a permuted view."""

    def __init__(self, c: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.norm1 = ChannelsFirstLayerNorm(c)
        self.conv = nn.Conv2d(c, c, 1)
        self.norm2 = LastAxisLayerNorm(c)
        self.fc = nn.Linear(c, 2 * c)

    def forward(self, x):
        y = self.conv(self.norm1(self.stem(x))).permute(0, 2, 3, 1)
        return self.fc(self.norm2(y)).permute(0, 3, 1, 2)


class TanhGelus(nn.Module):
    """GELU's tanh form after a conv and inside a channels-last MLP (timm's `gelu_tanh`)."""

    def __init__(self, c: int = 8):
        super().__init__()
        self.conv = nn.Conv2d(3, c, 3)
        self.act = nn.GELU(approximate="tanh")
        self.fc = nn.Linear(c, 2 * c)
        self.act2 = nn.GELU(approximate="tanh")

    def forward(self, x):
        y = self.act(self.conv(x)).permute(0, 2, 3, 1)
        return self.act2(self.fc(y)).permute(0, 3, 1, 2)


class ActivationArithmetic(nn.Module):
    """Two branches meeting in Div, Sub, Max and Min, and functions of one: a linear attention's division
    by a positive sum, a square root, exp, log, erf, sin, cos, reciprocal, a power."""

    def __init__(self, c: int = 8):
        super().__init__()
        self.a = nn.Conv2d(3, c, 3, padding=1)
        self.b = nn.Conv2d(3, c, 3, padding=1)
        self.gate = nn.Conv2d(3, 1, 1)
        self.out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        a, b, g = self.a(x), self.b(x), self.gate(x)
        ratio = a / (torch.relu(b) + 1.0)
        spread = torch.maximum(a, b) - torch.minimum(a, g)  # the one-channel gate broadcasts
        smooth = torch.sqrt(torch.abs(spread)) + torch.exp(-torch.abs(a)) + torch.log(torch.abs(b) + 1.0)
        waves = (torch.sin(a) * torch.cos(b) + torch.erf(ratio)) * torch.reciprocal(torch.abs(g) + 1.0)
        return self.out(smooth + waves + a ** 3)


PATTERNS = {
    "grn": (GrnNets, (3, 8, 8)),
    "written_layernorm": (WrittenNorms, (3, 6, 6)),
    "variance_layernorm": (VarianceNorms, (3, 6, 6)),
    "std_norm": (StdNorms, (3, 6, 6)),
    "tanh_gelu": (TanhGelus, (3, 8, 8)),
    "activation_arithmetic": (ActivationArithmetic, (3, 6, 6)),
}
"""Each pattern's module class and its input (C, H, W)."""


def pattern(kind: str = "grn") -> nn.Module:
    """The pattern's module, seeded, in eval mode."""
    torch.manual_seed(0)
    return PATTERNS[kind][0]().eval()


class _ChannelsFirstGrn(nn.Module):
    """A 1×1 conv to 2C, GRN on the channels, a 1×1 conv back (ConvNeXt V2's MLP with convs)."""

    def __init__(self, c: int):
        super().__init__()
        self.fc1 = nn.Conv2d(c, 2 * c, 1)
        self.grn = ResponseNorm(2 * c, channels_last=False)
        self.fc2 = nn.Conv2d(2 * c, c, 1)

    def forward(self, x):
        return self.fc2(self.grn(self.fc1(x)))


class _LastAxisNorm(nn.Module):
    """The last-axis layer norm on a channels-last view, moved back."""

    def __init__(self, c: int):
        super().__init__()
        self.norm = LastAxisLayerNorm(c)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class _TanhGelu(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.act = nn.GELU(approximate="tanh")

    def forward(self, x):
        return self.act(self.conv(x))


class _Arithmetic(nn.Module):
    """Two 1×1 branches meeting in Div, Sub, Max, Min, and functions of one."""

    def __init__(self, c: int):
        super().__init__()
        self.a = nn.Conv2d(c, c, 1)
        self.b = nn.Conv2d(c, c, 1)

    def forward(self, x):
        a, b = self.a(x), self.b(x)
        return torch.sqrt(torch.abs(a / (torch.relu(b) + 1.0) - torch.minimum(a, b))) + torch.sin(torch.maximum(a, b))


BLOCKS = {"convnextv2": ConvNextV2Block, "grn": _ChannelsFirstGrn, "layernorm_first": ChannelsFirstLayerNorm, "layernorm_last": _LastAxisNorm,
          "layernorm_variance": VarianceLayerNorm, "std_norm": StdNorm,
          "tanh_gelu": _TanhGelu, "arithmetic": _Arithmetic}
"""The patterns as blocks of one width, for random chains (the importer's property test)."""


def chain(kinds: list[str], width: int) -> nn.Module:
    """A stem to `width` channels, then the blocks of `kinds` in order (named, as tests/torch_patterns.py's), seeded, in eval mode."""
    torch.manual_seed(0)
    blocks = [("stem", nn.Conv2d(3, width, 3, padding=1)), *((f"block{i}", BLOCKS[k](width)) for i, k in enumerate(kinds))]
    return nn.Sequential(OrderedDict(blocks)).eval()
