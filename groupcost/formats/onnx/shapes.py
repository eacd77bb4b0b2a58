"""Operators that reshape, cut or join activations, and the shape arithmetic on small constants around them.

Shape computations (Shape, Gather, Concat of ints, ...) are evaluated on small constants, so that
a Reshape's target is known; a Flatten, Squeeze or Reshape to N×F is a `flatten`; a Split or a
Slice along the channels reads a channel range; a Concat along them is a merge.
"""

from __future__ import annotations

import math

from groupcost.formats.onnx.arranged import arranged, file_dims, reshaped
from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.tokens import tokens_flattened, tokens_reshaped
from groupcost.formats.onnx.values import (BATCH, GRID, UNKNOWN, Act, Arranged, ChannelsLast, Const, Cropped, GroupedView, PaddedView, Sequences,
                                           TokensFirst, Unsupported, as_act, attributes, symbolic, tensor_values)
from groupcost.formats.onnx.views import bound, grouped_view, spatial_slice
from groupcost.ops import LAYER_TYPES, format_shape


def _passthrough(imp: Importer, i: int, node, inputs: list):
    if node.input and node.output:
        imp.aliases[node.output[0]] = node.input[0]
    return [inputs[0]] + [UNKNOWN] * (len(node.output) - 1)


def _dropout(imp: Importer, i: int, node, inputs: list):
    x = inputs[0]
    if not isinstance(x, Act):
        return [x] + [UNKNOWN] * (len(node.output) - 1)
    y = imp.layer(i, node, "dropout", LAYER_TYPES["dropout"](), x)
    return [y] + [UNKNOWN] * (len(node.output) - 1)


def _flatten(imp: Importer, i: int, node, inputs: list):
    x = inputs[0]
    if isinstance(x, Const):
        return Const(x.values, (math.prod(x.dims),))
    merged = tokens_flattened(x, attributes(node).get("axis", 1))
    if merged is not None:
        return merged
    x = as_act(x)
    axis = attributes(node).get("axis", 1) % (len(x.shape) + 1)
    if axis == 0:
        raise Unsupported("a flatten into the batch")
    if axis != 1:  # N×(dims before axis)×(the rest): a reshape
        return imp.layer(i, node, "reshape", LAYER_TYPES["reshape"](shape=(math.prod(x.shape[:axis - 1]), math.prod(x.shape[axis - 1:]))), x)
    if len(x.shape) == 1:
        return x
    return imp.layer(i, node, "flatten", LAYER_TYPES["flatten"](), x)


def _target_shape(x: Act, target: Const, allowzero: bool, batch: int) -> list | None:
    """Reshape's target resolved against N×x: [BATCH, dims...], or None when it is not fully known.

    A -1 that stands for the batch (`[-1, 1024]`), or a batch written as a number (beside a -1 too), becomes BATCH.
    """
    full = [BATCH, *x.shape]
    out = []
    for k, v in enumerate(target.values):
        if v == 0 and not allowzero and v is not BATCH:
            if k >= len(full):
                return None
            out.append(full[k])
        elif v is None:
            return None
        else:
            out.append(v)
    known = [v for v in out if v is not BATCH and v != -1]
    if out.count(-1) > 1 or any(not isinstance(v, int) or v < 1 for v in known):
        return None
    total, rest = math.prod(x.shape), math.prod(known)
    if -1 in out:
        if BATCH in out:
            if total % rest:
                return None
            out = [total // rest if v == -1 else v for v in out]
        elif rest == total:
            out = [BATCH if v == -1 else v for v in out]
        elif out[0] == batch and (total * batch) % rest == 0:  # the batch written as the export's number (`[1, 8, -1, 49]`)
            out = [BATCH, *(total * batch // rest if v == -1 else v for v in out[1:])]
        else:
            return None
    elif BATCH not in out and out and out[0] == batch and math.prod(out[1:]) == total:
        out = [BATCH, *out[1:]]
    return out


def _reshape(imp: Importer, i: int, node, inputs: list):
    x = inputs[0]
    if isinstance(x, Const):
        total = math.prod(x.dims)
        dims = [imp.batch if d is BATCH else d for d in imp.const(inputs[1], node, "its shape").values]  # a constant built per sample
        known = math.prod(d for d in dims if d not in (-1, 0))
        dims = [x.dims[k] if d == 0 and k < len(x.dims) else d for k, d in enumerate(dims)]
        if dims.count(-1) == 1 and known and total % known == 0:
            dims[dims.index(-1)] = total // math.prod(d for d in dims if d != -1)
        if any(not isinstance(d, int) or d < 0 for d in dims) or math.prod(dims) != total:
            raise Unsupported("a reshape of a constant to a shape that does not fit")
        return Const(x.values, tuple(dims))
    target = imp.const(inputs[1], node, "its target shape")
    if isinstance(x, (Arranged, Sequences)):
        return reshaped(x if isinstance(x, Arranged) else arranged(x, i), target.values, imp.batch, i)
    if isinstance(x, GroupedView):
        c, h, w = x.x.shape
        out = _target_shape(Act(x.x.name, (c // x.groups, x.groups, h, w)), target, bool(attributes(node).get("allowzero", 0)), imp.batch)
        if x.swapped and out is not None and tuple(out) == (BATCH, c, h, w):
            return imp.layer(i, node, "shuffle", LAYER_TYPES["shuffle"](groups=x.groups), x.x)
        raise Unsupported("a reshape of a grouped view other than a channel shuffle's")
    merged = tokens_reshaped(imp, x, target)
    if merged is not None:
        return merged
    x = as_act(x)
    out = _target_shape(x, target, bool(attributes(node).get("allowzero", 0)), imp.batch)
    if out is None or not out or out[0] is not BATCH or math.prod(out[1:]) != math.prod(x.shape):
        try:  # the batch merged with other dims (MobileViT's patches): read as a rearrangement of x
            return reshaped(arranged(x, i), target.values, imp.batch, i)
        except Unsupported:
            raise Unsupported(f"a reshape of N×{format_shape(x.shape)} to {list(target.values)}") from None
    dims = tuple(out[1:])
    if dims == x.shape:
        return x
    if len(dims) == 1 and dims[0] == math.prod(x.shape):
        if len(x.shape) == 1:
            return x
        return imp.layer(i, node, "flatten", LAYER_TYPES["flatten"](), x)
    grouped = grouped_view(x, dims)
    if grouped is not None:
        return grouped
    return imp.layer(i, node, "reshape", LAYER_TYPES["reshape"](shape=dims), x)


def _squeeze(imp: Importer, i: int, node, inputs: list):
    x = inputs[0]
    axes = imp.axes(node, inputs)
    if isinstance(x, Const):
        if node.op_type == "Squeeze":
            rank = len(x.dims)
            gone = {a % rank for a in axes} if axes else {k for k, d in enumerate(x.dims) if d == 1}
            return Const(x.values, tuple(d for k, d in enumerate(x.dims) if k not in gone))
        rank = len(x.dims) + len(axes or ())
        dims, rest = [], iter(x.dims)
        for k in range(rank):
            dims.append(1 if k in {a % rank for a in axes or ()} else next(rest))
        return Const(x.values, tuple(dims))
    x = as_act(x)
    rank = len(x.shape) + 1
    if node.op_type == "Squeeze" and rank >= 3 and set(x.shape[1:]) == {1} and axes is not None and sorted(a % rank for a in axes) == list(range(2, rank)):
        return imp.layer(i, node, "flatten", LAYER_TYPES["flatten"](), x)
    full = [BATCH, *x.shape]
    if node.op_type == "Squeeze":
        gone = {a % rank for a in axes} if axes else {k for k, d in enumerate(full) if d == 1}
        if 0 in gone or any(full[k] != 1 for k in gone):
            raise Unsupported(f"a squeeze of N×{format_shape(x.shape)} along {sorted(gone)}")
        dims = tuple(d for k, d in enumerate(full) if k not in gone)[1:]
    else:
        out_rank = rank + len(axes or ())
        added = {a % out_rank for a in axes or ()}
        if 0 in added:
            raise Unsupported("an unsqueeze before the batch")
        rest = iter(full)
        dims = tuple(1 if k in added else next(rest) for k in range(out_rank))[1:]
    if not dims:
        raise Unsupported(f"a {node.op_type.lower()} of N×{format_shape(x.shape)} to the batch alone")
    return imp.layer(i, node, "reshape", LAYER_TYPES["reshape"](shape=dims), x)


def _concat(imp: Importer, i: int, node, inputs: list):
    values = [v for v in inputs if v is not None]
    if all(isinstance(v, Const) for v in values):
        return _concat_constants(values, attributes(node).get("axis", 0), imp, node)
    acts = [as_act(v, "an input") for v in values]
    axis = attributes(node).get("axis", 1)
    rank = len(acts[0].shape) + 1
    if len(acts) == 1:
        return acts[0]
    if axis % rank == 1:
        return imp.merge(i, node, "concat", acts)
    if axis % rank == 0 or any(len(a.shape) + 1 != rank for a in acts):
        raise Unsupported("a concatenation along the batch, or of tensors of different ranks")
    # along another axis (a detection head's levels along its anchors): moved first, joined, moved back
    swap = (1, axis % rank)
    moved = [imp.layer(i, node, "transpose", LAYER_TYPES["transpose"](dims=swap), a) for a in acts]
    joined = imp.merge(i, node, "concat", moved)
    return imp.layer(i, node, "transpose", LAYER_TYPES["transpose"](dims=swap), joined)


def _concat_constants(values: list[Const], axis: int, imp: Importer, node) -> Const:
    """Constants joined along `axis` (shape vectors along their one axis; index grids along any)."""
    rank = max(len(v.dims) for v in values)
    values = [v if len(v.dims) == rank else Const(v.values, (1,) * (rank - len(v.dims)) + tuple(v.dims)) for v in values]  # scalars: one element
    axis %= max(rank, 1)
    if any(v.dims[:axis] != values[0].dims[:axis] or v.dims[axis + 1:] != values[0].dims[axis + 1:] for v in values):
        raise imp.fail(node, f"concatenates constants of {', '.join(str(list(v.dims)) for v in values)}")
    dims = (*values[0].dims[:axis], sum(v.dims[axis] for v in values), *values[0].dims[axis + 1:])
    if any(v.values is None for v in values):
        return Const(None, dims)
    outer = math.prod(dims[:axis])
    out: list = []
    for k in range(outer):
        for v in values:
            block = math.prod(v.dims[axis:])
            out.extend(v.values[k * block:(k + 1) * block])
    return Const(tuple(out), dims)


def _shape(imp: Importer, i: int, node, inputs: list) -> Const:
    x = inputs[0]
    if isinstance(x, Cropped):
        dims = (BATCH, x.x.shape[0], *(stop - start for start, stop in x.box))
    elif isinstance(x, ChannelsLast):
        dims = (BATCH, *x.x.shape[1:], x.x.shape[0])
    elif isinstance(x, (Arranged, Sequences)):
        dims = file_dims(x)
    elif isinstance(x, GroupedView):  # (N, g, C/g, H, W), its group axes maybe swapped (EvoNorm's group statistics read it)
        c, *rest = x.x.shape
        pair = (c // x.groups, x.groups) if x.swapped else (x.groups, c // x.groups)
        dims = (BATCH, *pair, *rest)
    elif isinstance(x, PaddedView):
        dims = (BATCH, x.x.shape[0], *(n + x.pads[2 * k] + x.pads[2 * k + 1] for k, n in enumerate(x.x.shape[1:])))
    elif isinstance(x, Act):
        dims = (BATCH, *x.shape)
    elif hasattr(x, "dims"):
        dims = tuple(x.dims)
    else:
        raise Unsupported("the shape of a value groupcost does not hold as a tensor")
    attrs = attributes(node)
    start, end = attrs.get("start", 0), attrs.get("end", len(dims))
    values = dims[start:end]
    return Const(values, (len(values),))


def _constant(imp: Importer, i: int, node, inputs: list) -> Const:
    attrs = attributes(node)
    if "value" in attrs and attrs["value"] is not None:
        tensor = attrs["value"]
        return Const(tensor_values(tensor, None), tuple(tensor.dims))
    for key in ("value_int", "value_float"):
        if key in attrs:
            return Const((attrs[key],), ())
    for key in ("value_ints", "value_floats"):
        if key in attrs:
            return Const(tuple(attrs[key]), (len(attrs[key]),))
    raise Unsupported("a constant of a kind groupcost does not read")


def _constant_of_shape(imp: Importer, i: int, node, inputs: list) -> Const:
    dims = tuple(imp.batch if d is BATCH else d for d in imp.const(inputs[0], node, "its shape").values)  # a mask of the input's size
    if any(not isinstance(d, int) or d < 0 for d in dims):
        raise Unsupported("a constant of an unknown shape")
    if math.prod(dims) > GRID:  # known dims, values unread (a large mask of ones)
        return Const(None, tuple(dims))
    tensor = attributes(node).get("value")
    fill = (tensor_values(tensor, None) or (0,))[0] if tensor is not None else 0
    return Const((fill,) * math.prod(dims), tuple(dims))


_FLOAT_TYPES = frozenset({1, 10, 11, 16})  # float, float16, double, bfloat16


def _product(imp: Importer, i: int, node, inputs: list) -> Const:
    """ReduceProd of known sizes (an unbiased variance's N, the product of the reduced dims TorchScript computes from the
    shape at run time, as torch.var writes it): folded, over every axis."""
    x = inputs[0]
    if not isinstance(x, Const) or x.values is None or any(symbolic(v) or v is None for v in x.values):
        raise Unsupported("a product of other than known sizes")
    axes = imp.axes(node, inputs)
    if axes and len(x.dims) > 1 and {a % len(x.dims) for a in axes} != set(range(len(x.dims))):
        raise Unsupported("a product of sizes along some of their axes")
    keep = bool(attributes(node).get("keepdims", 1))
    return Const((math.prod(x.values),), (1,) * len(x.dims) if keep else ())


def _cast(imp: Importer, i: int, node, inputs: list):
    x = inputs[0]
    if isinstance(x, Const) and x.values is not None:
        to = attributes(node).get("to", 1)
        if to in (6, 7, 2, 3, 5):
            return Const(tuple(v if symbolic(v) else int(v) for v in x.values), x.dims)
        if to in _FLOAT_TYPES:  # a size cast to float divides as a float (TF's "SAME" padding: ceil(15 / 2) is 8, not 7)
            return Const(tuple(v if symbolic(v) or isinstance(v, bool) or not isinstance(v, int) else float(v) for v in x.values), x.dims)
        return x
    if isinstance(x, (Act, Const, ChannelsLast, TokensFirst, Sequences, Arranged, GroupedView)):
        return x  # a precision change: same tensor for counting, in the same layout (open_clip's LayerNorm ends in .to(x.dtype)); a constant of unread values stays one
    raise Unsupported("a cast of an unknown value")


def _split(imp: Importer, i: int, node, inputs: list):
    x = as_act(inputs[0])
    attrs = attributes(node)
    axis = attrs.get("axis", 0) % (len(x.shape) + 1)
    if axis == 0:
        raise Unsupported("a split along the batch")
    sizes = attrs.get("split")
    if sizes is None and len(inputs) > 1 and inputs[1] is not None:
        sizes = imp.const(inputs[1], node, "its sizes").values
    if axis != 1:
        return _split_along(imp, i, node, x, axis, sizes)
    return split_channels(imp, node, x, sizes)


def split_channels(imp: Importer, node, x: Act, sizes) -> list[Act]:
    """A Split's parts of x's channels, `sizes` each (None: equal parts, one per output), as channel ranges of x."""
    channels = x.shape[0] if x.channels is None else x.channels[1] - x.channels[0]
    n = len(node.output)
    if sizes is None:
        if channels % n and "num_outputs" not in attributes(node):
            raise imp.fail(node, f"cannot split {channels} channels into {n} equal parts")
        step = -(-channels // n)
        sizes = [min(step, channels - k * step) for k in range(n)]
    if sum(sizes) != channels or len(sizes) != n or any(s < 1 for s in sizes):
        raise imp.fail(node, f"splits {channels} channels as {list(sizes)}")
    start = 0 if x.channels is None else x.channels[0]
    out = []
    for size in sizes:
        out.append(_slice_of(x, start, start + size))
        start += size
    return out


def _strided(imp: Importer, i: int, node, x: Act, starts, ends, axes, steps) -> Act:
    """A slice with a step (YOLOv5's Focus `x[..., ::2, ::2]`, every third channel): a `slice` step per axis."""
    rank = len(x.shape) + 1
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis %= rank
        if axis == 0 or not isinstance(step, int) or step < 1 or start is None or end is None:
            raise Unsupported("a slice along the batch, or backwards")
        first, stop, _ = slice(start, end, step).indices(x.shape[axis - 1])
        if not range(first, stop, step):
            raise imp.fail(node, f"takes nothing of axis {axis} ({x.shape[axis - 1]} long)")
        x = imp.layer(i, node, "slice", LAYER_TYPES["slice"](start=first, stop=stop, dim=axis, step=step), x)
    return x


def _split_along(imp: Importer, i: int, node, x: Act, axis: int, sizes) -> list[Act]:
    """A split along another axis than the channels (a YOLOv5 head's (x, y), (w, h), scores along its last axis):
    a `slice` along that axis per part."""
    length, n = x.shape[axis - 1], len(node.output)
    if sizes is None:
        step = -(-length // n)
        sizes = [min(step, length - k * step) for k in range(n)]
    if sum(sizes) != length or len(sizes) != n or any(s < 1 for s in sizes):
        raise imp.fail(node, f"splits {length} along axis {axis} as {list(sizes)}")
    parts, start = [], 0
    for size in sizes:
        parts.append(imp.layer(i, node, "slice", LAYER_TYPES["slice"](start=start, stop=start + size, dim=axis), x))
        start += size
    return parts


def _slice_of(x: Act, start: int, stop: int) -> Act:
    """Channels [start, stop) of the step's output x reads (absolute offsets); all of it is x itself."""
    if x.channels is None and (start, stop) == (0, x.shape[0]):
        return x
    return Act(x.name, (stop - start, *x.shape[1:]), (start, stop))


def _slice(imp: Importer, i: int, node, inputs: list):
    x = inputs[0]
    starts, ends, axes, steps = imp.slice_bounds(node, inputs)
    if isinstance(x, Const):
        if x.values is None or len(axes) != 1 or axes[0] % max(len(x.dims), 1) != 0 or not x.dims:
            raise Unsupported("a slice of a constant other than along its first axis")
        rows, width = x.dims[0], math.prod(x.dims[1:])
        picked = range(rows)[slice(starts[0], ends[0], steps[0])]  # Python's slice clamps as ONNX does
        values = tuple(v for r in picked for v in x.values[r * width:(r + 1) * width])
        return Const(values, (len(picked), *x.dims[1:]))
    if any(step != 1 for step in steps):
        return _strided(imp, i, node, imp.cropped(x) if isinstance(x, Cropped) else as_act(x), starts, ends, axes, steps)
    if isinstance(x, Cropped) or (isinstance(x, Act) and x.channels is None and len(axes) and all(2 <= a % (len(x.shape) + 1) for a in axes)):
        return spatial_slice(imp, i, node, x, starts, ends, axes, steps)
    x = as_act(x)
    rank = len(x.shape) + 1
    if len(axes) != 1 or axes[0] % rank != 1 or steps[0] != 1:
        raise Unsupported("a slice of other than a channel range or a spatial window")
    width = x.shape[0]
    start, stop = bound(starts[0], width), bound(ends[0], width)
    if stop <= start:
        raise imp.fail(node, f"takes no channels ({starts[0]}:{ends[0]} of {width})")
    offset = 0 if x.channels is None else x.channels[0]
    if x.channels is None and (start, stop) == (0, width):
        return x
    return Act(x.name, (stop - start, *x.shape[1:]), (offset + start, offset + stop))


SHAPES = {
    "Identity": _passthrough,
    "Dropout": _dropout,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Squeeze": _squeeze,
    "Unsqueeze": _squeeze,
    "Concat": _concat,
    "Split": _split,
    "Slice": _slice,
    "Shape": _shape,
    "Constant": _constant,
    "ConstantOfShape": _constant_of_shape,
    "Cast": _cast,
    "ReduceProd": _product,
}
