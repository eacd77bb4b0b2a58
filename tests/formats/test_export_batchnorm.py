"""BatchNorm as torchvision builds it, in the zoo's PyTorch and ONNX exports.

The reference is BRIEF.md's "Facts for 0.3" table (torchvision 0.29's norm_layer arguments),
held here as data: per model, the (eps, momentum) of the backbone's BatchNorm; the segmentation
heads (LRASPPHead, DeepLabHead) build plain nn.BatchNorm2d, torch's defaults.
"""

from __future__ import annotations

import pytest

import groupcost
from groupcost.formats.onnx import export as onnx_export
from groupcost.formats.torch import export as pytorch_export

torch = pytest.importorskip("torch")

TORCH_DEFAULT = (1e-5, 0.1)
TORCHVISION_BN = {  # model: (eps, momentum) of its BatchNorm, and the module prefix of a head with torch's defaults
    "mobilenet_v3_large": ((1e-3, 0.01), None),
    "mobilenet_v3_small": ((1e-3, 0.01), None),
    "lraspp_mobilenet_v3_large": ((1e-3, 0.01), "classifier."),
    "deeplabv3_mobilenet_v3_large": ((1e-3, 0.01), "classifier."),
    "efficientnet_v2_s": ((1e-3, 0.1), None),
    "s3d": ((1e-3, 0.001), None),
}


def _expected(model: str, name: str) -> tuple[float, float]:
    values, head = TORCHVISION_BN[model]
    return TORCH_DEFAULT if head is not None and name.startswith(head) else values


def _modules(source: str):
    with torch.device("meta"):
        return pytorch_export.load_module(source)["build"]().eval()


@pytest.mark.parametrize("form", ["graph", "structured"])
@pytest.mark.parametrize("model", sorted(TORCHVISION_BN))
def test_pytorch_batchnorm_is_torchvisions(model, form):
    """Every BatchNorm module of the written file has the table's eps and momentum (the head's its own)."""
    if form == "graph":
        source = pytorch_export.pytorch_source(groupcost.load(model))
    else:
        source, _ = pytorch_export.export_pytorch(groupcost.load_document(model))
    norms = [(n, m) for n, m in _modules(source).named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms
    for name, module in norms:
        assert (module.eps, module.momentum) == pytest.approx(_expected(model, name)), name
    if TORCHVISION_BN[model][1] is not None:  # the head is there, with torch's defaults
        assert any(n.startswith(TORCHVISION_BN[model][1]) for n, _ in norms)


@pytest.mark.parametrize("model", sorted(TORCHVISION_BN))
def test_onnx_batchnorm_is_torchvisions(model):
    """BatchNormalization's epsilon is the table's; its momentum (the old statistics' share) is 1 − torch's."""
    onnx = pytest.importorskip("onnx")
    graph = onnx_export.onnx_model(groupcost.load(model), weights="zeros").graph
    norms = [n for n in graph.node if n.op_type == "BatchNormalization"]
    assert norms
    for node in norms:
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        eps, momentum = _expected(model, node.name)
        assert attributes["epsilon"] == pytest.approx(eps, rel=1e-6), node.name
        assert attributes.get("momentum", 0.9) == pytest.approx(1.0 - momentum, rel=1e-6), node.name


@pytest.mark.parametrize("form", ["graph", "structured"])
def test_convnext_layernorm_eps_is_torchvisions(form):
    """ConvNeXt's LayerNorm2d and classifier LayerNorm: eps 1e-6 (partial(LayerNorm2d, eps=1e-6))."""
    network = groupcost.load("convnext_tiny")
    source = pytorch_export.pytorch_source(network) if form == "graph" else pytorch_export.export_pytorch(groupcost.load_document("convnext_tiny"))[0]
    norms = [m for m in _modules(source).modules() if hasattr(m, "eps") and "Norm" in type(m).__name__]
    assert len(norms) == 23 and {m.eps for m in norms} == {1e-6}  # stem, 3 downsamples, 18 blocks, classifier
    onnx = pytest.importorskip("onnx")
    model = onnx_export.onnx_model(network, weights="zeros")
    epsilons = [onnx.helper.get_attribute_value(a) for n in model.graph.node for a in n.attribute if a.name == "epsilon"]
    assert epsilons and epsilons == pytest.approx([1e-6] * len(epsilons))


def test_numpy_executor_equals_the_export_with_trained_statistics():
    """mobilenet_v3_small's structured export with trained-like running statistics, against the NumPy
    executor (which runs fresh statistics) given the same BatchNorm folded by hand with the table's eps:
    γ' = γ·√(1 + eps)/√(var + eps), β' = β − γ·mean/√(var + eps)."""
    np = pytest.importorskip("numpy")
    from torch_named import trained_batchnorm

    from groupcost.run.execute import forward, init_weights

    network = groupcost.load("mobilenet_v3_small")
    source, fallback = pytorch_export.export_pytorch(groupcost.load_document("mobilenet_v3_small"))
    assert fallback is None
    weights = init_weights(network, 3, "float32")
    model = pytorch_export.load_module(source)["build"]().eval()
    state = {f"{layer}.{key}": torch.from_numpy(value) for layer, tensors in weights.items() for key, value in tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in missing)
    trained_batchnorm(model, seed=5)
    eps = TORCHVISION_BN["mobilenet_v3_small"][0][0]
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            mean, var = module.running_mean.double().numpy(), module.running_var.double().numpy()
            gamma, beta = module.weight.detach().double().numpy(), module.bias.detach().double().numpy()
            weights[name] = {"weight": (gamma * np.sqrt(1 + eps) / np.sqrt(var + eps)).astype(np.float32),
                             "bias": (beta - gamma * mean / np.sqrt(var + eps)).astype(np.float32)}
    x = np.random.default_rng(1).standard_normal((2, *network.input_shape)).astype(np.float32)
    expected, _ = forward(network, x, weights)
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    # float32 rounding over 52 layers stays near 1e-5 of the logits' range; torch's eps 1e-5 moves them by 2e-2 of it
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
