"""Exports that follow the input: the PyTorch graph form at another input size, and ONNX at another batch.

The references are computations outside groupcost: torch running the exported module (F.interpolate,
narrow, adaptive pooling at the sizes it reads from its tensors), and onnx's reference evaluator (and
onnxruntime, where installed) running the exported file at batch 2, each compared with the NumPy executor.
"""

from __future__ import annotations

import json

import pytest

import groupcost
from groupcost.formats.onnx import export as onnx_export
from groupcost.formats.torch import export as pytorch_export
from groupcost.graph.network import LayerStep

np = pytest.importorskip("numpy")

from groupcost.run.execute import forward, init_weights  # the executor needs numpy

# A zoo model whose graph form takes sizes from its tensors (`to:`), and a second input it must follow.
OTHER_SIZE = {
    "fcn_resnet50": (3, 64, 80),  # its head is upsampled to the input: 520×520 once, whatever the input
    "lraspp_mobilenet_v3_large": (3, 64, 96),  # upsampled to backbone.4, then to the input
    "resnet50_fpn": (3, 64, 96),  # the top-down path upsampled onto each lateral
    "unet_2015": (1, 188, 188),  # the skips centre-cropped to the up-convolutions
    "deeplabv3_mobilenet_v3_large": (3, 64, 80),  # ASPP's pooling branch upsampled to its input
}
SLOW = {"fcn_resnet50", "resnet50_fpn"}  # ResNet-50 backbones: building them in torch takes seconds


def _torch_model(name: str):
    torch = pytest.importorskip("torch")
    source, _ = pytorch_export.export_pytorch(groupcost.load_document(name))  # the structured form where it applies
    with torch.random.fork_rng():
        return pytorch_export.load_module(source)["build"]().eval()


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in OTHER_SIZE])
def test_pytorch_export_follows_the_input_size(name, cli):
    """Exported at the spec's input, run at another: the output shapes are `analyze --input`'s there, and
    the outputs are the NumPy executor's on the same weights."""
    torch = pytest.importorskip("torch")
    size = OTHER_SIZE[name]
    network = groupcost.load(name, input_shape=size)
    assert network.input_shape != groupcost.load(name).input_shape
    result = cli("analyze", name, "--input", ",".join(map(str, size)), "--format", "json")
    assert result.exit_code == 0, result.stderr
    analyzed = [tuple(o["shape"]) for o in json.loads(result.stdout)["outputs"]]

    model = _torch_model(name)
    weights = init_weights(network, 3, "float32")
    state = {f"{layer}.{key}": torch.from_numpy(value) for layer, tensors in weights.items() for key, value in tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in missing)
    x = np.random.default_rng(1).standard_normal((1, *size)).astype(np.float32)
    _, steps = forward(network, x, weights, keep_outputs=True)
    with torch.no_grad():
        y = model(torch.from_numpy(x))
    outputs = tuple(y.values()) if isinstance(y, dict) else y if isinstance(y, tuple) else (y,)
    assert [tuple(t.shape[1:]) for t in outputs] == analyzed == list(network.output_shapes)
    for got, tensor in zip(outputs, network.outputs):
        want = steps[tensor]
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5 * float(np.abs(want).max()), err_msg=tensor)


def test_a_fixed_size_stays_fixed():
    """`size:` is a number the spec gives: the module keeps it; only `to:` reads a tensor's size."""
    torch = pytest.importorskip("torch")
    doc = "input: [4, 8, 8]\nlayers: [upsample: {size: 12}, crop: {size: 10}, adaptive_avgpool: {size: 3}]"
    network = groupcost.language.build(groupcost.parse_text(doc, "fixed.yaml"))
    model = pytorch_export.load_module(pytorch_export.pytorch_source(network))["build"]().eval()
    with torch.no_grad():
        assert tuple(model(torch.zeros(2, 4, 20, 6)).shape) == (2, 4, 3, 3)
        assert tuple(model[0](torch.zeros(1, 4, 20, 6)).shape) == (1, 4, 12, 12)


def test_a_to_pool_alone_imports_what_it_calls():
    """An adaptive pool sized `to:` another tensor calls torch's functional pools by name: the file imports
    them even where nothing else in it needs `F` (it raised NameError)."""
    torch = pytest.importorskip("torch")
    doc = "input: [4, 12, 12]\nlayers:\n  - maxpool: {name: small, k: 2}\n  - adaptive_avgpool: {name: aap, from: input, to: small}\n"
    network = groupcost.language.build(groupcost.parse_text(doc, "to.yaml"))
    model = pytorch_export.load_module(pytorch_export.pytorch_source(network))["build"]().eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 4, 12, 12)).shape == (1, 4, 6, 6)


def test_to_reads_the_size_when_forward_runs():
    """Each of upsample, crop and the adaptive pools with `to:` takes the named tensor's size at run time."""
    torch = pytest.importorskip("torch")
    doc = """input: [4, 12, 12]
layers:
  - maxpool: {name: small, k: 2}
  - upsample: {name: up, mode: bilinear, to: input}
  - crop: {name: cut, from: input, to: small}
  - adaptive_maxpool: {name: amp, from: up, to: small}
  - adaptive_avgpool: {name: aap, from: up, to: small}
  - add: {name: sum, from: [cut, amp, aap]}
outputs: [up, sum]
"""
    network = groupcost.language.build(groupcost.parse_text(doc, "to.yaml"))
    assert {s.name: s.size_of for s in network.nodes if isinstance(s, LayerStep) and s.size_of} == {"up": "input", "cut": "small", "amp": "small", "aap": "small"}
    model = pytorch_export.load_module(pytorch_export.pytorch_source(network))["build"]().eval()
    for h, w in [(12, 12), (20, 16)]:
        other = groupcost.language.build(groupcost.parse_text(doc.replace("[4, 12, 12]", f"[4, {h}, {w}]"), "to.yaml"))
        x = np.random.default_rng(h).standard_normal((2, 4, h, w)).astype(np.float32)
        _, steps = forward(other, x, {s.name: {} for s in other.nodes if isinstance(s, LayerStep)}, keep_outputs=True)
        with torch.no_grad():
            up, total = model(torch.from_numpy(x))
        assert (tuple(up.shape[1:]), tuple(total.shape[1:])) == other.output_shapes == ((4, h, w), (4, h // 2, w // 2))
        np.testing.assert_allclose(up.numpy(), steps["up"], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(total.numpy(), steps["sum"], rtol=1e-5, atol=1e-5)


# ---- ONNX: a symbolic batch ----------------------------------------------------------------------

onnx = pytest.importorskip("onnx")

# ShuffleNet: its channel shuffle (Reshape with 0 for N) and flatten; LR-ASPP: a Resize to a tensor's size
# (33×33 to 65×65: by sizes, N read with Shape) and a Resize to the input; ResNet-18: flatten before the classifier.
BATCH_MODELS = {
    "shufflenet_v2_x1_0": (3, 64, 64),
    "lraspp_mobilenet_v3_large": (3, 64, 96),
    "resnet18": (3, 64, 64),
}


def _exported(name: str, size):
    network = groupcost.load(name, input_shape=size)
    model = onnx_export.onnx_model(network, "random", seed=3)
    from onnx import numpy_helper

    tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    weights = {step.name: {key: tensors[f"{step.name}.{key}"].reshape(shape) for key, shape in step.layer.weight_shapes(step.in_shape).items()}
               for step in network.nodes if isinstance(step, LayerStep)}
    x = np.random.default_rng(1).standard_normal((2, *network.input_shape)).astype(np.float32)
    _, steps = forward(network, x, weights, keep_outputs=True)
    return network, model, x, [steps[name] for name in network.outputs]


def _dims(info):
    return [d.dim_param or d.dim_value for d in info.type.tensor_type.shape.dim]


@pytest.mark.parametrize("name", BATCH_MODELS)
def test_onnx_batch_is_symbolic(name):
    """The input's and every output's first dimension is `batch`; onnx's reference evaluator runs the file at
    batch 2 (the spec's batch is 1) and gives the NumPy executor's outputs."""
    from onnx.reference import ReferenceEvaluator

    network, model, x, expected = _exported(name, BATCH_MODELS[name])
    assert network.batch == 1
    onnx.checker.check_model(model, full_check=True)
    assert _dims(model.graph.input[0]) == ["batch", *network.input_shape]
    assert [_dims(o) for o in model.graph.output] == [["batch", *shape] for shape in network.output_shapes]
    assert onnx_export.check_shapes(model, network) == []
    for got, want, tensor in zip(ReferenceEvaluator(model).run(None, {"input": x}), expected, network.outputs):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * float(np.abs(want).max()), err_msg=tensor)


@pytest.mark.parametrize("name", BATCH_MODELS)
def test_onnxruntime_runs_another_batch(name):
    """onnxruntime checks shapes against the file's: at batch 2 it refused a file with a fixed batch of 1."""
    ort = pytest.importorskip("onnxruntime")
    network, model, x, expected = _exported(name, BATCH_MODELS[name])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for got, want, tensor in zip(session.run(None, {"input": x}), expected, network.outputs):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()), err_msg=tensor)

