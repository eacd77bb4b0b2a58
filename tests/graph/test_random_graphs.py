"""Random DAG networks (tests/graphgen.py), built as a groupcost spec and, independently, as a torch
module: groupcost's params, MACs and every output's shape must equal PyTorch's, every named
tensor's shape must equal the one worked out by the generator, and the NumPy executor must
agree with the analysis on each drawn graph."""

from __future__ import annotations

import functools
import re

import pytest
from hypothesis import HealthCheck, Phase, given, settings

import groupcost
from graphgen import Graph, graphs

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def build(graph: Graph) -> groupcost.Network:
    return groupcost.language.build(groupcost.parse_text(graph.spec, "random_graph.yaml"))


def test_random_graphs_match_pytorch():
    pytest.importorskip("torch")
    from torch_reference import torch_counts_with_matmul

    @SETTINGS
    @given(graphs())
    def check(graph: Graph):
        net = build(graph)
        report = groupcost.analyze(net)
        model = graph.module()
        params, macs, matmul_macs, shapes = torch_counts_with_matmul(model, graph.input_shape)
        if len(graph.outputs) == 1:
            shapes = (shapes,)
        assert (report.totals.params, report.totals.macs, report.totals.matmul_macs) == (params, macs, matmul_macs), graph.spec
        assert report.outputs == tuple(zip(map(graph.spec_name, graph.outputs), shapes)), graph.spec
        assert model.shapes == graph.shapes, "the generator's own shape arithmetic disagrees with torch"
        named = {name: shape for name, shape in model.shapes.items() if graph.spec_name(name) in net.shapes}
        assert named == {name: net.shapes[graph.spec_name(name)] for name in named}, graph.spec
        assert len(named) >= len(graph.outputs), "every output is named in the spec"

    check()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(max_nodes=16))
def test_random_graphs_verify_in_numpy(graph: Graph):
    pytest.importorskip("numpy")
    from groupcost.run.execute import verify

    result = verify(build(graph), batch=2)
    assert result.ok, (result.first_mismatch, graph.spec)
    assert len(result.checks) == graph.steps


_NO_NODE = type("NoNode", (), {"kind": None, "target": None})()  # the network's input, read as a node

FEATURES = {
    "a skip reaching back 8 nodes or more": lambda g: g.longest_skip() >= 8,
    "three or more outputs": lambda g: len(g.outputs) >= 3,
    "add, mul and concat together": lambda g: {"add", "mul", "concat"} <= {n.kind for n in g.nodes},
    "a broadcast C×1×1 gate": lambda g: any(n.kind == "mul" and any(g.shapes[i][1:] == (1, 1) != n.out[1:] for i in n.inputs) for n in g.nodes),
    "a mul whose output is larger than each input": lambda g: any(n.kind == "mul" and all(g.shapes[i] != n.out for i in n.inputs) for n in g.nodes),
    "a grouped, not depthwise, conv": lambda g: any(n.kind == "conv" and 1 < _groups(n) < g.shapes[n.inputs[0]][0] for n in g.nodes),
    "a depthwise conv": lambda g: any(n.kind == "conv" and _groups(n) == g.shapes[n.inputs[0]][0] > 1 for n in g.nodes),
    "a strided conv with per-side padding": lambda g: any(n.kind == "conv" and n.args.get("s", 1) != 1 and isinstance(n.args.get("p"), list) and len(n.args["p"]) == 2 * _rank(g, n) > 2 for n in g.nodes),
    "'same' padding with a stride": lambda g: any(n.args.get("p") == "same" and n.args.get("s", 1) != 1 for n in g.nodes),
    "an fc layer after flatten": lambda g: any(n.kind in ("fc", "linear") for n in g.nodes),
    "layers inside a block, reading `in`": lambda g: g.block is not None and re.search(r"(from: |\[|, )in[,\]}]", g.spec) is not None,
    "a merge of a tensor with itself": lambda g: any(n.is_merge and len(set(n.inputs)) < len(n.inputs) for n in g.nodes),
    # the layer types of the second release, each in the forms it takes
    "a grouped convtranspose": lambda g: any(n.kind == "convtranspose" and _groups(n) > 1 for n in g.nodes),
    "a strided convtranspose with output_padding": lambda g: any(n.kind == "convtranspose" and n.args.get("s", 1) != 1 and n.args.get("output_padding", 0) != 0 for n in g.nodes),
    "a dilated, padded convtranspose": lambda g: any(n.kind == "convtranspose" and n.args.get("d", 1) != 1 and n.args.get("p", 0) != 0 for n in g.nodes),
    "upsample nearest by a whole scale": lambda g: any(n.kind == "upsample" and n.args.get("mode", "nearest") == "nearest" and isinstance(n.args.get("scale"), int) for n in g.nodes),
    "upsample by a fractional or per-dimension scale": lambda g: any(n.kind == "upsample" and isinstance(n.args.get("scale"), (float, list)) for n in g.nodes),
    "bilinear upsample with align_corners": lambda g: any(n.kind == "upsample" and n.args.get("mode") == "bilinear" and n.args.get("align_corners") for n in g.nodes),
    "upsample to a size": lambda g: any(n.kind == "upsample" and "size" in n.args for n in g.nodes),
    "upsample to: an earlier tensor": lambda g: any(n.kind == "upsample" and n.target for n in g.nodes),
    "FPN: upsample to: a tensor, then add to it": lambda g: any(n.kind == "add" and any(_node(g, i).kind == "upsample" and _node(g, i).target in n.inputs for i in n.inputs) for n in g.nodes),
    "crop to a size": lambda g: any(n.kind == "crop" and "size" in n.args for n in g.nodes),
    "U-Net: crop to: a tensor, then concat with it": lambda g: any(n.kind == "concat" and any(_node(g, i).kind == "crop" and _node(g, i).target in n.inputs for i in n.inputs) for n in g.nodes),
    "an adaptive pool to: an earlier tensor": lambda g: any(n.kind.startswith("adaptive_") and n.target for n in g.nodes),
    "pad constant with a value": lambda g: any(n.kind == "pad" and "value" in n.args for n in g.nodes),
    "pad reflect": lambda g: any(n.kind == "pad" and n.args.get("mode") == "reflect" for n in g.nodes),
    "pad replicate": lambda g: any(n.kind == "pad" and n.args.get("mode") == "replicate" for n in g.nodes),
    "pad per side": lambda g: any(n.kind == "pad" and isinstance(n.args["p"], list) and len(n.args["p"]) == 2 * _rank(g, n) for n in g.nodes),
    "pixelshuffle with r > 1": lambda g: any(n.kind == "pixelshuffle" and n.args["r"] > 1 for n in g.nodes),
    "pixelunshuffle with r > 1": lambda g: any(n.kind == "pixelunshuffle" and n.args["r"] > 1 for n in g.nodes),
    "layernorm over the channels at every position": lambda g: any(n.kind == "layernorm" and _rank(g, n) > 0 for n in g.nodes),
    "groupnorm with 1 < G < C": lambda g: any(n.kind == "groupnorm" and 1 < _groups(n) < n.out[0] for n in g.nodes),
    "instancenorm, affine": lambda g: any(n.kind == "instancenorm" and n.args.get("affine") for n in g.nodes),
    "instancenorm, not affine": lambda g: any(n.kind == "instancenorm" and not n.args.get("affine") for n in g.nodes),
    "layerscale": lambda g: any(n.kind == "layerscale" for n in g.nodes),
    "linear on the channels at every position": lambda g: any(n.kind == "linear" and _rank(g, n) > 0 for n in g.nodes),
    "gmp": lambda g: any(n.kind == "gmp" for n in g.nodes),
    "adaptive_maxpool": lambda g: any(n.kind == "adaptive_maxpool" for n in g.nodes),
    "adaptive_avgpool": lambda g: any(n.kind == "adaptive_avgpool" for n in g.nodes),
    # attention: products of two activations, counted apart as matmul MACs
    "multi-head attention (heads > 1)": lambda g: any(n.kind == "attention" and n.args["heads"] > 1 for n in g.nodes),
    "softmax along the last dimension": lambda g: any(n.kind == "softmax" and n.args.get("dim") == -1 for n in g.nodes),
    "attention without biases": lambda g: any(n.kind == "attention" and n.args.get("bias") is False for n in g.nodes),
    "attention per sequence (batch_dims)": lambda g: any(n.kind == "attention" and n.args.get("batch_dims") for n in g.nodes),
    "a matmul whose leading dimensions broadcast": lambda g: any(n.kind == "matmul" and g.shapes[n.inputs[0]][:-2] != g.shapes[n.inputs[1]][:-2] for n in g.nodes),
    "a matmul of two different tensors": lambda g: any(n.kind == "matmul" and n.inputs[0] != n.inputs[1] for n in g.nodes),
    # whole graphs on 1-D and 3-D inputs, with the layers that take those ranks
    **{f"{kind} on a {rank}-D tensor": (lambda kind, rank: lambda g: any(n.kind == kind and _rank(g, n) == rank for n in g.nodes))(kind, rank)
       for kind in ("conv", "dwconv", "pwconv", "maxpool", "avgpool", "bn", "convtranspose", "upsample") for rank in (1, 3)},
    # views and shared modules (issue 19)
    "a slice of a spatial dim, counted from the end": lambda g: any(n.kind == "slice" and n.args.get("dim", 1) < 0 for n in g.nodes),
    "a channel slice": lambda g: any(n.kind == "slice" and n.args.get("dim", 1) == 1 for n in g.nodes),
    "a reshape to another rank": lambda g: any(n.kind == "reshape" and len(n.out) != len(g.shapes[n.inputs[0]]) for n in g.nodes),
    "a reshape with -1": lambda g: any(n.kind == "reshape" and -1 in n.args["shape"] for n in g.nodes),
    "a transpose of the channels with a spatial dim": lambda g: any(n.kind == "transpose" and 1 in n.args["dims"] and len(set(n.args["dims"])) == 2 for n in g.nodes),
    "a permute": lambda g: any(n.kind == "permute" for n in g.nodes),
    "a flatten of some dims only": lambda g: any(n.kind == "flatten" and "start" in n.args for n in g.nodes),
    "a conv after a view": lambda g: any(n.kind == "conv" and _node(g, n.inputs[0]).kind in ("reshape", "transpose", "permute") for n in g.nodes),
    "a chunk joined again": lambda g: any(n.kind == "concat" and any(i.startswith(m.name + ".") for i in n.inputs for m in g.nodes if m.parts) for n in g.nodes),
    "a module shared with parameters": lambda g: any(n.shares and n.kind in ("conv", "bn", "linear", "layernorm", "groupnorm", "prelu") for n in g.nodes),
    "a stateless module shared": lambda g: any(n.shares and n.kind in ("maxpool", "avgpool", "relu") for n in g.nodes),
    "trilinear upsample": lambda g: any(n.kind == "upsample" and n.args.get("mode") == "trilinear" for n in g.nodes),
    "linear upsample (1-D)": lambda g: any(n.kind == "upsample" and n.args.get("mode") == "linear" for n in g.nodes),
}


def _groups(node) -> int:
    return node.args.get("groups", node.args.get("g", 1))


def _node(graph: Graph, name: str):
    return next((n for n in graph.nodes if n.name == name), None) or _NO_NODE


def _rank(graph: Graph, node) -> int:
    """Spatial dimensions of the node's (first) input: 0 for a flat one."""
    return len(graph.shapes[node.inputs[0]]) - 1


@functools.cache
def _drawn() -> tuple[frozenset[str], frozenset[str]]:
    """The features and the layer types of 1,500 drawn graphs of up to 32 steps (no shrinking: drawing only; derandomized, so that the draws are the same every run)."""
    features: set[str] = set()
    kinds: set[str] = set()

    @settings(max_examples=1500, phases=[Phase.generate], database=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(graphs(max_nodes=32))
    def collect(graph: Graph):
        features.update(feature for feature, holds in FEATURES.items() if holds(graph))
        kinds.update(n.kind for n in graph.nodes)

    collect()
    return frozenset(features), frozenset(kinds)


def test_generator_reaches_every_feature():
    """Within 1,500 draws the generator produces each thing it promises."""
    missing = sorted(set(FEATURES) - _drawn()[0])
    assert missing == [], missing


NOT_DRAWN = {
    # first-release types the DAG generator has never drawn (tests/graph/test_random_stacks.py and the
    # torch cross-check cover them); every type added since must be drawn
    "dwsep", "gdc", "leakyrelu", "elu", "gelu", "mish", "prelu", "dropout", "shuffle", "lrn", "se",
    "opaque",  # an ONNX operator groupcost does not model: only the importer makes it (tests/formats/onnx/test_onnx_import.py)
    # what the ONNX importer reads of real models' exports; checked against PyTorch's own operators on hypothesis
    # sweeps (tests/ops/test_elementwise.py, tests/ops/test_math_ops.py) and in random chains of exported patterns
    # (tests/formats/onnx/test_onnx_patterns.py, tests/formats/onnx/test_onnx_math.py)
    "elementwise", "reduce", "unary", "grn",
}


def test_generator_draws_every_layer_type():
    """Every layer type groupcost knows is drawn within 1,500 draws, or is listed in NOT_DRAWN."""
    from groupcost.ops.registry import ALIASES, LAYER_TYPES

    drawn = _drawn()[1]
    assert sorted(set(LAYER_TYPES) - set(ALIASES) - drawn - NOT_DRAWN) == []
    assert sorted(NOT_DRAWN & drawn) == [], "drawn now: take it off NOT_DRAWN"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(max_nodes=16))
def test_random_graphs_survive_every_variant(graph: Graph):
    """`compare` rewrites every conv of a graph (G, depthwise, dw-separable): the rewritten graph,
    long skips and merges included, still runs in NumPy and agrees with its own analysis."""
    pytest.importorskip("numpy")
    from groupcost.run.execute import verify
    from groupcost.ops import LayerError
    from groupcost.graph.network import replace_steps
    from groupcost.questions.compare import DEPTHWISE, SEPARABLE, choice_label, compare, is_groupable, replacement

    net = build(graph)
    scenarios = {s.label: s.totals for s in compare(net, [2, DEPTHWISE]).scenarios}
    for choice in (1, 2, DEPTHWISE, SEPARABLE):

        def rebuild(step, choice=choice):
            if not is_groupable(step):
                return (step,)
            try:
                return replacement(step, choice)
            except LayerError:
                return (step,)

        rebuilt = replace_steps(net, rebuild)
        result = verify(rebuilt, batch=1)
        assert result.ok, (choice, result.first_mismatch, graph.spec)
        assert len(rebuilt.outputs) == len(net.outputs)
        totals = groupcost.analyze(rebuilt).totals
        assert (totals.params, totals.macs) == (scenarios[f"all {choice_label(choice)}"].params, scenarios[f"all {choice_label(choice)}"].macs)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=graphs(max_nodes=12))
def test_random_graphs_through_the_cli(graph: Graph, tmp_path_factory):
    """`groupcost analyze --format json` on a drawn graph: exit 0, the totals of the analysis, every output listed."""
    import json

    from typer.testing import CliRunner

    from groupcost.cli.app import app

    path = tmp_path_factory.mktemp("graph") / "graph.yaml"
    path.write_text(graph.spec, encoding="utf-8")
    result = CliRunner().invoke(app, ["analyze", str(path), "--format", "json"])
    assert result.exit_code == 0, (result.stdout, result.stderr, graph.spec)
    doc = json.loads(result.stdout)
    totals = groupcost.analyze(build(graph)).totals
    assert (doc["totals"]["params"], doc["totals"]["macs"]) == (totals.params, totals.macs)
    assert doc["totals"]["params"] == sum(layer["params"] for layer in doc["layers"])
    assert doc["output_shape"] == list(graph.output_shapes[0])


MULTI_OUTPUT = """\
input: [4, 8, 8]
layers:
  - conv: {name: a, out: 8, k: 3, p: 1}
  - relu: {name: r}
  - gap: {name: g, from: a}
  - mul: {name: m, from: [r, g]}
outputs: [m, g]
"""


def test_json_report_lists_every_output(write_spec):
    import json

    from typer.testing import CliRunner

    from groupcost.cli.app import app

    result = CliRunner().invoke(app, ["analyze", str(write_spec(MULTI_OUTPUT)), "--format", "json"])
    assert result.exit_code == 0
    head = json.dumps({key: value for key, value in json.loads(result.stdout).items() if key != "layers"})
    assert '"g"' in head and "[8, 1, 1]" in head, head


AVGPOOL_3D_SMALL = """\
input: [2, 2, 2, 2]
layers:
  - avgpool: {k: 3, s: 1, p: 1}
"""


def test_torch_avgpool3d_refuses_an_input_smaller_than_the_window():
    """Unlike AvgPool1d/2d and MaxPool3d, AvgPool3d checks the unpadded input against the window."""
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="smaller than kernel size"):
        torch.nn.AvgPool3d(3, 1, 1)(torch.zeros(1, 2, 2, 2, 2))
    assert tuple(torch.nn.AvgPool2d(3, 1, 1)(torch.zeros(1, 2, 2, 2)).shape) == (1, 2, 2, 2)


def test_avgpool3d_smaller_than_the_window_is_refused():
    with pytest.raises(groupcost.SpecError):
        groupcost.language.build(groupcost.parse_text(AVGPOOL_3D_SMALL, "avgpool3d.yaml"))
