"""The layer types of issue 10 against PyTorch on hypothesis sweeps (shape, params, MACs, NumPy kernel),
hand-worked output sizes, and their error messages."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import groupcost  # noqa: E402

from layer_checks import build, check_against_torch, spec  # noqa: E402

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


def flag(value: bool) -> str:
    return str(value).lower()


def buildable(text: str) -> str:
    try:
        build(text)
    except groupcost.SpecError:
        assume(False)
    return text


@st.composite
def shapes(draw, ranks=(1, 2, 3), low: int = 2, high: int = 9) -> tuple[int, ...]:
    rank = draw(st.sampled_from(ranks))
    return (draw(st.sampled_from([1, 2, 3, 4, 6, 8])), *(draw(st.integers(low, min(high, 6) if rank == 3 else high)) for _ in range(rank)))


@st.composite
def resampling(draw) -> str:
    """upsample by scale (odd sizes, fractional scales) or size, every mode of its rank, align_corners both ways."""
    x = draw(shapes(low=1))
    rank = len(x) - 1
    mode = draw(st.sampled_from(["nearest", MODES[rank]]))
    corners = f", align_corners: {flag(draw(st.booleans()))}" if mode != "nearest" else ""
    factors = st.sampled_from([0.5, 1, 1.5, 1.7, 2, 2.3, 3, 0.75])
    if draw(st.booleans()):
        scale = draw(factors) if draw(st.booleans()) else [draw(factors) for _ in range(rank)]
        target = f"scale: {scale}"
    else:
        target = f"size: {[draw(st.integers(1, 12)) for _ in range(rank)]}"
    return buildable(spec(x, f"upsample: {{mode: {mode}, {target}{corners}}}"))


@SETTINGS
@given(resampling(), st.integers(0, 100))
def test_upsample_matches_pytorch(text, seed):
    check_against_torch(text, seed)


@st.composite
def reshaping(draw) -> str:
    kind = draw(st.sampled_from(["crop", "pad", "pixelshuffle", "pixelunshuffle"]))
    if kind in ("crop", "pad"):
        x = draw(shapes())
        rank = len(x) - 1
        if kind == "crop":
            return spec(x, f"crop: {{size: {[draw(st.integers(1, n)) for n in x[1:]]}}}")
        mode = draw(st.sampled_from(["constant", "reflect", "replicate"]))
        amounts = [draw(st.integers(0, 3)) for _ in range(draw(st.sampled_from([rank, 2 * rank])))]
        value = f", value: {draw(st.sampled_from([0, 1.5, -2]))}" if mode == "constant" else ""
        channels = f", channels: {[draw(st.integers(0, 3)), draw(st.integers(0, 3))]}" if mode == "constant" and draw(st.booleans()) else ""
        return buildable(spec(x, f"pad: {{p: {amounts}, mode: {mode}{value}{channels}}}"))
    r = draw(st.integers(1, 3))
    if kind == "pixelshuffle":
        return spec((r * r * draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 6))), f"pixelshuffle: {{r: {r}}}")
    return spec((draw(st.integers(1, 3)), r * draw(st.integers(1, 4)), r * draw(st.integers(1, 4))), f"pixelunshuffle: {{r: {r}}}")


@SETTINGS
@given(reshaping(), st.integers(0, 100))
def test_crop_pad_and_pixel_shuffles_match_pytorch(text, seed):
    check_against_torch(text, seed)


@st.composite
def normalising(draw) -> str:
    kind = draw(st.sampled_from(["layernorm", "groupnorm", "instancenorm", "layerscale", "bn", "linear", "shuffle"]))
    x = draw(shapes(ranks=(1, 2, 3) if kind in ("instancenorm", "shuffle") else (0, 1, 2, 3)))
    c = x[0]
    affine = flag(draw(st.booleans()))
    layer = {
        "layernorm": f"layernorm: {{affine: {affine}, eps: {draw(st.sampled_from([1e-6, 1e-5, 0.1]))}}}",
        "groupnorm": f"groupnorm: {{groups: {draw(st.sampled_from([g for g in range(1, c + 1) if c % g == 0]))}, affine: {affine}}}",
        "instancenorm": f"instancenorm: {{affine: {affine}}}",
        "layerscale": "layerscale: {init: 0.5}",
        "bn": "bn",
        "linear": f"linear: {{out: {draw(st.integers(1, 5))}, bias: {affine}}}",
        "shuffle": f"shuffle: {{groups: {draw(st.sampled_from([g for g in range(1, c + 1) if c % g == 0]))}}}",
    }[kind]
    return buildable(spec(x, layer))


@SETTINGS
@given(normalising(), st.integers(0, 100))
def test_norms_and_channel_linear_match_pytorch(text, seed):
    check_against_torch(text, seed)


@pytest.mark.parametrize("shape", [(7,), (7, 9), (7, 5, 6), (7, 3, 4, 5)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_on_channels_costs_what_pwconv_costs(shape, bias):
    """`linear` (nn.Linear on channels-last) and `pwconv` (a 1×1 conv) are the same layer: equal params and MACs."""
    linear = groupcost.analyze(build(spec(shape, f"linear: {{out: 12, bias: {flag(bias)}}}")))
    assert linear.rows[0].params == 7 * 12 + 12 * bias
    assert linear.rows[0].macs == 7 * 12 * (1 if len(shape) == 1 else __import__("math").prod(shape[1:]))
    if len(shape) > 1:
        pointwise = groupcost.analyze(build(spec(shape, f"pwconv: {{out: 12, bias: {flag(bias)}}}")))
        assert (linear.totals.params, linear.totals.macs, linear.output_shape) == (pointwise.totals.params, pointwise.totals.macs, pointwise.output_shape)
    else:
        fc = groupcost.analyze(build(spec(shape, f"fc: {{out: 12, bias: {flag(bias)}}}")))
        assert (linear.totals.params, linear.totals.macs, linear.output_shape) == (fc.totals.params, fc.totals.macs, fc.output_shape)


@pytest.mark.parametrize(
    ("shape", "layer", "expected"),
    [
        ((21, 65, 65), "upsample: {mode: bilinear, size: [520, 520]}", (21, 520, 520)),  # a segmentation head
        ((3, 5, 7), "upsample: {mode: bilinear, scale: 1.5}", (3, 7, 10)),  # floor(5·1.5), floor(7·1.5)
        ((3, 5, 7), "upsample: {scale: [2, 0.5]}", (3, 10, 3)),
        ((2, 9), "upsample: {mode: linear, scale: 2.3}", (2, 20)),
        ((2, 3, 4, 5), "upsample: {mode: trilinear, scale: [1, 2, 2], align_corners: true}", (2, 3, 8, 10)),
        ((64, 136, 136), "crop: {size: 104}", (64, 104, 104)),  # U-Net: the first skip connection
        ((3, 8, 8), "pad: {p: [1, 2, 3, 4], mode: reflect}", (3, 11, 15)),
        ((3, 8), "pad: {p: [0, 2], mode: replicate}", (3, 10)),
        ((16, 8, 8), "pad: {channels: [0, 8]}", (24, 8, 8)),  # HighResNet's residual: zeros after the channels
        ((16, 8, 8), "pad: {channels: 8}", (32, 8, 8)),  # CIFAR ResNets' option A: zeros around them
        ((8, 4, 4), "pixelshuffle: {r: 2}", (2, 8, 8)),
        ((2, 8, 8), "pixelunshuffle: {r: 2}", (8, 4, 4)),
        ((96, 56, 56), "layernorm", (96, 56, 56)),
    ],
)
def test_hand_worked_shapes(shape, layer, expected):
    assert build(spec(shape, layer)).output_shape == expected


def test_params_of_norms():
    rows = groupcost.analyze(build(spec((96, 7, 7), "layernorm", "groupnorm: {groups: 32}", "instancenorm", "instancenorm: {affine: true}", "layerscale"))).rows
    assert [r.params for r in rows] == [192, 192, 0, 192, 96]
    assert all(r.macs == 0 for r in rows)


def test_crop_offset_rounds_down():
    """An odd difference: offset (5 − 2) // 2 = 1, so rows 1 and 2 are kept and the extra row goes from the end."""
    import numpy as np

    net = build(spec((1, 5, 1), "crop: {size: [2, 1]}"))
    x = np.arange(5, dtype=np.float32).reshape(1, 1, 5, 1)
    assert net.steps()[0].layer.forward(x, {}, None).ravel().tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("shape", "layer", "fragment"),
    [
        ((6, 8, 8), "convtranspose: {out: 4, k: 2, s: 2, groups: 4}", "groups=4 does not divide C_in=6"),
        ((6, 8, 8), "convtranspose: {out: 4, k: 3, s: 2, output_padding: 2}", "output_padding 2×2 must be smaller than the stride 2×2 or the dilation 1×1"),
        ((6, 2, 2), "convtranspose: {out: 4, k: 1, p: 1}", "padding 1×1 leaves an output of 0×0"),
        ((12, 8, 8), "groupnorm: {groups: 5}", "groups=5 does not divide C=12 (legal groups here: 1, 2, 3, 4, 6, 12)"),
        ((3, 8, 8), "upsample: {mode: trilinear, scale: 2}", "mode trilinear needs a C×T×H×W input, got 3×8×8"),
        ((3, 8, 8), "upsample: {scale: 2, align_corners: true}", "align_corners applies to the interpolating modes only"),
        ((3, 8, 8), "upsample: {mode: bilinear}", "upsample needs either scale or size"),
        ((3, 8, 8), "upsample: {scale: 2, size: 16}", "upsample takes scale: or size:, not both"),
        ((3, 8, 8), "upsample: {scale: 0.1}", "leaves an output of 0×0"),
        ((3, 8, 8), "crop: {size: [4, 9]}", "crop size 4×9 is larger than the input 8×8"),
        ((3, 8, 8), "pad: {p: 8, mode: reflect}", "must be smaller than the input 8×8"),
        ((3, 8, 8), "pad: {p: 1, mode: reflect, channels: [0, 2]}", "a reflect padding cannot add channels"),
        ((3, 8, 8), "pad: {channels: [1, 2, 3]}", "channels takes [before, after] or one number, got 3 numbers"),
        ((6, 8, 8), "pixelshuffle: {r: 2}", "r²=4 does not divide C=6"),
        ((6, 8, 6), "pixelunshuffle: {r: 4}", "r=4 does not divide H×W=8×6 (legal r here: 1, 2)"),
        ((3, 8), "pixelshuffle: {r: 2}", "pixelshuffle needs a C×H×W input, got 3×8"),
        ((3, 8, 8), "conv: {out: 4, k: [3, 3, 3]}", "conv k: expected one number or [h, w], got a list of 3"),
        ((3, 8, 8, 8), "conv: {out: 4, k: 3, p: [1, 1]}", "conv p: padding takes 1, 3 or 6 numbers, got 2"),
        ((3, 8), "maxpool: {k: [2, 2]}", "maxpool k: expected one number or [l], got a list of 2"),
        ((3, 4, 4, 4), "maxpool: {k: 3, p: 2}", "padding [2, 2, 2, 2, 2, 2] is more than half the window 3×3×3"),
        ((3, 2, 8, 8), "conv: {out: 4, k: 3}", "kernel 3×3×3 (dilation 1×1×1) is larger than the padded input 2×8×8"),
        ((12,), "instancenorm", "instancenorm needs a C×H×W input, got the flat vector 12"),
        ((12, 1, 1), "instancenorm", "instancenorm needs more than one position, got 12×1×1"),
        ((4,), "groupnorm: {groups: 4}", "groupnorm needs more than one value per group: 4 groups of 4"),
    ],
)
def test_errors_name_the_problem(shape, layer, fragment):
    with pytest.raises(groupcost.SpecError) as caught:
        build(spec(shape, layer))
    assert fragment in str(caught.value), str(caught.value)
