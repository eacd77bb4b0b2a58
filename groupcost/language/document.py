"""YAML nodes → a spec document: entries checked for known types and keys, values still unevaluated.

Values stay as located nodes here because they may be expressions over variables, template
arguments, the repeat index and the incoming shape; `build.py` evaluates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Union

from groupcost.errors import Location, SpecError
from groupcost.ops import ALIASES, LAYER_TYPES, MERGE_TYPES, Layer
from groupcost.language.yamlsource import Node

TOP_LEVEL_KEYS = ("name", "description", "extends", "use", "input", "batch", "dtype", "vars", "defaults", "blocks", "layers", "outputs", "budgets")
COMMON_KEYS = ("name", "if", "from")
MERGES = tuple(sorted(MERGE_TYPES))
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
    """What every entry may carry: an explicit name, a condition and the tensors it reads."""

    loc: Location
    name: Node | None = None
    condition: Node | None = None
    sources: Node | None = None  # `from:`: a name or a list of names of earlier outputs
    target: Node | None = None  # `to:`: a tensor whose spatial size fills `size:` (upsample, crop)
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


Entry = Union[LayerEntry, SeqEntry, RepeatEntry, ResidualEntry, ParallelEntry, MergeEntry, ComputedEntry, TemplateCall]


@dataclass
class Template:
    name: str
    loc: Location
    params: dict[str, Node | None]  # None: required
    body: tuple[Entry, ...] = ()
    variables: dict[str, Node] | None = None  # a block from `use:` sees its own file's vars; None: this spec's


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

    @property
    def budgets(self) -> Node | None:
        """The `budgets:` mapping, still unread (groupcost.language.budgets reads it)."""
        return self.root.value.get("budgets")


def parse_document(root: Node, default_name: str, used: tuple[Node, ...] = ()) -> SpecDocument:
    """Check the document's structure and return its entries; raises located SpecErrors.

    `used` are the roots of the files named by `use:` (see groupcost.language.compose): their blocks
    join this spec's, each seeing its own file's variables.
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
    for used_root in used:
        imported = _EntryParser(_parse_defaults(used_root.value.get("defaults")))
        blocks = used_root.value.get("blocks")
        if blocks is None:
            continue
        imported.declare_templates(_mapping(blocks, "blocks"), blocks.key_locs)
        own_vars = _variables(used_root.value.get("vars"))
        for template in imported.templates.values():
            if template.name in parser.templates:
                raise SpecError(f"block '{template.name}' comes from two used files", f"also at {parser.templates[template.name].loc}", template.loc)
            template.variables = own_vars
            parser.templates[template.name] = template
    if "blocks" in top:
        parser.declare_templates(_mapping(top["blocks"], "blocks"), top["blocks"].key_locs)
    body = parser.entries(top["layers"], "layers")
    outputs: tuple[Node, ...] = ()
    if "outputs" in top:
        node = top["outputs"]
        outputs = tuple(node.value) if node.is_list else (node,)
        for item in outputs:
            if not isinstance(item.value, str) or not item.value:
                raise SpecError(f"outputs: expected names of layers, got {item.value!r}", "e.g. outputs: [p2, p3, p4]", item.loc)
        if not outputs:
            raise SpecError("outputs: is empty", "name at least one layer, or leave outputs: out", node.loc)
    return SpecDocument(root.loc.path, name, description, top["input"], top.get("batch"), dtype, _variables(top.get("vars")), parser.templates, body, outputs, root)


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
    def __init__(self, defaults: dict[type[Layer], dict[str, Node]]):
        self.defaults = defaults
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
        common = Common(kind_loc, self._name(raw.pop("name", None)), raw.pop("if", None), raw.pop("from", None), raw.pop("to", None), raw.pop("share", None))
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
                raise SpecError(f"unknown key '{key}' in {kind}", _unquoted_comma(key) or f"{kind} takes name:, if: and from: [a, b, ...]", key_locs[key])
            sources = common.sources
            if sources is not None and not sources.is_list and isinstance(sources.value, str):
                raise SpecError(f"{kind} from: is one name or expression, '{sources.value}': from: takes a list written out, not computed",
                                f"list the names: - {kind}: {{from: [a, b]}}; each may be computed, e.g. \"layer{{i}}\"", sources.loc)
            if sources is None or not sources.is_list or len(sources.value) < 2:
                raise SpecError(f"{kind} needs from: with the names of two or more tensors", f"e.g. - {kind}: {{from: [conv2, in]}}", kind_loc)
            return MergeEntry(common, kind)
        if kind in STRUCTURES:
            return self.structure(kind, raw, key_locs, common)
        if kind in self.templates:
            template = self.templates[kind]
            for key in raw:
                if key not in template.params:
                    raise SpecError(f"unknown argument '{key}' for block '{kind}'", _unquoted_comma(key) or suggest(key, template.params) or f"it takes: {', '.join(template.params) or 'nothing'}", key_locs[key])
            missing = [p for p, default in template.params.items() if default is None and p not in raw]
            if missing:
                raise SpecError(f"block '{kind}' needs {', '.join(missing)}", None, kind_loc)
            return TemplateCall(common, kind, raw)
        known = [*LAYER_TYPES, *STRUCTURES, *MERGES, *self.templates]
        raise SpecError(f"unknown layer type '{kind}'", suggest(kind, known) or "`groupcost layers` lists the types", kind_loc)

    def structure(self, kind: str, raw: dict[str, Node], key_locs: dict[str, Location], common: Common) -> Entry:
        allowed = STRUCTURES[kind]
        for key in raw:
            if key not in allowed:
                raise SpecError(f"unknown key '{key}' in {kind}", _unquoted_comma(key) or suggest(key, allowed) or f"{kind} takes: {', '.join(allowed)}", key_locs[key])
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
            shortcut = self.branch(raw["shortcut"], "shortcut") if "shortcut" in raw else Branch(())
            return ResidualEntry(common, self.entries(raw["body"], "body"), shortcut, merge, raw.get("when"))
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
            raise SpecError(f"this {what} has no 'layers:'", f"{{name: ..., layers: [...]}}", node.loc)
        name = self._name(node.value.get("name"))
        return Branch(self.entries(node.value["layers"], what), name, transparent=name is None)

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


RESERVED_NAMES = ("input", "in")


TORCH_MODULE_ATTRIBUTES = frozenset({
    "T_destination", "_apply", "_backward_hooks", "_backward_pre_hooks", "_buffers", "_call_impl",
    "_compiled_call_impl", "_forward_hooks", "_forward_hooks_always_called", "_forward_hooks_with_kwargs",
    "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_get_backward_hooks", "_get_backward_pre_hooks",
    "_get_name", "_is_full_backward_hook", "_load_from_state_dict", "_load_state_dict_post_hooks",
    "_load_state_dict_pre_hooks", "_maybe_warn_non_full_backward_hook", "_modules", "_named_members",
    "_non_persistent_buffers_set", "_parameters", "_register_load_state_dict_pre_hook",
    "_register_state_dict_hook", "_replicate_for_data_parallel", "_save_to_state_dict", "_slow_forward",
    "_state_dict_hooks", "_state_dict_pre_hooks", "_version", "_wrapped_call_impl", "add_module", "apply",
    "bfloat16", "buffers", "call_super_init", "children", "compile", "cpu", "cuda", "double", "dump_patches",
    "eval", "extra_repr", "float", "forward", "get_buffer", "get_extra_state", "get_parameter",
    "get_submodule", "half", "ipu", "load_state_dict", "modules", "mtia", "named_buffers", "named_children",
    "named_modules", "named_parameters", "parameters", "register_backward_hook", "register_buffer",
    "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook", "register_module", "register_parameter",
    "register_state_dict_post_hook", "register_state_dict_pre_hook", "requires_grad_", "set_extra_state",
    "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train", "training", "type", "xpu",
    "zero_grad"
})  # dir(torch.nn.Module()): no submodule can take these names (tests/language keep it whole)


def check_name(value: object, loc: Location) -> str:
    """A layer name: one word without dots or spaces, not `input` or `in`, nor an attribute of every torch module."""
    if not isinstance(value, str) or not value or "." in value or any(c.isspace() for c in value):
        raise SpecError(f"invalid layer name {value!r}", "a name is one word without dots or spaces", loc)
    if value in RESERVED_NAMES:
        raise SpecError(f"'{value}' cannot name a layer", "`input` is the network's input and `in` a block's input in from:", loc)
    if value in TORCH_MODULE_ATTRIBUTES or value.startswith("__") and value.endswith("__"):
        raise SpecError(f"'{value}' cannot name a layer: every PyTorch module has an attribute '{value}', so no submodule can take that name",
                        f"rename it, e.g. '{value.strip('_')}_' or '{value.strip('_')}1'", loc)
    return value


def _unquoted_comma(key: str) -> str | None:
    """A key like `c // 4)` is the tail of an expression that YAML split at a comma."""
    if any(c in key for c in "()+-*/%<>=") or " " in key.strip():
        return "an expression with a comma inside {...} must be quoted, e.g. {squeeze: \"max(1, c // 4)\"}"
    return None
