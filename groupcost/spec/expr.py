"""A small, whitelisted arithmetic evaluator for spec values: never `eval`.

Grammar (a subset of Python expressions): integers and decimals, variable names, parentheses,
+ - * / // % **, comparisons, `a if cond else b`, and the functions min, max, ceil, floor,
round, abs, int, divisible(v, d) (MobileNet's make-divisible rounding).
Results that are whole numbers come back as exact ints; `/` is true division.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Mapping
from typing import Union

from groupcost.errors import SpecError

Number = Union[int, float]

MAX_EXPRESSION_CHARS = 500
MAX_MAGNITUDE = 10**18  # far above any real network; stops 9**9**9 before it is computed
MAX_EXPONENT = 64


def _divisible(value: Number, divisor: Number, min_value: Number | None = None) -> int:
    """torchvision's `_make_divisible`: round to the nearest multiple, never 10 % below."""
    divisor = int(divisor)
    if divisor <= 0:
        raise SpecError("divisible() needs a positive divisor")
    floor_value = divisor if min_value is None else int(min_value)
    new = max(floor_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


_FUNCTIONS = {
    "min": min,
    "max": max,
    "ceil": math.ceil,
    "floor": math.floor,
    "round": round,
    "abs": abs,
    "int": int,
    "divisible": _divisible,
}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def names_in(text: str) -> set[str]:
    """Variable names an expression refers to (functions excluded); assumes it parses."""
    tree = ast.parse(text, mode="eval")
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - called


def evaluate(text: str, variables: Mapping[str, Number]) -> Number:
    """Evaluate `text` over `variables`; raise SpecError (without location) on anything else."""
    if len(text) > MAX_EXPRESSION_CHARS:
        raise SpecError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise SpecError(f"cannot read '{text}' as a number or an expression", "use numbers, names, + - * / // % ** and ( )") from None
    except (ValueError, MemoryError, RecursionError):
        raise SpecError(f"cannot read '{text}' as an expression") from None
    value = _Evaluator(variables, text).visit(tree.body)
    return _normalise(value)


def _normalise(value: Number) -> Number:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


class _Evaluator:
    def __init__(self, variables: Mapping[str, Number], text: str):
        self.variables = variables
        self.text = text

    def visit(self, node: ast.AST) -> Number:
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            raise SpecError(f"'{ast.unparse(node)}' is not allowed in an expression", "use numbers, names, + - * / // % ** and ( )")
        return self._bounded(method(node))

    def _bounded(self, value: Number) -> Number:
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(f"'{self.text}' is not a finite number")
        if abs(value) > MAX_MAGNITUDE:
            raise SpecError(f"'{self.text}' is too large", f"values are limited to {MAX_MAGNITUDE:.0e}")
        return value

    def visit_Constant(self, node: ast.Constant) -> Number:
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise SpecError(f"'{ast.unparse(node)}' is not a number")
        return node.value

    def visit_Name(self, node: ast.Name) -> Number:
        if node.id not in self.variables:
            from difflib import get_close_matches

            close = get_close_matches(node.id, list(self.variables), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"defined here: {', '.join(sorted(self.variables)) or 'none'}"
            raise SpecError(f"undefined variable '{node.id}'", hint)
        return self.variables[node.id]

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Number:
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.Not):
            return int(not operand)
        raise SpecError(f"operator in '{ast.unparse(node)}' is not allowed")

    def visit_BinOp(self, node: ast.BinOp) -> Number:
        op = _BINARY.get(type(node.op))
        if op is None:
            raise SpecError(f"operator in '{ast.unparse(node)}' is not allowed", "use + - * / // % **")
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise SpecError(f"exponent {right} in '{self.text}' is too large", f"at most {MAX_EXPONENT}")
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
            raise SpecError(f"division by zero in '{self.text}'")
        if isinstance(node.op, ast.Div) and isinstance(left, int) and isinstance(right, int) and left % right == 0:
            return left // right  # exact: 256 / 64 stays an int, whatever its size
        try:
            return op(left, right)
        except (OverflowError, ZeroDivisionError):
            raise SpecError(f"'{self.text}' cannot be computed", f"values are limited to {MAX_MAGNITUDE:.0e}") from None

    def visit_Compare(self, node: ast.Compare) -> Number:
        left = self.visit(node.left)
        for op_node, right_node in zip(node.ops, node.comparators):
            op = _COMPARE.get(type(op_node))
            if op is None:
                raise SpecError(f"comparison in '{ast.unparse(node)}' is not allowed")
            right = self.visit(right_node)
            if not op(left, right):
                return 0
            left = right
        return 1

    def visit_BoolOp(self, node: ast.BoolOp) -> Number:
        values = [self.visit(v) for v in node.values]
        return int(all(values) if isinstance(node.op, ast.And) else any(values))

    def visit_IfExp(self, node: ast.IfExp) -> Number:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_Call(self, node: ast.Call) -> Number:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in _FUNCTIONS or node.keywords:
            raise SpecError(f"'{ast.unparse(node.func)}' is not an allowed function", f"allowed: {', '.join(_FUNCTIONS)}")
        args = [self.visit(a) for a in node.args]
        try:
            return _FUNCTIONS[name](*args)
        except (TypeError, ValueError, OverflowError):
            raise SpecError(f"wrong number of arguments in '{ast.unparse(node)}'") from None
