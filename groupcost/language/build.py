"""Spec document + variables → a resolved Network: a graph of named tensors, shapes propagated, checked.

Lowering: each entry reads the tensor before it (or the ones its `from:` names) and produces a
named tensor. `seq`, `repeat`, `residual`, `parallel` and blocks only decide names and wiring.

Naming: every entry in a list takes the next index (or its `name:`) as its name segment. Blocks,
`seq` and named structures open a namespace under that segment; a body or branch of one unnamed
entry adds no `.0` (the entry takes the group's name). Unnamed `residual` and `parallel` are
transparent: their layers sit beside them. A residual's shortcut sits under `shortcut` (or the
name its `{name: ..., layers: ...}` form gives), and `repeat` numbers each repetition, a one-entry
body taking the number itself — so a stage of bottlenecks reads `layer2.0.conv2` as in torchvision.

Shapes in expressions: `c_in`, `h_in`, `w_in` are the input of the enclosing block (undefined outside
blocks) and never change inside it; `in` names that same tensor. `c_now`, `h_now`, `w_now` are the
input of the entry being read.
"""

from __future__ import annotations

from collections.abc import Mapping
from difflib import get_close_matches
from typing import Any

from groupcost.errors import Location, SpecError, UsageError
from groupcost.ops import ALIASES, LAYER_TYPES, MERGE_TYPES, Layer, LayerError, Macro, Shape, format_shape
from groupcost.ops.view import Chunk
from groupcost.graph.builder import GraphBuilder, Tensor
from groupcost.graph.network import Network
from groupcost.language.document import (
    DTYPE_BYTES,
    Branch,
    ComputedEntry,
    Entry,
    LayerEntry,
    MergeEntry,
    ParallelEntry,
    RepeatEntry,
    ResidualEntry,
    SeqEntry,
    SpecDocument,
    TemplateCall,
    check_name,
    layer_args,
    suggest,
)
from groupcost.language.expr import Number, evaluate, interpolate
from groupcost.language.sharing import share_owners, share_steps
from groupcost.language.yamlsource import Node as YamlNode
from groupcost.language.yamlsource import without_gc

MAX_BLOCK_DEPTH = 64
CHAIN_ENDS = 3  # an error's chain of block calls keeps this many at each end
MAX_STEPS = 100_000
MAX_REPEAT = 100_000
BLOCK_INPUT = "in"


class _Scope:
    """One namespace: hands out unique, stable names (claimed in the graph) and knows its input (`in`)."""

    def __init__(self, prefix: str, graph: GraphBuilder, group_input: Tensor, block: tuple[str, Tensor] | None = None):
        self.prefix = prefix
        self.index = 0
        self.graph = graph
        self.input = group_input  # the input of this namespace (a block, seq, repetition or branch)
        self.block = block  # the enclosing block's name and input: what `in` and `c_in` stand for

    def claim(self, explicit: str | None, loc: Location, numbered: bool = True, generated: bool = False) -> str:
        segment = explicit if explicit is not None else str(self.index)
        if numbered:
            self.index += 1
        name = self.prefix + segment
        if not generated and name in self.graph.names:
            raise SpecError(f"two entries are named '{name}'", f"the first is at {self.graph.names[name]}; names at one level must differ", loc)
        return self.graph.claim(name, loc)

    def child(self, name: str, group_input: Tensor) -> _Scope:
        return _Scope(name + ".", self.graph, group_input, self.block)

    def in_block(self, template: str, block_input: Tensor) -> _Scope:
        """The same namespace, seen from inside a call of block `template` on `block_input`."""
        scope = _Scope(self.prefix, self.graph, block_input, (template, block_input))
        scope.index = self.index
        return scope

    def prefixes(self) -> list[str]:
        """This namespace's prefix and every enclosing one, innermost first: `a.b.`, `a.`, ``."""
        parts = self.prefix.split(".")[:-1]
        return [".".join(parts[:k]) + "." for k in range(len(parts), 0, -1)] + [""]


def resolve_variables(doc: SpecDocument, overrides: Mapping[str, Number]) -> dict[str, Any]:
    for var in overrides:
        if var not in doc.variables:
            defined = ", ".join(doc.variables) or "none"
            raise UsageError(f"spec '{doc.name}' has no variable '{var}'", f"its variables: {defined}")
    return _variables(doc.variables, overrides)


def _variables(variables: Mapping[str, YamlNode], overrides: Mapping[str, Number]) -> dict[str, Any]:
    env: dict[str, Any] = {}
    for var, node in variables.items():
        env[var] = overrides[var] if var in overrides else _argument(node, env)
        if not _is_value(env[var]):
            raise SpecError(f"variable '{var}' must be a number, a string or a list, got {env[var]!r}", None, node.loc)
    return env


def _is_value(value: Any) -> bool:
    if isinstance(value, list):
        return all(_is_value(v) for v in value)
    return isinstance(value, (int, float, str)) and not isinstance(value, bool)


def _argument(node: YamlNode, env: Mapping[str, Any]) -> Any:
    """A variable's or block argument's value: an expression, a list, or a bare word taken as a string."""
    if isinstance(node.value, str) and _is_word(node.value) and node.value not in env:
        return node.value  # `act: hswish`, `skip: body.layer3` pass the word itself
    if isinstance(node.value, list):
        return [_argument(item, env) for item in node.value]
    value = _evaluate_node(node, env)
    return int(value) if isinstance(value, bool) else value


def _is_word(text: str) -> bool:
    """A name, or a dotted layer name (`body.layer3`, `inner_blocks.3`): never an expression."""
    head, *rest = text.split(".")
    return head.isidentifier() and all(part.isidentifier() or part.isdigit() for part in rest)


def _evaluate_node(node: YamlNode, env: Mapping[str, Any], keywords: tuple[str, ...] = ()) -> Any:
    value = node.value
    if isinstance(value, str):
        if value in keywords:
            return value
        try:
            return evaluate(value, env)
        except SpecError as exc:
            raise exc.located(node.loc) from None
    if isinstance(value, list):
        return [_evaluate_node(item, env, keywords) for item in value]
    if isinstance(value, dict):
        raise SpecError("expected a value, got a mapping", None, node.loc)
    return value


def _text(node: YamlNode, env: Mapping[str, Any]) -> str:
    """A name written in the spec, with `{expr}` parts computed."""
    if not isinstance(node.value, str) or "{" not in node.value:
        return str(node.value)
    try:
        return interpolate(node.value, env)
    except SpecError as exc:
        raise exc.located(node.loc) from None


@without_gc
def build(doc: SpecDocument, overrides: Mapping[str, Number] | None = None, *, input_shape: Shape | None = None, batch: int | None = None) -> Network:
    """Resolve `doc` with variable `overrides` into a Network; raises located SpecErrors.

    `input_shape` (C, H, W; or C, L; C, T, H, W; F) and `batch` replace the spec's `input:` and `batch:` (`--input`, `--batch`).
    """
    env = resolve_variables(doc, overrides or {})
    if input_shape is not None:
        if not 1 <= len(input_shape) <= 4 or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in input_shape):
            raise UsageError(f"input must be C,H,W (or C,L, C,T,H,W, F) of positive whole numbers, got {','.join(map(str, input_shape))}",
                             "e.g. --input 3,160,160")
        input_shape = tuple(input_shape)
    else:
        input_shape = _input_shape(doc, env)
    if batch is not None:
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise UsageError(f"batch must be a positive whole number, got {batch!r}", "e.g. --batch 8")
    elif doc.batch is None:
        batch = 1
    else:
        batch = _evaluate_node(doc.batch, env)
        if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
            raise SpecError(f"batch must be a positive whole number, got {batch!r}", None, doc.batch.loc)
    builder = _Builder(doc, env, batch, input_shape)
    return builder.network()


def _input_shape(doc: SpecDocument, env: Mapping[str, Number]) -> Shape:
    dims = _evaluate_node(doc.input, env)
    if not isinstance(dims, list) or not 1 <= len(dims) <= 4:
        raise SpecError("input must be [C, H, W], [C, L], [C, T, H, W] or [F] (flat)", "e.g. input: [3, 224, 224]", doc.input.loc)
    for dim, node in zip(dims, doc.input.value):
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise SpecError(f"input sizes must be positive whole numbers, got {dim!r}", None, node.loc)
    return tuple(dims)


def _with_shape(env: Mapping[str, Number], x: Shape) -> dict[str, Number]:
    """The variables an entry sees: the enclosing ones plus its input's sizes: c_in always; l_in (C×L);
    h_in, w_in (C×H×W; 1 for a flat input); t_in, h_in, w_in (C×T×H×W); c_in alone for a higher rank
    (an opaque layer's or a view's output)."""
    names = {1: ("c_in",), 2: ("c_in", "l_in"), 3: ("c_in", "h_in", "w_in"), 4: ("c_in", "t_in", "h_in", "w_in")}.get(len(x), ("c_in",))
    sizes = dict(zip(names, x))
    if len(x) == 1:
        sizes.update(h_in=1, w_in=1)
    return {**env, **sizes}


def _now(x: Shape) -> dict[str, Number]:
    """The shape of the tensor an entry reads, as c_now, h_now, w_now (the block's input stays c_in)."""
    return {key[:-3] + "_now": value for key, value in _with_shape({}, x).items()}


class _Builder:
    def __init__(self, doc: SpecDocument, global_env: Mapping[str, Any], batch: int, input_shape: Shape):
        self.doc = doc
        self.globals = global_env
        self.graph = GraphBuilder(input_shape, batch, doc.input.loc, input_label=f"input {format_shape(input_shape)}")
        self.depth = 0
        self.steps = 0
        self.sizes: dict[str, int] = {}
        self.input = self.graph.input
        self.tensors: dict[str, Tensor] = {self.input.name: self.input}  # every name `from:` can reach
        self.read: set[str] = set()
        self.foreign: dict[str, dict[str, Any]] = {}  # a used file's variables, by block

    def network(self) -> Network:
        doc = self.doc
        top = _Scope("", self.graph, self.input)
        env = dict(self.globals)  # no c_in outside blocks: an entry's own input is c_now
        last = self.sequence(doc.body, top, env, self.input)
        nodes = self.graph.nodes
        if not nodes:
            raise SpecError("the network has no layers", "every entry of `layers:` was left out or the list is empty", doc.root.key_locs["layers"])
        outputs = tuple(self.resolve(node, top, env).name for node in doc.outputs) or (last.name,)
        for node in doc.outputs:
            if self.resolve(node, top, env).channels is not None:
                raise SpecError(f"output '{node.value}' is a slice of a tensor", "name a layer or a merge", node.loc)
        unread = [n for n in nodes if n.name not in self.read and n.name not in outputs]
        if unread:
            node = unread[0]
            raise SpecError(f"'{node.name}' is computed but never used", "read it with from:, or list it in outputs:", node.loc)
        return self.graph.network(doc.name, doc.description, doc.path, doc.dtype, DTYPE_BYTES[doc.dtype], dict(self.globals), outputs, doc.notes)

    # ---- names and wiring -------------------------------------------------------------------

    def resolve(self, node: YamlNode, scope: _Scope, env: Mapping[str, Any]) -> Tensor:
        """The tensor a `from:` name stands for: innermost namespace first, then outwards."""
        if isinstance(node.value, int) and not isinstance(node.value, bool):
            node = YamlNode(str(node.value), node.loc)  # an unnamed entry's position
        if not isinstance(node.value, str) or not node.value:
            raise SpecError(f"from: expected the name of an earlier layer, got {node.value!r}", "e.g. from: layer3 or from: [a, b]", node.loc)
        name = _text(node, env)
        if name == BLOCK_INPUT:
            return self.block_input(scope, node.loc)
        for prefix in scope.prefixes():
            tensor = self.tensors.get(prefix + name)
            if tensor is not None:
                return tensor
        elsewhere = [n for n in self.tensors if n.endswith("." + name)]
        if elsewhere:  # defined, but in a namespace this entry does not look into (another repetition's, a block's)
            where = f"inside '{scope.prefix[:-1]}' and around it" if scope.prefix else "at the top level"
            found = ", ".join(f"'{n}'" for n in elsewhere[:3]) + (f" and {len(elsewhere) - 3} more" if len(elsewhere) > 3 else "")
            raise SpecError(f"'{name}' is not an earlier output {where}: there is {found}, in another namespace",
                            f"write the full name, e.g. from: {elsewhere[-1]}", node.loc)
        close = [c for c in get_close_matches(name, [n.rsplit(".", 1)[-1] for n in self.tensors] + list(self.tensors), n=3) if c != name]
        hint = f"did you mean '{close[0]}'?" if close else "name an earlier layer or block, `input` or `in`"
        raise SpecError(f"'{name}' is not an earlier output", f"{hint}; a later name would make a cycle", node.loc)

    @staticmethod
    def block_input(scope: _Scope, loc: Location) -> Tensor:
        """`in`: the enclosing block's input, as `c_in` is its width; refused where it could mean another tensor."""
        if scope.block is None:
            raise SpecError("'in' is the input of a block, and this entry is in no block", "name the tensor in from:; `input` is the network's input", loc)
        template, tensor = scope.block
        if scope.input != tensor:
            raise SpecError(f"'in' is the input of block '{template}' ('{tensor.name}'), not of '{scope.prefix[:-1]}', which reads '{scope.input.name}'",
                            "name the tensor you mean in from:", loc)
        return tensor

    def sources(self, node: YamlNode, scope: _Scope, env: Mapping[str, Any]) -> list[Tensor]:
        items = node.value if node.is_list else [node]
        return [self.resolve(item, scope, env) for item in items]

    def name(self, entry: Entry, scope: _Scope, env: Mapping[str, Any], given: str | None) -> str:
        """The entry's full name: `given` (a one-entry group's), its `name:`, or its position."""
        if given is not None:
            return given
        node = entry.common.name
        explicit = check_name(_text(node, env), node.loc) if node is not None else None
        return scope.claim(explicit, entry.common.loc)

    def produced(self, name: str, tensor: Tensor) -> Tensor:
        """Let `from:` reach a group by its name: it stands for its last output."""
        self.tensors.setdefault(name, tensor)
        return tensor

    def group(self, entries: tuple[Entry, ...], scope: _Scope, name: str, env: Mapping[str, Any], x: Tensor) -> Tensor:
        """`entries` under the namespace `name`; a single unnamed entry takes the name itself."""
        if len(entries) == 1 and entries[0].common.name is None and _claims_name(entries[0]):
            return self.produced(name, self.entry(entries[0], scope, env, x, given=name))
        return self.produced(name, self.sequence(entries, scope.child(name, x), env, x))

    # ---- entries ------------------------------------------------------------------------------

    def sequence(self, entries: tuple[Entry, ...], scope: _Scope, env: Mapping[str, Any], x: Tensor) -> Tensor:
        for entry in entries:
            x = self.entry(entry, scope, env, x)
        return x

    def entry(self, entry: Entry, scope: _Scope, env: Mapping[str, Any], x: Tensor, given: str | None = None) -> Tensor:
        """Build `entry` reading `x` (or its `from:`); return the tensor it produces. With `share:`, the
        k-th layer it makes calls the module of the k-th layer of the entry it names."""
        share = entry.common.share
        if share is None:
            return self.unshared(entry, scope, env, x, given)
        local = {**env, **_now(x.shape)}
        if entry.common.condition is not None and not _evaluate_node(entry.common.condition, local):
            return x
        owners = share_owners(self.graph.nodes, [prefix + _text(share, local) for prefix in scope.prefixes()] if isinstance(share.value, str) else [], share)
        start = len(self.graph.nodes)
        y = self.unshared(entry, scope, env, x, given)
        share_steps(self.graph.nodes, start, owners, share)
        return y

    def unshared(self, entry: Entry, scope: _Scope, env: Mapping[str, Any], x: Tensor, given: str | None = None) -> Tensor:
        common = entry.common
        local = {**env, **_now(x.shape)}
        if common.condition is not None and not _evaluate_node(common.condition, local):
            return x
        if common.sources is not None and not isinstance(entry, MergeEntry):
            sources = self.sources(common.sources, scope, local)
            if len(sources) != 1:
                raise SpecError(f"only add, concat and mul read several tensors; this entry reads {len(sources)}", "give from: one name", common.sources.loc)
            x = sources[0]
            local = {**env, **_now(x.shape)}
        if isinstance(entry, LayerEntry):
            return self.layer(entry, entry.layer_type, entry.args, scope, local, x, given)
        if isinstance(entry, ComputedEntry):
            return self.computed(entry, scope, local, x, given)
        if isinstance(entry, MergeEntry):
            inputs = self.sources(common.sources, scope, local)
            return self.merge(entry.kind, self.name(entry, scope, local, given), inputs, common.loc, *(t.name for t in inputs))
        if isinstance(entry, RepeatEntry):
            return self.repeat(entry, scope, env, local, x)
        if isinstance(entry, ResidualEntry):
            return self.residual(entry, scope, env, local, x, given)
        if isinstance(entry, ParallelEntry):
            return self.parallel(entry, scope, env, local, x, given)
        if isinstance(entry, SeqEntry):
            return self.group(entry.body, scope, self.name(entry, scope, local, given), env, x)
        return self.call(entry, scope, local, x, given)

    def _count(self, loc: Location) -> None:
        self._foresee(1, loc)
        self.steps += 1

    def _foresee(self, layers: int, loc: Location) -> None:
        """Refuse a network that would pass MAX_STEPS layers, before building it."""
        if self.steps + layers > MAX_STEPS:
            raise SpecError(f"network has more than {MAX_STEPS:,} layers", "check repeat counts and blocks that use blocks", loc)

    def estimate(self, entries: tuple[Entry, ...]) -> int:
        """The layers `entries` make, quickly: conditions ignored, an inner repeat's count taken as 1 unless literal."""
        total = 0
        for entry in entries:
            if isinstance(entry, (LayerEntry, MergeEntry, ComputedEntry)):
                total += 1
            elif isinstance(entry, RepeatEntry):
                count = entry.count.value if isinstance(entry.count.value, int) and not isinstance(entry.count.value, bool) else 1
                total += max(count, 0) * self.estimate(entry.body)
            elif isinstance(entry, SeqEntry):
                total += self.estimate(entry.body)
            elif isinstance(entry, ResidualEntry):
                total += self.estimate(entry.body) + self.estimate(entry.shortcut.body)
            elif isinstance(entry, ParallelEntry):
                total += sum(self.estimate(b.body) for b in entry.branches)
            else:
                total += self.template_size(entry.template)
            if total > MAX_STEPS:
                return total
        return total

    def template_size(self, name: str) -> int:
        if name not in self.sizes:
            self.sizes[name] = 1  # a block that uses itself: its depth limit stops it
            self.sizes[name] = self.estimate(self.doc.templates[name].body)
        return self.sizes[name]

    def layer(self, entry: Entry, layer_type: type[Layer], args: dict[str, YamlNode], scope: _Scope, env: Mapping[str, Any], x: Tensor, given: str | None) -> Tensor:
        size_of = None
        if entry.common.target is not None:
            size, size_of = self.target_size(entry.common.target, layer_type, args, scope, env)
            args = {**args, "size": size}
        layer = self.make_layer(layer_type, args, env)
        name = self.name(entry, scope, env, given)
        if isinstance(layer, Chunk):  # parts side by side, each reading x; the entry stands for the last
            try:
                parts = layer.parts(x.shape)
            except LayerError as exc:
                raise SpecError(f"{name} (chunk): {exc.message}", exc.hint, args[exc.arg].loc if exc.arg in args else entry.common.loc) from None
            return self.produced(name, [self.place(f"{name}.{suffix}", part, x, entry.common.loc, args) for suffix, part in parts][-1])
        if isinstance(layer, Macro):
            for suffix, part in layer.expand():
                x = self.place(f"{name}.{suffix}", part, x, entry.common.loc, args)
            return self.produced(name, x)
        return self.place(name, layer, x, entry.common.loc, args, size_of)

    def target_size(self, node: YamlNode, layer_type: type[Layer], args: dict[str, YamlNode], scope: _Scope, env: Mapping[str, Any]) -> tuple[YamlNode, str]:
        """`to: NAME`: the named tensor's spatial size, as the `size:` argument (FPN's and U-Net's "like that one"), and the tensor's name."""
        if "size" in args and args["size"] is not node:
            raise SpecError(f"{layer_type.type_name} takes size: or to:, not both", None, node.loc)
        if args.get("scale") is not None and args["scale"].value is not None:
            raise SpecError(f"{layer_type.type_name} takes scale: or to:, not both", f"to: gives the size of '{node.value}'; scale: would give another", node.loc)
        if not any(a.name == "size" for a in layer_type.arg_specs()):
            raise SpecError(f"to: is for layers that take size:, not {layer_type.type_name}", None, node.loc)
        target = self.resolve(node, scope, env)
        if len(target.shape) < 2:
            raise SpecError(f"to: '{target.name}' is flat ({format_shape(target.shape)}): it has no spatial size", None, node.loc)
        self.read.add(target.name)  # only its shape is read: the tensor itself may be freed
        return YamlNode([YamlNode(n, node.loc) for n in target.shape[1:]], node.loc), target.name

    def place(self, name: str, layer: Layer, x: Tensor, loc: Location, args: dict[str, YamlNode], size_of: str | None = None) -> Tensor:
        self._count(loc)
        tensor = self.graph.layer(name, layer, x, loc, args=args, size_of=size_of)
        self.read.add(x.name)
        self.tensors[name] = tensor
        return tensor

    @staticmethod
    def make_layer(layer_type: type[Layer], args: dict[str, YamlNode], env: Mapping[str, Any]) -> Layer:
        kwargs: dict[str, Any] = {}
        for spec in layer_type.arg_specs():
            node = args.get(spec.name)
            if node is None:
                continue
            try:
                raw = (_text(node, env) if isinstance(node.value, str) else node.value) if spec.textual else _evaluate_node(node, env, spec.keywords)
                if raw is None and not spec.required:
                    continue
                kwargs[spec.name] = spec.kind(raw)
            except SpecError as exc:
                raise SpecError(f"{layer_type.type_name} {spec.name}: {exc.message}", exc.hint, exc.location or node.loc) from None
        return layer_type(**kwargs)

    def computed(self, entry: ComputedEntry, scope: _Scope, env: Mapping[str, Any], x: Tensor, given: str | None) -> Tensor:
        """`- "{act}"`: the type is known now; its arguments are checked as any entry's."""
        kind = _text(entry.kind, env)
        kind = ALIASES.get(kind, kind)
        if kind in LAYER_TYPES:
            takes = [name for a in LAYER_TYPES[kind].arg_specs() for name in (a.name, a.alias) if name]
            for key in entry.args:
                if key not in takes:
                    raise SpecError(f"'{entry.kind.value}' gives '{kind}', a layer type, which takes no argument '{key}'",
                                    f"{kind} takes {', '.join(takes) or 'no arguments'}; a computed entry hands its arguments to the type it gives",
                                    entry.key_locs[key])
            args = layer_args(LAYER_TYPES[kind], entry.args, entry.key_locs, entry.kind.loc, entry.defaults, entry.common.target is not None)
            return self.layer(entry, LAYER_TYPES[kind], args, scope, env, x, given)
        if kind in self.doc.templates:
            call = TemplateCall(entry.common, kind, entry.args)
            template = self.doc.templates[kind]
            for key in entry.args:
                if key not in template.params:
                    raise SpecError(f"'{entry.kind.value}' gives block '{kind}', which takes no argument '{key}'",
                                    suggest(key, template.params) or f"it takes {', '.join(template.params) or 'no arguments'}", entry.key_locs[key])
            return self.call(call, scope, env, x, given)
        raise SpecError(f"'{entry.kind.value}' gives '{kind}', which is no layer type or block", suggest(kind, [*LAYER_TYPES, *self.doc.templates]), entry.kind.loc)

    def repeat(self, entry: RepeatEntry, scope: _Scope, env: Mapping[str, Any], local: Mapping[str, Any], x: Tensor) -> Tensor:
        count = _evaluate_node(entry.count, local)
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_REPEAT:
            raise SpecError(f"repeat count must be a whole number from 0 to {MAX_REPEAT:,}, got {count!r}", None, entry.count.loc)
        self._foresee(count * self.estimate(entry.body), entry.count.loc)
        for i in range(count):
            inner = {**env, entry.var: i}
            if len(entry.body) == 1:
                x = self.entry(entry.body[0], scope, inner, x)
                continue
            explicit = None
            if entry.common.name is not None:
                text = _text(entry.common.name, inner)
                explicit = check_name(text if "{" in str(entry.common.name.value) else f"{text}{i}", entry.common.name.loc)
            x = self.group(entry.body, scope, scope.claim(explicit, entry.common.loc), inner, x)
        return x

    def residual(self, entry: ResidualEntry, scope: _Scope, env: Mapping[str, Any], local: Mapping[str, Any], x: Tensor, given: str | None) -> Tensor:
        named = given is not None or entry.common.name is not None
        name = self.name(entry, scope, local, given) if named else None
        inner = scope.child(name, x) if name else scope
        if entry.when is not None and not _evaluate_node(entry.when, local):
            y = self.sequence(entry.body, inner, env, x)
            return self.produced(name, y) if name else y
        y_body = self.sequence(entry.body, inner, env, x)
        y_short = self.branch(entry.shortcut, inner, env, local, x, "shortcut")
        merge = self.merge(entry.merge, inner.claim(entry.merge, entry.common.loc, numbered=False, generated=True), [y_body, y_short], entry.common.loc, "residual body", "shortcut")
        return self.produced(name, merge) if name else merge

    def branch(self, branch: Branch, scope: _Scope, env: Mapping[str, Any], local: Mapping[str, Any], x: Tensor, default_name: str | None) -> Tensor:
        """A shortcut or parallel branch: numbered (or `default_name`), named, or transparent."""
        if not branch.body:
            if branch.name is None and default_name is None:
                scope.index += 1  # an identity branch keeps its position
            return x
        if branch.transparent:
            return self.sequence(branch.body, scope, env, x)
        explicit = check_name(_text(branch.name, local), branch.name.loc) if branch.name is not None else default_name
        loc = branch.name.loc if branch.name is not None else branch.body[0].common.loc
        return self.group(branch.body, scope, scope.claim(explicit, loc, numbered=explicit != "shortcut"), env, x)

    def parallel(self, entry: ParallelEntry, scope: _Scope, env: Mapping[str, Any], local: Mapping[str, Any], x: Tensor, given: str | None) -> Tensor:
        named = given is not None or entry.common.name is not None
        name = self.name(entry, scope, local, given) if named else None
        inner = scope.child(name, x) if name else scope
        inputs = [x] * len(entry.branches)
        if entry.split is not None:
            start = x.channels[0] if x.channels else 0
            bounds, offset = [], start
            for size in self.split(entry, local, x.shape):
                bounds.append((offset, offset + size))
                offset += size
            inputs = [Tensor(x.name, (hi - lo, *x.shape[1:]), (lo, hi)) for lo, hi in bounds]
        outputs = [self.branch(branch, inner, env, local, part, None) for branch, part in zip(entry.branches, inputs)]
        merge = self.merge(entry.merge, inner.claim(entry.merge, entry.common.loc, numbered=False, generated=True), outputs, entry.common.loc, *(f"branch {k}" for k in range(len(outputs))))
        return self.produced(name, merge) if name else merge

    def split(self, entry: ParallelEntry, env: Mapping[str, Any], x: Shape) -> tuple[int, ...]:
        node, n = entry.split, len(entry.branches)
        value = _evaluate_node(node, env)
        if len(x) < 2:
            raise SpecError("split needs channels and positions, not a flat input", None, node.loc)
        if isinstance(value, int) and not isinstance(value, bool):
            if value != n or x[0] % n:
                raise SpecError(f"split: {value} must equal the number of branches ({n}) and divide C={x[0]}", f"or give sizes, e.g. split: [{x[0] // 2}, {x[0] - x[0] // 2}]", node.loc)
            return (x[0] // n,) * n
        if isinstance(value, list) and len(value) == n and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
            if sum(value) != x[0]:
                raise SpecError(f"split sizes {value} add up to {sum(value)}, but the input has C={x[0]}", None, node.loc)
            return tuple(value)
        raise SpecError(f"split takes the number of branches or one positive size per branch, got {value!r}", None, node.loc)

    def merge(self, kind: str, name: str, tensors: list[Tensor], loc: Location, *labels: str) -> Tensor:
        def refused(shapes: tuple[Shape, ...]) -> SpecError:
            merge = MERGE_TYPES[kind]
            described = ", ".join(f"{label} gives {format_shape(s)}" for label, s in zip(labels, shapes))
            return SpecError(f"{kind} needs {merge.requirement}: {described}", merge.refusal_hint(shapes), loc)

        tensor = self.graph.merge(name, kind, tensors, loc, refused)
        self._count(loc)  # after the shapes: a merge that cannot be made says so first
        self.read.update(t.name for t in tensors)
        self.tensors[name] = tensor
        return tensor

    def call(self, entry: TemplateCall, scope: _Scope, local: Mapping[str, Any], x: Tensor, given: str | None) -> Tensor:
        template = self.doc.templates[entry.template]
        self._foresee(self.template_size(entry.template), entry.common.loc)
        self.depth += 1
        outermost = self.depth == 1
        if self.depth > MAX_BLOCK_DEPTH:
            raise SpecError(f"blocks nested more than {MAX_BLOCK_DEPTH} deep", f"does block '{template.name}' use itself?", entry.common.loc)
        name = self.name(entry, scope, local, given)
        # blocks see their spec's variables, their input's shape (c_in, ...) and their own arguments
        inner_env = _with_shape(self.block_globals(template), x.shape)
        for param, default in template.params.items():
            node = entry.args.get(param, default)
            value = _argument(node, local if param in entry.args else inner_env)
            if not _is_value(value):
                raise SpecError(f"block argument '{param}' must be a number, a string or a list, got {value!r}", f"block '{template.name}' takes values", node.loc)
            inner_env[param] = value
        try:
            y = self.group(template.body, scope.in_block(template.name, x), name, inner_env, x)
        except SpecError as exc:
            exc.context.append(f"in block '{template.name}' used at {entry.common.loc} as {name}")
            if outermost and len(exc.context) > 2 * CHAIN_ENDS + 1:  # a deep chain (a block using itself): its two ends
                exc.context[CHAIN_ENDS:-CHAIN_ENDS] = [f"... {len(exc.context) - 2 * CHAIN_ENDS} more block calls ..."]
            raise
        self.depth -= 1
        return y

    def block_globals(self, template) -> Mapping[str, Any]:
        if template.variables is None:
            return self.globals
        if template.name not in self.foreign:
            self.foreign[template.name] = _variables(template.variables, {})
        return self.foreign[template.name]


def _claims_name(entry: Entry) -> bool:
    """Entries that take a name segment of their own (unnamed residual, parallel and repeat do not)."""
    return not isinstance(entry, (RepeatEntry, ResidualEntry, ParallelEntry))

