"""DepthToSpace and SpaceToDepth: torch's pixel shuffle and unshuffle, read in either channel order.

ONNX's DepthToSpace in CRD mode (what PyTorch's exporters write for nn.PixelShuffle) moves input
channel c·b² + i·b + j to output channel c at offset (i, j) of each b×b block: `pixelshuffle`. Its
DCR mode reads channel (i·b + j)·C' + c instead, which is a channel shuffle of b² groups (channel
s·C' + c to c·b² + s) and then the pixel shuffle. SpaceToDepth writes offset (i, j) of channel c to
channel (i·b + j)·C + c, where nn.PixelUnshuffle writes c·b² + i·b + j: the pixel unshuffle and then
a channel shuffle of C groups. Each costs nothing and is read exactly, whatever the block size.
"""

from __future__ import annotations

from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.values import Act, Unsupported, as_act, attributes
from groupcost.ops import LAYER_TYPES


def _block(imp: Importer, node, x: Act) -> int:
    if len(x.shape) != 3:
        raise Unsupported(f"its input has {len(x.shape)} dimensions besides the batch, not C×H×W")
    block = attributes(node).get("blocksize")
    if not isinstance(block, int) or block < 1:
        raise imp.fail(node, f"blocksize {block!r} is not a positive whole number")
    return block


def _shuffled(imp: Importer, i: int, node, x: Act, groups: int) -> Act:
    """x with its channels shuffled in `groups` groups, where that moves any (one group, or one channel a group, moves none)."""
    if groups in (1, x.shape[0]):
        return x
    path = imp.paths[i]
    return imp.layer(i, node, "shuffle", LAYER_TYPES["shuffle"](groups=groups), x, f"{path}.shuffle" if path else None)


def depth_to_space(imp: Importer, i: int, node, inputs: list) -> Act:
    x = as_act(inputs[0])
    block = _block(imp, node, x)
    mode = attributes(node).get("mode", "DCR")
    if mode not in ("CRD", "DCR"):
        raise imp.fail(node, f"mode {mode!r} is neither CRD nor DCR")
    if x.shape[0] % (block * block):
        raise imp.fail(node, f"blocksize² = {block * block} does not divide its {x.shape[0]} channels")
    if mode == "DCR":
        x = _shuffled(imp, i, node, x, block * block)
    return imp.layer(i, node, "pixelshuffle", LAYER_TYPES["pixelshuffle"](r=block), x)


def space_to_depth(imp: Importer, i: int, node, inputs: list) -> Act:
    x = as_act(inputs[0])
    block = _block(imp, node, x)
    c, h, w = x.shape
    if h % block or w % block:
        raise imp.fail(node, f"blocksize {block} does not divide its input's {h}×{w}")
    y = imp.layer(i, node, "pixelunshuffle", LAYER_TYPES["pixelunshuffle"](r=block), x)
    return _shuffled(imp, i, node, y, c)


DEPTH = {"DepthToSpace": depth_to_space, "SpaceToDepth": space_to_depth}
"""The operators that move pixels between channels and blocks."""
