"""Tensors stacked ahead of the batch and summed over that axis (`torch.stack(levels).sum(0)`, the FPN decoder of
segmentation_models_pytorch) read as one `add`, from every exporter's file.

The module is Panoptic FPN's semantic branch, written here from the paper (tests/torch_panoptic.py); the
reference is PyTorch's own count of it. A stack reduced otherwise (its maximum) stays refused by name.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from groupcost.errors import GroupcostError  # noqa: E402
from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402
from groupcost.sources import read_graph  # noqa: E402
from torch_named import export_onnx  # noqa: E402
from torch_panoptic import semantic_branch  # noqa: E402
from torch_reference import torch_counts  # noqa: E402

from test_onnx_patterns import EXPORTERS  # noqa: E402  (the three exporters, dynamo where onnxscript is installed)

INPUT = (3, 64, 64)


def _figures(network) -> tuple:
    report = analyze(network)
    return report.totals.params, report.totals.macs, tuple(shape for _, shape in report.outputs)


def _export(model, tmp_path, how: str):
    path = tmp_path / f"{how}.onnx"
    export_onnx(model, INPUT, path, dynamo=how == "dynamo", fold=how != "unfolded", opset=17 if how == "folded" else None)
    return path


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_sum_over_a_stack_ahead_of_the_batch_reads_as_one_add(how, tmp_path):
    model = semantic_branch()
    params, macs, shape = torch_counts(model, INPUT)
    network = read_network(_export(model, tmp_path, how))
    assert _figures(network) == (params, macs, (shape,)), how
    adds = [row for row in analyze(network).rows if row.type == "add"]
    assert len(adds) == 1 and adds[0].out_shape == (8, 16, 16)  # the three levels at 1/4, summed once
    assert _figures(build(parse_text(raise_spec(network), "<raised>"), {})) == (params, macs, (shape,)), f"{how} import"


def test_a_sum_over_a_stack_reads_from_its_torch_factory():
    params, macs, shape = torch_counts(semantic_branch(), INPUT)
    assert _figures(read_graph("torch:torch_panoptic:semantic_branch", INPUT, {})) == (params, macs, (shape,))


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_stack_ahead_of_the_batch_reduced_otherwise_stays_refused(how, tmp_path):
    with pytest.raises(GroupcostError, match="an unsqueeze before the batch"):
        read_network(_export(semantic_branch(merge="max"), tmp_path, how))
