"""Attention whose keys and values are reduced in space (tests/torch_spatial_attention.py, written from the papers),
exported three ways and read by `analyze`, `import` (raised to a spec that analyzes the same) and `torch:`: PyTorch's
parameters, MACs (conv and linear; products of activations apart), output shape, module names and shapes."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402
from groupcost.sources import read_graph  # noqa: E402
from torch_named import export_onnx  # noqa: E402
from torch_spatial_attention import spatial_model  # noqa: E402

from test_onnx_patterns import EXPORTERS, assert_reads_as_pytorch  # noqa: E402

INPUT = (3, 16, 16)
KINDS = ["pvt"]


def export(model, folder, how: str):
    """torch.export specialises the batch of a reshape to (B, -1, C) of a map's tokens: it exports a batch of 1, as it
    does the libraries' models (their files have a fixed batch)."""
    path = folder / f"{how}.onnx"
    export_onnx(model, INPUT, path, dynamo=how == "dynamo", fold=how != "unfolded", opset=17 if how == "folded" else None, dynamic_batch=how != "dynamo")
    return path


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("kind", KINDS)
def test_reduced_attention_reads_exactly_every_way(kind, how, tmp_path):
    """Exported as the libraries export it (the fused kernel), counted by PyTorch written out (the same arithmetic)."""
    counted = spatial_model(kind, fused=False)
    network = read_network(export(spatial_model(kind), tmp_path, how))
    assert_reads_as_pytorch(network, counted, INPUT, f"{kind} {how} analyze")
    assert_reads_as_pytorch(build(parse_text(raise_spec(network), "<raised>"), {}), counted, INPUT, f"{kind} {how} import")


@pytest.mark.parametrize("kind", KINDS)
def test_reduced_attention_reads_from_its_torch_factory(kind):
    network = read_graph("torch:torch_spatial_attention:spatial_model", INPUT, {"kind": kind})
    assert_reads_as_pytorch(network, spatial_model(kind, fused=False), INPUT, f"{kind} torch:")


def test_pvt_counts_its_products_over_the_reduced_keys():
    """4 × 4 tokens of 8 channels against the 2 × 2 reduced keys and values: q·kᵀ and A·v cost 16 · 4 · 8 each, in
    each of two blocks: 1,024 matmul MACs, as FlopCounterMode counts them."""
    report = analyze(read_graph("torch:torch_spatial_attention:spatial_model", INPUT, {"kind": "pvt"}))
    assert report.totals.matmul_macs == 2 * 2 * 16 * 4 * 8
