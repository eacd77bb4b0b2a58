"""The spec language by example: each feature, with its figures worked out by hand in the test."""

from __future__ import annotations

import pytest

import groupcost
from groupcost.language import build, parse_text


def analyze(text: str, **overrides):
    return groupcost.analyze(build(parse_text(text, "t.yaml"), overrides))


def rows(text: str, **overrides):
    return {row.name: row for row in analyze(text, **overrides).rows}


def test_conv_arithmetic_by_hand():
    """64×56×56 → 128, 3×3, G=4, bias: weights 128·16·9 = 18,432, bias 128, MACs 18,432·56·56."""
    (row,) = rows("input: [64, 56, 56]\nlayers:\n  - conv: {out: 128, k: 3, p: 1, groups: 4}\n").values()
    assert (row.params, row.weights, row.macs, row.out_shape, row.groups) == (18_560, 18_432, 18_432 * 56 * 56, (128, 56, 56), 4)
    assert row.traffic == 64 * 56 * 56 + 128 * 56 * 56 + 18_560


def test_depthwise_pointwise_gdc_and_dwsep():
    r = rows(
        """
input: [32, 14, 14]
layers:
  - dwconv: {k: 3, p: 1, bias: false}
  - pwconv: {out: 64, bias: false}
  - dwsep: {name: sep, out: 16, bn: true, act: relu6, bias: false}
  - gdc
"""
    )
    assert (r["0"].params, r["0"].macs) == (32 * 9, 32 * 9 * 14 * 14)
    assert (r["1"].params, r["1"].macs) == (32 * 64, 32 * 64 * 14 * 14)
    assert [n for n in r if n.startswith("sep.")] == ["sep.dw", "sep.dw_bn", "sep.dw_relu6", "sep.pw", "sep.pw_bn", "sep.pw_relu6"]
    assert r["sep.dw"].params + r["sep.pw"].params == 9 * 64 + 64 * 16  # K²·C_in + C_in·C_out
    assert (r["3"].out_shape, r["3"].params, r["3"].macs) == ((16, 1, 1), 16 * 14 * 14, 16 * 14 * 14)


def test_variables_expressions_and_overrides():
    text = "input: [3, 32, 32]\nvars: {G: 2, width: G * 8}\nlayers:\n  - conv: {out: width, k: 1}\n  - conv: {out: width, k: 1, groups: G}\n"
    assert [row.out_shape[0] for row in analyze(text).rows] == [16, 16]
    assert [row.out_shape[0] for row in analyze(text, G=4).rows] == [32, 32]  # width follows G
    assert analyze(text, G=4).variables == {"G": 4, "width": 32}


def test_incoming_shape_variables():
    r = rows("input: [24, 7, 5]\nlayers:\n  - conv: {out: c_now * 2, k: [h_now, w_now]}\n")
    assert r["0"].out_shape == (48, 1, 1)


def test_blocks_repeat_and_torchvision_style_names():
    text = """
input: [8, 16, 16]
blocks:
  unit:
    args: {out: , s: 1}
    layers:
      - conv: {name: conv1, out: out, k: 3, s: s, p: 1}
      - relu: {name: relu}
  stage:
    args: {out: , n: }
    layers:
      - repeat: {n: n, layers: [unit: {out: out, s: "2 if i == 0 else 1"}]}
layers:
  - stage: {name: layer1, out: 16, n: 3}
  - repeat:
      n: 2
      layers: [relu, relu]
"""
    r = rows(text)
    assert list(r) == ["layer1.0.conv1", "layer1.0.relu", "layer1.1.conv1", "layer1.1.relu", "layer1.2.conv1", "layer1.2.relu", "1.0", "1.1", "2.0", "2.1"]
    assert [r[f"layer1.{i}.conv1"].out_shape for i in range(3)] == [(16, 8, 8)] * 3


def test_residual_projection_and_conditions():
    text = """
input: [64, 56, 56]
blocks:
  basic:
    args: {planes: , s: 1, project: s != 1 or c_in != planes}
    layers:
      - residual:
          body:
            - conv: {name: conv1, out: planes, k: 3, s: s, p: 1, bias: false}
          shortcut:
            - pwconv: {out: planes, s: s, bias: false, if: project}
layers:
  - basic: {planes: 64}
  - basic: {planes: 128, s: 2}
"""
    r = rows(text)
    assert "0.shortcut" not in r and r["0.add"].out_shape == (64, 56, 56)
    assert r["1.shortcut"].params == 64 * 128 and r["1.add"].out_shape == (128, 28, 28)
    assert r["1.add"].traffic == 2 * 128 * 28 * 28 + 128 * 28 * 28  # two inputs read, one output written


def test_residual_when_false_is_its_body():
    text = "input: [8, 4, 4]\nlayers:\n  - residual: {when: c_now == 16, body: [conv: {out: 16, k: 1}]}\n"
    assert [row.type for row in analyze(text).rows] == ["conv"]


def test_parallel_split_concat_and_shuffle():
    text = """
input: [116, 28, 28]
layers:
  - parallel:
      split: 2
      branches:
        - []
        - [pwconv: {out: 58, bias: false}]
  - shuffle: {groups: 2}
"""
    r = rows(text)
    assert r["1"].params == 58 * 58 and r["concat"].out_shape == (116, 28, 28)  # a transparent parallel: branches numbered in place
    assert (r["2"].params, r["2"].macs, r["2"].type) == (0, 0, "shuffle")


def test_defaults_apply_per_layer_type():
    r = rows("input: [3, 8, 8]\ndefaults:\n  conv: {bias: false}\nlayers:\n  - conv: {out: 4, k: 1}\n  - conv: {out: 4, k: 1, bias: true}\n  - flatten\n  - fc: {out: 2}\n")
    assert [r["0"].params, r["1"].params, r["3"].params] == [12, 20, 4 * 64 * 2 + 2]


def test_prelu_se_and_batch():
    r = rows("input: [16, 8, 8]\nbatch: 4\nlayers:\n  - prelu\n  - prelu: {shared: true}\n  - se: {squeeze: 4}\n")
    assert [r["0"].params, r["1"].params] == [16, 1]
    assert (r["2"].params, r["2"].macs) == (2 * 16 * 4 + 4 + 16, 4 * 2 * 16 * 4)  # MACs scale with the batch
    assert r["2"].activations == 4 * 16 * 8 * 8


def test_ceil_mode_pool_and_adaptive():
    r = rows("input: [3, 56, 56]\nlayers:\n  - maxpool: {k: 3, s: 2, ceil_mode: true}\n  - adaptive_avgpool: {size: [3, 2]}\n")
    assert (r["0"].out_shape, r["1"].out_shape) == ((3, 28, 28), (3, 3, 2))


def test_layer_aliases_and_bare_entries():
    r = rows("input: [4, 4, 4]\nlayers:\n  - batchnorm\n  - hardswish\n  - linear_block\nblocks:\n  linear_block:\n    layers: [flatten, linear: {out: 3}]\n")
    assert [row.type for row in r.values()] == ["bn", "hswish", "flatten", "linear"]  # linear: its own type, fc on a flat input


def test_depth_groups_rows_but_keeps_totals():
    report = groupcost.analyze(groupcost.load("resnet18"))
    shallow = report.at_depth(1)
    assert [row.name for row in shallow.rows][:6] == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2"]
    assert sum(row.params for row in shallow.rows) == report.totals.params
    assert sum(row.macs for row in shallow.rows) == report.totals.macs


def test_conv_defaults_reach_pwconv_dwconv_and_dwsep():
    """`defaults: conv:` reaches the conv shorthands (pwconv, dwconv, dwsep) for the arguments they
    take; a shorthand's own `defaults:` entry wins argument by argument; convtranspose keeps its own."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    text = """
input: [8, 8, 8]
defaults:
  conv: {bias: false, d: 1}
  dwconv: {k: 3, p: 1}
  dwsep: {bias: true}
layers:
  - pwconv: {out: 16}
  - dwconv
  - dwsep: {out: 8, k: 3, p: 1}
  - convtranspose: {out: 4, k: 2, s: 2}
"""
    r = rows(text)
    reference = [nn.Conv2d(8, 16, 1, bias=False), nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False),
                 nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.Conv2d(16, 8, 1), nn.ConvTranspose2d(8, 4, 2, stride=2)]
    counts = [sum(p.numel() for p in m.parameters()) for m in reference]
    assert [r["0"].params, r["1"].params, r["2.dw"].params, r["2.pw"].params, r["3"].params] == counts
