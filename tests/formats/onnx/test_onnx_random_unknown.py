"""Property: an operator groupcost does not know, spliced into a random exported graph, never makes a traceback.

A random graph (tests/graphgen.py) is exported by TorchScript; a node of an unknown domain is put in after
one of its tensors, with an output of rank 1 to 5 (batch included) and odd sizes (ones, a zero, a symbolic
dim, no shape at all), maybe a weight of its own, and either returned as one more output or read in place
of the tensor it follows. With `--allow-unknown` the importer keeps it as an opaque layer, with its weight's
parameters, or refuses the file by name (a GroupcostError: the CLI's exit 2); without it, it is refused by
name, naming the node. Whatever it reads, the analysis and the raised spec follow without a traceback.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from hypothesis import HealthCheck, given, reject, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from groupcost.errors import GroupcostError  # noqa: E402
from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.graph.network import LayerStep  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402
from graphgen import graphs  # noqa: E402
from torch_named import export_onnx, trained_batchnorm  # noqa: E402

DOMAIN = "org.groupcost.test"
SIZES = st.sampled_from([1, 1, 2, 3, 7, 0, "n"])  # "n": a symbolic dim


def _splice(model: onnx.ModelProto, data) -> tuple[str, int]:
    """Put the unknown node after a drawn tensor of `model`; returns its name and its weight's size (0: none)."""
    from onnx import TensorProto, helper

    graph = model.graph
    inferred = onnx.shape_inference.infer_shapes(model).graph
    activations = {v.name for v in [*inferred.value_info, *inferred.output] if v.type.tensor_type.elem_type == TensorProto.FLOAT
                   and len(v.type.tensor_type.shape.dim) >= 2}  # the exported graph's activations, not its shape arithmetic
    producers = [k for k, node in enumerate(graph.node) if node.output and node.output[0] in activations]
    k = data.draw(st.sampled_from(producers))
    tensor = graph.node[k].output[0]
    inputs = [tensor]
    weight_size = 0
    if data.draw(st.booleans()):
        dims = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
        weight_size = 1
        for d in dims:
            weight_size *= d
        graph.initializer.append(helper.make_tensor("mystery.weight", TensorProto.FLOAT, dims, [0.5] * weight_size))
        inputs.append("mystery.weight")
    node = helper.make_node("Mystery", inputs, ["mystery"], name="/mystery/Mystery", domain=DOMAIN)
    readers = [n for n in graph.node[k + 1:] if tensor in n.input]
    graph.node.insert(k + 1, node)
    shape = None  # no shape at all
    if data.draw(st.integers(0, 4)):
        rank = data.draw(st.integers(1, 5))
        shape = [data.draw(st.sampled_from([1, 1, 1, 2, "n"])), *(data.draw(SIZES) for _ in range(rank - 1))]  # the batch first
        graph.value_info.append(helper.make_tensor_value_info("mystery", TensorProto.FLOAT, shape))
    if readers and data.draw(st.booleans()):
        for reader in readers:  # read in place of the tensor it follows
            reader.input[:] = ["mystery" if name == tensor else name for name in reader.input]
    else:
        graph.output.append(helper.make_tensor_value_info("mystery", TensorProto.FLOAT, shape))
    model.opset_import.append(helper.make_opsetid(DOMAIN, 1))
    return node.name, weight_size


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_an_unknown_operator_in_a_random_graph_is_opaque_or_refused_by_name(data, tmp_path_factory):
    graph = data.draw(graphs(max_nodes=6, kinds=("conv", "activation", "pool", "bn", "add", "concat", "upsample", "flatten", "reshape", "fc")))
    folder = tmp_path_factory.mktemp("unknown")
    exported = folder / "g.onnx"
    try:
        export_onnx(trained_batchnorm(graph.module().eval()), graph.input_shape, exported, outputs=len(graph.outputs))
    except Exception:  # the exporter's own limits
        reject()
    model = onnx.load(str(exported))
    name, weight_size = _splice(model, data)
    path = folder / "spliced.onnx"
    onnx.save(model, str(path))

    with pytest.raises(GroupcostError, match="Mystery"):
        read_network(path)
    try:
        network = read_network(path, allow_unknown=True)
        report = analyze(network)
        rebuilt = build(parse_text(raise_spec(network), "raised.yaml"), {})
    except GroupcostError:
        return  # refused by name: the CLI's exit 2
    opaque = [step for step in network.nodes if isinstance(step, LayerStep) and step.type_name == "opaque"]
    assert len(opaque) == 1 and name.strip("/").split("/")[0] in opaque[0].name
    assert report.totals.params >= weight_size
    assert analyze(rebuilt).totals == report.totals
