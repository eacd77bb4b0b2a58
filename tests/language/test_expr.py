"""The whitelisted evaluator: arithmetic, strings and lists as Python does them, nothing else admitted."""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from groupcost.errors import SpecError
from groupcost.language import build, parse_text
from groupcost.language.expr import MAX_ITEMS, evaluate, interpolate

ENV = {"G": 32, "planes": 64, "alpha": 0.75, "i": 0, "widths": [8, 16, 24, 32], "act": "relu"}


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
        # lists, subscripts and the functions over them
        ("widths[0]", 8),
        ("widths[-1]", 32),
        ("[64, 128, 256][i]", 64),
        ("len(widths)", 4),
        ("sum(widths)", 80),
        ("min(widths)", 8),
        ("max(widths)", 32),
        ("max([3, 1, 2])", 3),
        ("len(range(2, 20, 3))", 6),  # 2 5 8 11 14 17
        ("sum(range(5))", 10),
        ("len(act)", 4),
        # strings compare and join; comparisons give 0 or 1
        ("act == 'relu'", 1),
        ("act != \"relu\"", 0),
        ("1 if act + '6' == 'relu6' else 0", 1),
        # the new functions are math's
        ("log2(1024)", 10),
        ("sqrt(144)", 12),
        ("exp(0)", 1),
        ("round(log(1000, 10))", 3),
        ("int(log(exp(5)))", 5),
        # round is Python's, half to even (docs/spec.md says so; ReXNet's widths rely on it)
        ("round(0.5)", 0),
        ("round(1.5)", 2),
        ("round(2.5)", 2),
        ("round(3.5)", 4),
        ("round(-2.5)", -2),
        ("floor(2.5 + 0.5)", 3),
    ],
)
def test_numbers(text, expected):
    value = evaluate(text, ENV)
    assert value == expected and type(value) is int


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("'conv'", "conv"),
        ('"conv"', "conv"),
        ("act + '6'", "relu6"),
        ("'hswish' if i > 0 else act", "relu"),
        ("act[1:3]", "el"),
        ("act[-1]", "u"),
        ("'ab' * 3", "ababab"),
        # str() and format() write numbers as Python does, for computed names
        ("'convs.' + str(planes // 32)", "convs.2"),
        ("str(alpha)", "0.75"),
        ("str(act)", "relu"),
        ("format(i + 3, '02d')", "03"),
        ("format(alpha, '.1f')", "0.8"),
        ("format(act, '>6')", "  relu"),
        ("format(G, 'x')", "20"),
    ],
)
def test_strings(text, expected):
    assert evaluate(text, ENV) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1, 2, 3]", [1, 2, 3]),
        ("[]", []),
        ("widths[1:3]", [16, 24]),
        ("widths[:-1]", [8, 16, 24]),
        ("widths[::2]", [8, 24]),
        ("widths + [40]", [8, 16, 24, 32, 40]),
        ("[64] * 3", [64, 64, 64]),
        ("range(4)", [0, 1, 2, 3]),
        ("range(1, 4)", [1, 2, 3]),
        ("range(10, 0, -4)", [10, 6, 2]),
        ("[w * 2 for w in widths]", [16, 32, 48, 64]),
        ("[w * 2 for w in widths if w > 8]", [32, 48, 64]),
        ("[w / 8 for w in widths]", [1, 2, 3, 4]),  # whole floats inside lists come back as ints
        ("[planes * 2 ** k for k in range(4)]", [64, 128, 256, 512]),
        ("[[w, w * 2] for w in widths[:2]]", [[8, 16], [16, 32]]),
        ("['s' + c for c in 'ab']", ["sa", "sb"]),
        ("[i for i in range(3)][i]", 0),  # the loop variable shadows `i` inside only
        ("widths if G > 1 else []", [8, 16, 24, 32]),
    ],
)
def test_lists(text, expected):
    assert repr(evaluate(text, ENV)) == repr(expected)  # repr tells 2 from 2.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "not an allowed function"),
        ("planes.bit_length()", "is not an allowed function"),
        ("planes.real", "is not allowed"),
        ("{1: 2}", "is not allowed"),
        ("(1, 2)", "is not allowed"),
        ("f'{planes}'", "is not allowed"),
        ("[*widths]", "is not allowed"),
        ("None", "is not a number or a string"),
        ("True", "is not a number or a string"),
        ("lambda: 1", "is not allowed"),
        ("planes +", "cannot read"),
        ("x + 1", "undefined variable 'x'"),
        ("9 ** 9 ** 9", "too large"),
        ("10 ** 30", "too large"),
        ("1 / 0", "division by zero"),
        ("(-8) ** 0.5", "not a real number"),
        ("min()", "wrong number of arguments"),
        ("range(1, 2, 3, 4)", "wrong number of arguments"),
        ("log(1, 2, 3)", "wrong number of arguments"),
        ("a" * 600, "longer than 500"),
        # types
        ("act + 1", "needs numbers"),
        ("act % 3", "needs numbers"),  # never Python's string formatting
        ("widths * 1.5", "needs numbers"),
        ("-act", "needs a number"),
        ("act < 1", "orders"),
        ("widths < [1]", "orders"),
        ("planes[0]", "indexes the number 64"),
        ("widths[0.5]", "must be a whole number"),
        ("widths[act]", "must be a whole number"),
        ("widths[::0]", "slice step zero"),
        ("len(planes)", "needs a list or a string"),
        ("sum(act)", "needs a list"),
        ("sum(['a'])", "needs numbers"),
        ("min(3)", "needs a list"),
        ("min([])", "empty list"),
        ("max([1, 'a'])", "compares numbers with numbers"),
        ("sqrt(act)", "needs numbers"),
        ("ceil(widths)", "needs numbers"),
        ("int('7')", "needs numbers"),
        # domains
        ("sqrt(-1)", "zero or more"),
        ("log(0)", "positive number"),
        ("log2(-2)", "positive number"),
        ("log(8, 1)", "base other than 1"),
        ("exp(1000)", "too large"),
        ("range(0)[0]", "the list is empty"),
        ("range(1, 10, 0)", "step must not be zero"),
        ("range(0.5)", "whole number"),
        ("round(5, -10 ** 18)", "at most 64"),
        # comprehensions
        ("[w for w in widths for v in widths]", "more than one `for`"),
        ("[w for w in widths if w > 1 if w < 9]", "more than one `if`"),
        ("[a for a, b in widths]", "must be one name"),
        ("[w for w in planes]", "loops over the number 64"),
        ("[q for w in widths]", "undefined variable 'q'"),
        # str() and format()
        ("str(widths)", "a number or a string"),
        ("format(G, '{}')", "a spec such as '02d'"),
        ("format(G, '0999d')", "a spec such as '02d'"),
        ("format(act, 'd')", "cannot write the string 'relu' as 'd'"),
        ("format(widths, 'd')", "a number or a string"),
    ],
)
def test_rejected(text, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace("*", r"\*")):
        evaluate(text, ENV)


@pytest.mark.parametrize(("text", "length"), [("widths[4]", 4), ("widths[-5]", 4), ("act[9]", 4), ("[1, 2, 3][3]", 3)])
def test_index_out_of_range_gives_the_length(text, length):
    with pytest.raises(SpecError, match="out of range") as caught:
        evaluate(text, ENV)
    assert f"has {length} " in caught.value.hint and f"0 to {length - 1}" in caught.value.hint


@pytest.mark.parametrize(
    "text",
    [
        f"range({MAX_ITEMS + 1})",
        f"'ab' * {MAX_ITEMS // 2 + 1}",
        f"[0] * {MAX_ITEMS + 1}",
        f"range({MAX_ITEMS}) + [1]",
        f"[[k for k in range({MAX_ITEMS})] for j in range(20)]",  # each list legal, the work is not
        f"[sum(range({MAX_ITEMS})) for j in range(20)]",
    ],
)
def test_lists_and_work_are_bounded(text):
    with pytest.raises(SpecError, match="at most"):
        evaluate(text, {})


def test_the_work_bound_is_per_evaluation():
    text = f"sum([k * 2 for k in range({MAX_ITEMS})])"
    assert evaluate(text, {}) == evaluate(text, {}) == MAX_ITEMS * (MAX_ITEMS - 1)


def test_results_leave_the_variables_alone():
    env = {"xs": [1, 2]}
    evaluate("xs + [3]", env)
    evaluate("[x for x in xs]", env)
    assert env == {"xs": [1, 2]}


_TOKENS = ["xs", "s", "n", "w", "0", "1", "2", "-1", "0.5", "'a'", "[", "]", "(", ")", ",", ":", "+", "-", "*", "/", "//", "%", "**",
           "==", "<", " if ", " else ", " for ", " in ", " and ", " not ", "len", "sum", "min", "max", "range", "log", "sqrt", "exp", "round"]


@given(st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=14))
def test_any_text_gives_a_value_or_a_spec_error(tokens):
    """Fuzzing the grammar: whatever the text, a value (number, string, list) or a SpecError, nothing else."""
    try:
        value = evaluate(" ".join(tokens), {"xs": [3, 1, 2], "s": "ab", "n": 3, "w": 2.5})
    except SpecError:
        return
    assert isinstance(value, (int, float, str, list)) and not isinstance(value, bool)


@given(st.integers(-10**6, 10**6), st.integers(-10**6, 10**6), st.sampled_from(["+", "-", "*", "//", "%"]))
def test_integer_arithmetic_is_pythons(a, b, op):
    if op in ("//", "%") and b == 0:
        return
    assert evaluate(f"a {op} b", {"a": a, "b": b}) == eval(f"{a} {op} {b}")  # noqa: S307 — the reference, in a test


@given(st.lists(st.integers(-1000, 1000), max_size=8), st.integers(-10, 10), st.integers(-10, 10), st.sampled_from([None, 1, 2, -1, -3]))
def test_slices_and_indices_are_pythons(xs, a, b, step):
    env = {"xs": xs, "a": a, "b": b}
    step_text = "" if step is None else f":{step}"
    assert evaluate(f"xs[a:b{step_text}]", env) == xs[a:b:step]
    assert evaluate("xs[a:]", env) == xs[a:] and evaluate("xs[:b]", env) == xs[:b]
    if -len(xs) <= a < len(xs):
        assert evaluate("xs[a]", env) == xs[a]
    else:
        with pytest.raises(SpecError, match="out of range"):
            evaluate("xs[a]", env)


@given(st.floats(0.001, 1e6), st.floats(1.01, 100))
def test_math_functions_are_maths(x, base):
    env = {"x": x, "b": base}
    for text, expected in [("log(x)", math.log(x)), ("log(x, b)", math.log(x, base)), ("log2(x)", math.log2(x)), ("sqrt(x)", math.sqrt(x)), ("exp(x / 1e5)", math.exp(x / 1e5))]:
        assert evaluate(text, env) == pytest.approx(expected, rel=1e-12), text


# RegNet's widths and depths (Radosavovic et al. 2020, "Designing Network Design Spaces", §3.3) as
# a spec author writes them in `vars:`, one expression per variable: u_j = w_0 + w_a·j for each of
# the d blocks; s_j = round(log(u_j / w_0) / log(w_m)); w_j = w_0·w_m^s_j rounded to a multiple of
# 8; consecutive blocks of one width form a stage; each stage width made divisible by its group
# width min(g, w) (torchvision's _make_divisible). Values of regnet_y_800mf.
REGNET_VARS = """
depth: 14
w_0: 56
w_a: 38.84
w_m: 2.4
group_width: 16
linear_widths: "[w_0 + w_a * j for j in range(depth)]"
exponents: "[round(log(u / w_0) / log(w_m)) for u in linear_widths]"
block_widths: "[round(w_0 * w_m ** s / 8) * 8 for s in exponents]"
stage_starts: "[j for j in range(depth) if j == 0 or block_widths[j] != block_widths[j - 1]]"
stage_depths: "[(stage_starts + [depth])[k + 1] - stage_starts[k] for k in range(len(stage_starts))]"
stage_widths: "[divisible(block_widths[j], min(group_width, block_widths[j])) for j in stage_starts]"
"""


def test_regnet_y_800mf_stages_from_the_design_space_rule():
    """torchvision's published regnet_y_800mf: stage widths 64, 144, 320, 784 and depths 1, 3, 8, 2."""
    env: dict = {}
    for name, value in yaml.safe_load(REGNET_VARS).items():
        env[name] = evaluate(value, env) if isinstance(value, str) else value
    assert env["stage_widths"] == [64, 144, 320, 784]
    assert env["stage_depths"] == [1, 3, 8, 2]
    assert sum(env["stage_depths"]) == env["depth"]


def test_lists_in_layer_arguments():
    """A layer argument may index a list: each repetition picks its width."""
    text = """
input: [3, 8, 8]
layers:
  - repeat:
      n: 3
      layers:
        - conv: {out: "[16, 24, 40][i]", k: 1}
"""
    steps = build(parse_text(text, "t.yaml"), {}).steps()
    assert [s.out_shape[0] for s in steps] == [16, 24, 40]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("denselayer{i + 1}", "denselayer3"),
        ("layer{i}.{act}", "layer2.relu"),
        ("{widths[i]}x{widths[i]}", "24x24"),
        ("stage{i * 2}", "stage4"),
        ("{{literal}}", "{literal}"),
        ("a{{b}}{i}", "a{b}2"),
        ("no braces", "no braces"),
        ("", ""),
        ("{'x' if i > 1 else 'y'}", "x"),
        ("{i / 4}", "0.5"),
    ],
)
def test_interpolate(text, expected):
    assert interpolate(text, {**ENV, "i": 2}) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("layer{i", "unclosed '{'"),
        ("layer{", "unclosed '{'"),
        ("layer}", "single '}'"),
        ("layer{}", "empty"),
        ("layer{widths}", "is a list of 4"),
        ("layer{q}", "undefined variable 'q'"),
        ("layer{i +}", "cannot read"),
    ],
)
def test_interpolate_rejected(text, message):
    with pytest.raises(SpecError, match=message):
        interpolate(text, ENV)
