"""What a layer type is: a frozen dataclass whose fields are its spec arguments.

Each layer type declares, in one class, its arguments (fields with `arg(...)` metadata), its
output shape and its cost, and registers itself by name. The spec builder converts YAML values
through the declared argument kinds; the analysis only calls `out_shape` and `cost`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from groupcost.errors import SpecError
from groupcost.ops.adapters import (
    ExportError,
    OnnxGraph,
    Place,
    Raised,
    Raising,
    TorchModule,
)

Shape = tuple[int, ...]
"""(F,) flat, (C, L) 1-D, (C, H, W) 2-D or (C, T, H, W) 3-D; the batch is kept apart. A view
(reshape, permute) may give any rank; layers that need a feature map refuse more than 3 spatial dims."""

SPATIAL_NAMES = {1: "[l]", 2: "[h, w]", 3: "[t, h, w]"}


class LayerError(SpecError):
    """A layer cannot take its input or arguments; `arg` names the argument at fault, if any."""

    def __init__(self, message: str, hint: str | None = None, arg: str | None = None):
        super().__init__(message, hint)
        self.arg = arg


@dataclass(frozen=True)
class Cost:
    """What one layer costs for one sample. MACs count convolutions and linear layers only.

    `weights` are conv and linear kernel weights alone (no bias, no BN): the papers' count.
    `matmul_macs` are the products of two activations (attention's Q·Kᵀ and A·V), reported apart
    so that the conv + linear figure keeps its published meaning.
    """

    params: int = 0
    macs: int = 0
    weights: int = 0
    matmul_macs: int = 0


# ---- argument kinds: raw spec value (after expression evaluation) -> typed value -----------

Converter = Callable[[Any], Any]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(value: Any) -> int:
    if not _is_int(value):
        raise LayerError(f"expected a whole number, got {value!r}")
    if value < 1:
        raise LayerError(f"expected a positive number, got {value}")
    return value


def non_negative_int(value: Any) -> int:
    if not _is_int(value):
        raise LayerError(f"expected a whole number, got {value!r}")
    if value < 0:
        raise LayerError(f"expected zero or more, got {value}")
    return value


def dimension(value: Any) -> int:
    """A tensor dimension in PyTorch's numbering: 0 is the batch, 1 the channels, negative counts from the end."""
    if not _is_int(value):
        raise LayerError(f"expected a dimension number, got {value!r}")
    return value


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if _is_int(value) and value in (0, 1):
        return bool(value)
    raise LayerError(f"expected true or false, got {value!r}")


def probability(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise LayerError(f"expected a number in [0, 1), got {value!r}")
    return float(value)


def real(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LayerError(f"expected a number, got {value!r}")
    return float(value)


def positive_real(value: Any) -> float:
    if real(value) <= 0:
        raise LayerError(f"expected a positive number, got {value!r}")
    return float(value)


def _one_or_per_dim(value: Any, element: Converter) -> Any:
    """One value for every spatial dimension, or a list of one per dimension (its length is checked
    against the input's rank by `per_dim`, once the input is known)."""
    if isinstance(value, list):
        if not 1 <= len(value) <= 3:
            raise LayerError(f"expected one number or one per spatial dimension ([l], [h, w] or [t, h, w]), got a list of {len(value)}")
        return tuple(element(v) for v in value)
    return element(value)


def sizes(value: Any) -> int | tuple[int, ...]:
    """A positive int (kernel, stride, dilation, output size) for every spatial dimension, or one per dimension."""
    return _one_or_per_dim(value, positive_int)


def offsets(value: Any) -> int | tuple[int, ...]:
    """Zero or more for every spatial dimension, or one per dimension."""
    return _one_or_per_dim(value, non_negative_int)


def scales(value: Any) -> float | tuple[float, ...]:
    """A positive number, whole or not, for every spatial dimension, or one per dimension."""
    return _one_or_per_dim(value, positive_real)


def per_dim(value: int | float | tuple, rank: int, type_name: str, name: str) -> tuple:
    """A per-dimension argument (one number, or one per spatial dimension) for an input of `rank` spatial dimensions."""
    if not isinstance(value, tuple):
        return (value,) * rank
    if len(value) != rank:
        raise LayerError(f"{type_name} {name}: expected one number or {SPATIAL_NAMES[rank]}, got a list of {len(value)}", f"the input has {rank} spatial dimension{'s' if rank > 1 else ''}", arg=name)
    return value


def padding(value: Any) -> int | tuple[int, ...] | str:
    """int, one per dimension, [before, after] per dimension (2-D: [top, bottom, left, right]), 'same' or 'valid' (0).

    Lists are read against the input's rank by `resolve_padding`."""
    if value == "valid":
        return 0
    if value == "same":
        return "same"
    if isinstance(value, list):
        if len(value) not in (1, 2, 3, 4, 6):
            raise LayerError(f"padding takes 1, 2, 3, 4 or 6 numbers, got {len(value)}", "p: 1, p: [h, w] or p: [top, bottom, left, right] (1-D: [l] or [left, right]; 3-D: [t, h, w] or six)")
        return tuple(non_negative_int(v) for v in value)
    if isinstance(value, str):
        raise LayerError(f"unknown padding '{value}'", "a number, [h, w], [top, bottom, left, right], same or valid")
    return non_negative_int(value)


PAD_HINTS = {
    1: "p: 1, p: [l] or p: [left, right]",
    2: "p: 1, p: [h, w] or p: [top, bottom, left, right]",
    3: "p: 1, p: [t, h, w] or p: [front, back, top, bottom, left, right]",
}


def resolve_padding(value: int | tuple[int, ...], rank: int, type_name: str, name: str = "p") -> tuple[int, ...]:
    """(before, after) for every spatial dimension, flattened: 2-D gives (top, bottom, left, right)."""
    if not isinstance(value, tuple):
        return (value,) * (2 * rank)
    if len(value) == rank:
        return tuple(v for v in value for _ in range(2))
    if len(value) == 2 * rank:
        return value
    counts = " or ".join(", ".join(str(n) for n in sorted({1, rank, 2 * rank})).rsplit(", ", 1))
    raise LayerError(f"{type_name} {name}: padding takes {counts} numbers, got {len(value)}", PAD_HINTS[rank] + f" for a {rank}-D input", arg=name)


def one_of(*choices: str) -> Converter:
    def convert(value: Any) -> str:
        if value not in choices:
            raise LayerError(f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    convert.choices = choices  # type: ignore[attr-defined]
    return convert


KEYWORD_KINDS = {padding: ("same", "valid")}
"""Kinds whose string values are keywords, not expressions."""


def arg(kind: Converter, default: Any = dataclasses.MISSING, doc: str = "", alias: str | None = None, default_from: str | None = None) -> Any:
    """Declare a spec argument: its kind (a converter), default, documentation and one alias.

    `default_from` names the argument whose value a default of None stands for (a pool's stride
    is its window)."""
    return dataclasses.field(default=default, metadata={"kind": kind, "doc": doc, "alias": alias, "default_from": default_from})


@dataclass(frozen=True)
class ArgSpec:
    name: str
    kind: Converter
    required: bool
    default: Any
    doc: str
    alias: str | None
    textual: bool  # takes a name (e.g. an activation), never an expression
    keywords: tuple[str, ...]  # strings taken as they are, not evaluated
    default_from: str | None  # a default of None means this other argument's value


# ---- layers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """Base of every layer type. Subclasses are frozen dataclasses registered by name."""

    type_name: ClassVar[str] = ""
    doc: ClassVar[str] = ""
    counts_macs: ClassVar[bool] = False  # True for conv and linear layers
    groupable: ClassVar[bool] = False  # its G is a design choice: compare, whatif and --measure vary it

    @classmethod
    def arg_specs(cls) -> tuple[ArgSpec, ...]:
        return _arg_specs(cls)

    def out_shape(self, x: Shape) -> Shape:
        """Output shape for input `x`; raises LayerError if the input does not fit."""
        return x

    def cost(self, x: Shape, y: Shape) -> Cost:
        return Cost()

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        """The learnable tensors (PyTorch's names and layouts); their sizes add up to `cost().params`."""
        return {}

    def forward(self, x: Any, weights: dict[str, Any], counter: Any) -> Any:
        """The NumPy kernel: x is (N, *in_shape); MACs performed are reported to `counter` (groupcost.ops.kernels)."""
        raise NotImplementedError

    def group_count(self, x: Shape) -> int | None:
        """The convolution's group count, for conv-like layers; None elsewhere."""
        return None

    def window(self, x: Shape) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """A convolution's kernel, stride, dilation and (transposed) output padding, one entry per spatial dimension
        (which kernel a runtime picks depends on them: groupcost.run.latency); empty elsewhere."""
        return (), (), (), ()

    def kind_label(self, x: Shape) -> str:
        """What this layer is, for the `kind` column and `--by type`: the type's name, unless the type says more."""
        return self.type_name

    def buffer_counts(self, x: Shape) -> tuple[int, int]:
        """The non-learnable state PyTorch keeps in the state_dict: (floating-point elements, int64 elements)."""
        return 0, 0

    # ---- export facts (groupcost.ops.adapters); a type without them is refused by name -------------

    def torch_module(self, at: Place) -> TorchModule:
        """This layer as a PyTorch module in the resolved-graph form."""
        raise ExportError(f"layer type '{self.type_name}' ({at.name}) has no PyTorch export", "define torch_module() on its class", at.loc)

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        """This type in the raised PyTorch form, from its arguments' expressions; None: not raised (the graph form is written)."""
        return None

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        """Add the ONNX nodes that compute this layer, the last one's output named `at.name`."""
        raise ExportError(f"layer type '{self.type_name}' ({at.name}) has no ONNX export", "define onnx_nodes() on its class", at.loc)


@functools.cache
def _arg_specs(cls: type[Layer]) -> tuple[ArgSpec, ...]:
    return tuple(
        ArgSpec(
            f.name,
            f.metadata["kind"],
            f.default is dataclasses.MISSING,
            None if f.default is dataclasses.MISSING else f.default,
            f.metadata["doc"],
            f.metadata["alias"],
            hasattr(f.metadata["kind"], "choices"),
            getattr(f.metadata["kind"], "choices", None) or KEYWORD_KINDS.get(f.metadata["kind"], ()),
            f.metadata["default_from"],
        )
        for f in dataclasses.fields(cls)
        if "kind" in f.metadata
    )


class Macro(Layer):
    """One spec entry that stands for several layers, each reported as its own row."""

    def expand(self) -> tuple[tuple[str, Layer], ...]:
        """The parts, each with the name suffix it is reported under."""
        raise NotImplementedError


def feature_map(x: Shape, type_name: str) -> tuple[int, int, int]:
    """Require a C×H×W input (a layer that is 2-D only)."""
    if len(x) == 1:
        raise LayerError(f"{type_name} needs a C×H×W input, got the flat vector {format_shape(x)}", "put it before `flatten`")
    if len(x) != 3:
        raise LayerError(f"{type_name} needs a C×H×W input, got {format_shape(x)}", f"{type_name} is 2-D only")
    return x  # type: ignore[return-value]


def spatial(x: Shape, type_name: str) -> tuple[int, tuple[int, ...]]:
    """Require a C×L, C×H×W or C×T×H×W input; return C and the spatial sizes."""
    if len(x) == 1:
        raise LayerError(f"{type_name} needs a C×H×W input, got the flat vector {format_shape(x)}", "put it before `flatten` (C×L and C×T×H×W inputs work too)")
    if len(x) > 4:
        raise LayerError(f"{type_name} needs a C×L, C×H×W or C×T×H×W input, got {format_shape(x)} ({len(x) - 1} dims after the channels)",
                         "reshape or flatten it to at most three spatial dims first")
    return x[0], tuple(x[1:])


def format_shape(shape: Shape) -> str:
    return "×".join(str(d) for d in shape)


def window_output(size: int, kernel: int, stride: int, pad_before: int, pad_after: int, dilation: int = 1, ceil_mode: bool = False) -> int:
    """PyTorch's output length of a sliding window (conv or pool) along one dimension; 0 when none fits.

    floor((size + pads − d·(k − 1) − 1 [+ s − 1 with ceil_mode]) / s) + 1, the division rounding
    towards −∞ (so a window larger than the padded input gives no output, unless ceil_mode's
    s − 1 makes up the difference); with ceil_mode, a last window that would start beyond the
    input and the leading padding is dropped (ATen's pooling_output_shape).
    """
    span = size + pad_before + pad_after - dilation * (kernel - 1) - 1
    if ceil_mode:
        span += stride - 1
    out = span // stride + 1  # Python's // rounds towards −∞, as ATen's div_rtn
    if ceil_mode and (out - 1) * stride >= size + pad_before:
        out -= 1
    return max(out, 0)


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """'same' padding: output ceil(size / stride); the odd pixel goes after (TensorFlow, PyTorch)."""
    total = max((math.ceil(size / stride) - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2
