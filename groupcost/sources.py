"""One `read(source)` for every kind of source a command names, and the one place that tells them apart.

A source is a spec file, a zoo model name or `-` (standard input: YAML), an ONNX file (`*.onnx`,
read as its graph), or `torch:package.module:factory` (a torch.nn.Module traced through ONNX at
the input shape given). Every command reads its sources here; the ONNX and torch readers load
only for their kind.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from groupcost.errors import Location, SpecError, UsageError
from groupcost.graph.builder import LIMIT_HINT, MAX_ELEMENTS
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
    if kind(source) == "spec":
        raise _not_a_model(str(source))
    from groupcost.formats.onnx.reader import read_network
    from groupcost.formats.onnx.values import FileLocation, OnnxError

    try:
        empty = Path(source).stat().st_size == 0
    except OSError:
        empty = False  # the reader says why it cannot read it
    if empty:  # said here once, not wrapped in the reader's "not an ONNX model (...)"
        raise OnnxError("the file is empty", "is this an ONNX model?", FileLocation(str(source)))
    return read_network(source, allow_unknown=allow_unknown)


def _not_a_model(source: str) -> UsageError:
    """What `import` says of a source that is not a model: a spec (a file, a zoo name or `-`), or another file."""
    from groupcost.language import zoo_names

    hint = "import reads an ONNX file or torch:package.module:factory"
    path = Path(source)
    if source == "-" or source in zoo_names() or path.suffix.lower() in (".yaml", ".yml"):
        return UsageError(f"'{source}' is already a spec", f"{hint}; the other commands read a spec as it is: groupcost analyze {source}", Location(source))
    if not path.exists():
        return UsageError("no such file", hint, Location(source))
    return UsageError(f"'{source}' is not an ONNX file (its name does not end in .onnx)", hint, Location(source))


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
            return resolve(self.spec, dict(variables or {}), input_shape, batch)
        graph = self.model(input_shape)
        if self.kind == "torch":
            input_shape = None  # traced at that shape
        if input_shape is None and batch is None:
            if variables:
                raise UsageError(f"{'an ONNX' if self.kind == 'onnx' else 'a torch'} model has no variables to set",
                                 "groupcost import it to a spec, then add vars:", Location("--set"))
            return graph
        return resolve(raised(graph, self.name), dict(variables or {}), input_shape, batch)


_RANKS = {1: "[F] (flat)", 2: "[C, L]", 3: "[C, H, W]", 4: "[C, T, H, W]"}


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "list"
    return "string" if isinstance(value, str) else "number"


def _shown(value: object) -> str:
    """A value as --set takes it: 8, gelu, [2,2]."""
    if isinstance(value, list):
        return "[" + ",".join(_shown(v) for v in value) + "]"
    return str(value)


def _check_kind(name: str, value: object, defaults: Mapping[str, object], flag: str) -> None:
    """A value of the kind of the variable's default; a bare word (with its `place`) where the default is
    not a string is a name, as in the spec, and an undefined one."""
    if name not in defaults or _kind(value) == _kind(defaults[name]):
        return
    place = getattr(value, "place", None)
    if place is not None:
        raise UsageError(f"undefined variable '{value}'", f"{name} takes a {_kind(defaults[name])}, e.g. {flag} {name}={_shown(defaults[name])}",
                         place)
    raise UsageError(f"{name} takes a {_kind(defaults[name])}, as its default {defaults[name]!r} is; got {value!r}",
                     f"e.g. {flag} {name}={_shown(defaults[name])}", Location(flag, 1, len(name) + 2))


def plain(values: Mapping[str, object] | None) -> dict[str, object]:
    """The values as plain str, int, float and list: a bare word from the command line (a str subclass
    that knows where it was written) becomes its str, which YAML and JSON writers take."""
    return {k: str(v) if isinstance(v, str) else v for k, v in (values or {}).items()}


def check_values(doc: SpecDocument, variables: Mapping[str, object] | None = None, input_shape: tuple[int, ...] | None = None,
                 batch: int | None = None, vary: Mapping[str, list] | None = None) -> dict[str, object]:
    """The command line's values checked against the spec before it is built, each error at its flag: a
    variable set to another kind of value than its default, an input of another rank than the spec's, an
    input past the tensor bound. Returns the variables' defaults (empty when none is set)."""
    from groupcost.language.build import resolve_variables

    variables = dict(variables or {})
    defaults = resolve_variables(doc, {}) if variables or vary else {}
    for name, value in variables.items():
        _check_kind(name, value, defaults, "--set")
    for name, values in (vary or {}).items():
        for value in values:
            _check_kind(name, value, defaults, "--vary")
    if input_shape is not None and isinstance(doc.input.value, list) and len(doc.input.value) != len(input_shape):
        rank = len(doc.input.value)
        raise UsageError(f"--input {','.join(map(str, input_shape))} has {len(input_shape)} number{'s' * (len(input_shape) > 1)}; "
                         f"{doc.name}'s input is {_RANKS.get(rank, rank)}, {rank} number{'s' * (rank > 1)}",
                         "the same rank, other sizes: e.g. --input " + ",".join(["3", "160", "160", "160"][:rank] if rank > 1 else ["64"]),
                         Location("--input"))
    if input_shape is not None and math.prod(input_shape) * (batch or 1) > MAX_ELEMENTS:
        raise UsageError(f"an input of {'×'.join(map(str, input_shape))}{f' × batch {batch}' if batch else ''} has more than 2^40 elements",
                         LIMIT_HINT, Location("--batch" if batch and math.prod(input_shape) <= MAX_ELEMENTS else "--input"))
    return defaults


def resolve(doc: SpecDocument, variables: Mapping[str, object] | None = None, input_shape: tuple[int, ...] | None = None,
            batch: int | None = None) -> Network:
    """build(), with the command line's values checked first (check_values), and the errors they cause
    placed at their flag, not in the spec: a batch past the tensor bound, a number the spec refuses where
    its default is positive and the value is not (`--set G=0`)."""
    defaults = check_values(doc, variables, input_shape, batch)
    variables = plain(variables)
    try:
        return build(doc, variables, input_shape=input_shape, batch=batch)
    except SpecError as exc:
        if batch is not None and batch > 1 and exc.hint == LIMIT_HINT:
            raise UsageError(f"batch {batch} makes a tensor of more than 2^40 elements ({exc.message.split(' has more than')[0]})",
                             LIMIT_HINT, Location("--batch")) from None
        for name, value in variables.items():
            default = defaults.get(name)
            if _kind(value) == "number" == _kind(default) and value <= 0 < default:
                message = exc.message.split("; in block")[0]
                raise UsageError(f"{name}={value} is not a value {doc.name} takes: {message}", f"{name} is {default} in the spec",
                                 Location("--set", 1, len(name) + 2)) from None
        raise


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
