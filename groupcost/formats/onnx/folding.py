"""Shape subgraphs built at run time, evaluated on constants: Range, Expand, Equal, Where, Tile.

TorchScript traces `x.shape` as Shape → Gather and builds index grids (anchors, coordinate maps)
from Range, Expand, Equal and Where; torch.export does the same around a symbolic batch. None of
it depends on activation values, so it is evaluated here as small constants (a value unknown
where the batch enters it), or as a constant of known dims and unread values past SMALL elements.
An Expand of an activation to its own shape is the activation.
"""

from __future__ import annotations

import math

from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.values import BATCH, SMALL, Act, Const, Unsupported
from groupcost.ops import format_shape


def broadcast_dims(a: tuple, b: tuple) -> tuple[int, ...] | None:
    """NumPy's broadcast of two shapes, or None where they do not broadcast."""
    rank = max(len(a), len(b))
    a, b = (1,) * (rank - len(a)) + tuple(a), (1,) * (rank - len(b)) + tuple(b)
    if any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
        return None
    return tuple(max(x, y) for x, y in zip(a, b))


def broadcast_values(c: Const, dims: tuple[int, ...]) -> tuple | None:
    """c's values laid out over `dims` (c broadcasts into them), or None when unknown or past SMALL."""
    n = math.prod(dims)
    if c.values is None or n > SMALL:
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


def elementwise(values: list[Const], op) -> Const:
    """op over broadcast constants, element by element; unknown where an operand is (or the batch enters)."""
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
            out.append(None if any(x is None or x is BATCH for x in items) else op(*items))
        except (ZeroDivisionError, OverflowError, TypeError, ValueError):
            out.append(None)
    return Const(tuple(out), dims)


def _range(imp: Importer, i: int, node, inputs: list) -> Const:
    start, limit, delta = (imp.const(v, node, what).values[0] for v, what in zip(inputs, ("its start", "its limit", "its delta")))
    if any(v is None or v is BATCH for v in (start, limit, delta)) or not delta:
        raise Unsupported("a range whose bounds depend on the batch or are unknown")
    n = max(0, math.ceil((limit - start) / delta))
    if n > SMALL:
        return Const(None, (n,))
    return Const(tuple(start + k * delta for k in range(n)), (n,))


def _expand(imp: Importer, i: int, node, inputs: list):
    x, target = inputs[0], imp.const(inputs[1], node, "its shape")
    wanted = tuple(target.values)
    if isinstance(x, Act):
        full = (BATCH, *x.shape)
        if len(wanted) > len(full) or any(w not in (1, f) and not (k == 0 and w in (BATCH, imp.batch)) for k, (w, f) in
                                          enumerate(zip((1,) * (len(full) - len(wanted)) + wanted, full))):
            raise Unsupported(f"an expand of N×{format_shape(x.shape)} to {list(wanted)}")
        return x
    if not isinstance(x, Const):
        raise Unsupported("an expand of a weight")
    if any(w is None or w is BATCH for w in wanted):
        known = tuple(imp.batch if w is BATCH else w for w in wanted)
        if None in known:
            raise Unsupported("an expand to an unknown shape")
        wanted = known
    dims = broadcast_dims(x.dims, wanted)
    if dims is None:
        raise imp.fail(node, f"cannot expand {list(x.dims)} to {list(wanted)}")
    return Const(broadcast_values(x, dims), dims)


def _equal(imp: Importer, i: int, node, inputs: list) -> Const:
    return elementwise([imp.const(v, node, "an operand") if isinstance(v, Const) else _refuse(v) for v in inputs], lambda a, b: int(a == b))


def _where(imp: Importer, i: int, node, inputs: list) -> Const:
    return elementwise([imp.const(v, node, "an operand") if isinstance(v, Const) else _refuse(v) for v in inputs], lambda c, a, b: a if c else b)


def _tile(imp: Importer, i: int, node, inputs: list) -> Const:
    x, repeats = inputs[0], imp.const(inputs[1], node, "its repeats").values
    if not isinstance(x, Const) or len(repeats) != len(x.dims) or any(not isinstance(r, int) or r < 1 for r in repeats):
        raise Unsupported("a tile of other than a constant")
    dims = tuple(d * r for d, r in zip(x.dims, repeats))
    if x.values is None or math.prod(dims) > SMALL:
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


def _refuse(value):
    raise Unsupported("on an activation (groupcost reads it in shape arithmetic only)")


FOLDED = {"Range": _range, "Expand": _expand, "Equal": _equal, "Where": _where, "Tile": _tile}
"""Shape arithmetic beyond Shape, Gather, Concat and the element-wise operators (groupcost.formats.onnx.shapes)."""
