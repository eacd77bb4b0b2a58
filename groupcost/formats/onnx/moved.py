"""A transpose that moves the batch from the front, read only where the moved axis is then taken apart.

timm's attention blocks write `qkv.reshape(B, N, 3, heads, d).permute(2, 0, 3, 4, 1)` (XCiT's
cross-covariance attention) or `.permute(2, 0, 3, 1, 4)` (ViT's), then `unbind(0)`: the exporters
write a Transpose whose first axis is q, k, v and whose second is the batch, then a Split (and a
Squeeze per part; torch.export: a Slice of one and a Squeeze per part) or a Gather along that first axis. Each part is the batch first again: the
input's slice along the moved axis, that axis dropped, permuted by the rest of the permutation.
Nothing else may read the transpose (a `BatchMoved` refuses to be read as an activation).

Attention's output heads × d × N, its positions moved ahead of the heads (`permute(0, 3, 1, 2)`) and the heads
merged (`reshape(B, N, C)`), is the heads merged to C × N, viewed channels last (a `HeadsLast` until the Reshape).
Tokens channels last (B × N × C) reshaped back to a map channels last (`x.reshape(B, H, W, C)`, EdgeNeXt's
blocks) regroup the positions alone: the activation reshaped, still channels last.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from groupcost.formats.onnx.importer import Handler, Importer
from groupcost.formats.onnx.values import BATCH, Act, ChannelsLast, Const, Unsupported, attributes, tensor_values
from groupcost.ops import LAYER_TYPES

Part = TypeVar("Part")


@dataclass(frozen=True)
class BatchMoved:
    """x transposed by `perm` (the batch included), `perm[0]` an axis of x and `perm[1]` the batch."""

    x: Act
    perm: tuple[int, ...]


@dataclass(frozen=True)
class HeadsLast:
    """x (heads, d, N) with its last axis moved ahead of the others (B × N × heads × d): only Reshapes read it."""

    x: Act
    perm: tuple[int, ...]


def _heads_last(imp: Importer, node, x) -> HeadsLast | None:
    """The Transpose's output as a HeadsLast, where it moves the last axis of a heads × d × N activation to the front
    and only Reshapes read it; None otherwise."""
    if not isinstance(x, Act) or x.channels is not None or len(x.shape) < 3:
        return None
    rank = len(x.shape) + 1
    perm = tuple(p % rank for p in attributes(node).get("perm", ()))
    readers = imp.consumers.get(node.output[0], [])
    if perm != (0, rank - 1, *range(1, rank - 1)) or not readers or not all(k >= 0 and imp.order[k].op_type == "Reshape" for k in readers):
        return None
    return HeadsLast(x, perm)


def _batch_moved(imp: Importer, node, value) -> BatchMoved | None:
    """The Transpose's output as a BatchMoved, where it moves an axis ahead of the batch and only Splits or Gathers along
    that axis read it; None otherwise."""
    if not isinstance(value, Act) or value.channels is not None:
        return None
    rank = len(value.shape) + 1
    perm = tuple(p % rank for p in attributes(node).get("perm", ()))
    if sorted(perm) != list(range(rank)) or perm[0] == 0 or perm[1] != 0:
        return None
    readers = imp.consumers.get(node.output[0], [])
    taken_apart = all(k >= 0 and (imp.order[k].op_type in ("Split", "Gather") and attributes(imp.order[k]).get("axis", 0) == 0
                                  or imp.order[k].op_type in ("Slice", "ScatterND")) for k in readers)  # a Slice's axes are checked as it is read
    return BatchMoved(value, perm) if readers and taken_apart else None


def _part(imp: Importer, i: int, node, moved: BatchMoved, index: int) -> Act:
    """moved[index], the batch first again: a slice along the moved axis, that axis dropped, the rest permuted."""
    axis = moved.perm[0]
    x = moved.x
    length = x.shape[axis - 1]
    if not 0 <= index < length:
        raise imp.fail(node, f"takes part {index} of {length}")
    y = imp.layer(i, node, "slice", LAYER_TYPES["slice"](start=index, stop=index + 1, dim=axis), x)
    kept = tuple(d for k, d in enumerate(x.shape) if k != axis - 1)
    y = imp.layer(i, node, "reshape", LAYER_TYPES["reshape"](shape=kept), y)
    rest = tuple(p - (p > axis) for p in moved.perm[1:])
    moved_axes = [k for k, p in enumerate(rest) if k != p]
    if not moved_axes:
        return y
    if len(moved_axes) == 2:
        return imp.layer(i, node, "transpose", LAYER_TYPES["transpose"](dims=tuple(moved_axes)), y)
    return imp.layer(i, node, "permute", LAYER_TYPES["permute"](dims=rest), y)


def moving_transpose(read: Handler) -> Handler:
    """The Transpose handler `read`, and where it refuses, a transpose whose moved axis is then taken apart."""

    def handle(imp: Importer, i: int, node, inputs: list):
        heads = _heads_last(imp, node, inputs[0])
        if heads is not None:
            return heads
        try:
            return read(imp, i, node, inputs)
        except Unsupported:
            moved = _batch_moved(imp, node, inputs[0])
            if moved is None:
                raise
            return moved

    return handle


def split_moved(read: Handler) -> Handler:
    """The Split handler `read`, and a Split of a BatchMoved along its moved axis into parts of one: each part (its
    Squeeze of that axis read with it)."""

    def handle(imp: Importer, i: int, node, inputs: list):
        moved = inputs[0]
        if not isinstance(moved, BatchMoved):
            return read(imp, i, node, inputs)
        sizes = attributes(node).get("split")
        if sizes is None and len(inputs) > 1 and inputs[1] is not None:
            sizes = imp.const(inputs[1], node, "its sizes").values
        length = moved.x.shape[moved.perm[0] - 1]
        if len(node.output) != length or (sizes is not None and list(sizes) != [1] * length):
            raise Unsupported("a split of q, k, v stacked ahead of the batch into other than its parts")
        return [squeezed_part(imp, tensor, lambda index=index: _part(imp, i, node, moved, index)) for index, tensor in enumerate(node.output)]

    return handle


def slice_moved(read: Handler) -> Handler:
    """The Slice handler `read`, and a Slice of one part of a BatchMoved along its moved axis (torch.export's unbind),
    its Squeeze of that axis read with it."""

    def handle(imp: Importer, i: int, node, inputs: list):
        moved = inputs[0]
        if not isinstance(moved, BatchMoved):
            return read(imp, i, node, inputs)
        bounds = [imp.const(v, node, what).values if v is not None else None for v, what in zip(inputs[1:5], ("its starts", "its ends", "its axes", "its steps"))]
        starts, ends, axes, steps = [*bounds, *[None] * (4 - len(bounds))]
        length = moved.x.shape[moved.perm[0] - 1]
        if starts is None or ends is None or len(starts) != 1 or tuple(axes or (0,)) != (0,) or tuple(steps or (1,)) != (1,) or not isinstance(starts[0], int) or not isinstance(ends[0], int):
            raise Unsupported("a slice of q, k, v stacked ahead of the batch along another axis")
        start = starts[0] + length if starts[0] < 0 else starts[0]
        if min(ends[0], length) - start != 1:
            raise Unsupported("a slice of q, k, v stacked ahead of the batch of other than one part")
        return squeezed_part(imp, node.output[0], lambda: _part(imp, i, node, moved, start))

    return handle


def squeezed_part(imp: Importer, tensor: str, part: Callable[[], Part]) -> Part:
    """A part of q, k, v stacked ahead of the batch, which `tensor` holds with the stacked axis still 1 long: its
    Squeezes of that axis read with it (consumed, their outputs `part()`, made once they are known to be so)."""
    squeezes = imp.consumers.get(tensor, [])
    if not squeezes or any(k < 0 or imp.order[k].op_type != "Squeeze" or squeezed_axes(imp, imp.order[k]) != (0,) for k in squeezes):
        raise Unsupported("a part of q, k, v stacked ahead of the batch read other than by a Squeeze of that axis")
    made = part()
    for k in squeezes:
        imp.consumed.add(k)
        imp.env[imp.order[k].output[0]] = made
    return made


def gather_moved(read: Handler) -> Handler:
    """The Gather handler `read`, and a Gather of one part of a BatchMoved along its moved axis (torch.export's select)."""

    def handle(imp: Importer, i: int, node, inputs: list):
        moved = inputs[0]
        if not isinstance(moved, BatchMoved):
            return read(imp, i, node, inputs)
        index = imp.const(inputs[1], node, "its index")
        if index.dims != () or not isinstance(index.values[0], int):
            raise Unsupported("a gather of q, k, v stacked ahead of the batch by other than one index")
        length = moved.x.shape[moved.perm[0] - 1]
        return _part(imp, i, node, moved, index.values[0] % length)

    return handle


def squeezed_axes(imp: Importer, node) -> tuple[int, ...] | None:
    """A Squeeze's axes: its attribute (opset < 13), or its input, an initializer or a Constant node's value that may
    come after the Split in the file's order."""
    axes = attributes(node).get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        name = node.input[1]
        k = imp.producers.get(name)
        tensor = imp.initializers.get(name) if k is None else (attributes(imp.order[k]).get("value") if imp.order[k].op_type == "Constant" else None)
        axes = tensor_values(tensor, imp.folder) if tensor is not None else None
    return None if axes is None else tuple(axes)


def regrouped_tokens(read: Handler) -> Handler:
    """The Reshape handler `read`, and a Reshape of a channels-last view that keeps its channels last and regroups its
    positions (N to H × W, or back): the activation reshaped to C × the new positions, still viewed channels last."""

    def handle(imp: Importer, i: int, node, inputs: list):
        view = inputs[0]
        if isinstance(view, HeadsLast):
            return _heads_merged(imp, i, node, view, inputs, read)
        if not isinstance(view, ChannelsLast) or view.x.channels is not None or not isinstance(inputs[1], Const) or inputs[1].values is None:
            return read(imp, i, node, inputs)
        c, positions = view.x.shape[0], view.x.shape[1:]
        target = _positions_resolved([imp.batch if v is BATCH else v for v in inputs[1].values], c, math.prod(positions), imp.batch)
        if len(target) < 3 or target[0] not in (imp.batch, -1) or target[-1] != c or any(not isinstance(v, int) or v < 1 for v in target[1:]) \
                or math.prod(target[1:-1]) != math.prod(positions) or (target[0] == -1 and imp.batch != 1):
            return read(imp, i, node, inputs)
        regrouped = tuple(target[1:-1])
        if regrouped == tuple(positions):
            return view
        return ChannelsLast(imp.layer(i, node, "reshape", LAYER_TYPES["reshape"](shape=(c, *regrouped)), view.x))

    return handle


def _positions_resolved(target: list, channels: int, positions: int, batch: int) -> list:
    """A Reshape's target for B × (positions) × C with its one -1 among the positions resolved (PVT's
    `x.reshape(B, -1, C)` of a channels-last map); the target as it is otherwise."""
    if target.count(-1) != 1 or len(target) < 3 or target[0] != batch or target[-1] != channels or target.index(-1) in (0, len(target) - 1):
        return target
    if not all(isinstance(v, int) and (v >= 1 or v == -1) for v in target[1:-1]):
        return target
    known = math.prod(v for v in target[1:-1] if v != -1)
    if positions % known:
        return target
    return [positions // known if v == -1 else v for v in target]


def _heads_merged(imp: Importer, i: int, node, view: HeadsLast, inputs: list, read: Handler):
    """A Reshape of B × N × heads × d to B × N × C: the heads merged (C × N), channels last; to another shape, the
    permute made a layer and the Reshape read as any."""
    x = view.x
    positions, heads = x.shape[-1], x.shape[:-1]
    target = list(inputs[1].values) if isinstance(inputs[1], Const) and inputs[1].values is not None else []
    shown = (imp.batch, positions, *heads)  # the transposed tensor, B × N × heads × d
    target = [imp.batch if v is BATCH else shown[k] if v == 0 else v for k, v in enumerate(target)]
    if len(target) == 3 and target.count(-1) <= 1 and all(isinstance(v, int) for v in target):
        known = math.prod(v for v in target if v != -1)
        if -1 in target and known and math.prod(shown) % known == 0:
            target[target.index(-1)] = math.prod(shown) // known
    if target == [imp.batch, positions, math.prod(heads)]:
        return ChannelsLast(imp.layer(i, node, "reshape", LAYER_TYPES["reshape"](shape=(math.prod(heads), positions)), x))
    permuted = imp.layer(i, node, "permute", LAYER_TYPES["permute"](dims=view.perm), x)
    return read(imp, i, node, [permuted, *inputs[1:]])
