"""PixelShuffle read from ONNX (DepthToSpace in CRD order, as PyTorch writes it): a `pixelshuffle`, no parameters,
no MACs; the DCR order (TensorFlow's) is refused by name.

References: PyTorch's own counts of a torch module written here from the paper (tests/torch_subpixel.py),
exported three ways; a graph built here with onnx.helper for the refusal.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from groupcost.errors import GroupcostError  # noqa: E402
from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402
from groupcost.sources import read_graph  # noqa: E402
from test_onnx_patterns import EXPORTERS, export  # noqa: E402
from torch_cnn_patterns import foldable_norms  # noqa: E402
from torch_reference import torch_counts_with_matmul  # noqa: E402
from torch_subpixel import dense_upsampling_head  # noqa: E402

INPUT = (3, 32, 32)


def assert_duc(network, how: str) -> None:
    model = dense_upsampling_head()
    params, macs, matmul_macs, out_shape = torch_counts_with_matmul(model, INPUT)
    report = analyze(network)
    assert report.totals.params in (params, params - sum(foldable_norms(model, INPUT).values())), how
    assert (report.totals.macs, report.totals.matmul_macs) == (macs, matmul_macs), how
    assert tuple(s for _, s in report.outputs) == (out_shape,) == ((5, 32, 32),), how


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_dense_upsampling_head_reads_every_way(how, tmp_path):
    graph = read_network(export(dense_upsampling_head(), INPUT, tmp_path, how))
    assert_duc(graph, f"{how} analyze")
    assert_duc(build(parse_text(raise_spec(graph), "<raised>"), {}), f"{how} import")


def test_a_dense_upsampling_head_reads_from_its_torch_factory():
    assert_duc(read_graph("torch:torch_subpixel:dense_upsampling_head", INPUT, {}), "torch:")


def test_depth_to_space_in_dcr_order_is_refused(tmp_path):
    nodes = [helper.make_node("DepthToSpace", ["input"], ["y"], name="/up/DepthToSpace", blocksize=2, mode="DCR")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 8, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = tmp_path / "dcr.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    with pytest.raises(GroupcostError, match=r"DepthToSpace in DCR order"):
        read_network(path)
