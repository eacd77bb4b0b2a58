"""BiFPN's fast normalised fusion (EfficientDet) read from every exporter's file: one learned weight per input.

The module is written here from the paper (tests/torch_fusion.py); the reference is PyTorch's own count of it
(sum(p.numel()), FlopCounterMode's conv MACs, the output shapes). TorchScript keeps the fusion's parameter as
an initializer read by Relu, Gather and ReduceSum; torch.export's optimiser folds it into scalars. Both read as
N learned numbers, and a mix by fixed numbers written the same way stays without parameters.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from groupcost.graph.analysis import analyze  # noqa: E402
from pattern_check import EXPORTERS, check_export, check_factory  # noqa: E402
from torch_fusion import bifpn  # noqa: E402

INPUT = (3, 32, 32)


@pytest.mark.parametrize("fixed", [False, True])
@pytest.mark.parametrize("how", EXPORTERS)
def test_fast_normalised_fusion_counts_its_weights_every_way(how, fixed, tmp_path):
    model = bifpn(fixed=fixed)
    weights = 3 if fixed else 2 + 3
    assert sum(p.numel() for name, p in model.named_parameters() if name.endswith("fuse.weight")) == weights
    network = check_export(model, INPUT, how, tmp_path)
    fused = [row for row in analyze(network).rows if row.type == "elementwise" and row.params]
    assert [row.params for row in fused] == [1] * weights and all(row.macs == 0 for row in fused)  # one learned number per input


@pytest.mark.parametrize("fixed", [False, True])
def test_fast_normalised_fusion_reads_from_its_torch_factory(fixed):
    check_factory("torch:torch_fusion:bifpn", {"fixed": fixed}, bifpn(fixed=fixed), INPUT)
