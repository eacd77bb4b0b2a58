"""Safe YAML loading into located nodes: every value remembers its line and column.

PyYAML composes a node graph (no Python objects, no tags beyond the safe ones); we walk it
ourselves so that duplicate keys, alias bombs and runaway nesting are rejected with a location.
"""

from __future__ import annotations

import functools
import gc
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from groupcost.errors import Location, SpecError

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_NODES = 50_000
MAX_DEPTH = 100

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


@dataclass(frozen=True)
class Node:
    """A YAML value with its location: a scalar, a list of Nodes or a dict of str -> Node."""

    value: Any
    loc: Location
    key_locs: dict[str, Location] = field(default_factory=dict, compare=False)

    @property
    def is_map(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_list(self) -> bool:
        return isinstance(self.value, list)

    def plain(self) -> Any:
        """The value with all locations stripped."""
        if self.is_map:
            return {k: v.plain() for k, v in self.value.items()}
        if self.is_list:
            return [v.plain() for v in self.value]
        return self.value


def read_text(path: str | Path, display: str | None = None) -> str:
    """Read a spec file as UTF-8 text, reporting every failure as a located SpecError."""
    where = Location(display or str(path))
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise SpecError(f"no such file: {path}", "give a spec path or a zoo name; `groupcost zoo` lists them", where) from None
    except IsADirectoryError:
        raise SpecError(f"{path} is a directory, not a spec file", None, where) from None
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror}", None, where) from None
    return decode_text(data, where)


def read_stdin(display: str = "<stdin>") -> str:
    """A spec piped to standard input (`groupcost analyze -`), with the same checks as a file."""
    import sys

    return decode_text(sys.stdin.buffer.read(MAX_FILE_BYTES + 1), Location(display))


def decode_text(data: bytes, where: Location) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise SpecError(f"spec is {len(data):,} bytes, over the limit of {MAX_FILE_BYTES:,}", "split it or use templates and repeat", where)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError("file is not valid UTF-8", f"byte 0x{data[exc.start]:02x} cannot be decoded", Location(where.path, line, col)) from None


def without_gc(function: Callable) -> Callable:
    """Run `function` with Python's cyclic garbage collector paused: parsing and building create
    many small objects and no cycles worth collecting, and full collections made a 7,500-node spec
    grow faster than linearly (they took 40 % of its time)."""

    @functools.wraps(function)
    def paused(*args, **kwargs):
        if not gc.isenabled():
            return function(*args, **kwargs)
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            gc.enable()

    return paused


_UNQUOTED_INDEX = re.compile(r":\s*[^\s\[\]{}'\"][^,{}'\"]*\[")
"""A value in a flow mapping that starts as an expression and goes on to an index (`{out: 2 * w[-1]}`): YAML reads its
`[` as the start of a list."""


@without_gc
def parse_yaml(text: str, path: str) -> Node:
    """Parse one YAML document into located Nodes."""
    if not text.strip():
        raise SpecError("spec is empty", "a spec needs at least `input:` and `layers:`", Location(path))
    _check_nesting(text, path)
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark, context = exc.problem_mark or exc.context_mark, exc.context_mark
        loc = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        hint = f"{exc.context} at line {context.line + 1}, column {context.column + 1}" if context and exc.context and context is not mark else None
        lines = text.splitlines()
        if mark and "flow mapping" in str(exc.context) and mark.line < len(lines) and _UNQUOTED_INDEX.search(lines[mark.line]):
            hint = 'an expression with brackets inside {...} must be quoted, e.g. {out: "2 * widths[-1]"}'
        raise SpecError(f"not valid YAML: {exc.problem or exc.context}", hint, loc) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid YAML: {exc}", None, Location(path)) from None
    except RecursionError:
        raise SpecError("YAML nesting is too deep", f"at most {MAX_DEPTH} levels", Location(path)) from None
    if root is None:
        raise SpecError("spec is empty", "a spec needs at least `input:` and `layers:`", Location(path))
    return _Walker(path).walk(root, 0)


_BRACKETS = re.compile(r"[\[\]{}]")
_COMPACT = re.compile(r"(?:[-?](?: +|$))*")


def _check_nesting(text: str, path: str) -> None:
    """Refuse runaway nesting before libyaml sees it: its C parser recurses and can crash the process.

    A cheap upper bound on the depth: open flow brackets, plus each line's indentation and its
    leading compact indicators (`- - - x`). Real specs stay far below MAX_DEPTH.
    """
    flow = 0
    for line_number, line in enumerate(text.splitlines(), 1):
        body = line.lstrip(" ")
        block = len(line) - len(body) + len(_COMPACT.match(body)[0])
        for bracket in _BRACKETS.finditer(body):
            flow = flow + 1 if bracket[0] in "[{" else max(flow - 1, 0)
            if flow + block > MAX_DEPTH:
                raise SpecError(f"YAML nesting deeper than {MAX_DEPTH} levels", None, Location(path, line_number, len(line) - len(body) + bracket.start() + 1))
        if flow + block > MAX_DEPTH:
            raise SpecError(f"YAML nesting deeper than {MAX_DEPTH} levels", "indentation counts as nesting", Location(path, line_number, 1))


class _Walker:
    def __init__(self, path: str):
        self.path = path
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()
        self.scalars: dict[int, object] = {}  # an alias repeats the same node: construct it once

    def loc(self, node: yaml.Node) -> Location:
        return Location(self.path, node.start_mark.line + 1, node.start_mark.column + 1)

    def walk(self, node: yaml.Node, depth: int) -> Node:
        self.count += 1
        if self.count > MAX_NODES:
            raise SpecError(f"spec has more than {MAX_NODES:,} YAML values", "aliases expanding too far?", self.loc(node))
        if depth > MAX_DEPTH:
            raise SpecError(f"YAML nesting deeper than {MAX_DEPTH} levels", None, self.loc(node))
        if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_TAGS:
            raise SpecError(f"unsupported YAML tag {node.tag}", "only plain numbers, strings, lists and mappings", self.loc(node))
        if isinstance(node, yaml.MappingNode):
            items: dict[str, Node] = {}
            key_locs: dict[str, Location] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise SpecError("YAML merge keys (<<) are not supported", "write the values out, or use a block with args", self.loc(key_node))
                key = self.walk(key_node, depth + 1)
                if not isinstance(key.value, str):
                    raise SpecError(f"mapping key must be a name, got {key.value!r}", None, key.loc)
                if key.value in items:
                    raise SpecError(f"duplicate key '{key.value}'", f"first given at line {key_locs[key.value].line}", key.loc)
                items[key.value] = self.walk(value_node, depth + 1)
                key_locs[key.value] = key.loc
            return Node(items, self.loc(node), key_locs)
        if isinstance(node, yaml.SequenceNode):
            return Node([self.walk(item, depth + 1) for item in node.value], self.loc(node))
        if id(node) in self.scalars:
            return Node(self.scalars[id(node)], self.loc(node))
        try:
            value = self.scalars[id(node)] = self.constructor.construct_object(node)
        except yaml.constructor.ConstructorError as exc:
            raise SpecError(f"unsupported YAML value: {exc.problem}", "only plain numbers, strings, lists and mappings", self.loc(node)) from None
        if isinstance(value, (bytes, bytearray)) or not isinstance(value, (str, int, float, bool, type(None))):
            raise SpecError(f"unsupported YAML value of type {type(value).__name__}", "only plain numbers, strings, lists and mappings", self.loc(node))
        return Node(value, self.loc(node))
