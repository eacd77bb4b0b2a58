"""Gather and GatherND: shape arithmetic on constants, learned tables gathered by a fixed index, and
positions of an activation picked by a constant index.

A Gather of an activation by a constant index (a class token `x[:, 0]`, a chosen branch) is a `slice`,
and a `reshape` without the axis where the index is one number. A Gather of small constants (a dimension of `x.shape`, an index grid) is evaluated. A Gather or
GatherND of a learned table by a constant index (LeViT's `attention_biases[:, attention_bias_idxs]`,
Swin's `relative_position_bias_table[relative_position_index]`) is a `Table`: the table counts
once, as PyTorch counts it, whatever the gathered tensor's size. Its views (Reshape, Transpose,
Unsqueeze ...) keep it a table; added to an activation it is one `bias_table` layer.
"""

from __future__ import annotations

import math

from groupcost.formats.onnx.constants import MADE_BY_EXPORTER, PARAMETER_NAME
from groupcost.formats.onnx.decomposed import scalar
from groupcost.formats.onnx.folding import evaluated
from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.names import PRODUCER, clean
from groupcost.formats.onnx.tied import merged_fill
from groupcost.formats.onnx.values import SMALL, UNFOLDED_EXPORT, Act, ChannelsLast, Const, Table, Unsupported, Weight, attributes
from groupcost.formats.onnx.weights import weight_side
from groupcost.ops import LAYER_TYPES, format_shape

_FLOATS = (1, 10, 11, 16)  # float, float16, double, bfloat16: a table's values
_INTS = (6, 7)  # int32, int64: an index's


def _learned(imp: Importer, name: str, value) -> str | None:
    """The initializer a float tensor comes from (`value` a Weight names it), or None."""
    root = value.name if isinstance(value, Weight) else imp.root(name)
    tensor = imp.initializers.get(root)
    return root if tensor is not None and tensor.data_type in _FLOATS else None


def _index_dims(imp: Importer, name: str, index) -> tuple[int, ...]:
    """The dims of a fixed integer index: a constant, or an integer initializer too large to read."""
    if isinstance(index, Const):
        return tuple(index.dims)
    tensor = imp.initializers.get(index.name if isinstance(index, Weight) else imp.root(name))
    if isinstance(index, Weight) and tensor is not None and tensor.data_type in _INTS:
        return tuple(index.dims)
    raise Unsupported("a gather by an index computed from activations")


def _gather(imp: Importer, i: int, node, inputs: list):
    data, index = inputs[0], inputs[1]
    axis = attributes(node).get("axis", 0)
    if isinstance(data, ChannelsLast):
        raise Unsupported("a gather from a channels-last view")  # the engine makes it a layer and asks again
    if isinstance(data, Act):
        return _selected(imp, i, node, data, imp.const(index, node, "its indices"), axis)
    table = _learned(imp, node.input[0], data) if isinstance(data, (Weight, Const)) else None
    if table is not None and (MADE_BY_EXPORTER.fullmatch(table) or not PARAMETER_NAME.fullmatch(table)) and math.prod(data.dims) > SMALL:
        raise Unsupported(f"a gather of {list(data.dims)} values the exporter computed ('{table}'), which may hold a parameter folded in "
                          f"(a relative position bias already gathered): {UNFOLDED_EXPORT}")
    if table is not None:
        dims = tuple(data.dims)
        axis %= max(len(dims), 1)
        return Table(table, math.prod(imp.initializers[table].dims), (*dims[:axis], *_index_dims(imp, node.input[1], index), *dims[axis + 1:]), i)
    data, index = imp.const(data, node, "its data"), imp.const(index, node, "its indices")
    return gathered_constant(imp, node, data, index, axis)


def _selected(imp: Importer, i: int, node, x: Act, index: Const, axis: int) -> Act:
    """x[:, k] or x[..., a:b] by a constant index: a `slice` along the axis (a class token, a chosen branch),
    then a `reshape` without the axis where the index is one number."""
    rank = len(x.shape) + 1
    if not -rank <= axis < rank or axis % rank == 0:
        raise Unsupported("a gather along the batch")
    axis %= rank
    size = x.shape[axis - 1]
    if any(not isinstance(k, int) for k in index.values):
        raise Unsupported("a gather by an unknown index")
    if any(not -size <= k < size for k in index.values):
        raise imp.fail(node, f"index {list(index.values)} outside {size} positions of axis {axis}")
    picks = [k % size for k in index.values]
    if len(index.dims) > 1 or not picks or picks != list(range(picks[0], picks[0] + len(picks))):
        raise Unsupported(f"a gather of positions {picks[:8]} of an activation (groupcost reads a run of them)")
    start, stop = picks[0], picks[-1] + 1
    y = x if (start, stop) == (0, size) and x.channels is None else imp.layer(i, node, "slice", LAYER_TYPES["slice"](start=start, stop=stop, dim=axis), x)
    if index.dims:
        return y
    dims = (*y.shape[:axis - 1], *y.shape[axis:])
    if not dims:
        raise Unsupported("a gather that leaves the batch alone")
    return imp.layer(i, node, "reshape", LAYER_TYPES["reshape"](shape=dims), y)


def gathered_constant(imp: Importer, node, data: Const, index: Const, axis: int) -> Const:
    """numpy.take(data, index, axis) of two constants: values unknown past SMALL elements."""
    rank = len(data.dims)
    if not rank:
        raise imp.fail(node, "gathers from a scalar")
    axis %= rank
    outer, width, inner = math.prod(data.dims[:axis]), data.dims[axis], math.prod(data.dims[axis + 1:])
    dims = (*data.dims[:axis], *index.dims, *data.dims[axis + 1:])
    if math.prod(dims) > SMALL:
        return Const(None, dims)
    picks = []
    for k in index.values:
        if not isinstance(k, int) or not -width <= k < width:
            raise imp.fail(node, f"index {k} outside {width} values") if isinstance(k, int) else Unsupported("a gather by an unknown index")
        picks.append(k % width)
    values = tuple(data.values[(o * width + k) * inner + r] for o in range(outer) for k in picks for r in range(inner))
    return Const(values, dims)


def _gather_nd(imp: Importer, i: int, node, inputs: list):
    data, index = inputs[0], inputs[1]
    if attributes(node).get("batch_dims", 0):
        raise Unsupported("a GatherND with batch dims")
    table = _learned(imp, node.input[0], data) if isinstance(data, (Weight, Const)) else None
    if table is None:
        raise Unsupported("a GatherND of other than a learned table")
    index_dims = _index_dims(imp, node.input[1], index)
    if not index_dims or index_dims[-1] > len(data.dims):
        raise imp.fail(node, f"indices {list(index_dims)} do not fit data {list(data.dims)}")
    return Table(table, math.prod(imp.initializers[table].dims), (*index_dims[:-1], *data.dims[index_dims[-1]:]), i)


def _reshaped(imp: Importer, node, table: Table, inputs: list) -> Table:
    dims = list(imp.const(inputs[1], node, "its target shape").values)
    dims = [table.dims[k] if d == 0 and k < len(table.dims) else d for k, d in enumerate(dims)]
    total = math.prod(table.dims)
    if dims.count(-1) == 1 and all(isinstance(d, int) for d in dims):
        known = math.prod(d for d in dims if d != -1)
        dims[dims.index(-1)] = total // known if known and total % known == 0 else -1
    if any(not isinstance(d, int) or d < 0 for d in dims) or math.prod(dims) != total:
        raise imp.fail(node, f"cannot reshape a gathered table of {list(table.dims)} to {dims}")
    return Table(table.name, table.size, tuple(dims), table.first)


def _transposed(imp: Importer, node, table: Table, inputs: list) -> Table:
    perm = tuple(attributes(node).get("perm", range(len(table.dims) - 1, -1, -1)))
    if sorted(p % max(len(table.dims), 1) for p in perm) != list(range(len(table.dims))):
        raise imp.fail(node, f"perm {list(perm)} does not fit a gathered table of {list(table.dims)}")
    return Table(table.name, table.size, tuple(table.dims[p] for p in perm), table.first)


def _squeezed(imp: Importer, node, table: Table, inputs: list) -> Table:
    axes = imp.axes(node, inputs)
    if node.op_type == "Squeeze":
        rank = len(table.dims)
        gone = {a % rank for a in axes} if axes else {k for k, d in enumerate(table.dims) if d == 1}
        return Table(table.name, table.size, tuple(d for k, d in enumerate(table.dims) if k not in gone), table.first)
    rank = len(table.dims) + len(axes or ())
    added, rest = {a % rank for a in axes or ()}, iter(table.dims)
    return Table(table.name, table.size, tuple(1 if k in added else next(rest) for k in range(rank)), table.first)


def _row(imp: Importer, node, table: Table, index) -> Table:
    """One row of a gathered table (EfficientViT's `biases[head]`, one per head): its share of the table, counted
    where it is added. Every row must be gathered so, each once (the table's readers are one Gather per row), so
    that the rows add up to the table PyTorch counts."""
    axis = attributes(node).get("axis", 0)
    if table.row is not None or not table.dims or axis % len(table.dims) != 0 or not isinstance(index, Const) or index.dims or not isinstance(index.values[0], int):
        raise Unsupported("a Gather of a learned table gathered by an index, other than one row of it by a number")
    rows = table.dims[0]
    readers = [imp.order[k] if k >= 0 else None for k in imp.consumers.get(node.input[0], [])]
    picked = []
    for reader in readers:
        by_row = reader is not None and reader.op_type == "Gather" and attributes(reader).get("axis", 0) % len(table.dims) == 0
        value = imp.env.get(reader.input[1]) if by_row else None
        if by_row and value is None:  # a later row's index, a Constant node after this one in the file's order (YOLOS's mid position rows)
            value = scalar(imp, reader.input[1])
            value = Const((value,), ()) if isinstance(value, int) else None
        picked.append(value.values[0] % rows if isinstance(value, Const) and not value.dims and isinstance(value.values[0], int) else None)
    if sorted(picked, key=lambda k: -1 if k is None else k) != list(range(rows)) or table.size % rows:
        raise Unsupported(f"rows of a learned table gathered by an index, where its {rows} rows are not each gathered once by a number")
    return Table(table.name, table.size // rows, table.dims[1:], table.first, index.values[0] % rows)


_TABLE_VIEWS = {"Reshape": _reshaped, "Transpose": _transposed, "Squeeze": _squeezed, "Unsqueeze": _squeezed,
                "Cast": lambda imp, node, table, inputs: table}


def tables_and_weights(imp: Importer, node, inputs: list):
    """What the engine reads before any handler: a view of a gathered table (a Table again), an operator on
    constants alone (groupcost.formats.onnx.folding), or arithmetic on weights (groupcost.formats.onnx.weights);
    None otherwise."""
    if inputs and isinstance(inputs[0], Table) and node.op_type == "Gather":
        return _row(imp, node, inputs[0], inputs[1])
    if inputs and isinstance(inputs[0], Table) and node.op_type not in ("Add", "Identity"):
        view = _TABLE_VIEWS.get(node.op_type)
        if view is None:
            raise Unsupported(f"a {node.op_type} of a learned table gathered by an index")
        return view(imp, node, inputs[0], inputs)
    if any(isinstance(v, Table) for v in inputs[1:]) and node.op_type not in ("Add", "Identity"):
        raise Unsupported(f"a {node.op_type} of a learned table gathered by an index")
    constant = evaluated(imp, node, inputs)
    if constant is not None:
        return constant
    if inputs and isinstance(inputs[0], Const) and node.input[0]:
        inputs = [_parameter(imp, node.input[0], inputs[0]), *inputs[1:]]
    if node.op_type == "Transpose" and inputs and isinstance(inputs[0], (Weight, Const)):
        return transposed_constant(imp, node, inputs[0])
    if node.op_type in ("Squeeze", "Unsqueeze") and inputs and isinstance(inputs[0], Weight):
        view = _squeezed(imp, node, Table(inputs[0].name, 0, inputs[0].dims, -1), inputs)
        return Weight(inputs[0].name, view.dims)
    return weight_side(imp, node, inputs)


def _parameter(imp: Importer, name: str, value: Const) -> Const | Weight:
    """A parameter of ≤ 8 values (read as a Const, as small initializers are) as the Weight it is, so that
    its name, and its count, survive a view (`gamma.view(-1, 1, 1)`)."""
    root = imp.root(name)
    tensor = imp.initializers.get(root)
    if tensor is None or tensor.data_type not in _FLOATS or not PARAMETER_NAME.fullmatch(root) or MADE_BY_EXPORTER.fullmatch(root):
        return value
    return Weight(root, tuple(value.dims))


def transposed_constant(imp: Importer, node, x: Weight | Const) -> Weight | Const:
    """A weight's or a constant's axes permuted (a positional table moved channels first): its values
    too where they are known."""
    rank = len(x.dims)
    perm = tuple(p % max(rank, 1) for p in attributes(node).get("perm", range(rank - 1, -1, -1)))
    if sorted(perm) != list(range(rank)):
        raise imp.fail(node, f"perm {list(perm)} does not fit a tensor of {list(x.dims)}")
    dims = tuple(x.dims[p] for p in perm)
    if isinstance(x, Weight):
        return Weight(x.name, dims)
    if x.values is None:
        return Const(None, dims)
    strides = [math.prod(x.dims[k + 1:]) for k in range(rank)]
    values = []
    for flat in range(math.prod(dims)):
        index, rest = 0, flat
        for axis in reversed(range(rank)):
            rest, k = divmod(rest, dims[axis])
            index += k * strides[perm[axis]]
        values.append(x.values[index])
    return Const(tuple(values), dims)


def table_add(imp: Importer, i: int, node, kind: str, x, table: Table, shared: int = 0) -> Act:
    """x + a gathered table of x's own shape (its batch axis 1), or of its shape after its first `shared` dims (the
    windows merged with the batch): `bias_table`, the table (or a row's share of it) counted once."""
    if kind != "add" or not isinstance(x, Act) or x.channels is not None:
        raise Unsupported(f"{kind} of a learned table gathered by an index (groupcost reads it added to an activation)")
    rank = len(x.shape) + 1 - shared
    dims = table.dims
    full = (1,) * (rank - len(dims)) + tuple(dims)
    over_channels = not shared and len(full) > 2 and full[1] == 1 and full[2:] == x.shape[1:]  # the same values for every channel
    if shared > 1 or len(dims) > rank or full[0] != 1 or (full[1:] != x.shape[shared:] and not over_channels):
        raise Unsupported(f"a table gathered to {list(dims)} added to N×{format_shape(x.shape)} (broadcasting)")
    c = x.shape[0]
    one_table = bool(shared) or over_channels or table.row is not None  # the same values for every index of x's first dim
    if table.size % c and not one_table:
        raise Unsupported(f"a table of {table.size} values added to {c} channels")
    key = table.name if table.row is None else f"{table.name}[{table.row}]"
    fill = merged_fill(imp.initializers.get(table.name), imp.folder)  # untrained tables of zeros, merged: each block's own
    first = imp.tables.setdefault(f"{key} at {imp.paths[i]}" if fill else key, i)
    if first != i:
        raise Unsupported(f"the table '{key}' is added again (after node '{imp.order[first].name}'): its parameters would count twice")
    layer = LAYER_TYPES["bias_table"](entries=table.size, shared=True) if one_table else LAYER_TYPES["bias_table"](entries=table.size // c)
    return imp.layer(i, node, "bias_table", layer, x, _own_table_step(imp, table) if fill else _table_step(imp, table))


def _table_step(imp: Importer, table: Table) -> str:
    """The step's name: the table's parameter path (`blocks.0.attn.attention_biases`; groupcost's own
    `NAME.table` is NAME), else the module path of the node that gathered it."""
    name = table.name
    if PARAMETER_NAME.fullmatch(name) and not MADE_BY_EXPORTER.fullmatch(name):
        return clean(name[: -len(".table")] if name.endswith(".table") and imp.model.producer_name == PRODUCER else name)
    return imp.step_name(table.first, "bias_table")


def _own_table_step(imp: Importer, table: Table) -> str:
    """A merged fill's step name: the gathering node's module path and the parameter's own name (`blocks.1` and
    `attention_biases` of the one initializer `blocks.0.attention_biases`), else as _table_step names it."""
    path, name = imp.paths[table.first], table.name
    if path and PARAMETER_NAME.fullmatch(name) and not MADE_BY_EXPORTER.fullmatch(name):
        return clean(f"{path}.{name.rsplit('.', 1)[-1]}")
    return imp.step_name(table.first, "bias_table")


GATHERS = {"Gather": _gather, "GatherND": _gather_nd}
"""The gathers groupcost reads: of constants (shape arithmetic) and of learned tables."""
