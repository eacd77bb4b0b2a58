"""Arithmetic on weights before a layer reads them: still the same parameter, no cost per sample.

Weight standardisation (BiT, NFNets) computes a conv's weight from its initializer at run time:
ReduceMean, Sub, Mul, Div, Sqrt, Pow ... of the initializer and scalars. The result is a Weight of
the initializer's name, with the dims the arithmetic gives; the layer reading it counts its
parameters as the initializer's. Arithmetic that brings in a second parameter (a learned gain) is
refused: its parameters would be lost.
"""

from __future__ import annotations

import math

from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.values import Const, Unsupported, Weight, attributes

_ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"}
_UNARY = {"Sqrt", "Reciprocal", "Neg", "Abs", "Cast", "Exp", "Log", "Clip"}  # Identity: a passthrough, which records the alias
_REDUCTIONS = {"ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL2", "ReduceMax", "ReduceMin"}
WEIGHT_SIDE = _ELEMENTWISE | _UNARY | _REDUCTIONS | {"Reshape"}
"""The operators read on weights; anything else on a weight goes to its handler."""


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    rank = max(len(a), len(b))
    a, b = (1,) * (rank - len(a)) + a, (1,) * (rank - len(b)) + b
    if any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
        return None
    return tuple(max(x, y) for x, y in zip(a, b))


def weight_side(imp: Importer, node, inputs: list) -> Weight | None:
    """The node's output where it computes on a weight (its first Weight input) and scalars, else None."""
    if node.op_type not in WEIGHT_SIDE:
        return None
    values = [v for v in inputs if v is not None]
    weights = [v for v in values if isinstance(v, Weight)]
    if not weights or any(not isinstance(v, (Weight, Const)) for v in values):
        return None
    first = weights[0]
    if node.op_type == "Reshape":
        return _reshaped(imp, node, first, inputs[1])
    if node.op_type in _REDUCTIONS:
        return _reduced(imp, node, first, inputs)
    if node.op_type in _UNARY:
        return first
    dims = first.dims
    for v, name in zip(inputs, node.input):
        if v is None or v is first:
            continue
        if isinstance(v, Weight) and v.name != first.name or isinstance(v, Const) and math.prod(v.dims) > 1 and imp.root(name) in imp.initializers:
            raise Unsupported(f"arithmetic on weights '{first.name}' and '{imp.root(name)}': a second parameter in a weight")
        dims = _broadcast(dims, tuple(v.dims))
        if dims is None:
            raise imp.fail(node, f"operands {list(first.dims)} and {list(v.dims)} do not broadcast")
    return Weight(first.name, dims)


def _reduced(imp: Importer, node, weight: Weight, inputs: list) -> Weight:
    attrs = attributes(node)
    axes = attrs.get("axes")
    if axes is None and len(inputs) > 1 and inputs[1] is not None:
        axes = imp.const(inputs[1], node, "its axes").values
    rank = len(weight.dims)
    picked = set(range(rank)) if not axes else {a % rank for a in axes}
    if attrs.get("keepdims", 1):
        return Weight(weight.name, tuple(1 if k in picked else d for k, d in enumerate(weight.dims)))
    return Weight(weight.name, tuple(d for k, d in enumerate(weight.dims) if k not in picked))


def _reshaped(imp: Importer, node, weight: Weight, target) -> Weight:
    dims = list(imp.const(target, node, "its target shape").values)
    dims = [weight.dims[k] if d == 0 and k < len(weight.dims) else d for k, d in enumerate(dims)]
    total = math.prod(weight.dims)
    if dims.count(-1) == 1:
        known = math.prod(d for d in dims if d != -1)
        if not known or total % known:
            raise imp.fail(node, f"cannot reshape weight {list(weight.dims)} to {dims}")
        dims[dims.index(-1)] = total // known
    if any(not isinstance(d, int) or d < 0 for d in dims) or math.prod(dims) != total:
        raise imp.fail(node, f"cannot reshape weight {list(weight.dims)} to {dims}")
    return Weight(weight.name, tuple(dims))
