"""ResNet and ResNeXt in PyTorch, written for these tests from the papers' description.

He et al. 2015, "Deep Residual Learning for Image Recognition" (arXiv 1512.03385), Table 1: a
7×7/2 stem conv with 64 filters, a 3×3/2 max pool, four stages of residual blocks at 64, 128, 256
and 512 planes (the first stage at stride 1, each later one halving H and W in its first block),
global average pooling and a fully connected layer to 1000 classes. Basic blocks are two 3×3
convs; bottleneck blocks are 1×1 (reduce), 3×3, 1×1 (expand ×4). The shortcut is the identity,
or a projection (1×1 conv with the block's stride, then batch norm) when the shape changes.
Batch norm follows every conv, convs have no bias, ReLU follows each sum.

Xie et al. 2016, "Aggregated Residual Transformations" (arXiv 1611.05431): the bottleneck's 3×3
conv is grouped with cardinality G, and its width is int(planes · width_per_group / 64) · G
(64 for ResNet-50, 128 for ResNeXt-50 32×4d, 128 for wide_resnet50_2 with G = 1,
width_per_group = 128).

As torchvision places them: the stride sits on the 3×3 conv, and modules carry its attribute
names (conv1, bn1, relu, maxpool, layer1..layer4 of numbered blocks with conv1/bn1/conv2/bn2
[/conv3/bn3] and downsample.0/.1, avgpool, fc), so state_dict keys can be checked against it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

STAGE_PLANES = (64, 128, 256, 512)


def _projection(c_in: int, c_out: int, stride: int) -> nn.Sequential | None:
    """The shortcut: None (identity) when the shape is kept, else a strided 1×1 conv and batch norm."""
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))


class BasicBlock(nn.Module):
    """Two 3×3 convs (He et al., Table 1, ResNet-18/34); the first carries the stride."""

    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int = 1, groups: int = 1, width_per_group: int = 64):
        super().__init__()
        if groups != 1 or width_per_group != 64:
            raise ValueError("basic blocks have neither groups nor a width other than 64 per group")
        self.conv1 = nn.Conv2d(c_in, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _projection(c_in, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(y + shortcut)


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3 (grouped, strided), 1×1 expand to 4 · planes (ResNet-50 and up; ResNeXt)."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int = 1, groups: int = 1, width_per_group: int = 64):
        super().__init__()
        width = int(planes * width_per_group / 64) * groups
        c_out = planes * self.expansion
        self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _projection(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(y + shortcut)


class ResNet(nn.Module):
    """Stem, four stages of `depths[i]` blocks at STAGE_PLANES[i] planes, pooling and a classifier."""

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], depths: list[int], groups: int = 1, width_per_group: int = 64, num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = 64
        for index, (planes, depth) in enumerate(zip(STAGE_PLANES, depths)):
            blocks = []
            for position in range(depth):
                stride = 2 if index > 0 and position == 0 else 1
                blocks.append(block(channels, planes, stride, groups, width_per_group))
                channels = planes * block.expansion
            setattr(self, f"layer{index + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# The models of torchvision's zoo by name: (block, depths, groups, width_per_group).
MODELS = {
    "resnet18": (BasicBlock, [2, 2, 2, 2], 1, 64),
    "resnet50": (Bottleneck, [3, 4, 6, 3], 1, 64),
    "resnext50_32x4d": (Bottleneck, [3, 4, 6, 3], 32, 4),
    "resnext101_64x4d": (Bottleneck, [3, 4, 23, 3], 64, 4),
    "wide_resnet50_2": (Bottleneck, [3, 4, 6, 3], 1, 128),
}


def model(name: str, device: str | torch.device | None = None) -> ResNet:
    """A zoo model by name; on the meta device its tensors have shapes but no storage."""
    block, depths, groups, width_per_group = MODELS[name]
    with torch.device(device or "cpu"):
        return ResNet(block, depths, groups=groups, width_per_group=width_per_group)


def meta_counts(module: nn.Module, input_shape: tuple[int, ...] = (3, 224, 224)) -> tuple[int, int]:
    """(params, MACs) of a module built on the meta device: PyTorch's count and FlopCounterMode's total / 2,
    computed from shapes alone (no weights are initialised, no arithmetic is done)."""
    module.eval()
    params = sum(p.numel() for p in module.parameters())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(torch.zeros(1, *input_shape, device="meta"))
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return params, flops // 2
