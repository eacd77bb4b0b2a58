"""HaloNet's blocked local attention (tests/torch_halo.py): keys and values unfolded into overlapping windows of the
padded map (`Tensor.unfold`, which torch.export writes as a Gather by a B × K index of runs per axis), exported by
torch.export and read by `analyze`, `import` (raised to a spec, built again) and `torch:`, against PyTorch's own
counts (matmul MACs apart). PyTorch's TorchScript exporter cannot export the unfold of the padded map (its size is not known to it), with a
dynamic batch or a fixed one."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402
from groupcost.sources import read_graph  # noqa: E402
from test_onnx_class_attention import assert_reads_as_pytorch  # noqa: E402
from test_onnx_patterns import EXPORTERS, export  # noqa: E402
from torch_halo import HALO_SHAPES, halo_model  # noqa: E402

pytestmark = pytest.mark.skipif("dynamo" not in EXPORTERS, reason="torch.export needs onnxscript")


@pytest.mark.parametrize("kind", sorted(HALO_SHAPES))
def test_halo_attention_reads_exactly_from_torch_export(kind, tmp_path):
    model, input_shape = halo_model(kind), HALO_SHAPES[kind]
    path = export(model, input_shape, tmp_path, "dynamo")
    assert "Gather" in {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node}
    network = read_network(path)
    raised = build(parse_text(raise_spec(network), "<raised>"), {})
    for graph, what in ((network, "analyze"), (raised, "import")):
        assert_reads_as_pytorch(graph, model, input_shape, f"{kind} {what}")
        # the 32 channels of k and v padded to 10 × 10 (6 × 6), in windows of 6 × 6: 2 × 2 blocks (one)
        blocks = 4 if kind == "halo_blocks" else 1
        windows = [row.out_shape for row in analyze(graph).rows if row.kind == "permute" and row.out_shape[-2:] == (6, 6)]
        assert (32, 2 if blocks == 4 else 1, 2 if blocks == 4 else 1, 6, 6) in windows, (kind, what, windows)


@pytest.mark.parametrize("kind", sorted(HALO_SHAPES))
def test_halo_attention_reads_from_its_torch_factory(kind):
    network = read_graph("torch:torch_halo:halo_model", HALO_SHAPES[kind], {"kind": kind})
    assert_reads_as_pytorch(network, halo_model(kind), HALO_SHAPES[kind], f"{kind} torch:")
