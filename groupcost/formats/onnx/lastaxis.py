"""A Split and a Concat along the last axis of a channels-last view: along its channels, the view kept.

MambaOut's gated conv block (Yu and Wang 2024) works on N×H×W×C after its layer norm: its first linear's
output is split along C into a gate, an identity part and the part a depthwise conv reads (moved channels
first and back), and the identity and conv parts are joined along C again before the gate multiplies them.
Read as channel ranges and a concat of the channels-first tensors, the parts stay channels-last views, so
the norms and linears after them read the channels as they do everywhere else.
"""

from __future__ import annotations

from groupcost.formats.onnx.importer import Handler, Importer
from groupcost.formats.onnx.shapes import split_channels
from groupcost.formats.onnx.values import ChannelsLast, attributes


def _along_channels(node, view: ChannelsLast, default: int) -> bool:
    """Whether the node's axis is the view's last, its channels."""
    rank = len(view.x.shape) + 1
    return attributes(node).get("axis", default) % rank == rank - 1


def split_last_axis(read: Handler) -> Handler:
    """The Split handler `read`, and a Split of a channels-last view along its channels: channels-last parts."""

    def handle(imp: Importer, i: int, node, inputs: list):
        view = inputs[0]
        if not isinstance(view, ChannelsLast) or not _along_channels(node, view, 0):
            return read(imp, i, node, inputs)
        sizes = attributes(node).get("split")
        if sizes is None and len(inputs) > 1 and inputs[1] is not None:
            sizes = imp.const(inputs[1], node, "its sizes").values
        return [ChannelsLast(part) for part in split_channels(imp, node, view.x, sizes)]

    return handle


def concat_last_axis(read: Handler) -> Handler:
    """The Concat handler `read`, and a Concat of channels-last views along their channels: one channels-last view."""

    def handle(imp: Importer, i: int, node, inputs: list):
        views = [v for v in inputs if v is not None]
        if len(views) < 2 or not all(isinstance(v, ChannelsLast) for v in views) or not _along_channels(node, views[0], 1) \
                or len({len(v.x.shape) for v in views}) != 1:
            return read(imp, i, node, inputs)
        return ChannelsLast(imp.merge(i, node, "concat", [v.x for v in views]))

    return handle
