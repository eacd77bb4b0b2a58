"""A `Tile` of an activation along its axes of size 1 (SwiftFormer's efficient additive attention:
`global_queries.unsqueeze(1).repeat(1, N, 1)`, one global query repeated for every token before it multiplies the keys).

Repeating an axis of size 1 is broadcasting it: a `broadcast` step per repeated axis, no parameters, no MACs, in the
activation's own layout (a channels-last view N×…×C is broadcast along the channels-first tensor's matching axis and
stays that view). A tile of the batch, or of an axis longer than 1 (real copies), goes on to the readers before it.
"""

from __future__ import annotations

from collections.abc import Callable

from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.values import Act, ChannelsLast, Const
from groupcost.ops import LAYER_TYPES


def _broadcast_axes(x: Act, repeats: tuple, channels_last: bool) -> list[tuple[int, int]] | None:
    """(per-sample axis of x, repeat) for each axis repeated, or None where the tile is not a broadcast of size-1 axes."""
    rank = len(x.shape) + 1
    if len(repeats) != rank or repeats[0] != 1 or any(not isinstance(r, int) or r < 1 for r in repeats):
        return None
    # the file's axis k (1-based, the batch 0) is x's axis k-1, or for a channels-last view N×d₁×…×C: d_k is x's axis k, C x's axis 0
    axes = [((k % (rank - 1)) if channels_last else k - 1, r) for k, r in enumerate(repeats) if k and r != 1]
    if not axes or any(x.shape[axis] != 1 for axis, _ in axes):
        return None
    return axes


def tiled_size_one(read: Callable) -> Callable:
    """The engine's reader of merged tensors `read`, and before it a Tile of an activation along its axes of size 1."""

    def handle(imp: Importer, i: int, node, inputs: list):
        value = inputs[0] if inputs else None
        repeats = inputs[1] if len(inputs) > 1 else None
        if node.op_type != "Tile" or not isinstance(value, (Act, ChannelsLast)) or not isinstance(repeats, Const) or repeats.values is None:
            return read(imp, i, node, inputs)
        view = isinstance(value, ChannelsLast)
        x = value.x if view else value
        axes = _broadcast_axes(x, tuple(repeats.values), view) if x.channels is None else None
        if axes is None:
            return read(imp, i, node, inputs)
        y = x
        for axis, copies in axes:
            y = imp.layer(i, node, "broadcast", LAYER_TYPES["broadcast"](dim=axis + 1, size=copies), y)
        return [ChannelsLast(y, value.made_at) if view else y], inputs

    return handle
