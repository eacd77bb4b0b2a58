"""NASNet's and PNASNet's path shifted by one pixel (a padding of −1 before, +1 after: tests/torch_shifted_paths.py),
exported three ways and read by `analyze`, `import` and `torch:` against PyTorch's counts; it was refused (a negative
pad). The shift reads as a `slice` of each spatial axis, then a `pad`."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402
from groupcost.sources import read_graph  # noqa: E402
from test_onnx_cnn_patterns import assert_reads_as_pytorch  # noqa: E402
from test_onnx_patterns import EXPORTERS, export  # noqa: E402
from torch_shifted_paths import shifted_net  # noqa: E402

INPUT = (3, 11, 11)


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_path_shifted_by_one_pixel_reads_exactly_every_way(how, tmp_path):
    model = shifted_net()
    network = read_network(export(model, INPUT, tmp_path, how))
    raised = build(parse_text(raise_spec(network), "<raised>"), {})
    for graph, what in ((network, "analyze"), (raised, "import")):
        assert_reads_as_pytorch(graph, model, INPUT, f"{how} {what}")
        shifted = [(row.kind, row.out_shape) for row in analyze(graph).rows if row.kind in ("slice", "pad")]
        assert shifted == [("slice", (8, 8, 9)), ("slice", (8, 8, 8)), ("pad", (8, 9, 9))], (how, what)


def test_a_path_shifted_by_one_pixel_reads_from_its_torch_factory():
    assert_reads_as_pytorch(read_graph("torch:torch_shifted_paths:shifted_net", INPUT), shifted_net(), INPUT, "torch:")
