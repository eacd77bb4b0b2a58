"""The hybrid conv-attention fixture zoo spec mobilevit_block against a MobileViT block written
here in torch from the paper (Mehta & Rastegari, arXiv 2110.02178, Fig. 1b, with 1×1 patches): params,
state_dict keys, conv + linear MACs and matmul MACs as PyTorch counts them, the output shape and values."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import groupcost  # noqa: E402
from groupcost.graph.network import LayerStep  # noqa: E402

SPEC = Path(__file__).parents[2] / "specs" / "mobilevit_block.yaml"


class TransformerLayer(nn.Module):
    """Pre-norm: t + MHA(LN(t)), then t + FFN(LN(t)) with a SiLU between two linear maps (MobileViT's FFN)."""

    def __init__(self, d: int, heads: int, hidden: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(d)
        self.ffn = nn.Sequential(nn.Linear(d, hidden), nn.SiLU(), nn.Linear(hidden, d))

    def forward(self, tokens):
        h = self.norm1(tokens)
        tokens = tokens + self.attn(h, h, h, need_weights=False)[0]
        return tokens + self.ffn(self.norm2(tokens))


class MobileViTBlock(nn.Module):
    """Local representation (3×3 conv, BN, SiLU; 1×1 conv to d), global representation (transformer layers over the
    H·W tokens, a final LayerNorm), 1×1 conv back to C (BN, SiLU), concatenation with the input, 3×3 fusion conv."""

    def __init__(self, c: int = 96, d: int = 144, heads: int = 4, depth: int = 2):
        super().__init__()
        self.conv_kxk = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.SiLU())
        self.conv_1x1_in = nn.Conv2d(c, d, 1, bias=False)
        self.transformer = nn.Sequential(*(TransformerLayer(d, heads, 2 * d) for _ in range(depth)))
        self.norm = nn.LayerNorm(d)
        self.conv_1x1_out = nn.Sequential(nn.Conv2d(d, c, 1, bias=False), nn.BatchNorm2d(c), nn.SiLU())
        self.fusion = nn.Sequential(nn.Conv2d(2 * c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.SiLU())

    def forward(self, x):
        y = self.conv_1x1_in(self.conv_kxk(x))
        n, d, h, w = y.shape
        tokens = self.norm(self.transformer(y.flatten(2).transpose(1, 2)))
        y = tokens.transpose(1, 2).reshape(n, d, h, w)
        return self.fusion(torch.cat([x, self.conv_1x1_out(y)], 1))


def test_mobilevit_block_is_the_papers():
    network = groupcost.load(SPEC)
    report = groupcost.analyze(network)
    model = MobileViTBlock()
    ours = {key: shape for step in network.nodes if isinstance(step, LayerStep) for key, shape in step.parameter_shapes().items()}
    assert ours == {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert report.totals.params == sum(p.numel() for p in model.parameters()) == 612_288
    with torch.device("meta"):
        counted = MobileViTBlock().eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:  # on meta: the projections and bmm products are counted
        y = counted(torch.zeros(1, *network.input_shape, device="meta"))
    by_op = {op.__name__: flops for op, flops in counter.get_flop_counts()["Global"].items()}
    products = by_op.pop("bmm")
    assert set(by_op) <= {"convolution", "mm", "addmm"}
    assert (report.totals.macs, report.totals.matmul_macs) == (sum(by_op.values()) // 2, products // 2)
    assert report.totals.matmul_macs == 2 * 2 * (32 * 32) ** 2 * 144  # two layers of Q·Kᵀ and A·V over 1,024 tokens of 144
    assert report.output_shape == tuple(y.shape[1:])


def test_mobilevit_block_computes_what_torch_computes():
    np = pytest.importorskip("numpy")
    from groupcost.run.execute import forward

    network = groupcost.load(SPEC)
    torch.manual_seed(0)
    model = MobileViTBlock().eval()
    state = model.state_dict()
    weights = {step.name: {key: state[f"{step.name}.{key}"].numpy() for key in step.layer.weight_shapes(step.in_shape)}
               for step in network.nodes if isinstance(step, LayerStep)}
    x = torch.randn(2, *network.input_shape)
    ours, _ = forward(network, x.numpy(), weights)
    with torch.no_grad():
        np.testing.assert_allclose(ours, model(x).numpy(), rtol=1e-4, atol=1e-4)


def test_mobilevit_block_verifies_and_exports():
    """verify counts every MAC and matmul MAC; the exported PyTorch file loads the paper module's state_dict strictly."""
    from groupcost.formats.torch import export as pytorch_export
    from groupcost.run.execute import verify

    network = groupcost.load(SPEC)
    assert verify(network).ok
    source, fallback = pytorch_export.export_pytorch(groupcost.load_document(str(SPEC)))
    exported = pytorch_export.load_module(source)["build"]().eval()
    torch.manual_seed(1)
    model = MobileViTBlock().eval()
    exported.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(1, *network.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(exported(x), model(x), rtol=1e-4, atol=1e-4)
