"""YAML nodes → a spec document: entries checked for known types and keys, values still unevaluated.

Values stay as located nodes here because they may be expressions over variables, template
arguments, the repeat index and the incoming shape; `build.py` evaluates them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Union

from groupcost.errors import Location, SpecError
from groupcost.language.builtin import BUILTIN_BLOCKS, BUILTIN_PATH
from groupcost.language.names import check_name
from groupcost.language.yamlsource import Node, parse_yaml
from groupcost.ops import ALIASES, LAYER_TYPES, MERGE_TYPES, Layer

TOP_LEVEL_KEYS = ("name", "description", "extends", "use", "input", "batch", "dtype", "vars", "defaults", "blocks", "layers", "outputs", "budgets")
COMMON_KEYS = ("name", "if", "from", "keep")
MERGES = tuple(sorted(MERGE_TYPES))
STRUCTURES = {
    "seq": ("layers",),
    "repeat": ("n", "var", "layers", "namespace"),
    "residual": ("body", "shortcut", "merge", "when"),
    "parallel": ("branches", "merge", "split", "n", "var", "branch"),
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
    """What every entry may carry: an explicit name, a condition and the tensors it reads."""

    loc: Location
    name: Node | None = None
    condition: Node | None = None
    sources: Node | None = None  # `from:`: a name or a list of names of earlier outputs
    target: Node | None = None  # `to:`: a tensor whose spatial size fills `size:` (upsample, crop)
    keep: Node | None = None  # `keep:`: when true, the output may go unread (an optional side output)
    share: Node | None = None  # `share:`: an earlier layer or block whose modules this entry's layers call again

    @property
    def named(self) -> bool:
        return self.name is not None


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
class InlineRepeatEntry:
    """`repeat` with `namespace: false`: the body `n` times in the enclosing namespace, no `NAME.i` per
    repetition (Res2Net's `convs.{j}`, `bns.{j}` interleaved beside `conv1`)."""

    common: Common
    count: Node
    var: str
    body: tuple[Entry, ...]


@dataclass(frozen=True)
class Branch:
    """A residual's shortcut or a parallel branch: its entries and how it is named.

    A list is numbered (or `shortcut`); `{name: N, layers: [...]}` opens namespace N;
    `{layers: [...]}` without a name is transparent: its layers sit beside it.
    """

    body: tuple[Entry, ...]
    name: Node | None = None
    transparent: bool = False


@dataclass(frozen=True)
class ResidualEntry:
    common: Common
    body: tuple[Entry, ...]
    shortcut: Branch
    merge: str
    when: Node | None  # the skip connection exists only where this holds (MobileNetV2)


@dataclass(frozen=True)
class ParallelEntry:
    common: Common
    branches: tuple[Branch, ...]
    merge: str
    split: Node | None


@dataclass(frozen=True)
class GeneratedParallelEntry:
    """`parallel` with `n:` and `branch:`: `n` branches made from one, `var` (`i`) 0, 1, ... in each
    (MixNet's kernel per channel group, a head count)."""

    common: Common
    count: Node
    var: str
    branch: Branch
    merge: str
    split: Node | None


@dataclass(frozen=True)
class MergeEntry:
    """`- add: {from: [a, b]}`: a merge of named tensors in the graph form."""

    common: Common
    kind: str


@dataclass(frozen=True)
class ComputedEntry:
    """An entry whose type is computed, `- "{act}"`: resolved and checked when the network is built."""

    common: Common
    kind: Node
    args: dict[str, Node]
    key_locs: dict[str, Location]
    defaults: dict[type[Layer], dict[str, Node]]  # the spec's `defaults:`, applied once the type is known


@dataclass(frozen=True)
class TemplateCall:
    common: Common
    template: str
    args: dict[str, Node]


Entry = Union[LayerEntry, SeqEntry, RepeatEntry, InlineRepeatEntry, ResidualEntry, ParallelEntry, GeneratedParallelEntry, MergeEntry, ComputedEntry, TemplateCall]


@dataclass
class Template:
    name: str
    loc: Location
    params: dict[str, Node | None]  # None: required
    body: tuple[Entry, ...] = ()
    variables: dict[str, Node] | None = None  # a block from `use:` sees its own file's vars; None: this spec's
    overrides: dict[str, Node] = field(default_factory=dict)  # its file's vars as `use:` sets them, evaluated in the using spec


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
    outputs: tuple[Node, ...]  # named outputs; empty: the last layer's output
    root: Node = field(compare=False)
    notes: tuple[str, ...] = ()  # how the source was read (an ONNX import's folded BatchNorm), said under every report
    output_keys: tuple[str, ...] = ()  # `outputs: {out: head, aux: aux}`: the keys of the dict the network returns

    @property
    def budgets(self) -> Node | None:
        """The `budgets:` mapping, still unread (groupcost.language.budgets reads it)."""
        return self.root.value.get("budgets")


def parse_document(root: Node, default_name: str, used: tuple[tuple[Node, Node | None], ...] = ()) -> SpecDocument:
    """Check the document's structure and return its entries; raises located SpecErrors.

    `used` are the roots of the files named by `use:` (see groupcost.language.compose), each with what
    `use:` takes from it (None: every block): those blocks join this spec's, each seeing its own file's
    variables; the blocks they use come along under their file's name, out of this spec's sight.
    """
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

    parser = _EntryParser(_parse_defaults(top.get("defaults")))
    for used_root, selection in used:
        _use_blocks(parser, used_root, selection)
    if "blocks" in top:
        parser.declare_templates(_mapping(top["blocks"], "blocks"), top["blocks"].key_locs)
    body = parser.entries(top["layers"], "layers")
    outputs: tuple[Node, ...] = ()
    output_keys: tuple[str, ...] = ()
    if "outputs" in top:
        node = top["outputs"]
        if node.is_map:  # keys of the returned dict (torchvision's segmentation models return {'out': ..., 'aux': ...})
            output_keys, outputs = tuple(str(key) for key in node.value), tuple(node.value.values())
        else:
            outputs = tuple(node.value) if node.is_list else (node,)
        for item in outputs:
            if not isinstance(item.value, str) or not item.value:
                raise SpecError(f"outputs: expected names of layers, got {item.value!r}", "e.g. outputs: [p2, p3, p4]", item.loc)
        if not outputs:
            raise SpecError("outputs: is empty", "name at least one layer, or leave outputs: out", node.loc)
    templates = {**builtin_templates(), **parser.templates}  # the spec's and used files' blocks replace built-in ones
    return SpecDocument(root.loc.path, name, description, top["input"], top.get("batch"), dtype, _variables(top.get("vars")), templates, body, outputs, root,
                        output_keys=output_keys)


def _use_blocks(parser: _EntryParser, used_root: Node, selection: Node | None) -> None:
    """The blocks `use:` takes from one file: all of them, or those `selection` names (`[aspp]`, or
    `{blocks: [aspp], vars: {rates: [6, 12, 18]}}`, which also sets the file's variables)."""
    blocks = used_root.value.get("blocks")
    imported = _EntryParser(_parse_defaults(used_root.value.get("defaults")), f"{used_root.loc.path}::")
    if blocks is not None:
        imported.declare_templates(_mapping(blocks, "blocks"), blocks.key_locs)
    own_vars = _variables(used_root.value.get("vars"))
    names, overrides = _selection(selection, own_vars, used_root.loc.path)
    for template in imported.templates.values():
        template.variables = own_vars
        template.overrides = overrides
    parser.templates.update(imported.templates)  # under their file's name: its blocks' own calls reach them
    for name, loc in names if names is not None else ((t.name, t.loc) for t in imported.templates.values()):
        template = imported.templates.get(imported.prefix + name)
        if template is None:
            file_blocks = [t.name for t in imported.templates.values()]
            raise SpecError(f"'{used_root.loc.path}' has no block '{name}'", suggest(name, file_blocks) or f"its blocks: {', '.join(file_blocks) or 'none'}", loc)
        if name in parser.templates:
            raise SpecError(f"block '{name}' comes from two used files", f"also at {parser.templates[name].loc}; take one: use: {{file.yaml: [{name}]}}", template.loc)
        parser.templates[name] = template


def _selection(node: Node | None, file_vars: dict[str, Node], path: str) -> tuple[list[tuple[str, Location]] | None, dict[str, Node]]:
    """What `use: {file: ...}` takes: block names (None: all) and the file's variables it sets."""
    if node is None:
        return None, {}
    blocks, overrides = node, {}
    if node.is_map:
        for key in node.value:
            if key not in ("blocks", "vars"):
                raise SpecError(f"unknown key '{key}' in use:", "use: {file.yaml: [block, ...]} or {file.yaml: {blocks: [...], vars: {...}}}", node.key_locs[key])
        blocks, overrides = node.value.get("blocks"), _mapping(node.value["vars"], "vars") if "vars" in node.value else {}
        for var in overrides:
            if var not in file_vars:
                raise SpecError(f"'{path}' has no variable '{var}'", suggest(var, file_vars) or f"its variables: {', '.join(file_vars) or 'none'}", node.value["vars"].key_locs[var])
    if blocks is None:
        return None, overrides
    items = blocks.value if blocks.is_list else [blocks]
    for item in items:
        if not isinstance(item.value, str) or not item.value.isidentifier():
            raise SpecError(f"use: expected block names, got {item.value!r}", "use: {file.yaml: [aspp, head]}", item.loc)
    return [(item.value, item.loc) for item in items], overrides


@functools.cache
def builtin_templates() -> dict[str, Template]:
    """groupcost.language.builtin's blocks, read once; they see no variables but their arguments."""
    parser = _EntryParser({})
    root = parse_yaml(BUILTIN_BLOCKS, BUILTIN_PATH)
    parser.declare_templates(root.value["blocks"].value, root.value["blocks"].key_locs)
    for template in parser.templates.values():
        template.variables = {}
    return parser.templates


def _variables(node: Node | None) -> dict[str, Node]:
    variables = {}
    if node is not None:
        for var, value in _mapping(node, "vars").items():
            _check_identifier(var, node.key_locs[var])
            variables[var] = value
    return variables


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


CONV_SHORTHANDS = ("pwconv", "dwconv", "dwsep")  # conv with k=1, with groups=C, and the pair of them


def _parse_defaults(node: Node | None) -> dict[type[Layer], dict[str, Node]]:
    defaults: dict[type[Layer], dict[str, Node]] = {}
    if node is None:
        return defaults
    for type_name, args in _mapping(node, "defaults").items():
        layer_type = LAYER_TYPES.get(type_name)
        if layer_type is None:
            raise SpecError(f"unknown layer type '{type_name}' in defaults", suggest(type_name, LAYER_TYPES), node.key_locs[type_name])
        defaults[layer_type] = _layer_args(layer_type, _mapping(args, type_name), args.key_locs)
    conv = defaults.get(LAYER_TYPES["conv"], {})
    for shorthand in CONV_SHORTHANDS:  # `defaults: conv:` reaches them, argument by argument, under their own entry
        layer_type = LAYER_TYPES[shorthand]
        takes = {a.name for a in layer_type.arg_specs()}
        inherited = {key: value for key, value in conv.items() if key in takes}
        if inherited:
            defaults[layer_type] = {**inherited, **defaults.get(layer_type, {})}
    return defaults


def _layer_args(layer_type: type[Layer], raw: dict[str, Node], key_locs: dict[str, Location]) -> dict[str, Node]:
    specs = {a.name: a for a in layer_type.arg_specs()}
    by_alias = {a.alias: a.name for a in specs.values() if a.alias}
    args: dict[str, Node] = {}
    for key, value in raw.items():
        field_name = by_alias.get(key, key)
        if field_name not in specs:
            known = list(specs) + list(by_alias)
            hint = _unquoted_comma(key) or suggest(key, known) or (f"{layer_type.type_name} takes: {', '.join(known)}" if known else f"{layer_type.type_name} takes no arguments")
            raise SpecError(f"unknown argument '{key}' for {layer_type.type_name}", hint, key_locs[key])
        if field_name in args:
            raise SpecError(f"'{key}' given twice for {layer_type.type_name}", f"'{key}' and its alias name the same argument", key_locs[key])
        args[field_name] = value
    return args


def layer_args(layer_type: type[Layer], raw: dict[str, Node], key_locs: dict[str, Location], loc: Location, defaults: dict[type[Layer], dict[str, Node]], target: bool = False) -> dict[str, Node]:
    """A layer entry's arguments over the spec's defaults, all required ones present (`to:` gives `size`)."""
    args = {**defaults.get(layer_type, {}), **_layer_args(layer_type, raw, key_locs)}
    missing = [a.name for a in layer_type.arg_specs() if a.required and a.name not in args and not (target and a.name == "size")]
    if missing:
        kind = layer_type.type_name
        raise SpecError(f"{kind} needs {', '.join(missing)}", f"e.g. - {kind}: {{{', '.join(m + ': ...' for m in missing)}}}", loc)
    return args


class _EntryParser:
    def __init__(self, defaults: dict[type[Layer], dict[str, Node]], prefix: str = ""):
        self.defaults = defaults
        self.prefix = prefix  # a used file's blocks are known as `path::name`, so files with like names never meet
        self.templates: dict[str, Template] = {}

    def declare_templates(self, blocks: dict[str, Node], key_locs: dict[str, Location]) -> None:
        for name, node in blocks.items():
            loc = key_locs[name]
            _check_identifier(name, loc)
            if name in LAYER_TYPES or name in STRUCTURES or name in MERGES:
                raise SpecError(f"block name '{name}' is already a layer type", "choose another name", loc)
            spec = _mapping(node, name)
            for key in spec:
                if key not in ("args", "layers"):
                    raise SpecError(f"unknown key '{key}' in block '{name}'", _unquoted_comma(key) or "a block has args: and layers:", node.key_locs[key])
            if "layers" not in spec:
                raise SpecError(f"block '{name}' has no 'layers:'", None, loc)
            params: dict[str, Node | None] = {}
            if "args" in spec:
                for param, default in _mapping(spec["args"], "args").items():
                    _check_identifier(param, spec["args"].key_locs[param])
                    if param in COMMON_KEYS:
                        raise SpecError(f"'{param}' is reserved and cannot be a block argument", None, spec["args"].key_locs[param])
                    params[param] = None if default.value is None else default
            if name in self.templates:
                raise SpecError(f"block '{name}' is also defined in a used file", f"there at {self.templates[name].loc}; choose another name", loc)
            self.templates[self.prefix + name] = Template(name, loc, params)
        for name, node in blocks.items():
            self.templates[self.prefix + name].body = self.entries(node.value["layers"], f"{name}.layers")

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
        common = Common(kind_loc, self._name(raw.pop("name", None)), raw.pop("if", None), raw.pop("from", None), raw.pop("to", None), raw.pop("keep", None),
                        raw.pop("share", None))
        if common.target is not None and not ("{" in kind or kind in LAYER_TYPES and any(a.name == "size" for a in LAYER_TYPES[kind].arg_specs())):
            raise SpecError(f"to: is for layers that take size: (upsample, crop, adaptive pools), not {kind}", "resize with - upsample: {to: NAME}", common.target.loc)

        if "{" in kind:
            return ComputedEntry(common, Node(kind, kind_loc), raw, key_locs, self.defaults)
        if kind in LAYER_TYPES:
            return LayerEntry(common, LAYER_TYPES[kind], layer_args(LAYER_TYPES[kind], raw, key_locs, kind_loc, self.defaults, common.target is not None))
        if kind in MERGES:
            if common.share is not None:
                raise SpecError(f"share: is for layers and blocks, not {kind}", f"{kind} has no module to share", common.share.loc)
            for key in raw:
                raise SpecError(f"unknown key '{key}' in {kind}", _unquoted_comma(key) or f"{kind} takes name:, if:, keep: and from: [a, b, ...]", key_locs[key])
            sources = common.sources
            if sources is None or sources.is_list and len(sources.value) < 2:
                raise SpecError(f"{kind} needs from: with the names of two or more tensors", f"e.g. - {kind}: {{from: [conv2, in]}}", kind_loc)
            if not sources.is_list and not isinstance(sources.value, str):
                raise SpecError(f"{kind} needs from: with the names of two or more tensors, got {sources.value!r}",
                                f"a list, e.g. - {kind}: {{from: [conv2, in]}}, or an expression that gives one", sources.loc)
            return MergeEntry(common, kind)
        if kind in STRUCTURES:
            return self.structure(kind, raw, key_locs, common)
        if self.prefix + kind in self.templates or kind in builtin_templates():
            kind = self.prefix + kind if self.prefix + kind in self.templates else kind
            template = self.templates.get(kind) or builtin_templates()[kind]
            for key in raw:
                if key not in template.params and template.variables and key in template.variables:
                    raise SpecError(f"'{key}' is a variable of {template.loc.path}, not an argument of block '{template.name}'",
                                    f"set it where the file is used: use: {{{template.loc.path}: {{blocks: [{template.name}], vars: {{{key}: ...}}}}}}", key_locs[key])
                if key not in template.params:
                    raise SpecError(f"unknown argument '{key}' for block '{template.name}'", _unquoted_comma(key) or suggest(key, template.params) or f"it takes: {', '.join(template.params) or 'nothing'}", key_locs[key])
            missing = [p for p, default in template.params.items() if default is None and p not in raw]
            if missing:
                raise SpecError(f"block '{template.name}' needs {', '.join(missing)}", None, kind_loc)
            return TemplateCall(common, kind, raw)
        known = [*LAYER_TYPES, *STRUCTURES, *MERGES, *(t.name for t in self.templates.values()), *builtin_templates()]
        raise SpecError(f"unknown layer type '{kind}'", suggest(kind, known) or "`groupcost layers` lists the types", kind_loc)

    def structure(self, kind: str, raw: dict[str, Node], key_locs: dict[str, Location], common: Common) -> Entry:
        allowed = STRUCTURES[kind]
        for key in raw:
            if key not in allowed:
                raise SpecError(f"unknown key '{key}' in {kind}", _unquoted_comma(key) or suggest(key, allowed) or f"{kind} takes: {', '.join(allowed)}", key_locs[key])
        generated = kind == "parallel" and ("branch" in raw or "n" in raw)
        if kind == "parallel":
            for key in ("branch", "n", "var") if "branches" in raw else ():
                if key in raw:
                    raise SpecError("parallel takes branches: or n: with branch:, not both", "branches: lists them; n: and branch: make n from one", key_locs[key])
        required = {"seq": ("layers",), "repeat": ("n", "layers"), "residual": ("body",), "parallel": ("n", "branch") if generated else ("branches",)}[kind]
        for key in required:
            if key not in raw:
                raise SpecError(f"{kind} needs '{key}:'", None, common.loc)
        if kind == "seq":
            return SeqEntry(common, self.entries(raw["layers"], "layers"))
        if kind == "repeat":
            var = self._var(raw, common)
            namespace = raw.get("namespace")
            if namespace is not None and not isinstance(namespace.value, bool):
                raise SpecError(f"namespace: takes true or false, got {namespace.value!r}", "namespace: false repeats the body in the enclosing namespace", namespace.loc)
            if namespace is not None and not namespace.value:
                if common.name is not None:
                    raise SpecError("a repeat with namespace: false has no name of its own", "name its entries, e.g. name: \"convs.{i}\"", common.name.loc)
                return InlineRepeatEntry(common, raw["n"], var, self.entries(raw["layers"], "layers"))
            return RepeatEntry(common, raw["n"], var, self.entries(raw["layers"], "layers"))
        merge = self._merge(raw.get("merge"), "add" if kind == "residual" else "concat")
        if kind == "residual":
            shortcut = self.branch(raw["shortcut"], "shortcut") if "shortcut" in raw else Branch(())
            return ResidualEntry(common, self.entries(raw["body"], "body"), shortcut, merge, raw.get("when"))
        if generated:
            return GeneratedParallelEntry(common, raw["n"], self._var(raw, common), self.branch(raw["branch"], "branch"), merge, raw.get("split"))
        branches_node = raw["branches"]
        if not branches_node.is_list or len(branches_node.value) < 2:
            raise SpecError("parallel needs a list of at least two branches", "branches: [[...], [...]] (an empty branch is the identity)", branches_node.loc)
        return ParallelEntry(common, tuple(self.branch(b, "branch") for b in branches_node.value), merge, raw.get("split"))

    def branch(self, node: Node, what: str) -> Branch:
        """A list of entries, or {name: N, layers: [...]} (without a name: transparent)."""
        if not node.is_map:
            return Branch(self.entries(node, what))
        for key in node.value:
            if key not in ("name", "layers"):
                raise SpecError(f"unknown key '{key}' in a {what}", _unquoted_comma(key) or f"a {what} is a list of layers or {{name: ..., layers: [...]}}", node.key_locs[key])
        if "layers" not in node.value:
            raise SpecError(f"this {what} has no 'layers:'", "{name: ..., layers: [...]}", node.loc)
        name = self._name(node.value.get("name"))
        return Branch(self.entries(node.value["layers"], what), name, transparent=name is None)

    @staticmethod
    def _var(raw: dict[str, Node], common: Common) -> str:
        var = _text(raw.get("var"), "i")
        _check_identifier(var, raw["var"].loc if "var" in raw else common.loc)
        return var

    @staticmethod
    def _merge(node: Node | None, default: str) -> str:
        if node is None:
            return default
        if node.value not in MERGES:
            raise SpecError(f"unknown merge '{node.value}'", f"one of {', '.join(MERGES)}", node.loc)
        return node.value

    @staticmethod
    def _name(node: Node | None) -> Node | None:
        """A name node, checked now unless it is computed (`"denselayer{i + 1}"`, checked when built)."""
        if node is None:
            return None
        if isinstance(node.value, int) and not isinstance(node.value, bool):
            return Node(str(node.value), node.loc)
        if isinstance(node.value, str) and "{" in node.value:
            return node
        check_name(node.value, node.loc)
        return node


def _unquoted_comma(key: str) -> str | None:
    """A key like `c // 4)` is the tail of an expression that YAML split at a comma."""
    if any(c in key for c in "()+-*/%<>=") or " " in key.strip():
        return "an expression with a comma inside {...} must be quoted, e.g. {squeeze: \"max(1, c // 4)\"}"
    return None
