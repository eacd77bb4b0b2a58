"""A clamp to bounds other than relu6's (GhostNet's hard sigmoid, clamp(x, 0, 1)) read from ONNX: no
parameters, no MACs, the shape unchanged; the whole net as PyTorch counts it.

References: PyTorch's own counts of a torch module written here from the paper (tests/torch_ghost.py), exported
three ways; a norm right after a conv is folded by the exporters, and the count less its parameters is accepted.
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
from torch_ghost import ghost_bottleneck  # noqa: E402
from torch_reference import torch_counts_with_matmul  # noqa: E402

INPUT = (3, 32, 32)


def assert_ghost(network, how: str) -> None:
    model = ghost_bottleneck()
    params, macs, matmul_macs, out_shape = torch_counts_with_matmul(model, INPUT)
    report = analyze(network)
    assert report.totals.params in (params, params - sum(foldable_norms(model, INPUT).values())), how
    assert (report.totals.macs, report.totals.matmul_macs) == (macs, matmul_macs), how
    assert tuple(s for _, s in report.outputs) == (out_shape,), how


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_clamp_between_zero_and_one_reads_every_way(how, tmp_path):
    graph = read_network(export(ghost_bottleneck(), INPUT, tmp_path, how))
    assert_ghost(graph, f"{how} analyze")
    clamps = [(s.layer.op, s.layer.value) for s in graph.nodes if getattr(s, "type_name", "") == "elementwise"]
    assert clamps == [("max", 0.0), ("min", 1.0)], how
    assert_ghost(build(parse_text(raise_spec(graph), "<raised>"), {}), f"{how} import")


def test_a_clamp_between_zero_and_one_reads_from_its_torch_factory():
    assert_ghost(read_graph("torch:torch_ghost:ghost_bottleneck", INPUT, {}), "torch:")
