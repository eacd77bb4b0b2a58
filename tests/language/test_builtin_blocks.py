"""The built-in `se_block`: squeeze-and-excitation (Hu et al. 2018, Fig. 3: global average pool, a
reduction to S channels, an activation, an expansion back to C, a gate, the input scaled) with the
libraries' names and options, checked against torch modules written here: timm's form (1×1 convs
`conv_reduce` and `conv_expand`, SiLU, as EfficientNet uses it) and ReXNet's (`fc1`, a BatchNorm `bn`
after the reduction, ReLU, `fc2`)."""

from __future__ import annotations

import pytest

import groupcost
from groupcost.errors import SpecError
from groupcost.language import build, parse_text


def _se_reference(torch, channels: int, squeeze: int, names: tuple[str, str], act, bn: bool, bias: bool = True):
    nn = torch.nn

    class SE(nn.Module):
        def __init__(self):
            super().__init__()
            setattr(self, names[0], nn.Conv2d(channels, squeeze, 1, bias=bias))
            if bn:
                self.bn = nn.BatchNorm2d(squeeze)
            self.act = act()
            setattr(self, names[1], nn.Conv2d(squeeze, channels, 1, bias=bias))
            self.gate = nn.Sigmoid()

        def forward(self, x):
            s = getattr(self, names[0])(x.mean((2, 3), keepdim=True))
            s = self.act(self.bn(s) if bn else s)
            return x * self.gate(getattr(self, names[1])(s))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.se = SE()

        def forward(self, x):
            return self.se(x)

    return Net()


CASES = {
    "timm": ("reduce: conv_reduce, expand: conv_expand, act: silu", ("conv_reduce", "conv_expand"), "SiLU", False, True),
    "rexnet": ("bn: true", ("fc1", "fc2"), "ReLU", True, True),
    "no_bias": ("bias: false", ("fc1", "fc2"), "ReLU", False, False),
}


@pytest.mark.parametrize("case", CASES)
def test_se_block_is_the_papers_with_each_librarys_names(case):
    torch = pytest.importorskip("torch")
    from torch_reference import torch_counts

    from groupcost.formats.torch.export import load_module, pytorch_source

    args, names, act, bn, bias = CASES[case]
    network = build(parse_text(f"input: [48, 7, 7]\nlayers:\n  - se_block: {{name: se, squeeze: 12, {args}}}\n"))
    reference = _se_reference(torch, 48, 12, names, getattr(torch.nn, act), bn, bias)
    report = groupcost.analyze(network)
    assert (report.totals.params, report.totals.macs, report.output_shape) == torch_counts(reference, network.input_shape)
    exported = load_module(pytorch_source(network))["build"]()
    assert [(k, tuple(v.shape)) for k, v in exported.state_dict().items()] == [(k, tuple(v.shape)) for k, v in reference.state_dict().items()]
    torch.manual_seed(0)
    for p in reference.parameters():
        torch.nn.init.normal_(p, std=0.2)
    exported.load_state_dict(reference.state_dict())
    x = torch.randn(1, *network.input_shape)
    with torch.no_grad():
        assert torch.allclose(exported.eval()(x), reference.eval()(x), atol=1e-6)


def test_se_block_with_its_defaults_costs_what_the_se_layer_does():
    """The `se` layer type is torchvision's SqueezeExcitation: 2·C·S + S + C params, 2·C·S MACs."""
    c, s = 48, 12
    for entry in ("se_block", "se"):
        totals = groupcost.analyze(build(parse_text(f"input: [{c}, 7, 7]\nlayers:\n  - {entry}: {{squeeze: {s}}}\n"))).totals
        assert (totals.params, totals.macs) == (2 * c * s + s + c, 2 * c * s)


def test_a_spec_may_define_its_own_se_block():
    text = "input: [8, 4, 4]\nblocks:\n  se_block:\n    args: {squeeze: }\n    layers: [relu]\nlayers:\n  - se_block: {squeeze: 2}\n"
    assert [n.layer.type_name for n in build(parse_text(text)).nodes] == ["relu"]


def test_se_block_errors_point_at_the_call():
    with pytest.raises(SpecError) as caught:
        build(parse_text("input: [8, 4, 4]\nlayers:\n  - se_block: {squeeze: 0}\n"))
    assert "in block 'se_block' used at <spec>:3:5" in str(caught.value)
