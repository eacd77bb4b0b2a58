"""A Slice of a channels-last view along one of its positions' axes: a `slice` of that axis, the view kept.

Class attention (CaiT, XCiT; CoaT's serial blocks take the class token apart the same way) works on N×L×C tokens:
`x[:, :1]` is the class token, layer-normed on its own and attended as the one query over all the tokens, and
`x[:, 1:]` the patch tokens joined back after it; YOLOS reads its boxes from its last 100 tokens, `x[:, -100:]`. Read on the channels-first C×L tokens, each is a slice of their
last axis, and the norm and the linears after it read the channels as they do everywhere else. The view is kept
only for a plain slice (step 1, constant bounds) of positions' axes; anything else is the Slice's own handler.
"""

from __future__ import annotations

from groupcost.formats.onnx.importer import Handler, Importer
from groupcost.formats.onnx.values import Act, ChannelsLast, Unsupported, attributes
from groupcost.ops import LAYER_TYPES


def _joined_moved_views(imp: Importer, x: Act) -> bool:
    """Whether `x` is a concat of views moved channels last (a YOLO head's cells joined as tokens, then moved back):
    a view of it is the file's channels-first tensor, whose Slice along axis 1 takes channels, as written."""
    step = next((n for n in reversed(imp.builder.nodes) if n.name == x.name), None)
    if step is None or getattr(step, "kind", None) != "concat":
        return False
    producers = {n.name: n for n in imp.builder.nodes if n.name in step.inputs}
    return all(getattr(getattr(producers.get(name), "layer", None), "type_name", None) == "permute" for name in step.inputs)


def slice_positions(read: Handler) -> Handler:
    """The Slice handler `read`, and a plain Slice of a channels-last view along positions' axes (not the batch,
    not the channels): a `slice` of each of those axes of the channels-first tensor, kept channels last."""

    def handle(imp: Importer, i: int, node, inputs: list):
        view = inputs[0]
        if not isinstance(view, ChannelsLast) or view.x.channels is not None or _joined_moved_views(imp, view.x):
            return read(imp, i, node, inputs)
        try:
            bounds = imp.slice_bounds(node, inputs)
        except Unsupported:
            return read(imp, i, node, inputs)
        rank = len(view.x.shape) + 1  # the file's rank: N × positions × C
        if set(bounds[3]) != {1} or not all(isinstance(v, int) for part in bounds for v in part):
            return read(imp, i, node, inputs)
        starts, ends, axes, _ = bounds
        if not axes or not all(0 < a % rank < rank - 1 for a in axes):
            return read(imp, i, node, inputs)
        y = view.x
        for start, stop, axis in zip(starts, ends, axes):
            dim = axis % rank + 1  # the file's position axis a is dim a + 1 of N × C × positions
            size = y.shape[dim - 1]
            first, last, _ = slice(start, stop).indices(size)  # ONNX clamps its bounds as Python does
            if last <= first:
                return read(imp, i, node, inputs)
            if (first, last) != (0, size):
                y = imp.layer(i, node, "slice", LAYER_TYPES["slice"](start=first, stop=last, dim=dim), y)
        return ChannelsLast(y)

    return handle


def layernorm_tokens(read: Handler) -> Handler:
    """The LayerNormalization handler `read`, and a layer norm over the last axis of a plain N×…×C tensor (tokens
    joined along L after their class token: a concat that reads them L first; CvT's class token normalised alone):
    the channels moved first (a `transpose`, or a `permute` past rank 3, named after the norm), normalised over
    them, and kept channels last. The move costs nothing."""

    def handle(imp: Importer, i: int, node, inputs: list):
        x = inputs[0]
        rank = len(x.shape) + 1 if isinstance(x, Act) else 0
        if rank < 3 or attributes(node).get("axis", -1) % rank != rank - 1:
            return read(imp, i, node, inputs)
        preferred = imp.step_name(i, "layernorm", imp.weight_owner(i, node))
        kind, move = ("transpose", LAYER_TYPES["transpose"](dims=(1, 2))) if rank == 3 else ("permute", LAYER_TYPES["permute"](dims=(0, rank - 1, *range(1, rank - 1))))
        moved = imp.layer(i, node, kind, move, x, f"{preferred}_in")
        return read(imp, i, node, [ChannelsLast(moved, i), *inputs[1:]])

    return handle
