"""The NumPy kernels against PyTorch's: every layer type on random configurations to 1e-4 relative in
float32, and whole zoo networks layer by layer in float64, with the same weights."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import groupcost  # noqa: E402
from groupcost.run.execute import forward, init_weights  # noqa: E402
from groupcost.ops import LAYER_TYPES  # noqa: E402
from groupcost.ops.activation import Activation  # noqa: E402
from groupcost.language.zoo import resolve_source  # noqa: E402

from torch_reference import load_weights, network_module, step_outputs  # noqa: E402

ACTIVATIONS = sorted(k for k, v in LAYER_TYPES.items() if issubclass(v, Activation))


def build(text: str):
    """The network of `text`; a random configuration that is not a network (a window too large) is skipped."""
    try:
        return groupcost.language.build(groupcost.parse_text(text, "case.yaml"))
    except groupcost.SpecError:
        assume(False)


def compare(text: str, dtype: str, rtol: float, seed: int = 0) -> None:
    """Our every step against torch's, on one random input: |ours − torch| ≤ rtol · (|torch| + max|torch|).

    The second term measures error against the tensor's scale: where a value is the small
    difference of large ones (GELU far below zero), float32 itself cannot give 1e-4 of it.
    """
    net = build(text)
    weights = init_weights(net, seed, dtype)
    x = np.random.default_rng(seed + 1).standard_normal((2, *net.input_shape)).astype(dtype)
    _, ours = forward(net, x, weights, keep_outputs=True)
    model = network_module(net)
    if dtype == "float64":
        model = model.double()
    load_weights(model, weights)
    theirs = step_outputs(model, torch.from_numpy(x))
    assert set(ours) == set(theirs)
    for name, reference in theirs.items():
        scale = float(np.abs(reference).max()) if reference.size else 0.0
        np.testing.assert_allclose(ours[name], reference, rtol=rtol, atol=rtol * scale + 1e-30, err_msg=f"{name} in\n{text}")


@st.composite
def single_layers(draw) -> str:
    c = draw(st.integers(1, 4)) * draw(st.sampled_from([1, 2, 3]))
    h, w = draw(st.integers(5, 14)), draw(st.integers(5, 14))
    kind = draw(st.sampled_from(["conv", "dwconv", "pwconv", "gdc", "dwsep", "fc", "bn", "bn1d", "act", "prelu", "maxpool", "avgpool",
                                 "gap", "adaptive", "flatten", "dropout", "shuffle", "lrn", "se", "concat", "mul"]))
    k, s, d = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    bias = str(draw(st.booleans())).lower()
    pads = [draw(st.integers(0, 2)) for _ in range(4)]
    layer = {
        "conv": lambda: f"conv: {{out: {draw(st.integers(1, 3)) * (g := draw(st.sampled_from([x for x in (1, 2, 3) if c % x == 0])))}, k: [{k}, {draw(st.integers(1, 3))}], s: {s}, p: {pads}, d: {d}, groups: {g}, bias: {bias}}}",
        "dwconv": lambda: f"dwconv: {{k: {k}, s: {s}, p: {draw(st.integers(0, 1))}, d: {d}, mult: {draw(st.integers(1, 2))}, bias: {bias}}}",
        "pwconv": lambda: f"pwconv: {{out: {2 * c}, s: {s}, groups: {draw(st.sampled_from([x for x in (1, 2, 3) if c % x == 0]))}, bias: {bias}}}",
        "gdc": lambda: f"gdc: {{bias: {bias}}}",
        "dwsep": lambda: f"dwsep: {{out: 5, k: {k}, s: {s}, p: 1, bn: true, act: {draw(st.sampled_from(ACTIVATIONS))}, bias: {bias}}}",
        "fc": lambda: f"seq: {{layers: [flatten, fc: {{out: 7, bias: {bias}}}]}}",
        "bn": lambda: "bn",
        "bn1d": lambda: "seq: {layers: [flatten, bn]}",
        "act": lambda: draw(st.sampled_from(ACTIVATIONS)),
        "prelu": lambda: f"prelu: {{shared: {str(draw(st.booleans())).lower()}}}",
        "maxpool": lambda: f"maxpool: {{k: {k + 1}, s: {s}, p: {draw(st.integers(0, (k + 1) // 2))}, d: {d}, ceil_mode: {str(draw(st.booleans())).lower()}}}",
        "avgpool": lambda: f"avgpool: {{k: {k + 1}, s: {s}, p: {draw(st.integers(0, (k + 1) // 2))}, ceil_mode: {str(draw(st.booleans())).lower()}}}",
        "gap": lambda: "gap",
        "adaptive": lambda: f"adaptive_avgpool: {{size: [{draw(st.integers(1, h))}, {draw(st.integers(1, w))}]}}",
        "flatten": lambda: "flatten",
        "dropout": lambda: "dropout: {p: 0.3}",
        "shuffle": lambda: f"shuffle: {{groups: {draw(st.sampled_from([x for x in (1, 2, 3, 4) if c % x == 0]))}}}",
        "lrn": lambda: f"lrn: {{size: {draw(st.integers(1, 5))}}}",
        "se": lambda: f"se: {{squeeze: {draw(st.integers(1, 4))}, act: {draw(st.sampled_from(['relu', 'hswish', 'silu']))}, gate: {draw(st.sampled_from(['sigmoid', 'hsigmoid']))}}}",
        "concat": lambda: "parallel: {branches: [[], [relu], [conv: {out: 2, k: 1}]]}",
        "mul": lambda: "parallel: {merge: mul, branches: [[], [gap, sigmoid]]}",
    }[kind]()
    return f"input: [{c}, {h}, {w}]\nlayers:\n  - {layer}\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(single_layers(), st.integers(0, 1000))
def test_every_layer_type_matches_pytorch_float32(text, seed):
    compare(text, "float32", rtol=1e-4, seed=seed)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "shufflenet_v2_x1_0", "mobilefacenet", "alexnet_2gpu", "shufflenet_v1_g3"])
def test_zoo_network_layer_by_layer_float64(name):
    compare(resolve_source(name).read_text(), "float64", rtol=1e-9)


@pytest.mark.parametrize("name", ["mobilenet_v3_block", "branches", "dilated_asymmetric", "shuffle_unit", "unet_fragment", "video_3d", "signal_1d"])
def test_valid_specs_layer_by_layer_float64(name):
    from pathlib import Path

    compare((Path(__file__).parents[1] / "valid" / f"{name}.yaml").read_text(), "float64", rtol=1e-9)
