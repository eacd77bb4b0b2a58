"""A map permuted to N×C×H×W and straight back to tokens (Hugging Face's PVTv2 head): the importer's permute made for
the first move is read by nothing once the second undoes it, and is dropped, so the network imports to a spec (it was
refused as a step computed and never used); counts as PyTorch's in three exporters, analyze and import."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from pattern_check import EXPORTERS, check_export  # noqa: E402
from torch_unread import map_then_tokens  # noqa: E402

INPUT = (3, 8, 8)


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_permute_undone_at_once_is_dropped_and_the_network_imports(how, tmp_path):
    network = check_export(map_then_tokens(), INPUT, how, tmp_path)
    read = {name for step in network.nodes for name in step.inputs} | set(network.outputs)
    assert all(step.name in read for step in network.nodes), how
