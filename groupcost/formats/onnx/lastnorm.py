"""A layer norm over the last axis of tokens held as they are, N×L×C (CvT's class token `layernorm(cls_token)`).

A tensor sliced out of tokens N×(1+L)×C along the tokens (the class token; a range of its first axis, read by the move) can reach a layer norm
as the plain activation N×L×C, not as a view. Its channels moved first (a `transpose`, or a `permute` past rank 3,
named after the norm) make it the channels-first tensor of a channels-last view, which the layer norm reads on its
channels as everywhere else; the result stays that view. The move costs nothing.
"""

from __future__ import annotations

from groupcost.formats.onnx.importer import Handler, Importer
from groupcost.formats.onnx.values import Act, ChannelsLast, attributes
from groupcost.ops import LAYER_TYPES


def tokens_normalised(read: Handler) -> Handler:
    """The LayerNormalization handler `read`, and a layer norm over the last axis of a plain N×…×C activation."""

    def handle(imp: Importer, i: int, node, inputs: list):
        x = inputs[0]
        rank = len(x.shape) + 1 if isinstance(x, Act) else 0
        if rank < 3 or attributes(node).get("axis", -1) % rank != rank - 1:
            return read(imp, i, node, inputs)
        move = LAYER_TYPES["transpose"](dims=(1, 2)) if rank == 3 else LAYER_TYPES["permute"](dims=(0, rank - 1, *range(1, rank - 1)))
        kind = "transpose" if rank == 3 else "permute"
        moved = imp.layer(i, node, kind, move, x, f"{imp.paths[i]}_in" if imp.paths[i] else None)
        return read(imp, i, node, [ChannelsLast(moved, i), *inputs[1:]])

    return handle
