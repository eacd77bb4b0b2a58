"""A skip connection of no channels (an encoder's placeholder for a level it does not compute) concatenated in a
U-Net decoder: left out of the Concat, in every exporter's file.

The module is written here (tests/torch_empty_skip.py); the reference is PyTorch's own count of it. The same
decoder with a real skip there still concatenates it (the placeholder alone is left out).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402
from groupcost.sources import read_graph  # noqa: E402
from torch_empty_skip import empty_skip_unet  # noqa: E402
from torch_named import export_onnx  # noqa: E402
from torch_reference import torch_counts  # noqa: E402

from test_onnx_patterns import EXPORTERS  # noqa: E402  (the three exporters, dynamo where onnxscript is installed)

INPUT = (3, 32, 32)


def _figures(network) -> tuple:
    report = analyze(network)
    return report.totals.params, report.totals.macs, tuple(shape for _, shape in report.outputs)


@pytest.mark.parametrize("with_skip", [False, True])
@pytest.mark.parametrize("how", EXPORTERS)
def test_an_empty_skip_is_left_out_of_the_concatenation(how, with_skip, tmp_path):
    model = empty_skip_unet(with_skip)
    params, macs, shape = torch_counts(model, INPUT)
    path = tmp_path / f"{how}.onnx"
    export_onnx(model, INPUT, path, dynamo=how == "dynamo", fold=how != "unfolded", opset=17 if how == "folded" else None)
    network = read_network(path)
    assert _figures(network) == (params, macs, (shape,)), how
    concats = [row for row in analyze(network).rows if row.type == "concat"]
    assert [row.out_shape[0] for row in concats] == ([48, 20] if with_skip else [48])
    assert _figures(build(parse_text(raise_spec(network), "<raised>"), {})) == (params, macs, (shape,)), f"{how} import"


def test_an_empty_skip_reads_from_its_torch_factory():
    params, macs, shape = torch_counts(empty_skip_unet(), INPUT)
    assert _figures(read_graph("torch:torch_empty_skip:empty_skip_unet", INPUT, {})) == (params, macs, (shape,))
