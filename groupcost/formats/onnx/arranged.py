"""Runs of Reshapes and Transposes that rearrange an activation with the batch among the dims they move:
MobileViT's unfolding of a feature map into patches, `reshape(B * C * n_h, p_h, n_w, p_w)`, transposes,
`reshape(B * P, N, C)`, and its folding back.

torch.export's `as_strided` of a map (a classifier head's, EdgeNeXt's with a fixed batch) is a Reshape to one dim and
a Gather along it by the positions in order: read as a Reshape of the run to the index's dims.

Such a run is read lazily, as factors of N×x put in another order (an `Arranged` value), and made layers
once something else reads it: a `reshape` of x to its factors, one `permute`, a `reshape` to the result.
A result whose leading dim is the batch merged with other factors, (N·S)×L…×C, is S sequences of L
tokens per sample (a `Sequences` view of C×S×L…): what the file computes for one sample when its batch
is 1, which is the only batch it is read for. Anything else that moves the batch is refused by name.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from groupcost.formats.onnx.values import BATCH, Act, Arranged, BatchTimes, Const, Sequences, Unsupported, attributes
from groupcost.ops import LAYER_TYPES, Layer, format_shape

MakeLayer = Callable[[str, Layer, Act, bool], Act]
"""(kind, layer, input, whether it makes the run's result) → the step made of it: how the importer adds the layers a
view stands for."""


def arranged(x: Act | Sequences, first: int) -> Arranged:
    """x (or the sequences view) as a run of one: its file layout, factor by factor."""
    if isinstance(x, Sequences):  # (N·S)×L…×C of C×S×L…: the batch and S, each L, then C
        rank = len(x.x.shape) + 1
        return Arranged(x.x, (BATCH, *x.x.shape), (0, *range(2, rank), 1), (2, *(1,) * (rank - 3), 1), first)
    rank = len(x.shape) + 1
    return Arranged(x, (BATCH, *x.shape), tuple(range(rank)), (1,) * rank, first)


def segments(view: Arranged) -> list[tuple[int, ...]]:
    """The factors (by index) that make each of the file's dims, in order."""
    out, at = [], 0
    for size in view.groups:
        out.append(view.order[at:at + size])
        at += size
    return out


def file_dims(view: Arranged | Sequences) -> tuple:
    """The file's dims as shape arithmetic sees them: BATCH for the batch alone, a BatchTimes for the batch merged with others."""
    if isinstance(view, Sequences):
        view = arranged(view, 0)
    dims = []
    for segment in segments(view):
        size = math.prod(view.factors[f] for f in segment if f != 0)
        dims.append((BATCH if size == 1 else BatchTimes(size)) if 0 in segment else size)
    return tuple(dims)


def transposed(view: Arranged, perm: tuple[int, ...], node: int | None = None) -> Arranged:
    """The run transposed by `perm` (its dims moved as they stand); `node`: the Transpose's index, as for `reshaped`."""
    parts = segments(view)
    if sorted(p % len(parts) for p in perm) != list(range(len(parts))):
        raise Unsupported(f"a transpose {list(perm)} of a rank-{len(parts)} rearrangement")
    moved = [parts[p % len(parts)] for p in perm]
    return Arranged(view.x, view.factors, tuple(f for part in moved for f in part), tuple(len(part) for part in moved), view.first, node)


def reshaped(view: Arranged, target: tuple, batch: int, node: int | None = None) -> Arranged:
    """The run reshaped to `target` (the Reshape's shape: ints, -1, 0, BATCH, None for an unknown): its
    dims aligned with the factors, a factor split where a dim takes part of it. The batch must stay the
    leading factor of the first dim, alone or merged with others (then for a batch of 1 only). `node`: the Reshape's
    index, which names the step that makes the run's result."""
    current = file_dims(view)
    per_sample = [math.prod(view.factors[f] for f in segment if f != 0) for segment in segments(view)]
    total = math.prod(view.x.shape)
    sizes: list = []
    holder = None  # the dim that holds the batch
    for k, v in enumerate(target):
        if v == 0 and v is not BATCH and k < len(current):  # copied from the input: its size, the batch with it
            holder = k if current[k] is BATCH or isinstance(current[k], BatchTimes) else holder
            sizes.append(per_sample[k])
        elif v is BATCH or (k == 0 and v == batch != 1):
            holder = k
            sizes.append(1)
        elif isinstance(v, BatchTimes):  # `B * P`
            holder = k
            sizes.append(v.factor)
        elif v is None or v == -1:
            sizes.append(None)
        elif isinstance(v, int) and v >= 1:
            sizes.append(v)
        else:
            raise Unsupported(f"a reshape to {list(target)}")
    known = math.prod(s for s in sizes if s is not None)
    unknown = [k for k, s in enumerate(sizes) if s is None]
    if len(unknown) > 1 or total % known:
        raise Unsupported(f"a reshape of {format_shape(view.x.shape)} rearranged to {list(target)}")
    if unknown:
        sizes[unknown[0]] = total // known
        if holder is None:  # in a file of batch 1 the first dim holds it, merged or not (torch.export writes `B * P` as its number)
            holder = 0 if batch == 1 and unknown[0] != 0 and isinstance(target[0], int) and target[0] >= 1 else unknown[0]
    elif holder is None and sizes and known == total:  # the batch written as the export's number: alone when it is 1 there
        holder = 0
    if holder != 0 or math.prod(sizes) != total:
        raise Unsupported(f"a reshape to {list(target)} that puts the batch after other dims")
    if sizes[0] != 1 and batch != 1:
        raise Unsupported(f"the batch merged with other dims (reshape to {list(target)}) in a file of batch {batch}: groupcost reads such a merge for a batch of 1")
    if view.order[0] != 0:
        raise Unsupported("a rearrangement that moves the batch from the front")
    factors, order = list(view.factors), list(view.order)
    groups, at = [1], 1  # the batch opens the first dim
    for k, size in enumerate(sizes):
        count, left = 0, size
        while left > 1 or (at < len(order) and factors[order[at]] == 1 and k == len(sizes) - 1):
            if at == len(order):
                raise Unsupported(f"a reshape of {format_shape(view.x.shape)} rearranged to {list(target)}")
            f = order[at]
            if left % factors[f] == 0:
                left //= factors[f]
            elif factors[f] % left == 0:  # the dim takes the factor's first part: split it in two
                factors[f:f + 1] = [left, factors[f] // left]
                order = [g + 1 if g > f else g for g in order]
                order.insert(at + 1, f + 1)
                left = 1
            else:
                raise Unsupported(f"a reshape of {format_shape(view.x.shape)} rearranged to {list(target)} across its dims")
            count += 1
            at += 1
        if k == 0:
            groups[0] += count
        else:
            groups.append(count)
    return Arranged(view.x, tuple(factors), tuple(order), tuple(groups), view.first, node)


def made(view: Arranged, make: MakeLayer) -> Act | Sequences:
    """The layers the run stands for: a reshape to its factors, a permute to their order, a reshape to the
    file's dims; a Sequences view of C×S×L… where the batch is merged with S (the channels, C, last)."""
    parts = segments(view)
    if view.order[0] != 0:
        raise Unsupported("a rearrangement that moves the batch from the front")
    if parts[0] == (0,):
        layout = parts[1:]
        merged = False
    else:
        if len(parts) < 3:
            raise Unsupported(f"the batch merged with other dims into a {len(parts)}-dim tensor, not sequences of tokens")
        layout = [parts[-1], parts[0][1:], *parts[1:-1]]  # C, S, L…
        merged = True
    perm = tuple(f for part in layout for f in part)
    dims = tuple(math.prod(view.factors[f] for f in part) for part in layout)
    steps = []
    if view.factors[1:] != view.x.shape:
        steps.append(("reshape", LAYER_TYPES["reshape"](shape=view.factors[1:]), view.factors[1:]))
    if perm != tuple(range(1, len(view.factors))):
        steps.append(("permute", LAYER_TYPES["permute"](dims=(0, *perm)), tuple(view.factors[f] for f in perm)))
    if dims != (steps[-1][2] if steps else view.x.shape):
        steps.append(("reshape", LAYER_TYPES["reshape"](shape=dims), dims))
    y = view.x
    for k, (kind, layer, _) in enumerate(steps):
        y = make(kind, layer, y, k == len(steps) - 1)
    return Sequences(y) if merged else y


def gather_in_order(read):
    """The engine's reader of merged tensors `read`, and before it (a run is made layers before any handler reads it)
    a Gather along the first dim of a run by a constant index that takes every element in order (`as_strided` to a
    shape of the same size): the run reshaped to the index's dims."""

    def handle(imp, i: int, node, inputs: list):
        view, index = (inputs + [None, None])[:2]
        if node.op_type != "Gather" or not isinstance(view, Arranged) or len(segments(view)) != 1 or attributes(node).get("axis", 0) != 0 \
                or not isinstance(index, Const) or index.values is None:
            return read(imp, i, node, inputs)
        total = imp.batch * math.prod(view.x.shape)
        if list(index.values) != list(range(total)) or not index.dims or index.dims[0] != imp.batch:
            raise Unsupported("a gather of a tensor the batch is merged into, other than of every element in order")
        return [reshaped(view, (BATCH, *index.dims[1:]), imp.batch, i)], inputs

    return handle
