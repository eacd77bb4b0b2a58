"""Tokens with the batch merged into their positions: a BatchNorm1d over flattened tokens.

LeViT normalises the N×L×C output of each linear as `bn(x.flatten(0, 1)).reshape_as(x)`. TorchScript
writes a Flatten (axis 2) to (N·L)×C, the BatchNormalization, and a Reshape to the linear's own shape;
torch.export a Reshape to [-1, C] and one back. groupcost reads the three as BatchNorm1d(C) over the
C×L activation (a `bn`): the same statistics per channel, the same 2C parameters and running-statistics
buffers, and the same elements. The flattened tensor is a `Merged` view of x (groupcost.formats.onnx.windows:
(N·L)×C, its axes (1, 0)), read as every tensor whose first dim merges the batch with others; the reshape back to
N×L×C is the channels-last view of x again.
"""

from __future__ import annotations

import math

from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.values import BATCH, Act, ChannelsLast, Const, Merged


def _tokens(x) -> Act | None:
    """The C×L activation behind N×L×C tokens (a channels-last view of rank 3), or None."""
    if isinstance(x, ChannelsLast) and isinstance(x.x, Act) and x.x.channels is None and len(x.x.shape) == 2:
        return x.x
    return None


def tokens_flattened(x, axis: int) -> Merged | None:
    """A Flatten of N×L×C tokens at axis 2, (N·L)×C: the merged view; None for any other Flatten."""
    tokens = _tokens(x)
    return Merged(tokens, (1, 0)) if tokens is not None and tokens.shape[1] > 1 and axis % 3 == 2 else None


def tokens_reshaped(imp: Importer, x, target: Const) -> Merged | None:
    """A Reshape of N×L×C tokens to (N·L)×C (`[-1, C]`, or the batch's own number of rows): the merged view; None
    where it is not that."""
    tokens = _tokens(x)
    if tokens is None or tokens.shape[1] == 1:  # one token: merged with the batch it is a flatten
        return None
    c, length = tokens.shape
    dims = list(target.values)
    if len(dims) == 2 and dims[1] in (c, -1) and dims[0] in (-1, length * imp.batch) and (dims[0], dims[1]) != (-1, -1):
        return Merged(tokens, (1, 0))
    return None


def tokens_back(imp: Importer, i: int, node, m: Merged, target: Const) -> ChannelsLast | Act | None:
    """A Reshape of merged tokens (N·L)×C back to N×L×C: the channels-last view of x again; to N×L×… (torch.export
    writes `reshape_as(x).view(N, L, heads, -1)` as one Reshape): N×L×C as an activation, for the caller to reshape
    further. None where it is neither (a rearrangement, read as any other)."""
    if m.axes != (1, 0) or m.x.channels is not None:
        return None
    c, length = m.x.shape
    dims = list(target.values)
    rows, rest = (dims[0], dims[1:]) if dims else (None, [])
    if (rows in (BATCH, imp.batch) and rest in ([length, c], [length, -1], [-1, c])) or (rows == -1 and rest == [length, c]):
        return ChannelsLast(m.x)
    if len(dims) > 3 and dims[0] in (BATCH, -1, imp.batch) and dims[1] == length and -1 not in dims[1:] and math.prod(dims[2:]) == c:
        return imp.materialized(i, node, ChannelsLast(m.x))
    return None
