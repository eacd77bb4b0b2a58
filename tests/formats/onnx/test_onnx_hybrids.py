"""Conv-attention hybrids' patterns (tests/torch_hybrids.py, written from the papers), exported three ways and read
by `analyze`, `import` (raised to a spec that analyzes the same) and `torch:`: PyTorch's parameters, MACs (conv and
linear; products of activations apart) and output shape, or refused by name. Never a wrong number."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.formats.onnx.values import OnnxError  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402
from groupcost.sources import read_graph  # noqa: E402
from torch_hybrids import hybrid_block  # noqa: E402
from torch_named import export_onnx  # noqa: E402
from torch_reference import torch_counts_with_matmul  # noqa: E402

from test_onnx_patterns import EXPORTERS  # noqa: E402  (the three exporters, dynamo where onnxscript is installed)

INPUT = (3, 8, 8)


def _export(model, folder, how: str, shape=INPUT):
    """torch.export fails on a mask as large as the symbolic batch (EdgeNeXt's own export does): it exports a fixed batch."""
    path = folder / f"{how}.onnx"
    export_onnx(model, shape, path, dynamo=how == "dynamo", fold=how != "unfolded", opset=17 if how == "folded" else None, dynamic_batch=how != "dynamo")
    return path


def _assert_encoding(network, model, how: str, shape=INPUT) -> None:
    params, macs, matmul_macs, out_shape = torch_counts_with_matmul(model, shape)
    report = analyze(network)
    assert (report.totals.params, report.totals.macs, report.totals.matmul_macs, report.output_shape) == (params, macs, matmul_macs, out_shape), how
    projection = model.pos.token_projection
    rows = [row for row in report.rows if row.kind == "fourier_position"]
    positions = (shape[1] // 2) * (shape[2] // 2)
    assert [(row.params, row.macs) for row in rows] == [(projection.weight.numel() + projection.bias.numel(), projection.weight.numel() * positions)], how


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("layout", ["tokens", "repeated", "map"])
def test_a_projected_fourier_encoding_counts_its_projection(layout, how, tmp_path):
    """XCiT's and EdgeNeXt's encoding, built from the map's shape at run time, through a learned 1×1 conv: the conv's
    weight, bias and MACs at every position, as PyTorch counts them, whether added to the map or to its tokens.
    torch.export may compute the whole encoding into one constant: then it is refused by name."""
    model = hybrid_block(layout)
    path = _export(model, tmp_path, how)
    try:
        network = read_network(path)
    except OnnxError as exc:
        assert how == "dynamo" and "exporter computed" in str(exc), str(exc)
        return
    _assert_encoding(network, model, f"{layout} {how} analyze")
    raised = build(parse_text(raise_spec(network), "<raised>"), {})
    _assert_encoding(raised, model, f"{layout} {how} import")
    if how != "dynamo":  # the step is the projection's module
        assert [row.name for row in analyze(network).rows if row.kind == "fourier_position"] == ["pos.token_projection"]


@pytest.mark.parametrize("layout", ["tokens", "repeated", "map"])
def test_a_projected_fourier_encoding_reads_from_its_torch_factory(layout):
    _assert_encoding(read_graph("torch:torch_hybrids:hybrid_block", INPUT, {"kind": layout}), hybrid_block(layout), f"{layout} torch:")


def test_a_large_encoding_keeps_its_dims_with_its_values_unread(tmp_path):
    """On a 64 × 64 map (EdgeNeXt's second stage) the mask and the encoding hold far more values than the importer
    reads: known dims, unread values, the projection counted all the same."""
    model, shape = hybrid_block("tokens"), (3, 128, 128)
    _assert_encoding(read_network(_export(model, tmp_path, "unfolded", shape)), model, "large", shape)


@pytest.mark.parametrize("how", ["folded", "unfolded"])
def test_a_constant_as_large_as_the_batch_reshaped_per_sample_is_fixed(how, tmp_path):
    """ConstantOfShape of (batch, h·w), reshaped to (batch, 1, h, w) from the map's shape: a fixed add of one value
    (a traceback before: the reshape's target held the batch)."""
    from torch_hybrids import MaskOffset

    torch.manual_seed(0)
    model = MaskOffset().eval()
    params, macs, _, out_shape = torch_counts_with_matmul(model, INPUT)
    report = analyze(read_network(_export(model, tmp_path, how)))
    assert (report.totals.params, report.totals.macs, report.output_shape) == (params, macs, out_shape)
    assert [(row.kind, row.params) for row in report.rows if row.kind == "elementwise"] == [("elementwise", 0)]


def _assert_counts(network, model, how: str) -> None:
    params, macs, matmul_macs, out_shape = torch_counts_with_matmul(model, INPUT)
    report = analyze(network)
    assert (report.totals.params, report.totals.macs, report.totals.matmul_macs, report.output_shape) == (params, macs, matmul_macs, out_shape), how


@pytest.mark.parametrize("how", EXPORTERS)
def test_cross_covariance_attention_counts_its_products_apart(how, tmp_path):
    """XCiT's attention on a 4 × 4 map's tokens, 8 channels in 2 heads of 4: q̂·k̂ᵀ and A·v cost 2 · 16 · 4 · 4 · 2 =
    1,024 matmul MACs (as FlopCounterMode counts bmm); q, k, v stacked ahead of the batch and unbound, F.normalize
    (a norm clamped by eps), the temperature per head (2 parameters), the heads merged back channels last."""
    model = hybrid_block("xca")
    network = read_network(_export(model, tmp_path, how))
    _assert_counts(network, model, f"xca {how} analyze")
    assert analyze(network).totals.matmul_macs == 1_024
    _assert_counts(build(parse_text(raise_spec(network), "<raised>"), {}), model, f"xca {how} import")


def test_cross_covariance_attention_reads_from_its_torch_factory():
    _assert_counts(read_graph("torch:torch_hybrids:hybrid_block", INPUT, {"kind": "xca"}), hybrid_block("xca"), "xca torch:")


def test_a_projection_with_a_bias_among_convs_without_one_is_written_with_its_bias(tmp_path):
    """CoAtNet's MBConv exported unfolded: most convs have no bias, so the raised spec says `defaults: conv: {bias:
    false}`, which reaches pwconv too; the 1×1 projection's bias must be written (the import was refused)."""
    model = hybrid_block("mbconv")
    network = read_network(_export(model, tmp_path, "unfolded"))
    text = raise_spec(network)
    assert "conv: {bias: false}" in text and "bias: true" in text
    _assert_counts(build(parse_text(text, "<raised>"), {}), model, "mbconv import")
