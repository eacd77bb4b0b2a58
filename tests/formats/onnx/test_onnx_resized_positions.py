"""A learned position table resampled to the input's grid at run time (DPT, YOLOS; tests/torch_resized_positions.py),
exported three ways: `analyze`, `import` (raised to a spec, built again) and `torch:` give PyTorch's own counts,
the table counted once as one `bias_table` of (1 + 24·24)·C parameters. TorchScript's constant folding computes the
resampled table into constants of its own (the parameter's name is gone): refused by name."""

from __future__ import annotations

import dataclasses

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.formats.onnx.values import OnnxError  # noqa: E402
from pattern_check import FOLDED_OR_NOT, Refusal, check_export, check_factory, export  # noqa: E402
from torch_resized_positions import RESIZED_POSITIONS, ResizedPositionViT, resized_position_model  # noqa: E402


def _one_table(report, graph, model, label: str) -> None:
    """The table counted once, one `bias_table` of its parameter's name and size."""
    tables = [(row.name, row.params) for row in report.rows if row.kind == "bias_table"]
    assert tables == [("position_embeddings", model.position_embeddings.numel())], label


ONE_TABLE = dataclasses.replace(FOLDED_OR_NOT, also=_one_table)


@pytest.mark.parametrize("how", ["unfolded", "dynamo"])
@pytest.mark.parametrize("kind", sorted(RESIZED_POSITIONS))
def test_a_resized_position_table_reads_as_pytorch_counts_it(kind, how, tmp_path):
    check_export(resized_position_model(kind), RESIZED_POSITIONS[kind][1], how, tmp_path, ONE_TABLE)


@pytest.mark.parametrize("kind", sorted(RESIZED_POSITIONS))
def test_a_resized_position_table_reads_from_its_torch_factory(kind):
    input_shape = RESIZED_POSITIONS[kind][1]
    check_factory("torch:torch_resized_positions:resized_position_model", {"kind": kind}, resized_position_model(kind), input_shape, FOLDED_OR_NOT)


@pytest.mark.parametrize("kind", ["bilinear", "bicubic"])
def test_a_resized_table_folded_into_constants_is_refused_by_name(kind, tmp_path):
    with pytest.raises(OnnxError, match="Resize .*the exporter computed"):
        read_network(export(resized_position_model(kind), RESIZED_POSITIONS[kind][1], tmp_path, "folded"))


def test_a_small_table_that_torch_exports_optimiser_folds_is_refused_by_name(tmp_path):
    """(1 + 3·3)·16 values: torch.export's optimiser computes the resized table into a constant of its own (`cat_1`)."""
    torch.manual_seed(0)
    model = ResizedPositionViT("bilinear", grid=3).eval()
    check_export(model, (3, 16, 20), "dynamo", tmp_path, refused=Refusal(("may hold a parameter folded in",), must=True))
