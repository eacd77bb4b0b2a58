"""`bias_table` (a learned table per channel, added through a fixed index) against PyTorch: shape, params (the
table once, as sum(p.numel()) counts it, never the gathered tensor), no MACs, and the NumPy kernel; and its error."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from groupcost.errors import GroupcostError  # noqa: E402
from layer_checks import build, check_against_torch, spec  # noqa: E402

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@st.composite
def tables(draw) -> str:
    x = tuple(draw(st.integers(1, 6)) for _ in range(draw(st.integers(2, 4))))
    shared = ", shared: true" if draw(st.booleans()) else ""
    return spec(x, f"bias_table: {{entries: {draw(st.integers(1, 40))}{shared}}}")


@SETTINGS
@given(tables(), st.integers(0, 100))
def test_a_gathered_table_matches_pytorch(text, seed):
    check_against_torch(text, seed)


def test_the_table_counts_once_whatever_it_is_gathered_to():
    """LeViT-128S's first stage: 4 heads, a 14 × 14 grid, 196 offsets per head: 784 parameters, not 4 × 196 × 196."""
    net = build(spec((4, 196, 196), "bias_table: {entries: 196}"))
    assert [n.layer.cost(n.in_shape, n.out_shape).params for n in net.nodes] == [784]
    assert net.output_shape == (4, 196, 196)


def test_a_shared_row_counts_once_for_every_window():
    """EfficientViT-M0's first stage: a head's row of 49 offsets (7 × 7 windows) added to its logits in each of 4
    windows, 4 × 49 × 49: 49 parameters (the table's row), not 4 × 49."""
    net = build(spec((4, 49, 49), "bias_table: {entries: 49, shared: true}"))
    assert [n.layer.cost(n.in_shape, n.out_shape).params for n in net.nodes] == [49]
    assert net.output_shape == (4, 49, 49)


def test_a_flat_input_is_refused_by_name():
    with pytest.raises(GroupcostError, match="bias_table adds a table per channel and position"):
        build(spec((8,), "bias_table: {entries: 4}"))
