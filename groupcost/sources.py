"""One `read(source)` for every kind of source a command names, and the one place that tells them apart.

A source is a spec file, a zoo model name or `-` (standard input: YAML), an ONNX file (`*.onnx`,
read as its graph), or `torch:package.module:factory` (a torch.nn.Module traced through ONNX at
the input shape given). Every command reads its sources here; the ONNX and torch readers load
only for their kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from groupcost.errors import Location, UsageError
from groupcost.graph.network import Network
from groupcost.language import SpecDocument, build, parse_text, read_spec
from groupcost.language.expr import Number

TORCH_PREFIX = "torch:"


def kind(source: str | Path) -> str:
    """spec | onnx | torch: how `source` is read."""
    text = str(source)
    if text.startswith(TORCH_PREFIX):
        return "torch"
    return "onnx" if text.lower().endswith(".onnx") else "spec"


def read_graph(source: str | Path, input_shape: tuple[int, ...] | None = None, args: Mapping[str, object] | None = None, *,
               allow_unknown: bool = False) -> Network:
    """A model read as its graph: a torch factory traced at `input_shape` (C, H, W), or else an ONNX file."""
    if kind(source) == "torch":
        from groupcost.formats.torch.reader import read_factory

        if input_shape is None:
            raise UsageError("torch: imports need --input", "e.g. --input 3,224,224", Location("--input"))
        return read_factory(str(source), tuple(input_shape), dict(args or {}), allow_unknown=allow_unknown)
    from groupcost.formats.onnx.reader import read_network

    return read_network(source, allow_unknown=allow_unknown)


def raised(graph: Network, path: str) -> SpecDocument:
    """The spec a graph is written as (groupcost import), parsed, with the graph's notes."""
    from groupcost.language.raising import raise_spec

    return dataclasses.replace(parse_text(raise_spec(graph), path), notes=graph.notes)


@dataclass(frozen=True)
class Source:
    """A source as read. A spec has its document; an ONNX model its graph (its document is the spec
    the graph raises to); a torch model is traced when its input shape is known (`network`, `document`)."""

    name: str
    kind: str  # spec | onnx | torch
    spec: SpecDocument | None = None
    graph: Network | None = None
    args: Mapping[str, object] = field(default_factory=dict)  # torch: the factory's keywords

    def model(self, input_shape: tuple[int, ...] | None = None) -> Network | None:
        """The graph as read (None for a spec); a torch model traced at `input_shape`."""
        return read_graph(self.name, input_shape, self.args) if self.kind == "torch" else self.graph

    def document(self, input_shape: tuple[int, ...] | None = None) -> SpecDocument:
        """The spec document: a spec's own, or the one a model's graph raises to."""
        return self.spec if self.spec is not None else raised(self.model(input_shape), self.name)

    def network(self, variables: Mapping[str, Number] | None = None, *, input_shape: tuple[int, ...] | None = None,
                batch: int | None = None) -> Network:
        """Resolved with `variables`, and another input shape (C, H, W) or batch if given. A model is its
        graph as read; another batch or shape (ONNX) builds the spec it raises to."""
        if self.spec is not None:
            return build(self.spec, dict(variables or {}), input_shape=input_shape, batch=batch)
        graph = self.model(input_shape)
        if self.kind == "torch":
            input_shape = None  # traced at that shape
        if input_shape is None and batch is None:
            if variables:
                raise UsageError(f"{'an ONNX' if self.kind == 'onnx' else 'a torch'} model has no variables to set",
                                 "groupcost import it to a spec, then add vars:", Location("--set"))
            return graph
        return build(raised(graph, self.name), dict(variables or {}), input_shape=input_shape, batch=batch)


def read(source: str | Path, args: Mapping[str, object] | None = None) -> Source:
    """Read a spec file, zoo model, `-`, ONNX file or torch factory (`args`: the factory's keywords)."""
    how = kind(source)
    if how == "spec":
        return Source(str(source), how, spec=read_spec(source))
    if how == "onnx":
        return Source(str(source), how, graph=read_graph(source))
    return Source(str(source), how, args=dict(args or {}))


def load_document(path_or_name: str | Path) -> SpecDocument:
    """Read and check a spec file, zoo model or `-` without evaluating it; an ONNX model is raised to a spec first."""
    return read(path_or_name).document()


def load(
    path_or_name: str | Path,
    variables: Mapping[str, Number] | None = None,
    *,
    input_shape: tuple[int, ...] | None = None,
    batch: int | None = None,
    **overrides: Number,
) -> Network:
    """Load a spec file or zoo model and resolve it, with variables overridden (`G=8`) and, if given,
    another input shape (C, H, W) or batch than the spec's; or read an ONNX model (torch: at `input_shape`)."""
    return read(path_or_name).network({**(variables or {}), **overrides}, input_shape=input_shape, batch=batch)
