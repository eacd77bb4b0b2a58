"""Spec expressions as Python for the raised PyTorch file: variables read from `v`, `/` as the
spec's division, the spec's functions mapped to Python's or to helpers of the file."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from groupcost.formats.torch.helpers import HELPER_NEEDS, MATH_HELPERS
from groupcost.language.yamlsource import Node
from groupcost.ops.adapters import Unraisable

SHAPE_NAMES = ("c_in", "h_in", "w_in", "c_now", "h_now", "w_now")
FUNCTIONS = {"min": "min", "max": "max", "round": "round", "abs": "abs", "int": "int", "len": "len", "sum": "sum",
             "range": "range", "ceil": "_ceil", "floor": "_floor", "divisible": "divisible", "log": "_log",
             "log2": "_log2", "sqrt": "_sqrt", "exp": "_exp"}


@dataclass
class Scope:
    """Where entries go: a container variable, its naming counter, and the names an expression may use."""

    container: str
    locals: set[str]
    counter: str | None = None  # a runtime counter once a condition or a loop makes numbering dynamic
    index: int = 0
    static_names: bool = True  # False once a name depends on the run (then forward may not refer to one)
    record: str | None = None  # a list that collects the names placed, in order, for a forward that runs them
    sequential: bool = False  # an nn.Sequential: numbered entries are appended (it numbers them), no counter
    placed: int = 0  # the modules registered so far (a numbered child's position, for `self[N]` in forward)


class Expressions:
    """What the raised writer knows of names and values: the spec's variables, the helpers needed so far."""

    def __init__(self, variables: list[str]):
        self.vars = variables
        self.helpers: set[str] = set()
        self.fresh = 0
        self.uses_math = False
        self.renames: dict[str, str] = {}  # a repeat variable that shadows an outer one gets a Python name of its own

    # ---- expressions ------------------------------------------------------------------------

    def expr(self, node: Node, scope: Scope, in_build: bool = False) -> str:
        value = node.value
        if isinstance(value, bool):
            return repr(value)
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, list):
            return "[" + ", ".join(self.expr(item, scope, in_build) for item in value) + "]"
        if value is None:
            return "None"
        if isinstance(value, dict):
            raise Unraisable(f"a mapping as a value at {node.loc}")
        return self.text_expr(str(value), scope, node, in_build)

    def text_expr(self, text: str, scope: Scope, node: Node, in_build: bool = False) -> str:
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError:
            raise Unraisable(f"expression '{text}' at {node.loc}") from None
        translator = _Translate(self, scope.locals, in_build, node)
        out = translator.visit(tree.body)
        return ast.unparse(out)

    def argument(self, node: Node, scope: Scope, in_build: bool = False) -> str:
        """A block argument or variable: a bare word that names nothing is a string (`act: hswish`)."""
        value = node.value
        if isinstance(value, str) and value.isidentifier() and value not in scope.locals and value not in self.vars and value not in SHAPE_NAMES:
            return repr(value)
        if isinstance(value, list):
            return "[" + ", ".join(self.argument(item, scope, in_build) for item in value) + "]"
        return self.expr(node, scope, in_build)

    def name_text(self, node: Node, scope: Scope) -> str:
        """A written name, with `{expr}` parts computed: a Python string expression. A dotted name
        (`convs.0`, reopening a namespace) is no attribute name: the graph form writes it."""
        value = str(node.value)
        if "." in value:
            raise Unraisable(f"the dotted name '{value}' at {node.loc}")
        if "{" not in value:
            return repr(value)
        parts, pos = [], 0
        for match in re.finditer(r"\{\{|\}\}|\{([^{}]*)\}", value):
            parts.append(value[pos:match.start()].replace("{", "{{").replace("}", "}}"))
            if match.group(1) is None:
                parts.append(match.group(0))
            else:
                parts.append("{" + self.text_expr(match.group(1), scope, node) + "}")
            pos = match.end()
        parts.append(value[pos:].replace("{", "{{").replace("}", "}}"))
        return "f" + repr("".join(parts)).replace("\\\\", "\\")

    # ---- helpers ------------------------------------------------------------------------------

    def need(self, helper: str) -> str:
        if helper in MATH_HELPERS:
            self.uses_math = True
            return MATH_HELPERS[helper]
        self.helpers.add(helper)
        for other in HELPER_NEEDS.get(helper, ()):
            self.need(other)
        return helper

    def var(self, base: str) -> str:
        self.fresh += 1
        return f"{base}{self.fresh}"


def python_literal(text: str) -> bool:
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return False
    return True


class _Translate(ast.NodeTransformer):
    """A spec expression as Python: variables read from `v`, `/` as the spec's division, functions mapped."""

    def __init__(self, gen: Expressions, local: set[str], in_build: bool, node: Node):
        self.gen, self.local, self.in_build, self.node = gen, set(local), in_build, node
        self.bound: list[set[str]] = []

    def visit_Name(self, node: ast.Name):
        name = node.id
        if any(name in b for b in self.bound):
            return node
        if name in self.gen.renames:
            return ast.Name(self.gen.renames[name], ast.Load())
        if name in self.local or name in SHAPE_NAMES:
            return node
        if name in self.gen.vars:
            return node if self.in_build else ast.Attribute(ast.Name("v", ast.Load()), name, ast.Load())
        raise Unraisable(f"the name '{name}' at {self.node.loc}")

    def visit_ListComp(self, node: ast.ListComp):
        names = set()
        for gen in node.generators:
            gen.iter = self.visit(gen.iter)
            names |= {n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
        self.bound.append(names)
        node.elt = self.visit(node.elt)
        for gen in node.generators:
            gen.ifs = [self.visit(c) for c in gen.ifs]
        self.bound.pop()
        return node

    def visit_BinOp(self, node: ast.BinOp):
        self.generic_visit(node)
        if isinstance(node.op, ast.Div):
            return ast.Call(ast.Name(self.gen.need("_div"), ast.Load()), [node.left, node.right], [])
        return node

    def visit_Call(self, node: ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise Unraisable(f"a call in '{ast.unparse(node)}' at {self.node.loc}")
        node.args = [self.visit(a) for a in node.args]
        target = FUNCTIONS[node.func.id]
        if target.startswith("_") or target == "divisible":
            target = self.gen.need(target)
        node.func = ast.parse(target, mode="eval").body
        return node
