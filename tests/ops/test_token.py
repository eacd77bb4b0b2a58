"""`class_token` (learned tokens put before the tokens C × L) against PyTorch: shape, params (C per token), no MACs
and the NumPy kernel, through the module groupcost's PyTorch export writes; and the inputs it refuses."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from groupcost.errors import GroupcostError  # noqa: E402
from layer_checks import build, check_against_torch, spec  # noqa: E402

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@SETTINGS
@given(st.integers(1, 8), st.integers(1, 20), st.integers(1, 3), st.integers(0, 100))
def test_learned_tokens_match_pytorch(channels, length, tokens, seed):
    check_against_torch(spec((channels, length), f"class_token: {{tokens: {tokens}}}"), seed)


def test_vit_tiny_class_token_is_192_parameters_before_196_patches():
    """ViT-Ti/16 at 224 × 224 (DeiT, Table 1: 192 channels, 14 × 14 = 196 patches): 197 tokens, 192 parameters, no MACs."""
    net = build(spec((192, 196), "class_token: {}"))
    cost = net.nodes[0].layer.cost(net.nodes[0].in_shape, net.nodes[0].out_shape)
    assert (cost.params, cost.macs, net.output_shape) == (192, 0, (192, 197))


@pytest.mark.parametrize("shape", [(8, 4, 4), (8,)])
def test_an_input_that_is_not_tokens_is_refused_by_name(shape):
    with pytest.raises(GroupcostError, match="class_token puts tokens before a sequence of tokens C × L"):
        build(spec(shape, "class_token: {}"))
