"""Parts of one weight read by several layers: an octave convolution's four kernels.

Octave convolution (Chen et al. 2019, "Drop an Octave") keeps one C_out×C_in×k×k weight and convolves the
high- and low-frequency feature maps with its blocks: `weight[:h_out, :h_in]` high to high,
`weight[:h_out, h_in:]` low to high, and so on. The file slices the weight (`Slice` of the initializer) before
each `Conv`; each conv counts its block's parameters, and PyTorch counts the weight once. The blocks read
must therefore cover the weight exactly once: blocks that overlap, or leave part of the weight unread, are
refused by name (counting each block would count a parameter twice, or miss one). A strided slice of a weight
is refused as well, but for a grid the exporter computed whose strided parts go to Sin and Cos alone (torch.export's
folded `pos / dim_t` of a Fourier encoding with a fixed batch, EdgeNeXt's): a constant, its values unread.
"""

from __future__ import annotations

from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.constants import MADE_BY_EXPORTER
from groupcost.formats.onnx.values import Const, OnnxError, Unsupported, Weight

Box = tuple[tuple[int, int], ...]


def sliced_weight(imp: Importer, node, weight: Weight, inputs: list) -> Weight | Const:
    """The block of `weight` a Slice takes (step 1 along each axis), recorded for `check_weight_slices`."""
    if weight.standardised is not None:
        raise Unsupported(f"a slice of the standardised weight '{weight.name}'")
    starts, ends, axes, steps = imp.slice_bounds(node, inputs)
    rank = len(weight.dims)
    if any(step != 1 for step in steps) and _sines_of_a_grid(imp, node, weight):
        dims = list(weight.dims)
        for start, stop, axis, step in zip(starts, ends, axes, steps):
            dims[axis % rank] = len(range(dims[axis % rank])[start:stop:step])
        return Const(None, tuple(dims))
    box = list(weight.box or ((0, d) for d in weight.dims))
    for start, stop, axis, step in zip(starts, ends, axes, steps):
        if not all(isinstance(v, int) for v in (start, stop, axis, step)) or not -rank <= axis < rank:
            raise Unsupported(f"a slice of the weight '{weight.name}' by unknown bounds")
        if step != 1:
            raise Unsupported(f"a strided slice (step {step}) of the weight '{weight.name}'")
        first, last = box[axis % rank]
        picked = range(first, last)[start:stop]
        box[axis % rank] = (picked.start, picked.stop) if picked else (first, first)
    box = tuple(box)
    imp.weight_slices[node.output[0]] = (weight.name, box)
    return Weight(weight.name, tuple(stop - start for start, stop in box), box=box)


def _sines_of_a_grid(imp: Importer, node, weight: Weight) -> bool:
    """Whether `weight` is a constant the exporter computed (not a parameter's name) and the Slice's readers are
    Sin and Cos alone: a Fourier encoding's grid, no parameter in it."""
    readers = imp.consumers.get(node.output[0], [])
    return bool(MADE_BY_EXPORTER.fullmatch(weight.name)) and bool(readers) and all(k >= 0 and imp.order[k].op_type in ("Sin", "Cos") for k in readers)


def check_weight_slices(imp: Importer) -> None:
    """Refuse a weight whose blocks read by the layers overlap or leave part of it unread (see the module docstring)."""
    blocks: dict[str, list[Box]] = {}
    for out, (name, box) in imp.weight_slices.items():
        if any(k < 0 or imp.order[k].op_type != "Slice" for k in imp.consumers.get(out, ())):  # read by a layer (or an output)
            blocks.setdefault(name, []).append(box)
    for name, boxes in blocks.items():
        whole = tuple((0, d) for d in imp.initializers[name].dims) if name in imp.initializers else None
        if whole is None:
            continue
        if any(k < 0 or imp.order[k].op_type != "Slice" for k in imp.consumers.get(name, ())):
            boxes = [*boxes, whole]  # the weight read whole as well
        volume = sum(_volume(b) for b in boxes)
        overlap = any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
        if overlap or volume != _volume(whole):
            what = "blocks that overlap" if overlap else f"blocks of {volume:,} of its {_volume(whole):,} values"
            raise OnnxError(f"the weight '{name}' is read in {what}: counted per layer, its parameters would not be PyTorch's",
                            "groupcost reads a weight sliced into blocks that cover it exactly once (an octave convolution's)", imp.loc)


def _volume(box: Box) -> int:
    total = 1
    for start, stop in box:
        total *= max(stop - start, 0)
    return total


def _overlap(a: Box, b: Box) -> bool:
    return _volume(a) > 0 and _volume(b) > 0 and all(max(a0, b0) < min(a1, b1) for (a0, a1), (b0, b1) in zip(a, b))
