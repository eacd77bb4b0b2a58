"""Torch modules written here from the CNN papers, reproducing what real CNN libraries export (MixNet's
blocks, ...), as tests/torch_patterns.py's PATTERNS: kind → (module class, input shape C, H, W)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from torch_ghost import GhostBottleneck
from torch_subpixel import DenseUpsamplingHead
from torch_token_mixers import TOKEN_MIXER_PATTERNS


class NormAct(nn.BatchNorm2d):
    """A batch norm holding its activation (`bn1` with `bn1.act` inside): exporters fold the norm into the
    conv before it, and leave `bn1.act`, a name that every block of the net has again."""

    def __init__(self, channels: int, act: bool = True):
        super().__init__(channels)
        self.act = nn.ReLU() if act else nn.Identity()

    def forward(self, x):
        return self.act(super().forward(x))


class MixedConv(nn.Module):
    """MixConv (Tan and Le 2019): the channels split into groups, one kernel size each (children `0`, `1`, ...),
    outputs concatenated; a single kernel size is one plain conv."""

    def __init__(self, c_in: int, c_out: int, kernels: tuple[int, ...], stride: int = 1, depthwise: bool = False):
        super().__init__()
        self.splits = [c_in // len(kernels)] * len(kernels)
        for i, k in enumerate(kernels):
            c = c_out // len(kernels)
            self.add_module(str(i), nn.Conv2d(self.splits[i], c, k, stride, k // 2, groups=c if depthwise else 1, bias=False))

    def forward(self, x):
        return torch.cat([conv(part) for conv, part in zip(self.children(), torch.split(x, self.splits, 1))], 1)


class _SeparableBlock(nn.Module):
    """MixNet's first block: depthwise conv, norm + act, pointwise conv, norm, plus its input."""

    def __init__(self, c: int):
        super().__init__()
        self.conv_dw = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)
        self.bn1 = NormAct(c)
        self.conv_pw = nn.Conv2d(c, c, 1, bias=False)
        self.bn2 = NormAct(c, act=False)

    def forward(self, x):
        return self.bn2(self.conv_pw(self.bn1(self.conv_dw(x)))) + x


class _MixedInvertedBlock(nn.Module):
    """MixNet's inverted residual: grouped pointwise expansion, mixed-kernel depthwise (3×3 and 5×5), grouped projection."""

    def __init__(self, c: int, expand: int = 3):
        super().__init__()
        self.conv_pw = MixedConv(c, c * expand, (1, 1))
        self.bn1 = NormAct(c * expand)
        self.conv_dw = MixedConv(c * expand, c * expand, (3, 5), depthwise=True)
        self.bn2 = NormAct(c * expand)
        self.conv_pwl = MixedConv(c * expand, c, (1, 1))
        self.bn3 = NormAct(c, act=False)

    def forward(self, x):
        return self.bn3(self.conv_pwl(self.bn2(self.conv_dw(self.bn1(self.conv_pw(x)))))) + x


class MixedKernelNet(nn.Module):
    """A MixNet-style stem and two stages: the first block's residual reads the stem's `bn1.act` from inside a
    block with a `bn1.act` of its own, which a spec once named so that the block's own was read."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.conv_stem = nn.Conv2d(3, width, 3, 2, 1, bias=False)
        self.bn1 = NormAct(width)
        self.blocks = nn.Sequential(nn.Sequential(_SeparableBlock(width)), nn.Sequential(_MixedInvertedBlock(width), _MixedInvertedBlock(width)))

    def forward(self, x):
        return self.blocks(self.bn1(self.conv_stem(x)))


class _DenseLayer(nn.Module):
    """DenseNet's bottleneck layer (Huang et al. 2017): BN-ReLU-1×1 conv to 4k channels, BN-ReLU-3×3 conv to k, read
    by every later layer through a concat of all earlier outputs."""

    def __init__(self, c_in: int, growth: int):
        super().__init__()
        self.norm1 = NormAct(c_in)
        self.conv1 = nn.Conv2d(c_in, 4 * growth, 1, bias=False)
        self.norm2 = NormAct(4 * growth)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.conv2(self.norm2(self.conv1(self.norm1(torch.cat(features, 1)))))


class _DenseBlock(nn.Module):
    def __init__(self, c_in: int, growth: int, layers: int):
        super().__init__()
        for i in range(layers):
            self.add_module(f"denselayer{i + 1}", _DenseLayer(c_in + i * growth, growth))

    def forward(self, x):
        features = [x]
        for layer in self.children():
            features.append(layer(features))
        return torch.cat(features, 1)


class DenseNet(nn.Module):
    """A small DenseNet: stem conv + norm, a dense block, a transition (BN-ReLU-1×1 conv, 2×2 average pool), a
    second block. Exported with BN folded, its 1×1 convs have a bias and most 3×3 convs none: a spec's
    `defaults: conv: {bias: false}` once took the 1×1 convs' biases too, and import was refused."""

    def __init__(self, growth: int = 4):
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(3, 8, 3, padding=1, bias=False))
        self.features.add_module("norm0", NormAct(8))
        self.features.add_module("denseblock1", _DenseBlock(8, growth, 3))
        width = 8 + 3 * growth
        self.features.add_module("transition1", nn.Sequential(NormAct(width), nn.Conv2d(width, width // 2, 1, bias=False), nn.AvgPool2d(2)))
        self.features.add_module("denseblock2", _DenseBlock(width // 2, growth, 3))

    def forward(self, x):
        return self.features(x)


def _conv_norm(c_in: int, c_out: int, k: int, s: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False), nn.BatchNorm2d(c_out)]


class HighResolutionFusion(nn.Module):
    """HRNet (Sun et al. 2019): three resolutions side by side, each branch a conv, then every output the sum of all
    branches brought to its resolution (1×1 conv and upsampling from below, strided 3×3 convs from above) and a
    ReLU; HRNetV2's head concatenates the three, upsampled. The sums sit between the fuse layers they read, so
    `fuse_layers.0`'s modules come in two runs, which a spec once wrote as two entries of one name."""

    def __init__(self, width: int = 4):
        super().__init__()
        widths = [width, 2 * width, 4 * width]
        self.stem = nn.Sequential(*_conv_norm(3, width, 3), nn.ReLU())
        self.transition = nn.ModuleList([nn.Sequential(*_conv_norm(widths[k], widths[k + 1], 3, 2), nn.ReLU()) for k in range(2)])
        self.branches = nn.ModuleList([nn.Sequential(*_conv_norm(c, c, 3), nn.ReLU()) for c in widths])
        self.fuse_layers = nn.ModuleList()
        for i, c_out in enumerate(widths):
            row = nn.ModuleList()
            for j, c_in in enumerate(widths):
                if j > i:
                    row.append(nn.Sequential(*_conv_norm(c_in, c_out, 1), nn.Upsample(scale_factor=2 ** (j - i))))
                elif j < i:
                    steps: list[nn.Module] = []
                    for k in range(i - j):
                        last = k == i - j - 1
                        steps += [*_conv_norm(c_in, c_out if last else c_in, 3, 2), *([] if last else [nn.ReLU()])]
                    row.append(nn.Sequential(*steps))
                else:
                    row.append(nn.Identity())
            self.fuse_layers.append(row)
        self.fuse_act = nn.ReLU()
        self.up = nn.ModuleList([nn.Upsample(scale_factor=2), nn.Upsample(scale_factor=4)])

    def forward(self, x):
        x0 = self.stem(x)
        x1 = self.transition[0](x0)
        xs = [branch(t) for branch, t in zip(self.branches, (x0, x1, self.transition[1](x1)))]
        fused = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[0] if i == 0 else row[0](xs[0])
            for j in range(1, len(xs)):
                y = y + (xs[j] if i == j else row[j](xs[j]))
            fused.append(self.fuse_act(y))
        return torch.cat([fused[0], self.up[0](fused[1]), self.up[1](fused[2])], 1)


def _conv_act(c_in: int, c_out: int, k: int = 3, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=dilation * (k // 2), dilation=dilation, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class UNet(nn.Module):
    """U-Net (Ronneberger et al. 2015): two conv-BN-ReLU per level, 2×2 max pools down, 2×2 transposed convs up,
    each concatenated with the encoder's output at its resolution; a 1×1 conv to the classes."""

    def __init__(self, width: int = 4, classes: int = 3):
        super().__init__()
        self.down1 = nn.Sequential(_conv_act(3, width), _conv_act(width, width))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), _conv_act(width, 2 * width), _conv_act(2 * width, 2 * width))
        self.bottom = nn.Sequential(nn.MaxPool2d(2), _conv_act(2 * width, 4 * width), _conv_act(4 * width, 4 * width))
        self.up2 = nn.ConvTranspose2d(4 * width, 2 * width, 2, 2)
        self.dec2 = nn.Sequential(_conv_act(4 * width, 2 * width), _conv_act(2 * width, 2 * width))
        self.up1 = nn.ConvTranspose2d(2 * width, width, 2, 2)
        self.dec1 = nn.Sequential(_conv_act(2 * width, width), _conv_act(width, width))
        self.head = nn.Conv2d(width, classes, 1)

    def forward(self, x):
        d1 = self.down1(x)
        d2 = self.down2(d1)
        y = self.dec2(torch.cat([d2, self.up2(self.bottom(d2))], 1))
        return self.head(self.dec1(torch.cat([d1, self.up1(y)], 1)))


class FeaturePyramid(nn.Module):
    """FPN (Lin et al. 2017) over a three-stage backbone: 1×1 lateral convs, a top-down path of 2× nearest
    upsampling added to each lateral, a 3×3 conv on every level; a segmentation head sums the levels brought
    to the finest by bilinear upsampling to its size (the panoptic FPN's semantic branch)."""

    def __init__(self, width: int = 4, channels: int = 8, classes: int = 3):
        super().__init__()
        widths = [width, 2 * width, 4 * width]
        self.stem = _conv_act(3, width)
        self.stages = nn.ModuleList([nn.Sequential(nn.Identity() if k == 0 else nn.MaxPool2d(2), _conv_act(c_in, c))
                                     for k, (c_in, c) in enumerate(zip((width, *widths[:-1]), widths))])
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in widths)
        self.output = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in widths)
        self.classifier = nn.Conv2d(channels, classes, 1)

    def forward(self, x):
        features = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        inner = self.lateral[-1](features[-1])
        levels = [self.output[-1](inner)]
        for k in (1, 0):
            inner = self.lateral[k](features[k]) + nn.functional.interpolate(inner, scale_factor=2.0, mode="nearest")
            levels.insert(0, self.output[k](inner))
        size = levels[0].shape[-2:]
        merged = levels[0] + sum(nn.functional.interpolate(level, size=size, mode="bilinear", align_corners=False) for level in levels[1:])
        return self.classifier(merged)


class DeepLabV3Plus(nn.Module):
    """DeepLabV3+ (Chen et al. 2018): ASPP over the deepest features (a 1×1 conv, atrous 3×3 convs at two rates,
    image pooling: global average, 1×1 conv, upsampled back), concatenated and projected; the decoder upsamples
    it bilinearly to a low-level feature's size, concatenates that feature's 1×1 projection, refines with a 3×3
    conv and upsamples to the input."""

    def __init__(self, width: int = 4, channels: int = 8, classes: int = 3):
        super().__init__()
        self.low = nn.Sequential(_conv_act(3, width), nn.MaxPool2d(2))
        self.deep = nn.Sequential(_conv_act(width, 2 * width), nn.MaxPool2d(2), _conv_act(2 * width, 4 * width))
        c = 4 * width
        self.aspp = nn.ModuleList([_conv_act(c, channels, 1), _conv_act(c, channels, 3, 2), _conv_act(c, channels, 3, 3)])
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, channels, 1, bias=False), nn.ReLU())
        self.project = _conv_act(4 * channels, channels, 1)
        self.low_project = _conv_act(width, channels // 2, 1)
        self.refine = _conv_act(channels + channels // 2, channels)
        self.classifier = nn.Conv2d(channels, classes, 1)

    def forward(self, x):
        low = self.low(x)
        deep = self.deep(low)
        pooled = nn.functional.interpolate(self.image_pool(deep), size=deep.shape[-2:], mode="bilinear", align_corners=False)
        y = self.project(torch.cat([branch(deep) for branch in self.aspp] + [pooled], 1))
        y = nn.functional.interpolate(y, size=low.shape[-2:], mode="bilinear", align_corners=False)
        y = self.classifier(self.refine(torch.cat([y, self.low_project(low)], 1)))
        return nn.functional.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


class PyramidPooling(nn.Module):
    """PSPNet's pyramid pooling module (Zhao et al. 2017): the features average-pooled to 1×1, 2×2 and 4×4 bins, each
    reduced by a 1×1 conv and upsampled bilinearly back, concatenated with the features, then a 3×3 conv and a
    1×1 classifier, upsampled to the input."""

    def __init__(self, width: int = 8, classes: int = 3, bins: tuple[int, ...] = (1, 2, 4)):
        super().__init__()
        self.backbone = nn.Sequential(_conv_act(3, width), nn.MaxPool2d(2), _conv_act(width, width))
        self.stages = nn.ModuleList(nn.Sequential(nn.AdaptiveAvgPool2d(b), _conv_act(width, width // len(bins) + 1, 1)) for b in bins)
        self.bottleneck = _conv_act(width + len(bins) * (width // len(bins) + 1), width)
        self.classifier = nn.Conv2d(width, classes, 1)

    def forward(self, x):
        f = self.backbone(x)
        pooled = [nn.functional.interpolate(stage(f), size=f.shape[-2:], mode="bilinear", align_corners=False) for stage in self.stages]
        y = self.classifier(self.bottleneck(torch.cat([f, *pooled], 1)))
        return nn.functional.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


class EfficientChannelAttention(nn.Module):
    """ECA (Wang et al. 2020): global average pooling, a 1-D conv of odd size k across the channels, a sigmoid,
    and the input scaled by that gate expanded to its shape (`expand_as`), the Expand an exporter writes."""

    def __init__(self, k: int = 3):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        y = self.gate(self.conv(x.mean((2, 3)).view(x.shape[0], 1, -1))).view(x.shape[0], -1, 1, 1)
        return x * y.expand_as(x)


class _EcaBottleneck(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv1 = _conv_act(c, c, 1)
        self.conv2 = nn.Sequential(*_conv_norm(c, c, 3))
        self.se = EfficientChannelAttention()
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.se(self.conv2(self.conv1(x))) + x)


class EcaNet(nn.Module):
    """A stem conv and two residual blocks, each gated by ECA before its sum."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = _conv_act(3, width)
        self.layer1 = nn.Sequential(_EcaBottleneck(width), _EcaBottleneck(width))

    def forward(self, x):
        return self.layer1(self.stem(x))


class PoseStageOutputs(nn.Module):
    """A pose network's stage (OpenPose, Cao et al. 2017): heatmaps and part affinity fields from the features,
    concatenated after them for the next stage; the network returns the last channels, the maps alone."""

    def __init__(self, maps: int = 4, fields: int = 6):
        super().__init__()
        self.maps = maps + fields
        self.trunk = nn.Sequential(*_conv_norm(3, 8, 3), nn.ReLU())
        self.heatmaps = nn.Conv2d(8, maps, 1)
        self.fields = nn.Conv2d(8, fields, 1)

    def forward(self, x):
        x = self.trunk(x)
        return torch.cat((x, self.heatmaps(x), self.fields(x)), 1)[:, -self.maps:]
def same_padding_amount(size, k: int, s: int, d: int = 1):
    """TensorFlow's "SAME" padding along one axis: the output has ceil(size / s) positions, and the padding is
    what the window needs for that, never negative. On a traced size (TorchScript) it is tensor arithmetic, as
    the file then computes it at run time: Shape, Div, Ceil, Sub, Clip."""
    if isinstance(size, torch.Tensor):
        return torch.clamp((torch.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, min=0)
    return max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)


def pad_same(x: torch.Tensor, k: int, s: int, value: float = 0.0) -> torch.Tensor:
    """x padded as TensorFlow's "SAME" does: half of each axis's padding before, the odd one after."""
    h, w = x.shape[-2:]
    pad_h, pad_w = same_padding_amount(h, k, s), same_padding_amount(w, k, s)
    return nn.functional.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), value=value)


class SamePadConv2d(nn.Conv2d):
    """A conv with TensorFlow's "SAME" padding, computed from the input's size when it runs (the TF ports of
    EfficientNet V2, Tan and Le 2021, keep TF's padding so that its trained weights give TF's outputs)."""

    def forward(self, x):
        return super().forward(pad_same(x, self.kernel_size[0], self.stride[0]))


class SamePadMaxPool2d(nn.MaxPool2d):
    """A max pool with TensorFlow's "SAME" padding: the padding is -inf, so that it never wins the max."""

    def forward(self, x):
        return super().forward(pad_same(x, self.kernel_size, self.stride, float("-inf")))


class _SameConvNormAct(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, k: int, s: int = 1, groups: int = 1, act: bool = True):
        super().__init__(SamePadConv2d(c_in, c_out, k, s, groups=groups, bias=False), nn.BatchNorm2d(c_out), nn.SiLU() if act else nn.Identity())


class _FusedInvertedBlock(nn.Module):
    """EfficientNet V2's Fused-MBConv: a strided 3×3 conv expanding the channels, a 1×1 projection."""

    def __init__(self, c_in: int, c_out: int, s: int):
        super().__init__()
        self.conv_exp = _SameConvNormAct(c_in, 4 * c_in, 3, s)
        self.conv_pwl = _SameConvNormAct(4 * c_in, c_out, 1, act=False)

    def forward(self, x):
        return self.conv_pwl(self.conv_exp(x))


class _SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): global average pool, 1×1 reduce, SiLU, 1×1 expand, sigmoid gate on
    the input."""

    def __init__(self, c: int, squeezed: int):
        super().__init__()
        self.conv_reduce = nn.Conv2d(c, squeezed, 1)
        self.act = nn.SiLU()
        self.conv_expand = nn.Conv2d(squeezed, c, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.conv_expand(self.act(self.conv_reduce(x.mean((2, 3), keepdim=True)))))


class _InvertedBlock(nn.Module):
    """MBConv: 1×1 expansion, strided depthwise conv, squeeze-and-excitation, 1×1 projection."""

    def __init__(self, c_in: int, c_out: int, k: int, s: int):
        super().__init__()
        mid = 4 * c_in
        self.conv_pw = _SameConvNormAct(c_in, mid, 1)
        self.conv_dw = _SameConvNormAct(mid, mid, k, s, groups=mid)
        self.se = _SqueezeExcite(mid, c_in // 2)
        self.conv_pwl = _SameConvNormAct(mid, c_out, 1, act=False)

    def forward(self, x):
        return self.conv_pwl(self.se(self.conv_dw(self.conv_pw(x))))


class TfSamePaddingNet(nn.Module):
    """EfficientNet V2's TF port in small: a strided 3×3 stem, a Fused-MBConv and an MBConv (5×5 depthwise), each
    strided with TF's "SAME" padding (asymmetric on an even input: one more after than before), a "SAME" max
    pool, global average pooling and a classifier."""

    def __init__(self, width: int = 8, classes: int = 5):
        super().__init__()
        self.conv_stem = _SameConvNormAct(3, width, 3, 2)
        self.blocks = nn.Sequential(_FusedInvertedBlock(width, 2 * width, 2), _InvertedBlock(2 * width, 2 * width, 5, 2))
        self.pool = SamePadMaxPool2d(3, 2)
        self.classifier = nn.Linear(2 * width, classes)

    def forward(self, x):
        return self.classifier(self.pool(self.blocks(self.conv_stem(x))).mean((2, 3)))


class EvoNormS0(nn.Module):
    """EvoNorm-S0 (Liu et al. 2020, "Evolving Normalization-Activation Layers"): x·σ(v·x) divided by the standard
    deviation of x over each group of channels and all positions, then a learned scale and shift per channel
    (3C parameters: v, γ, β). The group's deviation is computed on x viewed as (N, G, C/G, H, W) and broadcast
    back to x's shape with `expand`, then viewed as (N, C, H, W) again."""

    def __init__(self, channels: int, groups: int = 2, eps: float = 1e-5):
        super().__init__()
        self.groups, self.eps = groups, eps
        self.v = nn.Parameter(torch.rand(channels) + 0.5)
        self.weight = nn.Parameter(torch.rand(channels) + 0.5)
        self.bias = nn.Parameter(torch.randn(channels) * 0.1)

    def forward(self, x):
        n, c, h, w = x.shape
        grouped = x.reshape(n, self.groups, c // self.groups, h, w)
        std = (grouped.var(dim=(2, 3, 4), unbiased=False, keepdim=True) + self.eps).sqrt().expand(grouped.shape).reshape(n, c, h, w)
        y = x * torch.sigmoid(x * self.v.view(1, -1, 1, 1)) / std
        return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class EvoNormNet(nn.Module):
    """A conv and an EvoNorm-S0, as RegNetZ's and ResNetV2's EvoNorm variants use it after each conv."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.norm = EvoNormS0(width)

    def forward(self, x):
        return self.norm(self.conv(x))


class _ZeroChannelBlock(nn.Module):
    """A residual block whose shortcut adds zero channels instead of a 1×1 conv: He et al.'s option A (CIFAR ResNets:
    every other position, then zeros padded around the channels, F.pad(x, (0, 0, 0, 0, p, p))) or, unstrided,
    HighResNet's (zeros after the channels)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.stride, self.extra = stride, c_out - c_in
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        if self.stride > 1:
            shortcut = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        else:
            shortcut = F.pad(x, (0, 0, 0, 0, 0, self.extra))
        return torch.relu(y + shortcut)


class ZeroChannelShortcuts(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.Sequential(_ZeroChannelBlock(8, 16, 2), _ZeroChannelBlock(16, 24, 1))
        self.fc = nn.Linear(24, 10)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean((2, 3)))


class _SamePaddedConv(nn.Conv2d):
    """A conv that holds its own padding module (efficientnet-pytorch's Conv2dStaticSamePadding): TensorFlow's "SAME"
    padding, fixed for its input size, in a child of the conv itself."""

    def __init__(self, c_in: int, c_out: int, k: int, s: int, size: int, groups: int = 1):
        super().__init__(c_in, c_out, k, s, bias=False, groups=groups)
        pad = same_padding_amount(size, k, s)
        self.static_padding = nn.ZeroPad2d((pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))

    def forward(self, x):
        return F.conv2d(self.static_padding(x), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class InlineExcitationBlock(nn.Module):
    """An inverted residual block (Tan and Le 2019) whose squeeze-excitation is computed in the block's own forward, by
    two 1×1 convs of its own, then projected (efficientnet-pytorch's MBConvBlock): no module is the excitation."""

    def __init__(self, c: int = 8, expand: int = 4, size: int = 8):
        super().__init__()
        wide = c * expand
        self._expand_conv, self._bn0 = _SamePaddedConv(c, wide, 1, 1, size), nn.BatchNorm2d(wide)
        self._depthwise_conv, self._bn1 = _SamePaddedConv(wide, wide, 3, 1, size, groups=wide), nn.BatchNorm2d(wide)
        self._se_reduce, self._se_expand = nn.Conv2d(wide, c // 4, 1), nn.Conv2d(c // 4, wide, 1)
        self._project_conv, self._bn2 = _SamePaddedConv(wide, c, 1, 1, size), nn.BatchNorm2d(c)

    def forward(self, x):
        y = F.silu(self._bn0(self._expand_conv(x)))
        y = F.silu(self._bn1(self._depthwise_conv(y)))
        excitation = self._se_expand(F.silu(self._se_reduce(F.adaptive_avg_pool2d(y, 1))))
        return x + self._bn2(self._project_conv(torch.sigmoid(excitation) * y))


class InlineExcitation(nn.Module):
    def __init__(self):
        super().__init__()
        self._conv_stem, self._bn0 = _SamePaddedConv(3, 8, 3, 2, 16), nn.BatchNorm2d(8)
        self._blocks = nn.ModuleList([InlineExcitationBlock(), InlineExcitationBlock()])

    def forward(self, x):
        x = F.silu(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return x


class VariationalOutputs(nn.Module):
    """A variational autoencoder (Kingma and Welling 2014) returning (reconstruction, mean, log variance, sample): in
    eval the sample is the mean, so one tensor is returned twice, and is two of the network's outputs."""

    def __init__(self, latent: int = 4):
        super().__init__()
        self.encode = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU())
        self.mu = nn.Conv2d(8, latent, 1)
        self.logvar = nn.Conv2d(8, latent, 1)
        self.decode = nn.ConvTranspose2d(latent, 3, 2, 2)

    def forward(self, x):
        h = self.encode(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu if not self.training else mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar, z


CNN_PATTERNS = {
    "inline_excitation": (InlineExcitation, (3, 16, 16)),
    "variational_outputs": (VariationalOutputs, (3, 16, 16)),
    "zero_channel_shortcuts": (ZeroChannelShortcuts, (3, 16, 16)),
    "pose_stage_outputs": (PoseStageOutputs, (3, 8, 8)),
    "efficient_channel_attention": (EcaNet, (3, 8, 8)),
    "unet": (UNet, (3, 16, 16)),
    "fpn_segmentation": (FeaturePyramid, (3, 16, 16)),
    "deeplabv3plus": (DeepLabV3Plus, (3, 16, 16)),
    "pyramid_pooling": (PyramidPooling, (3, 16, 16)),
    "high_resolution_fusion": (HighResolutionFusion, (3, 8, 8)),
    "dense": (DenseNet, (3, 8, 8)),
    "mixed_kernel": (MixedKernelNet, (3, 16, 16)),
    **TOKEN_MIXER_PATTERNS,
    "tf_same_padding": (TfSamePaddingNet, (3, 30, 30)),
    "ghost_clamp": (GhostBottleneck, (3, 32, 32)),
    "dense_upsampling": (DenseUpsamplingHead, (3, 32, 32)),
}
"""kind → (module class, input shape C, H, W), as tests/torch_patterns.py's PATTERNS."""


def cnn_pattern(kind: str = "mixed_kernel", **kwargs) -> nn.Module:
    """The pattern's module, seeded, in eval mode, its batch norms given trained-looking statistics."""
    from torch_named import trained_batchnorm

    torch.manual_seed(0)
    return trained_batchnorm(CNN_PATTERNS[kind][0](**kwargs).eval())


def uneven_pyramid() -> nn.Module:
    """PSPNet's pyramid pooling with bins of 1, 2, 3 and 6 over an 8×10 map (input 3×16×20): 3 and 6 divide neither
    side, so only torch.export's exporter can export it (as gathered windows)."""
    return cnn_pattern("pyramid_pooling", bins=(1, 2, 3, 6))


def foldable_norms(model: nn.Module, input_shape: tuple[int, ...], transposed: bool = False) -> dict[str, int]:
    """Each batch norm that reads a conv's output, by name: the parameters the exporters' folding takes off
    (2C become the conv's bias of C, or join the bias it has), as PyTorch's modules say. Not where another module
    reads that output too (a block's shortcut beside its pre-norm, CoAtNet's): the exporters keep that conv unfolded.
    1-, 2- and 3-D alike (MONAI's 3-D U-Nets fold as ResNets do); `transposed`: after a transposed conv too (torch.export's
    optimiser folds those, TorchScript's constant folding does not)."""
    convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d, *((nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d) if transposed else ()))
    norms = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
    conv_outputs: dict[int, nn.Module] = {}
    kept: list[torch.Tensor] = []  # the outputs stay alive, so no id is reused during the run
    readers: dict[int, int] = {}  # a conv output's id → how many leaf modules (or norms) read it
    after: dict[str, tuple[int, int]] = {}  # a norm after a conv → (its input's id, what folding takes off)
    names = {id(m): name for name, m in model.named_modules()}

    def after_conv(conv, _, output):
        kept.append(output)
        conv_outputs[id(output)] = conv

    def read(module, inputs):
        for x in inputs:
            if isinstance(x, torch.Tensor) and id(x) in conv_outputs:  # (other tensors' ids are reused once they are freed)
                readers[id(x)] = readers.get(id(x), 0) + 1
        conv = conv_outputs.get(id(inputs[0])) if isinstance(module, norms) and inputs else None
        if conv is not None:
            after[names[id(module)]] = (id(inputs[0]), module.num_features * (2 if conv.bias is not None else 1))

    handles = [m.register_forward_hook(after_conv) for m in model.modules() if isinstance(m, convs)]
    handles += [m.register_forward_pre_hook(read) for m in model.modules() if isinstance(m, norms) or not list(m.children())]
    with torch.no_grad():
        model(torch.zeros(1, *input_shape))
    for handle in handles:
        handle.remove()
    return {name: count for name, (tensor, count) in after.items() if readers[tensor] == 1}
