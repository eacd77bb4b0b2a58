"""A detection head's box decoding as exporters write it, read back as the one `dist2bbox` layer it is.

YOLOv6/v8/11-style heads decode distances (l, t, r, b) to boxes: the 4×A distances split in two,
anchor − (l, t) and anchor + (r, b), then either (centre, size) or the two corners concatenated, times
each cell's stride. The anchors and strides are constants (folded by the exporter, or built at run
time from Shape and Range and folded here); they are read, and the layer is `dist2bbox` only where
they are each level's cell centres and stride. Otherwise, or where they cannot be read, each node is
read by its own handler (refused by name where there is none), never guessed.
"""

from __future__ import annotations

import math

from groupcost.formats.onnx.decomposed import near, other_operand, scalar
from groupcost.formats.onnx.importer import Importer, Recognised
from groupcost.formats.onnx.stored import grids_of, stored_values
from groupcost.formats.onnx.values import Act, Const, Weight, attributes
from groupcost.ops import LAYER_TYPES, Layer


def _producer(imp: Importer, tensor: str, op: str):
    k = imp.producers.get(tensor)
    return (k, imp.order[k]) if k is not None and imp.order[k].op_type == op else None


def _corners(imp: Importer, tl: str, br: str):
    """anchor − near and anchor + far: (Sub's index, Add's index, the anchors each reads, near, far), or None.

    TorchScript may write the one anchor tensor twice, a constant for each; their values are compared once read."""
    sub, add = _producer(imp, tl, "Sub"), _producer(imp, br, "Add")
    if sub is None or add is None:
        return None
    anchor, near_half = sub[1].input
    halves = [t for t in add[1].input if imp.producers.get(t) is not None and imp.order[imp.producers[t]].op_type in ("Slice", "Split")]
    if len(halves) != 1:
        return None
    far_half = halves[0]
    return sub[0], add[0], (anchor, other_operand(add[1], far_half)), near_half, far_half


def _halves(imp: Importer, near_half: str, far_half: str) -> str | None:
    """The tensor whose first and second halves are `near_half` and `far_half` (two Slices or one Split of it), or None;
    which channels they are is checked once the handlers have read them."""
    source = []
    for tensor in (near_half, far_half):
        k = imp.producers.get(tensor)
        if k is None or imp.order[k].op_type not in ("Slice", "Split"):
            return None
        source.append(imp.order[k].input[0])
    return source[0] if source[0] == source[1] else None


def recognise_box_decodings(imp: Importer) -> None:
    """Concat(anchor − l,t, anchor + r,b) × stride, or Concat((tl + br) / 2, br − tl) × stride: `dist2bbox`."""
    for k_mul, mul in enumerate(imp.order):
        if mul.op_type != "Mul" or len(mul.input) != 2:
            continue
        for boxes, stride in (mul.input, mul.input[::-1]):
            cat = _producer(imp, boxes, "Concat")
            if cat is None or len(cat[1].input) != 2 or attributes(cat[1]).get("axis") not in (1, -2) or imp.only_reader(boxes) is None:
                continue
            found = _decoding(imp, *cat[1].input)
            if found is None:
                continue
            members, anchors, near_half, far_half, xywh = found
            source = _halves(imp, near_half, far_half)
            readers_inside = all(r in (*members, cat[0]) for k in members for out in imp.order[k].output for r in imp.consumers.get(out, [-1]))
            if source is None or not readers_inside:
                continue
            resolve = _resolver(anchors, stride, near_half, far_half, xywh)
            everything = tuple(sorted((*members, cat[0])))
            imp.consumed.update(everything)
            imp.recognised[k_mul] = Recognised(source, None, "a box decoding", resolve=resolve, members=everything)
            break


def _decoding(imp: Importer, first: str, second: str):
    """(member nodes, the two anchors, near half, far half, xywh) of the two halves a decoding concatenates, or None."""
    corners = _corners(imp, first, second)
    if corners is not None:
        k_sub, k_add, anchors, near_half, far_half = corners
        return (k_sub, k_add), anchors, near_half, far_half, False
    halved = _producer(imp, first, "Div") or _producer(imp, first, "Mul")
    size = _producer(imp, second, "Sub")
    if halved is None or size is None:
        return None
    k_half, half = halved
    summed_name = half.input[0] if half.op_type == "Div" else next((t for t in half.input if near(scalar(imp, other_operand(half, t) or ""), 0.5)), None)
    factor = scalar(imp, half.input[1]) if half.op_type == "Div" else 0.5
    summed = _producer(imp, summed_name or "", "Add")
    if summed is None or not near(factor, 2.0 if half.op_type == "Div" else 0.5):
        return None
    br, tl = size[1].input
    if sorted(summed[1].input) != sorted([tl, br]):
        return None
    corners = _corners(imp, tl, br)
    if corners is None:
        return None
    k_sub, k_add, anchors, near_half, far_half = corners
    return (k_sub, k_add, summed[0], k_half, size[0]), anchors, near_half, far_half, True


def _values(imp: Importer, tensor: str) -> tuple[tuple, tuple[int, ...]] | None:
    """A constant's values and dims without its leading ones: folded here, or stored in the file (past what folding keeps)."""
    value = imp.env.get(tensor)
    if not isinstance(value, (Const, Weight)):
        return None
    if isinstance(value, Const) and value.values is not None:
        values = value.values
    else:
        stored = stored_values(imp, tensor)
        values = stored[0] if stored is not None else None
    dims = tuple(value.dims)
    while dims and dims[0] == 1:
        dims = dims[1:]
    if values is None or len(values) != math.prod(dims) or any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in values):
        return None
    return tuple(float(v) for v in values), dims


def _resolver(anchors: tuple[str, str], stride: str, near_half: str, far_half: str, xywh: bool):
    def resolve(imp: Importer, x: Act) -> Layer | None:
        if x.channels is not None or len(x.shape) != 2 or x.shape[0] != 4:
            return None
        cells = x.shape[1]
        if imp.env.get(near_half) != Act(x.name, (2, cells), (0, 2)) or imp.env.get(far_half) != Act(x.name, (2, cells), (2, 4)):
            return None
        centres, again, scales = _values(imp, anchors[0]), _values(imp, anchors[1]), _values(imp, stride)
        if centres is None or again != centres or scales is None or centres[1] != (2, cells) or scales[1] not in ((cells,), ()):
            return None
        xs, ys = centres[0][:cells], centres[0][cells:]
        grids = grids_of(xs, ys)
        per_cell = scales[0] * cells if scales[1] == () else scales[0]
        if grids is None:
            return None
        strides, start = [], 0
        for h, w in grids:
            level = per_cell[start:start + h * w]
            if len(set(level)) != 1 or not level[0].is_integer() or level[0] < 1:
                return None
            strides.append(int(level[0]))
            start += h * w
        layer = LAYER_TYPES["dist2bbox"](grids=tuple(grids), strides=tuple(strides), xywh=xywh)
        expected_xs, expected_ys, expected_scales = layer.centres_and_scales()
        if (tuple(expected_xs), tuple(expected_ys), tuple(expected_scales)) != (xs, ys, per_cell):
            return None
        return layer

    return resolve
