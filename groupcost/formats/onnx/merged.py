"""Operators on a tensor whose first dim merges the batch with others, read in the file's own layout.

MaxViT's block and grid attention partition a map into windows, `view(-1, w, w, C)`: the batch merged with the
windows, (N·S)×w×w×C. Its linears and norms read that as sequences (a `Sequences` view, the channels first);
its attention reads it as the file lays it out: a chunk of qkv along the last axis, q·kᵀ and A·v (products of two
such tensors), a softmax over the keys, a learned relative-position table added to every window's logits.

For a batch of 1 (the only batch such a merge is read for: groupcost.formats.onnx.arranged) the file's tensor
(N·S)×D1×…×Dk is y = S×D1×…×Dk as groupcost's activation of one sample: a `BatchMerged` view of y. An operator
on it is the same operator on y with its axes counted one further (axis 0, the merged dim, is refused by name):
each handler then reads y as it reads any activation, and what it makes is merged again. A Reshape or Transpose
of it is a rearrangement again (an `Arranged` value, the batch merged in its first dim); a channels' operator (a
layer norm, a linear) reads it as sequences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from groupcost.formats.onnx.arranged import reshaped, segments
from groupcost.formats.onnx.importer import ON_CHANNELS_LAST, Importer, _positive_axis
from groupcost.formats.onnx.tables import table_add
from groupcost.formats.onnx.values import (BATCH, UNKNOWN, BatchTimes, Act, Arranged, ChannelsLast, Const, Cropped, GroupedView, Sequences, Table, Unsupported, Weight,
                                           attributes)
from groupcost.ops import LAYER_TYPES


@dataclass(frozen=True)
class BatchMerged:
    """The file's (N·S)×D1×…×Dk as y = S×D1×…×Dk, read for a batch of 1."""

    y: Act


_REARRANGING = frozenset({"Reshape", "Transpose", "Shape", "Flatten"})
_CHANNELS = frozenset({"LayerNormalization", "Gemm"})  # operators on the channels alone: they read sequences
_AXIS = frozenset({"Softmax", "LogSoftmax", "Concat", "Split", "Gather"})  # an `axis` attribute to count one further
_ELEMENTWISE = frozenset({"Add", "Sub", "Mul", "Div"})
_AXES_INPUT = {"Slice": 3, "Squeeze": 1, "Unsqueeze": 1, "ReduceMean": 1, "ReduceSum": 1, "ReduceMax": 1}  # their axes, as an input (newer opsets)


def _lifted_axis(axis: int, node) -> int:
    if axis == 0:
        raise Unsupported(f"a {node.op_type} along the batch merged with other dims")
    return axis + 1 if axis > 0 else axis


def _is_merged(value) -> bool:
    """Whether a value is the batch merged with other dims: sequences, or a rearrangement that merges it."""
    return isinstance(value, Sequences) or (isinstance(value, Arranged) and segments(value)[0] != (0,))


def _merged_view(imp: Importer, i: int, node, value):
    """Sequences, or a rearrangement that merges the batch, as BatchMerged (made once); anything else as it is."""
    if not _is_merged(value):
        return value
    key = ("merged", value)
    if key not in imp.views:
        if isinstance(value, Arranged):
            parts = segments(value)
            imp.views[key] = BatchMerged(_rearranged(imp, value, [parts[0][1:], *parts[1:]]))
        else:
            rank = len(value.x.shape) + 1
            imp.views[key] = BatchMerged(imp.layer(i, node, "permute", LAYER_TYPES["permute"](dims=(0, *range(2, rank), 1)), value.x))
    return imp.views[key]


def _rearranged(imp: Importer, view: Arranged, layout: list) -> Act:
    """The layers a rearrangement stands for, its factors put in `layout`'s order (the batch's partners first)."""
    node = imp.order[view.first]
    y = view.x
    if view.factors[1:] != y.shape:
        y = imp.layer(view.first, node, "reshape", LAYER_TYPES["reshape"](shape=view.factors[1:]), y)
    perm = tuple(f for part in layout for f in part)
    if perm != tuple(range(1, len(view.factors))):
        y = imp.layer(view.first, node, "permute", LAYER_TYPES["permute"](dims=(0, *perm)), y)
    dims = tuple(math.prod(view.factors[f] for f in part) for part in layout)
    if dims != y.shape:
        y = imp.layer(view.first, node, "reshape", LAYER_TYPES["reshape"](shape=dims), y)
    return y


def _batch_alone(value) -> bool:
    """Whether a value is a rearrangement that leaves the batch alone in its first dim, of rank 3 or more."""
    return isinstance(value, Arranged) and segments(value)[0] == (0,) and len(value.groups) >= 3


def _channels_last(imp: Importer, view: Arranged) -> ChannelsLast:
    """A rearrangement whose last dim a channels' operator reads, or that meets a channels-last view (MaxViT's windows
    put back to N×H×W×C, added to the block's input): its last dim as the channels, viewed channels last (made once)."""
    key = ("channels_last", view)
    if key not in imp.views:
        parts = segments(view)
        imp.views[key] = ChannelsLast(_rearranged(imp, view, [parts[-1], *parts[1:-1]]))
    return imp.views[key]


def _meeting_channels_last(imp: Importer, i: int, node, inputs: list) -> list:
    """A channels-last view of C×H×W and an activation H×W×C (the same file layout, N×H×W×C: MaxViT's one window put
    back) merged element by element: the activation moved channels first and viewed channels last, made once."""
    view = next((v for v in inputs if isinstance(v, ChannelsLast)), None)
    if view is None:
        return inputs
    c, *positions = view.x.shape
    file_order = (*positions, c)
    out = []
    for v in inputs:
        if isinstance(v, Act) and v.channels is None and v.shape == file_order and v.shape != view.x.shape:
            key = ("channels_last", v)
            if key not in imp.views:
                rank = len(v.shape) + 1
                imp.views[key] = ChannelsLast(imp.layer(i, node, "permute", LAYER_TYPES["permute"](dims=(0, rank - 1, *range(1, rank - 1))), v))
            v = imp.views[key]
        out.append(v)
    return out


def _as_sequences(imp: Importer, i: int, node, value: BatchMerged) -> Sequences:
    """y = S×D…×C as the sequences C×S×D… (a permute, made once)."""
    key = ("sequences", value)
    if key not in imp.views:
        rank = len(value.y.shape) + 1
        imp.views[key] = Sequences(imp.layer(i, node, "permute", LAYER_TYPES["permute"](dims=(0, rank - 1, *range(1, rank - 1))), value.y))
    return imp.views[key]


def _as_arranged(value: BatchMerged, first: int) -> Arranged:
    y = value.y
    rank = len(y.shape) + 1
    return Arranged(y, (BATCH, *y.shape), tuple(range(rank)), (2, *(1,) * (rank - 2)), first)


def _sequences_refused(node, inputs: list) -> bool:
    """Whether the engine's reading of sequences refuses this node (see Importer.convert)."""
    activations = [v for v in inputs if isinstance(v, (Act, ChannelsLast, GroupedView, Sequences, Arranged, Table))]
    return node.op_type not in ON_CHANNELS_LAST or any(not _is_merged(v) for v in activations) or _positive_axis(node) \
        or (node.op_type == "MatMul" and not any(isinstance(v, (Const, Weight)) for v in inputs)) \
        or any(isinstance(v, (Const, Weight)) and len(v.dims) > 1 and node.op_type != "MatMul" for v in inputs)


def batch_merged(imp: Importer, i: int, node, inputs: list) -> list | None:
    """The inputs the engine reads the node with; None where the node was read here, in the file's layout."""
    merged = any(isinstance(v, BatchMerged) for v in inputs)
    op = node.op_type
    if op == "Flatten" and merged:
        try:
            imp.env[node.output[0]] = _flattened(i, node, inputs[0], imp.batch)
        except Unsupported as exc:
            imp.unknown(i, node, inputs, exc.reason)
        return None
    if op in _REARRANGING:
        return [_as_arranged(v, i) if isinstance(v, BatchMerged) else v for v in inputs] if merged else inputs
    channels_op = op in _CHANNELS or (op == "MatMul" and len(inputs) > 1 and isinstance(inputs[1], (Weight, Const)))
    if (channels_op or any(isinstance(v, ChannelsLast) for v in inputs)) and any(_batch_alone(v) for v in inputs):
        inputs = [_channels_last(imp, v) if _batch_alone(v) else v for v in inputs]
    if op in _ELEMENTWISE:
        inputs = _meeting_channels_last(imp, i, node, inputs)
    if merged and channels_op:
        return [_as_sequences(imp, i, node, v) if isinstance(v, BatchMerged) else v for v in inputs]
    if not merged and (channels_op or not any(_is_merged(v) for v in inputs) or not _sequences_refused(node, inputs)):
        return inputs
    try:
        _lifted(imp, i, node, [_merged_view(imp, i, node, v) for v in inputs])
    except Unsupported as exc:
        imp.unknown(i, node, inputs, exc.reason)
    return None


def _flattened(i: int, node, value, batch: int) -> Arranged:
    """A Flatten of (N·S)×D1×…×Dk from an axis a ≥ 1: a rearrangement to (N·S·D1…D(a−1))×(Da…Dk)."""
    if not isinstance(value, BatchMerged):
        raise Unsupported("a flatten of a tensor whose batch is merged with other dims and of another")
    axis = attributes(node).get("axis", 1)
    rank = len(value.y.shape)
    if not 1 <= axis % rank < rank:
        raise Unsupported(f"a Flatten from axis {axis} of a tensor whose batch is merged with other dims")
    return reshaped(_as_arranged(value, i), (-1, math.prod(value.y.shape[axis % rank:])), batch)


def _lifted(imp: Importer, i: int, node, inputs: list) -> None:
    """The node on the merged tensors' y, its axes counted one further; its outputs merged again."""
    if any(v is not None and not isinstance(v, (BatchMerged, Const, Weight, Table)) for v in inputs):
        raise Unsupported("an operator on a tensor whose batch is merged with other dims and on another activation")
    table = next((v for v in inputs if isinstance(v, Table)), None)
    ys = [v.y if isinstance(v, BatchMerged) else v for v in inputs]
    if table is not None:
        imp.env[node.output[0]] = BatchMerged(_table_added(imp, i, node, ys, table))
        return
    handler = imp.operators.handlers.get(node.op_type) if node.domain in ("", "ai.onnx") else None
    if handler is None:
        raise Unsupported(f"a {node.op_type} of a tensor whose batch is merged with other dims")
    lifted_node, ys = _lifted_node(imp, node, ys)
    outputs = handler(imp, i, lifted_node, ys)
    if outputs is None:
        raise Unsupported(f"a {node.op_type} of a tensor whose batch is merged with other dims")
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    for name, value in zip(node.output, outputs):
        if isinstance(value, Cropped):
            value = imp.cropped(value)
        if isinstance(value, (ChannelsLast, GroupedView)):
            value = imp.materialized(i, node, value)
        if isinstance(value, Act):
            imp.env[name] = BatchMerged(value)
        elif isinstance(value, Const):
            imp.env[name] = value
        else:
            imp.env[name] = UNKNOWN
            raise Unsupported(f"a {node.op_type} of a tensor whose batch is merged with other dims")


def _lifted_node(imp: Importer, node, ys: list):
    """A copy of the node with its axes counted one further, and its inputs with their axes' constants so counted."""
    op = node.op_type
    lifted = type(node)()
    lifted.CopyFrom(node)
    for attribute in lifted.attribute:
        if attribute.name == "axis" and op in _AXIS:
            attribute.i = _lifted_axis(attribute.i, node)
        elif attribute.name == "axes" and op in ("Slice", "Squeeze", "Unsqueeze", "ReduceMean", "ReduceSum", "ReduceMax"):
            attribute.ints[:] = [_lifted_axis(a, node) for a in attribute.ints]
        elif attribute.name == "pads" and op == "Pad":
            attribute.ints[:] = _lifted_pads(list(attribute.ints))
        elif attribute.name in ("axis", "axes", "perm", "pads", "shape"):
            raise Unsupported(f"a {op} with `{attribute.name}` of a tensor whose batch is merged with other dims")
    ys = list(ys)
    if op == "Softmax" and imp.opset < 13 and not any(a.name == "axis" for a in node.attribute):
        raise Unsupported("a softmax (opset < 13) of a tensor whose batch is merged with other dims")
    if op in _AXES_INPUT:
        k = _AXES_INPUT[op]
        if op == "Slice" and (len(ys) <= k or ys[k] is None) and "starts" not in attributes(node):
            starts = imp.const(ys[1], node, "its starts").values
            ys = [*ys, *[None] * (k + 1 - len(ys))]
            ys[k] = Const(tuple(range(len(starts))), (len(starts),))
        if len(ys) > k and ys[k] is not None:
            axes = imp.const(ys[k], node, "its axes")
            ys[k] = Const(tuple(_lifted_axis(a, node) for a in axes.values), axes.dims)
    if op == "Pad" and not any(a.name == "pads" for a in node.attribute):
        if len(ys) > 3 and ys[3] is not None:
            raise Unsupported("a padding along chosen axes of a tensor whose batch is merged with other dims")
        pads = imp.const(ys[1], node, "its pads")
        ys[1] = Const(tuple(_lifted_pads(list(pads.values))), (len(pads.values) + 2,))
    if op == "Expand":
        wanted = list(imp.const(ys[1], node, "its shape").values)
        rank = len(ys[0].shape) if isinstance(ys[0], Act) else 0  # the file's rank: the merged dim, then y's others
        wanted = [1] * (rank - len(wanted)) + wanted  # broadcast from the right
        if not rank or len(wanted) != rank or not (wanted[0] in (1, -1, ys[0].shape[0]) or isinstance(wanted[0], BatchTimes)):
            raise Unsupported("an expand of the batch merged with other dims")
        ys[1] = Const((1, 1, *(1 if v == -1 else v for v in wanted[1:])), (len(wanted) + 1,))  # the merged dim as it is
    return lifted, ys


def _lifted_pads(pads: list) -> list:
    half = len(pads) // 2
    return [0, *pads[:half], 0, *pads[half:]]


def _table_added(imp: Importer, i: int, node, ys: list, table: Table) -> Act:
    """y (S×heads×…) + a learned table of heads×… (every window's logits, one table): the windows moved behind the
    heads, the table added once (`bias_table`, counted as PyTorch counts it), moved back."""
    if node.op_type != "Add" or len(ys) != 2:
        raise Unsupported(f"a {node.op_type} of a learned table and a tensor whose batch is merged with other dims")
    y = next(v for v in ys if isinstance(v, Act))
    dims = tuple(table.dims)
    while dims and dims[0] == 1 and len(dims) > len(y.shape) - 1:
        dims = dims[1:]
    if len(y.shape) < 3 or dims != y.shape[1:]:
        raise Unsupported(f"a table gathered to {list(table.dims)} added to windows of {list(y.shape[1:])}")
    moved = imp.layer(i, node, "transpose", LAYER_TYPES["transpose"](dims=(1, 2)), y)
    added = table_add(imp, i, node, "add", moved, Table(table.name, table.size, moved.shape, table.first))
    return imp.layer(i, node, "transpose", LAYER_TYPES["transpose"](dims=(1, 2)), added)
