"""CvT's attention written with `torch.einsum` (a batched matrix product, one operand's last two axes swapped or not)
and its head's layer norm of the class token: conv + linear MACs and matmul MACs apart, as PyTorch counts them, in
three exporters, import and `torch:`. An einsum that is not a matrix product is refused with its equation."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from pattern_check import EXPORTERS, check_export, check_factory, export  # noqa: E402
from torch_einsum import einsum_attention  # noqa: E402

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.formats.onnx.values import OnnxError  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402

INPUT = (3, 8, 8)


@pytest.mark.parametrize("how", EXPORTERS)
def test_einsum_attention_counts_its_products_apart(how, tmp_path):
    """17 tokens (a class token and 4 × 4), 2 heads of 8: q·kᵀ and A·v cost 2 · 2 · 17 · 17 · 8 = 9,248 matmul MACs."""
    network = check_export(einsum_attention(), INPUT, how, tmp_path)
    assert analyze(network).totals.matmul_macs == 9_248


def test_einsum_attention_reads_from_its_torch_factory():
    check_factory("torch:torch_einsum:einsum_attention", {}, einsum_attention(), INPUT)


def test_an_einsum_other_than_a_matrix_product_is_refused_with_its_equation(tmp_path):
    """q and k each summed over its features, then multiplied as an outer product ("bhlk,bhtj->bhlt": the scores'
    shape, but no matrix product): refused by name, never read as one."""
    model = einsum_attention("bhlk,bhtj->bhlt")
    with pytest.raises(OnnxError, match=r"Einsum \(node '[^']*': an Einsum 'bhlk,bhtj->bhlt' other than a batched matrix product"):
        read_network(export(model, INPUT, tmp_path, "unfolded"))
