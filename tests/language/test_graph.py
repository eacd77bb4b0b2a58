"""The graph form of the spec language: from:, outputs:, merges of named tensors, reuse across files,
computed names, and the graph the builder lowers every spec to."""

from __future__ import annotations

import dataclasses
import math

import pytest

import groupcost
from groupcost.graph.analysis import peak_live_elements
from groupcost.graph.network import INPUT, LayerStep, MergeStep


def build(text: str, path: str = "spec.yaml", **overrides):
    return groupcost.language.build(groupcost.parse_text(text, path), overrides)


UNET = """
name: tiny_unet
input: [3, 32, 32]
defaults: {conv: {bias: false}}
blocks:
  down:
    args: {out: }
    layers: [conv: {name: conv, out: out, k: 3, p: 1}, relu: {name: act}]
layers:
  - down: {name: enc1, out: 8}
  - maxpool: {name: pool1, k: 2}
  - down: {name: enc2, out: 16}
  - maxpool: {name: pool2, k: 2}
  - down: {name: bottom, out: 16}
  - concat: {name: cat2, from: [bottom, pool2]}    # same 8×8: a skip across the bottom
  - down: {name: dec2, out: 16}
  - conv: {name: head2, out: 2, k: 1}
  - conv: {name: side, out: 2, k: 1, from: enc1}   # a long skip from the first stage
outputs: [head2, side]
"""


def test_graph_nodes_are_topological_with_named_inputs():
    net = build(UNET)
    seen = {INPUT}
    for node in net.nodes:
        assert set(node.inputs) <= seen, node.name
        seen.add(node.name)
    nodes = {n.name: n for n in net.nodes}
    assert isinstance(nodes["cat2"], MergeStep) and nodes["cat2"].inputs == ("bottom.act", "pool2")
    assert nodes["side"].inputs == ("enc1.act",)
    assert nodes["enc1.conv"].inputs == (INPUT,)


def test_several_outputs_are_reported():
    report = groupcost.analyze(build(UNET))
    assert report.outputs == (("head2", (2, 8, 8)), ("side", (2, 32, 32)))
    assert report.output_shape == (2, 8, 8)
    rows = {r.name: r for r in report.rows}
    assert rows["cat2"].out_shape == (32, 8, 8)
    assert rows["dec2.conv"].params == 16 * 32 * 9


def test_graph_form_equals_the_sugar():
    """A residual written by hand with from: and add is the residual structure, figure for figure."""
    sugar = """
input: [8, 16, 16]
layers:
  - residual:
      body: [conv: {out: 8, k: 3, p: 1}, bn, relu, conv: {out: 8, k: 3, p: 1}, bn]
  - relu
"""
    graph = """
input: [8, 16, 16]
layers:
  - conv: {out: 8, k: 3, p: 1}
  - bn
  - relu
  - conv: {out: 8, k: 3, p: 1}
  - bn
  - add: {from: [4, input]}
  - relu
"""
    a, b = groupcost.analyze(build(sugar)), groupcost.analyze(build(graph))
    assert a.totals == b.totals and a.output_shape == b.output_shape


def test_block_input_is_in():
    text = """
input: [8, 16, 16]
blocks:
  unit:
    layers:
      - conv: {name: conv1, out: 8, k: 3, p: 1}
      - conv: {name: conv2, out: 8, k: 3, p: 1}
      - add: {name: sum, from: [conv2, in]}
layers:
  - unit: {name: a}
  - unit: {name: b}
"""
    nodes = {n.name: n for n in build(text).nodes}
    assert nodes["a.sum"].inputs == ("a.conv2", INPUT)
    assert nodes["b.sum"].inputs == ("b.conv2", "a.sum")


def test_names_resolve_innermost_first():
    text = """
input: [4, 8, 8]
layers:
  - conv: {name: x, out: 4, k: 1}
  - seq:
      name: s
      layers:
        - conv: {name: x, out: 4, k: 1}
        - relu: {name: y, from: x}     # s.x, not the outer x
  - add: {from: [x, s]}                # the outer x; `s` is the group's output, s.y
"""
    nodes = {n.name: n for n in build(text).nodes}
    assert nodes["s.y"].inputs == ("s.x",)
    assert nodes["2"].inputs == ("x", "s.y")


def test_an_index_joined_to_a_step_name_reads_in_from():
    """The import names a step under a module that is itself a layer `22_m.…` (module `m` of a layer `model.22`,
    moved beside it): such a name is a word in `from:`, never read as an expression (YOLOv10's depthwise pair)."""
    text = """
input: [4, 8, 8]
layers:
  - conv: {name: model.22, out: 4, k: 1}
  - dwconv: {name: model.22_m.0.left, k: 3, p: 1, from: model.22}
  - dwconv: {name: model.22_m.0.right, k: 5, p: 2, from: model.22}
  - add: {name: sum, from: [model.22_m.0.left, model.22_m.0.right]}
"""
    nodes = {n.name: n for n in build(text).nodes}
    assert nodes["sum"].inputs == ("model.22_m.0.left", "model.22_m.0.right")


def test_a_name_from_the_top_reaches_what_an_inner_name_hides():
    """MixNet's first block adds the stem's `bn1.act` inside a block with its own `bn1.act`: `/bn1.act` is the stem's."""
    text = """
input: [4, 8, 8]
layers:
  - seq: {name: bn1, layers: [relu: {name: act}]}
  - seq:
      name: block
      layers:
        - seq: {name: bn1, layers: [relu: {name: act}]}
        - conv: {name: conv, out: 4, k: 1}
        - add: {name: add, from: [conv, /bn1.act]}
        - conv: {name: again, out: 4, k: 1, from: bn1.act, share: /block.conv}
outputs: [block.add, block.again]
"""
    nodes = {n.name: n for n in build(text).nodes}
    assert nodes["block.add"].inputs == ("block.conv", "bn1.act")
    assert nodes["block.again"].inputs == ("block.bn1.act",) and nodes["block.again"].shares == "block.conv"


def test_a_name_from_the_top_is_not_looked_up_inside():
    text = """
input: [4, 8, 8]
layers:
  - seq: {name: s, layers: [conv: {name: x, out: 4, k: 1}, relu: {name: y, from: /x}]}
"""
    with pytest.raises(groupcost.SpecError, match="'/x' is not an earlier output"):
        build(text)


def test_one_entry_groups_add_no_index():
    text = """
input: [4, 8, 8]
blocks:
  single: {layers: [conv: {out: 4, k: 1}]}
layers:
  - single: {name: a}
  - seq: {name: b, layers: [relu]}
  - residual:
      name: r
      body: [conv: {out: 4, k: 1}]
      shortcut: [pwconv: {out: 4}]
"""
    names = [n.name for n in build(text).nodes]
    assert names == ["a", "b", "r.0", "r.shortcut", "r.add"]


def test_named_shortcut_and_branches():
    text = """
input: [8, 8, 8]
layers:
  - residual:
      name: block
      body: [conv: {name: conv1, out: 16, k: 3, s: 2, p: 1}]
      shortcut: {name: downsample, layers: [pwconv: {out: 16, s: 2}, bn]}
  - parallel:
      name: mixed
      branches:
        - {name: branch1x1, layers: [pwconv: {out: 4}]}
        - {layers: [pwconv: {name: branch3x3_1, out: 4}, conv: {name: branch3x3_2a, out: 4, k: 3, p: 1}]}
"""
    names = [n.name for n in build(text).nodes]
    assert names == ["block.conv1", "block.downsample.0", "block.downsample.1", "block.add",
                     "mixed.branch1x1", "mixed.branch3x3_1", "mixed.branch3x3_2a", "mixed.concat"]


def test_computed_names_and_types():
    text = """
input: [8, 8, 8]
vars: {acts: "['relu', 'hswish']"}
blocks:
  layer:
    args: {act: relu}
    layers: [conv: {name: conv, out: 8, k: 1}, "{act}": {name: act}]
layers:
  - repeat:
      n: 2
      layers: [layer: {name: "denselayer{i + 1}", act: "acts[i]"}]
"""
    rows = groupcost.analyze(build(text)).rows
    assert [(r.name, r.type) for r in rows] == [
        ("denselayer1.conv", "conv"), ("denselayer1.act", "relu"), ("denselayer2.conv", "conv"), ("denselayer2.act", "hswish")]


def test_string_block_arguments_choose_layers():
    text = """
input: [8, 8, 8]
blocks:
  cna:
    args: {norm: bn, act: relu}
    layers: [conv: {out: 8, k: 3, p: 1}, "{norm}", "{act}"]
layers:
  - cna
  - cna: {act: hswish}
"""
    assert [r.type for r in groupcost.analyze(build(text)).rows] == ["conv", "bn", "relu", "conv", "bn", "hswish"]


def test_c_in_is_the_blocks_input_and_c_now_the_entrys():
    """The `c_in` trap: after an expanding conv, c_in still means the block's input."""
    text = """
input: [16, 8, 8]
blocks:
  expand:
    args: {e: 64}
    layers:
      - pwconv: {out: e}
      - bn: {if: e != c_in}          # c_in is 16 here, although this bn reads 64 channels
      - pwconv: {out: c_now // 2}    # c_now is what this entry reads: 64
layers: [expand]
"""
    rows = groupcost.analyze(build(text)).rows
    assert [r.type for r in rows] == ["pwconv", "bn", "pwconv"]
    assert rows[2].out_shape == (32, 8, 8)


def test_extends_overrides_variables(tmp_path):
    (tmp_path / "base.yaml").write_text("name: base\ninput: [3, 8, 8]\nvars: {w: 4, depth: 1}\nlayers:\n  - repeat: {n: depth, layers: [conv: {out: w, k: 1}]}\n")
    (tmp_path / "wide.yaml").write_text("extends: base.yaml\nname: wide\nvars: {w: 8, depth: 2}\n")
    net = groupcost.load(tmp_path / "wide.yaml")
    assert net.name == "wide" and [n.out_shape for n in net.nodes] == [(8, 8, 8), (8, 8, 8)]


def test_extends_a_zoo_model(tmp_path):
    path = tmp_path / "r50_w.yaml"
    path.write_text("extends: resnet50\nname: wide_by_extends\nvars: {width_per_group: 128}\n")
    totals = groupcost.analyze(groupcost.load(path)).totals
    assert (totals.params, totals.macs) == (68_883_240, 11_398_021_120)  # BRIEF: torchvision's wide_resnet50_2


def test_use_imports_blocks_that_keep_their_own_variables(tmp_path):
    (tmp_path / "lib.yaml").write_text("input: [1]\nvars: {expansion: 4}\nblocks:\n  wide: {args: {c: }, layers: [pwconv: {out: c * expansion}]}\nlayers: [relu]\n")
    (tmp_path / "net.yaml").write_text("use: lib.yaml\ninput: [8, 4, 4]\nvars: {expansion: 1}\nlayers:\n  - wide: {c: 8}\n")
    assert groupcost.load(tmp_path / "net.yaml").output_shape == (32, 4, 4)


def test_block_errors_name_the_call_chain():
    text = "input: [6, 8, 8]\nblocks:\n  unit:\n    args: {g: 1}\n    layers: [conv: {out: 4, k: 1, groups: g}]\nlayers:\n  - unit: {name: ok, g: 2}\n  - unit: {name: bad, g: 3}\n"
    with pytest.raises(groupcost.SpecError) as caught:
        build(text)
    assert "in block 'unit' used at spec.yaml:8:5 as bad" in str(caught.value)


@pytest.mark.parametrize("source", ["unet", "resnet18", "shufflenet_v2_x1_0"])
def test_peak_live_elements_is_what_the_executor_holds(source):
    """The NumPy executor frees each tensor after its last reader; the bytes it held at its peak
    are the analytic peak (here at batch 2, float32)."""
    pytest.importorskip("numpy")
    from groupcost.run.execute import verify

    net = dataclasses.replace(build(UNET) if source == "unet" else groupcost.load(source), batch=2)
    result = verify(net)
    assert result.ok
    assert result.peak_bytes == peak_live_elements(net) * 4
    largest = max(math.prod(n.out_shape) for n in net.nodes) * 2
    assert peak_live_elements(net) > largest  # a skip keeps its tensor alive beside the body


def test_pytorch_agrees_on_a_graph_with_long_skips_and_two_outputs():
    pytest.importorskip("torch")
    from torch_reference import network_module, torch_counts

    net = build(UNET)
    params, macs, shapes = torch_counts(network_module(net), net.input_shape)
    totals = groupcost.analyze(net).totals
    assert (totals.params, totals.macs, shapes) == (params, macs, net.output_shapes)
    assert isinstance(net.nodes[0], LayerStep)


def test_training_memory_by_hand():
    """conv 3→8 (3×3, bias) on 3×8×8 then relu, batch 2, float32: 224 params; saved activations: the
    input 2·192 + the conv's output 2·512 + the relu's 2·512 = 2,432 elements. Adam keeps weights,
    gradients and two moments: 4 · 224 + 2,432 = 3,328 elements = 13,312 bytes; SGD 2 · 224 + 2,432."""
    net = build("input: [3, 8, 8]\nbatch: 2\nlayers:\n  - conv: {out: 8, k: 3, p: 1}\n  - relu\n")
    assert groupcost.analyze(net).totals.params == 8 * 3 * 9 + 8
    assert groupcost.analyze(net).metric("training_memory_bytes") == 13_312
    assert groupcost.analyze(net, "sgd").metric("training_memory_bytes") == (2 * 224 + 2_432) * 4
    assert groupcost.analyze(net, "momentum").metric("training_memory_bytes") == (3 * 224 + 2_432) * 4
    # inference: input and conv output alive together (2·192 + 2·512), then conv and relu outputs (2·512 + 2·512)
    assert groupcost.analyze(net).metric("peak_memory_bytes") == 2_048 * 4


def test_in_and_c_in_are_the_blocks_input_in_nested_groups():
    """`in` and `c_in` name one tensor: the enclosing block's input, also in a seq, a branch or a
    repetition (one whose input is another tensor refuses `in`: tests/bad_specs/in_inside_group.yaml)."""
    text = """
input: [8, 16, 16]
blocks:
  unit:
    layers:
      - seq:
          name: inner
          layers: [conv: {name: reduce, out: c_in, k: 1}, add: {name: sum, from: [reduce, in]}]
      - conv: {name: expand, out: c_in * 2, k: 1}
      - seq:
          name: after
          layers: [conv: {name: reduce, out: c_in, k: 1}]
      - parallel:
          name: branches
          from: in
          branches:
            - [conv: {out: c_in, k: 1}, add: {from: [0, in]}]
            - {layers: [conv: {name: side, out: c_in, k: 1}]}
layers:
  - conv: {out: 8, k: 1}
  - unit: {name: a, from: 0}
outputs: [a.after, a]
"""
    nodes = {n.name: n for n in build(text).nodes}
    assert nodes["a.inner.sum"].inputs == ("a.inner.reduce", "0")  # in: the block's input
    assert nodes["a.after.reduce"].out_shape == (8, 16, 16)  # c_in: the block's 8, not the seq's 16
    assert nodes["a.branches.0.1"].inputs == ("a.branches.0.0", "0")
    assert nodes["a.branches.side"].out_shape == (8, 16, 16)


def test_from_names_a_module_called_again_as_torchscript_numbers_it():
    """`tower.1_1` (the module `tower.1` at its second call, as the ONNX importer names it) is a name in `from:`,
    not an expression."""
    net = build("""
input: [4, 8, 8]
layers:
  - conv: {name: tower.1, out: 4, k: 3, p: 1}
  - conv: {name: tower.1_1, out: 4, k: 3, p: 1, share: tower.1}
  - relu: {name: act}
  - add: {from: [tower.1_1, act]}
""")
    nodes = {n.name: n for n in net.nodes}
    assert net.nodes[-1].inputs == ("tower.1_1", "act") and nodes["tower.1_1"].shares == "tower.1"
