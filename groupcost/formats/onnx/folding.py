"""Subgraphs built at run time from constants alone, evaluated: Range, Expand, Equal, Where, Tile, and
the arithmetic of positional encodings (Sin, Cos, CumSum, comparisons, MatMul, Slice of constants).

TorchScript traces `x.shape` as Shape → Gather and builds index grids (anchors, coordinate maps)
from Range, Expand, Equal and Where; torch.export does the same around a symbolic batch; a sine
positional encoding is Range → Div → Sin/Cos → Concat, DETR's is a CumSum of a mask. None of it
depends on activation values, so it is evaluated here as small constants (a value unknown where
the batch enters it), or as a constant of known dims and unread values past GRID elements (SMALL for products). A
constant that reaches a feature map is then a fixed `elementwise` step: 0 parameters, its shape.
An Expand of an activation to its own shape is the activation; so is one to a larger shape whose every
reader is an element-wise operator that broadcasts it the same way (ECA's `gate.expand_as(x) * x`).
"""

from __future__ import annotations

import math

from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.values import BATCH, GRID, SMALL, Act, BatchTimes, Const, Unsupported, attributes, symbolic
from groupcost.ops import LAYER_TYPES, format_shape


def broadcast_dims(a: tuple, b: tuple) -> tuple[int, ...] | None:
    """NumPy's broadcast of two shapes, or None where they do not broadcast."""
    rank = max(len(a), len(b))
    a, b = (1,) * (rank - len(a)) + tuple(a), (1,) * (rank - len(b)) + tuple(b)
    if any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
        return None
    return tuple(max(x, y) for x, y in zip(a, b))


def broadcast_values(c: Const, dims: tuple[int, ...]) -> tuple | None:
    """c's values laid out over `dims` (c broadcasts into them), or None when unknown or past GRID."""
    n = math.prod(dims)
    if c.values is None or n > GRID:
        return None
    own = (1,) * (len(dims) - len(c.dims)) + tuple(c.dims)
    strides, step = [], 1
    for d in reversed(own):
        strides.append(step if d != 1 else 0)
        step *= d
    strides.reverse()
    out = []
    for flat in range(n):
        index, rest = 0, flat
        for size, stride in zip(reversed(dims), reversed(strides)):
            rest, k = divmod(rest, size)
            index += k * stride
        out.append(c.values[index])
    return tuple(out)


def multiply(a, b):
    """a × b in shape arithmetic, where the batch times a number is a BatchTimes (`B * C * n_h`)."""
    for batch, number in ((a, b), (b, a)):
        if (batch is BATCH or isinstance(batch, BatchTimes)) and isinstance(number, int) and not isinstance(number, bool) and number >= 1:
            return BatchTimes(number * (1 if batch is BATCH else batch.factor))
    return a * b


def divide(a, b):
    """a / b in shape arithmetic (integers divided as ONNX divides them): the batch times k divided by the batch is k
    (`B // q_global.shape[0]`, GC ViT's windows per sample), or by a number that divides k the batch times the rest."""
    if isinstance(a, BatchTimes) or a is BATCH:
        k = 1 if a is BATCH else a.factor
        if b is BATCH or isinstance(b, BatchTimes):
            j = 1 if b is BATCH else b.factor
            return k // j if k % j == 0 else None
        if isinstance(b, int) and not isinstance(b, bool) and b >= 1 and k % b == 0:
            return BATCH if k == b else BatchTimes(k // b)
        return None
    if symbolic(a) or symbolic(b):
        return None
    return a // b if isinstance(a, int) and isinstance(b, int) else a / b


def elementwise(values: list[Const], op) -> Const:
    """op over broadcast constants, element by element; unknown where an operand is (or the batch enters, but
    for a `multiply` of it by a number or a `divide` that keeps it whole)."""
    dims = values[0].dims
    for v in values[1:]:
        dims = broadcast_dims(dims, v.dims)
        if dims is None:
            raise Unsupported(f"constants of {' and '.join(format_shape(v.dims) or 'scalar' for v in values)} do not broadcast")
    laid = [broadcast_values(v, dims) for v in values]
    if any(x is None for x in laid):
        return Const(None, dims)
    out = []
    for items in zip(*laid):
        try:
            out.append(op(*items) if op in (multiply, divide) and None not in items else None if any(symbolic(x) for x in items) else op(*items))
        except (ZeroDivisionError, OverflowError, TypeError, ValueError):
            out.append(None)
    return Const(tuple(out), dims)


def _range(imp: Importer, i: int, node, inputs: list) -> Const:
    start, limit, delta = (imp.const(v, node, what).values[0] for v, what in zip(inputs, ("its start", "its limit", "its delta")))
    if (start, limit, delta) == (0, BATCH, 1):  # arange(B), every sample's index (a slice assignment's): read at the file's batch, as an Expand to B is
        limit = imp.batch
    if any(symbolic(v) for v in (start, limit, delta)) or not delta:
        raise Unsupported("a range whose bounds depend on the batch or are unknown")
    n = max(0, math.ceil((limit - start) / delta))
    if n > GRID:
        return Const(None, (n,))
    return Const(tuple(start + k * delta for k in range(n)), (n,))


def _expand(imp: Importer, i: int, node, inputs: list):
    x, target = inputs[0], imp.const(inputs[1], node, "its shape")
    wanted = tuple(target.values)
    if isinstance(x, Act):
        full = (BATCH, *x.shape)
        # a first size left unknown (TorchScript's Where over the symbolic batch of x's own shape) is the batch
        if len(wanted) > len(full) or any(w not in (1, f) and not (k == 0 and w in (BATCH, imp.batch, None)) for k, (w, f) in
                                          enumerate(zip((1,) * (len(full) - len(wanted)) + wanted, full))):
            if not _broadcast_by_readers(imp, node, x, wanted):
                return _tiled(imp, i, node, x, wanted)
        return x
    if not isinstance(x, Const):
        raise Unsupported("an expand of a weight")
    if any(symbolic(w) for w in wanted):
        known = tuple(imp.batch if w is BATCH else None if symbolic(w) else w for w in wanted)
        if None in known:
            raise Unsupported("an expand to an unknown shape")
        wanted = known
    dims = broadcast_dims(x.dims, wanted)
    if dims is None:
        raise imp.fail(node, f"cannot expand {list(x.dims)} to {list(wanted)}")
    return Const(broadcast_values(x, dims), dims)


def _tiled(imp: Importer, i: int, node, x: Act, wanted: tuple) -> Act:
    """x expanded along its dims of size 1 (not the batch) that something other than a broadcasting merge reads
    (a gate tiled over a map, then concatenated with it; BAM's and SINet's gates): a `broadcast` step per dim."""
    full = (BATCH, *x.shape)
    if len(wanted) > len(full) or x.channels is not None:
        raise Unsupported(f"an expand of N×{format_shape(x.shape)} to {list(wanted)}")
    y = x
    for k, (w, f) in enumerate(zip((1,) * (len(full) - len(wanted)) + tuple(wanted), full)):
        if w in (1, f) or (k == 0 and w in (BATCH, imp.batch, None)):
            continue
        if k == 0 or f != 1 or not isinstance(w, int) or w < 1:
            raise Unsupported(f"an expand of N×{format_shape(x.shape)} to {list(wanted)}")
        y = imp.layer(i, node, "broadcast", LAYER_TYPES["broadcast"](dim=k, size=w), y)
    return y


_BROADCASTING = frozenset({"Add", "Sub", "Mul", "Div", "Max", "Min"})


def _broadcast_by_readers(imp: Importer, node, x: Act, wanted: tuple) -> bool:
    """x expanded to `wanted` only to meet, element by element, tensors of that shape already read (F.normalize's
    x / norm.expand_as(x), ECA's x * gate.expand_as(x)): each reader's merge broadcasts x as the Expand did, so the
    Expand is x."""
    full = (BATCH, *x.shape)
    if len(wanted) != len(full) or wanted[0] not in (BATCH, imp.batch) or any(f != 1 and f != w for f, w in zip(full[1:], wanted[1:])):
        return False
    readers = imp.consumers.get(node.output[0], [])
    for k in readers:
        reader = imp.order[k] if k >= 0 else None
        if reader is None or reader.op_type not in _BROADCASTING or reader.domain not in ("", "ai.onnx") or len(reader.input) != 2:
            return False
        other = imp.env.get(next(name for name in reader.input if name != node.output[0]) if reader.input[0] != reader.input[1] else "")
        if not isinstance(other, Act) or other.channels is not None or tuple(other.shape) != tuple(wanted[1:]):
            return False
    return bool(readers)


def _equal(imp: Importer, i: int, node, inputs: list) -> Const:
    return elementwise([imp.const(v, node, "an operand") if isinstance(v, Const) else _refuse(v) for v in inputs], lambda a, b: int(a == b))


def _where(imp: Importer, i: int, node, inputs: list) -> Const:
    return elementwise([imp.const(v, node, "an operand") if isinstance(v, Const) else _refuse(v) for v in inputs], lambda c, a, b: a if c else b)


def _tile(imp: Importer, i: int, node, inputs: list) -> Const:
    x, repeats = inputs[0], imp.const(inputs[1], node, "its repeats").values
    if not isinstance(x, Const) or len(repeats) != len(x.dims) or any(not isinstance(r, int) or r < 1 for r in repeats):
        raise Unsupported("a tile of other than a constant")
    dims = tuple(d * r for d, r in zip(x.dims, repeats))
    if x.values is None or math.prod(dims) > GRID:
        return Const(None, dims)
    out = []
    for flat in range(math.prod(dims)):
        index, rest, stride = 0, flat, 1
        for size, own in zip(reversed(dims), reversed(x.dims)):
            rest, k = divmod(rest, size)
            index += (k % own) * stride
            stride *= own
        out.append(x.values[index])
    return Const(tuple(out), dims)


def _one_hot(imp: Importer, i: int, node, inputs: list) -> Const:
    """OneHot of constants: `values[1]` at each index along the new axis of `depth`, `values[0]` elsewhere (TorchScript
    writes `repeat_interleave` by a count computed from the batch, GC ViT's global query, with the repeats made so)."""
    indices, depth, values = (imp.const(v, node, what) for v, what in zip(inputs, ("its indices", "its depth", "its values")))
    size = depth.values[0] if depth.values and len(depth.values) == 1 else None
    if not isinstance(size, int) or size < 1 or len(values.values or ()) != 2 or indices.values is None \
            or any(not isinstance(k, int) for k in indices.values):
        raise Unsupported("a OneHot of other than a known depth, two values and known indices")
    rank = len(indices.dims) + 1
    axis = attributes(node).get("axis", -1) % rank
    off, on = values.values
    rows = [tuple(on if k == (index % size) else off for k in range(size)) for index in indices.values]
    outer, inner = math.prod(indices.dims[:axis]), math.prod(indices.dims[axis:])
    out = tuple(rows[o * inner + r][k] for o in range(outer) for k in range(size) for r in range(inner))
    return Const(out, (*indices.dims[:axis], size, *indices.dims[axis:]))


def _refuse(value):
    raise Unsupported("on an activation (groupcost reads it in shape arithmetic only)")


def _cumsum(imp: Importer, node, x: Const, axis_value: Const) -> Const:
    """ONNX CumSum along one axis, `exclusive` and `reverse` as its attributes say."""
    attrs = attributes(node)
    rank = len(x.dims)
    axis = imp.const(axis_value, node, "its axis").values[0]
    if not isinstance(axis, int) or not -rank <= axis < rank:
        raise imp.fail(node, f"axis {axis} outside a constant of {list(x.dims)}")
    if x.values is None:
        return Const(None, x.dims)
    axis %= rank
    width, inner = x.dims[axis], math.prod(x.dims[axis + 1:])
    out = list(x.values)
    for outer in range(math.prod(x.dims[:axis])):
        for r in range(inner):
            cells = [(outer * width + k) * inner + r for k in range(width)]
            if attrs.get("reverse", 0):
                cells.reverse()
            total = 0
            for cell in cells:
                value = x.values[cell]
                if symbolic(value) or total is None:
                    total = None
                    out[cell] = None
                    continue
                out[cell] = total if attrs.get("exclusive", 0) else total + value
                total += value
    return Const(tuple(out), x.dims)


def _matmul(imp: Importer, node, a: Const, b: Const) -> Const:
    """A product of two constant matrices (or a vector and a matrix); values unknown past SMALL elements."""
    if not 1 <= len(a.dims) <= 2 or not 1 <= len(b.dims) <= 2:
        raise Unsupported("a product of constants of rank above 2")
    rows, inner = (1, a.dims[0]) if len(a.dims) == 1 else a.dims
    inner_b, cols = (b.dims[0], 1) if len(b.dims) == 1 else b.dims
    if inner != inner_b:
        raise imp.fail(node, f"multiplies constants of {list(a.dims)} and {list(b.dims)}")
    dims = (*a.dims[:-1], *b.dims[1:])
    if a.values is None or b.values is None or rows * cols > SMALL or any(symbolic(v) for v in (*a.values, *b.values)):
        return Const(None, dims)
    return Const(tuple(sum(a.values[r * inner + k] * b.values[k * cols + c] for k in range(inner)) for r in range(rows) for c in range(cols)), dims)


def _sliced(imp: Importer, node, x: Const, inputs: list) -> Const:
    """Slice of a constant along any axes, Python's clamping (as ONNX's)."""
    starts, ends, axes, steps = imp.slice_bounds(node, inputs)
    rank = len(x.dims)
    picked = [range(d) for d in x.dims]
    for start, stop, axis, step in zip(starts, ends, axes, steps):
        if not all(isinstance(v, int) for v in (start, stop, axis, step)) or not step or not -rank <= axis < rank:
            raise Unsupported("a slice of a constant by unknown bounds")
        picked[axis % rank] = picked[axis % rank][slice(start, stop, step)]
    dims = tuple(len(p) for p in picked)
    if x.values is None or math.prod(dims) > SMALL:
        return Const(None, dims)
    strides = [math.prod(x.dims[k + 1:]) for k in range(rank)]
    out = [0]
    for axis in range(rank):
        out = [base + k * strides[axis] for base in out for k in picked[axis]]
    return Const(tuple(x.values[k] for k in out), dims)


def _clipped(imp: Importer, node, inputs: list) -> Const:
    """Clip of a constant (TF-style "same" padding's `max(pad, 0)` on a traced size): its bounds from the
    inputs (opset 11 on) or the attributes, each optional."""
    attrs = attributes(node)
    bounds = [attrs.get("min"), attrs.get("max")]
    for k, what in ((1, "its min"), (2, "its max")):
        if len(inputs) > k and inputs[k] is not None:
            bounds[k - 1] = imp.const(inputs[k], node, what).values[0]
    low, high = bounds

    def clip(a):
        a = a if low is None else max(a, low)
        return a if high is None else min(a, high)

    return elementwise(inputs[:1], clip)


def _sign(a) -> int:
    return (a > 0) - (a < 0)


_UNARY = {"Sin": math.sin, "Cos": math.cos, "Tan": math.tan, "Atan": math.atan, "Erf": math.erf, "Floor": math.floor, "Ceil": math.ceil,
          "Round": round, "Sign": _sign, "Not": lambda a: int(not a), "IsNaN": lambda a: int(math.isnan(a)), "IsInf": lambda a: int(math.isinf(a))}
_BINARY = {"Less": lambda a, b: int(a < b), "Greater": lambda a, b: int(a > b), "LessOrEqual": lambda a, b: int(a <= b),
           "GreaterOrEqual": lambda a, b: int(a >= b), "And": lambda a, b: int(bool(a) and bool(b)), "Or": lambda a, b: int(bool(a) or bool(b)),
           "Xor": lambda a, b: int(bool(a) != bool(b)), "Mod": lambda a, b: a % b if isinstance(a, int) and isinstance(b, int) else math.fmod(a, b)}
EVALUATED = frozenset({*_UNARY, *_BINARY, "CumSum", "MatMul", "Slice", "Clip"})
"""The operators evaluated where every input is a constant (before any handler, which reads them on activations)."""


def evaluated(imp: Importer, node, inputs: list) -> Const | None:
    """The node's output where it computes on constants alone, else None (its handler reads it)."""
    values = [v for v in inputs if v is not None]
    if node.op_type not in EVALUATED or node.domain not in ("", "ai.onnx") or not values or not all(isinstance(v, Const) for v in values):
        return None
    if node.op_type in _UNARY:
        return elementwise(values[:1], _UNARY[node.op_type])
    if node.op_type in _BINARY:
        return elementwise(values[:2], _BINARY[node.op_type])
    if node.op_type == "CumSum":
        return _cumsum(imp, node, values[0], values[1])
    if node.op_type == "MatMul":
        return _matmul(imp, node, values[0], values[1])
    if node.op_type == "Clip":
        return _clipped(imp, node, inputs)
    return _sliced(imp, node, inputs[0], inputs)


FOLDED = {"Range": _range, "Expand": _expand, "Equal": _equal, "Where": _where, "Tile": _tile, "OneHot": _one_hot}
"""Shape arithmetic beyond Shape, Gather, Concat and the element-wise operators (groupcost.formats.onnx.shapes)."""
