"""A padding of -inf (TensorFlow's "SAME" max pool, as its PyTorch ports write it: F.pad with -inf, then an unpadded
max pool): the spec, the NumPy kernel, the PyTorch source and the ONNX file all keep the infinity, and every one
computes what torch.nn.functional computes."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402

import groupcost  # noqa: E402
from groupcost.formats.torch import export as pytorch_export  # noqa: E402
from groupcost.run.execute import forward, init_weights  # noqa: E402
from layer_checks import build, spec  # noqa: E402

SAME_MAX_POOL = spec((3, 8, 8), "pad: {name: pool_pad, p: [0, 1, 0, 1], value: -.inf}", "maxpool: {name: pool, k: 3, s: 2}")


def _reference(x: np.ndarray) -> np.ndarray:
    """TF "SAME" max pooling of 8×8 by 3, stride 2: one more -inf row and column after than before (F.pad's order:
    last dimension first), then a max pool without padding."""
    padded = torch.nn.functional.pad(torch.from_numpy(x), (0, 1, 0, 1), value=float("-inf"))
    return torch.nn.functional.max_pool2d(padded, 3, 2).numpy()


def test_an_infinite_padding_reads_and_computes_as_pytorch():
    network = build(SAME_MAX_POOL)
    assert network.nodes[0].layer.value == float("-inf")
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype("float32")
    _, steps = forward(network, x, init_weights(network, 0, "float32"), keep_outputs=True)
    np.testing.assert_array_equal(steps["pool"], _reference(x))
    assert groupcost.analyze(network).output_shape == _reference(x).shape[1:]


def test_an_infinite_padding_exports_to_pytorch_source():
    source = pytorch_export.pytorch_source(build(SAME_MAX_POOL))
    model = pytorch_export.load_module(source)["build"]().eval()
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype("float32")
    with torch.no_grad():
        np.testing.assert_array_equal(model(torch.from_numpy(x)).numpy(), _reference(x))


def test_an_infinite_padding_exports_to_onnx_and_reads_back(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from groupcost.formats.onnx import export as onnx_export
    from groupcost.formats.onnx.reader import read_network

    path = tmp_path / "same_pool.onnx"
    onnx_export.write_onnx(build(SAME_MAX_POOL), path)
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8)).astype("float32")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(session.run(None, {session.get_inputs()[0].name: x})[0], _reference(x))
    read = read_network(path)
    assert read.nodes[0].layer.value == float("-inf") and groupcost.analyze(read).output_shape == (3, 4, 4)


@pytest.mark.parametrize(("value", "message"), [(".nan", "expected a number, got nan"), ("inf", "undefined variable 'inf'")])
def test_a_padding_that_is_not_a_number_is_refused(value, message):
    with pytest.raises(groupcost.SpecError, match=message):
        build(spec((3, 8, 8), f"pad: {{p: 1, value: {value}}}"))
