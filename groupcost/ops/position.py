"""A fixed Fourier positional encoding projected by a learned 1×1 conv and added: x + conv1x1(P).

XCiT (arXiv 2106.09681, §3) and EdgeNeXt (arXiv 2206.10589) add to their tokens a sine/cosine
encoding of each position's normalised row and column (DETR's: `features`/2 values for the row,
then as many for the column) projected to the C channels by a 1×1 conv with a bias. P depends
on the feature map's size alone (the exporters build it at run time from the input's shape);
the conv runs on it at every position, and PyTorch counts its weights and MACs as any conv's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from groupcost.ops.adapters import OnnxGraph, Place, TorchModule
from groupcost.ops.base import Cost, Layer, LayerError, Shape, arg, boolean, format_shape, positive_int, positive_real, sizes
from groupcost.ops.registry import register

_EPS = 1e-6  # added to the last row's (column's) count before normalising, as DETR and XCiT do


def fourier_grid(features: int, temperature: float, rows: int, cols: int) -> list[float]:
    """P, features × rows × cols flat: channel k < features/2 encodes the row, the rest the column;
    an even k is sin(2π·(i + 1)/(n + eps) / temperature^(2⌊k/2⌋/half)), an odd k its cos."""
    half = features // 2
    out = []
    for axis_size, along_rows in ((rows, True), (cols, False)):
        for k in range(half):
            wave = math.sin if k % 2 == 0 else math.cos
            scale = temperature ** (2 * (k // 2) / half)
            for i in range(rows):
                for j in range(cols):
                    place = (i if along_rows else j) + 1
                    out.append(wave(place / (axis_size + _EPS) * 2 * math.pi / scale))
    return out


@register("fourier_position")
@dataclass(frozen=True)
class FourierPosition(Layer):
    """x + W·P + b: a fixed Fourier encoding P of the positions, `features` channels, projected to x's
    C channels by a learned 1×1 conv W (C × features) with a bias b, at every position."""

    features: int = arg(positive_int, 64, "the encoding's channels, a multiple of 4: half for the row and half for the column, each in sin, cos pairs (XCiT, EdgeNeXt: 64)")
    temperature: float = arg(positive_real, 10000.0, "the base of the encoding's wavelengths (10000)")
    bias: bool = arg(boolean, True, "the projection has a bias")
    grid: int | tuple[int, ...] | None = arg(sizes, None, "rows and columns of the positions where the input is tokens C × N (N = rows·cols); "
                                                          "default the input's own H × W")

    def rows_cols(self, x: Shape) -> tuple[int, int]:
        """The positions' rows and columns; LayerError where the input is not C×H×W or C×N of the grid."""
        if self.features % 4:
            raise LayerError(f"fourier_position encodes rows and columns in equal halves of sin, cos pairs: features {self.features} is not a multiple of 4",
                             "use a multiple of 4 (64)")
        grid = self.grid if not isinstance(self.grid, int) else (self.grid, self.grid)
        if grid is not None and (len(grid) != 2 or len(x) not in (2, 3) or math.prod(grid) != math.prod(x[1:]) or (len(x) == 3 and tuple(x[1:]) != tuple(grid))):
            raise LayerError(f"fourier_position's grid {list(grid)} does not fit an input of {format_shape(x)}", "give rows and columns whose product is the positions")
        if grid is None and len(x) != 3:
            raise LayerError(f"fourier_position encodes rows and columns: its input is {format_shape(x)}, not C×H×W",
                             "on tokens C × N give `grid: [rows, cols]`")
        return tuple(grid or x[1:])

    def out_shape(self, x: Shape) -> Shape:
        self.rows_cols(x)
        return x

    def cost(self, x: Shape, y: Shape) -> Cost:
        c, positions = x[0], math.prod(x[1:])
        return Cost(params=self.features * c + (c if self.bias else 0), macs=self.features * c * positions, weights=self.features * c)

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        return {"weight": (x[0], self.features, 1, 1), **({"bias": (x[0],)} if self.bias else {})}

    def forward(self, x, weights, counter):
        import numpy as np

        rows, cols = self.rows_cols(x.shape[1:])
        n, c = x.shape[:2]
        grid = np.array(fourier_grid(self.features, self.temperature, rows, cols), dtype=x.dtype).reshape(self.features, -1)
        # the encoding is built per sample (from the batch's shape) and projected per sample, as the models do
        projected = counter.matmul(np.broadcast_to(weights["weight"].reshape(c, self.features), (n, c, self.features)),
                                   np.broadcast_to(grid, (n, *grid.shape)))
        if self.bias:
            projected += weights["bias"][:, None]
        return (x + projected.reshape(x.shape)).astype(x.dtype, copy=False)

    def torch_module(self, at: Place) -> TorchModule:
        rows, cols = self.rows_cols(at.in_shape)
        return TorchModule(f"FourierPosition({at.in_shape!r}, {self.features!r}, {self.temperature!r}, {self.bias!r}, ({rows}, {cols}))",
                           helpers=(("FourierPosition", FOURIER_POSITION),))

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        rows, cols = self.rows_cols(at.in_shape)
        c = at.in_shape[0]
        flat = g.floats(f"{at.name}/grid", fourier_grid(self.features, self.temperature, rows, cols))
        grid = g.node("Reshape", [flat, g.ints(f"{at.name}/grid_shape", [1, self.features, rows, cols])], f"{at.name}/Reshape")
        weights = [g.tensor(f"{at.name}.weight", (c, self.features, 1, 1), "kernel"), *([g.tensor(f"{at.name}.bias", (c,), "kernel")] if self.bias else [])]
        projected = g.node("Conv", [grid, *weights], f"{at.name}/Conv", kernel_shape=[1, 1])
        if len(at.in_shape) == 2:
            projected = g.node("Reshape", [projected, g.ints(f"{at.name}/tokens", [1, c, rows * cols])], f"{at.name}/Reshape_1")
        g.node("Add", [x, projected], at.name)


FOURIER_POSITION = '''
class FourierPosition(nn.Module):
    """x + conv1x1(P): a fixed sine/cosine encoding of the rows and columns (a buffer) projected by a learned 1×1 conv."""

    def __init__(self, shape, features, temperature, bias, grid):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(shape[0], features, 1, 1))
        self.bias = nn.Parameter(torch.zeros(shape[0])) if bias else None
        rows, cols = grid
        half = features // 2
        k = torch.arange(half, dtype=torch.float64)
        scale = temperature ** (2 * torch.div(k, 2, rounding_mode="floor") / half)
        row = (torch.arange(1, rows + 1, dtype=torch.float64) / (rows + 1e-6) * 2 * torch.pi)[:, None].expand(rows, cols)
        col = (torch.arange(1, cols + 1, dtype=torch.float64) / (cols + 1e-6) * 2 * torch.pi)[None, :].expand(rows, cols)
        parts = []
        for place in (row, col):
            phase = place[None] / scale[:, None, None]
            parts.append(torch.where((torch.arange(half) % 2 == 0)[:, None, None], phase.sin(), phase.cos()))
        self.register_buffer("grid", torch.cat(parts).float()[None], persistent=False)
        self.shape = shape

    def forward(self, x):
        grid = self.grid.expand(x.shape[0], -1, -1, -1)  # one encoding per sample, as the models build it from the batch's shape
        return x + nn.functional.conv2d(grid, self.weight, self.bias).reshape(x.shape)
'''
