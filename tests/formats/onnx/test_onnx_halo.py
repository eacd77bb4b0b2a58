"""HaloNet's blocked local attention (tests/torch_halo.py): keys and values unfolded into overlapping windows of the
padded map (`Tensor.unfold`, which torch.export writes as a Gather by a B × K index of runs per axis), exported by
torch.export and read by `analyze`, `import` (raised to a spec, built again) and `torch:`, against PyTorch's own
counts (matmul MACs apart). PyTorch's TorchScript exporter cannot export the unfold of the padded map (its size is not known to it), with a
dynamic batch or a fixed one."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from pattern_check import EXPORTERS, Expected, check_export, check_factory, export  # noqa: E402
from torch_halo import HALO_SHAPES, halo_model  # noqa: E402

pytestmark = pytest.mark.skipif("dynamo" not in EXPORTERS, reason="torch.export needs onnxscript")


def _windows(kind: str) -> Expected:
    """The 32 channels of k and v padded to 10 × 10 (6 × 6), in windows of 6 × 6: 2 × 2 blocks (one)."""
    blocks = 2 if kind == "halo_blocks" else 1

    def unfolded(report, graph, model, label: str) -> None:
        windows = [row.out_shape for row in report.rows if row.kind == "permute" and row.out_shape[-2:] == (6, 6)]
        assert (32, blocks, blocks, 6, 6) in windows, (kind, label, windows)

    return Expected(also=unfolded)


@pytest.mark.parametrize("kind", sorted(HALO_SHAPES))
def test_halo_attention_reads_exactly_from_torch_export(kind, tmp_path):
    model, input_shape = halo_model(kind), HALO_SHAPES[kind]
    path = export(model, input_shape, tmp_path, "dynamo", key=("halo_model", kind))
    assert "Gather" in {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node}
    check_export(model, input_shape, "dynamo", tmp_path, _windows(kind), key=("halo_model", kind))


@pytest.mark.parametrize("kind", sorted(HALO_SHAPES))
def test_halo_attention_reads_from_its_torch_factory(kind):
    check_factory("torch:torch_halo:halo_model", {"kind": kind}, halo_model(kind), HALO_SHAPES[kind])
