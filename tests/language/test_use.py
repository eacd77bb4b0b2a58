"""Selective, parameterised `use:`: one block taken from a file, its file's variables set at the `use:`,
files defining the same block name, and the blocks a taken block uses kept out of sight.

Reference: DeepLabV3's ASPP (Chen et al. 2017, Sec. 3.3: a 1×1 conv, three 3×3 atrous convs at the
given rates and image pooling, each with BN and ReLU, concatenated and projected by a 1×1 conv), written
here in torch with torchvision's module names (convs.0 ... convs.4, project)."""

from __future__ import annotations

import pytest

import groupcost
from groupcost.errors import SpecError
from groupcost.graph.network import LayerStep

DEEPLAB = """
input: [1]
vars: {rates: [12, 24, 36], out: 32}
blocks:
  aspp_branch:             # convs.j as torchvision names its modules: the pooling branch starts with its pool
    args: {j: , pooling: j > len(rates)}
    layers:
      - adaptive_avgpool: {name: "0", size: 1, if: pooling}
      - conv: {name: "{1 if pooling else 0}", out: out, k: "3 if j > 0 and not pooling else 1",
               p: "rates[j - 1] if j > 0 and not pooling else 0", d: "rates[j - 1] if j > 0 and not pooling else 1", bias: false}
      - bn: {name: "{2 if pooling else 1}"}
      - relu: {name: "{3 if pooling else 2}"}
      - upsample: {name: resize, mode: bilinear, to: in, if: pooling}
  aspp:
    layers:
      - parallel: {name: convs, n: len(rates) + 2, branch: [aspp_branch: {j: i}]}
      - seq: {name: project, layers: [conv: {out: out, k: 1, bias: false}, bn, relu, dropout]}
  head:
    layers: [relu]
layers: [relu]
"""

OTHER = """
input: [1]
blocks:
  aspp:
    layers: [identity]
  head:
    layers: [conv: {out: 4, k: 1}]
layers: [relu]
"""


def _aspp_reference(torch, channels: int, out: int, rates: list[int]):
    nn = torch.nn

    def cbr(c_in, k=1, d=1):
        return [nn.Conv2d(c_in, out, k, padding=d if k == 3 else 0, dilation=d, bias=False), nn.BatchNorm2d(out), nn.ReLU()]

    class Pooling(nn.Sequential):
        def forward(self, x):
            return nn.functional.interpolate(super().forward(x), size=x.shape[-2:], mode="bilinear", align_corners=False)

    class ASPP(nn.Module):
        def __init__(self):
            super().__init__()
            branches = [nn.Sequential(*cbr(channels))] + [nn.Sequential(*cbr(channels, 3, r)) for r in rates]
            self.convs = nn.ModuleList([*branches, Pooling(nn.AdaptiveAvgPool2d(1), *cbr(channels))])
            self.project = nn.Sequential(*cbr(out * (len(rates) + 2)), nn.Dropout(0.5))

        def forward(self, x):
            return self.project(torch.cat([conv(x) for conv in self.convs], 1))

    return ASPP()


def _dilations(network) -> list:
    return [n.layer.d for n in network.nodes if isinstance(n, LayerStep) and n.layer.type_name == "conv" and ".convs." in n.name]


@pytest.fixture
def files(tmp_path):
    (tmp_path / "deeplab.yaml").write_text(DEEPLAB)
    (tmp_path / "other.yaml").write_text(OTHER)
    return tmp_path


def _load(files, text: str):
    (files / "net.yaml").write_text(text)
    return groupcost.load(files / "net.yaml")


NET = """
use: [{deeplab.yaml: {blocks: [aspp], vars: {rates: RATES}}}, {other.yaml: [head]}]
input: [64, 17, 17]
layers:
  - aspp: {name: classifier}
  - head
"""


@pytest.mark.parametrize("rates", [[6, 12, 18], [2, 4]])
def test_one_block_taken_with_its_files_variables_set_is_the_papers_aspp(files, rates):
    torch = pytest.importorskip("torch")
    from torch_reference import torch_counts

    from groupcost.formats.torch.export import load_module, pytorch_source

    text = NET.replace("RATES", str(rates)).replace("  - head\n", "")
    network = _load(files, text)
    reference = nn_root = torch.nn.Module()
    nn_root.classifier = _aspp_reference(torch, 64, 32, rates)
    nn_root.forward = lambda x: nn_root.classifier(x)
    report = groupcost.analyze(network)
    assert (report.totals.params, report.totals.macs, report.output_shape) == torch_counts(reference, network.input_shape)
    exported = load_module(pytorch_source(network))["build"]()
    assert [(k, tuple(v.shape)) for k, v in exported.state_dict().items()] == [(k, tuple(v.shape)) for k, v in reference.state_dict().items()]
    assert _dilations(network) == [1, *rates, 1]


def test_two_files_with_a_block_of_one_name_when_one_is_taken(files):
    """`aspp` is in both files; `head` is taken from other.yaml, deeplab.yaml's `head` stays out."""
    network = _load(files, NET.replace("RATES", "[6, 12, 18]"))
    assert [n.layer.type_name for n in network.nodes if not n.name.startswith("classifier.")] == ["conv"]


def test_the_blocks_a_taken_block_uses_stay_out_of_sight(files):
    with pytest.raises(SpecError, match="unknown layer type 'aspp_branch'"):
        _load(files, "use: {deeplab.yaml: [aspp]}\ninput: [8, 9, 9]\nlayers:\n  - aspp_branch: {j: 0}\n")


def test_a_block_name_taken_from_two_files_is_refused_with_the_way_out(files):
    with pytest.raises(SpecError, match=r"block 'aspp' comes from two used files \(also at .*; take one: use: \{file.yaml: \[aspp\]\}\)"):
        _load(files, "use: [deeplab.yaml, other.yaml]\ninput: [8, 9, 9]\nlayers: [aspp]\n")


def test_a_used_files_variables_may_use_the_spec_s_variables(files):
    network = _load(files, "use: {deeplab.yaml: {blocks: [aspp], vars: {rates: '[r * 2 for r in base]'}}}\n"
                           "input: [8, 9, 9]\nvars: {base: [1, 2]}\nlayers:\n  - aspp: {name: classifier}\n")
    assert _dilations(network) == [1, 2, 4, 1]


def test_a_files_variable_given_as_an_argument_points_to_the_use(files):
    with pytest.raises(SpecError, match=r"'rates' is a variable of .*deeplab.yaml, not an argument of block 'aspp' \(set it where the file is used: use: "):
        _load(files, "use: {deeplab.yaml: [aspp]}\ninput: [8, 9, 9]\nlayers:\n  - aspp: {rates: [6, 12, 18]}\n")
