"""From YAML to a resolved Network: safe loading, the document model, expressions, building.

The language reads YAML only; `groupcost.sources` reads every kind of source (ONNX, torch too).
"""

from __future__ import annotations

from pathlib import Path

from groupcost.language.build import build
from groupcost.language.compose import compose
from groupcost.language.document import SpecDocument, parse_document
from groupcost.language.yamlsource import parse_yaml, read_stdin, read_text
from groupcost.language.zoo import resolve_source, zoo_names


def parse_text(text: str, path: str = "<spec>") -> SpecDocument:
    """Parse spec text (not yet evaluated: see `build`); `extends:` and `use:` are read relative to `path`."""
    root, used = compose(parse_yaml(text, path), Path(path))
    return parse_document(root, Path(path).stem, used)


def read_spec(path_or_name: str | Path) -> SpecDocument:
    """Read and check a spec file, zoo model (named by its zoo name) or `-` (standard input), without evaluating it."""
    if str(path_or_name) == "-":
        return parse_text(read_stdin(), "<stdin>")
    path = resolve_source(path_or_name)
    shown = path_or_name if isinstance(path_or_name, str) and Path(path_or_name) != path else str(path)
    return parse_text(read_text(path, shown), shown)


__all__ = ["SpecDocument", "build", "parse_text", "read_spec", "zoo_names"]
