"""A learned table gathered by a fixed index and added to the input: a relative position bias. No MACs.

LeViT and EfficientFormer add `attention_biases[:, attention_bias_idxs]` to their attention logits,
Swin-style blocks `relative_position_bias_table[relative_position_index]` viewed and permuted to
heads × N × N. PyTorch counts the table once (channels × entries), not the gathered tensor; the
index is a buffer. groupcost counts the table; which entry each position reads is the model's own
(its window's relative offsets), so the kernel and the exports read entry p mod `entries` at flat
position p: the same counts, shapes and memory, not the model's values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from groupcost.ops.adapters import OnnxGraph, Place, TorchModule
from groupcost.ops.base import Cost, Layer, LayerError, Shape, arg, boolean, format_shape, positive_int
from groupcost.ops.registry import register


@register("bias_table")
@dataclass(frozen=True)
class BiasTable(Layer):
    """x + T[:, index]: a learned table T of `entries` values per channel, read at every other position; `shared`:
    one table of `entries` values read at the positions after dim 1, the same for every index of dim 1 (one head's
    row added to its logits in every window, EfficientViT)."""

    entries: int = arg(positive_int, doc="the table's entries per channel (LeViT: the window's positions; Swin: (2h − 1)(2w − 1))")
    shared: bool = arg(boolean, False, "one table of `entries` values for all of dim 1 (the windows, or one head's query positions), not one per channel")

    def rows(self, x: Shape) -> int:
        return 1 if self.shared else x[0]

    def out_shape(self, x: Shape) -> Shape:
        if len(x) < 2:
            raise LayerError(f"bias_table adds a table per channel and position: its input is {format_shape(x)}, not C×…",
                             "it reads attention logits (heads × N × N) or a feature map")
        return x

    def cost(self, x: Shape, y: Shape) -> Cost:
        return Cost(params=self.rows(x) * self.entries)

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        return {"table": (self.rows(x), self.entries)}

    def forward(self, x, weights, counter):
        import numpy as np

        index = (np.arange(math.prod(x.shape[2:])) % self.entries).reshape(x.shape[2:])
        return (x + weights["table"][:, index]).astype(x.dtype, copy=False)

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"BiasTable({at.in_shape!r}, {self.entries!r}{', shared=True' if self.shared else ''})", helpers=(("BiasTable", BIAS_TABLE),))

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        c, *positions = at.in_shape
        rows = self.rows(at.in_shape)
        table = g.tensor(f"{at.name}.table", (rows, self.entries), "kernel")
        index = g.ints(f"{at.name}.index", [p % self.entries for p in range(math.prod(positions))])
        gathered = g.node("Gather", [table, index], f"{at.name}/gathered", axis=1)
        bias = g.node("Reshape", [gathered, g.ints(f"{at.name}/shape", [1, rows, *positions])], f"{at.name}/bias")
        g.node("Add", [x, bias], at.name)


BIAS_TABLE = '''
class BiasTable(nn.Module):
    """x + table[:, index]: a learned table per channel, read at each position through a fixed index."""

    def __init__(self, shape, entries, shared=False):
        super().__init__()
        self.table = nn.Parameter(torch.zeros(1 if shared else shape[0], entries))
        positions = torch.arange(int(torch.tensor(shape[1:]).prod())).remainder(entries)
        self.register_buffer("index", positions.view(shape[1:]), persistent=False)

    def forward(self, x):
        return x + self.table[:, self.index]
'''
