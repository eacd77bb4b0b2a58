"""A run of tokens taken from tokens N × L × C, kept channels last: YOLOS's detection tokens `x[:, -100:, :]`.

YOLOS (arXiv 2106.00666, §2.1) reads its boxes and classes from the outputs of the 100 detection tokens it put after
the patch tokens: a Slice of the token axis of the encoder's N × L × C output, then linear layers on the channels.
groupcost holds those tokens as a channels-last view of C × L; the Slice is a `slice` of C × L along L, still
viewed channels last, so that the linears that follow read their channels (a Slice along the channels, or of
anything else, goes to the Slice handler as before).
"""

from __future__ import annotations

from groupcost.formats.onnx.importer import Handler, Importer
from groupcost.formats.onnx.values import ChannelsLast, attributes
from groupcost.ops import LAYER_TYPES


def tokens_sliced(read: Handler) -> Handler:
    """The Slice handler `read`, and a Slice of the token axis of tokens N × L × C viewed channels last."""

    def handle(imp: Importer, i: int, node, inputs: list):
        x = inputs[0]
        run = _token_run(node, inputs, x.x.shape[1]) if isinstance(x, ChannelsLast) and x.x.channels is None and len(x.x.shape) == 2 else None
        if run is None:
            return read(imp, i, node, inputs)
        start, stop = run
        if (start, stop) == (0, x.x.shape[1]):
            return x
        return ChannelsLast(imp.layer(i, node, "slice", LAYER_TYPES["slice"](start=start, stop=stop, dim=2), x.x), x.made_at)

    return handle


def _token_run(node, inputs: list, length: int) -> tuple[int, int] | None:
    """(start, stop) of the `length` tokens a Slice takes along axis 1 of N × L × C, step 1; None for any other slice
    (or one that takes none)."""
    attrs = attributes(node)
    if "starts" in attrs:
        starts, ends, axes, steps = attrs["starts"], attrs["ends"], attrs.get("axes", range(len(attrs["starts"]))), None
    else:
        known = [v.values if v is not None and getattr(v, "values", None) is not None else None for v in inputs[1:5]]
        starts, ends, axes, steps = [*known, *[None] * (4 - len(known))]
        if starts is None or ends is None:
            return None
        axes = axes if axes is not None else range(len(starts))
    axes, steps = tuple(axes), tuple(steps or (1,) * len(starts))
    if len(starts) != 1 or axes not in ((1,), (-2,)) or steps != (1,) or not all(isinstance(v, int) for v in (starts[0], ends[0])):
        return None
    picked = range(length)[starts[0]:ends[0]]
    return (picked.start, picked.stop) if picked else None
