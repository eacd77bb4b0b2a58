"""Generated graphs and library names, checked against torch modules written here from the papers:
a Res2Net bottleneck (Gao et al. 2019, Fig. 2 and its reference code's names conv1, bn1, convs.i,
bns.i, conv3, bn3) whose scale is a variable, and a MixNet mixed depthwise conv (Tan & Le 2019,
Fig. 2: channels split into groups, one kernel size per group, as timm's MixedConv2d names its
convs `0`, `1`, ...) generated from a kernel list. Both compare params, MACs, output shape,
state_dict keys and shapes in order, and the output for the same weights."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import groupcost
from groupcost.errors import SpecError
from groupcost.language import build, parse_text

RES2NET = Path(__file__).parents[2] / "specs" / "res2net_bottleneck.yaml"

MIXNET = """
input: [40, 28, 28]
vars: {kernels: [3, 5, 7]}
layers:
  - parallel:
      name: conv_dw
      n: len(kernels)
      split: "[c_now // len(kernels) + (c_now % len(kernels) if j == 0 else 0) for j in range(len(kernels))]"
      branch: [dwconv: {k: "kernels[i]", p: "kernels[i] // 2", bias: false}]
  - bn: {name: bn1}
"""


def _res2net_reference(torch, scale: int, planes: int = 64, base_width: int = 26, inplanes: int = 256):
    """Bottle2neck, stype 'normal', stride 1: conv1 1×1 to width·scale, split in `scale` groups of `width`;
    group 0 → convs.0; group i → convs.i(previous output + group i); the last group passes; concat, conv3."""
    nn = torch.nn
    width = math.floor(planes * base_width / 64)

    class Bottle2neck(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, width * scale, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width * scale)
            self.convs = nn.ModuleList([nn.Conv2d(width, width, 3, padding=1, bias=False) for _ in range(scale - 1)])
            self.bns = nn.ModuleList([nn.BatchNorm2d(width) for _ in range(scale - 1)])
            self.conv3 = nn.Conv2d(width * scale, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU()

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            groups = torch.split(out, width, 1)
            outs, sp = [], groups[0]
            for i in range(scale - 1):
                if i > 0:
                    sp = sp + groups[i]
                sp = self.relu(self.bns[i](self.convs[i](sp)))
                outs.append(sp)
            out = self.bn3(self.conv3(torch.cat([*outs, groups[scale - 1]], 1)))
            return self.relu(out + x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer1 = nn.Sequential(Bottle2neck())

        def forward(self, x):
            return self.layer1(x)

    return Net()


def _mixnet_reference(torch, channels: int, kernels: list[int]):
    """MixNet's mixed depthwise conv: the first group takes the remainder of C / len(kernels)."""
    nn = torch.nn
    sizes = [channels // len(kernels)] * len(kernels)
    sizes[0] += channels - sum(sizes)

    class MixedConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.sizes = sizes
            for j, (c, k) in enumerate(zip(sizes, kernels)):
                self.add_module(str(j), nn.Conv2d(c, c, k, padding=k // 2, groups=c, bias=False))

        def forward(self, x):
            return torch.cat([conv(part) for conv, part in zip(self.children(), torch.split(x, self.sizes, 1))], 1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_dw = MixedConv()
            self.bn1 = nn.BatchNorm2d(channels)

        def forward(self, x):
            return self.bn1(self.conv_dw(x))

    return Net()


def _agrees_with(torch, network, reference) -> None:
    """Counts, shape, state_dict keys and shapes in order, and outputs for the reference's weights."""
    from torch_reference import torch_counts

    from groupcost.formats.torch.export import load_module, pytorch_source

    report = groupcost.analyze(network)
    assert (report.totals.params, report.totals.macs, report.output_shape) == torch_counts(reference, network.input_shape)
    exported = load_module(pytorch_source(network))["build"]()
    assert [(k, tuple(v.shape)) for k, v in exported.state_dict().items()] == [(k, tuple(v.shape)) for k, v in reference.state_dict().items()]
    torch.manual_seed(0)
    for p in reference.parameters():
        torch.nn.init.normal_(p, std=0.1)
    exported.load_state_dict(reference.state_dict())
    exported.eval()
    reference.eval()
    x = torch.randn(1, *network.input_shape)
    with torch.no_grad():
        assert torch.allclose(exported(x), reference(x), atol=1e-5)


@pytest.mark.parametrize("scale", [2, 4, 6])
def test_res2net_bottleneck_is_the_papers_with_the_librarys_names(scale):
    torch = pytest.importorskip("torch")
    _agrees_with(torch, groupcost.load(RES2NET, scale=scale), _res2net_reference(torch, scale))


def test_res2net_names_without_torch():
    """The names the reference code gives, for scale 4: convs.j and bns.j side by side in the block."""
    names = [n.name for n in groupcost.load(RES2NET).nodes]
    assert [n for n in names if ".convs." in n or ".bns." in n] == [
        "layer1.0.convs.0", "layer1.0.bns.0", "layer1.0.convs.1", "layer1.0.bns.1", "layer1.0.convs.2", "layer1.0.bns.2"]


@pytest.mark.parametrize("kernels", [[3, 5, 7], [3, 5, 7, 9], [3, 5]])
def test_mixnet_mixed_depthwise_conv_generated_from_a_kernel_list(kernels):
    torch = pytest.importorskip("torch")
    network = build(parse_text(MIXNET), {"kernels": kernels})
    _agrees_with(torch, network, _mixnet_reference(torch, 40, kernels))


def test_mixnet_branches_take_their_numbers_and_the_remainder_goes_first():
    network = build(parse_text(MIXNET))
    convs = [n for n in network.nodes if n.name.startswith("conv_dw.") and n.name != "conv_dw.concat"]
    assert [(n.name, n.in_shape[0], n.layer.k) for n in convs] == [("conv_dw.0", 14, 3), ("conv_dw.1", 13, 5), ("conv_dw.2", 13, 7)]


def _inputs(text: str, **variables) -> dict[str, tuple[str, ...]]:
    return {n.name: n.inputs for n in build(parse_text(text), variables).nodes}


HRNET_SUM = """
input: [8, 16, 16]
vars: {n: 3}
layers:
  - repeat: {n: n, var: j, namespace: false, layers: [conv: {name: "b{j}", from: input, out: 8, k: 1}]}
  - add: {name: fuse, from: "['b' + str(j) for j in range(n)]"}
"""


@pytest.mark.parametrize("n", [2, 3, 5])
def test_a_sum_over_a_computed_number_of_inputs(n):
    """HRNet's fuse layer sums as many branches as the stage has: one add of n tensors."""
    assert _inputs(HRNET_SUM, n=n)["fuse"] == tuple(f"b{j}" for j in range(n))


def test_relative_references_count_back_in_the_list():
    """`from: -1` is the entry before, `-2` the one before it; YOLO's `[-1, 4]` mixes both kinds."""
    text = """
input: [8, 16, 16]
layers:
  - conv: {out: 8, k: 1}
  - conv: {out: 8, k: 1}
  - relu: {if: 0}
  - conv: {out: 8, k: 1, from: -2}
  - concat: {from: [-1, 1, -4]}
"""
    inputs = _inputs(text)
    assert inputs["2"] == ("0",)  # the left-out relu takes no position, nor a place to count back over
    assert inputs["3"] == ("2", "1", "input")  # -4: past the three entries, the list's input


def test_relative_reference_before_the_list_is_refused():
    with pytest.raises(SpecError, match="from: -3 reaches before this list, which has 1 earlier entry and its input"):
        build(parse_text("input: [8, 4, 4]\nlayers:\n  - relu\n  - relu: {from: -3}\n"))


def test_a_variable_in_from_gives_its_names_and_an_earlier_output_wins():
    text = """
input: [8, 4, 4]
vars: {skips: [a, b], a: 1}
layers:
  - relu: {name: a}
  - relu: {name: b}
  - concat: {name: both, from: skips}
  - relu: {name: last, from: a}
outputs: [both, last]
"""
    inputs = _inputs(text)
    assert inputs["both"] == ("a", "b")
    assert inputs["last"] == ("a",)


def test_keep_lets_a_side_output_go_unread_and_a_variable_switches_it():
    text = """
input: [8, 4, 4]
vars: {aux: 1}
layers:
  - conv: {name: head, out: 4, k: 1}
  - conv: {name: aux_head, out: 2, k: 1, from: input, keep: aux}
outputs: [head]
"""
    assert [n.name for n in build(parse_text(text)).nodes] == ["head", "aux_head"]
    with pytest.raises(SpecError, match="'aux_head' is computed but never used"):
        build(parse_text(text), {"aux": 0})


def test_inline_repeat_numbers_unnamed_entries_in_the_enclosing_list():
    text = """
input: [8, 4, 4]
layers:
  - relu
  - repeat: {n: 2, namespace: false, layers: [relu, conv: {name: "proj.{i}", out: 8, k: 1}]}
"""
    assert [n.name for n in build(parse_text(text)).nodes] == ["0", "1", "proj.0", "3", "proj.1"]  # a named entry takes an index too


def test_a_namespace_whose_only_entry_is_a_repeat_in_it_keeps_its_name():
    """VGG's `features`: a seq or block of one `repeat` with namespace: false numbers the repeated layers under its own
    name, as the layers written out are (they landed at the top level, named 1 to 4, with exit 0; in a block, a clash)."""
    repeated = """
input: [3, 8, 8]
layers:
  - seq: {name: features, layers: [repeat: {n: 2, namespace: false, layers: [conv: {out: 4, k: 3, p: 1}, relu]}]}
  - gap
"""
    written = """
input: [3, 8, 8]
layers:
  - seq: {name: features, layers: [conv: {out: 4, k: 3, p: 1}, relu, conv: {out: 4, k: 3, p: 1}, relu]}
  - gap
"""
    in_a_block = """
input: [3, 8, 8]
blocks:
  stage: {layers: [repeat: {n: 2, namespace: false, layers: [conv: {out: 4, k: 3, p: 1}, relu]}]}
layers:
  - stage: {name: features}
  - gap
"""
    names = [[n.name for n in build(parse_text(text)).nodes] for text in (repeated, written, in_a_block)]
    assert names[0] == names[1] == names[2] == ["features.0", "features.1", "features.2", "features.3", "1"]


def test_outputs_computed_by_an_expression_switch_a_side_head():
    text = """
input: [8, 4, 4]
vars: {aux: 1}
layers:
  - conv: {name: head, out: 4, k: 1}
  - conv: {name: aux_head, out: 2, k: 1, from: input, if: aux}
outputs: "['head'] + (['aux_head'] if aux else [])"
"""
    assert build(parse_text(text)).output_shapes == ((4, 4, 4), (2, 4, 4))
    assert build(parse_text(text), {"aux": 0}).output_shapes == ((4, 4, 4),)
    with pytest.raises(SpecError, match="outputs: -1 counts back, which only from: does"):
        build(parse_text(text.replace("outputs: \"['head'] + (['aux_head'] if aux else [])\"", "outputs: \"['head', -1]\"")))


@pytest.mark.parametrize("n", [2, 4])
def test_a_computed_sum_is_hrnets_fuse_in_torch(n):
    """HRNet's fuse layer (Sun et al. 2019, Fig. 3): every branch brought to one resolution, summed."""
    torch = pytest.importorskip("torch")

    class Fuse(torch.nn.Module):
        def __init__(self):
            super().__init__()
            for j in range(n):
                self.add_module(f"b{j}", torch.nn.Conv2d(8, 8, 1))

        def forward(self, x):
            return sum(conv(x) for conv in self.children())

    _agrees_with(torch, build(parse_text(HRNET_SUM), {"n": n}), Fuse())
