"""NASNet's and PNASNet's path shifted by one pixel (a padding of −1 before, +1 after: tests/torch_shifted_paths.py),
exported three ways and read by `analyze`, `import` and `torch:` against PyTorch's counts; it was refused (a negative
pad). The shift reads as a `slice` of each spatial axis, then a `pad`."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from dataclasses import replace  # noqa: E402

from pattern_check import EXPORTERS, FOLDED_OR_NOT, check_export, check_factory  # noqa: E402
from torch_shifted_paths import shifted_net  # noqa: E402

INPUT = (3, 11, 11)


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_path_shifted_by_one_pixel_reads_exactly_every_way(how, tmp_path):
    check_export(shifted_net(), INPUT, how, tmp_path, replace(FOLDED_OR_NOT, also=_a_slice_of_each_axis_then_a_pad))


def _a_slice_of_each_axis_then_a_pad(report, graph, model, label: str) -> None:
    shifted = [(row.kind, row.out_shape) for row in report.rows if row.kind in ("slice", "pad")]
    assert shifted == [("slice", (8, 8, 9)), ("slice", (8, 8, 8)), ("pad", (8, 9, 9))], label


def test_a_path_shifted_by_one_pixel_reads_from_its_torch_factory():
    check_factory("torch:torch_shifted_paths:shifted_net", {}, shifted_net(), INPUT, FOLDED_OR_NOT)
