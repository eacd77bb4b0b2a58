"""Spec document → PyTorch source that keeps the spec's structure: blocks become nn.Module classes
whose constructors take the block's arguments, `repeat` becomes a `for` loop, and the spec's
variables become the keyword arguments of `build(**vars)`, with the spec's defaults.

The generated constructors track the tensor's shape as the spec builder does (`shape`, a tuple),
so `c_in`, `c_now` and friends, input channels, 'same' padding and flattened widths are computed
when the module is built, for whatever variables `build` is given.

What is raised (the rest raises `Unraisable`, and the caller falls back to the resolved graph,
groupcost.formats.torch.export, saying why):
- a block or the network whose entries only chain (layers, blocks, `seq`, `repeat` of one entry)
  becomes an `nn.Sequential` subclass; `if:` and numbered names are decided as it is built;
- a block whose body holds `residual` or `parallel` (unnamed, as torchvision writes code in
  forward) gets a `forward` written out; where conditions or loops in a residual body decide
  names while building, the constructor lists the modules and forward runs the list;
- a `repeat` of several entries makes an nn.Sequential per repetition;
- a named `residual` or `parallel` (a namespace of its own) becomes a class of its own;
- not raised: `from:`, merge entries, `share:` and `outputs:` (the graph form), a block of one unnamed
  entry, an unnamed residual or parallel inside a `seq` or `repeat`, transparent branches,
  blocks from `use:` files, 1-D and 3-D inputs, and the layer types whose class has no
  `torch_raised` (convtranspose, upsample, crop, pad, adaptive_maxpool: the graph form writes all of these).
- each layer's constructor comes from its type's `torch_raised` (groupcost.ops.adapters); helper
  functions and classes of the file are in groupcost.formats.torch.helpers, expressions in
  groupcost.formats.torch.expressions.
  A computed type is an activation (no arguments) or one of the blocks that take its arguments.
"""

from __future__ import annotations

import ast
import keyword
import re
from dataclasses import dataclass, field

from groupcost.formats.torch.expressions import (
    SHAPE_NAMES,
    Expressions,
    Scope,
    python_literal,
)
from groupcost.formats.torch.helpers import HELPER_ORDER, HELPER_TEXT
from groupcost.formats.torch.names import class_name, plain_attribute
from groupcost.language.document import (
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
)
from groupcost.language.yamlsource import Node
from groupcost.ops.adapters import Raising, Unraisable
from groupcost.ops.base import Layer
from groupcost.ops.merge import MERGE_TYPES


@dataclass
class _Class:
    name: str
    lines: list[str] = field(default_factory=list)


class Generator(Expressions):
    """Writes the raised file: the spec's blocks as classes, its entries into their constructors and forward."""

    def __init__(self, doc: SpecDocument, overrides: dict | None = None):
        super().__init__(list(doc.variables))
        self.doc = doc
        self.overrides = dict(overrides or {})
        self.classes: dict[str, _Class] = {}
        self.order: list[str] = []
        self.in_chain = False  # placing an entry that forward calls by name (a parameter may stand there)

    # ---- entries -------------------------------------------------------------------------------

    def entries(self, entries: tuple[Entry, ...], scope: Scope, out: list[str], indent: str) -> None:
        for entry in entries:
            self.entry(entry, scope, out, indent)

    def now(self, text: str, out: list[str], indent: str) -> None:
        if any(re.search(rf"\b{n}\b", text) for n in ("c_now", "h_now", "w_now")):
            out.append(f"{indent}c_now, h_now, w_now = {self.need('_chw')}(shape)")

    def entry(self, entry: Entry, scope: Scope, out: list[str], indent: str, given: str | None = None) -> None:
        common = entry.common
        if common.sources is not None or isinstance(entry, MergeEntry):
            raise Unraisable(f"from: and merge entries (the graph form) at {common.loc}")
        if common.share is not None:
            raise Unraisable(f"share: (a module called again, the graph form) at {common.loc}")
        if common.condition is not None:
            cond = self.expr(common.condition, scope)
            self.now(cond, out, indent)
            self.dynamic(scope, out, indent)
            out.append(f"{indent}if {cond}:")
            indent += "    "
        if isinstance(entry, LayerEntry):
            self.layer(entry.layer_type, entry.args, entry, scope, out, indent, given)
        elif isinstance(entry, ComputedEntry):
            kind = self.name_text(entry.kind, scope)
            if not entry.args:  # `- "{act}"`: an activation chosen by an argument
                self.place(entry, scope, out, indent, f"{self.need('activation')}({kind})", given, None)
            else:  # `- "{kinds[st]}": {...}`: a block chosen by a value, among the blocks taking these arguments
                fits = [t for t in self.doc.templates.values() if set(entry.args) <= set(t.params) and t.variables is None]
                if not fits:
                    raise Unraisable(f"a computed type with arguments no block takes, at {common.loc}")
                choices = "{" + ", ".join(f"{t.name!r}: {self.template_class(t.name)}" for t in fits) + "}"
                args = "".join(f", {key}={self.argument(node, scope)}" for key, node in entry.args.items())
                for node in entry.args.values():
                    self.now(self.argument(node, scope), out, indent)
                self.place(entry, scope, out, indent, f"{choices}[{kind}](v, shape{args})", given, "module")
        elif isinstance(entry, TemplateCall):
            self.call(entry, scope, out, indent, given)
        elif isinstance(entry, SeqEntry):
            self.seq(entry, scope, out, indent, given)
        elif isinstance(entry, RepeatEntry):
            self.repeat(entry, scope, out, indent)
        elif isinstance(entry, (ResidualEntry, ParallelEntry)) and (common.name is not None or given is not None):
            self.named_structure(entry, scope, out, indent, given)
        else:
            raise Unraisable(f"{type(entry).__name__.replace('Entry', '').lower()} where modules only chain, at {common.loc}")

    def dynamic(self, scope: Scope, out: list[str], indent: str) -> None:
        """From here on, numbered names are counted as the module is built."""
        if scope.counter is None:
            scope.counter = self.var("k")
            out.append(f"{indent}{scope.counter} = {scope.index}")
        scope.static_names = False

    def claim(self, entry: Entry, scope: Scope, out: list[str], indent: str, given: str | None) -> str:
        """The name's Python expression; advances the numbering as the builder does."""
        if given is not None:
            return given
        node = entry.common.name
        if scope.counter is not None:
            return self.name_text(node, scope) if node is not None else f"str({scope.counter})"
        name = self.name_text(node, scope) if node is not None else repr(str(scope.index))
        scope.index += 1
        return name

    def place(self, entry: Entry, scope: Scope, out: list[str], indent: str, module: str, given: str | None, new_shape: str | None) -> str:
        name = self.claim(entry, scope, out, indent, given)
        literal = _literal_name(name)
        if literal is not None and scope.container == "self" and _attribute(literal):
            out.append(f"{indent}self.{literal} = {module}")
            ref = f"self.{literal}"
        elif new_shape == "module":
            out.append(f"{indent}module = {module}")
            out.append(f"{indent}{scope.container}.add_module({name}, module)")
            ref = "module"
        else:
            out.append(f"{indent}{scope.container}.add_module({name}, {module})")
        if new_shape == "module":
            out.append(f"{indent}shape = {ref}.out_shape")
        elif new_shape is not None:
            out.append(f"{indent}shape = {new_shape}")
        self.added(scope, out, indent, name, given)
        return name

    def added(self, scope: Scope, out: list[str], indent: str, name: str, given: str | None) -> None:
        if scope.record is not None:
            out.append(f"{indent}{scope.record}.append({name})")
        if scope.counter is not None and given is None:
            out.append(f"{indent}{scope.counter} += 1")

    def layer(self, layer_type: type[Layer], args: dict[str, Node], entry: Entry, scope: Scope, out: list[str], indent: str, given: str | None) -> None:
        values: dict[str, str] = {}
        for spec in layer_type.arg_specs():
            node = args.get(spec.name)
            if node is None:
                continue
            if spec.textual:
                values[spec.name] = self.name_text(node, scope) if isinstance(node.value, str) else repr(node.value)
            elif isinstance(node.value, str) and node.value in spec.keywords:
                values[spec.name] = repr(node.value)
            else:
                values[spec.name] = self.expr(node, scope)
        for text in values.values():
            self.now(text, out, indent)
        raising = Raising(values, self.need, self.var, loc=entry.common.loc,
                          written_name=str(entry.common.name.value) if entry.common.name is not None and given is None else None,
                          parameter_ok=self.in_chain and scope.container == "self" and scope.record is None)
        raised = layer_type.torch_raised(raising)
        if raised is None:
            raise Unraisable(f"layer type '{layer_type.type_name}' at {entry.common.loc}")
        out.extend(f"{indent}{line}" for line in raised.setup)
        self.place(entry, scope, out, indent, raised.module, given, raised.shape)

    def named_structure(self, entry: ResidualEntry | ParallelEntry, scope: Scope, out: list[str], indent: str, given: str | None) -> None:
        """A named residual or parallel: a namespace of its own, so a class of its own, built with the enclosing names."""
        import dataclasses

        written = str(entry.common.name.value) if entry.common.name is not None else "part"
        cls = class_name(re.sub(r"\{[^}]*\}", "", written) or "part")
        taken = {c.name for c in self.classes.values()}
        base, n = cls, 2
        while cls in taken:
            cls, n = f"{base}{n}", n + 1
        passed = sorted((scope.locals - set(SHAPE_NAMES)) | {"c_in", "h_in", "w_in"})
        inner = Scope("self", set(passed))
        anonymous = dataclasses.replace(entry, common=dataclasses.replace(entry.common, name=None))
        init, forward = self.structured((anonymous,), inner, written)
        key = f"@{cls}"
        self.classes[key] = _Class(cls, [
            f"class {cls}({'nn.Module'}):",
            f'    """The {type(entry).__name__.replace("Entry", "").lower()} `{written}` of {self.doc.name} ({entry.common.loc})."""',
            "",
            f"    def __init__(self, v, shape, *, {', '.join(passed)}):",
            "        super().__init__()",
            *init,
            "        self.out_shape = shape",
            "",
            "    def forward(self, x):",
            *forward,
        ])
        self.order.append(key)
        args = ", ".join(f"{p}={p}" for p in passed)
        self.place(entry, scope, out, indent, f"{cls}(v, shape, {args})", given, "module")

    def call(self, entry: TemplateCall, scope: Scope, out: list[str], indent: str, given: str | None) -> None:
        template = self.doc.templates[entry.template]
        if template.variables is not None:
            raise Unraisable(f"block '{template.name}' comes from a used file, with variables of its own")
        cls = self.template_class(entry.template)
        args = "".join(f", {key}={self.argument(node, scope)}" for key, node in entry.args.items())
        for key, node in entry.args.items():
            self.now(self.argument(node, scope), out, indent)
        self.place(entry, scope, out, indent, f"{cls}(v, shape{args})", given, "module")

    def seq(self, entry: SeqEntry, scope: Scope, out: list[str], indent: str, given: str | None) -> None:
        if len(entry.body) == 1 and entry.body[0].common.name is None and not isinstance(entry.body[0], (RepeatEntry, ResidualEntry, ParallelEntry)):
            name = self.claim(entry, scope, out, indent, given)  # one unnamed entry takes the seq's name
            self.entry(entry.body[0], scope, out, indent, given=name)
            if scope.counter is not None and given is None:
                out.append(f"{indent}{scope.counter} += 1")
            return
        var = self.var("seq")
        out.append(f"{indent}{var} = nn.Sequential()")
        inner = Scope(var, scope.locals)
        name = self.claim(entry, scope, out, indent, given)
        self.entries(entry.body, inner, out, indent)
        literal = _literal_name(name)
        if literal is not None and scope.container == "self" and _attribute(literal):
            out.append(f"{indent}self.{literal} = {var}")
        else:
            out.append(f"{indent}{scope.container}.add_module({name}, {var})")
        self.added(scope, out, indent, name, given)

    def repeat(self, entry: RepeatEntry, scope: Scope, out: list[str], indent: str) -> None:
        count = self.expr(entry.count, scope)
        self.now(count, out, indent)
        self.dynamic(scope, out, indent)
        _check_local(entry.var, "repeat variable")
        python = entry.var if entry.var not in scope.locals and entry.var not in self.renames else self.var(f"{entry.var}_")
        out.append(f"{indent}for {python} in range({count}):")
        saved, scope.locals = scope.locals, scope.locals | {entry.var, python}
        saved_renames, self.renames = self.renames, {**self.renames, entry.var: python} if python != entry.var else self.renames
        try:
            self.repeat_body(entry, scope, out, indent, python)
        finally:
            scope.locals, self.renames = saved, saved_renames

    def repeat_body(self, entry: RepeatEntry, scope: Scope, out: list[str], indent: str, python: str) -> None:
        if len(entry.body) == 1:
            self.entry(entry.body[0], scope, out, indent + "    ")
            return
        # several entries: each repetition is an nn.Sequential under the next number (or NAME{i})
        inner_indent = indent + "    "
        if entry.common.name is not None:
            raw = str(entry.common.name.value)
            name = self.name_text(entry.common.name, scope) if "{" in raw else f"f{(raw + '{' + python + '}')!r}"
        else:
            name = f"str({scope.counter})"
        var = self.var("seq")
        out.append(f"{inner_indent}{var} = nn.Sequential()")
        self.entries(entry.body, Scope(var, scope.locals), out, inner_indent)
        out.append(f"{inner_indent}{scope.container}.add_module({name}, {var})")
        self.added(scope, out, inner_indent, name, None)

    # ---- classes ---------------------------------------------------------------------------------

    def template_class(self, name: str) -> str:
        cls = class_name(name)
        if name in self.classes:
            return cls
        self.classes[name] = _Class(cls)  # placed first: a block that uses itself terminates here
        template = self.doc.templates[name]
        params = list(template.params)
        for p in params:
            _check_local(p, f"block '{name}' argument")
        scope = Scope("self", {*params, *SHAPE_NAMES[:3]})
        signature, defaults = [], []
        seen: set[str] = set()
        prior = Scope("self", {*SHAPE_NAMES[:3]})
        for p, default in template.params.items():
            if default is None:
                signature.append(p)
            elif python_literal(text := self.argument(default, prior)):
                signature.append(f"{p}={text}")
            else:
                signature.append(f"{p}=None")
                defaults.append(f"        if {p} is None:")
                defaults.append(f"            {p} = {text}")
            seen.add(p)
            prior.locals = prior.locals | {p}
        body = template.body
        if len(body) == 1 and body[0].common.name is None and not isinstance(body[0], (RepeatEntry, ResidualEntry, ParallelEntry)):
            raise Unraisable(f"block '{name}' of one unnamed entry (it takes the block's name)")
        structured = any(isinstance(e, (ResidualEntry, ParallelEntry)) and e.common.name is None for e in body)
        lines = [f"class {cls}({'nn.Module' if structured else 'nn.Sequential'}):",
                 f'    """Block `{name}` of {self.doc.name} ({template.loc}).{" Takes the block input shape (C, H, W) and its arguments." if params else ""}"""',
                 "",
                 f"    def __init__(self, v, shape, *, {', '.join(signature)}):" if signature else "    def __init__(self, v, shape):",
                 "        super().__init__()",
                 f"        c_in, h_in, w_in = {self.need('_chw')}(shape)",
                 *defaults]
        if structured:
            init, forward = self.structured(body, scope, name)
            lines += init + ["        self.out_shape = shape", "", "    def forward(self, x):", *forward]
        else:
            init: list[str] = []
            self.entries(body, scope, init, "        ")
            lines += init + ["        self.out_shape = shape"]
        self.classes[name].lines = _drop_unused_shape_names(lines)
        self.order.append(name)
        return cls

    def structured(self, body: tuple[Entry, ...], scope: Scope, where: str) -> tuple[list[str], list[str]]:
        """A body with residual or parallel: the constructor, and forward written out."""
        init: list[str] = []
        forward: list[str] = []
        ind = "        "
        for entry in body:
            if entry.common.sources is not None:
                raise Unraisable(f"from: beside residual/parallel in '{where}'")
            if isinstance(entry, (ResidualEntry, ParallelEntry)) and entry.common.condition is not None:
                raise Unraisable(f"a condition on a residual or parallel in '{where}'")
            if isinstance(entry, (ResidualEntry, ParallelEntry)) and entry.common.name is not None:
                self.chain((entry,), scope, init, forward, where)  # a class of its own
            elif isinstance(entry, ResidualEntry):
                init.append(f"{ind}shape_in = shape")
                forward.append(f"{ind}identity = x")
                if entry.when is not None:
                    cond = self.expr(entry.when, scope)
                    self.now(cond, init, ind)
                    init.append(f"{ind}self.use_residual = bool({cond})")
                self.chain(entry.body, scope, init, forward, where)
                init.append(f"{ind}shape_body = shape")
                if entry.when is not None:
                    built: list[str] = []
                    short = self.branch(entry.shortcut, scope, built, "shape_in", "shortcut", where, ind + "    ")
                    if built:
                        init += [f"{ind}if self.use_residual:", *built]
                    forward.append(f"{ind}if self.use_residual:")
                    forward.append(f"{ind}    x = {MERGE_TYPES[entry.merge].torch_expression(['x', short.format('identity')])}")
                else:
                    short = self.branch(entry.shortcut, scope, init, "shape_in", "shortcut", where, ind)
                    forward.append(f"{ind}x = {MERGE_TYPES[entry.merge].torch_expression(['x', short.format('identity')])}")
                init.append(f"{ind}shape = {MERGE_TYPES[entry.merge].torch_shape(['shape_body', 'shape'])}")
            elif isinstance(entry, ParallelEntry):
                n = len(entry.branches)
                if entry.split is not None:
                    split = self.expr(entry.split, scope)
                    self.now(split, init, ind)
                    init.append(f"{ind}split = {split}")
                    init.append(f"{ind}self.split = [shape[0] // {n}] * {n} if isinstance(split, int) else list(split)")
                    inputs = [f"(self.split[{k}], *shape[1:])" for k in range(n)]
                    forward.append(f"{ind}parts = torch.split(x, self.split, 1)")
                    reads = [f"parts[{k}]" for k in range(n)]
                else:
                    init.append(f"{ind}shape_in = shape")
                    inputs = ["shape_in"] * n
                    reads = ["x"] * n
                outs = []
                for k, (branch, start) in enumerate(zip(entry.branches, inputs)):
                    init.append(f"{ind}shape = {start}")
                    call = self.branch(branch, scope, init, "shape", None, where, ind)
                    init.append(f"{ind}shape{k} = shape")
                    outs.append(call.format(reads[k]))
                shapes = [f"shape{k}" for k in range(n)]
                init.append(f"{ind}shape = {MERGE_TYPES[entry.merge].torch_shape(shapes)}")
                forward.append(f"{ind}x = {MERGE_TYPES[entry.merge].torch_expression(outs)}")
            else:
                self.chain((entry,), scope, init, forward, where)
        forward.append(f"{ind}return x")
        return init, forward

    def chain(self, entries: tuple[Entry, ...], scope: Scope, init: list[str], forward: list[str], where: str) -> None:
        """Entries that chain; forward calls each by name, or, where conditions or loops decide the
        names while building, runs the modules the constructor listed."""
        if not scope.static_names or any(e.common.condition is not None or isinstance(e, RepeatEntry) for e in entries):
            if any(isinstance(e, (ResidualEntry, ParallelEntry)) and e.common.name is None for e in entries):
                raise Unraisable(f"a residual or parallel inside a residual body in '{where}'")
            record = f"self.{self.var('steps')}"
            init.append(f"        {record} = []  # the names of the modules forward runs, in order")
            scope.record = record
            self.entries(entries, scope, init, "        ")
            scope.record = None
            forward.append(f"        for name in {record}:")
            forward.append("            x = self._modules[name](x)")
            return
        for entry in entries:
            if entry.common.condition is not None:
                raise Unraisable(f"a condition (if:) inside a residual body in '{where}', at {entry.common.loc}")
            if isinstance(entry, (ResidualEntry, ParallelEntry, RepeatEntry)) and entry.common.name is None:
                raise Unraisable(f"a {type(entry).__name__.replace('Entry', '').lower()} inside a residual body in '{where}', at {entry.common.loc}")
            before = len(init)
            self.in_chain = True
            try:
                self.entry(entry, scope, init, "        ")
            finally:
                self.in_chain = False
            if not scope.static_names:
                raise Unraisable(f"a name decided while building, inside '{where}'")
            name = _placed_name(init[before:])
            if any("nn.Parameter(" in line for line in init[before:]):
                forward.append(f"        x = x * {_ref(name)}")
            else:
                forward.append(f"        x = {_ref(name)}(x)")

    def branch(self, branch: Branch, scope: Scope, init: list[str], shape_var: str, default: str | None, where: str, ind: str) -> str:
        """A shortcut or parallel branch built as an nn.Sequential; returns '{}'-call text for forward."""
        if not branch.body:
            if branch.name is None and default is None:
                scope.index += 1
            return "{}"
        if branch.transparent:
            raise Unraisable(f"a transparent branch in '{where}'")
        if branch.name is not None:
            if "{" in str(branch.name.value):
                raise Unraisable(f"a computed branch name in '{where}'")
            name = str(branch.name.value)
            scope.index += 1
        elif default is not None:
            name = default
        else:
            name = str(scope.index)
            scope.index += 1
        if len(branch.body) == 1 and branch.body[0].common.name is None and not isinstance(branch.body[0], (RepeatEntry, ResidualEntry, ParallelEntry)):
            init.append(f"{ind}shape = {shape_var}")  # one entry takes the branch's name: no container
            self.entry(branch.body[0], Scope("self", scope.locals), init, ind, given=repr(name))
            if branch.body[0].common.condition is not None:  # absent: the branch is the identity
                return f"({_ref(repr(name))}({{}}) if {name!r} in self._modules else {{}})".replace("{}", "{0}").replace("{{0}}", "{0}")
            return _ref(repr(name)) + "({})"
        var = self.var("branch")
        init.append(f"{ind}shape = {shape_var}")
        init.append(f"{ind}{var} = nn.Sequential()")
        self.entries(branch.body, Scope(var, scope.locals), init, ind)
        if _attribute(name):
            init.append(f"{ind}self.{name} = {var}")
        else:
            init.append(f"{ind}self.add_module({name!r}, {var})")
        return _ref(repr(name)) + "({})"

    # ---- the file ----------------------------------------------------------------------------------

    def source(self, header: list[str]) -> str:
        doc = self.doc
        if doc.outputs:
            raise Unraisable("outputs: (the graph form)")
        top = Scope("self", {*SHAPE_NAMES[:3]})
        network = class_name(doc.name)
        for var in self.vars:
            if keyword.iskeyword(var) or var in ("Variables", "nn", "torch", "F", "math"):
                raise Unraisable(f"variable named '{var}'")
        build_scope = Scope("self", set(self.vars))
        params, computes = [], []
        for var, node in doc.variables.items():
            text = repr(self.overrides[var]) if var in self.overrides else self.argument(node, build_scope, in_build=True)
            if python_literal(text):
                params.append(f"{var}={text}")
            else:
                params.append(f"{var}=None")
                computes += [f"    if {var} is None:", f"        {var} = {text}"]
        if isinstance(doc.input.value, list) and len(doc.input.value) not in (1, 3):
            raise Unraisable(f"a {len(doc.input.value) - 1}-D input (the raised form builds 2-D layers; the graph form takes any rank)")
        input_shape = self.expr(doc.input, Scope("self", set()))
        body = doc.body
        structured = any(isinstance(e, (ResidualEntry, ParallelEntry)) and e.common.name is None for e in body)
        lines = [f"class {network}({'nn.Module' if structured else 'nn.Sequential'}):",
                 f'    """{doc.name}{": " + doc.description if doc.description else ""}"""',
                 "",
                 "    def __init__(self, v):",
                 "        super().__init__()",
                 "        self.variables = v",
                 f"        shape = self.input_shape = tuple({input_shape})",
                 f"        c_in, h_in, w_in = {self.need('_chw')}(shape)"]
        if structured:
            init, forward = self.structured(body, top, doc.name)
            lines += init + ["        self.out_shape = shape", "", "    def forward(self, x):", *forward]
        else:
            init: list[str] = []
            self.entries(body, top, init, "        ")
            lines += init + ["        self.out_shape = shape"]
        self.need("Variables")
        build = [f"def build({'*, ' if params else ''}{', '.join(params)}) -> nn.Module:",
                 f'    """A new, untrained {network}; the spec\'s variables are the arguments, its values the defaults."""',
                 *computes,
                 f"    return {network}(Variables({', '.join(f'{v}={v}' for v in self.vars)}))"]
        helpers = [HELPER_TEXT[h].strip("\n") for h in HELPER_ORDER if h in self.helpers]
        imports = ["import math", ""] if self.uses_math else []
        text = [*header, "", *imports, "import torch", "from torch import nn", "from torch.nn import functional as F", ""]
        for chunk in helpers:
            text += ["", chunk, ""]
        for name in self.order:
            text += ["", *self.classes[name].lines, ""]
        text += ["", *_drop_unused_shape_names(lines), "", "", *build, ""]
        return "\n".join(text)


_GENERATED_LOCALS = {"v", "self", "x", "shape", "shape_in", "shape_body", "module", "split", "identity", "parts", "torch", "nn", "F", "math",
                     "activation", "divisible", "Conv2d", "MaxPool2d", "AvgPool2d", "SqueezeExcitation", "Variables", "ACTIVATIONS",
                     "ChannelLinear", "ChannelLayerNorm", "LayerScale",
                     "min", "max", "round", "abs", "int", "len", "sum", "range", "bool", "str", "tuple", "list", "isinstance", "getattr",
                     *SHAPE_NAMES}


def _check_local(name: str, what: str) -> None:
    """A spec name that becomes a Python local must not be a keyword or a name the generated code uses."""
    if keyword.iskeyword(name) or name in _GENERATED_LOCALS or name.startswith("_") or re.fullmatch(r"(seq|k|branch|sep|shape)\d+", name):
        raise Unraisable(f"{what} named '{name}' (a name the generated code uses)")


def _drop_unused_shape_names(lines: list[str]) -> list[str]:
    """Leave out `c_in, h_in, w_in = _chw(shape)` where nothing reads them."""
    unpack = [k for k, line in enumerate(lines) if line.strip().startswith("c_in, h_in, w_in = ")]
    rest = "\n".join(line for k, line in enumerate(lines) if k not in unpack)
    if unpack and not re.search(r"\b(c_in|h_in|w_in)\b", rest):
        return [line for k, line in enumerate(lines) if k not in unpack]
    return lines


def _literal_name(name: str) -> str | None:
    if name.startswith(("'", '"')):
        return ast.literal_eval(name)
    return None


def _attribute(name: str) -> bool:
    return plain_attribute(name)


def _ref(name: str) -> str:
    literal = _literal_name(name)
    if literal is not None and _attribute(literal):
        return f"self.{literal}"
    return f"self._modules[{name}]"


def _placed_name(lines: list[str]) -> str:
    for line in reversed(lines):
        m = re.match(r"\s*self\.(\w+) = ", line)
        if m and not line.strip().startswith("self.out_shape"):
            return repr(m.group(1))
        m = re.match(r"\s*self\.add_module\(('[^']*'), ", line)
        if m:
            return m.group(1)
    raise Unraisable("a module whose name forward cannot refer to")


def spec_source(doc: SpecDocument, header: list[str], overrides: dict | None = None) -> str:
    """The spec as PyTorch source with its structure kept (`overrides` become build()'s defaults); raises Unraisable naming what it cannot raise."""
    return Generator(doc, overrides).source(header)
