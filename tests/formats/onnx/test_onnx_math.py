"""The arithmetic of activations in real models' exports (tests/torch_math_patterns.py), each module
exported three ways and read by `analyze`, `import` and `torch:`, against PyTorch's own counts."""

from __future__ import annotations

import pytest

from groupcost.errors import GroupcostError

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from groupcost.graph.analysis import analyze  # noqa: E402
from pattern_check import EXPORTERS, check_export, check_factory  # noqa: E402
from torch_math_patterns import BLOCKS, PATTERNS, chain, pattern  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

WAYS = [*EXPORTERS, "opset13"]
"""The exporters' three ways, and TorchScript at opset 13, below LayerNormalization (17) and Gelu (20): nn.LayerNorm
and nn.GELU written out as arithmetic."""

KINDS = {
    # the layer types each pattern must be read as, whole (not as the arithmetic it is written in); the
    # arithmetic one: sqrt, exp, log, sin, cos, erf, reciprocal, a neg and four abs = 12 functions
    "grn": {"grn": 2, "layernorm": 1},
    "written_layernorm": {"layernorm": 2},
    "variance_layernorm": {"layernorm": 1},
    "std_norm": {},  # the arithmetic it is written in: no layer type is an unbiased-std norm
    "tanh_gelu": {"gelu": 2},
    "activation_arithmetic": {"div": 1, "sub": 1, "max": 1, "min": 1, "unary": 12},
}


def _kinds(network) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in analyze(network).rows:
        counts[row.type] = counts.get(row.type, 0) + 1
    return counts


REFUSED_FOLDED = pytest.mark.xfail(strict=True, raises=GroupcostError, reason=(
    "torch.export writes var_mean as ReduceSum, Expand and a Div by C, which no pattern reads, and folds the norm's viewed "
    "weight and bias into constants it computed (`view_1`), which the file cannot tell from folded parameters: refused by name"))
CASES = [pytest.param(kind, how, marks=REFUSED_FOLDED) if (kind, how) == ("variance_layernorm", "dynamo") else (kind, how)
         for kind in sorted(PATTERNS) for how in WAYS]


@pytest.mark.parametrize(("kind", "how"), CASES)
def test_every_arithmetic_pattern_reads_exactly_every_way(kind, how, tmp_path):
    graph = check_export(pattern(kind), PATTERNS[kind][1], how, tmp_path)
    counts = _kinds(graph)
    assert {k: counts.get(k, 0) for k in KINDS[kind]} == KINDS[kind], (how, counts)


@pytest.mark.parametrize("kind", sorted(PATTERNS))
def test_every_arithmetic_pattern_reads_from_its_torch_factory(kind):
    check_factory("torch:torch_math_patterns:pattern", {"kind": kind}, pattern(kind), PATTERNS[kind][1])


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(kinds=st.lists(st.sampled_from(sorted(BLOCKS)), min_size=1, max_size=4), width=st.sampled_from([4, 8, 12]),
       size=st.integers(4, 9), how=st.sampled_from(["folded", "unfolded", "opset13"]))
def test_random_chains_of_the_arithmetic_patterns_read_exactly(kinds, width, size, how, tmp_path_factory):
    """Random chains of the patterns' blocks (tests/torch_math_patterns.py BLOCKS) at random widths and sizes,
    exported by TorchScript folded at opset 17, unfolded, or at opset 13: analyze and import give PyTorch's figures."""
    check_export(chain(kinds, width), (3, size, size), how, tmp_path_factory.mktemp("chain"))
