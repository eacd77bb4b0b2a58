"""A YOLO-style one-stage detector in torch, written here from the architecture's description
(CSP backbone of C2f stages, SPPF, a PAN neck, a decoupled anchor-free head with distribution focal
loss (DFL) box regression, and the box decoding), to be the reference for the zoo's `yolo_c2f`.

Every convolution but the head's last ones is Conv2d (no bias) → BatchNorm2d (eps 1e-3,
momentum 0.03) → SiLU, held as `conv`, `bn`, `act`. The published summary of the n scale
(depth 1/3, width 1/4) at 640×640 is 3,157,200 parameters, of which 3,157,184 take gradients: the
DFL's fixed 1×1 conv holds the other 16.
"""

from __future__ import annotations

import torch
from torch import nn

from torch_layers import FrozenBatchNorm2d  # torchvision.ops' description, written once for the tests


class ConvBnAct(nn.Module):
    def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c: int, shortcut: bool):
        super().__init__()
        self.cv1 = ConvBnAct(c, c, 3)
        self.cv2 = ConvBnAct(c, c, 3)
        self.shortcut = shortcut

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.shortcut else y


class C2f(nn.Module):
    """Split a 1×1 conv's output in two halves, run n bottlenecks on the second, concatenate all."""

    def __init__(self, c_in: int, c_out: int, n: int, shortcut: bool):
        super().__init__()
        self.c = c_out // 2
        self.cv1 = ConvBnAct(c_in, 2 * self.c)
        self.cv2 = ConvBnAct((2 + n) * self.c, c_out)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x):
        parts = list(self.cv1(x).chunk(2, 1))
        for block in self.m:
            parts.append(block(parts[-1]))
        return self.cv2(torch.cat(parts, 1))


class SPPF(nn.Module):
    """One 5×5 max pool applied three times in a row; the four tensors concatenated."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        hidden = c_in // 2
        self.cv1 = ConvBnAct(c_in, hidden)
        self.cv2 = ConvBnAct(4 * hidden, c_out)
        self.m = nn.MaxPool2d(5, 1, 2)

    def forward(self, x):
        parts = [self.cv1(x)]
        for _ in range(3):
            parts.append(self.m(parts[-1]))
        return self.cv2(torch.cat(parts, 1))


class DFL(nn.Module):
    """The expected distance under a softmax over `bins` bins: a fixed 1×1 conv with weights 0…bins-1."""

    def __init__(self, bins: int = 16):
        super().__init__()
        self.bins = bins
        self.conv = nn.Conv2d(bins, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(bins, dtype=torch.float).view(1, bins, 1, 1)

    def forward(self, x):
        n, _, anchors = x.shape
        return self.conv(x.view(n, 4, self.bins, anchors).transpose(2, 1).softmax(1)).view(n, 4, anchors)


class Detect(nn.Module):
    def __init__(self, classes: int, channels: tuple[int, ...], strides: tuple[int, ...], bins: int = 16):
        super().__init__()
        self.classes, self.bins, self.strides = classes, bins, strides
        box = max(16, channels[0] // 4, 4 * bins)
        cls = max(channels[0], min(classes, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(ConvBnAct(c, box, 3), ConvBnAct(box, box, 3), nn.Conv2d(box, 4 * bins, 1)) for c in channels)
        self.cv3 = nn.ModuleList(nn.Sequential(ConvBnAct(c, cls, 3), ConvBnAct(cls, cls, 3), nn.Conv2d(cls, classes, 1)) for c in channels)
        self.dfl = DFL(bins)

    def forward(self, features):
        n = features[0].shape[0]
        levels = [torch.cat((box(f), cls(f)), 1).view(n, 4 * self.bins + self.classes, -1) for f, box, cls in zip(features, self.cv2, self.cv3)]
        box, cls = torch.cat(levels, 2).split((4 * self.bins, self.classes), 1)
        points, strides = anchor_grid(features, self.strides)
        left_top, right_bottom = self.dfl(box).chunk(2, 1)
        top_left, bottom_right = points - left_top, points + right_bottom
        boxes = torch.cat(((top_left + bottom_right) / 2, bottom_right - top_left), 1) * strides
        return torch.cat((boxes, cls.sigmoid()), 1)


def anchor_grid(features, strides):
    """The centre of every cell of every level (2×A, in cells) and each cell's stride (1×A)."""
    points, scale = [], []
    for f, stride in zip(features, strides):
        h, w = f.shape[2:]
        ys, xs = torch.meshgrid(torch.arange(h, device=f.device) + 0.5, torch.arange(w, device=f.device) + 0.5, indexing="ij")
        points.append(torch.stack((xs, ys)).view(2, -1))
        scale.append(torch.full((1, h * w), float(stride), device=f.device))
    return torch.cat(points, 1), torch.cat(scale, 1)


class YoloC2f(nn.Module):
    """`model.0` … `model.22`, as the detector's configuration numbers its layers."""

    def __init__(self, depth: float = 1 / 3, width: float = 0.25, classes: int = 80):
        super().__init__()

        def c(channels: int) -> int:
            return int(-(-channels * width // 8) * 8)  # a multiple of 8

        def n(repeats: int) -> int:
            return max(round(repeats * depth), 1)

        layers = [
            ConvBnAct(3, c(64), 3, 2),
            ConvBnAct(c(64), c(128), 3, 2),
            C2f(c(128), c(128), n(3), True),
            ConvBnAct(c(128), c(256), 3, 2),
            C2f(c(256), c(256), n(6), True),
            ConvBnAct(c(256), c(512), 3, 2),
            C2f(c(512), c(512), n(6), True),
            ConvBnAct(c(512), c(1024), 3, 2),
            C2f(c(1024), c(1024), n(3), True),
            SPPF(c(1024), c(1024)),
            nn.Upsample(scale_factor=2, mode="nearest"),
            Concat(),
            C2f(c(1024) + c(512), c(512), n(3), False),
            nn.Upsample(scale_factor=2, mode="nearest"),
            Concat(),
            C2f(c(512) + c(256), c(256), n(3), False),
            ConvBnAct(c(256), c(256), 3, 2),
            Concat(),
            C2f(c(256) + c(512), c(512), n(3), False),
            ConvBnAct(c(512), c(512), 3, 2),
            Concat(),
            C2f(c(512) + c(1024), c(1024), n(3), False),
            Detect(classes, (c(256), c(512), c(1024)), (8, 16, 32)),
        ]
        self.model = nn.ModuleList(layers)

    # which earlier layers each concat reads beside the previous one, and what the head reads
    CONCAT_WITH = {11: 6, 14: 4, 17: 12, 20: 9}
    HEAD_READS = (15, 18, 21)

    def forward(self, x):
        outputs = []
        for i, layer in enumerate(self.model):
            if i in self.CONCAT_WITH:
                x = layer([x, outputs[self.CONCAT_WITH[i]]])
            elif i == len(self.model) - 1:
                x = layer([outputs[j] for j in self.HEAD_READS])
            else:
                x = layer(x)
            outputs.append(x)
        return x


class Concat(nn.Module):
    def forward(self, tensors):
        return torch.cat(tensors, 1)


# ---- RetinaNet (Lin et al. 2017, arXiv 1708.02002) ----------------------------------------------


class RetinaHead(nn.Module):
    """Four 3×3 conv + ReLU, then a 3×3 conv to `anchors × outputs`; one head applied to every level."""

    def __init__(self, channels: int, anchors: int, outputs: int, last: str):
        super().__init__()
        self.outputs = outputs
        self.conv = nn.Sequential(*(nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), nn.ReLU()) for _ in range(4)))
        setattr(self, last, nn.Conv2d(channels, anchors * outputs, 3, 1, 1))
        self.last = last

    def forward(self, levels):
        per_level = []
        for x in levels:
            y = getattr(self, self.last)(self.conv(x))
            n, _, h, w = y.shape
            per_level.append(y.view(n, -1, self.outputs, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, self.outputs))
        return torch.cat(per_level, 1)


class Retina(nn.Module):
    """RetinaNet with a ResNet-50 FPN over C3–C5 plus P6 and P7 (convs on P5), as torchvision's
    `retinanet_resnet50_fpn`: its backbone's batch norms frozen, 9 anchors and 91 classes."""

    def __init__(self, classes: int = 91, anchors: int = 9, channels: int = 256):
        super().__init__()
        from reference_resnet import model

        resnet = model("resnet50")
        _freeze_batchnorm(resnet)
        del resnet.avgpool, resnet.fc
        self.backbone = nn.Module()
        self.backbone.body = resnet
        fpn = nn.Module()
        fpn.inner_blocks = nn.ModuleList(nn.Sequential(nn.Conv2d(c, channels, 1)) for c in (512, 1024, 2048))
        fpn.layer_blocks = nn.ModuleList(nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1)) for _ in range(3))
        fpn.extra_blocks = nn.Module()
        fpn.extra_blocks.p6 = nn.Conv2d(channels, channels, 3, 2, 1)
        fpn.extra_blocks.p7 = nn.Conv2d(channels, channels, 3, 2, 1)
        self.backbone.fpn = fpn
        self.head = nn.Module()
        self.head.classification_head = RetinaHead(channels, anchors, classes, "cls_logits")
        self.head.regression_head = RetinaHead(channels, anchors, 4, "bbox_reg")

    def forward(self, x):
        body, fpn = self.backbone.body, self.backbone.fpn
        x = body.maxpool(body.relu(body.bn1(body.conv1(x))))
        c2 = body.layer1(x)
        c3 = body.layer2(c2)
        c4 = body.layer3(c3)
        c5 = body.layer4(c4)
        laterals = [inner(c) for inner, c in zip(fpn.inner_blocks, (c3, c4, c5))]
        top_down = [laterals[2]]
        for lateral in reversed(laterals[:2]):
            top_down.insert(0, lateral + nn.functional.interpolate(top_down[0], size=lateral.shape[-2:], mode="nearest"))
        levels = [block(t) for block, t in zip(fpn.layer_blocks, top_down)]
        p6 = fpn.extra_blocks.p6(levels[-1])
        levels += [p6, fpn.extra_blocks.p7(torch.relu(p6))]
        return self.head.classification_head(levels), self.head.regression_head(levels)


def _freeze_batchnorm(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, FrozenBatchNorm2d(child.num_features))
        else:
            _freeze_batchnorm(child)
