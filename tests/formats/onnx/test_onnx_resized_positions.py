"""A learned position table resampled to the input's grid at run time (DPT, YOLOS; tests/torch_resized_positions.py),
exported three ways: `analyze`, `import` (raised to a spec, built again) and `torch:` give PyTorch's own counts,
the table counted once as one `bias_table` of (1 + 24·24)·C parameters. TorchScript's constant folding computes the
resampled table into constants of its own (the parameter's name is gone): refused by name."""

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
from test_onnx_cnn_patterns import assert_reads_as_pytorch  # noqa: E402
from test_onnx_patterns import export  # noqa: E402
from torch_resized_positions import RESIZED_POSITIONS, ResizedPositionViT, resized_position_model  # noqa: E402


def _table_rows(network) -> list[tuple[str, int]]:
    return [(row.name, row.params) for row in analyze(network).rows if row.kind == "bias_table"]


@pytest.mark.parametrize("how", ["unfolded", "dynamo"])
@pytest.mark.parametrize("kind", sorted(RESIZED_POSITIONS))
def test_a_resized_position_table_reads_as_pytorch_counts_it(kind, how, tmp_path):
    model = resized_position_model(kind)
    input_shape = RESIZED_POSITIONS[kind][1]
    table = model.position_embeddings.numel()
    network = read_network(export(model, input_shape, tmp_path, how))
    raised = build(parse_text(raise_spec(network), "<raised>"), {})
    for graph, what in ((network, "analyze"), (raised, "import")):
        assert_reads_as_pytorch(graph, model, input_shape, f"{kind} {how} {what}")
        assert _table_rows(graph) == [("position_embeddings", table)], (kind, how, what)


@pytest.mark.parametrize("kind", sorted(RESIZED_POSITIONS))
def test_a_resized_position_table_reads_from_its_torch_factory(kind):
    input_shape = RESIZED_POSITIONS[kind][1]
    network = read_graph("torch:torch_resized_positions:resized_position_model", input_shape, {"kind": kind})
    assert_reads_as_pytorch(network, resized_position_model(kind), input_shape, f"{kind} torch:")


@pytest.mark.parametrize("kind", ["bilinear", "bicubic"])
def test_a_resized_table_folded_into_constants_is_refused_by_name(kind, tmp_path):
    with pytest.raises(OnnxError, match="Resize .*the exporter computed"):
        read_network(export(resized_position_model(kind), RESIZED_POSITIONS[kind][1], tmp_path, "folded"))


def test_a_small_table_that_torch_exports_optimiser_folds_is_refused_by_name(tmp_path):
    """(1 + 3·3)·16 values: torch.export's optimiser computes the resized table into a constant of its own (`cat_1`)."""
    torch.manual_seed(0)
    model = ResizedPositionViT("bilinear", grid=3).eval()
    with pytest.raises(OnnxError, match="may hold a parameter folded in"):
        read_network(export(model, (3, 16, 20), tmp_path, "dynamo"))
