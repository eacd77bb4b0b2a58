"""Overlapping windows gathered from an activation: `Tensor.unfold(dim, size, step)` as torch.export writes it.

HaloNet (Vaswani et al. 2021, §2.2) cuts its keys and values into blocks that overlap by a halo: the padded map's
`unfold(2, b + 2h, b)` then `unfold(3, b + 2h, b)`. torch.export writes each unfold as a Gather along the axis by a
constant B × K index whose rows are runs of K positions, `step` apart. Read as each run's `slice` of that axis, each
given a leading dim of 1 (`reshape`), joined along it (`concat`) and moved to the axis (`permute`): the gathered
tensor's shape and elements, no parameters, no MACs. Any other index of an activation is the Gather's own handler.
"""

from __future__ import annotations

from groupcost.formats.onnx.importer import Handler, Importer
from groupcost.formats.onnx.values import Act, Const, attributes
from groupcost.ops import LAYER_TYPES


def _runs(index: Const, size: int) -> list[int] | None:
    """The first position of each row of a B × K index whose rows are runs of K positions; else None."""
    if len(index.dims) != 2 or index.values is None or any(not isinstance(k, int) for k in index.values):
        return None
    rows, width = index.dims
    picks = [k % size if -size <= k < size else None for k in index.values]
    starts = []
    for r in range(rows):
        row = picks[r * width:(r + 1) * width]
        if None in row or row != list(range(row[0], row[0] + width)):
            return None
        starts.append(row[0])
    return starts


def overlapping_windows(read: Handler) -> Handler:
    """The Gather handler `read`, and a Gather of an activation along a position axis by a B × K index of runs."""

    def handle(imp: Importer, i: int, node, inputs: list):
        x, index = inputs[0], inputs[1] if len(inputs) > 1 else None
        if not isinstance(x, Act) or x.channels is not None or not isinstance(index, Const):
            return read(imp, i, node, inputs)
        rank = len(x.shape) + 1
        axis = attributes(node).get("axis", 0)
        if not -rank <= axis < rank or axis % rank < 2:
            return read(imp, i, node, inputs)
        axis %= rank
        starts = _runs(index, x.shape[axis - 1])
        if starts is None:
            return read(imp, i, node, inputs)
        width = index.dims[1]
        parts = []
        for start in starts:
            part = imp.layer(i, node, "slice", LAYER_TYPES["slice"](start=start, stop=start + width, dim=axis), x)
            parts.append(imp.layer(i, node, "reshape", LAYER_TYPES["reshape"](shape=(1, *part.shape)), part))
        joined = imp.merge(i, node, "concat", parts) if len(parts) > 1 else parts[0]  # B × (x with the axis K long)
        order = [*range(2, axis + 1), 1, *range(axis + 1, rank + 1)]  # the B dim moved just before the axis
        return imp.layer(i, node, "permute", LAYER_TYPES["permute"](dims=(0, *order)), joined)

    return handle
