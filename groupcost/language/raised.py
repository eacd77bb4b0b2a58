"""What a raised spec is made of before it is written: a tree of entries (layers, merges, seq,
residual, parallel, block calls, repeat) and the blocks it defines. `groupcost.language.raising`
builds it from a network, `folding` folds it, `writing` writes it as YAML."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from groupcost.errors import SpecError
from groupcost.ops import Layer

@dataclass
class LayerE:
    type: str
    name: str | None
    args: dict[str, Any]  # every argument, defaults included (written only where they differ)
    source: str | None = None  # from:
    defaults: dict[str, Any] = field(default_factory=dict)
    share: str | None = None  # share: the full name of the earlier layer whose module this one calls again


@dataclass
class MergeE:
    kind: str
    name: str
    sources: list[str]


@dataclass
class SeqE:
    name: str
    body: list


@dataclass
class ResidualE:
    body: list
    shortcut: tuple[str | None, list] | None  # (name or None for transparent, entries); None: identity


@dataclass
class ParallelE:
    merge: str
    split: Any  # None, an int or a list of sizes
    branches: list[tuple[str | None, list]]


@dataclass
class CallE:
    block: str
    name: str | None
    args: dict[str, Any]


@dataclass
class RepeatE:
    n: Any
    body: list


Entry = Union[LayerE, MergeE, SeqE, ResidualE, ParallelE, CallE, RepeatE]


@dataclass
class Block:
    name: str
    args: list[str]
    body: list


@dataclass
class Spec:
    name: str
    description: str
    input: tuple[int, ...]
    batch: int
    dtype: str
    body: list
    outputs: list[str]
    blocks: list[Block] = field(default_factory=list)
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)


class RaiseError(SpecError):
    """The network cannot be written in this form (the caller tries a plainer one)."""


# ---- layer arguments --------------------------------------------------------------------


def layer_args(layer: Layer) -> tuple[dict[str, Any], dict[str, Any]]:
    """A layer's spec arguments, all of them, in the spec's own notation; and their defaults."""
    args: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for spec in layer.arg_specs():
        value = getattr(layer, spec.name)
        args[spec.name] = _notation(spec.name, value)
        if not spec.required:
            defaults[spec.name] = _notation(spec.name, spec.default)
        if spec.default_from is not None and defaults.get(spec.name) is None:
            defaults[spec.name] = args[spec.default_from]
    return args, defaults


def _notation(name: str, value: Any) -> Any:
    if isinstance(value, tuple):
        if name == "p" and len(value) == 4:
            top, bottom, left, right = value
            if top == bottom == left == right:
                return top
            if top == bottom and left == right:
                return [top, left]
            return list(value)
        if len(value) == 2 and value[0] == value[1] and name not in ("out", "shape"):
            return value[0]
        return list(value)
    return value

