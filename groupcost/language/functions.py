"""The values and functions of spec expressions: numbers, strings and lists, and the whitelisted calls.

Every function checks its arguments' kinds itself (a string or a list never reaches Python's math)
and charges the list elements it makes or visits to the evaluation's budget (see expr.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Union

from groupcost.errors import SpecError

Number = Union[int, float]
Value = Union[Number, str, list]  # a list holds Values

MAX_EXPRESSION_CHARS = 500
MAX_MAGNITUDE = 10**18  # far above any real network; stops 9**9**9 before it is computed
MAX_EXPONENT = 64
MAX_ITEMS = 100_000  # the longest list or string an expression may make
MAX_WORK = 1_000_000  # list elements made or visited in one evaluation

# ---- values ----------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))  # bools are ints: they count as 0 and 1


def _describe(value: Any) -> str:
    """A short description for messages: never the whole of a long list."""
    if isinstance(value, str):
        return f"the string '{value}'" if len(value) <= 20 else f"a string of {len(value):,} characters"
    if isinstance(value, list):
        return f"a list of {len(value):,}"
    return f"the number {value!r}"


def _length_unit(value: str | list) -> str:
    return "characters" if isinstance(value, str) else "elements"


def _normalise(value: Value) -> Value:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    return value


def _whole(value: Value, what: str) -> int:
    """An index, a count or a range bound: an int, or a float that is a whole number."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return int(value)
    raise SpecError(f"{what} must be a whole number, got {_describe(value)}")


class _Budget:
    """The list elements one evaluation may still make or visit."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_WORK

    def charge(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise SpecError("expression does too much work", f"at most {MAX_WORK:,} list elements made or visited in one expression")


_BUDGET: ContextVar[_Budget] = ContextVar("groupcost_expression_budget")


def _charge(count: int) -> None:
    _BUDGET.get().charge(count)


def _check_length(value: str | list, text: str) -> None:
    if len(value) > MAX_ITEMS:
        raise SpecError(f"'{text}' makes a {'string' if isinstance(value, str) else 'list'} of {len(value):,} {_length_unit(value)}", f"at most {MAX_ITEMS:,}")


# ---- functions ---------------------------------------------------------------------------------


def _numbers(name: str, values: tuple) -> None:
    for value in values:
        if not _is_number(value):
            raise SpecError(f"{name}() needs numbers, got {_describe(value)}")


def _numeric(name: str, function: Callable) -> Callable:
    """A function of numbers only: a string or a list is refused before Python sees it."""

    def call(*values):
        _numbers(name, values)
        return function(*values)

    return call


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


def _extreme(name: str, pick: Callable) -> Callable:
    """min / max of two or more values, or of a single non-empty list."""

    def call(*values):
        if len(values) == 1:
            if not isinstance(values[0], list):
                raise SpecError(f"{name}() of one value needs a list, got {_describe(values[0])}", f"{name}(a, b, ...) or {name}(xs)")
            values = tuple(values[0])
            if not values:
                raise SpecError(f"{name}() of an empty list")
            _charge(len(values))
        if not (all(_is_number(v) for v in values) or all(isinstance(v, str) for v in values)):
            raise SpecError(f"{name}() compares numbers with numbers or strings with strings")
        return pick(values)

    return call


def _len(value: Value) -> int:
    if not isinstance(value, (str, list)):
        raise SpecError(f"len() needs a list or a string, got {_describe(value)}")
    return len(value)


def _sum(values: Value) -> Number:
    if not isinstance(values, list):
        raise SpecError(f"sum() needs a list, got {_describe(values)}")
    _charge(len(values))
    _numbers("sum", tuple(values))
    return sum(values)


def _log(x: Number, base: Number | None = None) -> float:
    if x <= 0:
        raise SpecError(f"log() needs a positive number, got {x!r}")
    if base is None:
        return math.log(x)
    if base <= 0 or base == 1:
        raise SpecError(f"log() needs a positive base other than 1, got {base!r}")
    return math.log(x, base)


def _log2(x: Number) -> float:
    if x <= 0:
        raise SpecError(f"log2() needs a positive number, got {x!r}")
    return math.log2(x)


def _sqrt(x: Number) -> float:
    if x < 0:
        raise SpecError(f"sqrt() needs a number of zero or more, got {x!r}")
    return math.sqrt(x)


def _exp(x: Number) -> float:
    if x > math.log(MAX_MAGNITUDE):
        raise SpecError(f"exp({x!r}) is too large", f"values are limited to {MAX_MAGNITUDE:.0e}")
    return math.exp(x)


def _range(*values: Value) -> list[int]:
    start, stop, step = 0, 0, 1
    bounds = [_whole(v, "range()'s arguments") for v in values]
    if len(bounds) == 1:
        (stop,) = bounds
    else:
        start, stop, *rest = bounds
        step = rest[0] if rest else 1
    if step == 0:
        raise SpecError("range() step must not be zero")
    span = range(start, stop, step)
    if len(span) > MAX_ITEMS:
        raise SpecError(f"range() of {len(span):,} numbers", f"at most {MAX_ITEMS:,}")
    _charge(len(span))
    return list(span)


def _round(x: Value, digits: Value | None = None) -> Number:
    _numbers("round", (x,))
    if digits is None:
        return round(x)
    digits = _whole(digits, "round()'s digits")
    if abs(digits) > MAX_EXPONENT:
        raise SpecError(f"round() to {digits} digits", f"at most {MAX_EXPONENT} either way")
    return round(x, digits)


FORMAT_SPEC = re.compile(r"[<>^]?[+ -]?0?[0-9]{0,2}(\.[0-9]{1,2})?[dfeEgGxXobs%]?")


def _str(value: Value) -> str:
    """A number as a name writes it (`str(2)` is '2', `str(0.5)` is '0.5'); a string as it is."""
    if isinstance(value, list):
        raise SpecError(f"str() takes a number or a string, got {_describe(value)}")
    return value if isinstance(value, str) else repr(value)


def _format(value: Value, spec: Value) -> str:
    """Python's format() with a short spec of width, fill zero, precision and kind: `format(i, '02d')` is '03'."""
    if not isinstance(spec, str) or not FORMAT_SPEC.fullmatch(spec):
        raise SpecError(f"format() takes a spec such as '02d', '.2f' or '>4', got {_describe(spec)}", "width up to 99, precision up to 99")
    if isinstance(value, list):
        raise SpecError(f"format() takes a number or a string, got {_describe(value)}")
    try:
        return format(value, spec)
    except ValueError:
        raise SpecError(f"format() cannot write {_describe(value)} as '{spec}'", "'d' and 'x' take whole numbers, 's' strings") from None


# name → (function, least arguments, most arguments)
_FUNCTIONS: dict[str, tuple[Callable, int, int]] = {
    "min": (_extreme("min", min), 1, MAX_EXPRESSION_CHARS),
    "max": (_extreme("max", max), 1, MAX_EXPRESSION_CHARS),
    "ceil": (_numeric("ceil", math.ceil), 1, 1),
    "floor": (_numeric("floor", math.floor), 1, 1),
    "round": (_round, 1, 2),
    "abs": (_numeric("abs", abs), 1, 1),
    "int": (_numeric("int", int), 1, 1),
    "divisible": (_numeric("divisible", _divisible), 2, 3),
    "len": (_len, 1, 1),
    "sum": (_sum, 1, 1),
    "log": (_numeric("log", _log), 1, 2),
    "log2": (_numeric("log2", _log2), 1, 1),
    "sqrt": (_numeric("sqrt", _sqrt), 1, 1),
    "exp": (_numeric("exp", _exp), 1, 1),
    "range": (_range, 1, 3),
    "str": (_str, 1, 1),
    "format": (_format, 2, 2),
}
