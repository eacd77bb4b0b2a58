"""Tensors stacked ahead of the batch and summed over that axis (`torch.stack(levels).sum(0)`, the FPN decoder of
segmentation_models_pytorch) read as one `add`, from every exporter's file; averaged (MONAI's RegUNet and LocalNet),
as that `add` divided by their number; one tensor stacked and reduced, as itself.

The module is Panoptic FPN's semantic branch, written here from the paper (tests/torch_panoptic.py); the
reference is PyTorch's own count of it. A stack reduced otherwise (its maximum) stays refused by name.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from groupcost.errors import GroupcostError  # noqa: E402
from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from pattern_check import EXPORTERS, check_export, check_factory, export  # noqa: E402
from torch_panoptic import semantic_branch  # noqa: E402

INPUT = (3, 64, 64)


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_sum_over_a_stack_ahead_of_the_batch_reads_as_one_add(how, tmp_path):
    network = check_export(semantic_branch(), INPUT, how, tmp_path)
    adds = [row for row in analyze(network).rows if row.type == "add"]
    assert len(adds) == 1 and adds[0].out_shape == (8, 16, 16)  # the three levels at 1/4, summed once


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_mean_over_a_stack_reads_as_their_sum_divided_by_their_number(how, tmp_path):
    network = check_export(semantic_branch(merge="mean"), INPUT, how, tmp_path)
    rows = analyze(network).rows
    k = next(k for k, row in enumerate(rows) if row.type == "add")
    assert (rows[k].name, rows[k].out_shape) == ("add", (8, 16, 16))
    assert (rows[k + 1].type, network.steps()[k + 1].layer.op, network.steps()[k + 1].layer.value) == ("elementwise", "div", 3.0)


@pytest.mark.parametrize("merge", ["sum", "mean"])
@pytest.mark.parametrize("how", EXPORTERS)
def test_one_tensor_stacked_and_reduced_is_itself(merge, how, tmp_path):
    network = check_export(semantic_branch(merge=merge, stacked=1), INPUT, how, tmp_path)
    assert not [row for row in analyze(network).rows if row.type in ("add", "elementwise")]


@pytest.mark.parametrize("merge", ["sum", "mean"])
def test_a_sum_or_mean_over_a_stack_reads_from_its_torch_factory(merge):
    check_factory("torch:torch_panoptic:semantic_branch", {"merge": merge}, semantic_branch(merge=merge), INPUT)


def test_a_sum_over_a_stack_reads_from_its_torch_factory():
    check_factory("torch:torch_panoptic:semantic_branch", {}, semantic_branch(), INPUT)


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_stack_ahead_of_the_batch_reduced_otherwise_stays_refused(how, tmp_path):
    with pytest.raises(GroupcostError, match="an unsqueeze before the batch"):
        read_network(export(semantic_branch(merge="max"), INPUT, tmp_path, how))
