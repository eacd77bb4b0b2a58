"""`unary`, `grn`, GELU's tanh form and the arithmetic merges (sub, div, max, min) against PyTorch's own
functions (tests/torch_layers.py, tests/torch_reference.py): shape, params, MACs (none) and the NumPy
kernel, on hypothesis sweeps of shapes and ranks; and their errors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from groupcost.errors import GroupcostError  # noqa: E402
from groupcost.ops.elementwise import UNARY_ONNX  # noqa: E402
from layer_checks import build, check_against_torch, spec  # noqa: E402

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
SHAPES = st.integers(1, 3).flatmap(lambda rank: st.tuples(st.integers(1, 6), *(st.integers(1, 5) for _ in range(rank))))


@SETTINGS
@given(SHAPES, st.sampled_from(sorted(UNARY_ONNX.values())), st.integers(0, 50))
def test_every_unary_function_matches_pytorch(x, fn, seed):
    # |x| + ½ keeps sqrt, log and reciprocal inside their domains
    check_against_torch(spec(x, "unary: {fn: abs}", "elementwise: {op: add, value: 0.5}", f"unary: {{fn: {fn}}}"), seed)


@SETTINGS
@given(SHAPES, st.sampled_from(["none", "tanh"]), st.integers(0, 50))
def test_gelu_and_its_tanh_form_match_pytorch(x, approximate, seed):
    check_against_torch(spec(x, f"gelu: {{approximate: {approximate}}}"), seed)


@SETTINGS
@given(SHAPES.filter(lambda x: len(x) >= 2), st.sampled_from([1e-6, 1e-3]), st.integers(0, 50))
def test_grn_matches_pytorch_in_every_rank(x, eps, seed):
    check_against_torch(spec(x, f"grn: {{eps: {eps}}}"), seed, rtol=1e-3)


def test_grn_counts_a_scale_and_a_shift_per_channel():
    """ConvNeXt V2's GRN on C = 40: γ and β, 80 parameters, no MACs (paper, Algorithm 1)."""
    net = build(spec((40, 7, 7), "grn"))
    step = net.nodes[0]
    assert step.layer.cost(step.in_shape, step.out_shape).params == 80
    assert step.layer.weight_shapes(step.in_shape) == {"gamma": (40,), "beta": (40,)}


@SETTINGS
@given(SHAPES, st.sampled_from(["sub", "div", "max", "min"]), st.booleans(), st.integers(0, 50))
def test_arithmetic_merges_match_pytorch_and_broadcast(x, kind, reduced, seed):
    """a op b of two activations; b is a's mean over the channels (1×…, broadcast) or exp(a) (equal shapes)."""
    partner = "reduce: {name: b, from: a, op: mean, dims: [1], keepdim: true}" if reduced else "unary: {name: b, from: a, fn: exp}"
    check_against_torch(spec(x, "identity: {name: a}", partner, f"{kind}: {{from: [a, b]}}"), seed)


@pytest.mark.parametrize(("layers", "fragment"), [
    (("identity: {name: a}", "unary: {name: b, fn: exp}", "sub: {from: [a, b, a]}"), "exactly two tensors"),
    (("identity: {name: a}", "gap: {name: b}", "flatten", "div: {from: [a, -1]}"), "broadcast"),
    (("unary: {fn: tan}",), "tan"),
    (("gelu: {approximate: sigmoid}",), "sigmoid"),
    (("flatten", "grn"), "positions"),
])
def test_errors_name_the_problem(layers, fragment):
    with pytest.raises(GroupcostError, match=fragment):
        build(spec((8, 4, 4), *layers))
