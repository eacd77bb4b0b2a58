"""Element-wise bounds and pixel rearrangements read from single ONNX nodes: a Clip to any bounds, DepthToSpace."""

from __future__ import annotations

from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.values import Act, Unsupported, as_act, attributes
from groupcost.ops import LAYER_TYPES


def clamped(imp: Importer, i: int, node, x: Act, low: float, high: float) -> Act:
    """`torch.clamp(x, low, high)` with other bounds than relu6's (GhostNet's hard sigmoid, clamp(x, 0, 1)):
    the larger of x and `low`, then the smaller of that and `high`; no parameters, no MACs."""
    y = imp.layer(i, node, "elementwise", LAYER_TYPES["elementwise"](op="max", value=low), x)
    return imp.layer(i, node, "elementwise", LAYER_TYPES["elementwise"](op="min", value=high), y)


def depth_to_space(imp: Importer, i: int, node, inputs: list) -> Act:
    """DepthToSpace in CRD order, as TorchScript writes `nn.PixelShuffle` (a DUC head, AlphaPose's decoder): a
    `pixelshuffle`; the DCR order (TensorFlow's depth_to_space) moves other channels to each position and is refused."""
    x = as_act(inputs[0])
    attrs = attributes(node)
    mode = attrs.get("mode", "DCR")
    if mode != "CRD":
        raise Unsupported(f"DepthToSpace in {mode} order (groupcost's pixelshuffle is PyTorch's, CRD)")
    return imp.layer(i, node, "pixelshuffle", LAYER_TYPES["pixelshuffle"](r=attrs.get("blocksize", 1)), x)
