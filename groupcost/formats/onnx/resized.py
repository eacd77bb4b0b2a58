"""A learned positional table resampled at run time to the input's grid, then added to the tokens.

ViT-style models that take any input size (DPT, YOLOS, Hugging Face's ViT with its position embeddings
interpolated) keep a learned (1, 1 + N, C) table and, on every forward, take its class-token row
`pos[:, :1]` and its N grid rows `pos[0, 1:]`, view the grid rows as a √N × √N map, resize it
(bilinear or bicubic) to the input's grid H' × W', and concatenate the two parts again before adding them
to the 1 + H'·W' tokens. The resampling is arithmetic on a parameter: PyTorch counts the table once,
(1 + N)·C, and it costs no MACs. The exports without constant folding write it as a Slice and a Gather of
the initializer, views, a Resize and a Concat. Here the Gather's `Table` (groupcost.formats.onnx.tables)
stays a Table through the Slice, the Resize and the Concat with a slice of its own initializer; its Add to the
tokens is then one `bias_table` of the table's size. A Concat with anything else is refused by name, as is a
table resized along other than its trailing axes.

TorchScript's constant folding computes the whole chain into exporter-made constants (the parameter's name
is lost): that file stays refused by name (a Resize of values the exporter computed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from groupcost.formats.onnx.constants import MADE_BY_EXPORTER, PARAMETER_NAME
from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.tables import table_add
from groupcost.formats.onnx.values import BATCH, UNFOLDED_EXPORT, ChannelsLast, Const, Table, Unsupported, Weight, attributes

OnWeights = Callable[[Importer, Any, list], Any]


def resized_tables(read: OnWeights) -> OnWeights:
    """The engine's reading of constants and weights `read`, and before it a Slice or Resize of a gathered table
    (a Table again) and a Concat joining parts of one table."""

    def handle(imp: Importer, node, inputs: list):
        if inputs and isinstance(inputs[0], Table) and node.op_type == "Slice":
            return _sliced(imp, node, inputs[0], inputs)
        if inputs and isinstance(inputs[0], (Table, Weight)) and node.op_type == "Resize":
            return _resized(imp, node, _as_table(imp, node, inputs[0]), inputs)
        if inputs and isinstance(inputs[0], Table) and node.op_type == "Shape":
            return _shape(node, inputs[0])
        if node.op_type == "Concat" and any(isinstance(v, Table) for v in inputs):
            return _joined(imp, node, inputs)
        if node.op_type == "Add" and len(inputs) == 2 and {type(v) for v in inputs} == {ChannelsLast, Table}:
            return _added_to_tokens(imp, node, inputs)
        return read(imp, node, inputs)

    return handle


def _as_table(imp: Importer, node, value: Table | Weight) -> Table:
    """A learned tensor resized (YOLOS's grid rows, sliced from the table without a Gather): the table it is part of,
    counted whole where it is added."""
    if isinstance(value, Table):
        return value
    if MADE_BY_EXPORTER.fullmatch(value.name) or not PARAMETER_NAME.fullmatch(value.name):
        raise Unsupported(f"a resize of {list(value.dims)} values the exporter computed ('{value.name}'), which may hold a "
                          f"parameter folded in (a position table): {UNFOLDED_EXPORT}")
    if value.standardised is not None or value.name not in imp.initializers:
        raise Unsupported(f"a resize of the weight '{value.name}'")
    _counted_whole(imp, value.name)
    return Table(value.name, math.prod(imp.initializers[value.name].dims), value.dims, imp.order_index[id(node)])


def _counted_whole(imp: Importer, name: str) -> None:
    """The slices of a position table (its class token's row, its grid rows) are parts of the table, counted whole
    where it is added: no longer blocks a layer reads (groupcost.formats.onnx.weight_slices)."""
    for tensor, (sliced, _) in list(imp.weight_slices.items()):
        if sliced == name:
            del imp.weight_slices[tensor]


def _shape(node, table: Table) -> Const:
    """The dims of a gathered table (the grid size a resampling computes from them): a constant."""
    attrs = attributes(node)
    dims = table.dims[attrs.get("start", 0):attrs["end"]] if "end" in attrs else table.dims[attrs.get("start", 0):]
    return Const(tuple(dims), (len(dims),))


def _added_to_tokens(imp: Importer, node, inputs: list) -> ChannelsLast:
    """Tokens N×L×C (a channels-last view of C×L) plus a table of (1, L, C): the table, channels first, added to C×L."""
    x = next(v for v in inputs if isinstance(v, ChannelsLast))
    table = next(v for v in inputs if isinstance(v, Table))
    dims = table.dims
    moved = Table(table.name, table.size, (*dims[:-len(x.x.shape)], dims[-1], *dims[-len(x.x.shape):-1]), table.first, table.row)
    return ChannelsLast(table_add(imp, imp.order_index[id(node)], node, "add", x.x, moved), x.made_at)


def _sliced(imp: Importer, node, table: Table, inputs: list) -> Table:
    """A part of a gathered table (its grid rows after the class token's): the same table, its dims narrowed."""
    starts, ends, axes, steps = imp.slice_bounds(node, inputs)
    if not all(isinstance(v, int) for part in (starts, ends, axes, steps) for v in part):
        raise Unsupported("a slice of a learned table by unknown bounds")
    rank = len(table.dims)
    dims = list(table.dims)
    for start, stop, axis, step in zip(starts, ends, axes, steps):
        if not -rank <= axis < rank or step < 1:
            raise Unsupported(f"a slice of a learned table of {list(table.dims)} along axis {axis} by step {step}")
        dims[axis % rank] = len(range(dims[axis % rank])[start:stop:step])
    if 0 in dims:
        raise Unsupported(f"a slice that leaves nothing of a learned table of {list(table.dims)}")
    return Table(table.name, table.size, tuple(dims), table.first, table.row)


def _resized(imp: Importer, node, table: Table, inputs: list) -> Table:
    """A gathered table viewed as a map (1, C, h, w) and resized to another grid: the same table, the map's new dims."""
    attrs = attributes(node)
    if attrs.get("axes") is not None or attrs.get("mode", "nearest") not in ("nearest", "linear", "cubic"):
        raise Unsupported("a resize of a learned table along chosen axes or in another mode")
    dims = table.dims
    sizes = inputs[3] if len(inputs) > 3 else None
    scales = inputs[2] if len(inputs) > 2 else None
    if isinstance(sizes, Const) and sizes.dims != (0,):
        out = tuple(BATCH if v is BATCH else v for v in imp.const(sizes, node, "its sizes").values)
    elif isinstance(scales, Const) and scales.dims != (0,):
        factors = imp.const(scales, node, "its scales").values
        if len(factors) != len(dims) or any(not isinstance(f, (int, float)) or f <= 0 for f in factors):
            raise Unsupported(f"a resize of a learned table of {list(dims)} by scales {list(factors)}")
        out = tuple(math.floor(n * f) for n, f in zip(dims, factors))
    else:
        raise Unsupported("a resize of a learned table by unknown sizes")
    if len(out) != len(dims) or len(dims) < 3 or tuple(out[:2]) != tuple(dims[:2]) or any(not isinstance(n, int) or n < 1 for n in out):
        raise Unsupported(f"a resize of a learned table of {list(dims)} to {list(out)} (groupcost reads one along its trailing axes)")
    return Table(table.name, table.size, tuple(out), table.first, table.row)


def _joined(imp: Importer, node, inputs: list) -> Table:
    """Parts of one learned table concatenated again (the class token's row and the resized grid rows): that table."""
    parts = [v for v in inputs if v is not None]
    names = {v.name for v in parts if isinstance(v, (Table, Weight))}
    if len(names) != 1 or not all(isinstance(v, Table) or (isinstance(v, Weight) and v.standardised is None) for v in parts) \
            or any(isinstance(v, Table) and v.row is not None for v in parts):
        raise Unsupported("a Concat of a learned table gathered by an index with other tensors")
    rank = len(parts[0].dims)
    axis = attributes(node).get("axis", 0)
    if any(len(v.dims) != rank for v in parts) or not -rank <= axis < rank:
        raise Unsupported(f"a Concat of parts of a learned table of dims {[list(v.dims) for v in parts]}")
    axis %= rank
    if any(v.dims[:axis] + v.dims[axis + 1:] != parts[0].dims[:axis] + parts[0].dims[axis + 1:] for v in parts):
        raise Unsupported(f"a Concat of parts of a learned table of dims {[list(v.dims) for v in parts]}")
    _counted_whole(imp, next(iter(names)))
    table = next(v for v in parts if isinstance(v, Table))
    dims = (*table.dims[:axis], sum(v.dims[axis] for v in parts), *table.dims[axis + 1:])
    return Table(table.name, table.size, dims, min(v.first for v in parts if isinstance(v, Table)))
