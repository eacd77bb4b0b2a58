"""PyTorch as the reference: parameter counts, output shapes and MACs (FlopCounterMode / 2).

Skipped where torch is not installed; CI installs the CPU wheel (`pip install torch==2.13.0`).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import groupcost  # noqa: E402
from conftest import executable  # noqa: E402

from reference_resnet import Bottleneck, ResNet, meta_counts  # noqa: E402
from torch_reference import network_module, torch_counts  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("name", groupcost.zoo_names())
def test_zoo_model_matches_pytorch(name):
    """The same architecture built in torch: equal params, MACs, and every layer's output shape."""
    net = executable(name)
    model = network_module(net)
    seen = {}
    for module in model.modules():
        step = getattr(module, "groupcost_step", None)
        if step is not None:
            module.register_forward_hook(lambda m, i, o, step=step: None if step.name in seen else seen.__setitem__(step.name, tuple(o.shape[1:])))  # a shared module: its first call
    params, macs, out_shape = torch_counts(model, net.input_shape)
    report = groupcost.analyze(net)
    outputs = net.output_shapes if len(net.outputs) > 1 else net.output_shape
    assert (report.totals.params, report.totals.macs, outputs) == (params, macs, out_shape)
    expected = {s.name: s.out_shape for s in net.steps() if getattr(s, "shares", None) is None}  # layers and merges; a shared module's calls run its owner's
    assert seen == expected


@pytest.mark.parametrize("groups", [1, 2, 4, 8, 16, 32, 64])
def test_resnext_cardinality_sweep_matches_torchvision(groups):
    """--set G=g gives torchvision's ResNet(Bottleneck, [3, 4, 6, 3], groups=g, width_per_group=4), as written from the papers."""
    with torch.device("meta"):
        reference = ResNet(Bottleneck, [3, 4, 6, 3], groups=groups, width_per_group=4)
    params, macs = meta_counts(reference)
    totals = groupcost.analyze(groupcost.load("resnext50_32x4d", G=groups)).totals
    assert (totals.params, totals.macs) == (params, macs)
