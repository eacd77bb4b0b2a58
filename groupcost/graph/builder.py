"""One way to build a Network, in the spirit of torch.fx's `Graph.create_node`.

The spec lowering (groupcost.language.build) and the ONNX importer (groupcost.formats.onnx) decide
what to add and in which order; the builder does the rest, the same way for both: it computes
each node's output shape from its layer type or merge type, refuses tensors past MAX_ELEMENTS,
keeps names unique, and makes the Network. Its errors name the node as the front end words it
(`features.3 (conv): ...`, `node '/layer1/Conv' (Conv): ...`) and point where the front end says.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from groupcost.errors import Location, SpecError
from groupcost.graph.network import INPUT, Channels, LayerStep, MergeStep, Network, Step
from groupcost.ops import MERGE_TYPES, Layer, LayerError, Shape, format_shape

MAX_ELEMENTS = 2**40  # per tensor, batch included: far beyond any real network, far below trouble
LIMIT_HINT = "groupcost's bound on one tensor"


@dataclass(frozen=True)
class Tensor:
    """A tensor as a node reads it: its name, its shape, and the channel range [start, stop) of it
    that is read (a split), or None for all of it."""

    name: str
    shape: Shape
    channels: Channels = None


class Located(Protocol):
    """Anything that knows where it was written: the spec's YAML nodes."""

    loc: Location


def too_large(shape: Shape, batch: int) -> bool:
    """Whether `batch` tensors of `shape` pass groupcost's bound of MAX_ELEMENTS elements."""
    return math.prod(shape) * batch > MAX_ELEMENTS


class GraphBuilder:
    """Adds nodes in topological order, then makes the Network.

    `error` is the exception its errors raise (the importer's OnnxError), `limit_hint` the hint of a
    tensor past the limit, and `first_copy` the number a name's second claim takes: `add`, `add_2`
    in a spec (the second add), `conv`, `conv_1` in an import.
    """

    def __init__(self, input_shape: Shape, batch: int, loc: Location, *, input_label: str, error: type[SpecError] = SpecError,
                 limit_hint: str | None = LIMIT_HINT, first_copy: int = 2):
        self.error, self.limit_hint, self.first_copy = error, limit_hint, first_copy
        self.batch = batch
        if too_large(input_shape, batch):
            raise self.too_large_error(input_label, loc)
        self.input = Tensor(INPUT, input_shape)
        self.nodes: list[Step] = []
        self.names: dict[str, Location] = {INPUT: loc}  # every name claimed: nodes, namespaces, the input

    # names ------------------------------------------------------------------------------

    def claim(self, base: str, loc: Location) -> str:
        """`base`, or the first free one of `base_{first_copy}`, `base_{first_copy + 1}`, ...; claimed at `loc`."""
        name, n = base, self.first_copy
        while name in self.names:
            name, n = f"{base}_{n}", n + 1
        self.names[name] = loc
        return name

    # nodes ------------------------------------------------------------------------------

    def layer(self, name: str, layer: Layer, x: Tensor, loc: Location, *, where: str | None = None,
              args: Mapping[str, Located] | None = None, fresh: bool = False, size_of: str | None = None) -> Tensor:
        """Add `layer` reading `x`; its output shape is what the layer type gives.

        Errors read `{where}: ...` (by default `name (type)`) at `loc`, or where the argument at
        fault was written, if `args` has it. `fresh`: `name` is a base, claimed once the node is made.
        """
        try:
            y = layer.out_shape(x.shape)
        except LayerError as exc:
            node = args.get(exc.arg) if args and exc.arg else None
            raise self.error(f"{where or f'{name} ({layer.type_name})'}: {exc.message}", exc.hint, node.loc if node else loc) from None
        if too_large(y, self.batch):
            raise self.too_large_error(f"{where or f'{name} ({layer.type_name})'}: output {format_shape(y)}", loc)
        if fresh:
            name = self.claim(name, loc)
        self.nodes.append(LayerStep(name, layer, x.shape, y, loc, (x.name,), (x.channels,), size_of))
        return Tensor(name, y)

    def merge(self, name: str, kind: str, inputs: Sequence[Tensor], loc: Location, refused: Callable[[tuple[Shape, ...]], Exception], *,
              where: str | None = None, fresh: bool = False) -> Tensor:
        """Add a merge of `inputs` (a name in MERGE_TYPES); `refused(shapes)` is the error where they do not merge."""
        shapes = tuple(t.shape for t in inputs)
        y = MERGE_TYPES[kind].out_shape(shapes)
        if y is None:
            raise refused(shapes)
        if too_large(y, self.batch):
            raise self.too_large_error(f"{where or f'{name} ({kind})'}: output {format_shape(y)}", loc)
        if fresh:
            name = self.claim(name, loc)
        self.nodes.append(MergeStep(name, kind, shapes, y, loc, tuple(t.name for t in inputs), tuple(t.channels for t in inputs)))
        return Tensor(name, y)

    def too_large_error(self, what: str, loc: Location) -> SpecError:
        return self.error(f"{what} has more than 2^40 elements", self.limit_hint, loc)

    # the result -------------------------------------------------------------------------

    def network(self, name: str, description: str, source: str, dtype: str, dtype_bytes: int, variables: dict, outputs: Sequence[str],
                notes: Sequence[str] = ()) -> Network:
        return Network(name, description, source, self.input.shape, self.batch, dtype, dtype_bytes, variables, tuple(self.nodes), tuple(outputs), tuple(notes))
