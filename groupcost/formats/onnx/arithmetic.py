"""Arithmetic on activations that no pattern claims: what is left of a norm, a linear attention or a
positional encoding once the known patterns are read.

Two activations (Sub, Div, Max, Min, as Add and Mul) meet in a merge, broadcasting as NumPy does;
a function of one (Sqrt, Exp, Erf, Sin ...) is a `unary` layer; a power by a constant is an
`elementwise` pow. On constants alone each folds (shape arithmetic, a head's scale); on a weight
before the layer that reads it, weight standardisation's handler takes it first.
"""

from __future__ import annotations

import math

from groupcost.formats.onnx.folding import elementwise
from groupcost.formats.onnx.importer import Handler, Importer
from groupcost.formats.onnx.values import Act, ChannelsLast, Const, Unsupported
from groupcost.ops import LAYER_TYPES
from groupcost.ops.elementwise import UNARY_ONNX

ON_CONSTANTS = {"Pow": lambda a, b: a ** b, "Sqrt": math.sqrt, "Reciprocal": lambda a: 1 / a, "Neg": lambda a: -a, "Abs": abs,
                "Exp": math.exp, "Log": math.log, "Max": max, "Min": min, "Erf": math.erf, "Sin": math.sin, "Cos": math.cos,
                "Softplus": lambda a: math.log1p(math.exp(a))}
"""What each operator computes on folded constants' values."""


def activations_merged(imp: Importer, i: int, node, kind: str, values: list):
    """`kind` of activations as a merge; channels-last views all alike merge as their activations and stay views.
    An add's largest operand comes first: the others broadcast into it (a global context added at every position)."""
    if all(isinstance(v, Act) for v in values):
        return imp.merge(i, node, kind, _largest_first(kind, values))
    if all(isinstance(v, ChannelsLast) for v in values):
        return ChannelsLast(imp.merge(i, node, kind, _largest_first(kind, [v.x for v in values])))
    return None


def _largest_first(kind: str, acts: list[Act]) -> list[Act]:
    return sorted(acts, key=lambda a: -math.prod(a.shape)) if kind == "add" else acts


def _folded(node, values: list):
    """The node on constants alone, folded; None where an activation takes part."""
    if values and all(isinstance(v, Const) for v in values) and node.op_type in ON_CONSTANTS:
        return elementwise(values, ON_CONSTANTS[node.op_type])
    return None


def _extremum(kind: str) -> Handler:
    """Max / Min of activations: a `max` / `min` merge."""

    def handle(imp: Importer, i: int, node, inputs: list):
        values = [v for v in inputs if v is not None]
        folded = _folded(node, values)
        if folded is not None:
            return folded
        if len(values) == 1:
            return values[0]
        merged = activations_merged(imp, i, node, kind, values)
        if merged is None:
            return _clamped(imp, i, node, kind, values)
        return merged

    return handle


def _clamped(imp: Importer, i: int, node, kind: str, values: list):
    """max / min of an activation and one number (a clamp): `elementwise` max / min."""
    acts = [v for v in values if isinstance(v, (Act, ChannelsLast))]
    bounds = [v for v in values if isinstance(v, Const)]
    if len(acts) != 1 or len(bounds) != len(values) - 1 or any(b.values is None or len(set(b.values)) != 1 or not isinstance(b.values[0], (int, float))
                                                               for b in bounds):
        raise Unsupported(f"{kind} of an activation and a constant of more than one value")
    bound = (max if kind == "max" else min)(float(b.values[0]) for b in bounds)
    x = acts[0]
    act = x.x if isinstance(x, ChannelsLast) else x
    y = imp.layer(i, node, "elementwise", LAYER_TYPES["elementwise"](op=kind, value=bound), act)
    return ChannelsLast(y) if isinstance(x, ChannelsLast) else y


def _power(imp: Importer, i: int, node, inputs: list):
    """x ** c, c one number: `elementwise` pow."""
    values = [v for v in inputs if v is not None]
    folded = _folded(node, values)
    if folded is not None:
        return folded
    x, exponent = inputs[0], inputs[1]
    if not isinstance(x, (Act, ChannelsLast)):
        raise Unsupported("a constant raised to the power of an activation")
    if not isinstance(exponent, Const) or exponent.values is None or len(exponent.values) != 1 or not isinstance(exponent.values[0], (int, float)):
        raise Unsupported("a power whose exponent is not one number")
    act = x.x if isinstance(x, ChannelsLast) else x
    y = imp.layer(i, node, "elementwise", LAYER_TYPES["elementwise"](op="pow", value=float(exponent.values[0])), act)
    return ChannelsLast(y) if isinstance(x, ChannelsLast) else y


def _unary(imp: Importer, i: int, node, inputs: list):
    """fn(x) of an activation: `unary` (in either layout); of constants: folded."""
    x = inputs[0]
    folded = _folded(node, [x])
    if folded is not None:
        return folded
    if isinstance(x, ChannelsLast):
        return ChannelsLast(_unary(imp, i, node, [x.x]))
    if not isinstance(x, Act):
        raise Unsupported("on a weight other than before the layer that reads it")
    return imp.layer(i, node, "unary", LAYER_TYPES["unary"](fn=UNARY_ONNX[node.op_type]), x)


ARITHMETIC: dict[str, Handler] = {
    "Max": _extremum("max"),
    "Min": _extremum("min"),
    "Pow": _power,
    **{op: _unary for op in UNARY_ONNX},
}
"""The handlers of arithmetic on activations, by ONNX operator."""
