"""A resolved network: every layer concrete, named, with its input and output shapes.

This is what the spec builder produces and what analysis (and the NumPy executor) consume.
The tree keeps the structure (residuals, parallel branches); `steps()` flattens it in
execution order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from groupcost.errors import Location
from groupcost.layers import Layer, Shape

if TYPE_CHECKING:
    from groupcost.analysis import Report


@dataclass(frozen=True)
class LayerStep:
    """One layer applied to one tensor."""

    name: str
    layer: Layer
    in_shape: Shape
    out_shape: Shape
    loc: Location

    @property
    def type_name(self) -> str:
        return self.layer.type_name


@dataclass(frozen=True)
class MergeStep:
    """Where branches meet: element-wise add or multiply, or channel concatenation."""

    name: str
    kind: str  # add | mul | concat
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    loc: Location

    @property
    def type_name(self) -> str:
        return self.kind


@dataclass(frozen=True)
class Sequence:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Residual:
    """body(x) merged with shortcut(x); an empty shortcut is the identity."""

    body: Sequence
    shortcut: Sequence
    merge: MergeStep


@dataclass(frozen=True)
class Parallel:
    """Branches over the same input, or over channel slices of it when `split` is set."""

    branches: tuple[Sequence, ...]
    split: tuple[int, ...] | None
    merge: MergeStep


Node = Union[LayerStep, Sequence, Residual, Parallel]
Step = Union[LayerStep, MergeStep]


def walk(node: Node) -> Iterator[Step]:
    """Steps in execution order: a residual's body, then its shortcut, then the merge."""
    if isinstance(node, LayerStep):
        yield node
    elif isinstance(node, Sequence):
        for item in node.items:
            yield from walk(item)
    elif isinstance(node, Residual):
        yield from walk(node.body)
        yield from walk(node.shortcut)
        yield node.merge
    else:
        for branch in node.branches:
            yield from walk(branch)
        yield node.merge


@dataclass(frozen=True)
class Network:
    """A spec resolved for one set of variables: what `groupcost.load` returns."""

    name: str
    description: str
    source: str
    input_shape: Shape
    batch: int
    dtype: str
    dtype_bytes: int
    variables: dict[str, int | float]
    body: Sequence

    @property
    def output_shape(self) -> Shape:
        steps = self.steps()
        return steps[-1].out_shape if steps else self.input_shape

    def steps(self) -> tuple[Step, ...]:
        return self._steps

    @functools.cached_property
    def _steps(self) -> tuple[Step, ...]:
        return tuple(walk(self.body))

    def analyze(self) -> Report:
        """Per-layer costs and totals (see groupcost.analysis.analyze)."""
        from groupcost.analysis import analyze

        return analyze(self)


def replace_steps(node: Node, replace: Callable[[LayerStep], Node]) -> Node:
    """The same tree with every layer step passed through `replace` (which may return a Sequence)."""
    if isinstance(node, LayerStep):
        return replace(node)
    if isinstance(node, Sequence):
        return Sequence(tuple(replace_steps(item, replace) for item in node.items))
    if isinstance(node, Residual):
        return Residual(replace_steps(node.body, replace), replace_steps(node.shortcut, replace), node.merge)  # type: ignore[arg-type]
    return Parallel(tuple(replace_steps(b, replace) for b in node.branches), node.split, node.merge)  # type: ignore[misc]
