"""ScatterND: a slice assignment, `y[:, 2::3] = y[:, 2::3].sigmoid()` (YOLO's pose head decodes its keypoints
in place so, outside its export mode).

TorchScript writes ScatterND(x, indices, u) with indices B × K × 2 of (b, c) pairs, every sample's channels
c in P; torch.export moves the channels ahead of the batch (a Transpose of x and of u), writes indices
K × 1 along them, and moves them back. Either way, the channels P of x are replaced by u, in order, where
P is a run a:b or every s-th channel from r. groupcost reads it as what it is, the channels of x that
stay and u, joined in order: a `concat` of x[:a], u and x[b:]; or of each residue's every s-th channel
(x's, u in its place), then a `shuffle` of s groups that interleaves them. No MACs, no parameters.
"""

from __future__ import annotations

from groupcost.formats.onnx.importer import Handler, Importer
from groupcost.formats.onnx.moved import BatchMoved
from groupcost.formats.onnx.values import Act, Unsupported, attributes
from groupcost.ops import LAYER_TYPES, format_shape


def _scatter_nd(imp: Importer, i: int, node, inputs: list):
    if attributes(node).get("reduction", "none") != "none":
        raise Unsupported(f"a ScatterND that accumulates ({attributes(node)['reduction']})")
    x, index, u = inputs
    index = imp.const(index, node, "its indices")
    if isinstance(x, BatchMoved) and isinstance(u, BatchMoved) and x.perm == u.perm:
        if len(index.dims) != 2 or index.dims[1] != 1:
            raise Unsupported(f"a ScatterND of indices {list(index.dims)} into channels moved ahead of the batch")
        return BatchMoved(assigned(imp, i, node, x.x, u.x, list(index.values), x.perm[0]), x.perm)
    if not isinstance(x, Act) or not isinstance(u, Act) or x.channels is not None or u.channels is not None:
        raise Unsupported("a ScatterND of other than two activations")
    if len(index.dims) != 3 or index.dims[0] != imp.batch or index.dims[2] != 2:
        raise Unsupported(f"a ScatterND of indices {list(index.dims)} (groupcost reads every sample's channels, B × K × 2)")
    pairs = [index.values[k:k + 2] for k in range(0, len(index.values), 2)]
    per_sample = index.dims[1]
    channels = [c for _, c in pairs[:per_sample]]
    if any(tuple(pairs[b * per_sample + k]) != (b, channels[k]) for b in range(imp.batch) for k in range(per_sample)):
        raise Unsupported("a ScatterND into other than the same channels of every sample")
    return assigned(imp, i, node, x, u, channels, 1)


def assigned(imp: Importer, i: int, node, x: Act, u: Act, positions: list, axis: int) -> Act:
    """x with its channels `positions` (in order) replaced by u's: the parts of x that stay and u, concatenated
    (and interleaved by a `shuffle` where the positions are every s-th channel)."""
    if axis != 1:
        raise Unsupported(f"a slice assignment along axis {axis} (groupcost reads one along the channels)")
    size = x.shape[0]
    if any(not isinstance(p, int) for p in positions):
        raise Unsupported("a ScatterND by unknown indices")
    if any(not -size <= p < size for p in positions):
        raise imp.fail(node, f"writes channels {positions[:8]} of {size}")
    picked = [p % size for p in positions]
    if u.shape != (len(picked), *x.shape[1:]):
        raise imp.fail(node, f"writes N×{format_shape(u.shape)} into {len(picked)} channels of N×{format_shape(x.shape)}")
    first, count = picked[0], len(picked)
    if picked == list(range(first, first + count)):
        parts = [*([_slice(imp, i, node, x, 0, first, 1)] if first else []), u, *([_slice(imp, i, node, x, first + count, size, 1)] if first + count < size else [])]
        return u if len(parts) == 1 else imp.merge(i, node, "concat", parts)
    step = picked[1] - picked[0]
    if step < 2 or size % step or first >= step or picked != list(range(first, size, step)):
        raise Unsupported(f"a slice assignment to channels {picked[:8]}{'…' if count > 8 else ''} of {size} "
                          "(groupcost reads a run of channels, or every s-th one)")
    parts = [u if r == first else _slice(imp, i, node, x, r, size, step) for r in range(step)]
    joined = imp.merge(i, node, "concat", parts)
    return imp.layer(i, node, "shuffle", LAYER_TYPES["shuffle"](groups=step), joined)


def _slice(imp: Importer, i: int, node, x: Act, start: int, stop: int, step: int) -> Act:
    return imp.layer(i, node, "slice", LAYER_TYPES["slice"](start=start, stop=stop, step=step, dim=1), x)


def moved_back(read: Handler) -> Handler:
    """The Transpose handler `read`, and a Transpose that moves a scattered BatchMoved back: the activation."""

    def handle(imp: Importer, i: int, node, inputs: list):
        moved = inputs[0]
        if not isinstance(moved, BatchMoved):
            return read(imp, i, node, inputs)
        rank = len(moved.perm)
        perm = tuple(p % rank for p in attributes(node).get("perm", range(rank - 1, -1, -1)))
        if tuple(moved.perm[p] for p in perm) != tuple(range(rank)):
            raise Unsupported("a transpose of channels moved ahead of the batch, other than back")
        return moved.x

    return handle


SCATTERS = {"ScatterND": _scatter_nd}
"""ScatterND: a slice assignment along the channels."""
