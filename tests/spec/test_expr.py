"""The whitelisted evaluator: arithmetic as Python does it, nothing else admitted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from groupcost.errors import SpecError
from groupcost.spec.expr import evaluate

ENV = {"G": 32, "planes": 64, "alpha": 0.75, "i": 0}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("planes * 4", 256),
        ("int(planes * 4 / 64) * G", 128),
        ("planes / 2", 32),  # exact division stays an int
        ("planes // 3", 21),
        ("2 ** 10", 1024),
        ("-planes % 5", 1),
        ("max(1, G // 64)", 1),
        ("ceil(7 / 2)", 4),
        ("floor(7 / 2)", 3),
        ("2 if i == 0 else 1", 2),
        ("i > 0 or G == 32", 1),
        ("divisible(32 * alpha, 8)", 24),  # torchvision's _make_divisible(24.0, 8)
        ("divisible(1280 * 0.35, 8)", 448),
        ("divisible(10, 8)", 16),  # never more than 10 % below: 8 < 0.9 · 10
        ("alpha * 4", 3),
    ],
)
def test_values(text, expected):
    value = evaluate(text, ENV)
    assert value == expected and type(value) is int


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "not an allowed function"),
        ("planes.bit_length()", "is not an allowed function"),
        ("planes.real", "is not allowed"),
        ("[1, 2]", "is not allowed"),
        ("'abc'", "is not a number"),
        ("lambda: 1", "is not allowed"),
        ("planes +", "cannot read"),
        ("x + 1", "undefined variable 'x'"),
        ("9 ** 9 ** 9", "too large"),
        ("10 ** 30", "too large"),
        ("1 / 0", "division by zero"),
        ("min()", "wrong number of arguments"),
        ("a" * 600, "longer than 500"),
    ],
)
def test_rejected(text, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(")):
        evaluate(text, ENV)


@given(st.integers(-10**6, 10**6), st.integers(-10**6, 10**6), st.sampled_from(["+", "-", "*", "//", "%"]))
def test_integer_arithmetic_is_pythons(a, b, op):
    if op in ("//", "%") and b == 0:
        return
    assert evaluate(f"a {op} b", {"a": a, "b": b}) == eval(f"{a} {op} {b}")  # noqa: S307 — the reference, in a test
