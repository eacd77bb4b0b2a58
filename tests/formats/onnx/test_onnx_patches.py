"""Image patches cut with `F.unfold` and put back with `F.fold`, the stride equal to the kernel (Hugging Face's
MobileViTV2): rearrangements with no parameters and no MACs, the block around them counted as PyTorch counts it.
Overlapping patches are refused by name."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from pattern_check import EXPORTERS, check_export, check_factory, export  # noqa: E402
from torch_patches import OverlappingFold, separable_attention  # noqa: E402

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.formats.onnx.values import OnnxError  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402

INPUT = (4, 8, 8)


@pytest.mark.parametrize("how", EXPORTERS)
def test_patches_cut_by_unfold_read_as_a_rearrangement(how, tmp_path):
    """F.unfold(x, 2, stride=2) (torch.export: a Gather per axis by a block index), the patches put back by reshape and
    permute: the block's 349 params and its MACs as PyTorch counts them, in analyze and in the imported spec."""
    check_export(separable_attention("unfold_only"), INPUT, how, tmp_path)


def test_patches_folded_back_read_as_a_rearrangement(tmp_path):
    """F.fold with the stride its kernel (`Col2Im`, which only torch.export writes: TorchScript has no fold below
    opset 18): reshape, permute, reshape; analyze, import and the torch: source (which falls back to torch.export)."""
    pytest.importorskip("onnxscript")
    model = separable_attention("unfold")
    network = check_export(model, INPUT, "dynamo", tmp_path)
    assert {row.kind for row in analyze(network).rows} >= {"reshape", "permute"}
    check_factory("torch:torch_patches:separable_attention", {"cut": "unfold"}, model, INPUT)


def test_overlapping_patches_are_refused_by_name(tmp_path):
    """3×3 patches at stride 2 overlap: the unfold's Gather and a fold's Col2Im (torch.export) are refused with what they are."""
    with pytest.raises(OnnxError, match=r"a gather of positions \[0, 2, 4, 1, 3, 5, 2, 4\] of an activation"):
        read_network(export(separable_attention("unfold_only", overlap=True), INPUT, tmp_path, "unfolded"))
    pytest.importorskip("onnxscript")
    with pytest.raises(OnnxError, match=r"Col2Im \(node '[^']*': a fold of overlapping, padded or dilated patches \(kernel \[3, 3\], stride \[2, 2\]"):
        read_network(export(OverlappingFold().eval(), INPUT, tmp_path, "dynamo"))
