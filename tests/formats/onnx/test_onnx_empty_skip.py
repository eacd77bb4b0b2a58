"""A skip connection of no channels (an encoder's placeholder for a level it does not compute) concatenated in a
U-Net decoder: left out of the Concat, in every exporter's file.

The module is written here (tests/torch_empty_skip.py); the reference is PyTorch's own count of it. The same
decoder with a real skip there still concatenates it (the placeholder alone is left out).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from groupcost.graph.analysis import analyze  # noqa: E402
from pattern_check import EXPORTERS, check_export, check_factory  # noqa: E402
from torch_empty_skip import empty_skip_unet  # noqa: E402

INPUT = (3, 32, 32)


@pytest.mark.parametrize("with_skip", [False, True])
@pytest.mark.parametrize("how", EXPORTERS)
def test_an_empty_skip_is_left_out_of_the_concatenation(how, with_skip, tmp_path):
    network = check_export(empty_skip_unet(with_skip), INPUT, how, tmp_path)
    concats = [row for row in analyze(network).rows if row.type == "concat"]
    assert [row.out_shape[0] for row in concats] == ([48, 20] if with_skip else [48])


def test_an_empty_skip_reads_from_its_torch_factory():
    check_factory("torch:torch_empty_skip:empty_skip_unet", {}, empty_skip_unet(), INPUT)
