"""Property: random small networks, built in torch, exported to ONNX and imported, keep PyTorch's figures.

First a small generator of this file's own (2-D chains), then the language issue's random-graph
generator (tests/graphgen.py: DAGs of every rank). The small one draws a chain of convolutions (any kernel, stride, padding, dilation, groups, bias), batch norms,
activations, pools, residual adds and concatenated branches, maybe a classifier head. PyTorch
gives the references: parameters (less what BN folding removes), MACs (FlopCounterMode) and
the output shape; the imported spec, raised and built again, gives the same analysis.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from groupcost.errors import SpecError  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from test_onnx_import import folded_bn  # noqa: E402
from graphgen import graphs  # noqa: E402
from torch_named import export_onnx, named_module, trained_batchnorm  # noqa: E402
from torch_reference import torch_counts  # noqa: E402

ACTS = ["relu", "relu6", "sigmoid", "hswish", "hsigmoid", "silu", "tanh", "leakyrelu", "elu"]


@st.composite
def layer_entry(draw, index: int) -> str:
    kind = draw(st.sampled_from(["conv", "conv", "dwconv", "pwconv", "bn", "act", "maxpool", "avgpool", "residual", "parallel"]))
    name = f"l{index}"
    if kind == "conv":
        k = draw(st.sampled_from([1, 3, 5]))
        g = draw(st.sampled_from([1, 1, 2]))
        out = 4 * draw(st.integers(1, 4))
        return (f"- conv: {{name: {name}, out: {out}, k: {k}, s: {draw(st.sampled_from([1, 2]))}, p: {draw(st.integers(0, k // 2))}, "
                f"d: {draw(st.sampled_from([1, 1, 2]))}, groups: {g}, bias: {str(draw(st.booleans())).lower()}}}")
    if kind == "dwconv":
        return f"- dwconv: {{name: {name}, k: 3, s: {draw(st.sampled_from([1, 2]))}, p: 1, bias: false}}"
    if kind == "pwconv":
        return f"- pwconv: {{name: {name}, out: {4 * draw(st.integers(1, 4))}, groups: {draw(st.sampled_from([1, 2]))}, bias: false}}"
    if kind == "bn":
        return f"- bn: {{name: {name}}}"
    if kind == "act":
        return f"- {draw(st.sampled_from(ACTS))}: {{name: {name}}}"
    if kind in ("maxpool", "avgpool"):
        k = draw(st.sampled_from([2, 3]))
        ceil = str(draw(st.booleans())).lower() if kind == "maxpool" else "false"
        return f"- {kind}: {{name: {name}, k: {k}, s: {draw(st.sampled_from([1, 2]))}, p: {draw(st.integers(0, k // 2))}, ceil_mode: {ceil}}}"
    if kind == "residual":
        return (f"- seq:\n    name: {name}\n    layers:\n      - residual:\n          body: [conv: {{name: conv, out: c_now, k: 3, p: 1, bias: false}}, "
                f"bn: {{name: bn}}, relu: {{name: act}}]\n      - relu: {{name: out}}")
    return (f"- seq:\n    name: {name}\n    layers:\n      - parallel:\n          branches:\n"
            f"            - {{name: a, layers: [pwconv: {{name: '0', out: 4}}]}}\n"
            f"            - {{name: b, layers: [conv: {{name: '0', out: 4, k: 3, p: 1}}, relu: {{name: '1'}}]}}")


@st.composite
def network_text(draw) -> str:
    c = draw(st.sampled_from([1, 3, 4, 8]))
    size = draw(st.integers(8, 24))
    n = draw(st.integers(1, 6))
    entries = ["- conv: {name: stem, out: 8, k: 3, p: 1}"] + [draw(layer_entry(i)) for i in range(n)]
    if draw(st.booleans()):
        entries += ["- gap: {name: pool}", "- flatten: {name: flat}", f"- fc: {{name: fc, out: {draw(st.integers(2, 12))}}}"]
    body = "\n".join("  " + line.replace("\n", "\n  ") for line in entries)
    return f"input: [{c}, {size}, {size}]\nlayers:\n{body}\n"


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(network_text())
def test_random_networks_keep_their_figures_through_onnx(tmp_path_factory, text):
    try:
        network = build(parse_text(text, "random.yaml"), {})
    except SpecError:
        return  # not a network (a window larger than its input, groups that do not divide): nothing to export
    model = named_module(network)
    path = tmp_path_factory.mktemp("random") / "net.onnx"
    export_onnx(model, network.input_shape, path)
    params, macs, out_shape = torch_counts(model, network.input_shape)
    imported = read_network(path)
    report = analyze(imported)
    assert (report.totals.params, report.totals.macs, report.output_shape) == (params - folded_bn(network), macs, out_shape)
    rebuilt = build(parse_text(raise_spec(imported), "raised.yaml"), {})
    assert analyze(rebuilt).totals == report.totals
    assert [(n.name, n.out_shape) for n in rebuilt.nodes] == [(n.name, n.out_shape) for n in imported.nodes]


# The language issue's generator (tests/graphgen.py): DAGs of every rank, with the layer types the
# importer reads (groupnorm, instancenorm, pixel (un)shuffle and adaptive pools have no ONNX form it reads).
IMPORTED_KINDS = ("conv", "dwconv", "pwconv", "convtranspose", "bn", "layernorm", "layerscale", "activation", "pool", "gap", "gmp",
                  "upsample", "crop", "pad", "flatten", "fc", "linear", "head", "upsample_to", "crop_to", "fpn", "unet", "add", "concat")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(graph=graphs(max_nodes=12, kinds=IMPORTED_KINDS))
def test_generated_graphs_exported_and_imported_keep_pytorchs_figures(graph, tmp_path_factory):
    network = build(parse_text(graph.spec, "random_graph.yaml"), {})
    model = trained_batchnorm(graph.module().eval())
    params, macs, shapes = torch_counts(model, graph.input_shape)
    path = tmp_path_factory.mktemp("graph") / "g.onnx"
    export_onnx(model, graph.input_shape, path, outputs=len(graph.outputs))
    imported = read_network(path)
    report = analyze(imported)
    assert (report.totals.params, report.totals.macs) == (params - folded_bn(network), macs), graph.spec
    assert imported.output_shapes == (shapes if len(graph.outputs) > 1 else (shapes,)), graph.spec
