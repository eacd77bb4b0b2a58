"""Detection heads' decoding: the step after the last conv that turns per-cell outputs into boxes.

`dist2bbox` is the anchor-free decoding of YOLOv6/v8/11, RTMDet and PP-YOLOE: each cell of each
pyramid level predicts its distances (left, top, right, bottom) to a box's sides, in cells; the box
is the cell's centre minus and plus them, scaled by the level's stride. It has no parameters and
no MACs, but it is a real part of the model, with its shape and memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from groupcost.ops.adapters import OnnxGraph, Place, TorchModule
from groupcost.ops.base import Layer, LayerError, Shape, arg, boolean, format_shape, positive_int
from groupcost.ops.registry import register


def grids(value: Any) -> tuple[tuple[int, int], ...]:
    """Each level's grid, [h, w] (or one number for a square grid)."""
    if not isinstance(value, list) or not value:
        raise LayerError(f"expected a list of grids, one [h, w] per level, got {value!r}")
    levels = []
    for level in value:
        h, w = (level, level) if not isinstance(level, list) else level if len(level) == 2 else (None, None)
        if h is None:
            raise LayerError(f"expected [h, w] for a level's grid, got {level!r}")
        levels.append((positive_int(h), positive_int(w)))
    return tuple(levels)


def level_strides(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise LayerError(f"expected a list of strides, one per level, got {value!r}")
    return tuple(positive_int(s) for s in value)


@register("dist2bbox")
@dataclass(frozen=True)
class DistanceToBox(Layer):
    """4×A distances in cells (l, t, r, b) → 4×A boxes in pixels: centre ± distances, times the level's stride.

    A = Σ h·w over the levels, cells in row-major order level after level (as a head's per-level
    outputs flattened and concatenated); a cell's centre is (x + 0.5, y + 0.5).
    """

    grids: tuple[tuple[int, int], ...] = arg(grids, doc="each level's [h, w] (e.g. [[80, 80], [40, 40], [20, 20]] at 640)")
    strides: tuple[int, ...] = arg(level_strides, doc="each level's stride in pixels, e.g. [8, 16, 32]")
    xywh: bool = arg(boolean, True, "boxes as (centre x, centre y, width, height); false: (x1, y1, x2, y2)")

    def out_shape(self, x: Shape) -> Shape:
        if len(self.grids) != len(self.strides):
            raise LayerError(f"dist2bbox has {len(self.grids)} grids and {len(self.strides)} strides", "give one stride per level", arg="strides")
        cells = sum(h * w for h, w in self.grids)
        if x != (4, cells):
            raise LayerError(f"dist2bbox needs 4×{cells} distances (4 sides × the levels' {cells} cells), got {format_shape(x)}",
                             "reshape the head's box output to [4, -1] first")
        return x

    def centres_and_scales(self) -> tuple[list[float], list[float], list[float]]:
        """Each cell's centre (x, y), in cells, and its level's stride, in the cells' order."""
        xs, ys, scales = [], [], []
        for (h, w), stride in zip(self.grids, self.strides):
            for row in range(h):
                xs.extend(col + 0.5 for col in range(w))
                ys.extend([row + 0.5] * w)
            scales.extend([float(stride)] * (h * w))
        return xs, ys, scales

    def forward(self, x, weights, counter):
        import numpy as np

        xs, ys, scales = self.centres_and_scales()
        centres = np.array([xs, ys], dtype=x.dtype)[None]
        top_left, bottom_right = centres - x[:, :2], centres + x[:, 2:]
        boxes = np.concatenate(((top_left + bottom_right) / 2, bottom_right - top_left) if self.xywh else (top_left, bottom_right), axis=1)
        return boxes * np.array(scales, dtype=x.dtype)

    def torch_module(self, at: Place) -> TorchModule:
        grid_list = [list(level) for level in self.grids]
        return TorchModule(f"DistanceToBox({grid_list}, {list(self.strides)}{'' if self.xywh else ', xywh=False'})",
                           helpers=(("DistanceToBox", DISTANCE_TO_BOX),))

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        name, cells = at.name, at.in_shape[1]
        xs, ys, scales = self.centres_and_scales()
        centres = g.node("Reshape", [g.floats(f"{name}/centres.values", xs + ys), g.ints(f"{name}/centres.shape", [1, 2, cells])], f"{name}/centres")
        scale = g.node("Reshape", [g.floats(f"{name}/strides.values", scales), g.ints(f"{name}/strides.shape", [1, 1, cells])], f"{name}/strides")
        axis = g.ints(f"{name}/axis", [1])
        near = g.node("Slice", [x, g.ints(f"{name}/near.starts", [0]), g.ints(f"{name}/near.ends", [2]), axis], f"{name}/near")
        far = g.node("Slice", [x, g.ints(f"{name}/far.starts", [2]), g.ints(f"{name}/far.ends", [4]), axis], f"{name}/far")
        top_left = g.node("Sub", [centres, near], f"{name}/top_left")
        bottom_right = g.node("Add", [centres, far], f"{name}/bottom_right")
        if self.xywh:
            summed = g.node("Add", [top_left, bottom_right], f"{name}/summed")
            centre = g.node("Div", [summed, g.floats(f"{name}/two", [2.0])], f"{name}/centre")
            size = g.node("Sub", [bottom_right, top_left], f"{name}/size")
            boxes = g.node("Concat", [centre, size], f"{name}/cells", axis=1)
        else:
            boxes = g.node("Concat", [top_left, bottom_right], f"{name}/cells", axis=1)
        g.node("Mul", [boxes, scale], name)


DISTANCE_TO_BOX = '''
class DistanceToBox(nn.Module):
    """Distances (l, t, r, b) in cells from each cell's centre → boxes in pixels, level after level."""

    def __init__(self, grids, strides, xywh=True):
        super().__init__()
        centres, scales = [], []
        for (h, w), stride in zip(grids, strides):
            ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
            centres.append(torch.stack((xs, ys)).reshape(2, -1))
            scales.append(torch.full((1, h * w), float(stride)))
        self.register_buffer("centres", torch.cat(centres, 1), persistent=False)
        self.register_buffer("scales", torch.cat(scales, 1), persistent=False)
        self.xywh = xywh

    def forward(self, x):
        top_left, bottom_right = self.centres - x[:, :2], self.centres + x[:, 2:]
        if self.xywh:
            return torch.cat(((top_left + bottom_right) / 2, bottom_right - top_left), 1) * self.scales
        return torch.cat((top_left, bottom_right), 1) * self.scales
'''
