"""Learned relative position tables (LeViT's offsets, Swin's window table) and constants the exporters fold.

Each block (tests/torch_tables.py, written from the papers) is exported three ways and read by `analyze`,
`import` and `torch:`; every reading gives PyTorch's parameter count (each table once), MACs (conv, and the
products of activations apart) and output shape, or is refused by name where the exporter folded the
table into a constant whose parameters the file no longer tells. Never a wrong number.
"""

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
from torch_named import export_onnx  # noqa: E402
from torch_reference import torch_counts_with_matmul  # noqa: E402
from torch_tables import table_block  # noqa: E402

from test_onnx_patterns import EXPORTERS  # noqa: E402  (the three exporters, dynamo where onnxscript is installed)

INPUT = (3, 8, 8)
READ_EXACTLY = {("offsets", "folded"), ("offsets", "unfolded"), ("window", "unfolded")}
"""The exports that keep the table and its Gather; the others fold the gathered table into a constant."""

TABLES = {"OffsetBiasAttention": "attn.attention_biases", "WindowBiasAttention": "attn.rel_pos.relative_position_bias_table"}


def _export(model, folder, how: str):
    path = folder / f"{how}.onnx"
    export_onnx(model, INPUT, path, dynamo=how == "dynamo", fold=how != "unfolded", opset=17 if how == "folded" else None)
    return path


def _assert_counts(network, model, how: str) -> None:
    params, macs, matmul_macs, out_shape = torch_counts_with_matmul(model, INPUT)
    report = analyze(network)
    assert (report.totals.params, report.totals.macs, report.totals.matmul_macs, report.output_shape) == (params, macs, matmul_macs, out_shape), how
    table = dict(model.named_parameters())[TABLES[model.attn.__class__.__name__]]
    rows = [row for row in report.rows if row.kind == "bias_table"]
    assert [row.params for row in rows] == [table.numel()], how
    if "dynamo" not in how:  # the step is named after the table's parameter (torch.export's optimiser may rename it)
        assert rows[0].name == TABLES[model.attn.__class__.__name__], how


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("kind", ["offsets", "window"])
def test_a_gathered_table_counts_once_or_is_refused(kind, how, tmp_path):
    model = table_block(kind)
    path = _export(model, tmp_path, how)
    if (kind, how) not in READ_EXACTLY:
        # the export may hold the table gathered (then it reads exactly) or folded into a constant (refused by name)
        try:
            network = read_network(path)
        except OnnxError as exc:
            assert "exporter computed" in str(exc) and "do_constant_folding=False" in str(exc), str(exc)
            return
    else:
        network = read_network(path)
    _assert_counts(network, model, f"{kind} {how} analyze")
    raised = build(parse_text(raise_spec(network), "<raised>"), {})
    _assert_counts(raised, model, f"{kind} {how} import")


@pytest.mark.parametrize("kind", ["offsets", "window"])
def test_a_gathered_table_reads_from_its_torch_factory(kind):
    _assert_counts(read_graph("torch:torch_tables:table_block", INPUT, {"kind": kind}), table_block(kind), f"{kind} torch:")


def test_a_folded_table_is_refused_by_name(cli, tmp_path):
    """TorchScript's constant folding writes Swin's gathered, viewed, permuted table as one `onnx::Add_N` constant of
    heads × N × N: its size is not the table's, and nothing in the file says it was learned."""
    path = _export(table_block("window"), tmp_path, "folded")
    result = cli("analyze", path)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"{path}: error: ") and "onnx::Add" in result.output and "do_constant_folding=False" in result.output
    assert "Traceback" not in result.output


class _FoldedParameters(torch.nn.Module):
    """A learned bias and a layer scale per channel, viewed to C × 1 × 1 at run time (ConvNeXt's gamma), and a learned
    positional table permuted from channels last: the folding exporters compute new constants from each."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, width, 3, padding=1)
        self.gamma = torch.nn.Parameter(torch.randn(width))
        self.beta = torch.nn.Parameter(torch.randn(width))
        self.pos = torch.nn.Parameter(torch.randn(1, 8, 8, width))
        self.head = torch.nn.Conv2d(width, width, 1)

    def forward(self, x):
        y = self.conv(x) * self.gamma.view(-1, 1, 1) + self.beta.view(1, -1, 1, 1)
        return self.head(y + self.pos.permute(0, 3, 1, 2))


@pytest.mark.parametrize("how", EXPORTERS)
def test_parameters_viewed_at_run_time_count_or_are_refused(how, tmp_path):
    torch.manual_seed(0)
    model = _FoldedParameters().eval()
    path = _export(model, tmp_path, how)
    params, macs, _, out_shape = torch_counts_with_matmul(model, INPUT)
    try:
        report = analyze(read_network(path))
    except OnnxError as exc:
        assert how != "unfolded" and "exporter computed" in str(exc), str(exc)
        return
    assert (report.totals.params, report.totals.macs, report.output_shape) == (params, macs, out_shape), how


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_positional_encoding_computed_at_run_time_is_a_fixed_constant(how, tmp_path):
    """DETR's sine encoding (CumSum of a mask, a power of the temperature, Sin and Cos, Stack, Concat) added to a
    feature map: a fixed `elementwise` add, 0 parameters, the map's shape. Unfolded it is evaluated; the folding
    exporters turn it into a constant they computed, which may as well hold a parameter: read, or refused by name."""
    model = table_block("sine")
    path = _export(model, tmp_path, how)
    params, macs, _, out_shape = torch_counts_with_matmul(model, INPUT)
    try:
        network = read_network(path)
    except OnnxError as exc:
        assert how != "unfolded" and "exporter computed" in str(exc), str(exc)
        return
    for readable in (network, build(parse_text(raise_spec(network), "<raised>"), {})):
        report = analyze(readable)
        assert (report.totals.params, report.totals.macs, report.output_shape) == (params, macs, out_shape), how
        added = [row for row in report.rows if row.kind == "elementwise"]
        assert [(row.params, row.out_shape) for row in added] == [(0, (8, 4, 4))], how


def test_a_positional_encoding_reads_from_its_torch_factory():
    report = analyze(read_graph("torch:torch_tables:table_block", INPUT, {"kind": "sine"}))
    params, macs, _, out_shape = torch_counts_with_matmul(table_block("sine"), INPUT)
    assert (report.totals.params, report.totals.macs, report.output_shape) == (params, macs, out_shape)


@pytest.mark.parametrize("kind", ["offsets", "window"])
def test_a_fixed_batch_export_reads_its_reshapes(kind, tmp_path):
    """Exported with a fixed batch, `reshape(n, 3, heads, -1, h * w)` has the batch as the number 1 beside a -1
    (EfficientFormer V2's attention, timm's exports): the -1 is solved per sample."""
    model = table_block(kind)
    path = tmp_path / "fixed.onnx"
    export_onnx(model, INPUT, path, fold=False, dynamic_batch=False)
    _assert_counts(read_network(path), model, f"{kind} fixed batch")


@pytest.mark.parametrize("how", EXPORTERS)
def test_positions_picked_by_a_constant_index_are_slices(how, tmp_path):
    """`y[:, :, 0]` and `y[:, 2]` (a Gather of an activation by one number; torch.export's select): a `slice` and a
    `reshape` without the axis, read by the layers after them as PyTorch runs them."""
    model = table_block("selected")
    network = read_network(_export(model, tmp_path, how))
    params, macs, _, out_shape = torch_counts_with_matmul(model, INPUT)
    for readable in (network, build(parse_text(raise_spec(network), "<raised>"), {}), read_graph("torch:torch_tables:table_block", INPUT, {"kind": "selected"})):
        report = analyze(readable)
        assert (report.totals.params, report.totals.macs, report.output_shape) == (params, macs, out_shape), how
        assert [row.out_shape for row in report.rows if row.kind == "slice"] == [(8, 1, 4), (1, 4, 4)], how
        assert {row.name: row.out_shape for row in report.rows}["row"] == (8, 4), how


def test_a_large_positional_encoding_keeps_its_dims_with_its_values_unread(tmp_path):
    """On a 40 × 40 map the mask of ones, its cumulative sums and the encoding hold 1,600 values and more, past what
    the importer reads: known dims, unread values, still a fixed add of 0 parameters."""
    model, shape = table_block("sine"), (3, 80, 80)
    path = tmp_path / "large.onnx"
    export_onnx(model, shape, path, fold=False)
    params, macs, _, out_shape = torch_counts_with_matmul(model, shape)
    report = analyze(read_network(path))
    assert (report.totals.params, report.totals.macs, report.output_shape) == (params, macs, out_shape)
    assert [(row.params, row.out_shape) for row in report.rows if row.kind == "elementwise"] == [(0, (8, 40, 40))]
