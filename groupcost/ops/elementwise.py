"""An activation and a constant, element by element: x + c, x · c, c − x ... No MACs.

What exporters leave of a branch initialised to zero (`Add` of a literal 0), of a normalisation
written out (`Sub` of a mean, `Div` by a constant), of a fixed positional table or anchor grid
added to a feature map. The constant is one number (`value`) or a tensor of `shape` that
broadcasts into the input without growing it; a learned tensor (`learned: true`, a positional
embedding) counts its elements as parameters, stored as `NAME.value`.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

from groupcost.ops.adapters import OnnxGraph, Place, TorchModule
from groupcost.ops.base import Cost, Layer, LayerError, Shape, arg, boolean, format_shape, one_of, positive_int, real
from groupcost.ops.registry import register


def dims(value: Any) -> tuple[int, ...]:
    """A constant's shape without the batch: [] for one number, [C, 1, 1] for one per channel."""
    if not isinstance(value, list):
        raise LayerError(f"expected a shape such as [64, 1, 1] or [], got {value!r}")
    return tuple(positive_int(v) for v in value)


_OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
        "rsub": lambda x, c: c - x, "rdiv": lambda x, c: c / x}
_ONNX = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "rsub": "Sub", "rdiv": "Div"}


@register("elementwise")
@dataclass(frozen=True)
class Elementwise(Layer):
    """x op c, element by element, c a constant: shape unchanged, no MACs."""

    op: str = arg(one_of(*_OPS), doc="add, sub, mul, div (x op c), rsub, rdiv (c op x)")
    value: float = arg(real, 0.0, "the constant (every element of it, where it has a shape)")
    shape: tuple[int, ...] = arg(dims, (), "the constant's shape, broadcast against the input ([]: one number)")
    learned: bool = arg(boolean, False, "the constant is a parameter (a learned positional table): its elements count")

    def out_shape(self, x: Shape) -> Shape:
        c = (1,) * (len(x) - len(self.shape)) + self.shape
        if len(self.shape) > len(x) or any(a != b and b != 1 for a, b in zip(x, c)):
            raise LayerError(f"a constant of shape {format_shape(self.shape)} does not broadcast into {format_shape(x)} without growing it", "give the constant's shape, e.g. [C, 1, 1]", arg="shape")
        return x

    def cost(self, x: Shape, y: Shape) -> Cost:
        return Cost(params=math.prod(self.shape) if self.learned else 0)

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        return {"value": self.shape} if self.learned else {}

    def forward(self, x, weights, counter):
        import numpy as np

        c = weights["value"] if self.learned else np.full(self.shape, self.value, dtype=x.dtype)
        return _OPS[self.op](x, c).astype(x.dtype, copy=False)

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"Elementwise({self.op!r}, {self.value!r}, {self.shape!r}, {self.learned!r})", helpers=(("Elementwise", ELEMENTWISE),))

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        # a learned constant under its state_dict key; a fixed one under a name no parameter has
        c = g.tensor(f"{at.name}.value" if self.learned else f"{at.name}/value", self.shape, repr(self.value))
        operands = [c, x] if self.op.startswith("r") else [x, c]
        g.node(_ONNX[self.op], operands, at.name)


ELEMENTWISE = '''
class Elementwise(nn.Module):
    """x op c, element by element, c a constant (a parameter where learned)."""

    def __init__(self, op, value, shape=(), learned=False):
        super().__init__()
        self.op = op
        c = torch.full(shape, float(value))
        if learned:
            self.value = nn.Parameter(c)
        else:
            self.register_buffer("value", c, persistent=False)

    def forward(self, x):
        c = self.value
        return {"add": lambda: x + c, "sub": lambda: x - c, "mul": lambda: x * c, "div": lambda: x / c,
                "rsub": lambda: c - x, "rdiv": lambda: c / x}[self.op]()
'''
