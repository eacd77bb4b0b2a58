"""Untrained models' files (tests/torch_untrained.py), exported three ways and read by `analyze`, `import` and
`torch:` as PyTorch counts them: the exporters merge equal initializers of two modules (tables of zeros) and
torch.export's optimiser removes biases of zeros, which the file's metadata still names."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from pattern_check import EXPORTERS, FOLDED_OR_NOT, Expected, Refusal, check_export, check_factory, export  # noqa: E402
from torch_untrained import untrained  # noqa: E402

INPUT = (3, 8, 8)


@pytest.mark.parametrize("how", EXPORTERS)
def test_zero_biases_count_where_the_optimiser_removed_them(how, tmp_path):
    """torch.export's optimiser removes a conv's or a linear's bias of zeros (its metadata names the rule, and the FX
    node read the module's bias parameter), and the shift of a norm it fused into a conv when that is zeros: each
    still counts, as PyTorch counts it (exit 0 with 5 + 16 + 8 parameters missing before). The conv without a bias
    gets none (the exporter's own zero bias, removed the same way, is no parameter)."""
    network = check_export(untrained("zero_bias"), INPUT, how, tmp_path, FOLDED_OR_NOT)
    biased = {step.name: step.layer.bias for step in network.nodes if hasattr(getattr(step, "layer", None), "bias")}
    assert biased == {"stem": True, "conv": False, "proj": True, "fc": True}, how
    if how == "dynamo":  # the file really lacks them
        model = onnx.load(str(export(untrained("zero_bias"), INPUT, tmp_path / "look", how)))
        assert all(len(node.input) == 2 for node in model.graph.node if node.op_type in ("Conv", "Gemm"))


def test_zero_biases_read_from_their_torch_factory():
    check_factory("torch:torch_untrained:untrained", {"kind": "zero_bias"}, untrained("zero_bias"), INPUT, FOLDED_OR_NOT)


def _two_tables(report, graph, model, label: str) -> None:
    """Each block's table, once, named after it."""
    tables = {f"blocks.{k}.attention_biases": block.attention_biases.numel() for k, block in enumerate(model.blocks)}
    assert {row.name: row.params for row in report.rows if row.kind == "bias_table"} == tables, label


@pytest.mark.parametrize("how", EXPORTERS)
def test_tables_of_zeros_merged_by_the_exporter_count_per_block(how, tmp_path):
    """LeViT's offset tables start at zero: two blocks' equal tables, which TorchScript's exporter writes once and both
    blocks gather. A table of one value is each block's own (it was refused as one table added twice). torch.export
    folds the gathered tables into constants, refused by name as for any table."""
    refused = Refusal(("exporter computed",), must=True) if how == "dynamo" else None
    check_export(untrained("zero_tables"), INPUT, how, tmp_path, Expected(also=_two_tables), refused=refused)


def test_tables_of_zeros_read_from_their_torch_factory():
    check_factory("torch:torch_untrained:untrained", {"kind": "zero_tables"}, untrained("zero_tables"), INPUT, Expected(also=_two_tables))
