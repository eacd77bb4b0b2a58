"""Operators that make views: values that stand for an activation until something reads it.

A move of the channels last (ConvNeXt's LayerNorm and Linear read it), a zero `Pad` read only by
convolutions (folded into their padding), a reshape to (N, g, C/g, H, W) and its transpose (half a
channel shuffle), and a run of spatial Slices (one per axis, as torch's narrow writes them), which
becomes one centre crop when something reads it. The view classes sit with the other values
(groupcost.formats.onnx.values).
"""

from __future__ import annotations

from groupcost.formats.onnx.arranged import arranged, transposed
from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.values import (Act, Arranged, ChannelsLast, Const, Cropped, GroupedView, PaddedView, Sequences, TokensFirst, Unsupported, Weight, as_act,
                                           attributes, feature_map)
from groupcost.ops import LAYER_TYPES

_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}
_WINDOWED = frozenset({"Conv", "MaxPool", "AveragePool", "LpPool"})  # a padding inside their module (TF's "SAME" max pool pads with -inf first)


def _pad(imp: Importer, i: int, node, inputs: list):
    x = as_act(inputs[0])
    _, dims = feature_map(x)
    rank = len(dims)
    attrs = attributes(node)
    mode = attrs.get("mode", "constant")
    if mode not in _PAD_MODES:
        raise Unsupported(f"a {mode} padding (groupcost pads with a constant, reflect or replicate)")
    pads = attrs.get("pads")
    if pads is None:
        pads = imp.const(inputs[1], node, "its pads").values
    value = 0.0
    if len(inputs) > 2 and inputs[2] is not None:
        values = imp.const(inputs[2], node, "its value").values
        value = float(values[0]) if values else 0.0
    if len(inputs) > 3 and inputs[3] is not None:
        raise Unsupported("a padding along chosen axes")
    n = rank + 2
    if len(pads) != 2 * n or any(not isinstance(p, int) for p in pads):
        raise Unsupported(f"a padding {list(pads)} of a rank-{n} input")
    if pads[0] or pads[n]:
        raise Unsupported(f"a padding {list(pads)} of the batch")
    channels = (pads[1], pads[n + 1])
    if any(channels) and (mode != "constant" or min(channels) < 0):
        raise Unsupported(f"a {mode} padding {list(pads)} of the channels" if mode != "constant" else f"a padding {list(pads)} that cuts channels")
    if any(p < 0 for p in pads):
        x, pads = _negative_pads_cropped(imp, i, node, x, tuple(pads), mode)
        if not any(pads):
            return x
    spatial_pads = tuple(v for k in range(2, n) for v in (pads[k], pads[n + k]))
    readers = imp.consumers.get(node.output[0], [])  # -1: a graph output
    if (mode == "constant" and value == 0 and not any(channels) and readers
            and all(k >= 0 and imp.order[k].op_type == "Conv" and imp.order[k].input[0] == node.output[0] for k in readers)):
        return PaddedView(x, spatial_pads)
    layer = LAYER_TYPES["pad"](p=spatial_pads, mode=_PAD_MODES[mode], value=value, channels=channels)
    path = imp.paths[i]
    inside = path and readers and all(k >= 0 and imp.order[k].op_type in _WINDOWED and imp.paths[k] == path for k in readers)
    return imp.layer(i, node, "pad", layer, x, f"{path}_pad" if inside else None)  # the module's name is its conv's or pool's, whose output it is


def _negative_pads_cropped(imp: Importer, i: int, node, x: Act, pads: tuple[int, ...], mode: str) -> tuple[Act, tuple[int, ...]]:
    """A constant padding with negative pads (ZeroPad2d((-1, 1, -1, 1)), NASNet's and PNASNet's shift by one pixel):
    a `slice` along each spatial axis it cuts, then the padding left (its negative pads 0), which takes the module's
    name (the slices before it are `{module}_cut`)."""
    n = len(pads) // 2
    if mode != "constant":
        raise Unsupported(f"a {mode} padding {list(pads)} with negative pads")
    left = tuple(max(0, p) for p in pads)
    cuts = []
    for k in range(2, n):
        size, begin, end = x.shape[k - 1], pads[k], pads[n + k]
        start, stop = max(0, -begin), size - max(0, -end)
        if start >= stop:
            raise imp.fail(node, f"pads {list(pads)} cut all {size} positions of axis {k}")
        if (start, stop) != (0, size):
            cuts.append(LAYER_TYPES["slice"](start=start, stop=stop, dim=k))
    y = x
    for j, cut in enumerate(cuts):
        last = j == len(cuts) - 1 and not any(left)
        y = imp.layer(i, node, "slice", cut, y, None if last or not imp.paths[i] else f"{imp.paths[i]}_cut")
    return y, left


def _transpose(imp: Importer, i: int, node, inputs: list):
    view = inputs[0]
    if isinstance(view, Const) and view.values is not None and len(view.dims) == 2 and tuple(attributes(node).get("perm", (1, 0))) == (1, 0):
        rows, cols = view.dims
        return Const(tuple(view.values[r * cols + c] for c in range(cols) for r in range(rows)), (cols, rows))
    perm = tuple(attributes(node).get("perm", ()))
    if isinstance(view, (Arranged, Sequences)):
        return transposed(view if isinstance(view, Arranged) else arranged(view, i), perm, i)
    if isinstance(view, (Act, ChannelsLast)):
        rank = len((view.x if isinstance(view, ChannelsLast) else view).shape) + 1
        perm = tuple(p % rank for p in perm)  # TorchScript writes movedim(-1, 1) as (0, -1, 1, 2)
        if perm == tuple(range(rank)):
            return view  # a move back and forth, which TorchScript's constant folding merges into one
    tokens = view.x if isinstance(view, (ChannelsLast, TokensFirst)) else view
    if isinstance(tokens, Act) and tokens.channels is None and len(tokens.shape) == 2:  # N×C×L, N×L×C and L×N×C tokens
        layouts = {(0, 1, 2): Act, (0, 2, 1): ChannelsLast, (2, 0, 1): TokensFirst}
        now = next(order for order, kind in layouts.items() if isinstance(view, kind))
        moved = tuple(now[p] for p in perm)
        if moved in layouts and moved != now:
            return tokens if layouts[moved] is Act else layouts[moved](tokens)
    if isinstance(view, GroupedView) and not view.swapped and perm == (0, 2, 1, 3, 4):
        return GroupedView(view.x, view.groups, True)
    if isinstance(view, Weight) and len(view.dims) == 2 and perm in ((), (1, 0)):
        return Weight(view.name, view.dims[::-1])  # Wᵀ of a linear layer
    if isinstance(view, Act) and view.channels is None and len(view.shape) >= 2 and perm == _to_last(len(view.shape) + 1):
        return ChannelsLast(view, i)
    if isinstance(view, ChannelsLast) and perm == _to_first(len(view.x.shape) + 1):
        return view.x
    if isinstance(view, Act) and perm and perm[0] == 0 and sorted(perm) == list(range(len(view.shape) + 1)):
        moved = [k for k, p in enumerate(perm) if k != p]
        if len(moved) == 2:
            return imp.layer(i, node, "transpose", LAYER_TYPES["transpose"](dims=tuple(moved)), view)
        return imp.layer(i, node, "permute", LAYER_TYPES["permute"](dims=perm), view)
    raise Unsupported("a transpose of the batch, or of a view groupcost holds apart")


def grouped_view(x: Act, dims: tuple) -> GroupedView | None:
    """Reshape to (N, g, C/g, H, W) (→ Transpose (0, 2, 1, 3, 4) → Reshape to (N, C, H, W): a channel shuffle)."""
    if len(x.shape) != 3 or len(dims) != 4:
        return None
    c, h, w = x.shape
    g, per, dh, dw = dims
    if g * per != c or (dh, dw) != (h, w):
        return None
    return GroupedView(x, g)


def bound(index: int, width: int) -> int:
    """A Slice bound as ONNX reads it: negative counts from the end, then clamped to [0, width]."""
    return max(0, min(width, index + width if index < 0 else index))


def spatial_slice(imp: Importer, i: int, node, x, starts, ends, axes, steps) -> Cropped:
    view = x if isinstance(x, Cropped) else Cropped(x, tuple((0, n) for n in x.shape[1:]), i)
    rank = len(view.x.shape) + 1
    box = list(view.box)
    for start, stop, axis, step in zip(starts, ends, axes, steps):
        axis %= rank
        if axis < 2 or step != 1 or start is None or stop is None:
            raise Unsupported("a slice of a spatial window along the batch or the channels, or with a step")
        lo, hi = box[axis - 2]
        width = hi - lo
        start, stop = bound(start, width), bound(stop, width)
        if stop <= start:
            raise imp.fail(node, f"takes nothing of axis {axis} ({width} long)")
        box[axis - 2] = (lo + start, lo + stop)
    return Cropped(view.x, tuple(box), view.first)


def _to_last(rank: int) -> tuple[int, ...]:
    return (0, *range(2, rank), 1)


def _to_first(rank: int) -> tuple[int, ...]:
    return (0, rank - 1, *range(1, rank - 1))


VIEWS = {"Pad": _pad, "Transpose": _transpose}
"""The operators that make views (a spatial Slice is read with the other slices)."""
