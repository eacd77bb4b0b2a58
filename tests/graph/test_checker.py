"""check(network): every network groupcost builds passes; a broken one fails at the node, saying why."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import groupcost
from groupcost.errors import SpecError
from groupcost.graph.check import GraphError, check
from groupcost.graph.network import LayerStep, MergeStep, Network
from groupcost.language import parse_text
from groupcost.language.build import build
from groupcost.language.zoo import zoo_names
from groupcost.ops import LAYER_TYPES

IMPORTABLE = Path(__file__).parent.parent / "formats" / "importable_layers.yaml"

SPLIT = """name: split
input: [8, 6, 6]
layers:
  - conv: {out: 8, k: 1}
  - parallel:
      split: [3, 5]
      merge: concat
      branches:
        - [conv: {out: 4, k: 3, p: 1}]
        - [dwconv: {k: 3, p: 1}, relu]
  - residual:
      body:
        - conv: {out: 9, k: 1}
        - conv: {out: 9, k: 1}
  - gap
  - flatten
  - fc: {out: 10}
"""


@pytest.fixture(scope="module")
def net() -> Network:
    return build(parse_text(SPLIT, "split.yaml"))


@pytest.mark.parametrize("name", zoo_names())
def test_every_zoo_model_passes(name):
    check(groupcost.load(name))


@pytest.mark.parametrize("name", ["every_layer", "shufflenet_v2_x1_0", "mobilenet_v3_small", "s3d", "convnext_tiny"])
def test_networks_imported_from_onnx_pass(name):
    pytest.importorskip("onnx")
    from groupcost.formats.onnx.export import onnx_model
    from groupcost.formats.onnx.reader import network_from_model

    network = groupcost.load(IMPORTABLE if name == "every_layer" else name)
    imported = network_from_model(onnx_model(network, "zeros"), f"{name}.onnx", None, name=name)
    check(imported)
    if name == "shufflenet_v2_x1_0":  # its splits are read as channel ranges
        assert any(c is not None for n in imported.nodes for c in n.channels)


def test_the_example_passes_and_reads_channel_ranges(net):
    check(net)
    assert {c for n in net.nodes for c in n.channels if c is not None} == {(0, 3), (3, 8)}


def node(net: Network, name: str):
    return next(n for n in net.nodes if n.name == name)


def broken(net: Network, target: str, **changes) -> Network:
    """`net` with node `target` changed."""
    return replace(net, nodes=tuple(replace(n, **changes) if n.name == target else n for n in net.nodes))


def fails(net: Network, message: str) -> GraphError:
    with pytest.raises(GraphError) as caught:
        check(net)
    assert isinstance(caught.value, SpecError) and caught.value.message == message
    return caught.value


def test_a_name_taken_twice(net):
    error = fails(broken(net, "2.0", name="0"), "node '0' (dwconv): its name is taken by the input or an earlier node")
    assert error.location == node(net, "2.0").loc
    fails(broken(net, "0", name="input"), "node 'input' (conv): its name is taken by the input or an earlier node")


def test_a_read_of_a_later_or_missing_tensor(net):
    fails(broken(net, "0", inputs=("3",)), "node '0' (conv): reads '3', which is not the input or an earlier node")
    fails(broken(net, "3", inputs=("nowhere",)), "node '3' (conv): reads 'nowhere', which is not the input or an earlier node")
    swapped = replace(net, nodes=(net.nodes[1], net.nodes[0], *net.nodes[2:]))
    fails(swapped, "node '1' (conv): reads '0', which is not the input or an earlier node")


def test_shapes_that_do_not_follow(net):
    fails(broken(net, "0", out_shape=(8, 6, 5)), "node '0' (conv): gives 8×6×5, but 8×6×6 follows from its input")
    fails(broken(net, "0", in_shape=(3, 6, 6)), "node '0' (conv): takes 3×6×6 from 'input', which gives 8×6×6")
    fails(broken(net, "7", layer=LAYER_TYPES["fc"](out=11)), "node '7' (fc): gives 10, but 11 follows from its input")
    error = fails(broken(net, "7", in_shape=(10,)), "node '7' (fc): takes 10 from '6', which gives 9")
    assert error.location == node(net, "7").loc


def test_channel_ranges_outside_their_tensor(net):
    fails(broken(net, "1", channels=((3, 9),)), "node '1' (conv): reads channels (3, 9) of '0', which is 8×6×6")
    fails(broken(net, "1", channels=((3, 3),)), "node '1' (conv): reads channels (3, 3) of '0', which is 8×6×6")
    fails(broken(net, "1", channels=((0, 4),)), "node '1' (conv): takes 3×6×6 from '0', which gives 4×6×6")
    fails(broken(net, "1", channels=(None,)), "node '1' (conv): takes 3×6×6 from '0', which gives 8×6×6")


def test_a_layer_that_refuses_its_input(net):
    fails(broken(net, "0", layer=LAYER_TYPES["conv"](out=8, k=1, groups=3)),
          "node '0' (conv): its layer refuses its input 8×6×6: groups=3 does not divide C_in=8 and C_out=8")


def test_merges(net):
    fails(broken(net, "concat", kind="xor"), "node 'concat' (xor): unknown merge 'xor' (one of add, mul, sub, div, max, min, concat, matmul)")
    fails(broken(net, "concat", kind="add"), "node 'concat' (add): cannot add 4×6×6, 5×6×6")
    fails(broken(net, "add", out_shape=(18, 6, 6)), "node 'add' (add): gives 18×6×6, but 9×6×6 follows from its input")
    fails(broken(net, "add", inputs=("4",)), "node 'add' (add): inputs: 1, channel ranges: 2, input shapes: 2 (one of each per input, at least one)")
    fails(broken(net, "add", inputs=(), channels=(), in_shapes=()), "node 'add' (add): inputs: 0, channel ranges: 0, input shapes: 0 (one of each per input, at least one)")
    assert isinstance(node(net, "add"), MergeStep)


def test_a_layer_reads_one_tensor(net):
    fails(broken(net, "0", inputs=("input", "input"), channels=(None, None)), "node '0' (conv): inputs: 2, channel ranges: 2, input shapes: 1 (one of each per input, at least one)")
    assert isinstance(node(net, "0"), LayerStep)


def test_outputs_and_limits(net):
    fails(replace(net, outputs=("nowhere",)), "output 'nowhere' is no tensor of the network")
    fails(replace(net, outputs=()), "the network has no outputs")
    fails(replace(net, batch=2**40), "input 8×6×6 has more than 2^40 elements")
    huge = replace(net, input_shape=(1, 2**19, 2**19))
    fails(broken(huge, "0", in_shape=(1, 2**19, 2**19), out_shape=(8, 2**19, 2**19)),
          "node '0' (conv): output 8×524288×524288 has more than 2^40 elements")
