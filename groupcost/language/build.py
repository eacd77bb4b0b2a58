"""Spec document + variables → a resolved Network: a graph of named tensors, shapes propagated, checked.

Lowering: each entry reads the tensor before it (or the ones its `from:` names) and produces a
named tensor. `seq`, `repeat`, `residual`, `parallel` and blocks only decide names and wiring.

Naming: every entry in a list takes the next index (or its `name:`) as its name segment. Blocks,
`seq` and named structures open a namespace under that segment; a body or branch of one unnamed
entry adds no `.0` (the entry takes the group's name). Unnamed `residual` and `parallel` are
transparent: their layers sit beside them. A residual's shortcut sits under `shortcut` (or the
name its `{name: ..., layers: ...}` form gives), and `repeat` numbers each repetition, a one-entry
body taking the number itself — so a stage of bottlenecks reads `layer2.0.conv2` as in torchvision.
A dotted `name:` (`convs.0`) opens or reopens namespaces; a `repeat` with `namespace: false` and a
generated `parallel` (`n:` and `branch:`) build their bodies in place, `i` set in each. What `from:`
reaches (names, `in`, `-1`) is groupcost.language.wiring's.

Shapes in expressions: `c_in`, `h_in`, `w_in` are the input of the enclosing block (undefined outside
blocks) and never change inside it; `in` names that same tensor. `c_now`, `h_now`, `w_now` are the
input of the entry being read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from groupcost.errors import Location, SpecError, UsageError
from groupcost.ops import ALIASES, LAYER_TYPES, MERGE_TYPES, Layer, LayerError, Macro, Shape, format_shape
from groupcost.graph.builder import GraphBuilder, Tensor
from groupcost.graph.network import Network
from groupcost.language.document import (
    DTYPE_BYTES,
    Branch,
    ComputedEntry,
    Entry,
    GeneratedParallelEntry,
    InlineRepeatEntry,
    LayerEntry,
    MergeEntry,
    ParallelEntry,
    RepeatEntry,
    ResidualEntry,
    SeqEntry,
    SpecDocument,
    Template,
    TemplateCall,
    layer_args,
    suggest,
)
from groupcost.language.expr import Number
from groupcost.language.values import (
    argument_value,
    evaluate_node,
    is_value,
    now_sizes,
    resolve_variables,
    text_of,
    variables_of,
    with_shape,
)
from groupcost.language.names import check_name
from groupcost.language.sharing import share_owners, share_steps
from groupcost.language.wiring import TOP, Scope, Wiring
from groupcost.language.yamlsource import Node as YamlNode
from groupcost.language.yamlsource import without_gc
from groupcost.ops.view import Chunk

MAX_BLOCK_DEPTH = 64
CHAIN_ENDS = 3  # an error's chain of block calls keeps this many at each end
MAX_STEPS = 100_000
MAX_REPEAT = 100_000


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
        batch = evaluate_node(doc.batch, env)
        if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
            raise SpecError(f"batch must be a positive whole number, got {batch!r}", None, doc.batch.loc)
    builder = _Builder(doc, env, batch, input_shape)
    return builder.network()


def _input_shape(doc: SpecDocument, env: Mapping[str, Number]) -> Shape:
    dims = evaluate_node(doc.input, env)
    if not isinstance(dims, list) or not 1 <= len(dims) <= 4:
        raise SpecError("input must be [C, H, W], [C, L], [C, T, H, W] or [F] (flat)", "e.g. input: [3, 224, 224]", doc.input.loc)
    for dim, node in zip(dims, doc.input.value):
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise SpecError(f"input sizes must be positive whole numbers, got {dim!r}", None, node.loc)
    return tuple(dims)


class _Builder(Wiring):
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
        self.foreign: dict[int, dict[str, Any]] = {}  # a used file's variables, by the identity of its vars
        self.histories: list[list[Tensor]] = []  # per list being built: its input, then each entry's output (`from: -1`)
        self.layer_names: set[str] = set()
        self.namespaces: set[str] = set()  # every proper prefix of a layer's name: no layer may take one

    def network(self) -> Network:
        doc = self.doc
        top = Scope("", self.graph, self.input)
        env = dict(self.globals)  # no c_in outside blocks: an entry's own input is c_now
        last = self.sequence(doc.body, top, env, self.input)
        nodes = self.graph.nodes
        if not nodes:
            raise SpecError("the network has no layers", "every entry of `layers:` was left out or the list is empty", doc.root.key_locs["layers"])
        named = []
        for node in doc.outputs:  # names, or an expression giving them (`"['head'] + (['aux'] if aux else [])"`)
            for ref in self.references(node, top, env):
                if isinstance(ref, int) and ref < 0:
                    raise SpecError(f"outputs: {ref} counts back, which only from: does", "name the layer", node.loc)
                tensor = self.reference(ref, node.loc, top, env)
                if tensor.channels is not None:
                    raise SpecError(f"output '{ref}' is a slice of a tensor", "name a layer or a merge", node.loc)
                named.append(tensor.name)
        if doc.outputs and not named:
            raise SpecError("outputs: gives no names", "name at least one layer, or leave outputs: out", doc.outputs[0].loc)
        outputs = tuple(named) or (last.name,)
        unread = [n for n in nodes if n.name not in self.read and n.name not in outputs]
        if unread:
            node = unread[0]
            raise SpecError(f"'{node.name}' is computed but never used", "read it with from:, or list it in outputs:", node.loc)
        network = self.graph.network(doc.name, doc.description, doc.path, doc.dtype, DTYPE_BYTES[doc.dtype], dict(self.globals), outputs, doc.notes)
        return dataclasses.replace(network, output_keys=doc.output_keys) if doc.output_keys else network

    # ---- names ------------------------------------------------------------------------------

    def name(self, entry: Entry, scope: Scope, env: Mapping[str, Any], given: str | None) -> str:
        """The entry's full name: `given` (a one-entry group's), its `name:`, or its position."""
        if given is not None:
            return given
        node = entry.common.name
        explicit = check_name(text_of(node, env), node.loc) if node is not None else None
        return scope.claim(explicit, entry.common.loc)

    def produced(self, name: str, tensor: Tensor) -> Tensor:
        """Let `from:` reach a group by its name: it stands for its last output."""
        self.tensors.setdefault(name, tensor)
        return tensor

    def group(self, entries: tuple[Entry, ...], scope: Scope, name: str, env: Mapping[str, Any], x: Tensor) -> Tensor:
        """`entries` under the namespace `name`; a single unnamed entry takes the name itself."""
        if len(entries) == 1 and entries[0].common.name is None and _claims_name(entries[0]):
            self.histories.append([x])
            y = self.entry(entries[0], scope, env, x, given=name)
            self.histories.pop()
            return self.produced(name, y)
        return self.produced(name, self.sequence(entries, scope.child(name, x), env, x))

    # ---- entries ------------------------------------------------------------------------------

    def sequence(self, entries: tuple[Entry, ...], scope: Scope, env: Mapping[str, Any], x: Tensor) -> Tensor:
        history = [x]
        self.histories.append(history)
        for entry in entries:
            y = self.entry(entry, scope, env, x)
            if y is not x:  # an entry left out by if: takes no position
                history.append(y)
            x = y
        self.histories.pop()
        return x

    def entry(self, entry: Entry, scope: Scope, env: Mapping[str, Any], x: Tensor, given: str | None = None) -> Tensor:
        """Build `entry` reading `x` (or its `from:`); return the tensor it produces. With `share:`, the
        k-th layer it makes calls the module of the k-th layer of the entry it names."""
        share = entry.common.share
        if share is None:
            return self.unshared(entry, scope, env, x, given)
        local = {**env, **now_sizes(x.shape)}
        if entry.common.condition is not None and not evaluate_node(entry.common.condition, local):
            return x
        shared = text_of(share, local) if isinstance(share.value, str) else ""
        owners = share_owners(self.graph.nodes, [prefix + shared.removeprefix(TOP) for prefix in scope.prefixes(shared)] if shared else [], share)
        start = len(self.graph.nodes)
        y = self.unshared(entry, scope, env, x, given)
        share_steps(self.graph.nodes, start, owners, share)
        return y

    def unshared(self, entry: Entry, scope: Scope, env: Mapping[str, Any], x: Tensor, given: str | None = None) -> Tensor:
        common = entry.common
        local = {**env, **now_sizes(x.shape)}
        if common.condition is not None and not evaluate_node(common.condition, local):
            return x
        y = self.made(entry, scope, env, local, x, given)
        if common.keep is not None and evaluate_node(common.keep, local):
            self.read.add(y.name)  # kept: an optional side output nobody need read
        return y

    def made(self, entry: Entry, scope: Scope, env: Mapping[str, Any], local: Mapping[str, Any], x: Tensor, given: str | None) -> Tensor:
        common = entry.common
        if common.sources is not None and not isinstance(entry, MergeEntry):
            sources = self.sources(common.sources, scope, local)
            if len(sources) != 1:
                raise SpecError(f"only add, concat and mul read several tensors; this entry reads {len(sources)}", "give from: one name", common.sources.loc)
            x = sources[0]
            local = {**env, **now_sizes(x.shape)}
        if isinstance(entry, LayerEntry):
            return self.layer(entry, entry.layer_type, entry.args, scope, local, x, given)
        if isinstance(entry, ComputedEntry):
            return self.computed(entry, scope, local, x, given)
        if isinstance(entry, MergeEntry):
            inputs = self.sources(common.sources, scope, local)
            if len(inputs) < 2:
                raise SpecError(f"{entry.kind} needs two or more tensors; from: '{common.sources.value}' gives {len(inputs)}",
                                "a merge of one tensor is that tensor: leave the merge out where one is left", common.sources.loc)
            return self.merge(entry.kind, self.name(entry, scope, local, given), inputs, common.loc, *(t.name for t in inputs))
        if isinstance(entry, (RepeatEntry, InlineRepeatEntry)):
            return self.repeat(entry, scope, env, local, x)
        if isinstance(entry, GeneratedParallelEntry):
            count = self.count(entry.count, local, 1, self.estimate(entry.branch.body), "parallel's number of branches n:")
            branches = [(entry.branch, {**env, entry.var: i}) for i in range(count)]
            return self.parallel(entry, branches, scope, local, x, given)
        if isinstance(entry, ResidualEntry):
            return self.residual(entry, scope, env, local, x, given)
        if isinstance(entry, ParallelEntry):
            return self.parallel(entry, [(branch, env) for branch in entry.branches], scope, local, x, given)
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
            elif isinstance(entry, (RepeatEntry, InlineRepeatEntry, GeneratedParallelEntry)):
                count = entry.count.value if isinstance(entry.count.value, int) and not isinstance(entry.count.value, bool) else 1
                body = entry.branch.body if isinstance(entry, GeneratedParallelEntry) else entry.body
                total += max(count, 0) * self.estimate(body)
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

    def layer(self, entry: Entry, layer_type: type[Layer], args: dict[str, YamlNode], scope: Scope, env: Mapping[str, Any], x: Tensor, given: str | None) -> Tensor:
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

    def target_size(self, node: YamlNode, layer_type: type[Layer], args: dict[str, YamlNode], scope: Scope, env: Mapping[str, Any]) -> tuple[YamlNode, str]:
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
        self.module_tree(name, loc)
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
                raw = (text_of(node, env) if isinstance(node.value, str) else node.value) if spec.textual else evaluate_node(node, env, spec.keywords)
                if raw is None and not spec.required:
                    continue
                kwargs[spec.name] = spec.kind(raw)
            except SpecError as exc:
                raise SpecError(f"{layer_type.type_name} {spec.name}: {exc.message}", exc.hint, exc.location or node.loc) from None
        return layer_type(**kwargs)

    def computed(self, entry: ComputedEntry, scope: Scope, env: Mapping[str, Any], x: Tensor, given: str | None) -> Tensor:
        """`- "{act}"`: the type is known now; its arguments are checked as any entry's."""
        kind = text_of(entry.kind, env)
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

    def count(self, node: YamlNode, env: Mapping[str, Any], least: int, each: int, what: str) -> int:
        """A repeat's or generated parallel's `n:`, refused before building past MAX_STEPS layers."""
        count = evaluate_node(node, env)
        if not isinstance(count, int) or isinstance(count, bool) or not least <= count <= MAX_REPEAT:
            raise SpecError(f"{what} must be a whole number from {least} to {MAX_REPEAT:,}, got {count!r}", None, node.loc)
        self._foresee(count * each, node.loc)
        return count

    def repeat(self, entry: RepeatEntry | InlineRepeatEntry, scope: Scope, env: Mapping[str, Any], local: Mapping[str, Any], x: Tensor) -> Tensor:
        count = self.count(entry.count, local, 0, self.estimate(entry.body), "repeat count")
        for i in range(count):
            inner = {**env, entry.var: i}
            if isinstance(entry, InlineRepeatEntry):
                x = self.sequence(entry.body, scope, inner, x)
                continue
            if len(entry.body) == 1:
                self.histories.append([x])
                x = self.entry(entry.body[0], scope, inner, x)
                self.histories.pop()
                continue
            explicit = None
            if entry.common.name is not None:
                text = text_of(entry.common.name, inner)
                explicit = check_name(text if "{" in str(entry.common.name.value) else f"{text}{i}", entry.common.name.loc)
            x = self.group(entry.body, scope, scope.claim(explicit, entry.common.loc), inner, x)
        return x

    def residual(self, entry: ResidualEntry, scope: Scope, env: Mapping[str, Any], local: Mapping[str, Any], x: Tensor, given: str | None) -> Tensor:
        named = given is not None or entry.common.name is not None
        name = self.name(entry, scope, local, given) if named else None
        inner = scope.child(name, x) if name else scope
        if entry.when is not None and not evaluate_node(entry.when, local):
            y = self.sequence(entry.body, inner, env, x)
            return self.produced(name, y) if name else y
        y_body = self.sequence(entry.body, inner, env, x)
        y_short = self.branch(entry.shortcut, inner, env, local, x, "shortcut")
        merge = self.merge(entry.merge, inner.claim(entry.merge, entry.common.loc, numbered=False, generated=True), [y_body, y_short], entry.common.loc, "residual body", "shortcut")
        return self.produced(name, merge) if name else merge

    def branch(self, branch: Branch, scope: Scope, env: Mapping[str, Any], local: Mapping[str, Any], x: Tensor, default_name: str | None) -> Tensor:
        """A shortcut or parallel branch: numbered (or `default_name`), named, or transparent."""
        if not branch.body:
            if branch.name is None and default_name is None:
                scope.index += 1  # an identity branch keeps its position
            return x
        if branch.transparent:
            return self.sequence(branch.body, scope, env, x)
        explicit = check_name(text_of(branch.name, local), branch.name.loc) if branch.name is not None else default_name
        loc = branch.name.loc if branch.name is not None else branch.body[0].common.loc
        return self.group(branch.body, scope, scope.claim(explicit, loc, numbered=explicit != "shortcut"), env, x)

    def parallel(self, entry: ParallelEntry | GeneratedParallelEntry, branches: list[tuple[Branch, Mapping[str, Any]]], scope: Scope,
                 local: Mapping[str, Any], x: Tensor, given: str | None) -> Tensor:
        """`branches`: each branch with the variables it sees (a generated branch's own `i`)."""
        named = given is not None or entry.common.name is not None
        name = self.name(entry, scope, local, given) if named else None
        inner = scope.child(name, x) if name else scope
        inputs = [x] * len(branches)
        if entry.split is not None:
            start = x.channels[0] if x.channels else 0
            bounds, offset = [], start
            for size in self.split(entry.split, len(branches), local, x.shape):
                bounds.append((offset, offset + size))
                offset += size
            inputs = [Tensor(x.name, (hi - lo, *x.shape[1:]), (lo, hi)) for lo, hi in bounds]
        outputs = [self.branch(branch, inner, env, {**local, **env}, part, None) for (branch, env), part in zip(branches, inputs)]
        if len(outputs) == 1:  # a generated parallel of one branch: nothing to merge
            return self.produced(name, outputs[0]) if name else outputs[0]
        merge = self.merge(entry.merge, inner.claim(entry.merge, entry.common.loc, numbered=False, generated=True), outputs, entry.common.loc, *(f"branch {k}" for k in range(len(outputs))))
        return self.produced(name, merge) if name else merge

    def split(self, node: YamlNode, n: int, env: Mapping[str, Any], x: Shape) -> tuple[int, ...]:
        value = evaluate_node(node, env)
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

        self.module_tree(name, loc)
        tensor = self.graph.merge(name, kind, tensors, loc, refused)
        self._count(loc)  # after the shapes: a merge that cannot be made says so first
        self.read.update(t.name for t in tensors)
        self.tensors[name] = tensor
        return tensor

    def call(self, entry: TemplateCall, scope: Scope, local: Mapping[str, Any], x: Tensor, given: str | None) -> Tensor:
        template = self.doc.templates[entry.template]
        self._foresee(self.template_size(entry.template), entry.common.loc)
        self.depth += 1
        outermost = self.depth == 1
        if self.depth > MAX_BLOCK_DEPTH:
            raise SpecError(f"blocks nested more than {MAX_BLOCK_DEPTH} deep", f"does block '{template.name}' use itself?", entry.common.loc)
        name = self.name(entry, scope, local, given)
        # blocks see their spec's variables, their input's shape (c_in, ...) and their own arguments
        inner_env = with_shape(self.block_globals(template), x.shape)
        for param, default in template.params.items():
            node = entry.args.get(param, default)
            value = argument_value(node, local if param in entry.args else inner_env)
            if not is_value(value):
                raise SpecError(f"block argument '{param}' must be a number, a string or a list, got {value!r}", f"block '{template.name}' takes values", node.loc)
            inner_env[param] = value
        try:
            y = self.group(template.body, scope.in_block(template.name, x), name, inner_env, x)
        except SpecError as exc:
            exc.context.append(f"in block '{template.name}' used at {entry.common.loc} as {name}")
            if outermost:
                exc.context[:] = _shortened(exc.context)
            raise
        self.depth -= 1
        return y

    def block_globals(self, template: Template) -> Mapping[str, Any]:
        """The variables a block sees: this spec's, or a used file's own (as its `use:` sets them)."""
        if template.variables is None:
            return self.globals
        key = id(template.variables)  # one set per used file
        if key not in self.foreign:
            overrides = {var: argument_value(node, self.globals) for var, node in template.overrides.items()}
            self.foreign[key] = variables_of(template.variables, overrides)
        return self.foreign[key]


def _shortened(chain: list[str]) -> list[str]:
    """A chain of block calls with each run of one call repeated written once with its count (a block that
    uses itself), and its two ends only when it is still long."""
    runs: list[tuple[str, int]] = []
    for call in chain:
        if runs and runs[-1][0] == call:
            runs[-1] = (call, runs[-1][1] + 1)
        else:
            runs.append((call, 1))
    short = [call if count == 1 else f"{call} ({count} times)" for call, count in runs]
    if len(short) > 2 * CHAIN_ENDS + 1:
        short[CHAIN_ENDS:-CHAIN_ENDS] = [f"... {len(short) - 2 * CHAIN_ENDS} more block calls ..."]
    return short


def _claims_name(entry: Entry) -> bool:
    """Entries that take a name segment of their own (unnamed residual, parallel and repeat, in a namespace or not, do not)."""
    return not isinstance(entry, (RepeatEntry, InlineRepeatEntry, ResidualEntry, ParallelEntry))

