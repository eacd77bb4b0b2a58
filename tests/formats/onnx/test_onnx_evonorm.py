"""EvoNorm-S0 (tests/torch_evonorm.py): a group deviation written out (Reshape to N×G×C/G×H×W, ReduceMean, Sub, Mul,
ReduceMean, Add ε, Sqrt, an Expand back over the group and its positions, a Reshape), a sigmoid gate and a learned
affine whose γ and β the folding exporters turn into computed 1×C×1×1 constants; exported three ways and read by
`analyze`, `import` (raised to a spec, built again) and `torch:`, against PyTorch's own counts. The norm is written out
as several steps (the first takes the module's name), so module names are checked through the parameters' owners."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from torch import nn  # noqa: E402

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.formats.onnx.values import OnnxError  # noqa: E402
from pattern_check import EXPORTERS, Expected, check_export, check_factory, export  # noqa: E402
from torch_cnn_patterns import EvoNormS0  # noqa: E402
from torch_evonorm import INPUT_SHAPE, evonorm_model  # noqa: E402


def _learned_norm(report, graph, model, label: str) -> None:
    """v, γ and β: 3 × 16 parameters per norm, none of them MACs."""
    assert sum(row.params for row in report.rows if row.name.startswith("norm1")) == 3 * 16, label


EVONORM = Expected(shaped=lambda name, module: not isinstance(module, EvoNormS0), also=_learned_norm)
"""The norm's first step (its grouped Reshape) takes the module's name: its output is not the module's, so the norms'
shapes are not compared (their names are, through the parameters' owners)."""


@pytest.mark.parametrize("how", EXPORTERS)
def test_evonorm_reads_exactly_every_way(how, tmp_path):
    check_export(evonorm_model(), INPUT_SHAPE, how, tmp_path, EVONORM)


def test_evonorm_reads_from_its_torch_factory():
    check_factory("torch:torch_evonorm:evonorm_model", {}, evonorm_model(), INPUT_SHAPE, EVONORM)


@pytest.mark.parametrize("how", ["folded", "dynamo"])
def test_a_computed_per_channel_shift_without_a_norms_scale_before_it_is_refused_by_name(how, tmp_path):
    """Only after a normalisation's scale is a folded per-channel constant added read as the norm's learned shift;
    anywhere else it may be a buffer or a parameter: refused by name, as before."""

    class ShiftOnly(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, bias=False)
            self.shift = nn.Parameter(torch.randn(8))

        def forward(self, x):
            return torch.relu(self.conv(x)) + self.shift.view(1, -1, 1, 1)

    if how == "dynamo" and "dynamo" not in EXPORTERS:
        pytest.skip("torch.export needs onnxscript")
    with pytest.raises(OnnxError, match="values the exporter computed"):
        read_network(export(ShiftOnly().eval(), (3, 8, 8), tmp_path, how))
