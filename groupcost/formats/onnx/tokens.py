"""Tokens with the batch merged into their positions: a BatchNorm1d over flattened tokens.

LeViT normalises the N×L×C output of each linear as `bn(x.flatten(0, 1)).reshape_as(x)`. TorchScript
writes a Flatten (axis 2) to (N·L)×C, the BatchNormalization, and a Reshape to the linear's own shape;
torch.export a Reshape to [-1, C] and one back. groupcost reads the three as BatchNorm1d(C) over the
C×L activation (a `bn`): the same statistics per channel, the same 2C parameters and running-statistics
buffers, and the same elements. The flattened tensor stays a view (MergedTokens) that only a
BatchNormalization or the reshape back reads; anything else reading it is refused by name.
"""

from __future__ import annotations

import math

from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.values import BATCH, Act, ChannelsLast, Const, MergedTokens, Unsupported


def _tokens(x) -> Act | None:
    """The C×L activation behind N×L×C tokens (a channels-last view of rank 3), or None."""
    if isinstance(x, ChannelsLast) and isinstance(x.x, Act) and x.x.channels is None and len(x.x.shape) == 2:
        return x.x
    return None


def tokens_flattened(x, axis: int) -> MergedTokens | None:
    """A Flatten of N×L×C tokens at axis 2, (N·L)×C: the merged view; None for any other Flatten."""
    tokens = _tokens(x)
    return MergedTokens(tokens) if tokens is not None and tokens.shape[1] > 1 and axis % 3 == 2 else None


def tokens_reshaped(imp: Importer, i: int, node, x, target: Const) -> MergedTokens | ChannelsLast | Act | None:
    """A Reshape of N×L×C tokens to (N·L)×C (`[-1, C]`, or the batch's own number of rows): the merged view.
    A Reshape of merged tokens back to N×L×C: the channels-last view again; to N×L×… (torch.export writes
    `reshape_as(x).view(N, L, heads, -1)` as one Reshape): N×L×C as an activation, for the caller to reshape
    further. None where `x` is neither."""
    if isinstance(x, MergedTokens):
        c, length = x.x.shape
        dims = list(target.values)
        rows, rest = (dims[0], dims[1:]) if dims else (None, [])
        if (rows in (BATCH, imp.batch) and rest in ([length, c], [length, -1], [-1, c])) or (rows == -1 and rest == [length, c]):
            return ChannelsLast(x.x)
        if len(dims) > 3 and dims[0] in (BATCH, -1, imp.batch) and dims[1] == length and -1 not in dims[1:] and math.prod(dims[2:]) == c:
            return imp.materialized(i, node, ChannelsLast(x.x))
        raise Unsupported(f"a reshape of (N·{length})×{c} tokens (the batch merged into the positions) to {dims}, not back to N×{length}×…")
    tokens = _tokens(x)
    if tokens is None or tokens.shape[1] == 1:  # one token: merged with the batch it is a flatten
        return None
    c, length = tokens.shape
    dims = list(target.values)
    if len(dims) == 2 and dims[1] in (c, -1) and dims[0] in (-1, length * imp.batch) and (dims[0], dims[1]) != (-1, -1):
        return MergedTokens(tokens)
    return None


def merged_batchnorm(imp: Importer, i: int, node, inputs: list, batchnorm) -> MergedTokens:
    """A BatchNormalization of merged tokens: `batchnorm` (the handler) on the C×L activation, the view kept."""
    view = inputs[0]
    c = view.x.shape[0]
    scale = inputs[1]
    if math.prod(getattr(scale, "dims", ())) != c:
        raise imp.fail(node, f"scale of shape {list(getattr(scale, 'dims', []))} does not fit tokens of {c} channels")
    return MergedTokens(batchnorm(imp, i, node, [view.x, *inputs[1:]]))
