"""Small detection heads in torch, written here from the architectures' descriptions, to test how the
importer reads what PyTorch's exporters make of their decoding.

`AnchorFreeHead`: two pyramid levels from a tiny backbone; per level one 1×1 conv to 4·bins box
logits and the class logits; the levels flattened and joined; the distribution focal loss's
expected distance (softmax over the bins, a fixed 1×1 conv with weights 0…bins−1); the anchor
points (each cell's centre, built at run time from the feature maps' sizes, as YOLOv8 does) and
strides; distances → boxes; the class sigmoid concatenated.
"""

from __future__ import annotations

import torch
from torch import nn


def anchor_points(features: list[torch.Tensor], strides: tuple[int, ...], offset: float = 0.5,
                  pairs_last: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Each cell's centre (2×A, in cells, level after level, rows first) and its level's stride (1×A).

    `pairs_last`: built as one (x, y) pair per cell (A×2, the levels joined along the cells) and transposed
    at the end, as YOLOv8's anchor generator lays them out."""
    points, scales = [], []
    for f, stride in zip(features, strides):
        h, w = f.shape[2:]
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32) + offset, torch.arange(w, dtype=torch.float32) + offset, indexing="ij")
        if pairs_last:
            points.append(torch.stack((xs, ys), -1).view(-1, 2))
            scales.append(torch.full((h * w, 1), float(stride)))
        else:
            points.append(torch.stack((xs, ys)).view(2, -1))
            scales.append(torch.full((1, h * w), float(stride)))
    if pairs_last:
        return torch.cat(points, 0).transpose(0, 1), torch.cat(scales, 0).transpose(0, 1)
    return torch.cat(points, 1), torch.cat(scales, 1)


def distances_to_boxes(distances: torch.Tensor, points: torch.Tensor, scales: torch.Tensor, xywh: bool) -> torch.Tensor:
    left_top, right_bottom = distances.chunk(2, 1)
    top_left, bottom_right = points - left_top, points + right_bottom
    if xywh:
        return torch.cat(((top_left + bottom_right) / 2, bottom_right - top_left), 1) * scales
    return torch.cat((top_left, bottom_right), 1) * scales


class AnchorFreeHead(nn.Module):
    def __init__(self, classes: int = 3, bins: int = 4, xywh: bool = True, offset: float = 0.5, pairs_last: bool = False):
        super().__init__()
        self.classes, self.bins, self.xywh, self.offset, self.pairs_last = classes, bins, xywh, offset, pairs_last
        self.strides = (4, 8)
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 4, 1), nn.ReLU())
        self.down = nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU())
        self.box = nn.ModuleList(nn.Conv2d(c, 4 * bins, 1) for c in (8, 16))
        self.cls = nn.ModuleList(nn.Conv2d(c, classes, 1) for c in (8, 16))
        self.dfl = nn.Conv2d(bins, 1, 1, bias=False).requires_grad_(False)
        self.dfl.weight.data[:] = torch.arange(bins, dtype=torch.float32).view(1, bins, 1, 1)

    def distances(self, logits: torch.Tensor) -> torch.Tensor:
        n, _, cells = logits.shape
        return self.dfl(logits.view(n, 4, self.bins, cells).transpose(2, 1).softmax(1)).view(n, 4, cells)

    def forward(self, x):
        small = self.stem(x)
        return self.decoded([small, self.down(small)])

    def decoded(self, features: list[torch.Tensor]) -> torch.Tensor:
        n = features[0].shape[0]
        levels = [torch.cat((box(f), cls(f)), 1).view(n, 4 * self.bins + self.classes, -1) for f, box, cls in zip(features, self.box, self.cls)]
        box, cls = torch.cat(levels, 2).split((4 * self.bins, self.classes), 1)
        points, scales = anchor_points(features, self.strides, self.offset, self.pairs_last)
        return torch.cat((distances_to_boxes(self.distances(box), points, scales, self.xywh), cls.sigmoid()), 1)


class SpaceToDepth(nn.Module):
    """Each block×block patch's pixels moved to channels (TResNet's stem, YOLOv5's Focus as a view):
    a reshape to rank 6, a transpose, a reshape back."""

    def __init__(self, block: int = 4):
        super().__init__()
        self.block = block

    def forward(self, x):
        n, c, h, w = x.shape
        b = self.block
        x = x.view(n, c, h // b, b, w // b, b).permute(0, 3, 5, 1, 2, 4).contiguous()
        return x.view(n, c * b * b, h // b, w // b)


class SpaceToDepthStem(nn.Module):
    def __init__(self):
        super().__init__()
        self.s2d = SpaceToDepth(4)
        self.conv = nn.Conv2d(48, 8, 3, 1, 1)

    def forward(self, x):
        return self.conv(self.s2d(x))


class AnchorBasedHead(nn.Module):
    """YOLOv5's head: per level a 1×1 conv to anchors × (classes + 5), viewed as (N, A, C+5, H, W) and
    permuted to (N, A, H, W, C+5); a sigmoid, split along the last axis into (x, y), (w, h) and scores;
    (x, y) · 2 + the cell grid − ½, times the stride; (w, h) · 2 squared times each anchor's size;
    joined again and flattened to (N, A·H·W, C+5), the levels concatenated. `squared`: how (w, h)·2 is
    squared, `pow` (x ** 2, as YOLOv5 writes it) or `product` (x · x). `persistent`: the anchors a buffer of the
    state dict, as YOLOv5 registers them (the exporters then write an initializer named `anchors`)."""

    def __init__(self, classes: int = 3, squared: str = "product", persistent: bool = False):
        super().__init__()
        self.classes, self.outputs, self.squared = classes, classes + 5, squared
        self.strides = (4, 8)
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 4, 1), nn.ReLU())
        self.down = nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU())
        self.register_buffer("anchors", torch.tensor([[[1.0, 2.0], [2.0, 1.0], [2.0, 2.0]], [[3.0, 4.0], [4.0, 3.0], [4.0, 4.0]]]), persistent=persistent)
        self.m = nn.ModuleList(nn.Conv2d(c, 3 * self.outputs, 1) for c in (8, 16))

    def forward(self, x):
        small = self.stem(x)
        per_level = []
        for i, f in enumerate((small, self.down(small))):
            y = self.m[i](f)
            n, _, h, w = y.shape
            y = y.view(n, 3, self.outputs, h, w).permute(0, 1, 3, 4, 2).contiguous()
            ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
            grid = torch.stack((xs, ys), 2).expand(1, 3, h, w, 2) - 0.5
            anchor_grid = (self.anchors[i] * self.strides[i]).view(1, 3, 1, 1, 2).expand(1, 3, h, w, 2)
            xy, wh, scores = y.sigmoid().split((2, 2, self.classes + 1), 4)
            xy = (xy * 2 + grid) * self.strides[i]
            wh = ((wh * 2) ** 2 if self.squared == "pow" else (wh * 2) * (wh * 2)) * anchor_grid
            per_level.append(torch.cat((xy, wh, scores), 4).view(n, 3 * h * w, self.outputs))
        return torch.cat(per_level, 1)


class KeypointHead(nn.Module):
    """A YOLOv8-pose style keypoint decoding: per cell `keypoints` × (x, y, visibility) from a 1×1 conv,
    viewed as (N, K, 3, A); (x, y) · 2 + the cell's corner, times the stride; visibility through a sigmoid."""

    def __init__(self, keypoints: int = 5):
        super().__init__()
        self.keypoints = keypoints
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 4, 1), nn.ReLU())
        self.kpt = nn.Conv2d(8, keypoints * 3, 1)

    def forward(self, x):
        f = self.stem(x)
        y = self.kpt(f).flatten(2)
        n, _, cells = y.shape
        points, _ = anchor_points([f], (4,))
        y = y.view(n, self.keypoints, 3, cells)
        xy = (y[:, :, :2] * 2.0 + (points - 0.5)) * 4.0
        return torch.cat((xy, y[:, :, 2:3].sigmoid()), 2).view(n, self.keypoints * 3, cells)


class PoseHead(AnchorFreeHead):
    """`AnchorFreeHead` with anchors as pairs (YOLOv8's layout) and a keypoint branch per level that decodes with the
    same anchors and strides: (x, y) · 2 + (the cell's centre − 0.5), times the stride; visibility through a sigmoid."""

    def __init__(self, keypoints: int = 3):
        super().__init__(pairs_last=True)
        self.keypoints = keypoints
        self.kpt = nn.ModuleList(nn.Conv2d(c, keypoints * 3, 1) for c in (8, 16))

    def forward(self, x):
        small = self.stem(x)
        features = [small, self.down(small)]
        n = x.shape[0]
        boxes = self.decoded(features)
        points, scales = anchor_points(features, self.strides, self.offset, pairs_last=True)
        y = torch.cat([kpt(f).view(n, self.keypoints * 3, -1) for f, kpt in zip(features, self.kpt)], 2)
        y = y.view(n, self.keypoints, 3, -1)
        xy = (y[:, :, :2] * 2.0 + (points - 0.5)) * scales
        keypoints = torch.cat((xy, y[:, :, 2:3].sigmoid()), 2).view(n, self.keypoints * 3, -1)
        return torch.cat((boxes, keypoints), 1)


class Focus(nn.Module):
    """YOLOv5's first stem: the four pixels of each 2×2 patch as four images of half the size
    (strided slices), concatenated along the channels, then a 3×3 conv."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(12, 8, 3, 1, 1)

    def forward(self, x):
        return self.conv(torch.cat((x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]), 1))


class InPlaceKeypointHead(KeypointHead):
    """The same decoding written in place on strided channels (`y[:, 0::3] = ...`), as a pose head does
    outside its export mode: TorchScript writes the assignments as ScatterND."""

    def forward(self, x):
        f = self.stem(x)
        y = self.kpt(f).flatten(2).clone()
        points, _ = anchor_points([f], (4,))
        y[:, 2::3] = y[:, 2::3].sigmoid()
        y[:, 0::3] = (y[:, 0::3] * 2.0 + (points[0] - 0.5)) * 4.0
        y[:, 1::3] = (y[:, 1::3] * 2.0 + (points[1] - 0.5)) * 4.0
        return y


class Scale(nn.Module):
    """FCOS's learnable scalar per pyramid level, multiplying that level's box regression (one parameter)."""

    def __init__(self, value: float = 1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([value]))

    def forward(self, x):
        return x * self.scale


def tower(channels: int, depth: int, groups: int | None) -> nn.Sequential:
    """`depth` 3×3 convs, each followed by a GroupNorm of `groups` groups (none where None) and a ReLU."""
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers.append(nn.Conv2d(channels, channels, 3, 1, 1))
        if groups is not None:
            layers.append(nn.GroupNorm(groups, channels))
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class DenseHead(nn.Module):
    """One head shared over the levels of a feature pyramid, as RetinaNet (arXiv 1708.02002, Fig. 3) and FCOS
    (arXiv 1904.01355, Fig. 2) describe it: a classification and a box tower of 3×3 convs (GroupNorm in FCOS),
    the class logits (anchors × classes) and box outputs (anchors × 4) by a 3×3 conv each; FCOS adds a
    centerness conv on the box tower and a learnable `Scale` per level on the box output, then exp.
    Each level's outputs become (N, H·W·A, K) rows as RetinaNet concatenates them, the levels joined.

    The pyramid is a tiny backbone's three stages and two more stride-2 convs (P6, P7): five levels."""

    def __init__(self, fcos: bool = True, classes: int = 3, channels: int = 16):
        super().__init__()
        self.fcos, self.classes = fcos, classes
        self.anchors = 1 if fcos else 3
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, 2, 1), nn.ReLU())
        self.levels = nn.ModuleList(nn.Conv2d(channels, channels, 3, 2, 1) for _ in range(5))
        groups = 4 if fcos else None
        self.cls_tower, self.box_tower = tower(channels, 2, groups), tower(channels, 2, groups)
        self.cls_logits = nn.Conv2d(channels, self.anchors * classes, 3, 1, 1)
        self.box_pred = nn.Conv2d(channels, self.anchors * 4, 3, 1, 1)
        self.centerness = nn.Conv2d(channels, 1, 3, 1, 1) if fcos else None
        self.scales = nn.ModuleList(Scale() for _ in range(5)) if fcos else None

    def rows(self, y: torch.Tensor, width: int) -> torch.Tensor:
        n, _, h, w = y.shape
        return y.view(n, self.anchors, width, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, width)

    def forward(self, x):
        f = self.stem(x)
        features = []
        for level in self.levels:
            f = level(f)
            features.append(f)
        outputs = []
        for k, f in enumerate(features):
            cls, box = self.cls_tower(f), self.box_tower(f)
            logits, regression = self.cls_logits(cls), self.box_pred(box)
            parts = [self.rows(logits, self.classes)]
            if self.fcos:
                parts += [self.rows(self.scales[k](regression).exp(), 4), self.rows(self.centerness(box), 1)]
            else:
                parts.append(self.rows(regression, 4))
            outputs.append(torch.cat(parts, 2))
        return torch.cat(outputs, 1)


def dense_head(kind: str = "fcos", trained: bool = True) -> DenseHead:
    """A `DenseHead` (`kind`: fcos or retinanet), its parameters perturbed as training leaves them (seeded) where
    `trained`: untrained, every GroupNorm's scale is ones and every `Scale` 1.0, which the exporters merge into one
    initializer shared by all the modules."""
    model = DenseHead(fcos=kind == "fcos").eval()
    if trained:
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.1)
    return model


class ChannelAssignments(nn.Module):
    """Slice assignments alone, no parameters (so that groupcost's NumPy kernels must give its very output):
    every third channel of the flattened map from 2 through a sigmoid, from 0 doubled plus one, and a run of
    three channels less a half, in place."""

    def forward(self, x):
        y = x.flatten(2).clone()
        y[:, 2::3] = y[:, 2::3].sigmoid()
        y[:, 0::3] = y[:, 0::3] * 2.0 + 1.0
        y[:, 3:6] = y[:, 3:6] - 0.5
        return y

