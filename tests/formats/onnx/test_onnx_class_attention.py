"""CaiT's and XCiT's class attention (tests/torch_class_attention.py): the class token sliced off the tokens or held
apart, layer-normed alone, the one query of an attention over every token, and joined back before the patch tokens;
exported three ways and read by `analyze`, `import` (raised to a spec, built again) and `torch:`, against PyTorch's
own counts (matmul MACs apart)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402
from groupcost.sources import read_graph  # noqa: E402
from test_onnx_patterns import EXPORTERS, export  # noqa: E402
from torch_reference import torch_counts_with_matmul  # noqa: E402
from torch_class_attention import CLASS_ATTENTION_PATTERNS, INPUT_SHAPE, class_attention_model  # noqa: E402


def assert_reads_as_pytorch(network, model, input_shape, how: str) -> None:
    """PyTorch's params, MACs, matmul MACs and output shape; every parameter in a row named after its module (or the
    module's parent), or after the parameter itself (a layer scale's `gamma`, as the exporters name its Mul's operand)."""
    params, macs, matmul_macs, out_shape = torch_counts_with_matmul(model, input_shape)
    report = analyze(network)
    assert (report.totals.params, report.totals.macs, report.totals.matmul_macs) == (params, macs, matmul_macs), how
    assert tuple(s for _, s in report.outputs) == (out_shape,), how
    names = {row.name for row in report.rows}
    missing = {p for p, _ in model.named_parameters() if not {p, p.rsplit(".", 1)[0], p.rsplit(".", 2)[0]} & names}
    assert not missing, (how, missing)


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("kind", sorted(CLASS_ATTENTION_PATTERNS))
def test_class_attention_reads_exactly_every_way(kind, how, tmp_path):
    model = class_attention_model(kind)
    network = read_network(export(model, INPUT_SHAPE, tmp_path, how))
    raised = build(parse_text(raise_spec(network), "<raised>"), {})
    for graph, what in ((network, "analyze"), (raised, "import")):
        assert_reads_as_pytorch(graph, model, INPUT_SHAPE, f"{kind} {how} {what}")
        # the class token's own norm: 2 × 16 parameters over one token of 16 channels, in each block
        norms = [(row.out_shape, row.params) for row in analyze(graph).rows if row.name.endswith("norm2")]
        assert norms == [((16, 1), 32)] * 2, (kind, how, what)


@pytest.mark.parametrize("kind", sorted(CLASS_ATTENTION_PATTERNS))
def test_class_attention_reads_from_its_torch_factory(kind):
    network = read_graph("torch:torch_class_attention:class_attention_model", INPUT_SHAPE, {"kind": kind})
    assert_reads_as_pytorch(network, class_attention_model(kind), INPUT_SHAPE, f"{kind} torch:")
