"""From YAML to a resolved Network: safe loading, the document model, expressions, building."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from groupcost.graph.network import Network
from groupcost.language.build import build
from groupcost.language.compose import compose
from groupcost.language.document import SpecDocument, parse_document
from groupcost.language.expr import Number
from groupcost.language.yamlsource import parse_yaml, read_stdin, read_text
from groupcost.language.zoo import resolve_source, zoo_names


def parse_text(text: str, path: str = "<spec>") -> SpecDocument:
    """Parse spec text (not yet evaluated: see `build`); `extends:` and `use:` are read relative to `path`."""
    root, used = compose(parse_yaml(text, path), Path(path))
    return parse_document(root, Path(path).stem, used)


def is_onnx(path_or_name: str | Path) -> bool:
    """An ONNX model rather than a spec: every command that reads a spec reads one too (groupcost.formats)."""
    return str(path_or_name).lower().endswith(".onnx")


def load_document(path_or_name: str | Path) -> SpecDocument:
    """Read and check a spec file, zoo model (named by its zoo name) or `-` (standard input), without
    evaluating it; an ONNX model is raised to a spec first."""
    if str(path_or_name) == "-":
        return parse_text(read_stdin(), "<stdin>")
    if is_onnx(path_or_name):
        from groupcost.formats.onnx.reader import read_network
        from groupcost.language.raising import raise_spec

        network = read_network(path_or_name)
        return dataclasses.replace(parse_text(raise_spec(network), str(path_or_name)), notes=network.notes)
    path = resolve_source(path_or_name)
    shown = path_or_name if isinstance(path_or_name, str) and Path(path_or_name) != path else str(path)
    return parse_text(read_text(path, shown), shown)


def load(
    path_or_name: str | Path,
    variables: Mapping[str, Number] | None = None,
    *,
    input_shape: tuple[int, ...] | None = None,
    batch: int | None = None,
    **overrides: Number,
) -> Network:
    """Load a spec file or zoo model and resolve it, with variables overridden (`G=8`) and, if given,
    another input shape (C, H, W) or batch than the spec's; or read an ONNX model."""
    if is_onnx(path_or_name) and input_shape is None and batch is None:
        from groupcost.errors import Location, UsageError
        from groupcost.formats.onnx.reader import read_network

        if variables or overrides:
            raise UsageError("an ONNX model has no variables to set", "groupcost import it to a spec, then add vars:", Location("--set"))
        return read_network(path_or_name)
    return build(load_document(path_or_name), {**(variables or {}), **overrides}, input_shape=input_shape, batch=batch)


__all__ = ["SpecDocument", "build", "is_onnx", "load", "load_document", "parse_text", "zoo_names"]
