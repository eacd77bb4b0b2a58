"""Merge types against NumPy's and PyTorch's own rules: shapes, values, and the spec's errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from groupcost.ops import MERGE_TYPES
from groupcost.ops.kernels import MacCounter

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


@given(st.lists(shapes, min_size=2, max_size=4))
def test_mul_broadcasts_as_numpy(drawn):
    """mul's shape is NumPy's broadcast of equal-rank shapes, and None exactly where NumPy refuses."""
    ranks = {len(s) for s in drawn}
    try:
        expected = np.broadcast_shapes(*drawn)
    except ValueError:
        expected = None
    if len(ranks) > 1:
        expected = None  # groupcost broadcasts only tensors of one rank (a C×1×1 gate against C×H×W)
    assert MERGE_TYPES["mul"].out_shape(tuple(drawn)) == expected


@given(st.integers(1, 4), st.lists(st.integers(1, 8), min_size=2, max_size=4), st.integers(1, 5))
def test_concat_joins_channels_as_numpy(rank, channels, size):
    tensors = [np.zeros((2, c, *(size,) * rank)) for c in channels]
    shapes_in = tuple(t.shape[1:] for t in tensors)
    y = MERGE_TYPES["concat"].forward(tensors, MacCounter())
    assert MERGE_TYPES["concat"].out_shape(shapes_in) == y.shape[1:] == (sum(channels), *(size,) * rank)


def test_concat_refuses_different_positions():
    assert MERGE_TYPES["concat"].out_shape(((8, 4, 4), (8, 2, 2))) is None


def test_add_needs_equal_shapes_or_later_ones_that_broadcast_into_the_first():
    """A global context (GCNet) adds C×1×1 at every position of C×H×W; the first input is never grown, so a
    residual of mismatched shapes is still refused."""
    add = MERGE_TYPES["add"]
    assert add.out_shape(((8, 4, 4), (8, 4, 4))) == (8, 4, 4)
    assert add.out_shape(((8, 4, 4), (8, 1, 1))) == (8, 4, 4)
    assert add.out_shape(((8, 1, 1), (8, 4, 4))) is None
    assert add.out_shape(((8, 4, 4), (4, 4, 4))) is None
    assert add.out_shape(((16, 2, 2), (8, 4, 4))) is None
    a, b = np.ones((2, 8, 4, 4)), np.arange(16.0).reshape(2, 8, 1, 1)
    np.testing.assert_array_equal(add.forward([a, b], MacCounter()), a + b)


def test_kernels_compute_what_numpy_computes():
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal((2, 3, 4, 4)) for _ in range(3))
    np.testing.assert_array_equal(MERGE_TYPES["add"].forward([a, b, c], MacCounter()), a + b + c)
    np.testing.assert_array_equal(MERGE_TYPES["mul"].forward([a, b[:, :, :1, :1]], MacCounter()), a * b[:, :, :1, :1])


def test_torch_expressions_compute_what_the_kernels_compute():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((2, 3, 4, 4)) for _ in range(3)]
    for merge in MERGE_TYPES.values():
        inputs = arrays[:2] if merge.type_name == "matmul" else arrays  # matmul takes exactly two
        scope = {"torch": torch, **{f"t{i}": torch.from_numpy(a) for i, a in enumerate(inputs)}}
        written = eval(merge.torch_expression([f"t{i}" for i in range(len(inputs))]), scope)  # noqa: S307 — our own generated text
        np.testing.assert_allclose(written.numpy(), merge.forward(inputs, MacCounter()))
