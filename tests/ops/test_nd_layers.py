"""Convolutions, transposed convolutions and pools in 1-D, 2-D and 3-D against PyTorch, on hypothesis
sweeps of their arguments: output shape, params, MACs (FlopCounterMode / 2) and the NumPy kernel."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import groupcost  # noqa: E402

from layer_checks import check_against_torch, spec  # noqa: E402

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def flag(value: bool) -> str:
    return str(value).lower()


@st.composite
def inputs(draw, rank: int | None = None, low: int = 3, high: int = 9) -> tuple[int, ...]:
    rank = rank or draw(st.integers(1, 3))
    high = min(high, 6) if rank == 3 else high
    return (draw(st.sampled_from([1, 2, 3, 4, 6])), *(draw(st.integers(low, high)) for _ in range(rank)))


def per_dim(draw, rank: int, values) -> str:
    """One number, or a list of one per dimension."""
    if draw(st.booleans()):
        return str(draw(values))
    return str([draw(values) for _ in range(rank)])


def buildable(text: str) -> str:
    """A random configuration that is not a network (a window larger than its input) is skipped."""
    try:
        groupcost.language.build(groupcost.parse_text(text, "case.yaml"))
    except groupcost.SpecError:
        assume(False)
    return text


@st.composite
def convolutions(draw) -> str:
    x = draw(inputs())
    rank, c = len(x) - 1, x[0]
    kind = draw(st.sampled_from(["conv", "dwconv", "pwconv", "dwsep", "gdc"]))
    k, s, d = per_dim(draw, rank, st.integers(1, 3)), per_dim(draw, rank, st.integers(1, 2)), per_dim(draw, rank, st.integers(1, 2))
    bias = flag(draw(st.booleans()))
    pads = draw(st.one_of(
        st.integers(0, 2).map(str),
        st.just("same"),
        st.lists(st.integers(0, 2), min_size=rank, max_size=rank).map(str),
        st.lists(st.integers(0, 2), min_size=2 * rank, max_size=2 * rank).map(str),  # before, after per dimension
    ))
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0]))
    layer = {
        "conv": f"conv: {{out: {groups * draw(st.integers(1, 3))}, k: {k}, s: {s}, p: {pads}, d: {d}, groups: {groups}, bias: {bias}}}",
        "dwconv": f"dwconv: {{k: {k}, s: {s}, p: {pads}, d: {d}, mult: {draw(st.integers(1, 2))}, bias: {bias}}}",
        "pwconv": f"pwconv: {{out: {2 * groups}, s: {s}, groups: {groups}, bias: {bias}}}",
        "dwsep": f"dwsep: {{out: 3, k: {k}, s: {s}, bn: true, act: relu, bias: {bias}}}",
        "gdc": f"gdc: {{bias: {bias}}}",
    }[kind]
    return buildable(spec(x, layer))


@SETTINGS
@given(convolutions(), st.integers(0, 100))
def test_convolutions_of_every_rank_match_pytorch(text, seed):
    check_against_torch(text, seed)


@st.composite
def transposed(draw) -> str:
    x = draw(inputs(high=6))
    rank, c = len(x) - 1, x[0]
    strides = [draw(st.integers(1, 3)) for _ in range(rank)]
    dilations = [draw(st.integers(1, 2)) for _ in range(rank)]
    kernels = [draw(st.integers(1, 3)) for _ in range(rank)]
    pads = [draw(st.integers(0, 1)) for _ in range(rank)]
    # output_padding must be smaller than the stride or the dilation (PyTorch's rule)
    extra = [draw(st.integers(0, max(s, d) - 1)) for s, d in zip(strides, dilations)]
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0]))
    one = draw(st.booleans()) and len(set(strides)) == 1
    layer = (f"convtranspose: {{out: {groups * draw(st.integers(1, 2))}, k: {kernels}, s: {strides[0] if one else strides}, p: {pads}, "
             f"output_padding: {extra}, d: {dilations}, groups: {groups}, bias: {flag(draw(st.booleans()))}}}")
    return buildable(spec(x, layer))


@SETTINGS
@given(transposed(), st.integers(0, 100))
def test_transposed_convolutions_match_pytorch(text, seed):
    check_against_torch(text, seed)


@st.composite
def pools(draw) -> str:
    x = draw(inputs(low=4))
    rank = len(x) - 1
    kind = draw(st.sampled_from(["maxpool", "avgpool", "gap", "gmp", "adaptive_avgpool", "adaptive_maxpool"]))
    k = [draw(st.integers(1, 3)) for _ in range(rank)]
    s = per_dim(draw, rank, st.integers(1, 3))
    d = [draw(st.integers(1, 2)) for _ in range(rank)] if kind == "maxpool" else [1] * rank
    p = [draw(st.integers(0, (dd * (kk - 1) + 1) // 2)) for kk, dd in zip(k, d)]
    ceil = flag(draw(st.booleans()))
    include_pad = flag(draw(st.booleans()))
    layer = {
        "maxpool": f"maxpool: {{k: {k}, s: {s}, p: {p}, d: {d}, ceil_mode: {ceil}}}",
        "avgpool": f"avgpool: {{k: {k}, s: {s}, p: {p}, ceil_mode: {ceil}, count_include_pad: {include_pad}}}",
        "gap": "gap",
        "gmp": "gmp",
        "adaptive_avgpool": f"adaptive_avgpool: {{size: {per_dim(draw, rank, st.integers(1, 5))}}}",
        "adaptive_maxpool": f"adaptive_maxpool: {{size: {per_dim(draw, rank, st.integers(1, 5))}}}",
    }[kind]
    return buildable(spec(x, layer))


@SETTINGS
@given(pools(), st.integers(0, 100))
def test_pools_of_every_rank_match_pytorch(text, seed):
    check_against_torch(text, seed)


@pytest.mark.parametrize("rank", [1, 3])
@pytest.mark.parametrize("kind", ["maxpool", "avgpool"])
def test_ceil_mode_sizes_in_1d_and_3d_match_pytorch(rank, kind):
    """Every size 4-12, window 2-3, stride 2-3, padding up to half the window, with ceil_mode."""
    module = {("maxpool", 1): torch.nn.MaxPool1d, ("maxpool", 3): torch.nn.MaxPool3d, ("avgpool", 1): torch.nn.AvgPool1d, ("avgpool", 3): torch.nn.AvgPool3d}[kind, rank]
    for size in range(4, 13):
        for k in (2, 3):
            for s in (2, 3):
                for p in range(k // 2 + 1):
                    shape = (1, *(size,) * rank)
                    net = groupcost.language.build(groupcost.parse_text(spec(shape, f"{kind}: {{k: {k}, s: {s}, p: {p}, ceil_mode: true}}")))
                    expected = module(k, s, p, ceil_mode=True)(torch.zeros(1, *shape)).shape[1:]
                    assert net.output_shape == tuple(expected), (size, k, s, p)


@pytest.mark.parametrize(
    ("shape", "layer", "expected"),
    [
        ((64, 28, 28), "convtranspose: {out: 32, k: 2, s: 2}", (32, 56, 56)),  # U-Net's up-convolution
        ((8, 5), "convtranspose: {out: 4, k: 3, s: 2, p: 1, output_padding: 1}", (4, 10)),  # (5 − 1)·2 − 2 + 2 + 1 + 1
        ((8, 4, 5, 6), "convtranspose: {out: 8, k: [3, 1, 2], s: [1, 2, 3], d: [2, 1, 1]}", (8, 8, 9, 17)),
        ((3, 16, 112, 112), "conv: {out: 64, k: [3, 7, 7], s: [1, 2, 2], p: [1, 3, 3], bias: false}", (64, 16, 56, 56)),  # r3d_18's stem
        ((3, 16, 112, 112), "conv: {out: 45, k: [1, 7, 7], s: [1, 2, 2], p: [0, 3, 3], bias: false}", (45, 16, 56, 56)),  # r(2+1)d: spatial
        ((45, 16, 56, 56), "conv: {out: 64, k: [3, 1, 1], p: [1, 0, 0], bias: false}", (64, 16, 56, 56)),  # r(2+1)d: temporal
        ((4, 10), "conv: {out: 4, k: 3, p: [2, 0]}", (4, 10)),  # 1-D [before, after]
        ((4, 5, 6, 7), "conv: {out: 4, k: 3, p: [1, 0, 0, 1, 2, 2]}", (4, 4, 5, 9)),  # 3-D pairs: front, back, top, bottom, left, right
        ((64, 16, 56, 56), "maxpool: {k: [1, 3, 3], s: [1, 2, 2], p: [0, 1, 1]}", (64, 16, 28, 28)),  # s3d
    ],
)
def test_hand_worked_shapes(shape, layer, expected):
    assert groupcost.language.build(groupcost.parse_text(spec(shape, layer))).output_shape == expected


def test_transposed_macs_count_input_positions():
    """ConvTranspose: one MAC per weight per input position (FlopCounterMode's count), not per output position."""
    rows = groupcost.analyze(groupcost.language.build(groupcost.parse_text(spec((64, 28, 28), "convtranspose: {out: 32, k: 2, s: 2}")))).rows
    weights = 64 * 32 * 2 * 2
    assert (rows[0].params, rows[0].macs) == (weights + 32, weights * 28 * 28)


def in_block(shape, layer: str) -> str:
    return spec(shape, "b").replace("layers:", f"blocks:\n  b:\n    layers: [{layer}]\nlayers:", 1)


def test_shape_variables_of_every_rank():
    """c_in always; l_in in 1-D; t_in, h_in, w_in in 3-D; h_in = w_in = 1 on a flat input, as before (a block's input: in a block)."""
    one = groupcost.language.build(groupcost.parse_text(in_block((4, 10), "conv: {out: c_in * 2, k: l_in - 4}")))
    assert one.output_shape == (8, 5)
    three = groupcost.language.build(groupcost.parse_text(in_block((4, 6, 8, 10), "adaptive_avgpool: {size: [t_in, h_in // 2, w_in // 5]}")))
    assert three.output_shape == (4, 6, 4, 2)
    flat = groupcost.language.build(groupcost.parse_text(in_block((12,), "fc: {out: c_in + h_in + w_in}")))
    assert flat.output_shape == (14,)
    with pytest.raises(groupcost.SpecError, match="undefined variable 'h_in'"):
        groupcost.language.build(groupcost.parse_text(in_block((4, 10), "conv: {out: 4, k: h_in}")))
