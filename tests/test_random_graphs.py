"""Random DAG networks (tests/graphgen.py), built as a groupcost spec and, independently, as a torch
module: groupcost's params, MACs and every output's shape must equal PyTorch's, every named
tensor's shape must equal the one worked out by the generator, and the NumPy executor must
agree with the analysis on each drawn graph."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, Phase, given, settings

import groupcost
from graphgen import Graph, graphs

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def build(graph: Graph) -> groupcost.Network:
    return groupcost.spec.build(groupcost.parse_text(graph.spec, "random_graph.yaml"))


def test_random_graphs_match_pytorch():
    pytest.importorskip("torch")
    from torch_reference import torch_counts

    @SETTINGS
    @given(graphs())
    def check(graph: Graph):
        net = build(graph)
        report = net.analyze()
        model = graph.module()
        params, macs, shapes = torch_counts(model, graph.input_shape)
        if len(graph.outputs) == 1:
            shapes = (shapes,)
        assert (report.totals.params, report.totals.macs) == (params, macs), graph.spec
        assert report.outputs == tuple(zip(map(graph.spec_name, graph.outputs), shapes)), graph.spec
        assert model.shapes == graph.shapes, "the generator's own shape arithmetic disagrees with torch"
        named = {name: shape for name, shape in model.shapes.items() if graph.spec_name(name) in net.shapes}
        assert named == {name: net.shapes[graph.spec_name(name)] for name in named}, graph.spec
        assert len(named) >= len(graph.outputs), "every output is named in the spec"

    check()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(max_nodes=16))
def test_random_graphs_verify_in_numpy(graph: Graph):
    pytest.importorskip("numpy")
    from groupcost.execute import verify

    result = verify(build(graph), batch=2)
    assert result.ok, (result.first_mismatch, graph.spec)
    assert len(result.checks) == len(graph.nodes)


FEATURES = {
    "a skip reaching back 8 nodes or more": lambda g: g.longest_skip() >= 8,
    "three or more outputs": lambda g: len(g.outputs) >= 3,
    "add, mul and concat together": lambda g: {"add", "mul", "concat"} <= {n.kind for n in g.nodes},
    "a broadcast C×1×1 gate": lambda g: any(n.kind == "mul" and any(g.shapes[i][1:] == (1, 1) != n.out[1:] for i in n.inputs) for n in g.nodes),
    "a mul whose output is larger than each input": lambda g: any(n.kind == "mul" and all(g.shapes[i] != n.out for i in n.inputs) for n in g.nodes),
    "a grouped, not depthwise, conv": lambda g: any(n.kind == "conv" and 1 < _groups(n) < g.shapes[n.inputs[0]][0] for n in g.nodes),
    "a depthwise conv": lambda g: any(n.kind == "conv" and _groups(n) == g.shapes[n.inputs[0]][0] > 1 for n in g.nodes),
    "a strided conv with per-side padding": lambda g: any(n.kind == "conv" and n.args.get("s", 1) != 1 and isinstance(n.args.get("p"), list) and len(n.args["p"]) == 4 for n in g.nodes),
    "'same' padding with a stride": lambda g: any(n.args.get("p") == "same" and n.args.get("s", 1) != 1 for n in g.nodes),
    "an fc layer after flatten": lambda g: any(n.kind in ("fc", "linear") for n in g.nodes),
    "layers inside a block, reading `in`": lambda g: g.block is not None and re.search(r"(from: |\[|, )in[,\]}]", g.spec) is not None,
    "a merge of a tensor with itself": lambda g: any(n.is_merge and len(set(n.inputs)) < len(n.inputs) for n in g.nodes),
}


def _groups(node) -> int:
    return node.args.get("groups", node.args.get("g", 1))


def test_generator_reaches_every_feature():
    """Within 150 draws the generator produces each thing it promises (no shrinking: drawing only)."""
    seen: set[str] = set()

    @settings(max_examples=150, phases=[Phase.generate], database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(graphs())
    def collect(graph: Graph):
        seen.update(feature for feature, holds in FEATURES.items() if holds(graph))

    collect()
    assert set(FEATURES) - seen == set()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(max_nodes=16))
def test_random_graphs_survive_every_variant(graph: Graph):
    """`compare` rewrites every conv of a graph (G, depthwise, dw-separable): the rewritten graph,
    long skips and merges included, still runs in NumPy and agrees with its own analysis."""
    pytest.importorskip("numpy")
    from groupcost.execute import verify
    from groupcost.layers import LayerError
    from groupcost.network import replace_steps
    from groupcost.variants import DEPTHWISE, SEPARABLE, choice_label, compare, is_groupable, replacement

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
        totals = rebuilt.analyze().totals
        assert (totals.params, totals.macs) == (scenarios[f"all {choice_label(choice)}"].params, scenarios[f"all {choice_label(choice)}"].macs)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=graphs(max_nodes=12))
def test_random_graphs_through_the_cli(graph: Graph, tmp_path_factory):
    """`groupcost analyze --format json` on a drawn graph: exit 0, the totals of the analysis, every output listed."""
    import json

    from typer.testing import CliRunner

    from groupcost.cli import app

    path = tmp_path_factory.mktemp("graph") / "graph.yaml"
    path.write_text(graph.spec, encoding="utf-8")
    result = CliRunner().invoke(app, ["analyze", str(path), "--format", "json"])
    assert result.exit_code == 0, (result.stdout, result.stderr, graph.spec)
    doc = json.loads(result.stdout)
    totals = build(graph).analyze().totals
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


@pytest.mark.xfail(strict=True, reason="the JSON report names only the first output's shape (output_shape); a network's other outputs are not reported")
def test_json_report_lists_every_output(write_spec):
    import json

    from typer.testing import CliRunner

    from groupcost.cli import app

    result = CliRunner().invoke(app, ["analyze", str(write_spec(MULTI_OUTPUT)), "--format", "json"])
    assert result.exit_code == 0
    head = json.dumps({key: value for key, value in json.loads(result.stdout).items() if key != "layers"})
    assert '"g"' in head and "[8, 1, 1]" in head, head
