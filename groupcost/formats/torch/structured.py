"""Spec document → PyTorch source that keeps the spec's structure, written to be read and kept as torchvision's source
is: blocks become nn.Module classes whose constructors take the block's arguments, `repeat` becomes a `for` loop, the
spec's variables are the keyword arguments of `build(**vars)` with the spec's defaults. The network comes first, then its
blocks top-down, then build(), then the helpers (groupcost.formats.torch.helpers); long lines are wrapped (layout). The
constructors track the shape as the spec builder does, so `c_in`, 'same' padding... follow build()'s variables.
What is raised (the rest raises `Unraisable`; the caller writes the resolved graph, saying why):
- a block or the network whose entries only chain is an `nn.Sequential` subclass: numbered entries are appended
  (nn.Sequential numbers them, so `if:` and loops need no counter);
- a block with an unnamed `residual` or `parallel` gets a `forward` calling its children by attribute (`self.conv1`) or
  index (`self[2]`); where conditions or loops in a residual body decide names, the constructor lists those to run;
- a `repeat` of several entries makes an nn.Sequential per repetition (`namespace: false`: its entries go where it
  is); a named `residual` or `parallel` (a namespace of its own) is a class of its own;
- not raised: `from:`, merges, `share:` and `outputs:` (the graph form), a block of one unnamed entry, an unnamed
  residual or parallel inside a `seq` or `repeat`, transparent branches, blocks from `use:` files and built-in blocks,
  1-D and 3-D inputs, layer types without `torch_raised` (groupcost.ops.adapters).
A computed type is an activation (no arguments) or one of the blocks that take its arguments.
"""

from __future__ import annotations

import ast
import dataclasses
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
from groupcost.formats.torch.layout import (
    drop_unused_shape_names,
    signature_lines,
    wrap_calls,
)
from groupcost.formats.torch.names import (
    class_name,
    literal_name,
    module_ref,
    placed_name,
    plain_attribute,
)
from groupcost.language.document import (
    Branch,
    ComputedEntry,
    Entry,
    InlineRepeatEntry,
    LayerEntry,
    MergeEntry,
    ParallelEntry,
    RepeatEntry,
    ResidualEntry,
    SeqEntry,
    SpecDocument,
    TemplateCall,
)
from groupcost.language.builtin import BUILTIN_PATH
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
        self.taken: set[str] = set()  # the local names of the function being written
        self.indexed = False  # the class being written has forward call a numbered child (`self[2]`)

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
        elif isinstance(entry, (RepeatEntry, InlineRepeatEntry)):
            self.repeat(entry, scope, out, indent)
        elif isinstance(entry, (ResidualEntry, ParallelEntry)) and (common.name is not None or given is not None):
            self.named_structure(entry, scope, out, indent, given)
        else:
            raise Unraisable(f"{type(entry).__name__.replace('Entry', '').lower()} where modules only chain, at {common.loc}")

    def dynamic(self, scope: Scope, out: list[str], indent: str) -> None:
        """From here on, numbered names are counted as the module is built (an nn.Sequential counts them itself)."""
        if scope.counter is None and not scope.sequential:
            scope.counter = "index"
            if "index" in scope.locals or "index" in self.vars or "index" in self.taken:
                scope.counter = self.var("index")
            self.taken.add(scope.counter)
            out.append(f"{indent}{scope.counter} = {scope.index}  # the number the next module is registered under")
        scope.static_names = False

    def claim(self, entry: Entry, scope: Scope, out: list[str], indent: str, given: str | None) -> str | None:
        """The name's Python expression, or None where an nn.Sequential appends (and so numbers) the module;
        advances the numbering as the builder does."""
        if given is not None:
            return given
        node = entry.common.name
        if node is not None:
            name: str | None = self.name_text(node, scope)
        elif scope.sequential:
            name = None
        elif scope.counter is not None:
            name = f"str({scope.counter})"
        else:
            name = repr(str(scope.index))
        if scope.counter is None:
            scope.index += 1
        return name

    def local(self, base: str, scope: Scope) -> str:
        """A fresh local name for the function being written, `base` where it is free."""
        name, n = base, 2
        while (name in self.taken or name in scope.locals or name in self.vars or name in _GENERATED_LOCALS
               or keyword.iskeyword(name) or not name.isidentifier()):
            name, n = f"{base}{n}", n + 1
        self.taken.add(name)
        return name

    def register(self, scope: Scope, out: list[str], indent: str, name: str | None, module: str) -> str | None:
        """Registers `module` under `name` in the scope's container; returns `self.NAME` where it is an attribute."""
        literal = literal_name(name) if name is not None else None
        if "nn.Parameter(" not in module:
            scope.placed += 1
        if name is None:
            out.append(f"{indent}{scope.container}.append({module})")
        elif literal is not None and scope.container == "self" and plain_attribute(literal):
            out.append(f"{indent}self.{literal} = {module}")
            return f"self.{literal}"
        else:
            out.append(f"{indent}{scope.container}.add_module({name}, {module})")
        return None

    def place(self, entry: Entry, scope: Scope, out: list[str], indent: str, module: str, given: str | None, new_shape: str | None) -> str | None:
        name = self.claim(entry, scope, out, indent, given)
        literal = literal_name(name) if name is not None else None
        if new_shape == "module" and not (literal is not None and scope.container == "self" and plain_attribute(literal)):
            out.append(f"{indent}module = {module}")
            module = "module"
        ref = self.register(scope, out, indent, name, module)
        if new_shape == "module":
            out.append(f"{indent}shape = {ref or 'module'}.out_shape")
        elif new_shape is not None and new_shape != "shape":
            out.append(f"{indent}shape = {new_shape}")
        self.added(scope, out, indent, name, given)
        return name

    def added(self, scope: Scope, out: list[str], indent: str, name: str | None, given: str | None) -> None:
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
        raising = Raising(values, self.need, lambda base: self.local(base, scope), loc=entry.common.loc,
                          written_name=str(entry.common.name.value) if entry.common.name is not None and given is None else None,
                          parameter_ok=self.in_chain and scope.container == "self" and scope.record is None)
        raised = layer_type.torch_raised(raising)
        if raised is None:
            raise Unraisable(f"layer type '{layer_type.type_name}' at {entry.common.loc}")
        out.extend(f"{indent}{line}" for line in raised.setup)
        self.place(entry, scope, out, indent, raised.module, given, raised.shape)

    def named_structure(self, entry: ResidualEntry | ParallelEntry, scope: Scope, out: list[str], indent: str, given: str | None) -> None:
        """A named residual or parallel: a namespace of its own, so a class of its own, built with the enclosing names."""
        written = str(entry.common.name.value) if entry.common.name is not None else "part"
        cls = class_name(re.sub(r"\{[^}]*\}", "", written) or "part")
        taken = {c.name for c in self.classes.values()}
        base, n = cls, 2
        while cls in taken:
            cls, n = f"{base}{n}", n + 1
        passed = sorted((scope.locals - set(SHAPE_NAMES)) | {"c_in", "h_in", "w_in"})
        inner = Scope("self", set(passed))
        anonymous = dataclasses.replace(entry, common=dataclasses.replace(entry.common, name=None))
        saved = self.taken, self.indexed
        self.taken = set()
        try:
            init, forward = self.structured((anonymous,), inner, written)
            base = "nn.Sequential" if self.indexed else "nn.Module"
        finally:
            self.taken, self.indexed = saved
        key = f"@{cls}"
        self.classes[key] = _Class(cls, [
            f"class {cls}({base}):",
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
        self.classes[key].lines = wrap_calls(self.classes[key].lines)
        self.order.append(key)
        args = ", ".join(f"{p}={p}" for p in passed)
        self.place(entry, scope, out, indent, f"{cls}(v, shape, {args})", given, "module")

    def call(self, entry: TemplateCall, scope: Scope, out: list[str], indent: str, given: str | None) -> None:
        template = self.doc.templates[entry.template]
        if template.variables is not None:
            where = "is built in, written in the graph form" if template.loc.path == BUILTIN_PATH else "comes from a used file, with variables of its own"
            raise Unraisable(f"block '{template.name}' {where}")
        cls = self.template_class(entry.template)
        args = "".join(f", {key}={self.argument(node, scope)}" for key, node in entry.args.items())
        for node in entry.args.values():
            self.now(self.argument(node, scope), out, indent)
        self.place(entry, scope, out, indent, f"{cls}(v, shape{args})", given, "module")

    def seq(self, entry: SeqEntry, scope: Scope, out: list[str], indent: str, given: str | None) -> None:
        if len(entry.body) == 1 and entry.body[0].common.name is None and not isinstance(entry.body[0], (RepeatEntry, InlineRepeatEntry, ResidualEntry, ParallelEntry)):
            name = self.claim(entry, scope, out, indent, given)  # one unnamed entry takes the seq's name
            self.entry(entry.body[0], scope, out, indent, given=name)
            if scope.counter is not None and given is None:
                out.append(f"{indent}{scope.counter} += 1")
            return
        name = self.claim(entry, scope, out, indent, given)
        literal = literal_name(name) if name is not None else None
        var = self.local(literal if literal is not None and plain_attribute(literal) else "layers", scope)
        out.append(f"{indent}{var} = nn.Sequential()")
        self.entries(entry.body, Scope(var, scope.locals, sequential=True), out, indent)
        self.register(scope, out, indent, name, var)
        self.added(scope, out, indent, name, given)

    def repeat(self, entry: RepeatEntry | InlineRepeatEntry, scope: Scope, out: list[str], indent: str) -> None:
        count = self.expr(entry.count, scope)
        self.now(count, out, indent)
        self.dynamic(scope, out, indent)
        _check_local(entry.var, "repeat variable")
        shadows = entry.var in scope.locals or entry.var in self.renames or entry.var in self.taken
        python = self.local(f"{entry.var}_", scope) if shadows else entry.var
        out.append(f"{indent}for {python} in range({count}):")
        saved, scope.locals = scope.locals, scope.locals | {entry.var, python}
        saved_renames, self.renames = self.renames, {**self.renames, entry.var: python} if python != entry.var else self.renames
        try:
            self.repeat_body(entry, scope, out, indent, python)
        finally:
            scope.locals, self.renames = saved, saved_renames

    def repeat_body(self, entry: RepeatEntry | InlineRepeatEntry, scope: Scope, out: list[str], indent: str, python: str) -> None:
        if len(entry.body) == 1 or isinstance(entry, InlineRepeatEntry):  # namespace: false: the body in the enclosing one
            self.entries(entry.body, scope, out, indent + "    ")
            return
        # several entries: each repetition is an nn.Sequential under the next number (or NAME{i})
        inner_indent = indent + "    "
        name: str | None
        if entry.common.name is not None:
            raw = str(entry.common.name.value)
            name = self.name_text(entry.common.name, scope) if "{" in raw else f"f{(raw + '{' + python + '}')!r}"
        else:
            name = None if scope.sequential else f"str({scope.counter})"
        var = self.local("layers", scope)
        out.append(f"{inner_indent}{var} = nn.Sequential()")
        self.entries(entry.body, Scope(var, scope.locals, sequential=True), out, inner_indent)
        self.register(scope, out, inner_indent, name, var)
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
        scope = Scope("self", {*params, *SHAPE_NAMES[:3]}, sequential=not structured)
        saved = self.taken, self.indexed
        self.taken, self.indexed = set(), False
        try:
            init, forward = self.body(body, scope, name, structured)
            base = "nn.Sequential" if not structured or self.indexed else "nn.Module"
        finally:
            self.taken, self.indexed = saved
        lines = [f"class {cls}({base}):",
                 *([f'    """Block `{name}` of {self.doc.name} ({template.loc}).', "", '    Takes the block input shape (C, H, W) and its arguments.', '    """']
                   if params else [f'    """Block `{name}` of {self.doc.name} ({template.loc})."""']),
                 "",
                 *signature_lines("    def __init__(", ["self", "v", "shape", *(["*", *signature] if signature else [])], "):", "    "),
                 "        super().__init__()",
                 f"        c_in, h_in, w_in = {self.need('_chw')}(shape)",
                 *defaults, *init, *forward]
        self.classes[name].lines = wrap_calls(drop_unused_shape_names(lines))
        self.order.append(name)
        return cls

    def body(self, body: tuple[Entry, ...], scope: Scope, where: str, structured: bool) -> tuple[list[str], list[str]]:
        """A class's constructor lines from the shape on, and its forward (none for an nn.Sequential that only chains)."""
        if structured:
            init, forward = self.structured(body, scope, where)
            return init + ["        self.out_shape = shape"], ["", "    def forward(self, x):", *forward]
        init: list[str] = []
        self.entries(body, scope, init, "        ")
        return init + ["        self.out_shape = shape"], []

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
                merge = MERGE_TYPES[entry.merge]
                shortcut = bool(entry.shortcut.body)
                if shortcut or merge.torch_shape(["shape", "shape_in"]) != "shape":
                    init.append(f"{ind}shape_in = shape")
                forward.append(f"{ind}identity = x")
                if entry.when is not None:
                    cond = self.expr(entry.when, scope)
                    self.now(cond, init, ind)
                    init.append(f"{ind}self.use_residual = bool({cond})")
                self.chain(entry.body, scope, init, forward, where)
                if shortcut:
                    init.append(f"{ind}shape_body = shape")
                if entry.when is not None:
                    built: list[str] = []
                    short = self.branch(entry.shortcut, scope, built, "shape_in", "shortcut", where, ind + "    ")
                    if built:
                        init += [f"{ind}if self.use_residual:", *built]
                    forward.append(f"{ind}if self.use_residual:")
                    forward.append(f"{ind}    x = {merge.torch_expression(['x', short.format('identity')])}")
                else:
                    short = self.branch(entry.shortcut, scope, init, "shape_in", "shortcut", where, ind)
                    forward.append(f"{ind}x = {merge.torch_expression(['x', short.format('identity')])}")
                merged = merge.torch_shape(["shape_body", "shape"] if shortcut else ["shape", "shape_in"])
                if merged != "shape":
                    init.append(f"{ind}shape = {merged}")
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
                    if k > 0 or start != "shape_in":  # the first branch starts from the shape as it is
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
            record = f"self.{self.local('steps', scope)}"
            init.append(f"        {record} = []  # the names of the modules forward runs, in order")
            scope.record = record
            self.entries(entries, scope, init, "        ")
            scope.record = None
            forward.append(f"        for name in {record}:")
            forward.append("            x = getattr(self, name)(x)")
            return
        for entry in entries:
            if entry.common.condition is not None:
                raise Unraisable(f"a condition (if:) inside a residual body in '{where}', at {entry.common.loc}")
            if isinstance(entry, (ResidualEntry, ParallelEntry, RepeatEntry)) and entry.common.name is None:
                raise Unraisable(f"a {type(entry).__name__.replace('Entry', '').lower()} inside a residual body in '{where}', at {entry.common.loc}")
            before, position = len(init), scope.placed
            self.in_chain = True
            try:
                self.entry(entry, scope, init, "        ")
            finally:
                self.in_chain = False
            if not scope.static_names:
                raise Unraisable(f"a name decided while building, inside '{where}'")
            name = placed_name(init[before:])
            if any("nn.Parameter(" in line for line in init[before:]):
                forward.append(f"        x = x * {module_ref(name)}")
            else:
                forward.append(f"        x = {self.child(name, position)}(x)")

    def child(self, name: str, position: int) -> str:
        """How forward reaches a child: `self.conv1`; a numbered one at its position by nn.Sequential's index, `self[2]`."""
        literal = literal_name(name)
        if literal is not None and literal.isdigit() and int(literal) == position:
            self.indexed = True
            return f"self[{position}]"
        return module_ref(name)

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
            if shape_var != "shape":
                init.append(f"{ind}shape = {shape_var}")  # one entry takes the branch's name: no container
            inner, position = Scope("self", scope.locals, placed=scope.placed), scope.placed
            self.entry(branch.body[0], inner, init, ind, given=repr(name))
            scope.placed = inner.placed
            if branch.body[0].common.condition is not None:  # absent: the branch is the identity
                return f"({module_ref(repr(name))}({{}}) if {name!r} in self._modules else {{}})".replace("{}", "{0}").replace("{{0}}", "{0}")
            return self.child(repr(name), position) + "({})"
        var = self.local(name if plain_attribute(name) else "branch", scope)
        if shape_var != "shape":
            init.append(f"{ind}shape = {shape_var}")
        init.append(f"{ind}{var} = nn.Sequential()")
        self.entries(branch.body, Scope(var, scope.locals, sequential=True), init, ind)
        position = scope.placed
        self.register(scope, init, ind, repr(name), var)
        return self.child(repr(name), position) + "({})"

    # ---- the file ----------------------------------------------------------------------------------

    def source(self, header: list[str]) -> str:
        doc = self.doc
        if doc.outputs:
            raise Unraisable("outputs: (the graph form)")
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
        if python_literal(input_shape) and input_shape.startswith("["):
            input_shape = repr(tuple(ast.literal_eval(input_shape)))
        else:
            input_shape = f"tuple({input_shape})"
        body = doc.body
        structured = any(isinstance(e, (ResidualEntry, ParallelEntry)) and e.common.name is None for e in body)
        top = Scope("self", {*SHAPE_NAMES[:3]}, sequential=not structured)
        self.taken, self.indexed = set(), False
        init, forward = self.body(body, top, doc.name, structured)
        lines = [f"class {network}({'nn.Sequential' if not structured or self.indexed else 'nn.Module'}):",
                 f'    """{doc.name}{": " + doc.description if doc.description else ""}"""',
                 "",
                 "    def __init__(self, v):",
                 "        super().__init__()",
                 "        self.variables = v",
                 f"        shape = self.input_shape = {input_shape}",
                 f"        c_in, h_in, w_in = {self.need('_chw')}(shape)",
                 *init, *forward]
        self.need("Variables")
        arguments = signature_lines(f"    return {network}(Variables(", [f"{v}={v}" for v in self.vars], "))", "    ")
        build = [*signature_lines("def build(", (["*"] if params else []) + params, ") -> nn.Module:", ""),
                 f'    """A new, untrained {network}; the spec\'s variables are the arguments, its values the defaults."""',
                 *computes,
                 *arguments]
        helpers = [HELPER_TEXT[h].strip("\n") for h in HELPER_ORDER if h in self.helpers]
        imports = ["import math", ""] if self.uses_math else []
        text = [*header, "", *imports, "import torch", "from torch import nn", "from torch.nn import functional as F", ""]
        text += ["", *wrap_calls(drop_unused_shape_names(lines)), ""]
        for name in reversed(self.order):  # from the network down to the blocks it is made of
            text += ["", *self.classes[name].lines, ""]
        text += ["", *build, ""]
        if helpers:
            text += ["", "# Helpers: layers that compute their output shape as they are built, and the spec's functions.", ""]
        for chunk in helpers:
            text += ["", chunk, ""]
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


def spec_source(doc: SpecDocument, header: list[str], overrides: dict | None = None) -> str:
    """The spec as PyTorch source with its structure kept (`overrides` become build()'s defaults); raises Unraisable naming what it cannot raise."""
    return Generator(doc, overrides).source(header)
