"""Detection heads' decoding as PyTorch's exporters write it, from torch modules written here (tests/torch_heads.py).

Each head is exported three ways (TorchScript with and without constant folding, torch.export with a
symbolic batch) and read back: PyTorch's own parameter count, MACs (FlopCounterMode) and output
shape, and the decoding as the one `dist2bbox` step, whose NumPy kernel gives the torch module's boxes.
A decoding groupcost cannot read exactly is refused by name, never read as something else.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from groupcost.errors import GroupcostError  # noqa: E402
from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from torch_heads import AnchorFreeHead, anchor_points, distances_to_boxes  # noqa: E402
from torch_named import export_onnx  # noqa: E402
from torch_reference import torch_counts  # noqa: E402

try:
    import onnxscript  # noqa: F401

    EXPORTERS = ["folded", "unfolded", "dynamo"]
except ImportError:
    EXPORTERS = ["folded", "unfolded"]

INPUT = (3, 64, 64)


def exported(model, tmp_path, how: str):
    path = tmp_path / f"{how}.onnx"
    export_onnx(model.eval(), INPUT, path, dynamo=how == "dynamo", fold=how != "unfolded")
    return read_network(path)


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("xywh", [True, False])
def test_anchor_free_decoding_reads_as_dist2bbox(xywh, how, tmp_path):
    model = AnchorFreeHead(xywh=xywh)
    params, macs, out_shape = torch_counts(model, INPUT)
    report = analyze(exported(model, tmp_path, how))
    assert (report.totals.params, report.totals.macs) == (params, macs)
    assert [shape for _, shape in report.outputs] == [out_shape]
    decoding = [row for row in report.rows if row.type == "dist2bbox"]
    assert len(decoding) == 1 and decoding[0].out_shape == (4, 16 * 16 + 8 * 8) and decoding[0].macs == 0


def test_dist2bbox_kernel_gives_the_torch_heads_boxes(tmp_path):
    """The layer read back, run in NumPy on random distances, against the torch module's own decoding."""
    model = AnchorFreeHead(xywh=True)
    network = exported(model, tmp_path, "folded")
    (layer,) = [step.layer for step in network.nodes if getattr(step, "type_name", None) == "dist2bbox"]
    assert (layer.grids, layer.strides, layer.xywh) == (((16, 16), (8, 8)), (4, 8), True)
    distances = torch.rand(2, 4, 16 * 16 + 8 * 8) * 5
    features = [torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 8, 8)]
    expected = distances_to_boxes(distances, *anchor_points(features, (4, 8)), xywh=True).numpy()
    np.testing.assert_allclose(layer.forward(distances.numpy(), None, None), expected, rtol=1e-6)


@pytest.mark.parametrize("how", EXPORTERS)
def test_anchors_other_than_cell_centres_are_refused_by_name(how, tmp_path):
    """Anchors at the cells' corners (offset 0) are not dist2bbox's: the import names the node it cannot read."""
    model = AnchorFreeHead(offset=0.0)
    with pytest.raises(GroupcostError) as refused:
        exported(model, tmp_path, how)
    assert "Sub" in str(refused.value) and "channel range" in str(refused.value)
