"""A small, whitelisted arithmetic evaluator for spec values: never `eval`.

Grammar (a subset of Python expressions): integers and decimals, variable names, parentheses,
+ - * / // % **, comparisons, `a if cond else b`, and the functions min, max, ceil, floor,
round, abs, int, divisible(v, d) (MobileNet's make-divisible rounding).
Results that are whole numbers come back as exact ints; `/` is true division.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
from collections.abc import Callable, Mapping
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


def evaluate(text: str, variables: Mapping[str, Number]) -> Number:
    """Evaluate `text` over `variables`; raise SpecError (without location) on anything else."""
    return _normalise(_compile(text)(variables))


def _normalise(value: Number) -> Number:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


Compiled = Callable[[Mapping[str, Number]], Number]


@functools.lru_cache(maxsize=4096)
def _compile(text: str) -> Compiled:
    """Parse and check once per distinct text, into closures: a sweep re-evaluates the same expressions many times."""
    if len(text) > MAX_EXPRESSION_CHARS:
        raise SpecError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise SpecError(f"cannot read '{text}' as a number or an expression", "use numbers, names, + - * / // % ** and ( )") from None
    except (ValueError, MemoryError, RecursionError):
        raise SpecError(f"cannot read '{text}' as an expression") from None
    return _Compiler(text).compile(tree)


class _Compiler:
    """Whitelisted AST nodes → closures over the variables; anything else is refused here."""

    def __init__(self, text: str):
        self.text = text

    def compile(self, node: ast.AST) -> Compiled:
        method = getattr(self, "compile_" + type(node).__name__, None)
        if method is None:
            raise SpecError(f"'{ast.unparse(node)}' is not allowed in an expression", "use numbers, names, + - * / // % ** and ( )")
        return method(node)

    def bounded(self, value: Number) -> Number:
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(f"'{self.text}' is not a finite number")
        if abs(value) > MAX_MAGNITUDE:
            raise SpecError(f"'{self.text}' is too large", f"values are limited to {MAX_MAGNITUDE:.0e}")
        return value

    def compile_Constant(self, node: ast.Constant) -> Compiled:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(f"'{ast.unparse(node)}' is not a number")
        self.bounded(value)
        return lambda env: value

    def compile_Name(self, node: ast.Name) -> Compiled:
        name = node.id

        def load(env: Mapping[str, Number]) -> Number:
            try:
                return env[name]
            except KeyError:
                from difflib import get_close_matches

                close = get_close_matches(name, list(env), n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"defined here: {', '.join(sorted(env)) or 'none'}"
                raise SpecError(f"undefined variable '{name}'", hint) from None

        return load

    def compile_UnaryOp(self, node: ast.UnaryOp) -> Compiled:
        operand = self.compile(node.operand)
        if isinstance(node.op, ast.USub):
            return lambda env: -operand(env)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.Not):
            return lambda env: int(not operand(env))
        raise SpecError(f"operator in '{ast.unparse(node)}' is not allowed")

    def compile_BinOp(self, node: ast.BinOp) -> Compiled:
        op = _BINARY.get(type(node.op))
        if op is None:
            raise SpecError(f"operator in '{ast.unparse(node)}' is not allowed", "use + - * / // % **")
        left, right, kind, text, bounded = self.compile(node.left), self.compile(node.right), type(node.op), self.text, self.bounded

        def apply(env: Mapping[str, Number]) -> Number:
            a, b = left(env), right(env)
            if kind is ast.Pow and abs(b) > MAX_EXPONENT:
                raise SpecError(f"exponent {b} in '{text}' is too large", f"at most {MAX_EXPONENT}")
            if kind in (ast.Div, ast.FloorDiv, ast.Mod) and b == 0:
                raise SpecError(f"division by zero in '{text}'")
            if kind is ast.Div and isinstance(a, int) and isinstance(b, int) and a % b == 0:
                return bounded(a // b)  # exact: 256 / 64 stays an int, whatever its size
            try:
                return bounded(op(a, b))
            except TypeError:
                raise SpecError(f"'{text}' needs numbers", f"got {a!r} and {b!r}") from None
            except (OverflowError, ZeroDivisionError):
                raise SpecError(f"'{text}' cannot be computed", f"values are limited to {MAX_MAGNITUDE:.0e}") from None

        return apply

    def compile_Compare(self, node: ast.Compare) -> Compiled:
        ops = []
        for op_node in node.ops:
            op = _COMPARE.get(type(op_node))
            if op is None:
                raise SpecError(f"comparison in '{ast.unparse(node)}' is not allowed")
            ops.append(op)
        operands = [self.compile(node.left), *(self.compile(c) for c in node.comparators)]

        def compare(env: Mapping[str, Number]) -> Number:
            left = operands[0](env)
            for op, operand in zip(ops, operands[1:]):
                right = operand(env)
                if not op(left, right):
                    return 0
                left = right
            return 1

        return compare

    def compile_BoolOp(self, node: ast.BoolOp) -> Compiled:
        values = [self.compile(v) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda env: int(all(v(env) for v in values))
        return lambda env: int(any(v(env) for v in values))

    def compile_IfExp(self, node: ast.IfExp) -> Compiled:
        test, body, orelse = self.compile(node.test), self.compile(node.body), self.compile(node.orelse)
        return lambda env: body(env) if test(env) else orelse(env)

    def compile_Call(self, node: ast.Call) -> Compiled:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in _FUNCTIONS or node.keywords:
            raise SpecError(f"'{ast.unparse(node.func)}' is not an allowed function", f"allowed: {', '.join(_FUNCTIONS)}")
        function, args, shown, bounded = _FUNCTIONS[name], [self.compile(a) for a in node.args], ast.unparse(node), self.bounded

        def call(env: Mapping[str, Number]) -> Number:
            values = [a(env) for a in args]
            try:
                return bounded(function(*values))
            except (TypeError, ValueError, OverflowError):
                raise SpecError(f"wrong number of arguments in '{shown}'") from None

        return call


def interpolate(text: str, variables: Mapping[str, Number]) -> str:
    """A computed name: each `{expr}` in `text` replaced by its value."""
    out, rest = [], text
    while "{" in rest:
        head, _, tail = rest.partition("{")
        expr, closed, rest = tail.partition("}")
        if not closed:
            raise SpecError(f"unclosed '{{' in '{text}'")
        out += [head, str(evaluate(expr, variables))]
    return "".join(out) + rest
