"""Learned relative position tables (LeViT's offsets, Swin's window table) and constants the exporters fold.

Each block (tests/torch_tables.py, written from the papers) is exported three ways and read by `analyze`,
`import` and `torch:`; every reading gives PyTorch's parameter count (each table once), MACs (conv, and the
products of activations apart) and output shape, or is refused by name where the exporter folded the
table into a constant whose values do not tell its parameters. Never a wrong number.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from pattern_check import EXPORTERS, Expected, Refusal, check_export, check_factory, export  # noqa: E402
from torch_tables import table_block  # noqa: E402

INPUT = (3, 8, 8)
FOLDED_AWAY = {("offsets", "dynamo"), ("window", "folded"), ("window", "dynamo")}
"""The exports that compute the gathered table into one constant (TorchScript keeps LeViT's Gather): the table is read
back from its values, and named by the module that adds it and its kind, the parameter's own name gone from the file."""

TABLES = {"OffsetBiasAttention": "attn.attention_biases", "WindowBiasAttention": "attn.rel_pos.relative_position_bias_table",
          "ShiftedWindowAttention": "attn.rel_pos.relative_position_bias_table"}


def _table_once(report, graph, model, label: str) -> None:
    """The table counted once, in one `bias_table` step named after the table's parameter, or where the exporter folded
    it, after the module that adds it."""
    table = dict(model.named_parameters())[TABLES[model.attn.__class__.__name__]]
    kind = "offsets" if model.attn.__class__.__name__ == "OffsetBiasAttention" else "window"
    rows = [row for row in report.rows if row.kind == "bias_table"]
    assert [row.params for row in rows] == [table.numel()], label
    assert rows[0].name == ("attn.bias_table" if (kind, label.split()[0]) in FOLDED_AWAY else TABLES[model.attn.__class__.__name__]), label


def _folded_table_owner(model, input_shape, how: str) -> set[str]:
    """The module holding a table the exporter folded, which no row names (the file no longer holds its parameter)."""
    kind = "offsets" if model.attn.__class__.__name__ == "OffsetBiasAttention" else "window"
    return {TABLES[model.attn.__class__.__name__].rsplit(".", 1)[0]} if (kind, how) in FOLDED_AWAY else set()


ONE_TABLE = Expected(also=_table_once, unnamed=_folded_table_owner)


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("kind", ["offsets", "window"])
def test_a_gathered_table_counts_once_gathered_or_folded(kind, how, tmp_path):
    """The export holds the table gathered by its index, or computed into one constant of heads × N × N (Swin's in
    TorchScript's constant folding, both in torch.export's optimiser): read back from its values, the table of
    (2·4 − 1)² signed offsets per head (Swin) or 4 · 4 absolute ones (LeViT), as PyTorch counts it."""
    check_export(table_block(kind), INPUT, how, tmp_path, ONE_TABLE, key=("table_block", kind))


@pytest.mark.parametrize("kind", ["offsets", "window", "shifted"])
def test_a_gathered_table_reads_from_its_torch_factory(kind):
    check_factory("torch:torch_tables:table_block", {"kind": kind}, table_block(kind), INPUT, ONE_TABLE)


ZEROS, SMOOTH = "all equal (an untrained table of zeros)", "vary smoothly with the offset"


# TorchScript keeps the MLP's Gemm on its constant offsets (refused as an operator on constants); torch.export folds it
@pytest.mark.parametrize(("kind", "says", "how"), [("zeros", ZEROS, "folded"), ("zeros", ZEROS, "dynamo"), ("mlp", SMOOTH, "dynamo")])
def test_a_folded_bias_that_does_not_tell_its_parameters_is_refused_by_name(cli, kind, says, how, tmp_path):
    """A table of zeros folded (an untrained Swin; LeViT and EfficientFormer initialise theirs so) fits a table of any
    size, and Swin V2's bias computed by an MLP from the offsets (torch.export folds the MLP) has the MLP's parameters,
    not a table's: both refused by name, the constant, why and the exports that keep the parameters."""
    path = export(table_block(kind), INPUT, tmp_path, how, key=("table_block", kind))
    result = cli("analyze", path)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"{path}: error: ") and "Traceback" not in result.output
    assert all(part in result.output for part in ("the exporter computed", says, "do_constant_folding=False")), result.output


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_fixed_attention_mask_has_no_parameters(how, tmp_path):
    """Swin's mask of a shifted window (0 and −100), a buffer added to the logits: torch.export writes it under its module
    path (`attn.attn_mask`) as it writes a parameter, yet it counts none (it once counted 16 × 16)."""
    check_export(table_block("shifted"), INPUT, how, tmp_path, ONE_TABLE)


def _offsets_of(side: int):
    """(Δy, Δx) of every pair of positions of a side × side window, row-major, as two side² × side² arrays."""
    import numpy as np

    y, x = np.divmod(np.arange(side * side), side)
    return y[:, None] - y[None, :], x[:, None] - x[None, :]


def test_a_folded_bias_is_read_only_as_a_learned_table():
    """Swin's table gathered (a table of independent draws) reads back as its (2·7 − 1)² entries; the same bias as a
    function of the distance |Δy| + |Δx| (13 values for 49 absolute offsets) and a bias of independent draws per pair
    (no table at all) are refused, saying why."""
    import numpy as np

    from groupcost.formats.onnx.relpos import table_entries

    rng = np.random.default_rng(0)
    dy, dx = _offsets_of(7)
    table = rng.normal(0, 0.02, (2, 13, 13)).astype(np.float32)
    assert table_entries(table[:, dy + 6, dx + 6].ravel(), 2, 49) == (169, "")
    distance = np.broadcast_to((np.abs(dy) + np.abs(dx)).astype(np.float32), (2, 49, 49))
    assert "repeats values" in table_entries(distance.ravel(), 2, 49)[1]
    assert "not a table" in table_entries(rng.normal(size=2 * 49 * 49).astype(np.float32), 2, 49)[1]


def test_an_untrained_table_gathered_reads_exactly(tmp_path):
    """Unfolded, the table of zeros is a parameter gathered by its index: counted as any table is."""
    check_export(table_block("zeros"), INPUT, "unfolded", tmp_path, ONE_TABLE)


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
    refused = None if how == "unfolded" else Refusal(("exporter computed",))
    check_export(_FoldedParameters().eval(), INPUT, how, tmp_path, refused=refused)


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_positional_encoding_computed_at_run_time_is_a_fixed_constant(how, tmp_path):
    """DETR's sine encoding (CumSum of a mask, a power of the temperature, Sin and Cos, Stack, Concat) added to a
    feature map: a fixed `elementwise` add, 0 parameters, the map's shape. Unfolded it is evaluated; the folding
    exporters turn it into a constant they computed, which may as well hold a parameter: read, or refused by name."""
    refused = None if how == "unfolded" else Refusal(("exporter computed",))
    check_export(table_block("sine"), INPUT, how, tmp_path, FIXED_ADD, refused=refused)


def _a_fixed_add(report, graph, model, label: str) -> None:
    """The encoding a fixed `elementwise` add: 0 parameters, on the 8-channel map at half the input's size."""
    _, height, width = graph.input_shape
    added = [row for row in report.rows if row.kind == "elementwise"]
    assert [(row.params, row.out_shape) for row in added] == [(0, (8, height // 2, width // 2))], label


FIXED_ADD = Expected(also=_a_fixed_add)


def test_a_positional_encoding_reads_from_its_torch_factory():
    check_factory("torch:torch_tables:table_block", {"kind": "sine"}, table_block("sine"), INPUT)


@pytest.mark.parametrize("kind", ["offsets", "window"])
def test_a_fixed_batch_export_reads_its_reshapes(kind, tmp_path):
    """Exported with a fixed batch, `reshape(n, 3, heads, -1, h * w)` has the batch as the number 1 beside a -1
    (EfficientFormer V2's attention, timm's exports): the -1 is solved per sample."""
    check_export(table_block(kind), INPUT, "unfolded", tmp_path, ONE_TABLE, dynamic_batch=False)


@pytest.mark.parametrize("how", EXPORTERS)
def test_positions_picked_by_a_constant_index_are_slices(how, tmp_path):
    """`y[:, :, 0]` and `y[:, 2]` (a Gather of an activation by one number; torch.export's select): a `slice` and a
    `reshape` without the axis, read by the layers after them as PyTorch runs them."""
    expected = Expected(also=_slices_and_a_row)
    check_export(table_block("selected"), INPUT, how, tmp_path, expected)
    check_factory("torch:torch_tables:table_block", {"kind": "selected"}, table_block("selected"), INPUT, expected)


def _slices_and_a_row(report, graph, model, label: str) -> None:
    assert [row.out_shape for row in report.rows if row.kind == "slice"] == [(8, 1, 4), (1, 4, 4)], label
    assert {row.name: row.out_shape for row in report.rows}["row"] == (8, 4), label


def test_a_large_positional_encoding_keeps_its_dims_with_its_values_unread(tmp_path):
    """On a 40 × 40 map the mask of ones, its cumulative sums and the encoding hold 1,600 values and more, past what
    the importer reads: known dims, unread values, still a fixed add of 0 parameters."""
    check_export(table_block("sine"), (3, 80, 80), "unfolded", tmp_path, FIXED_ADD)
