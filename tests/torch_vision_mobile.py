"""Torch references for the zoo's mobile models, written here from the papers and torchvision's
documented structure (module names as its state_dict lists them, tests/reference/), to prove that
the exports compute what torchvision's models compute: MobileNetV2 (arXiv 1801.04381), MobileNetV3
large and small (arXiv 1905.02244, Tables 1 and 2; BatchNorm eps 1e-3, momentum 0.01),
EfficientNetV2-S (arXiv 2104.00298, Table 4; eps 1e-3), and the segmentation heads on a dilated
MobileNetV3-Large: LR-ASPP (the same paper, Fig. 10) and DeepLabV3's ASPP (arXiv 1706.05587).
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F


def divisible(value: float, divisor: int = 8) -> int:
    """The channel rounding the MobileNet papers' reference code uses: nearest multiple, never 10 % below."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class ConvNormAct(nn.Sequential):
    """conv (no bias) → BatchNorm → activation, numbered 0, 1, 2 as torchvision's Conv2dNormActivation."""

    def __init__(self, c_in, c_out, k=1, s=1, groups=1, act=nn.ReLU, d=1, norm=nn.BatchNorm2d):
        layers = [nn.Conv2d(c_in, c_out, k, s, (k - 1) // 2 * d, d, groups, bias=False), norm(c_out)]
        if act is not None:
            layers.append(act())
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    """Global average → 1×1 conv down → act → 1×1 conv up → gate, scaling the input."""

    def __init__(self, channels, squeeze, act=nn.ReLU, gate=nn.Sigmoid):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(channels, squeeze, 1), nn.Conv2d(squeeze, channels, 1)
        self.act, self.gate = act(), gate()

    def forward(self, x):
        return x * self.gate(self.fc2(self.act(self.fc1(F.adaptive_avg_pool2d(x, 1)))))


class Residual(nn.Module):
    """`block` (an nn.Sequential), plus its input where the shapes agree."""

    def __init__(self, layers, use_residual):
        super().__init__()
        self.block = nn.Sequential(*layers)
        self.use_residual = use_residual

    def forward(self, x):
        return x + self.block(x) if self.use_residual else self.block(x)


# ---- MobileNetV2 -------------------------------------------------------------------------------

class InvertedResidualV2(nn.Module):
    def __init__(self, c_in, c_out, s, t):
        super().__init__()
        hidden = c_in * t
        layers = [ConvNormAct(c_in, hidden, act=nn.ReLU6)] if t != 1 else []
        layers += [ConvNormAct(hidden, hidden, 3, s, hidden, nn.ReLU6), nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.conv = nn.Sequential(*layers)
        self.use_residual = s == 1 and c_in == c_out

    def forward(self, x):
        return x + self.conv(x) if self.use_residual else self.conv(x)


def mobilenet_v2(classes=1000):
    """The paper's Table 2: (t, c, n, s) rows; 32-channel stem, 1280-channel last conv."""
    rows = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    layers, c = [ConvNormAct(3, 32, 3, 2, act=nn.ReLU6)], 32
    for t, out, n, s in rows:
        for i in range(n):
            layers.append(InvertedResidualV2(c, out, s if i == 0 else 1, t))
            c = out
    layers.append(ConvNormAct(c, 1280, act=nn.ReLU6))
    return Classifier(nn.Sequential(*layers), nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes)), pool_name=None)


class Classifier(nn.Module):
    """features → global average → flatten → classifier, as torchvision's classification models."""

    def __init__(self, features, classifier, pool_name="avgpool"):
        super().__init__()
        self.features = features
        if pool_name:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = classifier

    def forward(self, x):
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


# ---- MobileNetV3 -------------------------------------------------------------------------------

RE, HS = nn.ReLU, nn.Hardswish
# (input, kernel, expanded, out, squeeze-excite, activation, stride): the papers' Tables 1 and 2
MNV3_LARGE = [(16, 3, 16, 16, False, RE, 1), (16, 3, 64, 24, False, RE, 2), (24, 3, 72, 24, False, RE, 1),
              (24, 5, 72, 40, True, RE, 2), (40, 5, 120, 40, True, RE, 1), (40, 5, 120, 40, True, RE, 1),
              (40, 3, 240, 80, False, HS, 2), (80, 3, 200, 80, False, HS, 1), (80, 3, 184, 80, False, HS, 1),
              (80, 3, 184, 80, False, HS, 1), (80, 3, 480, 112, True, HS, 1), (112, 3, 672, 112, True, HS, 1),
              (112, 5, 672, 160, True, HS, 2), (160, 5, 960, 160, True, HS, 1), (160, 5, 960, 160, True, HS, 1)]
MNV3_SMALL = [(16, 3, 16, 16, True, RE, 2), (16, 3, 72, 24, False, RE, 2), (24, 3, 88, 24, False, RE, 1),
              (24, 5, 96, 40, True, HS, 2), (40, 5, 240, 40, True, HS, 1), (40, 5, 240, 40, True, HS, 1),
              (40, 5, 120, 48, True, HS, 1), (48, 5, 144, 48, True, HS, 1), (48, 5, 288, 96, True, HS, 2),
              (96, 5, 576, 96, True, HS, 1), (96, 5, 576, 96, True, HS, 1)]
MNV3_BN = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)


def mnv3_block(c_in, k, expanded, c_out, se, act, s, d=1):
    """Expand (1×1, where the width changes), depthwise k×k, squeeze-excite, project (1×1, no activation)."""
    cna = partial(ConvNormAct, norm=MNV3_BN)
    layers = [cna(c_in, expanded, act=act)] if expanded != c_in else []
    layers.append(cna(expanded, expanded, k, 1 if d > 1 else s, expanded, act, d))
    if se:
        layers.append(SqueezeExcite(expanded, divisible(expanded // 4), gate=nn.Hardsigmoid))
    layers.append(cna(expanded, c_out, act=None))
    return Residual(layers, s == 1 and c_in == c_out)


def mnv3_features(rows, dilated=False):
    """The stem, the bottlenecks (the last three dilated by 2 at stride 1 where `dilated`), the 6×-wide last conv."""
    layers = [ConvNormAct(3, 16, 3, 2, act=HS, norm=MNV3_BN)]
    for i, row in enumerate(rows):
        layers.append(mnv3_block(*row, d=2 if dilated and i >= len(rows) - 3 else 1))
    layers.append(ConvNormAct(rows[-1][3], 6 * rows[-1][3], act=HS, norm=MNV3_BN))
    return nn.Sequential(*layers)


def mobilenet_v3(rows, last_channel, classes=1000):
    head = nn.Sequential(nn.Linear(6 * rows[-1][3], last_channel), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(last_channel, classes))
    return Classifier(mnv3_features(rows), head)


def mobilenet_v3_large():
    return mobilenet_v3(MNV3_LARGE, 1280)


def mobilenet_v3_small():
    return mobilenet_v3(MNV3_SMALL, 1024)


# ---- EfficientNetV2-S --------------------------------------------------------------------------

EFFNET_BN = partial(nn.BatchNorm2d, eps=1e-3)
# (fused, expand ratio, kernel, stride, in, out, layers): the paper's Table 4
EFFNETV2_S = [(True, 1, 3, 1, 24, 24, 2), (True, 4, 3, 2, 24, 48, 4), (True, 4, 3, 2, 48, 64, 4),
              (False, 4, 3, 2, 64, 128, 6), (False, 6, 3, 1, 128, 160, 9), (False, 6, 3, 2, 160, 256, 15)]


def effnet_block(fused, e, k, s, c_in, c_out):
    cna = partial(ConvNormAct, norm=EFFNET_BN, act=nn.SiLU)
    expanded = divisible(c_in * e)
    if fused:  # one k×k conv in place of the expand and depthwise convs
        layers = [cna(c_in, expanded, k, s), cna(expanded, c_out, act=None)] if expanded != c_in else [cna(c_in, c_out, k, s)]
    else:
        layers = [cna(c_in, expanded), cna(expanded, expanded, k, s, expanded),
                  SqueezeExcite(expanded, max(1, c_in // 4), act=nn.SiLU), cna(expanded, c_out, act=None)]
    return Residual(layers, s == 1 and c_in == c_out)  # stochastic depth is the identity in eval mode


def efficientnet_v2_s(classes=1000):
    layers = [ConvNormAct(3, 24, 3, 2, act=nn.SiLU, norm=EFFNET_BN)]
    for fused, e, k, s, c_in, c_out, n in EFFNETV2_S:
        layers.append(nn.Sequential(*[effnet_block(fused, e, k, s if i == 0 else 1, c_in if i == 0 else c_out, c_out) for i in range(n)]))
    layers.append(ConvNormAct(256, 1280, act=nn.SiLU, norm=EFFNET_BN))
    return Classifier(nn.Sequential(*layers), nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes)))


# ---- segmentation on a dilated MobileNetV3-Large ------------------------------------------------

class LRASPPHead(nn.Module):
    """The 1/16 features gated by their global context, upsampled onto the 1/8 features; a classifier on each, summed."""

    def __init__(self, low, high, classes, inter=128):
        super().__init__()
        self.cbr = nn.Sequential(nn.Conv2d(high, inter, 1, bias=False), nn.BatchNorm2d(inter), nn.ReLU())
        self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(high, inter, 1, bias=False), nn.Sigmoid())
        self.low_classifier, self.high_classifier = nn.Conv2d(low, classes, 1), nn.Conv2d(inter, classes, 1)

    def forward(self, low, high):
        x = self.cbr(high) * self.scale(high)
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.low_classifier(low) + self.high_classifier(x)


class ASPP(nn.Module):
    """1×1 conv, three 3×3 convs dilated 12, 24, 36, and image pooling, concatenated and projected to 256."""

    def __init__(self, c_in, rates=(12, 24, 36), out=256):
        super().__init__()
        def cbr(k, d=1):
            return [nn.Conv2d(c_in, out, k, padding=(k - 1) // 2 * d, dilation=d, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
        self.convs = nn.ModuleList([nn.Sequential(*cbr(1)), *[nn.Sequential(*cbr(3, r)) for r in rates],
                                    nn.Sequential(nn.AdaptiveAvgPool2d(1), *cbr(1))])
        self.project = nn.Sequential(nn.Conv2d(out * (len(rates) + 2), out, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU(), nn.Dropout(0.5))

    def forward(self, x):
        parts = [conv(x) for conv in self.convs]
        parts[-1] = F.interpolate(parts[-1], size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.project(torch.cat(parts, 1))


class Segmentation(nn.Module):
    """backbone (features 0…16 of a dilated MobileNetV3-Large) → head → bilinear to the input: {'out': logits}."""

    def __init__(self, head, low_index=None):
        super().__init__()
        self.backbone = nn.Sequential(*mnv3_features(MNV3_LARGE, dilated=True))
        self.classifier = head
        self.low_index = low_index  # LR-ASPP also reads the 1/8 features (the block before the second stride-2 one)

    def forward(self, x):
        size, low = x.shape[-2:], None
        for i, layer in enumerate(self.backbone):
            x = layer(x)
            if i == self.low_index:
                low = x
        x = self.classifier(low, x) if self.low_index is not None else self.classifier(x)
        return OrderedDict(out=F.interpolate(x, size=size, mode="bilinear", align_corners=False))


def lraspp_mobilenet_v3_large(classes=21):
    return Segmentation(LRASPPHead(40, 960, classes), low_index=4)


def deeplabv3_mobilenet_v3_large(classes=21):
    head = nn.Sequential(ASPP(960), nn.Conv2d(256, 256, 3, padding=1, bias=False), nn.BatchNorm2d(256), nn.ReLU(), nn.Conv2d(256, classes, 1))
    return Segmentation(head)
