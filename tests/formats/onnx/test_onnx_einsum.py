"""CvT's attention written with `torch.einsum` (a batched matrix product, one operand's last two axes swapped or not)
and its head's layer norm of the class token: conv + linear MACs and matmul MACs apart, as PyTorch counts them, in
three exporters, import and `torch:`. An einsum that is not a matrix product is refused with its equation."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from test_onnx_patterns import EXPORTERS  # noqa: E402  (the three exporters, dynamo where onnxscript is installed)
from torch_einsum import einsum_attention  # noqa: E402
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
def test_einsum_attention_counts_its_products_apart(how, tmp_path):
    """17 tokens (a class token and 4 × 4), 2 heads of 8: q·kᵀ and A·v cost 2 · 2 · 17 · 17 · 8 = 9,248 matmul MACs."""
    model = einsum_attention()
    network = read_network(_export(model, tmp_path, how))
    _assert_counts(network, model, f"{how} analyze")
    assert analyze(network).totals.matmul_macs == 9_248
    _assert_counts(build(parse_text(raise_spec(network), "<raised>"), {}), model, f"{how} import")


def test_einsum_attention_reads_from_its_torch_factory():
    _assert_counts(read_graph("torch:torch_einsum:einsum_attention", INPUT, {}), einsum_attention(), "torch:")


def test_an_einsum_other_than_a_matrix_product_is_refused_with_its_equation(tmp_path):
    """q and k each summed over its features, then multiplied as an outer product ("bhlk,bhtj->bhlt": the scores'
    shape, but no matrix product): refused by name, never read as one."""
    model = einsum_attention("bhlk,bhtj->bhlt")
    with pytest.raises(OnnxError, match=r"Einsum \(node '[^']*': an Einsum 'bhlk,bhtj->bhlt' other than a batched matrix product"):
        read_network(_export(model, tmp_path, "unfolded"))
