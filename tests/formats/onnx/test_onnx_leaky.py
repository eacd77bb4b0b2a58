"""A leaky ReLU's slope read from ONNX (Darknet's and YOLOv3's 0.1 beside torch's default 0.01), in every exporter's
spelling: the raised spec and its PyTorch export compute what the module computes (the slope was read as 0.01)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from torch import nn  # noqa: E402

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.formats.torch.export import torch_model  # noqa: E402
from pattern_check import EXPORTERS, export, raised  # noqa: E402


class Darknet(nn.Module):
    """Two conv + leaky ReLU layers, the first with Darknet's slope."""

    def __init__(self):
        super().__init__()
        self.conv1, self.act1 = nn.Conv2d(3, 8, 3, padding=1), nn.LeakyReLU(0.1)
        self.conv2, self.act2 = nn.Conv2d(8, 4, 1), nn.LeakyReLU()

    def forward(self, x):
        return self.act2(self.conv2(self.act1(self.conv1(x))))


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_leaky_relus_slope_is_read_and_computed(how, tmp_path):
    torch.manual_seed(0)
    model = Darknet().eval()
    network = read_network(export(model, (3, 8, 8), tmp_path, how))
    assert [s.layer.slope for s in network.nodes if getattr(s, "type_name", "") == "leakyrelu"] == [0.1, 0.01], how
    again = torch_model(raised(network)).eval()
    again.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(again(x), model(x), atol=1e-6), how
