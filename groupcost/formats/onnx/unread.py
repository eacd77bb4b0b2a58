"""Rearrangements made and then never read: dropped once every node is read.

A view is made into layers where a reader needs it, and a later node may undo it (Hugging Face's PVTv2 permutes its last
stage to N×C×H×W, and its classifier permutes straight back to N×H×W×C): the first `permute` was made for a reader that
then read the tensor before it. Such a step reads nothing into any output; no parameters, no MACs; the spec it would be
written into refuses a step computed and never used. A slice read only for its shape (TorchScript's slice
assignment expands the new values to the shape of `x[:, 2::3]`) goes the same way. Only `permute`, `transpose`,
`reshape` and `slice` steps go, repeatedly (a
reshape read only by a dropped permute goes next); where a graph output is held in any other view than an activation or
a channels-last view (its layers made after this), every step is kept.
"""

from __future__ import annotations

from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.values import Act, ChannelsLast
from groupcost.graph.network import LayerStep

_VIEWS = frozenset({"permute", "transpose", "reshape", "slice"})


def drop_unread_views(imp: Importer) -> None:
    outputs = set()
    for out in imp.model.graph.output:
        value = imp.env.get(out.name)
        if isinstance(value, ChannelsLast):
            value = value.x
        if not isinstance(value, Act):
            return
        outputs.add(value.name)
    while True:
        read = outputs | {name for step in imp.builder.nodes for name in step.inputs}
        unread = [step for step in imp.builder.nodes if step.name not in read and isinstance(step, LayerStep) and step.layer.type_name in _VIEWS]
        if not unread:
            return
        for step in unread:
            imp.builder.nodes.remove(step)
