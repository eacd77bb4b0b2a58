"""From YAML to a resolved Network: safe loading, the document model, expressions, building."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from groupcost.network import Network
from groupcost.spec.build import build
from groupcost.spec.compose import compose
from groupcost.spec.document import SpecDocument, parse_document
from groupcost.spec.expr import Number
from groupcost.spec.yamlsource import parse_yaml, read_stdin, read_text
from groupcost.spec.zoo import resolve_source, zoo_names


def parse_text(text: str, path: str = "<spec>") -> SpecDocument:
    """Parse spec text (not yet evaluated: see `build`); `extends:` and `use:` are read relative to `path`."""
    root, used = compose(parse_yaml(text, path), Path(path))
    return parse_document(root, Path(path).stem, used)


def load_document(path_or_name: str | Path) -> SpecDocument:
    """Read and check a spec file, zoo model (named by its zoo name) or `-` (standard input), without evaluating it."""
    if str(path_or_name) == "-":
        return parse_text(read_stdin(), "<stdin>")
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
    another input shape (C, H, W) or batch than the spec's."""
    return build(load_document(path_or_name), {**(variables or {}), **overrides}, input_shape=input_shape, batch=batch)


__all__ = ["SpecDocument", "build", "load", "load_document", "parse_text", "zoo_names"]
