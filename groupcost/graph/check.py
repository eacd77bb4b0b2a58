"""A checker any Network passes, whoever built it (spec, ONNX, torch), in the spirit of onnx.checker.

The builders keep these rules as they add nodes; `check` states them once, for a network however
it was made (a transform, a test, a new front end): names unique, every tensor read defined
earlier (topological order), shapes as the layer types and merge rules give them, channel ranges
inside their tensors, no tensor past the element limit, outputs that exist.
"""

from __future__ import annotations

from collections.abc import Callable

from groupcost.errors import Location, SpecError
from groupcost.graph.builder import too_large
from groupcost.graph.network import INPUT, Channels, LayerStep, Network, Step
from groupcost.ops import MERGE_TYPES, LayerError, Shape, format_shape


class GraphError(SpecError):
    """A network breaks a rule of the graph: a builder's or a transform's bug, or a network made by hand."""


def check(network: Network) -> None:
    """Raise a GraphError located at the first node that breaks a rule, naming it."""
    shapes: dict[str, Shape] = {INPUT: network.input_shape}
    if too_large(network.input_shape, network.batch):
        raise GraphError(f"input {format_shape(network.input_shape)} has more than 2^40 elements", None, Location(network.source))
    for node in network.nodes:
        _check_node(node, shapes, network.batch)
        shapes[node.name] = node.out_shape
    if not network.outputs:
        raise GraphError("the network has no outputs", None, Location(network.source))
    for name in network.outputs:
        if name not in shapes:
            raise GraphError(f"output '{name}' is no tensor of the network", None, Location(network.source))


def _check_node(node: Step, shapes: dict[str, Shape], batch: int) -> None:
    def fail(message: str) -> GraphError:
        return GraphError(f"node '{node.name}' ({node.type_name}): {message}", None, node.loc)

    if node.name in shapes:
        raise fail("its name is taken by the input or an earlier node")
    counts = (len(node.inputs), len(node.channels), len(node.in_shapes))
    if not node.inputs or len(set(counts)) != 1:
        raise fail("inputs: {}, channel ranges: {}, input shapes: {} (one of each per input, at least one)".format(*counts))
    for name, channels, shape in zip(node.inputs, node.channels, node.in_shapes):
        if name not in shapes:
            raise fail(f"reads '{name}', which is not the input or an earlier node")
        read = _read_shape(shapes[name], channels)
        if read is None:
            raise fail(f"reads channels {channels} of '{name}', which is {format_shape(shapes[name])}")
        if shape != read:
            raise fail(f"takes {format_shape(shape)} from '{name}', which gives {format_shape(read)}")
    expected = _out_shape(node, fail)
    if node.out_shape != expected:
        raise fail(f"gives {format_shape(node.out_shape)}, but {format_shape(expected)} follows from its input")
    if too_large(node.out_shape, batch):
        raise fail(f"output {format_shape(node.out_shape)} has more than 2^40 elements")


def _read_shape(shape: Shape, channels: Channels) -> Shape | None:
    """What a node reads of a tensor of `shape`: all of it, or a channel range of it; None where the range is not inside it."""
    if channels is None:
        return shape
    start, stop = channels
    if not 0 <= start < stop <= shape[0]:
        return None
    return (stop - start, *shape[1:])


def _out_shape(node: Step, fail: Callable[[str], GraphError]) -> Shape:
    """The output shape the node's layer type or merge rule gives for its input shapes."""
    if isinstance(node, LayerStep):
        try:
            return node.layer.out_shape(node.in_shape)
        except LayerError as exc:
            raise fail(f"its layer refuses its input {format_shape(node.in_shape)}: {exc.message}") from None
    if node.kind not in MERGE_TYPES:
        raise fail(f"unknown merge '{node.kind}' (one of {', '.join(MERGE_TYPES)})")
    shape = node.merge.out_shape(node.in_shapes)
    if shape is None:
        raise fail(f"cannot {node.kind} {', '.join(map(format_shape, node.in_shapes))}")
    return shape
