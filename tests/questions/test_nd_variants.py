"""compare and whatif over G on 1-D and 3-D convolutions and on transposed convolutions: closed forms."""

from __future__ import annotations

import math

import pytest

import groupcost
from groupcost.questions.compare import compare

SPEC = """\
name: nd
input: [{shape}]
layers:
  - {layer}
"""


def network(shape, layer):
    return groupcost.language.build(groupcost.parse_text(SPEC.format(shape=", ".join(map(str, shape)), layer=layer)))


@pytest.mark.parametrize(
    ("shape", "kernel"),
    [((16, 50), (5,)), ((16, 8, 14, 14), (3, 3, 3)), ((16, 8, 14, 14), (1, 3, 3))],
)
def test_compare_on_1d_and_3d_convolutions(shape, kernel):
    layer = f"conv: {{name: c, out: 32, k: {list(kernel)}, p: same, bias: false}}"
    (row,) = compare(network(shape, layer), [2, 3, 16]).layers
    variants = {v.label: v for v in row.variants}
    positions, taps = math.prod(shape[1:]), math.prod(kernel)
    for label, g in (("standard", 1), ("G=2", 2), ("G=16", 16)):
        weights = 32 * (16 // g) * taps
        assert (variants[label].total("params"), variants[label].total("macs"), variants[label].out_shape) == (weights, weights * positions, (32, *shape[1:]))
    assert variants["G=3"].reason == "groups=3 does not divide C_in=16 and C_out=32"
    separable = variants["dw-separable"]
    assert separable.total("params") == taps * 16 + 16 * 32
    assert separable.total("macs") == (taps * 16 + 16 * 32) * positions
    assert separable.out_shape == (32, *shape[1:])


@pytest.mark.parametrize("shape", [(16, 10), (16, 7, 7), (16, 3, 5, 5)])
def test_compare_on_transposed_convolutions(shape):
    """Grouped: weights C_in·(C_out/G)·ΠK, MACs weights × input positions; separable: a depthwise transposed
    conv (C_in → C_in) then a 1×1 conv on the upsampled output."""
    rank = len(shape) - 1
    layer = "convtranspose: {name: up, out: 8, k: 2, s: 2, bias: false}"
    (row,) = compare(network(shape, layer), [2, 3, 8]).layers
    variants = {v.label: v for v in row.variants}
    inputs, outputs, taps = math.prod(shape[1:]), math.prod(shape[1:]) * 2**rank, 2**rank
    for label, g in (("standard", 1), ("G=2", 2), ("G=8", 8)):
        weights = 16 * (8 // g) * taps
        assert (variants[label].total("params"), variants[label].total("macs")) == (weights, weights * inputs)
        assert variants[label].out_shape == (8, *(2 * n for n in shape[1:]))
    assert variants["G=3"].reason == "groups=3 does not divide C_in=16 and C_out=8"
    separable = variants["dw-separable"]
    assert [r.type for r in separable.rows] == ["convtranspose", "pwconv"]
    assert separable.total("macs") == 16 * taps * inputs + 16 * 8 * outputs
    assert separable.out_shape == variants["standard"].out_shape


def test_whatif_over_g_of_a_3d_convolution(cli, write_spec):
    path = write_spec(SPEC.format(shape="8, 4, 8, 8", layer="conv: {name: c3, out: 16, k: 3, p: 1, bias: false}"))
    result = cli("whatif", path, "--layer", "c3", "--g", "1,2,3,8", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["label"], r["legal"], r["macs"]) for r in rows] == [(f"c3 G={g}", legal, macs) for g, legal, macs in
                                                                  ((1, "true", "884736"), (2, "true", "442368"), (3, "false", ""), (8, "true", "110592"))]
    assert "groups=3 does not divide C_in=8 and C_out=16" in rows[2]["reason"]  # 16·(8/G)·27 weights × 4·8·8 positions


def test_whatif_over_g_of_a_transposed_convolution(cli, write_spec):
    path = write_spec(SPEC.format(shape="8, 16", layer="convtranspose: {name: up, out: 4, k: 4, s: 2, p: 1, bias: false}"))
    result = cli("whatif", path, "--layer", "up", "--g", "divisors", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 + 3  # G = 1, 2, 4
    macs = [8 * (4 // g) * 4 * 16 for g in (1, 2, 4)]
    for line, expected in zip(lines[1:], macs):
        assert str(expected) in line, line
