"""An empty tensor in a concatenation: nothing to join.

segmentation_models_pytorch's Mix Transformer encoder returns a placeholder of no channels for the stride-2 level
it does not compute (`torch.empty(B, 0, H/2, W/2)`, written ConstantOfShape of a shape with a 0), and its U-Net
decoder concatenates it to the upsampled features as a skip connection. A constant with no elements adds
nothing to a Concat: it is left out, and a Concat of one tensor is that tensor.
"""

from __future__ import annotations

import math

from groupcost.formats.onnx.importer import Handler, Importer
from groupcost.formats.onnx.values import Const


def _empty(value) -> bool:
    return isinstance(value, Const) and math.prod(value.dims) == 0


def empty_left_out(handler: Handler) -> Handler:
    """Concat's handler, its inputs without the constants of no elements (where a tensor with elements remains)."""

    def read(imp: Importer, i: int, node, inputs: list):
        kept = [v for v in inputs if v is not None and not _empty(v)]
        if not kept or len(kept) == len([v for v in inputs if v is not None]):
            return handler(imp, i, node, inputs)
        return kept[0] if len(kept) == 1 else handler(imp, i, node, kept)

    return read
