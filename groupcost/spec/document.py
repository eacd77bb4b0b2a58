"""YAML nodes → a spec document: entries checked for known types and keys, values still unevaluated.

Values stay as located nodes here because they may be expressions over variables, template
arguments, the repeat index and the incoming shape; `build.py` evaluates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Union

from groupcost.errors import Location, SpecError
from groupcost.layers import ALIASES, LAYER_TYPES, Layer
from groupcost.spec.yamlsource import Node

TOP_LEVEL_KEYS = ("name", "description", "input", "batch", "dtype", "vars", "defaults", "blocks", "layers", "budgets")
COMMON_KEYS = ("name", "if")
MERGES = ("add", "concat", "mul")
STRUCTURES = {
    "seq": ("layers",),
    "repeat": ("n", "var", "layers"),
    "residual": ("body", "shortcut", "merge", "when"),
    "parallel": ("branches", "merge", "split"),
}
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1, "uint8": 1, "int16": 2, "int32": 4}


SYNONYMS = {"kernel": "k", "kernel_size": "k", "stride": "s", "padding": "p", "dilation": "d", "out_channels": "out",
            "channels": "out", "filters": "out", "group": "groups", "use_bias": "bias"}


def suggest(word: str, options) -> str | None:
    options = list(options)
    if SYNONYMS.get(word) in options:
        return f"did you mean '{SYNONYMS[word]}'?"
    close = get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


@dataclass(frozen=True)
class Common:
    """What every entry may carry: an explicit name and a condition."""

    loc: Location
    name: str | None = None
    condition: Node | None = None


@dataclass(frozen=True)
class LayerEntry:
    common: Common
    layer_type: type[Layer]
    args: dict[str, Node]  # keyed by field name (aliases already mapped)


@dataclass(frozen=True)
class SeqEntry:
    common: Common
    body: tuple[Entry, ...]


@dataclass(frozen=True)
class RepeatEntry:
    common: Common
    count: Node
    var: str
    body: tuple[Entry, ...]


@dataclass(frozen=True)
class ResidualEntry:
    common: Common
    body: tuple[Entry, ...]
    shortcut: tuple[Entry, ...]
    merge: str
    when: Node | None  # the skip connection exists only where this holds (MobileNetV2)


@dataclass(frozen=True)
class ParallelEntry:
    common: Common
    branches: tuple[tuple[Entry, ...], ...]
    merge: str
    split: Node | None


@dataclass(frozen=True)
class TemplateCall:
    common: Common
    template: str
    args: dict[str, Node]


Entry = Union[LayerEntry, SeqEntry, RepeatEntry, ResidualEntry, ParallelEntry, TemplateCall]


@dataclass
class Template:
    name: str
    loc: Location
    params: dict[str, Node | None]  # None: required
    body: tuple[Entry, ...] = ()


@dataclass(frozen=True)
class SpecDocument:
    path: str
    name: str
    description: str
    input: Node
    batch: Node | None
    dtype: str
    variables: dict[str, Node]
    templates: dict[str, Template]
    body: tuple[Entry, ...]
    root: Node = field(compare=False)

    @property
    def budgets(self) -> Node | None:
        """The `budgets:` mapping, still unread (groupcost.budget reads it)."""
        return self.root.value.get("budgets")


def parse_document(root: Node, default_name: str) -> SpecDocument:
    """Check the document's structure and return its entries; raises located SpecErrors."""
    if not root.is_map:
        raise SpecError("a spec must be a mapping with keys such as input: and layers:", f"got {type(root.value).__name__}", root.loc)
    top = root.value
    for key in top:
        if key not in TOP_LEVEL_KEYS:
            raise SpecError(f"unknown top-level key '{key}'", suggest(key, TOP_LEVEL_KEYS) or f"known: {', '.join(TOP_LEVEL_KEYS)}", root.key_locs[key])
    for key in ("input", "layers"):
        if key not in top:
            raise SpecError(f"spec has no '{key}:'", "e.g. input: [3, 224, 224]" if key == "input" else "a list of layers", root.loc)

    name = _text(top.get("name"), default_name)
    description = _text(top.get("description"), "")
    dtype = _text(top.get("dtype"), "float32")
    if dtype not in DTYPE_BYTES:
        raise SpecError(f"unknown dtype '{dtype}'", suggest(dtype, DTYPE_BYTES) or f"one of {', '.join(DTYPE_BYTES)}", top["dtype"].loc)

    variables = {}
    if "vars" in top:
        for var, node in _mapping(top["vars"], "vars").items():
            _check_identifier(var, top["vars"].key_locs[var])
            variables[var] = node

    parser = _EntryParser(_parse_defaults(top.get("defaults")))
    if "blocks" in top:
        parser.declare_templates(_mapping(top["blocks"], "blocks"), top["blocks"].key_locs)
    body = parser.entries(top["layers"], "layers")
    return SpecDocument(root.loc.path, name, description, top["input"], top.get("batch"), dtype, variables, parser.templates, body, root)


def _text(node: Node | None, default: str) -> str:
    if node is None:
        return default
    if not isinstance(node.value, str):
        raise SpecError(f"expected text, got {node.value!r}", None, node.loc)
    return node.value


def _mapping(node: Node, what: str) -> dict[str, Node]:
    if node.value is None:
        return {}
    if not node.is_map:
        raise SpecError(f"'{what}' must be a mapping", f"e.g. {what}: {{key: value}}", node.loc)
    return node.value


def _check_identifier(name: str, loc: Location) -> None:
    if not name.isidentifier():
        raise SpecError(f"'{name}' is not a valid name", "use letters, digits and _ (not starting with a digit)", loc)


def _parse_defaults(node: Node | None) -> dict[type[Layer], dict[str, Node]]:
    defaults: dict[type[Layer], dict[str, Node]] = {}
    if node is None:
        return defaults
    for type_name, args in _mapping(node, "defaults").items():
        layer_type = LAYER_TYPES.get(type_name)
        if layer_type is None:
            raise SpecError(f"unknown layer type '{type_name}' in defaults", suggest(type_name, LAYER_TYPES), node.key_locs[type_name])
        defaults[layer_type] = _layer_args(layer_type, _mapping(args, type_name), args.key_locs)
    return defaults


def _layer_args(layer_type: type[Layer], raw: dict[str, Node], key_locs: dict[str, Location]) -> dict[str, Node]:
    specs = {a.name: a for a in layer_type.arg_specs()}
    by_alias = {a.alias: a.name for a in specs.values() if a.alias}
    args: dict[str, Node] = {}
    for key, value in raw.items():
        field_name = by_alias.get(key, key)
        if field_name not in specs:
            known = list(specs) + list(by_alias)
            hint = suggest(key, known) or (f"{layer_type.type_name} takes: {', '.join(known)}" if known else f"{layer_type.type_name} takes no arguments")
            raise SpecError(f"unknown argument '{key}' for {layer_type.type_name}", hint, key_locs[key])
        if field_name in args:
            raise SpecError(f"'{key}' given twice for {layer_type.type_name}", f"'{key}' and its alias name the same argument", key_locs[key])
        args[field_name] = value
    return args


class _EntryParser:
    def __init__(self, defaults: dict[type[Layer], dict[str, Node]]):
        self.defaults = defaults
        self.templates: dict[str, Template] = {}

    def declare_templates(self, blocks: dict[str, Node], key_locs: dict[str, Location]) -> None:
        for name, node in blocks.items():
            loc = key_locs[name]
            _check_identifier(name, loc)
            if name in LAYER_TYPES or name in STRUCTURES:
                raise SpecError(f"block name '{name}' is already a layer type", "choose another name", loc)
            spec = _mapping(node, name)
            for key in spec:
                if key not in ("args", "layers"):
                    raise SpecError(f"unknown key '{key}' in block '{name}'", "a block has args: and layers:", node.key_locs[key])
            if "layers" not in spec:
                raise SpecError(f"block '{name}' has no 'layers:'", None, loc)
            params: dict[str, Node | None] = {}
            if "args" in spec:
                for param, default in _mapping(spec["args"], "args").items():
                    _check_identifier(param, spec["args"].key_locs[param])
                    if param in COMMON_KEYS:
                        raise SpecError(f"'{param}' is reserved and cannot be a block argument", None, spec["args"].key_locs[param])
                    params[param] = None if default.value is None else default
            self.templates[name] = Template(name, loc, params)
        for name, node in blocks.items():
            self.templates[name].body = self.entries(node.value["layers"], f"{name}.layers")

    def entries(self, node: Node, what: str) -> tuple[Entry, ...]:
        if node.value is None:
            return ()
        if not node.is_list:
            raise SpecError(f"'{what}' must be a list of layers", "each item starts with '- '", node.loc)
        return tuple(self.entry(item) for item in node.value)

    def entry(self, item: Node) -> Entry:
        if isinstance(item.value, str):
            kind, args_node, kind_loc = item.value, None, item.loc
        elif item.is_map and len(item.value) == 1:
            (kind, args_node), = item.value.items()
            kind_loc = item.key_locs[kind]
        elif item.is_map:
            raise SpecError(
                f"a layer entry has one key, its type; got {len(item.value)}: {', '.join(item.value)}",
                "indent the arguments: - conv: {out: 64, k: 3}",
                item.loc,
            )
        else:
            raise SpecError(f"expected a layer, got {item.value!r}", "e.g. - relu or - conv: {out: 64, k: 3}", item.loc)
        kind = ALIASES.get(kind, kind)
        if args_node is None or args_node.value is None:
            raw, key_locs = {}, {}
        elif args_node.is_map:
            raw, key_locs = dict(args_node.value), args_node.key_locs
        else:
            raise SpecError(f"arguments of '{kind}' must be a mapping", f"e.g. - {kind}: {{...}}", args_node.loc)
        common = Common(kind_loc, self._name(raw.pop("name", None)), raw.pop("if", None))

        if kind in LAYER_TYPES:
            layer_type = LAYER_TYPES[kind]
            args = {**self.defaults.get(layer_type, {}), **_layer_args(layer_type, raw, key_locs)}
            missing = [a.name for a in layer_type.arg_specs() if a.required and a.name not in args]
            if missing:
                raise SpecError(f"{kind} needs {', '.join(missing)}", f"e.g. - {kind}: {{{', '.join(m + ': ...' for m in missing)}}}", kind_loc)
            return LayerEntry(common, layer_type, args)
        if kind in STRUCTURES:
            return self.structure(kind, raw, key_locs, common)
        if kind in self.templates:
            template = self.templates[kind]
            for key in raw:
                if key not in template.params:
                    raise SpecError(f"unknown argument '{key}' for block '{kind}'", suggest(key, template.params) or f"it takes: {', '.join(template.params) or 'nothing'}", key_locs[key])
            missing = [p for p, default in template.params.items() if default is None and p not in raw]
            if missing:
                raise SpecError(f"block '{kind}' needs {', '.join(missing)}", None, kind_loc)
            return TemplateCall(common, kind, raw)
        known = [*LAYER_TYPES, *STRUCTURES, *self.templates]
        raise SpecError(f"unknown layer type '{kind}'", suggest(kind, known) or "`groupcost layers` lists the types", kind_loc)

    def structure(self, kind: str, raw: dict[str, Node], key_locs: dict[str, Location], common: Common) -> Entry:
        allowed = STRUCTURES[kind]
        for key in raw:
            if key not in allowed:
                raise SpecError(f"unknown key '{key}' in {kind}", suggest(key, allowed) or f"{kind} takes: {', '.join(allowed)}", key_locs[key])
        required = {"seq": ("layers",), "repeat": ("n", "layers"), "residual": ("body",), "parallel": ("branches",)}[kind]
        for key in required:
            if key not in raw:
                raise SpecError(f"{kind} needs '{key}:'", None, common.loc)
        if kind == "seq":
            return SeqEntry(common, self.entries(raw["layers"], "layers"))
        if kind == "repeat":
            var = _text(raw.get("var"), "i")
            _check_identifier(var, raw["var"].loc if "var" in raw else common.loc)
            return RepeatEntry(common, raw["n"], var, self.entries(raw["layers"], "layers"))
        merge = self._merge(raw.get("merge"), "add" if kind == "residual" else "concat")
        if kind == "residual":
            shortcut = self.entries(raw["shortcut"], "shortcut") if "shortcut" in raw else ()
            return ResidualEntry(common, self.entries(raw["body"], "body"), shortcut, merge, raw.get("when"))
        branches_node = raw["branches"]
        if not branches_node.is_list or len(branches_node.value) < 2:
            raise SpecError("parallel needs a list of at least two branches", "branches: [[...], [...]] (an empty branch is the identity)", branches_node.loc)
        branches = tuple(self.entries(b, "branch") for b in branches_node.value)
        return ParallelEntry(common, branches, merge, raw.get("split"))

    @staticmethod
    def _merge(node: Node | None, default: str) -> str:
        if node is None:
            return default
        if node.value not in MERGES:
            raise SpecError(f"unknown merge '{node.value}'", f"one of {', '.join(MERGES)}", node.loc)
        return node.value

    @staticmethod
    def _name(node: Node | None) -> str | None:
        if node is None:
            return None
        value = node.value
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value or "." in value or any(c.isspace() for c in value):
            raise SpecError(f"invalid layer name {node.value!r}", "a name is one word without dots or spaces", node.loc)
        return value
