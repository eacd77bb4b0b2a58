"""What a layer type tells the format writers, and the small kit its methods write with.

Each layer type carries its own export facts beside its shape, cost and kernel:
- `torch_module(at)`: its PyTorch module in the resolved-graph form (a `TorchModule`);
- `torch_raised(r)` (a classmethod): its module in the raised form, written from the spec's
  argument expressions (a `Raised`, or None where that form does not raise it);
- `onnx_nodes(g, at, x)`: the ONNX nodes that compute it, written to an `OnnxGraph`.

The writers in groupcost.formats loop over the registry and ask; nothing here imports torch or onnx.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from groupcost.errors import GroupcostError, Location


class ExportError(GroupcostError):
    """The network has something a format cannot express (named in the message)."""


class Unraisable(Exception):
    """A construct the raised PyTorch form does not write; the message names it."""


@dataclass(frozen=True)
class Place:
    """Where a layer sits in the graph: its name (the module path), input and output shapes, spec location."""

    name: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    loc: Location | None = None
    size_of: str | None = None  # `to:`: the tensor (as the writer names it) whose spatial size the output takes at run time


# ---- PyTorch ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TorchModule:
    """One layer as PyTorch code: the module's constructor, and a wrapper around its call in forward."""

    module: str
    call: str = "{m}({x})"  # {m}: the module, {x}: its input
    helpers: tuple[tuple[str, str], ...] = ()  # (name, source text) of the classes the module needs in the file


@dataclass(frozen=True)
class Raised:
    """One layer in the raised form: its constructor expression, the shape after it, and lines before it.

    `shape` is None where the shape does not change, "module" where the module knows its `out_shape`,
    else a Python expression of `shape` and the arguments.
    """

    module: str
    shape: str | None = None
    setup: tuple[str, ...] = ()  # statements placed before the module (at the entry's indent)


@dataclass(frozen=True)
class Raising:
    """A spec entry's arguments as Python expressions, and what the raised writer offers a layer type."""

    values: dict[str, str]
    need: Callable[[str], str]  # a helper of the raised file by name → the name to call
    fresh: Callable[[str], str]  # a new local variable name from a base
    written_name: str | None = None  # the entry's own name as written, where nothing else names it
    parameter_ok: bool = False  # the module may be a bare parameter that forward multiplies by
    loc: Location | None = None

    def a(self, name: str) -> str | None:
        return self.values.get(name)

    def kw(self, *names: str) -> str:
        """`, name=expression` for each argument the entry gives."""
        return "".join(f", {n}={self.values[n]}" for n in names if n in self.values)


def ints(values: tuple[int, ...]) -> str:
    """A size as torch takes it: one int when all equal, else a tuple."""
    return str(values[0]) if len(set(values)) == 1 else f"({', '.join(map(str, values))})"


def options(**kwargs) -> str:
    """`, key=value` for each value that is not None."""
    return "".join(f", {k}={v}" for k, v in kwargs.items() if v is not None)


def rank(x: tuple[int, ...]) -> int:
    """Spatial dimensions of an input: 0 flat, 1, 2 or 3."""
    return len(x) - 1


def nd(name: str, x: tuple[int, ...]) -> str:
    """`Conv` → `nn.Conv2d` for a C×H×W input (the class of the input's rank)."""
    return f"nn.{name}{rank(x)}d"


def torch_pad(pads: tuple[int, ...]) -> str:
    """(before, after) per dimension, first dimension first → F.pad's order (last dimension first)."""
    pairs = [pads[i : i + 2] for i in range(0, len(pads), 2)]
    return "(" + ", ".join(str(v) for pair in reversed(pairs) for v in pair) + ")"


def refused(type_name: str, at: Place, what: str, fmt: str) -> ExportError:
    """The error for a type that a format refuses by name (`opaque`: groupcost does not know what it computes)."""
    return ExportError(f"layer type '{type_name}' ({at.name}, {what}) has no {fmt} export",
                       "groupcost knows an opaque operator's shape and parameters, not what it computes; replace it in the spec", at.loc)


# ---- ONNX ---------------------------------------------------------------------------------------


class OnnxGraph(Protocol):
    """The ONNX writer as a layer type sees it (groupcost.formats.onnx.export implements it). The batch is
    symbolic: a node that needs it reads it (Reshape's 0, or Shape)."""

    def node(self, op: str, inputs: list[str], output: str, name: str | None = None, **attrs) -> str:
        """Add a node; returns its output tensor's name."""

    def tensor(self, name: str, dims: tuple[int, ...], fill: str) -> str:
        """A float initializer: `kernel` (random or zeros), `zeros`, `ones` or a constant as text."""

    def ints(self, name: str, values: list[int]) -> str:
        """An int64 vector initializer."""

    def floats(self, name: str, values: list[float]) -> str:
        """A float vector initializer with the given values."""


def onnx_params(g: OnnxGraph, at: Place, shapes: dict[str, tuple[int, ...]], fills: dict[str, str]) -> list[str]:
    """A layer's learnable tensors as initializers under PyTorch's names (`NAME.weight`), in order."""
    return [g.tensor(f"{at.name}.{key}", dims, fills.get(key, "zeros")) for key, dims in shapes.items()]


def channel_shape(at: Place) -> tuple[int, ...]:
    """C×1×... : a per-channel vector that broadcasts against N×C×(spatial)."""
    return (at.in_shape[0], *(1,) * (len(at.in_shape) - 1))


def onnx_pads(pads: tuple[int, ...]) -> list[int]:
    """(before, after) per dimension → ONNX's [all befores, all afters]."""
    return [*pads[::2], *pads[1::2]]


def channels_last(g: OnnxGraph, at: Place, x: str) -> tuple[str, list[int]]:
    """N×C×... → N×...×C, and the permutation that moves C back."""
    r = len(at.in_shape) + 1
    perm = [0, *range(2, r), 1]
    back = [0, r - 1, *range(1, r - 1)]
    return g.node("Transpose", [x], f"{at.name}/channels_last", perm=perm), back


@dataclass(frozen=True)
class Unary:
    """One ONNX node of one input, with fixed attributes (`Relu`, `Softmax(axis=1)`)."""

    op: str
    attrs: dict = field(default_factory=dict)

    def __call__(self, g: OnnxGraph, at: Place, x: str) -> None:
        g.node(self.op, [x], at.name, **self.attrs)
