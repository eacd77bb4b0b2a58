"""Element-wise bounds read from single ONNX nodes: a Clip to any bounds."""

from __future__ import annotations

from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.values import Act
from groupcost.ops import LAYER_TYPES


def clamped(imp: Importer, i: int, node, x: Act, low: float, high: float) -> Act:
    """`torch.clamp(x, low, high)` with other bounds than relu6's (GhostNet's hard sigmoid, clamp(x, 0, 1)):
    the larger of x and `low`, then the smaller of that and `high`; no parameters, no MACs."""
    y = imp.layer(i, node, "elementwise", LAYER_TYPES["elementwise"](op="max", value=low), x)
    return imp.layer(i, node, "elementwise", LAYER_TYPES["elementwise"](op="min", value=high), y)
