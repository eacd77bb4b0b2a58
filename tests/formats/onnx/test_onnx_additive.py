"""SwiftFormer's additive attention: its global query repeated over the tokens (`Tile` of an axis of size 1) reads as a
`broadcast`, the block counted as PyTorch counts it in three exporters, import and `torch:`. A tile that copies the
tokens themselves stays refused by name."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from test_onnx_patterns import EXPORTERS  # noqa: E402  (the three exporters, dynamo where onnxscript is installed)
from torch_additive import additive_attention  # noqa: E402
from torch_named import export_onnx  # noqa: E402
from torch_reference import torch_counts_with_matmul  # noqa: E402

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.formats.onnx.values import OnnxError  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402
from groupcost.sources import read_graph  # noqa: E402

INPUT = (3, 8, 8)


def _export(model, folder, how: str):
    path = folder / f"{how}.onnx"
    export_onnx(model, INPUT, path, dynamo=how == "dynamo", fold=how != "unfolded", opset=17 if how == "folded" else None)
    return path


def _assert_counts(network, model, how: str) -> None:
    params, macs, matmul_macs, out_shape = torch_counts_with_matmul(model, INPUT)
    report = analyze(network)
    assert (report.totals.params, report.totals.macs, report.totals.matmul_macs, report.output_shape) == (params, macs, matmul_macs, out_shape), how


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_global_query_repeated_over_the_tokens_is_a_broadcast(how, tmp_path):
    model = additive_attention()
    network = read_network(_export(model, tmp_path, how))
    _assert_counts(network, model, f"{how} analyze")
    _assert_counts(build(parse_text(raise_spec(network), "<raised>"), {}), model, f"{how} import")


def test_additive_attention_reads_from_its_torch_factory():
    _assert_counts(read_graph("torch:torch_additive:additive_attention", INPUT, {}), additive_attention(), "torch:")


def test_a_tile_that_copies_tokens_is_refused_by_name(tmp_path):
    with pytest.raises(OnnxError, match=r"Tile \(node '[^']*': a tile of an activation by \[1, 2, 1\]"):
        read_network(_export(additive_attention(copies=2), tmp_path, "unfolded"))
