"""A resolved network: a directed acyclic graph of named tensors.

Each node (a layer step or a merge step) has a name, the names of the tensors it reads, its
input and output shapes, and where it came from. `Network.nodes` lists them in topological
order (every node after the nodes it reads); `"input"` names the network's input, and
`Network.outputs` names the tensors the network returns. The spec builder lowers `seq`,
`repeat`, `residual`, `parallel` and blocks to this graph; analysis, variants, sweeps, budgets,
diffs and the NumPy executor see only the graph.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Union

from groupcost.errors import Location
from groupcost.ops import MERGE_TYPES, Layer, Merge, Shape

INPUT = "input"
"""The name of the network's input tensor."""

Channels = Union[tuple[int, int], None]
"""A channel range [start, stop) read from an input (a `parallel` with `split`), or the whole tensor."""


@dataclass(frozen=True)
class LayerStep:
    """One layer applied to one tensor."""

    name: str
    layer: Layer
    in_shape: Shape
    out_shape: Shape
    loc: Location
    inputs: tuple[str, ...] = (INPUT,)
    channels: tuple[Channels, ...] = (None,)
    size_of: str | None = None  # `to:`: the tensor whose spatial size the output takes (only its shape is read)
    shares: str | None = None  # `share:`: the earlier layer step whose module (its parameters and state) this step calls again

    @property
    def type_name(self) -> str:
        return self.layer.type_name

    @property
    def in_shapes(self) -> tuple[Shape, ...]:
        return (self.in_shape,)

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """The learnable tensors by PyTorch state_dict key (`layer2.0.conv2.weight`). A layer named
        after its one tensor is that tensor: ConvNeXt's `features.1.0.layer_scale`. A step that shares
        another's module has none of its own."""
        if self.shares is not None:
            return {}
        last = self.name.rsplit(".", 1)[-1]
        return {self.name if tensor == last else f"{self.name}.{tensor}": shape for tensor, shape in self.layer.weight_shapes(self.in_shape).items()}


@dataclass(frozen=True)
class MergeStep:
    """Where tensors meet: element-wise add or multiply, channel concatenation, or a matrix product."""

    name: str
    kind: str  # a name in MERGE_TYPES: add | mul | concat | matmul
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    loc: Location
    inputs: tuple[str, ...] = ()
    channels: tuple[Channels, ...] = ()

    @property
    def type_name(self) -> str:
        return self.kind

    @property
    def merge(self) -> Merge:
        """The merge type: its shape rule, kernel and what each format writes for it."""
        return MERGE_TYPES[self.kind]


Step = Union[LayerStep, MergeStep]


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
    variables: dict
    nodes: tuple[Step, ...]
    outputs: tuple[str, ...]
    notes: tuple[str, ...] = ()  # said once under every report: how the source was read (an ONNX import's folded BN)

    def steps(self) -> tuple[Step, ...]:
        """The nodes in topological order."""
        return self.nodes

    @functools.cached_property
    def shapes(self) -> dict[str, Shape]:
        """Every tensor's shape by name, the input included."""
        return {INPUT: self.input_shape, **{node.name: node.out_shape for node in self.nodes}}

    @property
    def output_shapes(self) -> tuple[Shape, ...]:
        return tuple(self.shapes[name] for name in self.outputs)

    @property
    def output_shape(self) -> Shape:
        """The first output's shape (the only one, for most networks)."""
        return self.output_shapes[0]

    @functools.cached_property
    def last_use(self) -> dict[str, int]:
        """For each tensor, the index of the last node that reads it (len(nodes) for outputs)."""
        last = {name: i for i, node in enumerate(self.nodes) for name in node.inputs}
        last.update({name: len(self.nodes) for name in self.outputs})
        return last


def replace_steps(network: Network, rebuild: Callable[[LayerStep], tuple[Step, ...]]) -> Network:
    """The network with each layer step replaced by the steps `rebuild` returns for it.

    The replacement reads what the step read and its last step stands for the step's output:
    readers of the old name read the new last name. A step that shared a module keeps sharing the
    replacement of its owner where the two were rebuilt alike, and owns its module where not.
    """
    renamed: dict[str, str] = {}
    nodes: list[Step] = []
    made: dict[str, tuple[Step, ...]] = {}  # each layer step's replacement, by its old name
    for node in network.nodes:
        if renamed:
            node = replace(node, inputs=tuple(renamed.get(name, name) for name in node.inputs))
        new = rebuild(node) if isinstance(node, LayerStep) else (node,)
        if isinstance(node, LayerStep):
            made[node.name] = new
            if node.shares is not None:
                new = _shared(new, made[node.shares])
        if new[-1].name != node.name:
            renamed[node.name] = new[-1].name
        nodes.extend(new)
    outputs = tuple(renamed.get(name, name) for name in network.outputs)
    return replace(network, nodes=tuple(nodes), outputs=outputs)


def _shared(steps: tuple[Step, ...], owners: tuple[Step, ...]) -> tuple[Step, ...]:
    """`steps` (the replacement of a step that shared a module) sharing `owners` (its owner's replacement) part
    for part, where they are the same layers; each owning its module otherwise."""
    alike = len(steps) == len(owners) and all(isinstance(a, LayerStep) and isinstance(b, LayerStep) and a.layer == b.layer for a, b in zip(steps, owners))
    if not alike:
        return tuple(replace(step, shares=None) if isinstance(step, LayerStep) else step for step in steps)
    return tuple(replace(step, shares=owner.shares or owner.name) for step, owner in zip(steps, owners))
