"""A checker any Network passes, whoever built it (spec, ONNX, torch), in the spirit of onnx.checker.

The builders keep these rules as they add nodes; `check` states them once, for a network however
it was made (a transform, a test, a new front end): names unique, every tensor read defined
earlier (topological order), shapes as the layer types and merge rules give them, channel ranges
inside their tensors, no tensor past the element limit, outputs that exist, and shared modules
(`LayerStep.shares`) that name an earlier layer of the same type, arguments and parameter shapes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from groupcost.errors import GroupcostError, Location, SpecError
from groupcost.graph.builder import too_large
from groupcost.graph.network import INPUT, Channels, LayerStep, Network, Step
from groupcost.ops import MERGE_TYPES, LayerError, Shape, format_shape
from groupcost.ops.adapters import Place


class GraphError(SpecError):
    """A network breaks a rule of the graph: a builder's or a transform's bug, or a network made by hand."""


def check(network: Network) -> None:
    """Raise a GraphError located at the first node that breaks a rule, naming it."""
    shapes: dict[str, Shape] = {INPUT: network.input_shape}
    if too_large(network.input_shape, network.batch):
        raise GraphError(f"input {format_shape(network.input_shape)} has more than 2^40 elements", None, Location(network.source))
    layers: dict[str, LayerStep] = {}
    for node in network.nodes:
        _check_node(node, shapes, network.batch)
        if isinstance(node, LayerStep):
            _check_share(node, layers)
            layers[node.name] = node
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


def _check_share(node: LayerStep, layers: dict[str, LayerStep]) -> None:
    if node.shares is None:
        return
    owner = layers.get(node.shares)
    problem = "it is not an earlier layer" if owner is None else "it shares another's module itself" if owner.shares is not None else share_problem(owner, node)
    if problem is not None:
        raise GraphError(f"node '{node.name}' ({node.type_name}): shares the module of '{node.shares}', but {problem}", None, node.loc)


def share_problem(owner: LayerStep, step: LayerStep) -> str | None:
    """Why `step` cannot call `owner`'s module again (None where it can): another type or other
    arguments, other parameter or buffer shapes, or a module that PyTorch builds for the input's
    shape (a spatial size may differ, as over FPN levels, where the module does not depend on it)."""
    if owner.layer != step.layer:
        return f"'{owner.name}' is {_described(owner.layer)} and this one {_described(step.layer)}"
    if owner.size_of != step.size_of:
        return "the two take their sizes from different tensors (to:)"
    if owner.layer.weight_shapes(owner.in_shape) != step.layer.weight_shapes(step.in_shape) or owner.layer.buffer_counts(owner.in_shape) != step.layer.buffer_counts(step.in_shape):
        return f"its parameters are for a {format_shape(owner.in_shape)} input and this one reads {format_shape(step.in_shape)}"
    if owner.in_shape != step.in_shape and _module(owner) != _module(step):
        return f"its PyTorch module is built for a {format_shape(owner.in_shape)} input and this one reads {format_shape(step.in_shape)}"
    return None


def _described(layer) -> str:
    args = ", ".join(f"{f.name}={getattr(layer, f.name)!r}" for f in dataclasses.fields(layer))
    return f"{layer.type_name}({args})"


def _module(step: LayerStep) -> object:
    """The step's PyTorch module as the graph form writes it (None where it has none)."""
    try:
        return step.layer.torch_module(Place(step.name, step.in_shape, step.out_shape))
    except GroupcostError:
        return None


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
