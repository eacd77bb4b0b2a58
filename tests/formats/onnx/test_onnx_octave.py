"""Octave convolution read from ONNX: one weight sliced into blocks, each block a conv; params once (the blocks
cover the weight exactly once), MACs per block. Blocks that overlap or leave part of a weight unread are refused.

References: PyTorch's own counts of torch modules written here from the paper (tests/torch_octave.py), exported
three ways; a norm right after a conv is folded by the exporters, and the count less its parameters is accepted.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from groupcost.errors import GroupcostError  # noqa: E402
from groupcost.formats.onnx.reader import read_network  # noqa: E402
from pattern_check import EXPORTERS, Expected, check_export, check_factory, export  # noqa: E402
from torch_octave import SlicedTwice, octave_net  # noqa: E402

INPUT = (3, 32, 32)
DIRECTLY_AFTER_CONV = {"block1.h_bn", "block1.l_bn"}
"""The norms a conv's output reaches directly (block1's two, the first block's outputs unsummed), folded by the exporters."""


def _folded_or_not(model, input_shape, how: str) -> tuple[int, int]:
    return 0, sum(m.num_features for name, m in model.named_modules() if name in DIRECTLY_AFTER_CONV)


OCTAVE = Expected(fewer_params=_folded_or_not, unnamed=lambda model, input_shape, how: DIRECTLY_AFTER_CONV)


@pytest.mark.parametrize("how", EXPORTERS)
def test_an_octave_convs_blocks_count_its_weight_once(how, tmp_path):
    check_export(octave_net(), INPUT, how, tmp_path, OCTAVE)


def test_an_octave_net_reads_from_its_torch_factory():
    check_factory("torch:torch_octave:octave_net", {}, octave_net(), INPUT, OCTAVE)


@pytest.mark.parametrize(("overlap", "said"), [(True, "blocks that overlap"), (False, "blocks of 216 of its 288 values")])
def test_blocks_that_overlap_or_leave_a_weight_unread_are_refused(overlap, said, tmp_path):
    """Counted per conv, rows 2:6 would count twice (PyTorch: 288 params, the blocks 432), or rows 6:8 not at all.
    Only where the file slices the weight: constant folding (TorchScript's, and torch.export's here) writes each block
    as an initializer of its own, which counts as the file holds it, as a folded batch norm does."""
    model = SlicedTwice(overlap).eval()
    assert sum(p.numel() for p in model.parameters()) == 288
    with pytest.raises(GroupcostError, match=f"the weight 'weight' is read in {said}"):
        read_network(export(model, (4, 8, 8), tmp_path, "unfolded"))
