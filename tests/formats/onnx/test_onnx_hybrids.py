"""Conv-attention hybrids' patterns (tests/torch_hybrids.py, written from the papers), exported three ways and read
by `analyze`, `import` (raised to a spec that analyzes the same) and `torch:`: PyTorch's parameters, MACs (conv and
linear; products of activations apart) and output shape, or refused by name. Never a wrong number."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402
from pattern_check import EXPORTERS, Expected, Refusal, assert_reads_as_pytorch, check_export, check_factory, export  # noqa: E402
from torch_hybrids import hybrid_block  # noqa: E402

INPUT = (3, 8, 8)


def _check_export(model, folder, how: str, expected: Expected | None = None, shape=INPUT, refused: Refusal | None = None):
    """torch.export fails on a mask as large as the symbolic batch (EdgeNeXt's own export does): it exports a fixed batch."""
    return check_export(model, shape, how, folder, expected or Expected(), refused=refused, dynamic_batch=how != "dynamo")


def _the_projection_at_every_position(report, graph, model, label: str) -> None:
    """One `fourier_position` step: the projection's weight and bias, and its MACs at every position of the half-size map."""
    projection = model.pos.token_projection
    rows = [row for row in report.rows if row.kind == "fourier_position"]
    positions = (graph.input_shape[1] // 2) * (graph.input_shape[2] // 2)
    assert [(row.params, row.macs) for row in rows] == [(projection.weight.numel() + projection.bias.numel(), projection.weight.numel() * positions)], label


ENCODING = Expected(shaped=lambda name, module: name != "pos.token_projection", also=_the_projection_at_every_position)
"""The projection's step is the whole encoding, on the tokens: its output is not the projection's map."""


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("layout", ["tokens", "repeated", "map"])
def test_a_projected_fourier_encoding_counts_its_projection(layout, how, tmp_path):
    """XCiT's and EdgeNeXt's encoding, built from the map's shape at run time, through a learned 1×1 conv: the conv's
    weight, bias and MACs at every position, as PyTorch counts them, whether added to the map or to its tokens.
    torch.export may compute the whole encoding into one constant: then it is refused by name."""
    network = _check_export(hybrid_block(layout), tmp_path, how, ENCODING, refused=Refusal(("exporter computed",)) if how == "dynamo" else None)
    if network is not None and how != "dynamo":  # the step is the projection's module
        assert [row.name for row in analyze(network).rows if row.kind == "fourier_position"] == ["pos.token_projection"]


@pytest.mark.parametrize("layout", ["tokens", "repeated", "map"])
def test_a_projected_fourier_encoding_reads_from_its_torch_factory(layout):
    check_factory("torch:torch_hybrids:hybrid_block", {"kind": layout}, hybrid_block(layout), INPUT, ENCODING)


def test_a_large_encoding_keeps_its_dims_with_its_values_unread(tmp_path):
    """On a 64 × 64 map (EdgeNeXt's second stage) the mask and the encoding hold far more values than the importer
    reads: known dims, unread values, the projection counted all the same."""
    _check_export(hybrid_block("tokens"), tmp_path, "unfolded", ENCODING, shape=(3, 128, 128))


@pytest.mark.parametrize("layout", ["tokens", "map"])
def test_a_large_encoding_folded_by_torch_export_counts_its_projection(layout, tmp_path):
    """torch.export with a fixed batch computes a large map's grid `pos / dim_t` into a constant of its own and keeps
    the rest: that grid's every other channel through Sin and Cos (a strided slice of a computed constant, whose
    readers say it is an encoding's grid), then the projection. Read as PyTorch counts it, as the other files are."""
    _check_export(hybrid_block(layout), tmp_path, "dynamo", ENCODING, shape=(3, 128, 128))


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_projection_with_an_untrained_bias_counts_its_bias(how, tmp_path):
    """Untrained, the projection's bias and the stem's are zeros of one size: TorchScript writes one initializer that
    both read (the projection, the later reader, through an Identity), torch.export removes both; the encoding is
    still recognised, its bias counted (it was refused as a conv of a constant)."""
    model = hybrid_block("tokens")
    with torch.no_grad():
        model.pos.token_projection.bias.zero_()
        model.conv.bias.zero_()
    _check_export(model, tmp_path, how, ENCODING, shape=(3, 128, 128) if how == "dynamo" else INPUT)


@pytest.mark.parametrize("how", ["folded", "unfolded"])
def test_a_constant_as_large_as_the_batch_reshaped_per_sample_is_fixed(how, tmp_path):
    """ConstantOfShape of (batch, h·w), reshaped to (batch, 1, h, w) from the map's shape: a fixed add of one value
    (a traceback before: the reshape's target held the batch)."""
    from torch_hybrids import MaskOffset

    def one_fixed_add(report, graph, model, label: str) -> None:
        assert [(row.kind, row.params) for row in report.rows if row.kind == "elementwise"] == [("elementwise", 0)], label

    torch.manual_seed(0)
    _check_export(MaskOffset().eval(), tmp_path, how, Expected(also=one_fixed_add))


@pytest.mark.parametrize("how", EXPORTERS)
def test_cross_covariance_attention_counts_its_products_apart(how, tmp_path):
    """XCiT's attention on a 4 × 4 map's tokens, 8 channels in 2 heads of 4: q̂·k̂ᵀ and A·v cost 2 · 16 · 4 · 4 · 2 =
    1,024 matmul MACs (as FlopCounterMode counts bmm); q, k, v stacked ahead of the batch and unbound, F.normalize
    (a norm clamped by eps), the temperature per head (2 parameters), the heads merged back channels last."""
    network = _check_export(hybrid_block("xca"), tmp_path, how)
    assert analyze(network).totals.matmul_macs == 1_024


def test_cross_covariance_attention_reads_from_its_torch_factory():
    check_factory("torch:torch_hybrids:hybrid_block", {"kind": "xca"}, hybrid_block("xca"), INPUT)


def test_a_projection_with_a_bias_among_convs_without_one_is_written_with_its_bias(tmp_path):
    """CoAtNet's MBConv exported unfolded: most convs have no bias, so the raised spec says `defaults: conv: {bias:
    false}`, which reaches pwconv too; the 1×1 projection's bias must be written (the import was refused)."""
    model = hybrid_block("mbconv")
    text = raise_spec(read_network(export(model, INPUT, tmp_path, "unfolded")))
    assert "conv: {bias: false}" in text and "bias: true" in text
    assert_reads_as_pytorch(build(parse_text(text, "<raised>"), {}), model, INPUT, "unfolded", "mbconv import")
