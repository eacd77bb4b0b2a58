"""PixelShuffle read from ONNX (DepthToSpace in CRD order, as PyTorch writes it): a `pixelshuffle`, no parameters,
no MACs (the DCR order and SpaceToDepth: test_onnx_depth.py).

References: PyTorch's own counts of a torch module written here from the paper (tests/torch_subpixel.py),
exported three ways.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

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
