"""The zoo's detectors against figures we did not compute: the published counts, and torch models
written here from the papers' and configurations' descriptions (tests/torch_detectors.py)."""

from __future__ import annotations

import importlib.util

import pytest

import groupcost
from groupcost.graph.network import LayerStep

# (params, MACs or None, output shapes): the published parameter counts. YOLOv8-n's summary gives
# 3,157,200 parameters; torchvision gives retinanet_resnet50_fpn 34,014,999 and "151.54 GFLOPS"
# (its figure counts multiply-accumulates, at 800×800).
PUBLISHED = {
    "yolo_c2f_n": (3_157_200, [(84, 8400)]),
    "retinanet_resnet50_fpn": (34_014_999, [(120_087, 91), (120_087, 4)]),
}


def reference(name: str):
    """The torch model written here for a zoo detector."""
    torch_detectors = pytest.importorskip("torch_detectors", exc_type=ImportError)
    return torch_detectors.YoloC2f() if name == "yolo_c2f_n" else torch_detectors.Retina()


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_figures(name):
    report = groupcost.analyze(groupcost.load(name))
    params, outputs = PUBLISHED[name]
    assert report.totals.params == params
    assert [shape for _, shape in report.outputs] == outputs


def test_retinanet_macs_are_torchvisions_published_figure():
    assert round(groupcost.analyze(groupcost.load("retinanet_resnet50_fpn")).totals.macs / 1e9, 2) == 151.54


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_macs_and_names_are_the_torch_models(name):
    torch = pytest.importorskip("torch")
    from reference_resnet import meta_counts

    network = groupcost.load(name)
    with torch.device("meta"):
        model = reference(name)
    assert meta_counts(model, network.input_shape) == (groupcost.analyze(network).totals.params, groupcost.analyze(network).totals.macs)
    ours = {key: shape for step in network.nodes if isinstance(step, LayerStep) for key, shape in step.parameter_shapes().items()}
    assert ours == {key: tuple(p.shape) for key, p in model.named_parameters()}


def test_shared_heads_count_their_parameters_once():
    """RetinaNet's two heads run on five levels: five calls each, one set of parameters each."""
    report = groupcost.analyze(groupcost.load("retinanet_resnet50_fpn"))
    heads = [row for row in report.rows if row.name.startswith("head.classification_head") and row.name.endswith(".cls_logits")]
    assert len(heads) == 5 and [row.params for row in heads] == [256 * 9 * 819 + 819, 0, 0, 0, 0]


@pytest.mark.slow
@pytest.mark.parametrize("name, size", [("yolo_c2f_n", 128), ("retinanet_resnet50_fpn", 192)])
def test_export_loads_the_torch_models_weights_and_computes_the_same(name, size, tmp_path, cli):
    """The PyTorch export takes the torch model's state_dict strictly (trained-like BN statistics)
    and gives its outputs, box decoding included, at a batch of 2."""
    torch = pytest.importorskip("torch")
    settings = ["--set", f"size={size}"] if name == "yolo_c2f_n" else ["--input", f"3,{size},{size}"]
    path = tmp_path / "model.py"
    assert cli("export", name, "--to", "pytorch", "-o", str(path), *settings).exit_code == 0
    spec = importlib.util.spec_from_file_location("exported", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    model = reference(name).eval()
    for norm in model.modules():
        if isinstance(norm, torch.nn.BatchNorm2d):
            norm.running_mean.normal_(0, 0.5)
            norm.running_var.uniform_(0.5, 2.0)
    exported = module.build().eval()
    exported.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        ours, theirs = exported(x), model(x)
    for a, b in zip(ours if isinstance(ours, tuple) else (ours,), theirs if isinstance(theirs, tuple) else (theirs,)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
