"""Torch references for the rest of the zoo's torchvision models, written here from the papers and
torchvision's documented structure (module names as its state_dict lists them, tests/reference/):
ConvNeXt-T (arXiv 2201.03545; LayerNorm eps 1e-6, layer scale), RegNetY-800MF (arXiv 2003.13678:
widths 64, 144, 320, 784, depths 1, 3, 8, 2, group width 16, SE ratio 0.25 of the block input),
the video ResNets R3D-18 and R(2+1)D-18 (arXiv 1711.11248), and ResNet-50 with a feature pyramid
(arXiv 1612.03144: 1×1 laterals, nearest top-down, 3×3 outputs, a max-pooled extra level).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F
from torch_vision_resnets import Backbone, resnet50


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels at every position of an N×C×H×W tensor."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class Permute(nn.Module):
    def __init__(self, order):
        super().__init__()
        self.order = order

    def forward(self, x):
        return x.permute(*self.order)


class CNBlock(nn.Module):
    """7×7 depthwise conv, LayerNorm, 4× linear, GELU, linear back (channels last), scaled per channel, added."""

    def __init__(self, dim):
        super().__init__()
        self.layer_scale = nn.Parameter(torch.full((dim, 1, 1), 1e-6))
        self.block = nn.Sequential(nn.Conv2d(dim, dim, 7, padding=3, groups=dim), Permute((0, 2, 3, 1)), nn.LayerNorm(dim, eps=1e-6),
                                   nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), Permute((0, 3, 1, 2)))

    def forward(self, x):
        return x + self.layer_scale * self.block(x)


def convnext_tiny(classes=1000):
    dims, depths = (96, 192, 384, 768), (3, 3, 9, 3)
    layers = [nn.Sequential(nn.Conv2d(3, 96, 4, 4), LayerNorm2d(96, eps=1e-6))]
    for i, (dim, depth) in enumerate(zip(dims, depths)):
        layers.append(nn.Sequential(*[CNBlock(dim) for _ in range(depth)]))
        if i < 3:
            layers.append(nn.Sequential(LayerNorm2d(dim, eps=1e-6), nn.Conv2d(dim, dims[i + 1], 2, 2)))
    model = nn.Module()
    model.features = nn.Sequential(*layers)
    model.avgpool = nn.AdaptiveAvgPool2d(1)
    model.classifier = nn.Sequential(LayerNorm2d(768, eps=1e-6), nn.Flatten(1), nn.Linear(768, classes))
    model.forward = lambda x: model.classifier(model.avgpool(model.features(x)))
    return model


def cna(c_in, c_out, k=1, s=1, groups=1, act=True):
    layers = [nn.Conv2d(c_in, c_out, k, s, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, *([nn.ReLU()] if act else []))


class SE(nn.Module):
    def __init__(self, channels, squeeze):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.activation, self.fc2, self.scale_activation = nn.Conv2d(channels, squeeze, 1), nn.ReLU(), nn.Conv2d(squeeze, channels, 1), nn.Sigmoid()

    def forward(self, x):
        return x * self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))


class RegNetBlock(nn.Module):
    """a: 1×1, b: 3×3 grouped (group width 16) with the stride, se, c: 1×1 without activation; a projection where the shape changes."""

    def __init__(self, w_in, w_out, s):
        super().__init__()
        self.proj = cna(w_in, w_out, 1, s, act=False) if w_in != w_out or s != 1 else None
        self.f = nn.Sequential(OrderedDict(a=cna(w_in, w_out), b=cna(w_out, w_out, 3, s, w_out // 16),
                                           se=SE(w_out, round(0.25 * w_in)), c=cna(w_out, w_out, act=False)))
        self.activation = nn.ReLU()

    def forward(self, x):
        return self.activation((x if self.proj is None else self.proj(x)) + self.f(x))


def regnet_y_800mf(classes=1000):
    model = nn.Module()
    model.stem = cna(3, 32, 3, 2)
    stages, w = OrderedDict(), 32
    for i, (width, depth) in enumerate(zip((64, 144, 320, 784), (1, 3, 8, 2)), start=1):
        stages[f"block{i}"] = nn.Sequential(OrderedDict((f"block{i}-{j}", RegNetBlock(w if j == 0 else width, width, 2 if j == 0 else 1)) for j in range(depth)))
        w = width
    model.trunk_output = nn.Sequential(stages)
    model.avgpool = nn.AdaptiveAvgPool2d(1)
    model.fc = nn.Linear(784, classes)
    model.forward = lambda x: model.fc(torch.flatten(model.avgpool(model.trunk_output(model.stem(x))), 1))
    return model


def conv3d_simple(c_in, c_out, mid, s=1):
    return nn.Conv3d(c_in, c_out, 3, s, 1, bias=False)


def conv2plus1d(c_in, c_out, mid, s=1):
    """A 1×3×3 spatial conv to `mid` channels, BN, ReLU, a 3×1×1 temporal conv."""
    return nn.Sequential(nn.Conv3d(c_in, mid, (1, 3, 3), (1, s, s), (0, 1, 1), bias=False), nn.BatchNorm3d(mid), nn.ReLU(),
                         nn.Conv3d(mid, c_out, (3, 1, 1), (s, 1, 1), (1, 0, 0), bias=False))


class VideoBlock(nn.Module):
    def __init__(self, conv, c_in, planes, s):
        super().__init__()
        mid = (c_in * planes * 27) // (c_in * 9 + 3 * planes)  # both (2+1)D convs: a 3×3×3 conv's parameters, for the block's input
        self.conv1 = nn.Sequential(conv(c_in, planes, mid, s), nn.BatchNorm3d(planes), nn.ReLU())
        self.conv2 = nn.Sequential(conv(planes, planes, mid), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU()
        self.downsample = nn.Sequential(nn.Conv3d(c_in, planes, 1, s, bias=False), nn.BatchNorm3d(planes)) if s != 1 or c_in != planes else None

    def forward(self, x):
        return self.relu(self.conv2(self.conv1(x)) + (x if self.downsample is None else self.downsample(x)))


def video_resnet(conv, stem, classes=400):
    model = nn.Module()
    model.stem = stem
    c = 64
    for i in range(4):
        planes, s = 64 * 2 ** i, 1 if i == 0 else 2
        setattr(model, f"layer{i + 1}", nn.Sequential(VideoBlock(conv, c, planes, s), VideoBlock(conv, planes, planes, 1)))
        c = planes
    model.avgpool = nn.AdaptiveAvgPool3d(1)
    model.fc = nn.Linear(512, classes)

    def forward(x):
        x = model.layer4(model.layer3(model.layer2(model.layer1(model.stem(x)))))
        return model.fc(torch.flatten(model.avgpool(x), 1))
    model.forward = forward
    return model


def r3d_18():
    return video_resnet(conv3d_simple, nn.Sequential(nn.Conv3d(3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False), nn.BatchNorm3d(64), nn.ReLU()))


def r2plus1d_18():
    stem = nn.Sequential(nn.Conv3d(3, 45, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False), nn.BatchNorm3d(45), nn.ReLU(),
                         nn.Conv3d(45, 64, (3, 1, 1), (1, 1, 1), (1, 0, 0), bias=False), nn.BatchNorm3d(64), nn.ReLU())
    return video_resnet(conv2plus1d, stem)


class ResNetFPN(nn.Module):
    """ResNet-50's four stages (body), 1×1 laterals to 256 and 3×3 outputs (fpn), the coarser level
    upsampled (nearest) onto each lateral and added; '0'…'3' and 'pool' (a 1×1 max pool, stride 2, of '3')."""

    def __init__(self, channels=256):
        super().__init__()
        self.body = Backbone(resnet50())
        self.fpn = nn.Module()
        self.fpn.inner_blocks = nn.ModuleList([nn.Sequential(nn.Conv2d(c, channels, 1)) for c in (256, 512, 1024, 2048)])
        self.fpn.layer_blocks = nn.ModuleList([nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1)) for _ in range(4)])

    def forward(self, x):
        body, levels = self.body, []
        x = body.maxpool(body.relu(body.bn1(body.conv1(x))))
        for stage in (body.layer1, body.layer2, body.layer3, body.layer4):
            x = stage(x)
            levels.append(x)
        inner = self.fpn.inner_blocks[3](levels[3])
        results = [self.fpn.layer_blocks[3](inner)]
        for i in (2, 1, 0):
            lateral = self.fpn.inner_blocks[i](levels[i])
            inner = lateral + F.interpolate(inner, size=lateral.shape[-2:], mode="nearest")
            results.insert(0, self.fpn.layer_blocks[i](inner))
        out = OrderedDict((str(i), r) for i, r in enumerate(results))
        out["pool"] = F.max_pool2d(results[-1], 1, 2, 0)
        return out


def resnet50_fpn():
    return ResNetFPN()


# ---- S3D (arXiv 1712.04851): Inception 3-D with every 3×3×3 conv split into 1×3×3 then 3×1×1 ----------

def cna3d(c_in, c_out, k=(1, 1, 1), s=(1, 1, 1), p=(0, 0, 0)):
    """Conv3d (no bias), BatchNorm3d with S3D's eps 1e-3 and momentum 1e-3, ReLU."""
    return nn.Sequential(nn.Conv3d(c_in, c_out, k, s, p, bias=False), nn.BatchNorm3d(c_out, eps=1e-3, momentum=1e-3), nn.ReLU())


def separable3d(c_in, c_out, k, s, p):
    return nn.Sequential(cna3d(c_in, c_out, (1, k, k), (1, s, s), (0, p, p)), cna3d(c_out, c_out, (k, 1, 1), (s, 1, 1), (p, 0, 0)))


class SepInception(nn.Module):
    """Four branches concatenated: 1×1; 1×1 then separable 3×3×3; the same narrower; 3×3×3 max pool then 1×1."""

    def __init__(self, c_in, b0, b1_mid, b1, b2_mid, b2, b3):
        super().__init__()
        self.branch0 = cna3d(c_in, b0)
        self.branch1 = nn.Sequential(cna3d(c_in, b1_mid), separable3d(b1_mid, b1, 3, 1, 1))
        self.branch2 = nn.Sequential(cna3d(c_in, b2_mid), separable3d(b2_mid, b2, 3, 1, 1))
        self.branch3 = nn.Sequential(nn.MaxPool3d(3, 1, 1), cna3d(c_in, b3))

    def forward(self, x):
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], 1)


class S3D(nn.Module):
    def __init__(self, classes=400):
        super().__init__()
        pool = nn.MaxPool3d
        self.features = nn.Sequential(
            separable3d(3, 64, 7, 2, 3), pool((1, 3, 3), (1, 2, 2), (0, 1, 1)), cna3d(64, 64),
            separable3d(64, 192, 3, 1, 1), pool((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            SepInception(192, 64, 96, 128, 16, 32, 32), SepInception(256, 128, 128, 192, 32, 96, 64),
            pool(3, 2, 1),
            SepInception(480, 192, 96, 208, 16, 48, 64), SepInception(512, 160, 112, 224, 24, 64, 64),
            SepInception(512, 128, 128, 256, 24, 64, 64), SepInception(512, 112, 144, 288, 32, 64, 64),
            SepInception(528, 256, 160, 320, 32, 128, 128),
            pool(2, 2, 0),
            SepInception(832, 256, 160, 320, 32, 128, 128), SepInception(832, 384, 192, 384, 48, 128, 128))
        self.avgpool = nn.AvgPool3d((2, 7, 7), 1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Conv3d(1024, classes, 1))

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x))).mean((2, 3, 4))


def s3d():
    return S3D()
