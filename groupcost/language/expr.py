"""A small, whitelisted expression evaluator for spec values: never `eval`.

Grammar (a subset of Python expressions): integers, decimals and 'strings', list displays
`[a, b]`, variable names, parentheses, + - * / // % **, comparisons, `and or not`,
`a if cond else b`, subscripts `xs[i]` and slices `xs[a:b]`, one-`for` list comprehensions
`[f(x) for x in xs if cond]`, and the functions in `_FUNCTIONS` (min, max, ceil, floor, round,
abs, int, divisible, len, sum, log, log2, sqrt, exp, range, str, format).

Values are numbers, strings and lists of values. Results that are whole numbers come back as
exact ints (inside lists too); `/` is true division; comparisons and `and`/`or`/`not` give 0 or 1.

Every expression is bounded: 500 characters of text, numbers up to 10¹⁸ and exponents up to 64,
strings and lists up to 100,000 characters or elements, and at most 1,000,000 list elements
made or visited in one evaluation (so nested comprehensions stay cheap). Every failure is a
SpecError.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
from collections.abc import Callable, Mapping

from groupcost.errors import SpecError
from groupcost.language.functions import (
    _BUDGET,
    _FUNCTIONS,
    MAX_EXPONENT,
    MAX_EXPRESSION_CHARS,
    MAX_ITEMS,
    MAX_MAGNITUDE,
    Number,
    Value,
    _Budget,
    _charge,
    _check_length,
    _describe,
    _is_number,
    _length_unit,
    _normalise,
    _whole,
)

__all__ = ["MAX_ITEMS", "Number", "Value", "evaluate", "interpolate"]

ALLOWED = "use numbers, 'strings', [lists], names, + - * / // % **, ( ), xs[i] and the functions listed in the spec reference"


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
_EQUALITY = (ast.Eq, ast.NotEq)
_BLOCK_SHAPE = ("c_in", "l_in", "t_in", "h_in", "w_in")  # a block's input: undefined outside blocks


# ---- entry points ------------------------------------------------------------------------------


def evaluate(text: str, variables: Mapping[str, Value]) -> Value:
    """Evaluate `text` over `variables`; raise SpecError (without location) on anything else.

    The result may be a number, a string or a list: callers that need a number check for one.
    """
    return _run(_compile(text), variables)


def interpolate(text: str, variables: Mapping[str, Value]) -> str:
    """A computed name: each `{expr}` in `text` replaced by its value ("layer{i + 1}" → "layer3").

    Numbers print as decimals, strings as they are; `{{` and `}}` are literal braces.
    """
    pieces = []
    for piece in _template(text):
        if isinstance(piece, str):
            pieces.append(piece)
            continue
        source, compiled = piece
        value = _run(compiled, variables)
        if isinstance(value, list):
            raise SpecError(f"'{{{source}}}' in '{text}' is {_describe(value)}", "a name takes numbers and strings")
        pieces.append(value if isinstance(value, str) else repr(value))
    result = "".join(pieces)
    _check_length(result, text)
    return result


def _run(compiled: Compiled, variables: Mapping[str, Value]) -> Value:
    token = _BUDGET.set(_Budget())
    try:
        return _normalise(compiled(variables))
    except RecursionError:
        raise SpecError("values nested too deeply") from None
    finally:
        _BUDGET.reset(token)


Compiled = Callable[[Mapping[str, Value]], Value]


@functools.lru_cache(maxsize=4096)
def _compile(text: str) -> Compiled:
    """Parse and check once per distinct text, into closures: a sweep re-evaluates the same expressions many times."""
    if len(text) > MAX_EXPRESSION_CHARS:
        raise SpecError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise SpecError(f"cannot read '{text}' as a number or an expression", ALLOWED) from None
    except (ValueError, MemoryError, RecursionError):
        raise SpecError(f"cannot read '{text}' as an expression") from None
    try:
        return _Compiler(text).compile(tree)
    except RecursionError:
        raise SpecError(f"'{text}' is nested too deeply") from None


@functools.lru_cache(maxsize=1024)
def _template(text: str) -> tuple[str | tuple[str, Compiled], ...]:
    """'a{i}b{{c}}' → ('a', ('i', compiled), 'b{c}'): literal text and compiled expressions."""
    if len(text) > MAX_ITEMS:
        raise SpecError(f"text of {len(text):,} characters", f"at most {MAX_ITEMS:,}")
    pieces: list[str | tuple[str, Compiled]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if text.startswith("{{", i) or text.startswith("}}", i):
            literal.append(ch)
            i += 2
        elif ch == "{":
            end = text.find("}", i + 1)
            if end < 0:
                raise SpecError(f"unclosed '{{' in '{text}'", "close it with '}', or write '{{' for a brace")
            source = text[i + 1 : end]
            if not source.strip():
                raise SpecError(f"empty '{{}}' in '{text}'", "put an expression inside, e.g. {i + 1}, or write '{{}}' for braces")
            if literal:
                pieces.append("".join(literal))
                literal = []
            pieces.append((source, _compile(source)))
            i = end + 1
        elif ch == "}":
            raise SpecError(f"single '}}' in '{text}'", "write '}}' for a brace")
        else:
            literal.append(ch)
            i += 1
    if literal:
        pieces.append("".join(literal))
    return tuple(pieces)


# ---- the compiler --------------------------------------------------------------------------------


class _Compiler:
    """Whitelisted AST nodes → closures over the variables; anything else is refused here."""

    def __init__(self, text: str):
        self.text = text

    def compile(self, node: ast.AST) -> Compiled:
        method = getattr(self, "compile_" + type(node).__name__, None)
        if method is None:
            raise SpecError(f"'{ast.unparse(node)}' is not allowed in an expression", ALLOWED)
        return method(node)

    def bounded(self, value: Value) -> Value:
        if isinstance(value, (str, list)):
            _check_length(value, self.text)
            return value
        if not isinstance(value, (int, float)):  # a negative number to a fractional power is complex
            raise SpecError(f"'{self.text}' is not a real number")
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(f"'{self.text}' is not a finite number")
        if abs(value) > MAX_MAGNITUDE:
            raise SpecError(f"'{self.text}' is too large", f"values are limited to {MAX_MAGNITUDE:.0e}")
        return value

    def compile_Constant(self, node: ast.Constant) -> Compiled:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise SpecError(f"'{ast.unparse(node)}' is not a number or a string")
        self.bounded(value)
        return lambda env: value

    def compile_Name(self, node: ast.Name) -> Compiled:
        name = node.id

        def load(env: Mapping[str, Value]) -> Value:
            try:
                return env[name]
            except KeyError:
                if name in _BLOCK_SHAPE and "c_in" not in env:
                    now = name[:-3] + "_now"
                    raise SpecError(f"'{name}' is the input of the enclosing block, and there is no block here",
                                    f"use {now}, the input of this entry, which is what {name} meant in 0.1") from None
                from difflib import get_close_matches

                close = get_close_matches(name, list(env), n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"defined here: {', '.join(sorted(env)) or 'none'}"
                raise SpecError(f"undefined variable '{name}'", hint) from None

        return load

    def compile_List(self, node: ast.List) -> Compiled:
        items = [self.compile(item) for item in node.elts]

        def display(env: Mapping[str, Value]) -> list:
            _charge(len(items))
            return [item(env) for item in items]

        return display

    def compile_ListComp(self, node: ast.ListComp) -> Compiled:
        shown = ast.unparse(node)
        if len(node.generators) != 1:
            raise SpecError(f"'{shown}' has more than one `for`", "a list comprehension takes one `for` (and one optional `if`)")
        loop = node.generators[0]
        if loop.is_async or not isinstance(loop.target, ast.Name):
            raise SpecError(f"the loop variable in '{shown}' must be one name", "e.g. [w * 2 for w in widths]")
        if len(loop.ifs) > 1:
            raise SpecError(f"'{shown}' has more than one `if`", "join the conditions with `and`")
        name, source, element = loop.target.id, self.compile(loop.iter), self.compile(node.elt)
        condition = self.compile(loop.ifs[0]) if loop.ifs else None

        def comprehension(env: Mapping[str, Value]) -> list:
            items = source(env)
            if not isinstance(items, (list, str)):
                raise SpecError(f"'{shown}' loops over {_describe(items)}", "loop over a list or a string; range(n) gives 0, 1, ..., n - 1")
            budget, local, result = _BUDGET.get(), dict(env), []
            for item in items:
                budget.charge(1)
                local[name] = item
                if condition is None or condition(local):
                    result.append(element(local))
            return result

        return comprehension

    def compile_Subscript(self, node: ast.Subscript) -> Compiled:
        target, shown = self.compile(node.value), ast.unparse(node)
        if isinstance(node.slice, ast.Slice):
            parts = [None if p is None else self.compile(p) for p in (node.slice.lower, node.slice.upper, node.slice.step)]

            def cut(env: Mapping[str, Value]) -> Value:
                sequence = _sequence(target(env), shown)
                lower, upper, step = (None if p is None else _whole(p(env), f"a slice bound in '{shown}'") for p in parts)
                if step == 0:
                    raise SpecError(f"slice step zero in '{shown}'")
                result = sequence[lower:upper:step]
                _charge(len(result))
                return result

            return cut
        index = self.compile(node.slice)

        def item(env: Mapping[str, Value]) -> Value:
            sequence = _sequence(target(env), shown)
            i = _whole(index(env), f"the index in '{shown}'")
            n = len(sequence)
            if not -n <= i < n:
                what = "list" if isinstance(sequence, list) else "string"
                hint = f"the {what} is empty" if n == 0 else f"the {what} has {n:,} {_length_unit(sequence)}: indices 0 to {n - 1}, or -{n} to -1 from the end"
                raise SpecError(f"index {i} is out of range in '{shown}'", hint)
            return sequence[i]

        return item

    def compile_UnaryOp(self, node: ast.UnaryOp) -> Compiled:
        operand, shown = self.compile(node.operand), ast.unparse(node)
        if isinstance(node.op, ast.Not):
            return lambda env: int(not operand(env))
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise SpecError(f"operator in '{shown}' is not allowed")
        negate = isinstance(node.op, ast.USub)

        def sign(env: Mapping[str, Value]) -> Value:
            value = operand(env)
            if not _is_number(value):
                raise SpecError(f"'{shown}' needs a number", f"got {_describe(value)}")
            return -value if negate else value

        return sign

    def compile_BinOp(self, node: ast.BinOp) -> Compiled:
        op = _BINARY.get(type(node.op))
        if op is None:
            raise SpecError(f"operator in '{ast.unparse(node)}' is not allowed", "use + - * / // % **")
        left, right, kind, text, bounded = self.compile(node.left), self.compile(node.right), type(node.op), self.text, self.bounded

        def apply(env: Mapping[str, Value]) -> Value:
            a, b = left(env), right(env)
            if not (_is_number(a) and _is_number(b)):
                return _sequence_arithmetic(kind, a, b, text)
            if kind is ast.Pow and abs(b) > MAX_EXPONENT:
                raise SpecError(f"exponent {b} in '{text}' is too large", f"at most {MAX_EXPONENT}")
            if kind in (ast.Div, ast.FloorDiv, ast.Mod) and b == 0:
                raise SpecError(f"division by zero in '{text}'")
            if kind is ast.Div and isinstance(a, int) and isinstance(b, int) and a % b == 0:
                return bounded(a // b)  # exact: 256 / 64 stays an int, whatever its size
            try:
                return bounded(op(a, b))
            except (OverflowError, ZeroDivisionError):
                raise SpecError(f"'{text}' cannot be computed", f"values are limited to {MAX_MAGNITUDE:.0e}") from None

        return apply

    def compile_Compare(self, node: ast.Compare) -> Compiled:
        ops = []
        for op_node in node.ops:
            op = _COMPARE.get(type(op_node))
            if op is None:
                raise SpecError(f"comparison in '{ast.unparse(node)}' is not allowed", "use == != < <= > >=")
            ops.append((op, isinstance(op_node, _EQUALITY)))
        operands, shown = [self.compile(node.left), *(self.compile(c) for c in node.comparators)], ast.unparse(node)

        def compare(env: Mapping[str, Value]) -> Value:
            left = operands[0](env)
            for (op, equality), operand in zip(ops, operands[1:]):
                right = operand(env)
                if not equality and not (_is_number(left) and _is_number(right) or isinstance(left, str) and isinstance(right, str)):
                    raise SpecError(f"'{shown}' orders {_describe(left)} and {_describe(right)}", "< <= > >= compare two numbers or two strings")
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
        function, least, most = _FUNCTIONS[name]
        shown = ast.unparse(node)
        if not least <= len(node.args) <= most:
            takes = f"{least}" if least == most else f"{least} to {most}" if most < MAX_EXPRESSION_CHARS else f"{least} or more"
            raise SpecError(f"wrong number of arguments in '{shown}'", f"{name}() takes {takes}")
        args, bounded = [self.compile(a) for a in node.args], self.bounded

        def call(env: Mapping[str, Value]) -> Value:
            values = [a(env) for a in args]
            try:
                return bounded(function(*values))
            except (TypeError, ValueError, OverflowError, ZeroDivisionError):
                raise SpecError(f"'{shown}' cannot be computed", "check the arguments' types and sizes") from None

        return call


def _sequence(value: Value, shown: str) -> str | list:
    if not isinstance(value, (str, list)):
        raise SpecError(f"'{shown}' indexes {_describe(value)}", "only lists and strings have elements")
    return value


def _sequence_arithmetic(kind: type, a: Value, b: Value, text: str) -> Value:
    """`+` joins two strings or two lists; `*` repeats one by a whole number; nothing else mixes."""
    if kind is ast.Add and (isinstance(a, str) and isinstance(b, str) or isinstance(a, list) and isinstance(b, list)):
        length = len(a) + len(b)
        if length > MAX_ITEMS:
            raise SpecError(f"'{text}' makes a {'string' if isinstance(a, str) else 'list'} of {length:,} {_length_unit(a)}", f"at most {MAX_ITEMS:,}")
        _charge(length)
        return a + b
    if kind is ast.Mult and (isinstance(a, (str, list)) and isinstance(b, int) or isinstance(b, (str, list)) and isinstance(a, int)):
        sequence, count = (a, b) if isinstance(a, (str, list)) else (b, a)
        length = len(sequence) * max(count, 0)
        if length > MAX_ITEMS:
            raise SpecError(f"'{text}' makes a {'string' if isinstance(sequence, str) else 'list'} of {length:,} {_length_unit(sequence)}", f"at most {MAX_ITEMS:,}")
        _charge(length)
        return sequence * count
    if kind is ast.Add:
        hint = "+ adds two numbers, or joins two strings or two lists"
    elif kind is ast.Mult:
        hint = "* multiplies two numbers, or repeats a string or a list a whole number of times"
    else:
        hint = "this operator takes numbers"
    raise SpecError(f"'{text}' needs numbers", f"got {_describe(a)} and {_describe(b)}; {hint}")
