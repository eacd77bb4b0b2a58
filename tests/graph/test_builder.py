"""GraphBuilder: names, shapes through the layer types, the merge rule, the tensor limit, the Network."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from groupcost.errors import Location, SpecError
from groupcost.graph.builder import GraphBuilder, Tensor
from groupcost.ops import MERGE_TYPES
from groupcost.graph.check import check
from groupcost.graph.network import INPUT, LayerStep, MergeStep
from groupcost.ops import LAYER_TYPES

HERE = Location("net.yaml", 1, 1)


def conv(out: int, k: int = 1, **args):
    return LAYER_TYPES["conv"](out=out, k=k, **args)


def builder(shape=(3, 8, 8), batch=1, **options) -> GraphBuilder:
    return GraphBuilder(shape, batch, HERE, input_label=f"input {shape}", **options)


@pytest.mark.parametrize(("kind", "shapes", "expected"), [
    ("add", [(8, 4, 4), (8, 4, 4)], (8, 4, 4)),
    ("add", [(8, 4, 4), (8, 1, 1)], (8, 4, 4)),  # a later input broadcasts into the first (GCNet's context)
    ("add", [(8, 1, 1), (8, 4, 4)], None),  # never growing the first
    ("add", [(8, 4, 4), (4, 4, 4)], None),
    ("mul", [(8, 4, 4), (8, 1, 1)], (8, 4, 4)),
    ("mul", [(1, 4, 4), (8, 1, 1), (8, 4, 1)], (8, 4, 4)),
    ("mul", [(8, 4, 4), (4, 4, 4)], None),
    ("mul", [(8, 4, 4), (8, 4)], None),  # ranks differ
    ("concat", [(8, 4, 4), (16, 4, 4), (1, 4, 4)], (25, 4, 4)),
    ("concat", [(8,), (4,)], (12,)),
    ("concat", [(8, 4, 4), (8, 2, 2)], None),
    ("concat", [(8, 4, 4), (8, 4)], None),
])
def test_merge_shape_is_the_one_rule(kind, shapes, expected):
    assert MERGE_TYPES[kind].out_shape(tuple(shapes)) == expected


def test_layers_and_merges_make_a_network_that_passes_the_checker():
    b = builder()
    x = b.input
    y = b.layer("conv1", conv(8, 3, p=1), x, HERE)
    z = b.layer("conv2", conv(8), x, HERE)
    s = b.merge("add", "add", [y, z], HERE, lambda shapes: AssertionError(shapes))
    assert (y, s) == (Tensor("conv1", (8, 8, 8)), Tensor("add", (8, 8, 8)))
    network = b.network("net", "a test", "net.yaml", "float32", 4, {}, ["add"])
    assert [type(n) for n in network.nodes] == [LayerStep, LayerStep, MergeStep]
    assert network.nodes[2].inputs == ("conv1", "conv2") and network.output_shape == (8, 8, 8)
    check(network)


def test_a_channel_range_is_read_as_given():
    b = builder()
    half = Tensor(INPUT, (1, 8, 8), (2, 3))
    y = b.layer("conv", conv(4), half, HERE)
    assert y.shape == (4, 8, 8) and b.nodes[0].channels == ((2, 3),) and b.nodes[0].in_shape == (1, 8, 8)


def test_names_are_deduplicated_from_the_builders_first_copy_number():
    spec, imported = builder(), builder(first_copy=1)
    assert [spec.claim("add", HERE) for _ in range(3)] == ["add", "add_2", "add_3"]
    assert [imported.claim("conv", HERE) for _ in range(3)] == ["conv", "conv_1", "conv_2"]
    assert spec.claim(INPUT, HERE) == "input_2"  # the input's name is taken from the start
    assert spec.names["add"] == HERE


def test_a_fresh_name_is_claimed_only_once_the_node_is_made():
    b = builder(first_copy=1)
    x = b.layer("conv", conv(8), b.input, HERE, fresh=True)
    with pytest.raises(ZeroDivisionError):
        b.merge("add", "add", [x, b.input], HERE, lambda shapes: ZeroDivisionError(shapes), fresh=True)
    assert "add" not in b.names  # a refused merge (the importer's unsupported add) leaves no name behind
    assert b.merge("add", "add", [x, x], HERE, AssertionError, fresh=True).name == "add"
    assert b.layer("conv", conv(8), x, HERE, fresh=True).name == "conv_1"


@dataclass(frozen=True)
class Arg:
    loc: Location


def test_a_layer_error_is_worded_by_the_node_and_located_at_the_argument():
    b = builder((3, 2, 2))
    with pytest.raises(SpecError) as caught:
        b.layer("features.0", conv(8, 5), b.input, HERE, args={"k": Arg(Location("net.yaml", 7, 12))})
    assert str(caught.value) == ("net.yaml:7:12: error: features.0 (conv): kernel 5×5 (dilation 1×1) is larger than the padded input 2×2 "
                                 "(use a smaller kernel or more padding)")
    with pytest.raises(SpecError) as caught:
        b.layer("features.0", conv(8, 5), b.input, HERE, where="node 'Conv_0' (Conv)")
    assert str(caught.value).startswith("net.yaml:1:1: error: node 'Conv_0' (Conv): kernel 5×5")


class ImportFailure(SpecError):
    pass


def test_the_tensor_limit_is_the_builders_own():
    with pytest.raises(SpecError, match=r"^net.yaml:1:1: error: input \(3, 8, 8\) has more than 2\^40 elements \(groupcost's bound on one tensor\)$"):
        builder(batch=2**35)
    b = builder((8, 1024, 1024), batch=2**10, error=ImportFailure, limit_hint=None)
    wide = LAYER_TYPES["conv"](out=2**11, k=1)
    with pytest.raises(ImportFailure) as caught:
        b.layer("conv", wide, b.input, HERE, where="node 'c' (Conv)")
    assert str(caught.value) == "net.yaml:1:1: error: node 'c' (Conv): output 2048×1024×1024 has more than 2^40 elements"
    assert not b.nodes
    x = b.layer("conv", LAYER_TYPES["conv"](out=2**9, k=1), b.input, HERE)
    with pytest.raises(ImportFailure, match="concat.*output 2048×1024×1024 has more than 2\\^40"):
        b.merge("cat", "concat", [x, x, x, x], HERE, AssertionError, where="concat")
