"""`nn.functional.unfold` and `fold` with the stride equal to the kernel: image patches cut apart and put back.

Hugging Face's MobileViTV2 cuts its feature map into p×p patches with `unfold(x, p, stride=p)` and puts them back
with `fold`. Without overlap, padding or dilation both are rearrangements of the activation (no parameters, no MACs).
torch.export writes the unfold as a Gather per spatial axis by a block index `[[0, p, 2p, ...], [1, p+1, ...], ...]`
(offset within the patch, then patch), a Transpose and a Reshape, and the fold as `Col2Im` (opset 18). The Gather
reads as a `reshape` of the axis into (patches, p) and a `transpose` to (p, patches); `Col2Im` as a `reshape` to
(C, p_h, p_w, rows, cols), a `permute` to (C, rows, p_h, cols, p_w) and a `reshape` to (C, H, W). Overlapping,
padded or dilated patches are refused by name.
"""

from __future__ import annotations

from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.values import Act, Const, Unsupported, attributes
from groupcost.ops import LAYER_TYPES


def _block_index(index: Const) -> tuple[int, int, bool] | None:
    """(patches, patch size, offset first) where a rank-2 index picks whole patches of one axis in order: `[[0, 1], [2, 3]]`
    (patch, then offset) or `[[0, 2], [1, 3]]` (offset, then patch, as torch.export writes unfold); None otherwise."""
    if len(index.dims) != 2 or any(not isinstance(k, int) for k in index.values):
        return None
    rows, cols = index.dims
    if list(index.values) == list(range(rows * cols)):
        return rows, cols, False
    if list(index.values) == [c * rows + r for r in range(rows) for c in range(cols)]:
        return cols, rows, True
    return None


def gather_blocks(read):
    """The Gather handler `read`, and a Gather of an activation's axis by a block index: `reshape` then `transpose`."""

    def handle(imp: Importer, i: int, node, inputs: list):
        x, index = inputs[0], inputs[1] if len(inputs) > 1 else None
        blocks = _block_index(index) if isinstance(x, Act) and x.channels is None and isinstance(index, Const) and index.values is not None else None
        axis = attributes(node).get("axis", 0) % (len(x.shape) + 1) if blocks else 0
        if not blocks or axis == 0 or blocks[0] * blocks[1] != x.shape[axis - 1]:
            return read(imp, i, node, inputs)
        patches, size, offset_first = blocks
        split = (*x.shape[:axis - 1], patches, size, *x.shape[axis:])
        preferred = f"{imp.paths[i]}_blocks" if imp.paths[i] and offset_first else None
        y = imp.layer(i, node, "reshape", LAYER_TYPES["reshape"](shape=split), x, preferred)
        return imp.layer(i, node, "transpose", LAYER_TYPES["transpose"](dims=(axis, axis + 1)), y) if offset_first else y

    return handle


def _col2im(imp: Importer, i: int, node, inputs: list):
    """`fold(x, (H, W), p, stride=p)`: N×(C·p_h·p_w)×L back to N×C×H×W, L the (H/p_h)·(W/p_w) patches."""
    x = inputs[0]
    if not isinstance(x, Act) or x.channels is not None or len(x.shape) != 2:
        raise Unsupported("a Col2Im of other than an activation N×(C·kernel)×L")
    image = imp.const(inputs[1], node, "its image shape").values
    block = imp.const(inputs[2], node, "its block shape").values
    found = attributes(node)
    if len(image) != 2 or len(block) != 2:
        raise Unsupported("a Col2Im of other than two spatial axes")
    strides, dilations, pads = tuple(found.get("strides", (1, 1))), tuple(found.get("dilations", (1, 1))), tuple(found.get("pads", (0, 0, 0, 0)))
    if strides != tuple(block) or set(dilations) != {1} or set(pads) != {0}:
        raise Unsupported(f"a fold of overlapping, padded or dilated patches (kernel {list(block)}, stride {list(strides)}, "
                          f"dilation {list(dilations)}, pads {list(pads)}; groupcost reads a fold whose stride is its kernel)")
    (height, width), (ph, pw) = image, block
    rows, cols = height // ph, width // pw
    channels, length = x.shape
    if height % ph or width % pw or length != rows * cols or channels % (ph * pw):
        raise imp.fail(node, f"input {list(x.shape)} does not hold {ph}×{pw} patches of a {height}×{width} image")
    path = imp.paths[i]
    y = imp.layer(i, node, "reshape", LAYER_TYPES["reshape"](shape=(channels // (ph * pw), ph, pw, rows, cols)), x, f"{path}_patches" if path else None)
    y = imp.layer(i, node, "permute", LAYER_TYPES["permute"](dims=(0, 1, 4, 2, 5, 3)), y, f"{path}_order" if path else None)
    return imp.layer(i, node, "reshape", LAYER_TYPES["reshape"](shape=(channels // (ph * pw), height, width)), y)


PATCHES = {"Col2Im": _col2im}
