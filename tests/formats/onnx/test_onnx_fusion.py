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

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402
from groupcost.sources import read_graph  # noqa: E402
from torch_fusion import bifpn  # noqa: E402
from torch_named import export_onnx  # noqa: E402
from torch_reference import torch_counts  # noqa: E402

from test_onnx_patterns import EXPORTERS  # noqa: E402  (the three exporters, dynamo where onnxscript is installed)

INPUT = (3, 32, 32)


def _figures(network) -> tuple:
    report = analyze(network)
    return report.totals.params, report.totals.macs, tuple(shape for _, shape in report.outputs)


def _exported(model, tmp_path, how: str):
    path = tmp_path / f"{how}.onnx"
    export_onnx(model, INPUT, path, dynamo=how == "dynamo", fold=how != "unfolded", opset=17 if how == "folded" else None, outputs=2)
    return read_network(path)


@pytest.mark.parametrize("fixed", [False, True])
@pytest.mark.parametrize("how", EXPORTERS)
def test_fast_normalised_fusion_counts_its_weights_every_way(how, fixed, tmp_path):
    model = bifpn(fixed=fixed)
    params, macs, shapes = torch_counts(model, INPUT)
    weights = 3 if fixed else 2 + 3
    assert sum(p.numel() for name, p in model.named_parameters() if name.endswith("fuse.weight")) == weights
    network = _exported(model, tmp_path, how)
    assert _figures(network) == (params, macs, shapes), how
    fused = [row for row in analyze(network).rows if row.type == "elementwise" and row.params]
    assert [row.params for row in fused] == [1] * weights and all(row.macs == 0 for row in fused)  # one learned number per input
    raised = build(parse_text(raise_spec(network), "<raised>"), {})
    assert _figures(raised) == (params, macs, shapes), f"{how} import"


@pytest.mark.parametrize("fixed", [False, True])
def test_fast_normalised_fusion_reads_from_its_torch_factory(fixed):
    model = bifpn(fixed=fixed)
    assert _figures(read_graph("torch:torch_fusion:bifpn", INPUT, {"fixed": fixed})) == torch_counts(model, INPUT)
