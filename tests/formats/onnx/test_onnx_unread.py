"""A map permuted to N×C×H×W and straight back to tokens (Hugging Face's PVTv2 head): the importer's permute made for
the first move is read by nothing once the second undoes it, and is dropped, so the network imports to a spec (it was
refused as a step computed and never used); counts as PyTorch's in three exporters, analyze and import."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from test_onnx_patterns import EXPORTERS  # noqa: E402  (the three exporters, dynamo where onnxscript is installed)
from torch_named import export_onnx  # noqa: E402
from torch_reference import torch_counts_with_matmul  # noqa: E402
from torch_unread import map_then_tokens  # noqa: E402

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402

INPUT = (3, 8, 8)


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_permute_undone_at_once_is_dropped_and_the_network_imports(how, tmp_path):
    model = map_then_tokens()
    path = tmp_path / f"{how}.onnx"
    export_onnx(model, INPUT, path, dynamo=how == "dynamo", fold=how != "unfolded", opset=17 if how == "folded" else None)
    network = read_network(path)
    params, macs, matmul_macs, out_shape = torch_counts_with_matmul(model, INPUT)
    read = {name for step in network.nodes for name in step.inputs} | set(network.outputs)
    assert all(step.name in read for step in network.nodes), how
    for imported in (network, build(parse_text(raise_spec(network), "<raised>"), {})):
        report = analyze(imported)
        assert (report.totals.params, report.totals.macs, report.totals.matmul_macs, report.output_shape) == (params, macs, matmul_macs, out_shape), how
