"""Operators on tensors whose first dim merges the batch with windows, sequences or heads, (N·S)×d₁×…: EfficientViT's
and TinyViT's attention inside windows, MaxViT's block and grid attention, BoTNet's heads and relative logits.

Such a tensor is a `Merged` view of an activation x (per sample, as the file computes it for a batch of 1): a
Transpose only renames its dims; a Reshape or Shape reads it as a rearrangement (groupcost.formats.onnx.arranged).
A conv or batch norm reads it with the channels (the file's dim 1) first and S second, C×S×h×w: a conv3d of
kernel 1×k×k is the same conv on every window, with the same weights, MACs and outputs. A split, slice or
concatenation along a dim reads it with that dim first (a channel range); a softmax along its dim of x; a
product of two activations reads both with S first (S×d₁×…, batched over S); an element-wise operator reads it as
it is; a layer norm or linear on the file's last dim reads it as sequences. A pad or expand is lifted: its own
handler reads x in the file's order (S×d₁×…, per sample) with the node's axes counted one further (BoTNet's
relative-to-absolute logits), and what it makes is merged again; a pad of the merged dim itself is refused by name.
A flatten from a dim after the merged one is a rearrangement. Anything that rearranges x costs a `permute`, named
after the reader. q, k and v stacked ahead of the merged batch (`permute(2, 0, 3, 1, 4)` of
(N·S)×L×3×heads×d, GC ViT's layout) are read only where they are taken apart along that dim: each part x's slice,
rearranged with the batch first again. A sample's tensor tiled along its first dim (GC ViT's global query,
repeated for each window) is merged with the batch: a `broadcast` of a new dim S.

A rearrangement that leaves the batch alone but that a channels' operator reads (MaxViT's windows put back to
N×H×W×C, layer-normed or added to the block's input) is viewed channels last, its last dim the channels.
"""

from __future__ import annotations

import math

from groupcost.formats.onnx.arranged import reshaped, segments
from groupcost.formats.onnx.constants import constant_operation
from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.moved import squeezed_part
from groupcost.formats.onnx.tokens import tokens_back
from groupcost.formats.onnx.values import (BATCH, Act, Arranged, BatchTimes, ChannelsLast, Const, Cropped, GroupedView, Merged, Sequences, Table, Unsupported,
                                           Weight, attributes)
from groupcost.ops import LAYER_TYPES

_ELEMENTWISE = frozenset({"Relu", "Sigmoid", "Tanh", "HardSwish", "HardSigmoid", "Gelu", "Erf", "LeakyRelu", "Identity", "Dropout"})
_ARITHMETIC = frozenset({"Add", "Sub", "Mul", "Div"})
_ALONG_AN_AXIS = frozenset({"Split", "Slice", "Concat"})
_CONV_LIKE = frozenset({"Conv", "BatchNormalization"})
READERS = _ELEMENTWISE | _ARITHMETIC | _ALONG_AN_AXIS | _CONV_LIKE | {"Softmax", "MatMul"}
"""Operators that read a merged tensor here; a Reshape, Transpose or Shape reads it as a rearrangement."""
_LIFTED = frozenset({"Pad", "Expand"})
"""Operators read lifted: their own handler on the file's layout, per sample (BoTNet's relative logits)."""


def merged_of_arranged(imp: Importer, view: Arranged) -> Merged | None:
    """A rearrangement whose first dim merges the batch with others, as the layers it stands for: a reshape of x to
    the file's dims in x's own order where its runs of factors allow it, else a reshape to the factors, a permute to
    the file's order and a reshape to its dims (S first). None where the batch stands alone in the first dim."""
    parts = segments(view)
    if view.order[0] != 0:
        raise Unsupported("a rearrangement that moves the batch from the front")
    if parts[0] == (0,):
        return None
    key = ("merged", view)  # made once, however many nodes read it (the heads' slices of the windows)
    if key not in imp.views:
        imp.views[key] = _merged_layers(imp, view, [parts[0][1:], *parts[1:]])
    return imp.views[key]


def _merged_layers(imp: Importer, view: Arranged, parts: list[tuple[int, ...]]) -> Merged:
    """The layers of merged_of_arranged, `parts` the factors of each of the file's dims (S's first)."""
    node = view.first
    y = view.x
    ordered = sorted(parts, key=lambda part: part[0] if part else 0)
    if all(part and part == tuple(range(part[0], part[0] + len(part))) for part in parts):  # (a dim of one takes no factor)
        dims = tuple(math.prod(view.factors[f] for f in part) for part in ordered)
        if dims != y.shape:
            y = imp.layer(node, imp.order[node], "reshape", LAYER_TYPES["reshape"](shape=dims), y)
        return Merged(y, tuple(ordered.index(part) for part in parts))
    return Merged(_in_order(imp, view, parts), tuple(range(len(parts))))


def _in_order(imp: Importer, view: Arranged, parts: list[tuple[int, ...]]) -> Act:
    """x's factors put in `parts`' order, each part one dim: a reshape to the factors, a permute, a reshape."""
    node = view.first
    y = view.x
    if view.factors[1:] != y.shape:
        y = imp.layer(node, imp.order[node], "reshape", LAYER_TYPES["reshape"](shape=view.factors[1:]), y)
    perm = tuple(f for part in parts for f in part)
    if perm != tuple(range(1, len(view.factors))):
        y = imp.layer(node, imp.order[node], "permute", LAYER_TYPES["permute"](dims=(0, *perm)), y)
    dims = tuple(math.prod(view.factors[f] for f in part) for part in parts)
    if dims != y.shape:
        y = imp.layer(node, imp.order[node], "reshape", LAYER_TYPES["reshape"](shape=dims), y)
    return y


def as_arranged(m: Merged, first: int) -> Arranged:
    """The merged tensor as a rearrangement of x (for a Reshape, Transpose or Shape to read)."""
    rank = len(m.x.shape)
    return Arranged(m.x, (BATCH, *m.x.shape), (0, *(a + 1 for a in m.axes)), (2, *(1,) * (rank - 1)), first)


def laid_out(imp: Importer, i: int, node, m: Merged, axes: tuple[int, ...]) -> Merged:
    """m with x's dims in another order (the file's k-th dim x's `axes[k]`): a `permute` of x where they differ."""
    if axes == m.axes:
        return m
    key = ("laid out", m, axes)  # made once, however many nodes read it so
    if key in imp.views:
        return imp.views[key]
    source = [m.axes[k] for k in sorted(range(len(axes)), key=lambda k: axes[k])]  # x's dim behind each new dim
    path = imp.paths[i]
    owner = path if path in imp.containers else path.rpartition(".")[0]  # the module around the reader's own (a conv's block)
    y = imp.layer(i, node, "permute", LAYER_TYPES["permute"](dims=(0, *(a + 1 for a in source))), m.x, f"{owner}.permute" if owner else None)
    imp.views[key] = Merged(y, axes)
    return imp.views[key]


def first_at(m: Merged, axis: int) -> tuple[int, ...]:
    """The order of x's dims that puts the file's dim `axis` first and keeps the others in the file's order."""
    rest = [k for k in range(len(m.axes)) if k != axis]
    axes = [0] * len(m.axes)
    for position, k in enumerate(rest, start=1):
        axes[k] = position
    return tuple(axes)


def _file_axis(node, rank: int, default: int) -> int:
    axis = attributes(node).get("axis", default)
    if not -rank <= axis < rank:
        raise Unsupported(f"axis {axis} of a rank-{rank} tensor")
    axis %= rank
    if axis == 0:
        raise Unsupported("an operator along the batch merged with other dims")
    return axis


def _rewritten(node, **ints):
    """A copy of the node with integer (list) attributes replaced or added: the handler reads x's own axes and window."""
    copy = type(node)()
    copy.CopyFrom(node)
    for name, value in ints.items():
        attribute = next((a for a in copy.attribute if a.name == name), None)
        if attribute is None:
            attribute = copy.attribute.add()
            attribute.name = name
        if isinstance(value, int):
            attribute.type, attribute.i = 2, value
        else:
            attribute.type = 7
            del attribute.ints[:]
            attribute.ints.extend(value)
    return copy


def _slice_axes(imp: Importer, node, inputs: list, rank: int) -> tuple[int, ...]:
    attrs = attributes(node)
    if "axes" in attrs:
        axes = attrs["axes"]
    elif len(inputs) > 3 and inputs[3] is not None:
        axes = imp.const(inputs[3], node, "its axes").values
    else:
        axes = tuple(range(len(attrs["starts"] if "starts" in attrs else imp.const(inputs[1], node, "its starts").values)))
    return tuple(a % rank for a in axes)


def read_merged(imp: Importer, i: int, node, inputs: list) -> tuple[list | None, list]:
    """What a node makes of merged tensors among its inputs: (its outputs, or None for the engine's own handlers to
    read it, and its inputs as they are to read them: a merged tensor made a rearrangement or sequences)."""
    op = node.op_type
    if op in ("Split", "Gather", "Slice") and isinstance(inputs[0], Arranged) and _stacked_ahead(inputs[0]):
        return _taken_apart(imp, i, node, inputs), inputs
    if op == "Tile" and isinstance(inputs[0], (Act, ChannelsLast)):
        return [_tiled_over_windows(imp, i, node, inputs)], inputs
    if op in ("Reshape", "Transpose", "Shape"):
        if not any(isinstance(v, Merged) for v in inputs):
            return None, inputs
        m = inputs[0]
        if op == "Reshape" and isinstance(m, Merged) and isinstance(inputs[1], Const):
            back = tokens_back(imp, i, node, m, inputs[1])  # LeViT's tokens put back after their BatchNorm1d
            if isinstance(back, ChannelsLast):
                return [back], inputs
            if back is not None:
                return None, [back, *inputs[1:]]
        values = [as_arranged(v, i) if isinstance(v, Merged) else v for v in inputs]
        if op == "Reshape" and isinstance(m, Merged) and isinstance(values[1], Const) and values[1].values and imp.batch == 1 \
                and values[1].values[0] == m.x.shape[m.axes[0]]:  # torch.export writes the merged batch as its number: N·S for N = 1
            values[1] = Const((BatchTimes(values[1].values[0]), *values[1].values[1:]), values[1].dims)
        return None, values
    if op == "Flatten" and isinstance(inputs[0], Merged):
        return [_flattened(i, node, inputs[0], imp.batch)], inputs
    on_channels = op == "LayerNormalization" or (op == "MatMul" and any(isinstance(v, (Const, Weight)) for v in inputs))
    if (on_channels or any(isinstance(v, ChannelsLast) for v in inputs)) and any(_batch_alone(v) for v in inputs):
        inputs = [_channels_last(imp, v) if _batch_alone(v) else v for v in inputs]
    if op in _ARITHMETIC:
        inputs = _meeting_channels_last(imp, i, node, inputs)
    if any(isinstance(v, Merged) for v in inputs) and on_channels:
        # on the channels, the file's last dim: sequences, as the engine reads them
        return None, [Sequences(laid_out(imp, i, node, v, first_at(v, len(v.axes) - 1)).x) if isinstance(v, Merged) else v for v in inputs]
    if op in _LIFTED and any(isinstance(v, Merged) or _is_merged(v) for v in inputs):
        return _lifted(imp, i, node, _as_merged(imp, inputs)), inputs
    if op not in READERS:
        if any(isinstance(v, Merged) for v in inputs):
            raise Unsupported(f"a {op} of a tensor whose first dim merges the batch with others ((N·S)×…)")
        return None, inputs
    if not any(isinstance(v, Merged) for v in inputs):
        if not any(isinstance(v, (Sequences, Arranged)) for v in inputs) or op in _ELEMENTWISE:
            return None, inputs
        if op in _ARITHMETIC and not any(isinstance(v, Table) for v in inputs):
            return None, inputs  # sequences (and a rearrangement made sequences) keep the engine's reading
        if op == "MatMul" and any(isinstance(v, (Const, Weight)) for v in inputs):
            return None, inputs  # a linear layer on the channels of sequences
    values = _as_merged(imp, inputs)
    merged = [v for v in values if isinstance(v, Merged)]
    if not merged:
        return None, values
    outputs = _READERS[_kind(op)](imp, i, node, values, merged[0])
    return (outputs if isinstance(outputs, list) else [outputs]), values


def _tiled_over_windows(imp: Importer, i: int, node, inputs: list) -> Merged | Act | ChannelsLast:
    """A sample's tensor repeated along its first dim, `q_global.repeat(B // q_global.shape[0], 1, 1, 1)` (GC ViT's
    global query, one copy per window): S copies merged with the batch, a `broadcast` of a new dim of x (C×S×h×w for
    a channels-last view, S×d₁×… otherwise). For a batch of 1, where the copies of each sample follow one another."""
    value = inputs[0]
    x = value.x if isinstance(value, ChannelsLast) else value
    repeats = imp.const(inputs[1], node, "its repeats").values
    if all(r == 1 for r in repeats):  # one window: the tile is the sample itself
        return value
    if imp.batch != 1 or x.channels is not None or len(repeats) != len(x.shape) + 1 or any(r != 1 for r in repeats[1:]) \
            or not isinstance(repeats[0], int) or repeats[0] < 1:
        raise Unsupported(f"a tile of an activation by {list(repeats)}: groupcost reads one that repeats a sample along its first dim, for a batch of 1")
    copies = repeats[0]
    at = 1 if isinstance(value, ChannelsLast) else 0  # the new dim: after the channels of a channels-last view
    y = imp.layer(i, node, "reshape", LAYER_TYPES["reshape"](shape=(*x.shape[:at], 1, *x.shape[at:])), x)
    y = imp.layer(i, node, "broadcast", LAYER_TYPES["broadcast"](dim=at + 1, size=copies), y)
    rank = len(y.shape)
    return Merged(y, (1, *range(2, rank), 0) if at else tuple(range(rank)))


def _stacked_ahead(view: Arranged) -> bool:
    """Whether the rearrangement's first dim is one factor of x ahead of the batch, which opens its second dim
    (`qkv.reshape(B·S, N, 3, heads, d).permute(2, 0, 3, 1, 4)` of windows: q, k, v stacked ahead of them)."""
    parts = segments(view)
    return len(parts) > 2 and len(parts[0]) == 1 and parts[0][0] != 0 and parts[1][:1] == (0,)


def _taken_apart(imp: Importer, i: int, node, inputs: list) -> list:
    """A Split (each part's Squeeze of the stacked axis read with it), Gather or Slice of one part along the first dim
    of q, k, v stacked ahead of the batch: each part the rearrangement of x's slice at that index, the stacked
    factor dropped, the batch first again."""
    view = inputs[0]
    length = view.factors[view.order[0]]
    if node.op_type == "Gather":
        index = imp.const(inputs[1], node, "its index")
        if attributes(node).get("axis", 0) != 0 or index.dims != () or not isinstance(index.values[0], int):
            raise Unsupported("a gather of q, k, v stacked ahead of the batch by other than one index along their axis")
        return [_stacked_part(imp, i, node, view, index.values[0] % length)]
    if node.op_type == "Slice":
        bounds = [imp.const(v, node, what).values if v is not None else None for v, what in zip(inputs[1:5], ("its starts", "its ends", "its axes", "its steps"))]
        starts, ends, axes, steps = [*bounds, *[None] * (4 - len(bounds))]
        if "starts" in attributes(node) or starts is None or ends is None or len(starts) != 1 or tuple(axes or (0,)) != (0,) or tuple(steps or (1,)) != (1,):
            raise Unsupported("a slice of q, k, v stacked ahead of the batch along another axis")
        start = starts[0] + length if starts[0] < 0 else starts[0]
        if min(ends[0], length) - start != 1:
            raise Unsupported("a slice of q, k, v stacked ahead of the batch of other than one part")
        return [squeezed_part(imp, node.output[0], lambda: _stacked_part(imp, i, node, view, start))]
    sizes = attributes(node).get("split")
    if sizes is None and len(inputs) > 1 and inputs[1] is not None:
        sizes = imp.const(inputs[1], node, "its sizes").values
    if attributes(node).get("axis", 0) != 0 or len(node.output) != length or (sizes is not None and list(sizes) != [1] * length):
        raise Unsupported("a split of q, k, v stacked ahead of the batch into other than its parts")
    return [squeezed_part(imp, tensor, lambda index=index: _stacked_part(imp, i, node, view, index)) for index, tensor in enumerate(node.output)]


def _stacked_part(imp: Importer, i: int, node, view: Arranged, index: int) -> Arranged:
    """The stacked factor f at `index`: x reshaped to its factors, a slice of f's dim, f dropped (made once)."""
    f = view.order[0]
    key = ("stacked part", view, index)
    if key not in imp.views:
        x = view.x
        if view.factors[1:] != x.shape:
            x = imp.layer(i, node, "reshape", LAYER_TYPES["reshape"](shape=view.factors[1:]), x)
        x = imp.layer(i, node, "slice", LAYER_TYPES["slice"](start=index, stop=index + 1, dim=f), x)
        factors = (*view.factors[:f], *view.factors[f + 1:])
        x = imp.layer(i, node, "reshape", LAYER_TYPES["reshape"](shape=factors[1:]), x)
        order = tuple(g - (g > f) for g in view.order[1:])
        imp.views[key] = Arranged(x, factors, order, view.groups[1:], view.first)
    return imp.views[key]


def _as_merged(imp: Importer, inputs: list) -> list:
    """Sequences and rearrangements that merge the batch as Merged views; a rearrangement that leaves it alone as its layers."""
    values = []
    for v in inputs:
        if isinstance(v, Arranged):
            v = merged_of_arranged(imp, v) or imp.arranged(v)
        if isinstance(v, Sequences):
            v = Merged(v.x, (*range(1, len(v.x.shape)), 0))
        values.append(v)
    return values


def _is_merged(value) -> bool:
    """Whether a value is the batch merged with other dims: sequences, or a rearrangement that merges it."""
    return isinstance(value, Sequences) or (isinstance(value, Arranged) and segments(value)[0] != (0,))


def _batch_alone(value) -> bool:
    """Whether a value is a rearrangement that leaves the batch alone in its first dim, of rank 3 or more."""
    return isinstance(value, Arranged) and segments(value)[0] == (0,) and len(value.groups) >= 3


def _channels_last(imp: Importer, view: Arranged) -> ChannelsLast:
    """A rearrangement whose last dim a channels' operator reads, or that meets a channels-last view (MaxViT's windows
    put back to N×H×W×C, added to the block's input): its last dim as the channels, viewed channels last (made once)."""
    key = ("channels_last", view)
    if key not in imp.views:
        parts = segments(view)
        imp.views[key] = ChannelsLast(_in_order(imp, view, [parts[-1], *parts[1:-1]]))
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


def _flattened(i: int, node, m: Merged, batch: int) -> Arranged:
    """A Flatten of (N·S)×d₁×…×dₖ from an axis a ≥ 1: a rearrangement to (N·S·d₁…dₐ₋₁)×(dₐ…dₖ)."""
    rank = len(m.axes)
    axis = attributes(node).get("axis", 1)
    if not 1 <= axis % rank < rank:
        raise Unsupported(f"a Flatten from axis {axis} of a tensor whose first dim merges the batch with others")
    width = math.prod(m.x.shape[m.axes[k]] for k in range(axis % rank, rank))
    return reshaped(as_arranged(m, i), (-1, width), batch)


def _kind(op: str) -> str:
    for kind, ops in (("elementwise", _ELEMENTWISE), ("arithmetic", _ARITHMETIC), ("along", _ALONG_AN_AXIS), ("conv", _CONV_LIKE)):
        if op in ops:
            return kind
    return op


def _kept(y, axes: tuple[int, ...]) -> list:
    """A handler's output(s) on x, each activation in the merged layout it was read in."""
    return [Merged(v, axes) if isinstance(v, Act) else v for v in (y if isinstance(y, list) else [y])]


def _elementwise(imp: Importer, i: int, node, values: list, m: Merged):
    return _kept(imp.operators.handlers[node.op_type](imp, i, node, [m.x, *values[1:]]), m.axes)


def _arithmetic(imp: Importer, i: int, node, values: list, m: Merged):
    others = [v for v in values if v is not m]
    if len(values) != 2 or len(others) != 1:
        raise Unsupported(f"a {node.op_type} of a merged tensor with itself")
    other = others[0]
    if isinstance(other, Merged):
        other = laid_out(imp, i, node, other, m.axes)
        if other.x.shape != m.x.shape:
            raise Unsupported("an element-wise operator on merged tensors of different shapes (broadcasting)")
        if node.op_type not in ("Add", "Mul"):
            raise Unsupported(f"a {node.op_type} of two merged tensors")
        return Merged(imp.merge(i, node, node.op_type.lower(), [m.x, other.x] if values[0] is m else [other.x, m.x]), m.axes)
    if isinstance(other, Table):
        from groupcost.formats.onnx.tables import table_add

        if node.op_type != "Add":
            raise Unsupported(f"a {node.op_type} of a learned table gathered by an index")
        m = laid_out(imp, i, node, m, tuple(range(len(m.axes))))  # the table's dims are the file's last ones
        return Merged(table_add(imp, i, node, "add", m.x, other, shared=len(m.x.shape) - len(other.dims)), m.axes)
    if isinstance(other, (Const, Weight)):  # one number in any layout; more, broadcast over the file's last dims: S first
        if math.prod(other.dims) > 1 or m.x.channels is not None:  # (a channel range, MaxViT's q of a chunk, moved is a whole tensor)
            m = laid_out(imp, i, node, m, tuple(range(len(m.axes))))
        y = constant_operation(imp, i, node, node.op_type.lower(), [m.x, other] if values[0] is not other else [other, m.x])
        if y is not None:
            return _kept(y, m.axes)
    raise Unsupported(f"a {node.op_type} of a merged tensor ((N·S)×…) and another of a different layout")


def _along(imp: Importer, i: int, node, values: list, m: Merged):
    rank = len(m.axes)
    if node.op_type == "Slice":
        axes = _slice_axes(imp, node, values, rank)
        if len(axes) != 1 or axes[0] == 0:
            raise Unsupported("a slice of a merged tensor along other than one of its dims")
        axis = axes[0]
        m = laid_out(imp, i, node, m, first_at(m, axis))
        inputs = [m.x, *values[1:3], Const((1,), (1,))] + list(values[4:5])
        return _kept(imp.operators.handlers["Slice"](imp, i, node if "axes" not in attributes(node) else _rewritten(node, axes=[1]), inputs), m.axes)
    axis = _file_axis(node, rank, 1 if node.op_type == "Concat" else 0)
    if node.op_type == "Split":
        m = laid_out(imp, i, node, m, first_at(m, axis))
        return _kept(imp.operators.handlers["Split"](imp, i, _rewritten(node, axis=1), [m.x, *values[1:]]), m.axes)
    if not all(isinstance(v, Merged) for v in values if v is not None):
        raise Unsupported("a concatenation of a merged tensor ((N·S)×…) with another")
    wanted = first_at(m, axis)
    xs = [laid_out(imp, i, node, v, wanted).x for v in values if v is not None]
    return _kept(imp.operators.handlers["Concat"](imp, i, _rewritten(node, axis=1), xs), wanted)


def _conv(imp: Importer, i: int, node, values: list, m: Merged):
    """A conv or batch norm on every window: x with the channels first and S second (C×S×h×w), a conv3d of kernel 1×k×k."""
    if len(m.axes) < 2:
        raise Unsupported("a conv of merged sequences without channels")
    m = laid_out(imp, i, node, m, (1, 0, *range(2, len(m.axes))))
    if node.op_type == "BatchNormalization":
        return _kept(imp.operators.handlers[node.op_type](imp, i, node, [m.x, *values[1:]]), m.axes)
    weight = values[1]
    if not isinstance(weight, (Weight, Const)) or len(weight.dims) != len(m.axes):
        raise Unsupported("a conv of a merged tensor whose weight is not an initializer of its rank")
    dims = (*weight.dims[:2], 1, *weight.dims[2:])
    weight = Weight(weight.name, dims, weight.standardised) if isinstance(weight, Weight) else Const(weight.values, dims)
    attrs = attributes(node)
    spatial = len(weight.dims) - 3
    if attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise Unsupported("a conv of a merged tensor with auto_pad")
    pads = tuple(attrs.get("pads", (0,) * (2 * spatial)))
    ints = {"kernel_shape": [1, *dims[3:]], "strides": [1, *attrs.get("strides", (1,) * spatial)],
            "dilations": [1, *attrs.get("dilations", (1,) * spatial)], "pads": [0, *pads[:spatial], 0, *pads[spatial:]]}
    return _kept(imp.operators.handlers["Conv"](imp, i, _rewritten(node, **ints), [m.x, weight, *values[2:]]), m.axes)


def _softmax(imp: Importer, i: int, node, values: list, m: Merged):
    axis = _file_axis(node, len(m.axes), -1 if imp.opset >= 13 else 1)
    if imp.opset < 13 and axis != len(m.axes) - 1:  # before opset 13 a softmax flattens from its axis on
        raise Unsupported("a softmax (opset < 13) over the flattened dimensions from an axis")
    return _kept(imp.operators.handlers["Softmax"](imp, i, _rewritten(node, axis=m.axes[axis] + 1), [m.x]), m.axes)


def _matmul(imp: Importer, i: int, node, values: list, m: Merged):
    """A product of two merged tensors, batched over S: both S first (x's dims in the file's order)."""
    if len(values) != 2 or not all(isinstance(v, Merged) for v in values):
        raise Unsupported("a product of a merged tensor ((N·S)×…) with another of a different layout")
    a, b = (laid_out(imp, i, node, v, tuple(range(len(v.axes)))) for v in values)
    return Merged(imp.merge(i, node, "matmul", [a.x, b.x]), tuple(range(len(a.axes))))


def _lifted(imp: Importer, i: int, node, values: list) -> list:
    """A pad or expand of merged tensors read in the file's layout: each one x with its dims in the file's order
    (S×d₁×…, per sample), the node's handler on x with its pads or shape for N×x; what it makes is merged again, in
    the file's order."""
    if any(v is not None and not isinstance(v, (Merged, Const, Weight)) for v in values):
        raise Unsupported(f"a {node.op_type} of a tensor whose first dim merges the batch with others ((N·S)×…) and of another")
    handler = imp.operators.handlers.get(node.op_type) if node.domain in ("", "ai.onnx") else None
    if handler is None:
        raise Unsupported(f"a {node.op_type} of a tensor whose first dim merges the batch with others ((N·S)×…)")
    xs = [laid_out(imp, i, node, v, tuple(range(len(v.axes)))).x if isinstance(v, Merged) else v for v in values]
    lifted_node, xs = _lifted_node(imp, node, xs)
    outputs = handler(imp, i, lifted_node, xs)
    out = []
    for value in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
        if isinstance(value, Cropped):
            value = imp.cropped(value)
        if isinstance(value, (ChannelsLast, GroupedView)):
            value = imp.materialized(i, node, value)
        if not isinstance(value, (Act, Const)):
            raise Unsupported(f"a {node.op_type} of a tensor whose first dim merges the batch with others ((N·S)×…)")
        out.append(Merged(value, tuple(range(len(value.shape)))) if isinstance(value, Act) else value)
    return out


def _lifted_node(imp: Importer, node, xs: list):
    """A copy of the node and its inputs for N×x, x in the file's order: pads and an expanded shape with the batch's
    dim put in front (the merged dim is x's first)."""
    lifted = type(node)()
    lifted.CopyFrom(node)
    xs = list(xs)
    if node.op_type == "Pad":
        for attribute in lifted.attribute:
            if attribute.name == "pads":  # opsets below 11
                attribute.ints[:] = _lifted_pads(list(attribute.ints))
        if not any(a.name == "pads" for a in node.attribute):
            if len(xs) > 3 and xs[3] is not None:
                raise Unsupported("a padding along chosen axes of a tensor whose first dim merges the batch with others")
            pads = imp.const(xs[1], node, "its pads")
            xs[1] = Const(tuple(_lifted_pads(list(pads.values))), (len(pads.values) + 2,))
    if node.op_type == "Expand":
        wanted = list(imp.const(xs[1], node, "its shape").values)
        rank = len(xs[0].shape) if isinstance(xs[0], Act) else 0  # the file's rank: the merged dim, then x's others
        wanted = [1] * (rank - len(wanted)) + wanted  # broadcast from the right
        if not rank or len(wanted) != rank or not (wanted[0] in (1, -1, xs[0].shape[0]) or isinstance(wanted[0], BatchTimes)):
            raise Unsupported("an expand of the batch merged with other dims")
        xs[1] = Const((1, 1, *(1 if v == -1 else v for v in wanted[1:])), (len(wanted) + 1,))  # the merged dim as it is
    return lifted, xs


def _lifted_pads(pads: list) -> list:
    """Pads of the file's dims as pads of N×x: none on the batch, none on the merged dim (refused by name)."""
    half = len(pads) // 2
    if not half or pads[0] or pads[half]:
        raise Unsupported("a padding of the dim that merges the batch with others")
    return [0, *pads[:half], 0, *pads[half:]]


_READERS = {"elementwise": _elementwise, "arithmetic": _arithmetic, "along": _along, "conv": _conv, "Softmax": _softmax, "MatMul": _matmul}
