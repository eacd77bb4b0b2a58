"""Constants built from stored tensors by views, transposes and concatenations, evaluated from the file.

torch.export folds a detection head's anchor grid level by level and leaves a large level as a Reshape of its own
initializer, joined to the others by a Concat the handlers cannot read (an initializer may hold a parameter folded
in). The values are read here; a join is a constant only where they prove it is an anchor grid: each level's
cell centres (x + 0.5, y + 0.5), rows first, which no learned table holds.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from groupcost.formats.onnx.values import Act, Const, Weight, attributes, tensor_values

if TYPE_CHECKING:
    from groupcost.formats.onnx.importer import Importer, Handler

ANCHOR_LIMIT = 1 << 20
"""Most anchor values read from a file: 2 × the cells of every level (16,800 at 640 × 640)."""

JOINS = frozenset({"Reshape", "Identity", "Unsqueeze", "Squeeze", "Flatten", "Transpose", "Concat"})


def stored_values(imp: Importer, tensor: str, depth: int = 0, initializers: bool = True) -> tuple[tuple, tuple[int, ...]] | None:
    """Values and dims of a tensor built from stored tensors by views, transposes and concatenations, or None;
    from Constant nodes only where not `initializers` (an initializer may be a parameter)."""
    root = imp.root(tensor)
    if initializers and root in imp.initializers:
        stored = imp.initializers[root]
        values = tensor_values(stored, imp.folder, ANCHOR_LIMIT)
        return None if values is None else (tuple(values), tuple(stored.dims))
    k = imp.producers.get(root)
    if k is None or depth > 16:
        return None
    node = imp.order[k]
    attrs = attributes(node)
    if node.op_type == "Constant":
        stored = attrs.get("value")
        values = tensor_values(stored, imp.folder, ANCHOR_LIMIT) if stored is not None else None
        return None if values is None else (tuple(values), tuple(stored.dims))
    if node.op_type not in JOINS:
        return None
    parts = [stored_values(imp, t, depth + 1, initializers) for t in (node.input if node.op_type == "Concat" else node.input[:1])]
    if any(p is None for p in parts):
        return None
    values, dims = parts[0]
    if node.op_type == "Concat":
        return _concatenated(parts, attrs.get("axis", 0))
    if node.op_type == "Transpose":
        return _transposed(values, dims, tuple(attrs.get("perm", range(len(dims) - 1, -1, -1))))
    if node.op_type == "Identity":
        return values, dims
    return None if (out := _viewed(imp, node, attrs, dims, depth)) is None else (values, out)


def _viewed(imp: Importer, node, attrs: dict, dims: tuple[int, ...], depth: int) -> tuple[int, ...] | None:
    """The dims a Reshape, Unsqueeze, Squeeze or Flatten gives `dims` (the values unchanged), or None."""
    if node.op_type == "Flatten":
        axis = attrs.get("axis", 1) % (len(dims) + 1)
        return (math.prod(dims[:axis]), math.prod(dims[axis:]))
    second = stored_values(imp, node.input[1], depth + 1) if len(node.input) > 1 and node.input[1] else None
    given = tuple(int(v) for v in second[0]) if second is not None else tuple(attrs.get("axes", ()))
    if node.op_type == "Reshape":
        wanted = [dims[k] if d == 0 and k < len(dims) else d for k, d in enumerate(given)]
        if wanted.count(-1) == 1:
            rest = math.prod(d for d in wanted if d != -1)
            wanted[wanted.index(-1)] = math.prod(dims) // rest if rest else -1
        return tuple(wanted) if all(d >= 0 for d in wanted) and math.prod(wanted) == math.prod(dims) else None
    if node.op_type == "Unsqueeze":
        rank = len(dims) + len(given)
        added = {a % rank for a in given}
        rest = iter(dims)
        return tuple(1 if k in added else next(rest) for k in range(rank))
    removed = {a % len(dims) for a in given} if given else {k for k, d in enumerate(dims) if d == 1}
    return tuple(d for k, d in enumerate(dims) if k not in removed) if all(dims[k] == 1 for k in removed) else None


def _concatenated(parts: list, axis: int) -> tuple[tuple, tuple[int, ...]] | None:
    rank = len(parts[0][1])
    axis %= max(rank, 1)
    if any(len(d) != rank or d[:axis] != parts[0][1][:axis] or d[axis + 1:] != parts[0][1][axis + 1:] for _, d in parts):
        return None
    dims = (*parts[0][1][:axis], sum(d[axis] for _, d in parts), *parts[0][1][axis + 1:])
    out: list = []
    for k in range(math.prod(dims[:axis])):
        for values, d in parts:
            block = math.prod(d[axis:])
            out.extend(values[k * block:(k + 1) * block])
    return tuple(out), dims


def _transposed(values: tuple, dims: tuple[int, ...], perm: tuple[int, ...]) -> tuple[tuple, tuple[int, ...]] | None:
    if sorted(perm) != list(range(len(dims))):
        return None
    out_dims = tuple(dims[p] for p in perm)
    strides = [math.prod(dims[k + 1:]) for k in range(len(dims))]
    moved = [strides[p] for p in perm]
    out = []
    for index in range(len(values)):
        source, rest = 0, index
        for size, stride in zip(reversed(out_dims), reversed(moved)):
            rest, position = divmod(rest, size)
            source += position * stride
        out.append(values[source])
    return tuple(out), out_dims


def grids_of(xs: tuple[float, ...], ys: tuple[float, ...]) -> list[tuple[int, int]] | None:
    """Each level's (h, w) where the cells are each level's centres (x + 0.5, y + 0.5) in row-major order, else None."""
    levels, start, cells = [], 0, len(xs)
    while start < cells:
        w = 1
        while start + w < cells and xs[start + w] == w + 0.5 and ys[start + w] == 0.5:
            w += 1
        h = 1
        while start + (h + 1) * w <= cells and ys[start + h * w] == h + 0.5 and xs[start + h * w] == 0.5:
            h += 1
        levels.append((h, w))
        start += h * w
    return levels if levels else None



def anchor_pairs(values: tuple, dims: tuple[int, ...]) -> bool:
    """The values are cell centres, A×2 ((x, y) per cell) or 2×A (the xs, then the ys), level after level."""
    if len(dims) != 2 or 2 not in dims or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return False
    cells = dims[0] if dims[1] == 2 else dims[1]
    xs, ys = (values[0::2], values[1::2]) if dims[1] == 2 else (values[:cells], values[cells:])
    grids = grids_of(tuple(float(v) for v in xs), tuple(float(v) for v in ys))
    if grids is None:
        return False
    expected_xs = [c + 0.5 for h, w in grids for _ in range(h) for c in range(w)]
    expected_ys = [r + 0.5 for h, w in grids for r in range(h) for _ in range(w)]
    return list(xs) == expected_xs and list(ys) == expected_ys


def joining_anchors(concat: Handler) -> Handler:
    """`concat`, except that a Concat of stored tensors (no activation) whose values are an anchor grid is that constant."""

    def handle(imp: Importer, i: int, node, inputs: list):
        values = [v for v in inputs if v is not None]
        if values and any(isinstance(v, Weight) for v in values) and all(isinstance(v, (Const, Weight)) for v in values) and not any(isinstance(v, Act) for v in values):
            joined = stored_values(imp, node.output[0])
            if joined is not None and anchor_pairs(*joined):
                return Const(joined[0], joined[1])
        return concat(imp, i, node, inputs)

    return handle
