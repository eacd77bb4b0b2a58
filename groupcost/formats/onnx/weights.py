"""Arithmetic on weights before a layer reads them: still the same parameter, no cost per sample.

Weight standardisation (BiT, NFNets) computes a conv's weight from its initializer at run time:
ReduceMean, Sub, Mul, Div, Sqrt, Pow ... of the initializer and scalars. The result is a Weight of
the initializer's name, with the dims the arithmetic gives; the layer reading it counts its
parameters as the initializer's. Arithmetic that brings in a second parameter is refused: its
parameters would be lost.

timm's StdConv2d and ScaledStdConv2d standardise with `F.batch_norm(w.view(1, C_out, -1), None, None,
weight=gain * scale, training=True)`: a BatchNormalization of the weight (its statistics computed in
training mode, or by ReduceMean beside it), its scale the learned gain (a parameter PyTorch counts) or
ones. That one is read as a Standardised weight, the gain kept by name, so that the conv counts it.
"""

from __future__ import annotations

import math
from dataclasses import replace

from groupcost.formats.onnx.constants import MADE_BY_EXPORTER, PARAMETER_NAME
from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.values import Const, Standardised, Unsupported, Weight, attributes, tensor_values
from groupcost.formats.onnx.weight_slices import sliced_weight
from groupcost.ops.conv_weights import binomial_kernel

_ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"}
_UNARY = {"Sqrt", "Reciprocal", "Neg", "Abs", "Cast", "Exp", "Log", "Clip"}  # Identity: a passthrough, which records the alias
_REDUCTIONS = {"ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL2", "ReduceMax", "ReduceMin"}
WEIGHT_SIDE = _ELEMENTWISE | _UNARY | _REDUCTIONS | {"Reshape", "Slice"}
"""The operators read on weights; anything else on a weight goes to its handler."""


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    rank = max(len(a), len(b))
    a, b = (1,) * (rank - len(a)) + a, (1,) * (rank - len(b)) + b
    if any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
        return None
    return tuple(max(x, y) for x, y in zip(a, b))


def weight_side(imp: Importer, node, inputs: list) -> Weight | None:
    """The node's output where it computes on a weight (its first Weight input) and scalars, else None."""
    if node.op_type not in WEIGHT_SIDE and node.op_type != "BatchNormalization":
        return None
    values = [v for v in inputs if v is not None]
    weights = [v for v in values if isinstance(v, Weight)]
    if not weights or any(not isinstance(v, (Weight, Const)) for v in values):
        return None
    first = weights[0]
    if node.op_type == "BatchNormalization":
        return _standardised(imp, node, inputs) if values[0] is first else None
    if node.op_type == "Reshape":
        return _reshaped(imp, node, first, inputs[1])
    if node.op_type == "Slice":
        return sliced_weight(imp, node, first, inputs) if values[0] is first else None
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
    return replace(first, dims=dims)


def _reduced(imp: Importer, node, weight: Weight, inputs: list) -> Weight:
    attrs = attributes(node)
    axes = imp.axes(node, inputs)
    rank = len(weight.dims)
    picked = set(range(rank)) if not axes else {a % rank for a in axes}
    if attrs.get("keepdims", 1):
        return replace(weight, dims=tuple(1 if k in picked else d for k, d in enumerate(weight.dims)))
    return replace(weight, dims=tuple(d for k, d in enumerate(weight.dims) if k not in picked))


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
    return replace(weight, dims=tuple(dims))


STORED_LIMIT = 1 << 16
"""Values read from a stored tensor to tell a constant from a parameter: a gain, a fixed filter (never a conv's weight)."""
_ROWS_READ = 32
"""Output channels of a kernel torch.export computed that are read to tell a standardised weight (mean 0 in every one)."""


def stored_values(imp: Importer, name: str, value) -> tuple | None:
    """The values of a tensor stored in the file: a small Const's, an initializer's or a Constant node's
    (≤ STORED_LIMIT values); None where they cannot be read."""
    if isinstance(value, Const) and value.values is not None:
        return value.values
    root = imp.root(name)
    if root in imp.initializers:
        return tensor_values(imp.initializers[root], imp.folder, STORED_LIMIT)
    made_by = imp.producers.get(root)
    if made_by is not None and imp.order[made_by].op_type == "Constant":
        tensor = attributes(imp.order[made_by]).get("value")
        return tensor_values(tensor, None, STORED_LIMIT) if tensor is not None else None
    return None


def _standardised(imp: Importer, node, inputs: list) -> Weight:
    """`F.batch_norm(w.view(1, C, -1), weight=gain)` in training mode: w standardised per channel C; the
    shift must be zeros and, out of training mode, the statistics the weight's own."""
    weight = inputs[0]
    if len(inputs) < 5 or len(weight.dims) < 2 or weight.dims[0] != 1:
        raise Unsupported(f"a batch norm of the weight '{weight.name}' viewed as {list(weight.dims)}, not 1×C_out×…")
    channels = weight.dims[1]
    attrs = attributes(node)
    if not attrs.get("training_mode", 0):  # torch.export writes the statistics: they must be the weight's own
        for stat in inputs[3:5]:
            if not isinstance(stat, Weight) or stat.name != weight.name or stat.size != channels:
                raise Unsupported(f"a batch norm of the weight '{weight.name}' with statistics other than its own")
    shift = stored_values(imp, node.input[2], inputs[2])
    if shift is None or any(v != 0 for v in shift):
        raise Unsupported(f"a learned shift of the standardised weight '{weight.name}': a second parameter in a weight")
    gain = _gain(imp, node.input[1], inputs[1], weight.name, channels)
    return Weight(weight.name, weight.dims, Standardised(gain, float(f"{attrs.get('epsilon', 1e-5):.6g}")))


def _gain(imp: Importer, name: str, scale, weight: str, channels: int) -> str | None:
    """The learned gain's name, or None for a constant scale of ones.

    A parameter by its name (`conv.gain`), or an initializer the exporter computed from it (the gain times a
    fixed scale, folded): its values differ per channel once trained. Ones are no gain (BiT's plain weight
    standardisation); one other value for every channel is an untrained gain (ones) times Scaled WS's fixed
    scale γ/√fan-in (Brock et al. 2021, NF-Nets): that scale comes with its learned gain, in the paper and in timm."""
    size = scale.size if isinstance(scale, Weight) else math.prod(scale.dims) if isinstance(scale, Const) else None
    if size != channels:
        raise Unsupported(f"a batch norm of the weight '{weight}' scaled by something other than one value per channel")
    if isinstance(scale, Weight) and PARAMETER_NAME.fullmatch(scale.name) and not MADE_BY_EXPORTER.fullmatch(scale.name):
        return scale.name
    values = stored_values(imp, name, scale)
    if values is None:
        raise Unsupported(f"the scale of the standardised weight '{weight}' cannot be read (a learned gain or a constant)")
    if all(v == 1 for v in values):
        return None
    root = imp.root(name)
    if root not in imp.initializers:
        raise Unsupported(f"a constant scale of the standardised weight '{weight}' (groupcost reads a learned gain or ones)")
    return root


def is_binomial(values: tuple | None, dims: tuple[int, ...]) -> bool:
    """Whether a C_out×1×k… kernel's values are the binomial filter for every channel, exactly (its
    values are dyadic fractions, exact in float32)."""
    if values is None or len(dims) < 3 or dims[1] != 1 or len(values) != math.prod(dims):
        return False
    one = binomial_kernel(tuple(dims[2:]))
    return all(v == one[k % len(one)] for k, v in enumerate(values))


def folded_standardisation(imp: Importer, name: str, dims: tuple[int, ...]) -> str | None:
    """`scaled` where a conv's kernel is an initializer torch.export computed (`view_8`) from a weight standardised
    and times a learned gain: every output channel's values have mean 0, and their spreads (the gain times a
    fixed scale) differ from channel to channel; `std` where every spread is 1 (no gain: the weight is the
    parameter); None for any other kernel. One spread other than 1 for every channel is an untrained gain (ones)
    times Scaled WS's fixed scale, which comes with its gain (as in _gain): `scaled`. A kernel too large to read
    cannot be told apart: refused."""
    if name not in imp.initializers or not MADE_BY_EXPORTER.fullmatch(name) or name.startswith(("onnx::", "/", "val_")):
        return None
    per_row = math.prod(dims[1:])
    rows = min(dims[0], _ROWS_READ)
    values = tensor_values(imp.initializers[name], imp.folder, 1 << 22, rows * per_row)
    if values is None:
        raise Unsupported(f"its kernel '{name}' was computed by the exporter and cannot be read: a standardised weight "
                          "times a gain (whose parameters the file no longer holds) cannot be told apart")
    if per_row < 2:
        return None
    spreads = []
    for r in range(rows):
        row = values[r * per_row:(r + 1) * per_row]
        mean = sum(row) / per_row
        spread = math.sqrt(sum((v - mean) ** 2 for v in row) / per_row)
        if abs(mean) > 1e-4 * spread:
            return None
        spreads.append(spread)
    if all(abs(v - 1) < 1e-2 for v in spreads):
        return "std"
    return "scaled"
