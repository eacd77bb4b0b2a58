"""torch's nn.MultiheadAttention read from ONNX as one `attention` layer with PyTorch's parameter names,
in every spelling: batch first or not, with and without need_weights, with and without biases, an even
number of heads (the fused kernel's path) or odd, each from all three exporters.

The reference is PyTorch's own count (FlopCounterMode) of the same module on the path of batched
products it counts (need_weights=True, batch second): the other paths do the same arithmetic
uncounted. tests/torch_sharing.py's TorchAttention is read by test_onnx_patterns too.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from groupcost.errors import GroupcostError  # noqa: E402
from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.network import LayerStep  # noqa: E402
from pattern_check import EXPORTERS, Expected, check_export, export  # noqa: E402
from torch_reference import torch_counts_with_matmul  # noqa: E402
from torch_sharing import TorchAttention  # noqa: E402

INPUT = (3, 4, 4)
SEQUENCE_FIRST = Expected(shaped=lambda name, module: False)
"""The reference runs its tokens sequence first (L×N×C), which no layout here is: its modules' shapes are not compared."""


def _module(**kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    return TorchAttention(**kwargs).eval()


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize(("batch_first", "need_weights", "heads", "bias"), [
    (False, True, 2, True), (False, False, 2, True), (True, False, 3, True), (False, True, 4, False),
])
def test_every_spelling_is_one_attention_layer(batch_first, need_weights, heads, bias, how, tmp_path):
    width = 8 if heads != 3 else 6
    model = _module(width=width, heads=heads, batch_first=batch_first, need_weights=need_weights, bias=bias)
    counted = _module(width=width, heads=heads, batch_first=False, need_weights=True, bias=bias)
    assert torch_counts_with_matmul(counted, INPUT)[2] == 2 * 16 * 16 * width  # Q·Kᵀ and A·V over 16 tokens: the reference counts them
    network = check_export(model, INPUT, how, tmp_path, SEQUENCE_FIRST, counted=counted)
    (attention,) = [s for s in network.nodes if isinstance(s, LayerStep) and s.type_name == "attention"]
    assert (attention.name, attention.layer.heads, attention.layer.bias) == ("attn", heads, bias)
    assert set(attention.parameter_shapes()) == {f"attn.{k}" for k, _ in model.attn.named_parameters()}  # PyTorch's own keys


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("batch_first", [True, False])
def test_a_norm_cast_to_its_own_dtype_keeps_the_tokens_layout(batch_first, how, tmp_path):
    """open_clip's LayerNorm ends in `.to(x.dtype)`: TorchScript writes a Cast between the norm and the attention's first
    transpose, which lost the tokens' layout (the transpose refused)."""
    model = _module(width=6, heads=3, batch_first=batch_first, need_weights=True, cast_norm=True)
    counted = _module(width=6, heads=3, batch_first=False, need_weights=True)
    network = check_export(model, INPUT, how, tmp_path, SEQUENCE_FIRST, counted=counted)
    assert [s.name for s in network.nodes if isinstance(s, LayerStep) and s.type_name == "attention"] == ["attn"]


def _untrained(**kwargs) -> torch.nn.Module:
    """As built: nn.MultiheadAttention starts both projections' biases at zero (TorchAttention perturbs them)."""
    model = _module(**kwargs)
    torch.nn.init.zeros_(model.attn.in_proj_bias)
    torch.nn.init.zeros_(model.attn.out_proj.bias)
    return model


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize(("batch_first", "heads"), [(False, 2), (True, 3)])
def test_an_untrained_attention_counts_its_zero_biases(batch_first, heads, how, tmp_path):
    """torch.export's optimiser removes the output projection's bias of zeros (it was refused: the module read one bias
    of two); the other exporters keep it."""
    width = 8 if heads != 3 else 6
    model = _untrained(width=width, heads=heads, batch_first=batch_first)
    counted = _untrained(width=width, heads=heads, batch_first=False)
    network = check_export(model, INPUT, how, tmp_path, SEQUENCE_FIRST, counted=counted)
    (attention,) = [s for s in network.nodes if isinstance(s, LayerStep) and s.type_name == "attention"]
    assert (attention.name, attention.layer.heads, attention.layer.bias) == ("attn", heads, True)


class _CrossAttention(torch.nn.Module):
    """Queries from one tensor, keys and values from another: not self-attention."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 6, 3, padding=1)
        self.attn = torch.nn.MultiheadAttention(6, 3, batch_first=True)

    def forward(self, x):
        t = self.conv(x).flatten(2).transpose(1, 2)
        return self.attn(t, t * 2, t * 2, need_weights=True)[0]


def test_cross_attention_is_refused_by_name(tmp_path):
    with pytest.raises(GroupcostError) as refused:
        read_network(export(_CrossAttention().eval(), INPUT, tmp_path, "folded"))
    assert "unsupported operators" in str(refused.value)
