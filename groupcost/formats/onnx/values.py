"""What flows along an ONNX graph as the importer reads it, and how its protos are read.

An activation (`Act`: a step's output or the input, maybe a channel range of it), a small constant
(`Const`, for shape arithmetic), a weight (`Weight`: dims only), or something unknown; and the
views that stand for an activation until an operator reads them (see groupcost.formats.onnx.views).
"""

from __future__ import annotations

import math
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from groupcost.errors import Location, SpecError
from groupcost.graph.builder import Tensor
from groupcost.ops import format_shape

SMALL = 1024  # elements of a constant we read (shape arithmetic, clip bounds): never a weight tensor
GRID = 1 << 16  # elements of a constant computed at run time from ranges that we evaluate (anchor grids: 2 × 8,400 at 640 × 640)
UNFOLDED_EXPORT = "export with do_constant_folding=False (TorchScript) or optimize=False (dynamo=True), or read the torch: source"
"""The hint where an exporter computed parameters into a constant that does not tell them: the exports that keep them."""
VIEW_OPERATORS = frozenset({"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Flatten"})
"""Operators that only lay a tensor's values out anew: what a norm's output or a folded table passes through."""


class OnnxError(SpecError):
    """The ONNX file cannot be read as a network."""


class FileLocation(Location):
    """A whole file: printed as its path alone (`model.onnx: error: ...`)."""

    def __str__(self) -> str:
        return self.path


def require_onnx():
    """The onnx package (for shape inference, or where its message classes cannot be loaded alone)."""
    try:
        import onnx
    except ImportError:
        raise OnnxError("reading ONNX needs the onnx package", "pip install 'groupcost[onnx]'") from None
    return onnx


class Unsupported(Exception):
    """A use of an operator groupcost cannot model: reported at the end, or kept opaque (--allow-unknown)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Batch:
    """The batch dimension in shape arithmetic (symbolic or not: the network's batch is apart)."""

    def __repr__(self) -> str:
        return "N"


BATCH = _Batch()


@dataclass(frozen=True)
class BatchTimes:
    """The batch times a number in shape arithmetic (`B * P`): the size of a dim that merges the batch with others."""

    factor: int


def symbolic(value) -> bool:
    """Whether a value of shape arithmetic is unknown or stands for the batch (alone or times a number)."""
    return value is None or value is BATCH or isinstance(value, BatchTimes)


Act = Tensor
"""An activation as groupcost sees it: a step's output (or the input), maybe a channel range of it."""


@dataclass(frozen=True)
class Const:
    """A small constant: flat values (ints, floats, BATCH, None for unknown) and its dims."""

    values: tuple
    dims: tuple[int, ...]


@dataclass(frozen=True)
class Standardised:
    """A weight standardised per output channel before a conv reads it (BiT, NFNets): its learned gain's
    initializer (None without one) and the eps added to the variance."""

    gain: str | None
    eps: float


@dataclass(frozen=True)
class Weight:
    """An initializer too large to read, or any learnable tensor: only its dims are known (and whether
    it was standardised on its way to a conv)."""

    name: str
    dims: tuple[int, ...]
    standardised: Standardised | None = None
    box: tuple[tuple[int, int], ...] | None = None  # the part of the initializer it is ((start, stop) per axis: a Slice of it), None: all of it

    @property
    def size(self) -> int:
        return math.prod(self.dims)


@dataclass(frozen=True)
class Table:
    """A learned table gathered by a fixed index (a relative position bias), maybe viewed: the table's
    initializer and size (what PyTorch counts), the gathered tensor's dims, and the index of the node
    that gathered it (its module path names the step where the table's own name is the exporter's)."""

    name: str
    size: int
    dims: tuple[int, ...]
    first: int
    row: int | None = None  # one row of the table, gathered apart (EfficientViT's `biases[head]`): its share, `size`, counts where it is added


class Unknown:
    """The output of an unsupported operator (reported at the end, or kept opaque)."""


UNKNOWN = Unknown()


@dataclass(frozen=True)
class PaddedView:
    """x with zeros around its spatial dimensions (a `Pad` read only by convolutions): folded into them."""

    x: Act
    pads: tuple[int, ...]  # (before, after) per spatial dimension


@dataclass(frozen=True)
class GroupedView:
    """x viewed as (N, g, C/g, H, W), maybe with its two group axes swapped: half a channel shuffle."""

    x: Act
    groups: int
    swapped: bool = False


@dataclass(frozen=True)
class Cropped:
    """A spatial window of x, (start, stop) per spatial dimension: a centre `crop` once something reads it."""

    x: Act
    box: tuple[tuple[int, int], ...]
    first: int  # the index of the first Slice: the crop layer's name and location


@dataclass(frozen=True)
class ChannelsLast:
    """x with its channels moved last (a Transpose to N×…×C), as a channels-last LayerNorm or Linear reads it."""

    x: Act
    made_at: int | None = None  # the Transpose that made it: the module a `permute` is named after, where one is needed


@dataclass(frozen=True)
class TokensFirst:
    """The C×L tokens x as L×N×C, the batch second (`x.flatten(2).permute(2, 0, 1)`), as
    nn.MultiheadAttention(batch_first=False) reads them; a layer norm, linear or element-wise
    operator on the channels reads it as it reads a ChannelsLast view."""

    x: Act


@dataclass(frozen=True)
class Sequences:
    """The C×S×L… tokens x as (N·S)×L…×C: S sequences of L tokens, the batch merged with them (MobileViT's
    patches, `reshape(B * P, N, C)`), per sample what the file computes for a batch of 1; a layer norm,
    linear or element-wise operator on the channels reads it as it reads a ChannelsLast view."""

    x: Act


@dataclass(frozen=True)
class Merged:
    """x with the batch merged into the file's first dim: the file's tensor is (N·S)×d₁×…, its k-th dim x's
    dim `axes[k]` (0 its channels), S x's dim `axes[0]`; per sample what the file computes for a batch of 1.
    EfficientViT's windows, (N·S)×C×h×w, are C×S×h×w with axes (1, 0, 2, 3): a conv reads them as a
    conv3d of kernel 1×k×k; a product of two activations reads both S first (axes 0, 1, …)."""

    x: Act
    axes: tuple[int, ...]


@dataclass(frozen=True)
class Arranged:
    """x's elements rearranged by a run of Reshapes and Transposes, made layers once something else reads it.

    The file's tensor is N×x split into `factors` (row-major, the batch first: factors[0] is BATCH),
    put in `order`, and joined again: the file's k-th dim is the next `groups[k]` factors of that order.
    """

    x: Act
    factors: tuple
    order: tuple[int, ...]
    groups: tuple[int, ...]
    first: int  # the index of the node that began the run: its layers' name and location
    last: int | None = None  # the node that ended it, where another: the name of the step that makes its result


Value = Union[Act, Const, Weight, Unknown, GroupedView, PaddedView, ChannelsLast, Cropped, TokensFirst, Sequences, Merged, Arranged, Table]


def as_act(value, what: str = "its input") -> Act:
    """`value` as an activation; a constant or weight is Unsupported."""
    if not isinstance(value, Act):
        raise Unsupported(f"{what} is a constant, not an activation")
    return value


def feature_map(x: Act) -> tuple[int, tuple[int, ...]]:
    """C and the spatial sizes of a C×L, C×H×W or C×T×H×W input."""
    if not 2 <= len(x.shape) <= 4:
        raise Unsupported(f"its input is {format_shape(x.shape)}, not C×L, C×H×W or C×T×H×W")
    return x.shape[0], tuple(x.shape[1:])


# ---- reading protos ---------------------------------------------------------------------


def attributes(node) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in node.attribute:
        t = a.type
        if t == 1:
            out[a.name] = a.f
        elif t == 2:
            out[a.name] = a.i
        elif t == 3:
            out[a.name] = a.s.decode("utf-8", "replace")
        elif t == 4:
            out[a.name] = a.t
        elif t == 6:
            out[a.name] = tuple(a.floats)
        elif t == 7:
            out[a.name] = tuple(a.ints)
        else:
            out[a.name] = None
    return out


_ARRAY_CODES = {1: "f", 11: "d", 6: "i", 7: "q", 2: "B", 3: "b", 5: "h", 9: "B"}


def tensor_values(tensor, folder: Path | None, limit: int = SMALL, first: int | None = None) -> tuple | None:
    """The values of a small tensor (≤ `limit` elements), or None when it is large or of another type; with
    `first`, its first `first` values (≤ `limit`) whatever its size."""
    values = tensor_buffer(tensor, folder, limit, first)
    return None if values is None else tuple(values)


def tensor_buffer(tensor, folder: Path | None, limit: int, first: int | None = None):
    """As tensor_values, the values as they are read (an `array`, or the tensor's repeated field), not copied into a
    tuple: what NumPy takes whole (groupcost.formats.onnx.relpos reads folded tables of 600,000 values)."""
    total = math.prod(tensor.dims)
    n = total if first is None else min(first, total)
    code = _ARRAY_CODES.get(tensor.data_type)
    if n > limit or code is None:
        return None
    if tensor.data_location == 1:  # external: only small constants are read, never weights
        info = {e.key: e.value for e in tensor.external_data}
        if folder is None or "location" not in info:
            return None
        try:
            with open(folder / info["location"], "rb") as f:
                f.seek(int(info.get("offset", 0)))
                raw = f.read(n * array(code).itemsize)
        except (OSError, ValueError):
            return None
    elif tensor.raw_data:
        raw = tensor.raw_data[: n * array(code).itemsize]
    else:
        field_values = {1: tensor.float_data, 11: tensor.double_data, 7: tensor.int64_data, 6: tensor.int32_data, 2: tensor.int32_data,
                        3: tensor.int32_data, 5: tensor.int32_data, 9: tensor.int32_data}[tensor.data_type]
        return field_values[:n] if len(field_values) == total else None
    values_array = array(code)
    if len(raw) != n * values_array.itemsize:
        return None
    values_array.frombytes(raw)
    if sys.byteorder != "little":
        values_array.byteswap()
    return values_array
