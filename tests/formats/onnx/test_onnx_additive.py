"""SwiftFormer's additive attention: its global query repeated over the tokens (`Tile` of an axis of size 1) reads as a
`broadcast`, the block counted as PyTorch counts it in three exporters, import and `torch:`. A tile that copies the
tokens themselves stays refused by name."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from pattern_check import EXPORTERS, check_export, check_factory, export  # noqa: E402
from torch_additive import additive_attention  # noqa: E402

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.formats.onnx.values import OnnxError  # noqa: E402

INPUT = (3, 8, 8)


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_global_query_repeated_over_the_tokens_is_a_broadcast(how, tmp_path):
    check_export(additive_attention(), INPUT, how, tmp_path)


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_learned_vector_of_a_module_is_named_after_it(how, tmp_path):
    """w_g, a parameter of the module `attn` itself (not of a linear in it), names its product `attn.w_g` (it was
    `attn.linear`)."""
    network = check_export(additive_attention(nested=True), INPUT, how, tmp_path)
    assert "attn.w_g" in {step.name for step in network.nodes}, how


def test_additive_attention_reads_from_its_torch_factory():
    check_factory("torch:torch_additive:additive_attention", {}, additive_attention(), INPUT)


def test_a_tile_that_copies_tokens_is_refused_by_name(tmp_path):
    with pytest.raises(OnnxError, match=r"Tile \(node '[^']*': a tile of an activation by \[1, 2, 1\]"):
        read_network(export(additive_attention(copies=2), INPUT, tmp_path, "unfolded"))
