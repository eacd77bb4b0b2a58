"""Spec document + variables → a resolved Network: expressions evaluated, shapes propagated, checked.

Naming: every entry in a list takes the next index (or its `name:`) as its name segment;
blocks, `seq`, `parallel` and `dwsep` open a namespace under that segment. A `residual` is
transparent (its body's layers sit beside it, its shortcut under `shortcut`), and `repeat` numbers
each repetition, a one-entry body taking the number itself — so a stage of bottlenecks reads
`layer2.0.conv2` as in torchvision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from groupcost.errors import Location, SpecError, UsageError
from groupcost.layers import Layer, LayerError, Macro, Shape, format_shape
from groupcost.network import LayerStep, MergeStep, Network, Node, Parallel, Residual, Sequence
from groupcost.spec.document import (
    DTYPE_BYTES,
    Entry,
    LayerEntry,
    ParallelEntry,
    RepeatEntry,
    ResidualEntry,
    SeqEntry,
    SpecDocument,
    TemplateCall,
)
from groupcost.spec.expr import Number, evaluate
from groupcost.spec.yamlsource import Node as YamlNode

MAX_BLOCK_DEPTH = 64
MAX_STEPS = 100_000
MAX_REPEAT = 100_000
MAX_ELEMENTS = 2**40  # per tensor, batch included: far beyond any real network, far below trouble


class _Scope:
    """Hands out unique, stable names inside one namespace."""

    def __init__(self, prefix: str, used: set[str]):
        self.prefix = prefix
        self.index = 0
        self.used = used

    def claim(self, explicit: str | None, numbered: bool = True) -> str:
        segment = explicit if explicit is not None else str(self.index)
        if numbered:
            self.index += 1
        name = self.prefix + segment
        candidate, n = name, 2
        while candidate in self.used:
            candidate, n = f"{name}_{n}", n + 1
        self.used.add(candidate)
        return candidate

    def child(self, name: str) -> _Scope:
        return _Scope(name + ".", self.used)


def resolve_variables(doc: SpecDocument, overrides: Mapping[str, Number]) -> dict[str, Number]:
    for var in overrides:
        if var not in doc.variables:
            defined = ", ".join(doc.variables) or "none"
            raise UsageError(f"spec '{doc.name}' has no variable '{var}'", f"its variables: {defined}")
    env: dict[str, Number] = {}
    for var, node in doc.variables.items():
        env[var] = overrides[var] if var in overrides else _evaluate_node(node, env)
        if not isinstance(env[var], (int, float)) or isinstance(env[var], bool):
            raise SpecError(f"variable '{var}' must be a number", None, node.loc)
    return env


def _evaluate_node(node: YamlNode, env: Mapping[str, Number], keywords: tuple[str, ...] = ()) -> Any:
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


def build(doc: SpecDocument, overrides: Mapping[str, Number] | None = None, *, input_shape: Shape | None = None, batch: int | None = None) -> Network:
    """Resolve `doc` with variable `overrides` into a Network; raises located SpecErrors.

    `input_shape` (C, H, W) and `batch` replace the spec's `input:` and `batch:` (`--input`, `--batch`).
    """
    env = resolve_variables(doc, overrides or {})
    if input_shape is not None:
        if len(input_shape) not in (1, 3) or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in input_shape):
            raise UsageError(f"input must be C,H,W (or F) of positive whole numbers, got {','.join(map(str, input_shape))}", "e.g. --input 3,160,160")
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
    if math.prod(input_shape) * batch > MAX_ELEMENTS:
        raise SpecError(f"input {format_shape(input_shape)} has more than 2^40 elements", "groupcost's bound on one tensor", doc.input.loc)
    builder = _Builder(doc, env, batch)
    body, _ = builder.sequence(doc.body, _Scope("", set()), env, input_shape)
    if not body.items:
        raise SpecError("the network has no layers", "every entry of `layers:` was left out or the list is empty", doc.root.key_locs["layers"])
    return Network(doc.name, doc.description, doc.path, input_shape, batch, doc.dtype, DTYPE_BYTES[doc.dtype], env, body)


def _input_shape(doc: SpecDocument, env: Mapping[str, Number]) -> Shape:
    dims = _evaluate_node(doc.input, env)
    if not isinstance(dims, list) or len(dims) not in (1, 3):
        raise SpecError("input must be [C, H, W] (or [F] for a flat input)", "e.g. input: [3, 224, 224]", doc.input.loc)
    for dim, node in zip(dims, doc.input.value):
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise SpecError(f"input sizes must be positive whole numbers, got {dim!r}", None, node.loc)
    return tuple(dims)


def _with_shape(env: Mapping[str, Number], x: Shape) -> dict[str, Number]:
    """The variables an entry sees: the enclosing ones plus c_in, h_in, w_in of its input."""
    c, h, w = x if len(x) == 3 else (x[0], 1, 1)
    return {**env, "c_in": c, "h_in": h, "w_in": w}


class _Builder:
    def __init__(self, doc: SpecDocument, global_env: Mapping[str, Number], batch: int):
        self.doc = doc
        self.globals = global_env
        self.batch = batch
        self.depth = 0
        self.steps = 0
        self.sizes: dict[str, int] = {}

    def sequence(self, entries: tuple[Entry, ...], scope: _Scope, env: Mapping[str, Number], x: Shape) -> tuple[Sequence, Shape]:
        items: list[Node] = []
        for entry in entries:
            x = self.entry(entry, scope, env, x, items)
        return Sequence(tuple(items)), x

    def entry(self, entry: Entry, scope: _Scope, env: Mapping[str, Number], x: Shape, out: list[Node]) -> Shape:
        """Append what `entry` resolves to onto `out`; return the new shape."""
        local = _with_shape(env, x)
        common = entry.common
        if common.condition is not None and not _evaluate_node(common.condition, local):
            return x
        if isinstance(entry, LayerEntry):
            return self.layer(entry, scope, local, x, out)
        if isinstance(entry, RepeatEntry):
            return self.repeat(entry, scope, env, local, x, out)
        if isinstance(entry, ResidualEntry):
            if entry.when is not None and not _evaluate_node(entry.when, local):
                seq, y = self.sequence(entry.body, scope.child(scope.claim(common.name)) if common.name else scope, env, x)
                out.append(seq)
                return y
            return self.residual(entry, scope, env, x, out)
        if isinstance(entry, ParallelEntry):
            return self.parallel(entry, scope, local, x, out)
        if isinstance(entry, SeqEntry):
            seq, y = self.sequence(entry.body, scope.child(scope.claim(common.name)), env, x)
            out.append(seq)
            return y
        return self.call(entry, scope, local, x, out)

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
            if isinstance(entry, LayerEntry):
                total += 1
            elif isinstance(entry, RepeatEntry):
                count = entry.count.value if isinstance(entry.count.value, int) and not isinstance(entry.count.value, bool) else 1
                total += max(count, 0) * self.estimate(entry.body)
            elif isinstance(entry, SeqEntry):
                total += self.estimate(entry.body)
            elif isinstance(entry, ResidualEntry):
                total += self.estimate(entry.body) + self.estimate(entry.shortcut)
            elif isinstance(entry, ParallelEntry):
                total += sum(self.estimate(b) for b in entry.branches)
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

    def layer(self, entry: LayerEntry, scope: _Scope, env: Mapping[str, Number], x: Shape, out: list[Node]) -> Shape:
        layer = self.make_layer(entry, env)
        name = scope.claim(entry.common.name)
        if isinstance(layer, Macro):
            parts: list[Node] = []
            for suffix, part in layer.expand():
                x = self.place(f"{name}.{suffix}", part, x, entry, parts)
            out.append(Sequence(tuple(parts)))
            return x
        return self.place(name, layer, x, entry, out)

    def place(self, name: str, layer: Layer, x: Shape, entry: LayerEntry, out: list[Node]) -> Shape:
        self._count(entry.common.loc)
        try:
            y = layer.out_shape(x)
        except LayerError as exc:
            node = entry.args.get(exc.arg) if exc.arg else None
            raise SpecError(f"{name} ({layer.type_name}): {exc.message}", exc.hint, node.loc if node else entry.common.loc) from None
        if math.prod(y) * self.batch > MAX_ELEMENTS:
            raise SpecError(f"{name} ({layer.type_name}): output {format_shape(y)} has more than 2^40 elements", "groupcost's bound on one tensor", entry.common.loc)
        out.append(LayerStep(name, layer, x, y, entry.common.loc))
        return y

    @staticmethod
    def make_layer(entry: LayerEntry, env: Mapping[str, Number]) -> Layer:
        kwargs: dict[str, Any] = {}
        for spec in entry.layer_type.arg_specs():
            node = entry.args.get(spec.name)
            if node is None:
                continue
            try:
                raw = node.value if spec.textual else _evaluate_node(node, env, spec.keywords)
                if raw is None and not spec.required:
                    continue
                kwargs[spec.name] = spec.kind(raw)
            except SpecError as exc:
                raise SpecError(f"{entry.layer_type.type_name} {spec.name}: {exc.message}", exc.hint, exc.location or node.loc) from None
        return entry.layer_type(**kwargs)

    def repeat(self, entry: RepeatEntry, scope: _Scope, env: Mapping[str, Number], local: Mapping[str, Number], x: Shape, out: list[Node]) -> Shape:
        count = _evaluate_node(entry.count, local)
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_REPEAT:
            raise SpecError(f"repeat count must be a whole number from 0 to {MAX_REPEAT:,}, got {count!r}", None, entry.count.loc)
        self._foresee(count * self.estimate(entry.body), entry.count.loc)
        for i in range(count):
            inner = {**env, entry.var: i}
            if len(entry.body) == 1:
                x = self.entry(entry.body[0], scope, inner, x, out)
            else:
                seq, x = self.sequence(entry.body, scope.child(scope.claim(entry.common.name and f"{entry.common.name}{i}")), inner, x)
                out.append(seq)
        return x

    def residual(self, entry: ResidualEntry, scope: _Scope, env: Mapping[str, Number], x: Shape, out: list[Node]) -> Shape:
        inner = scope.child(scope.claim(entry.common.name)) if entry.common.name else scope
        body, y_body = self.sequence(entry.body, inner, env, x)
        shortcut, y_short = self.sequence(entry.shortcut, inner.child(inner.claim("shortcut", numbered=False)), env, x)
        merge = self.merge(entry.merge, inner, (y_body, y_short), entry.common.loc, "residual body", "shortcut")
        out.append(Residual(body, shortcut, merge))
        return merge.out_shape

    def parallel(self, entry: ParallelEntry, scope: _Scope, local: Mapping[str, Number], x: Shape, out: list[Node]) -> Shape:
        inner = scope.child(scope.claim(entry.common.name))
        split = self.split(entry, local, x) if entry.split is not None else None
        branches, shapes = [], []
        for k, branch in enumerate(entry.branches):
            branch_in = (split[k], *x[1:]) if split else x
            seq, y = self.sequence(branch, inner.child(inner.claim(None)), local, branch_in)
            branches.append(seq)
            shapes.append(y)
        merge = self.merge(entry.merge, inner, tuple(shapes), entry.common.loc, *(f"branch {k}" for k in range(len(shapes))))
        out.append(Parallel(tuple(branches), split, merge))
        return merge.out_shape

    def split(self, entry: ParallelEntry, env: Mapping[str, Number], x: Shape) -> tuple[int, ...]:
        node, n = entry.split, len(entry.branches)
        value = _evaluate_node(node, env)
        if len(x) != 3:
            raise SpecError("split needs a C×H×W input", None, node.loc)
        if isinstance(value, int) and not isinstance(value, bool):
            if value != n or x[0] % n:
                raise SpecError(f"split: {value} must equal the number of branches ({n}) and divide C={x[0]}", f"or give sizes, e.g. split: [{x[0] // 2}, {x[0] - x[0] // 2}]", node.loc)
            return (x[0] // n,) * n
        if isinstance(value, list) and len(value) == n and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
            if sum(value) != x[0]:
                raise SpecError(f"split sizes {value} add up to {sum(value)}, but the input has C={x[0]}", None, node.loc)
            return tuple(value)
        raise SpecError(f"split takes the number of branches or one positive size per branch, got {value!r}", None, node.loc)

    def merge(self, kind: str, scope: _Scope, shapes: tuple[Shape, ...], loc: Location, *labels: str) -> MergeStep:
        described = ", ".join(f"{label} gives {format_shape(s)}" for label, s in zip(labels, shapes))
        if kind == "concat":
            ranks = {len(s) for s in shapes}
            if ranks != {3} and ranks != {1} or len({s[1:] for s in shapes}) != 1:
                raise SpecError(f"concat needs equal H×W in every branch: {described}", "match strides and padding", loc)
            y = (sum(s[0] for s in shapes), *shapes[0][1:])
        elif kind == "add":
            if len(set(shapes)) != 1:
                raise SpecError(f"add needs equal shapes: {described}", "add a projection shortcut, e.g. pwconv + bn", loc)
            y = shapes[0]
        else:
            y = _broadcast(shapes)
            if y is None:
                raise SpecError(f"mul needs equal or broadcastable shapes: {described}", None, loc)
        return MergeStep(scope.claim(kind, numbered=False), kind, shapes, y, loc)

    def call(self, entry: TemplateCall, scope: _Scope, local: Mapping[str, Number], x: Shape, out: list[Node]) -> Shape:
        template = self.doc.templates[entry.template]
        self._foresee(self.template_size(entry.template), entry.common.loc)
        self.depth += 1
        if self.depth > MAX_BLOCK_DEPTH:
            raise SpecError(f"blocks nested more than {MAX_BLOCK_DEPTH} deep", f"does block '{template.name}' use itself?", entry.common.loc)
        inner_env = dict(self.globals)  # blocks see the spec's variables and their own arguments
        for param, default in template.params.items():
            node = entry.args.get(param, default)
            scope_env = local if param in entry.args else _with_shape(inner_env, x)
            value = _evaluate_node(node, scope_env)
            if isinstance(value, bool):
                value = int(value)
            if not isinstance(value, (int, float)):
                raise SpecError(f"block argument '{param}' must be a number, got {value!r}", f"block '{template.name}' takes numbers", node.loc)
            inner_env[param] = value
        seq, y = self.sequence(template.body, scope.child(scope.claim(entry.common.name)), inner_env, x)
        out.append(seq)
        self.depth -= 1
        return y


def _broadcast(shapes: tuple[Shape, ...]) -> Shape | None:
    rank = {len(s) for s in shapes}
    if len(rank) != 1:
        return None
    result = []
    for dims in zip(*shapes):
        sizes = set(dims) - {1}
        if len(sizes) > 1:
            return None
        result.append(sizes.pop() if sizes else 1)
    return tuple(result)
