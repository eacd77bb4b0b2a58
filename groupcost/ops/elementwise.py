"""An activation and a constant, element by element: x + c, x · c, c − x, x ** c ...; and one
function of an activation, element by element (`unary`: sqrt, exp, erf, sin ...). No MACs.

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

from groupcost.ops.activation import erf
from groupcost.ops.adapters import OnnxGraph, Place, Raised, Raising, TorchModule
from groupcost.ops.base import Cost, Layer, LayerError, Shape, arg, boolean, format_shape, one_of, positive_int, real
from groupcost.ops.registry import register


def dims(value: Any) -> tuple[int, ...]:
    """A constant's shape without the batch: [] for one number, [C, 1, 1] for one per channel."""
    if not isinstance(value, list):
        raise LayerError(f"expected a shape such as [64, 1, 1] or [], got {value!r}")
    return tuple(positive_int(v) for v in value)


_OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv, "pow": operator.pow,
        "rsub": lambda x, c: c - x, "rdiv": lambda x, c: c / x, "max": lambda x, c: _numpy().maximum(x, c),
        "min": lambda x, c: _numpy().minimum(x, c)}  # max: F.normalize's clamp_min(eps) of a norm
_ONNX = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "rsub": "Sub", "rdiv": "Div", "max": "Max", "min": "Min"}


def _numpy():
    import numpy as np  # verify's kernels only: analyze imports no numpy

    return np


@register("elementwise")
@dataclass(frozen=True)
class Elementwise(Layer):
    """x op c, element by element, c a constant: shape unchanged, no MACs."""

    op: str = arg(one_of(*_OPS), doc="add, sub, mul, div, pow (x op c), rsub, rdiv (c op x), max, min (the larger, smaller of x and c: a clamp)")
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
                "pow": lambda: x ** c, "rsub": lambda: c - x, "rdiv": lambda: c / x,
                "max": lambda: torch.maximum(x, c), "min": lambda: torch.minimum(x, c)}[self.op]()
'''


_FUNCTIONS = {
    # name: (NumPy kernel, ONNX operator)
    "sqrt": (lambda np, x: np.sqrt(x), "Sqrt"),
    "reciprocal": (lambda np, x: 1 / x, "Reciprocal"),
    "exp": (lambda np, x: np.exp(x), "Exp"),
    "log": (lambda np, x: np.log(x), "Log"),
    "abs": (lambda np, x: np.abs(x), "Abs"),
    "neg": (lambda np, x: -x, "Neg"),
    "erf": (erf, "Erf"),
    "sin": (lambda np, x: np.sin(x), "Sin"),
    "cos": (lambda np, x: np.cos(x), "Cos"),
    "softplus": (lambda np, x: np.logaddexp(0, x), "Softplus"),
}
UNARY_ONNX = {onnx: name for name, (_, onnx) in _FUNCTIONS.items()}
"""The ONNX operator of each `unary` function, by operator."""


@register("unary")
@dataclass(frozen=True)
class Unary(Layer):
    """fn(x), element by element: shape unchanged, no parameters, no MACs.

    The arithmetic real models do on activations outside any layer (a norm's square root, a linear
    attention's reciprocal, a positional encoding's sine): one type with the function as its argument,
    not one activation type per function, so that `act:` keeps naming the non-linearities networks
    use as activations.
    """

    fn: str = arg(one_of(*_FUNCTIONS), doc=", ".join(_FUNCTIONS) + " (softplus: log(1 + exp(x)))")

    def out_shape(self, x: Shape) -> Shape:
        return x

    def forward(self, x, weights, counter):
        import numpy as np

        return _FUNCTIONS[self.fn][0](np, x).astype(x.dtype, copy=False)

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"Unary({self.fn!r})", helpers=(("Unary", UNARY),))

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"{r.need('Unary')}({r.a('fn')})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        g.node(_FUNCTIONS[self.fn][1], [x], at.name)


UNARY = '''
class Unary(nn.Module):
    """fn(x), element by element: a torch function by its name (softplus from nn.functional)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return nn.functional.softplus(x) if self.fn == "softplus" else getattr(torch, self.fn)(x)
'''
