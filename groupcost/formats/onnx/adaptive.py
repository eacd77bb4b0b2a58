"""Adaptive average pooling as torch.export writes it where the output size does not divide the input
(PSPNet's and Fast-SCNN's pyramid pooling: bins of 3 and 6 over a 32×64 map): ONNX has no adaptive pool,
so the exporter gathers every window, each padded to the longest, and averages them.

    x (N×C×H×W) → Transpose [2, 3, 0, 1] → GatherND (a constant index: oh×kh×ow×kw pairs (h, w))
      → Transpose [4, 5, 0, 1, 2, 3] (N×C×oh×kh×ow×kw)
      → ReduceMean over kh and kw                         where every window is kh×kw long, or
      → Where (a constant mask, 0, ·), once per axis whose windows differ in length,
        then the sum of every (a, b) entry (Gather axis 3, Gather axis 4, Adds), Div by each window's size

Read as one `adaptive_avgpool` only once the input's size is known and the constants say exactly that:
each output's unmasked entries are its window's positions (PyTorch's start ⌊i·H/oh⌋, end ⌈(i+1)·H/oh⌉),
each once, and the divisor is their number. Anything else stays node by node (refused by name)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from groupcost.formats.onnx.values import Act, attributes, tensor_values
from groupcost.ops import LAYER_TYPES, Layer

if TYPE_CHECKING:
    from groupcost.formats.onnx.importer import Importer

_LIMIT = 1 << 18  # constant elements read: an index of 6×8×6×12 pairs is 6,912 of them


def recognise_adaptive_pools(imp: Importer) -> None:
    from groupcost.formats.onnx.importer import Recognised

    for k_first, first in enumerate(imp.order):
        if first.op_type != "Transpose" or list(attributes(first).get("perm", ())) != [2, 3, 0, 1]:
            continue
        pools = [_pool_after(imp, k, first.output[0]) for k in imp.consumers.get(first.output[0], [])]
        if not pools or None in pools:  # torch.export shares one Transpose between the pools of one map
            continue
        imp.consumed.add(k_first)
        for members, last, completed in pools:
            imp.consumed.update(members)
            imp.recognised[last] = Recognised(first.input[0], None, "an adaptive average pool written out", rank=4, completed=completed)


def _pool_after(imp: Importer, k_gather: int, moved: str):
    """(member nodes, the last one, the layer from the input's value) of a pool reading the moved map, or None."""
    gather = imp.order[k_gather] if k_gather >= 0 else None
    if gather is None or gather.op_type != "GatherND" or attributes(gather).get("batch_dims", 0) != 0 or gather.input[0] != moved:
        return None
    index = _constant(imp, gather.input[1])
    back = imp.only_reader(gather.output[0])
    if index is None or len(index[1]) != 5 or index[1][4] != 2 or back is None or back[1].op_type != "Transpose" \
            or list(attributes(back[1]).get("perm", ())) != [4, 5, 0, 1, 2, 3]:
        return None
    tail = _tail(imp, back[1].output[0])
    if tail is None:
        return None
    members, last, masks, divisor = tail
    return [k_gather, back[0], *members], last, lambda x: _pool(x, index, masks, divisor)


def _constant(imp: Importer, name: str) -> tuple[tuple, tuple[int, ...]] | None:
    """(values, dims) of an initializer, or None."""
    tensor = imp.initializers.get(name)
    if tensor is None:
        return None
    values = tensor_values(tensor, imp.folder, limit=_LIMIT)
    return None if values is None else (values, tuple(tensor.dims))


def _tail(imp: Importer, windows: str):
    """(member nodes, the last one, the masks, the divisor) after the windows N×C×oh×kh×ow×kw, or None."""
    reader = imp.only_reader(windows)
    if reader is None:
        return None
    k, node = reader
    if node.op_type == "ReduceMean":
        axes = attributes(node).get("axes")
        if axes is None and len(node.input) > 1:
            axes = (_constant(imp, node.input[1]) or ((),))[0]
        if axes is None or sorted(a % 6 for a in axes) != [3, 5] or attributes(node).get("keepdims", 1):
            return None
        return [], k, [], None
    members, masks = [], []
    while reader is not None and reader[1].op_type == "Where" and reader[1].input[2] == windows:
        k, node = reader
        mask, zero = _constant(imp, node.input[0]), _constant(imp, node.input[1])
        if mask is None or zero is None or any(zero[0]):
            return None
        members.append(k)
        masks.append(mask)
        windows = node.output[0]
        reader = imp.only_reader(windows)
    return _summed(imp, windows, members, masks)


def _summed(imp: Importer, windows: str, members: list[int], masks: list):
    """The sum of every entry (a, b) of the windows by Gathers and Adds, divided by a constant."""
    entries: dict[str, tuple[int, int]] = {}  # a leaf's tensor → (a, b)
    for k_row in imp.consumers.get(windows, []):
        row = imp.order[k_row] if k_row >= 0 else None
        a = _gathered(imp, row, windows, 3)
        if a is None:
            return None
        members.append(k_row)
        for k_entry in imp.consumers.get(row.output[0], []):
            entry = imp.order[k_entry] if k_entry >= 0 else None
            b = _gathered(imp, entry, row.output[0], 4)
            if b is None:
                return None
            members.append(k_entry)
            entries[entry.output[0]] = (a, b)
    pending = set(entries)
    while len(pending) > 1:  # fold the Adds from the leaves up: each reads two pending sums, once
        added = [imp.only_reader(t) for t in pending]
        step = next((r for r in added if r is not None and r[1].op_type == "Add" and set(r[1].input) <= pending and len(set(r[1].input)) == 2), None)
        if step is None:
            return None
        members.append(step[0])
        pending -= set(step[1].input)
        pending.add(step[1].output[0])
    if not pending:
        return None
    total = pending.pop()
    div = imp.only_reader(total)
    if div is None or div[1].op_type != "Div" or div[1].input[0] != total:
        return None
    divisor = _constant(imp, div[1].input[1])
    pairs = sorted(entries.values())
    if divisor is None or len(set(pairs)) != len(pairs):
        return None
    return members, div[0], masks, (divisor, pairs)


def _gathered(imp: Importer, node, tensor: str, axis: int) -> int | None:
    """The scalar index a Gather of `tensor` along `axis` takes, or None."""
    if node is None or node.op_type != "Gather" or node.input[0] != tensor or attributes(node).get("axis", 0) != axis:
        return None
    index = _constant(imp, node.input[1])
    if index is None or index[1] != () or not isinstance(index[0][0], int):
        return None
    return index[0][0]


def _at(constant: tuple[tuple, tuple[int, ...]], index: tuple[int, ...]):
    """The value of a constant broadcast (NumPy's rules, aligned right) to a tensor, at `index` of that tensor."""
    values, dims = constant
    offset, flat = len(index) - len(dims), 0
    for axis, size in enumerate(dims):
        flat = flat * size + (0 if size == 1 else index[offset + axis])
    return values[flat]


def _windows(size: int, out: int) -> list[range]:
    return [range(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def _pool(x, index, masks, divisor) -> Layer | None:
    """`adaptive_avgpool` to oh×ow where the constants compute exactly that over x (C×H×W), else None."""
    if not isinstance(x, Act) or x.channels is not None or len(x.shape) != 3:
        return None
    (_, h, w), (oh, kh, ow, kw, _) = x.shape, index[1]
    rows, cols = _windows(h, oh), _windows(w, ow)
    pairs = [(a, b) for a in range(kh) for b in range(kw)] if divisor is None else divisor[1]
    if divisor is None and (any(len(r) != kh for r in rows) or any(len(r) != kw for r in cols)):
        return None
    for i in range(oh):
        for j in range(ow):
            seen = []
            for a, b in pairs:
                if a >= kh or b >= kw or any(_at(mask, (0, 0, i, a, j, b)) for mask in masks):
                    continue
                at = ((i * kh + a) * ow + j) * kw + b
                seen.append((index[0][2 * at], index[0][2 * at + 1]))
            window = [(p, q) for p in rows[i] for q in cols[j]]
            if sorted(seen) != window:
                return None
            if divisor is not None and _at(divisor[0], (0, 0, i, j)) != len(window):
                return None
    return LAYER_TYPES["adaptive_avgpool"](size=(oh, ow))

