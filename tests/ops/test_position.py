"""`fourier_position` (a fixed Fourier encoding projected by a learned 1×1 conv, added) against PyTorch: shape,
params (the projection's weight and bias), MACs (the projection at every position, as FlopCounterMode counts a
conv) and the NumPy kernel; the encoding against XCiT's definition written out here; and its errors."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from groupcost.errors import GroupcostError  # noqa: E402
from groupcost.ops.position import fourier_grid  # noqa: E402
from layer_checks import build, check_against_torch, spec  # noqa: E402

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@st.composite
def encodings(draw) -> str:
    c, rows, cols = draw(st.integers(1, 6)), draw(st.integers(1, 7)), draw(st.integers(1, 7))
    features, bias = 4 * draw(st.integers(1, 4)), draw(st.booleans())
    if draw(st.booleans()):
        return spec((c, rows * cols), f"fourier_position: {{features: {features}, bias: {str(bias).lower()}, grid: [{rows}, {cols}]}}")
    return spec((c, rows, cols), f"fourier_position: {{features: {features}, bias: {str(bias).lower()}}}")


@SETTINGS
@given(encodings(), st.integers(0, 100))
def test_a_projected_encoding_matches_pytorch(text, seed):
    check_against_torch(text, seed)


def test_edgenext_xx_small_s2_encoding_counts_its_projection():
    """EdgeNeXt-XXS's second stage: 48 channels at 32 × 32 (256-pixel input), 64 Fourier features: the 1×1 conv has
    64·48 + 48 = 3,120 parameters and 64·48·1,024 = 3,145,728 MACs."""
    net = build(spec((48, 1024), "fourier_position: {grid: [32, 32]}"))
    cost = net.nodes[0].layer.cost(net.nodes[0].in_shape, net.nodes[0].out_shape)
    assert (cost.params, cost.macs, net.output_shape) == (3_120, 3_145_728, (48, 1024))


def test_the_grid_is_xcits_sine_and_cosine_of_the_normalised_rows_then_columns():
    """XCiT §3 / DETR: position (i, j) of an h × w map, y = 2π(i + 1)/h, x = 2π(j + 1)/w, wavelengths 10000^(2⌊k/2⌋/d)."""
    rows, cols, half = 3, 5, 4
    grid = fourier_grid(2 * half, 10000.0, rows, cols)
    for k in range(half):
        for i in range(rows):
            for j in range(cols):
                wave = math.sin if k % 2 == 0 else math.cos
                period = 10000.0 ** (2 * (k // 2) / half)
                assert grid[(k * rows + i) * cols + j] == pytest.approx(wave(2 * math.pi * (i + 1) / rows / period), abs=1e-5)
                assert grid[((half + k) * rows + i) * cols + j] == pytest.approx(wave(2 * math.pi * (j + 1) / cols / period), abs=1e-5)


@pytest.mark.parametrize("shape, layer, message", [
    ((8, 12), "fourier_position: {}", "not C×H×W"),
    ((8, 12), "fourier_position: {grid: [5, 2]}", "does not fit"),
    ((8, 4, 4), "fourier_position: {grid: [2, 8]}", "does not fit"),
    ((8, 4, 4), "fourier_position: {features: 6}", "features 6 is not a multiple of 4"),
])
def test_inputs_it_cannot_encode_are_refused_by_name(shape, layer, message):
    with pytest.raises(GroupcostError, match=message):
        build(spec(shape, layer))
