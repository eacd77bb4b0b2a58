"""One module called again, read from ONNX: a weight read by two nodes of one module is a `share:` of
the first call (params once, MACs per call); two readers that are not one module are refused by name.

References: PyTorch's own counts of torch modules written here (tests/torch_sharing.py, read by
test_onnx_patterns in all three exporters) and torchvision's published RetinaNet figure (34,014,999
params, BRIEF/CHANGELOG); the refusals are graphs built here with onnx.helper.
"""

from __future__ import annotations

import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from groupcost.errors import GroupcostError  # noqa: E402
from groupcost.formats.onnx import export as onnx_export  # noqa: E402
from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.graph.network import LayerStep  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402
from groupcost.sources import load  # noqa: E402


def _kernel(name: str, dims: tuple[int, ...], seed: int) -> TensorProto:
    """A kernel of distinct values (a trained or random one, never a constant fill)."""
    count = 1
    for d in dims:
        count *= d
    return helper.make_tensor(name, TensorProto.FLOAT, dims, [((seed + 7 * k) % 13) / 13 for k in range(count)])


def _two_readers(first: str, second: str, second_stride: int = 1):
    """input → Conv `first` → Relu → Conv `second` (the same 3×3 kernel and bias) → output."""
    nodes = [helper.make_node("Conv", ["input", "head.conv.weight", "head.conv.bias"], ["c1"], name=first, pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r"], name="/act/Relu"),
             helper.make_node("Conv", ["r", "head.conv.weight", "head.conv.bias"], ["y"], name=second, pads=[1, 1, 1, 1], strides=[second_stride] * 2)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [_kernel("head.conv.weight", (4, 4, 3, 3), 1), _kernel("head.conv.bias", (4,), 2)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_module_called_twice_counts_its_parameters_once(tmp_path):
    path = tmp_path / "twice.onnx"
    path.write_bytes(_two_readers("/head/conv/Conv", "/head/conv_1/Conv").SerializeToString())  # TorchScript's scopes of a second call
    network = read_network(path)
    report = analyze(network)
    assert (report.totals.params, report.totals.macs) == (4 * 4 * 9 + 4, 2 * 4 * 4 * 9 * 64)  # nn.Conv2d(4, 4, 3): 148 params, 9,216 MACs a call
    assert [(s.name, s.shares) for s in network.nodes if isinstance(s, LayerStep) and s.type_name == "conv"] == [("head.conv", None), ("head.conv_1", "head.conv")]


@pytest.mark.parametrize(("second", "stride", "said"), [
    ("/head/conv_1/Conv", 2, "not its module called again: 'head.conv' is conv"),  # other arguments: not one module
    ("/neck/conv/Conv", 1, "they are the modules 'head.conv' and 'neck.conv'"),  # equal initializers of two modules, merged
])
def test_two_readers_that_are_not_one_module_are_refused(tmp_path, second, stride, said):
    path = tmp_path / "two.onnx"
    path.write_bytes(_two_readers("/head/conv/Conv", second, stride).SerializeToString())
    with pytest.raises(GroupcostError) as refused:
        read_network(path)
    assert said in str(refused.value) and "reads the weight 'head.conv.weight'" in str(refused.value)


def test_retinanets_shared_heads_read_back_once(tmp_path):
    """groupcost's own export of the zoo's RetinaNet (heads shared over five levels): params once, MACs per
    level, and a spec with `share:`. Its frozen batch norms export as BatchNormalization, which ONNX cannot
    mark as buffers: they read back as learnable `bn`, 2C params each that PyTorch counts as buffers."""
    network = load("retinanet_resnet50_fpn", input_shape=(3, 128, 128))
    path = tmp_path / "retinanet.onnx"
    path.write_bytes(onnx_export.onnx_model(network, "random").SerializeToString())
    imported = read_network(path)
    frozen = sum(2 * s.in_shape[0] for s in network.nodes if isinstance(s, LayerStep) and s.type_name == "frozenbn")
    report = analyze(imported)
    assert report.totals.params == 34_014_999 + frozen  # torchvision's published count, its frozen norms' buffers read as params
    assert report.totals.macs == analyze(network).totals.macs
    weighted_calls = [sum(1 for s in net.nodes if isinstance(s, LayerStep) and s.shares and s.layer.weight_shapes(s.in_shape)) for net in (imported, network)]
    assert weighted_calls == [40, 40]  # two heads of five convs, called again on four more levels
    text = raise_spec(imported)
    assert "share: classification_head.cls_logits" in text  # named from inside `head`, as its own `from:` names are
    assert analyze(build(parse_text(text, "retinanet.yaml"), {})).totals == report.totals
