"""`elementwise` (x op a constant) and `reduce` against PyTorch's own operators: shape, params (a learned
constant's elements), MACs (none) and the NumPy kernel, on hypothesis sweeps; and their errors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from groupcost.errors import GroupcostError  # noqa: E402
from layer_checks import build, check_against_torch, spec  # noqa: E402

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@st.composite
def constant_ops(draw) -> str:
    x = tuple(draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 4))))
    op = draw(st.sampled_from(["add", "sub", "mul", "div", "pow", "rsub", "rdiv", "max", "min"]))
    value = draw(st.sampled_from({"div": [0.5, -2.0, 3.0], "pow": [2.0, 3.0]}.get(op, [0.0, 0.5, -2.0, 3.0])))
    kept = draw(st.integers(0, len(x)))  # the constant's rank: the input's last dimensions, some of them 1
    shape = [d if draw(st.booleans()) else 1 for d in x[len(x) - kept:]]
    learned = draw(st.booleans())
    # c / x near x = 0 is ill-conditioned: an add first moves the input away from it
    first = "elementwise: {op: add, value: 10.0}" if op == "rdiv" else "identity"
    return spec(x, first, f"elementwise: {{op: {op}, value: {value}, shape: {shape}, learned: {str(learned).lower()}}}")


@SETTINGS
@given(constant_ops(), st.integers(0, 100))
def test_constant_operations_match_pytorch(text, seed):
    check_against_torch(text, seed)


def test_a_learned_constant_counts_its_elements():
    net = build(spec((8, 4, 4), "elementwise: {op: add, shape: [8, 4, 4], learned: true}", "elementwise: {op: mul, value: 2, shape: [8, 1, 1]}"))
    assert [n.layer.cost(n.in_shape, n.out_shape).params for n in net.nodes] == [128, 0]
    assert net.output_shape == (8, 4, 4)


@pytest.mark.parametrize(("layer", "fragment"), [
    ("elementwise: {op: add, shape: [3, 4, 4]}", "does not broadcast"),
    ("elementwise: {op: add, shape: [8, 2, 4, 4]}", "does not broadcast"),
    ("elementwise: {op: mod}", "mod"),
])
def test_errors_name_the_problem(layer, fragment):
    with pytest.raises(GroupcostError, match=fragment):
        build(spec((8, 4, 4), layer))


@st.composite
def reductions(draw) -> str:
    x = tuple(draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 4))))
    rank = len(x) + 1
    picked = draw(st.sets(st.integers(1, rank - 1), min_size=1, max_size=rank - 1))
    keepdim = draw(st.booleans()) or len(picked) == len(x)
    dims = [d - rank if draw(st.booleans()) else d for d in sorted(picked)]  # some counted from the end
    op = draw(st.sampled_from(["sum", "mean", "max", "l2"]))
    return spec(x, f"reduce: {{op: {op}, dims: {dims}, keepdim: {str(keepdim).lower()}}}")


@SETTINGS
@given(reductions(), st.integers(0, 100))
def test_reductions_match_pytorch(text, seed):
    check_against_torch(text, seed)


@pytest.mark.parametrize(("layer", "fragment"), [
    ("reduce: {op: sum, dims: [0]}", "batch"),
    ("reduce: {op: sum, dims: [1, -3]}", "twice"),
    ("reduce: {op: sum, dims: [1, 2, 3]}", "no per-sample shape"),
    ("reduce: {op: sum, dims: [4]}", "outside"),
])
def test_reduce_errors_name_the_problem(layer, fragment):
    with pytest.raises(GroupcostError, match=fragment):
        build(spec((8, 4, 4), layer))
