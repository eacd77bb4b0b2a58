"""Torch references for the zoo's ResNet family, AlexNet and ShuffleNet V2, written here from the
papers and torchvision's documented structure (module names as its state_dict lists them,
tests/reference/): ResNet (arXiv 1512.03385; torchvision's V1.5 puts the stride on the 3×3 conv),
ResNeXt (arXiv 1611.05431: width = planes · width_per_group / 64 · groups), Wide ResNet-50-2,
FCN (arXiv 1411.4038) on a ResNet-50 dilated in its last two stages, AlexNet (torchvision's
single-GPU form) and ShuffleNet V2 (arXiv 1807.11164, Table 5).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F


class Basic(nn.Module):
    expansion = 1

    def __init__(self, c_in, planes, s=1, downsample=None, groups=1, width_per_group=64, d=1):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c_in, planes, 3, s, 1, bias=False), nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2, self.bn2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False), nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, c_in, planes, s=1, downsample=None, groups=1, width_per_group=64, d=1):
        super().__init__()
        width = planes * width_per_group // 64 * groups
        self.conv1, self.bn1 = nn.Conv2d(c_in, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, s, d, d, groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, planes * 4, 1, bias=False), nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + identity)


class ResNet(nn.Module):
    """Stem (7×7/2 conv, BN, ReLU, 3×3/2 max pool), four stages, global average, fc; `dilate` trades a
    stage's stride for dilation (its first block keeps the previous dilation, as torchvision's)."""

    def __init__(self, block, depths, groups=1, width_per_group=64, classes=1000, dilate=(False, False, False)):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
        self.relu, self.maxpool = nn.ReLU(), nn.MaxPool2d(3, 2, 1)
        c, d = 64, 1
        for i, n in enumerate(depths):
            planes, s, previous = 64 * 2 ** i, 1 if i == 0 else 2, d
            if i > 0 and dilate[i - 1]:
                d, s = d * s, 1
            out = planes * block.expansion
            down = nn.Sequential(nn.Conv2d(c, out, 1, s, bias=False), nn.BatchNorm2d(out)) if s != 1 or c != out else None
            blocks = [block(c, planes, s, down, groups, width_per_group, previous)]
            blocks += [block(out, planes, 1, None, groups, width_per_group, d) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            c = out
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, classes)

    def features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


def resnet18():
    return ResNet(Basic, [2, 2, 2, 2])


def resnet50():
    return ResNet(Bottleneck, [3, 4, 6, 3])


def resnext50_32x4d():
    return ResNet(Bottleneck, [3, 4, 6, 3], groups=32, width_per_group=4)


def resnext101_64x4d():
    return ResNet(Bottleneck, [3, 4, 23, 3], groups=64, width_per_group=4)


def wide_resnet50_2():
    return ResNet(Bottleneck, [3, 4, 6, 3], width_per_group=128)


class Backbone(nn.Module):
    """A ResNet without its pool and fc, its modules at the top (`backbone.layer1...`)."""

    def __init__(self, resnet):
        super().__init__()
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            setattr(self, name, getattr(resnet, name))

    def forward(self, x):
        return ResNet.features(self, x)


class FCN(nn.Module):
    """A ResNet-50 dilated in layer3 and layer4 (output stride 8), FCNHead (3×3 conv to 512, BN, ReLU,
    dropout 0.1, 1×1 conv to the classes), bilinear to the input: {'out': logits}."""

    def __init__(self, classes=21):
        super().__init__()
        self.backbone = Backbone(ResNet(Bottleneck, [3, 4, 6, 3], dilate=(False, True, True)))
        self.classifier = nn.Sequential(nn.Conv2d(2048, 512, 3, padding=1, bias=False), nn.BatchNorm2d(512), nn.ReLU(),
                                        nn.Dropout(0.1), nn.Conv2d(512, classes, 1))

    def forward(self, x):
        y = self.classifier(self.backbone(x))
        return OrderedDict(out=F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False))


def fcn_resnet50():
    return FCN()


class AlexNet(nn.Module):
    """torchvision's single-GPU AlexNet: five convs (11/4, 5, 3, 3, 3) with three max pools, a 6×6
    adaptive average, three linears with dropout before the first two."""

    def __init__(self, classes=1000):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))
        self.avgpool = nn.AdaptiveAvgPool2d(6)
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(256 * 36, 4096), nn.ReLU(), nn.Dropout(0.5),
                                        nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def alexnet():
    return AlexNet()


class ShuffleUnit(nn.Module):
    """ShuffleNet V2's unit: stride 1 splits the channels in half and transforms one half; stride 2
    transforms two copies (branch1 depthwise-then-pointwise); concatenated, then shuffled in 2 groups."""

    def __init__(self, c_in, c_out, s):
        super().__init__()
        half = c_out // 2
        if s > 1:
            self.branch1 = nn.Sequential(nn.Conv2d(c_in, c_in, 3, s, 1, groups=c_in, bias=False), nn.BatchNorm2d(c_in),
                                         nn.Conv2d(c_in, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU())
        c = c_in if s > 1 else half
        self.branch2 = nn.Sequential(nn.Conv2d(c, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(),
                                     nn.Conv2d(half, half, 3, s, 1, groups=half, bias=False), nn.BatchNorm2d(half),
                                     nn.Conv2d(half, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU())
        self.s = s

    def forward(self, x):
        if self.s == 1:
            a, b = x.chunk(2, dim=1)
            y = torch.cat([a, self.branch2(b)], 1)
        else:
            y = torch.cat([self.branch1(x), self.branch2(x)], 1)
        n, c, h, w = y.shape
        return y.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)


class ShuffleNetV2(nn.Module):
    def __init__(self, stage_out, conv5_out=1024, classes=1000):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 24, 3, 2, 1, bias=False), nn.BatchNorm2d(24), nn.ReLU())
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c = 24
        for i, (out, n) in enumerate(zip(stage_out, (4, 8, 4))):
            setattr(self, f"stage{i + 2}", nn.Sequential(*[ShuffleUnit(c if k == 0 else out, out, 2 if k == 0 else 1) for k in range(n)]))
            c = out
        self.conv5 = nn.Sequential(nn.Conv2d(c, conv5_out, 1, bias=False), nn.BatchNorm2d(conv5_out), nn.ReLU())
        self.fc = nn.Linear(conv5_out, classes)

    def forward(self, x):
        x = self.stage4(self.stage3(self.stage2(self.maxpool(self.conv1(x)))))
        return self.fc(self.conv5(x).mean((2, 3)))


def shufflenet_v2_x1_0():
    return ShuffleNetV2([116, 232, 464])


def shufflenet_v2_x0_5():
    return ShuffleNetV2([48, 96, 192])
