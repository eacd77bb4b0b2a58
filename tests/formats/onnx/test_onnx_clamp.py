"""A clamp to bounds other than relu6's (GhostNet's hard sigmoid, clamp(x, 0, 1)) read from ONNX as two element-wise
bounds, in every exporter's spelling. The whole net's counts are checked against PyTorch's with the other CNN patterns
(`ghost_clamp` in tests/torch_cnn_patterns.py).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from pattern_check import EXPORTERS, export  # noqa: E402
from torch_cnn_patterns import CNN_PATTERNS, cnn_pattern  # noqa: E402


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_clamp_between_zero_and_one_is_a_max_then_a_min(how, tmp_path):
    graph = read_network(export(cnn_pattern("ghost_clamp"), CNN_PATTERNS["ghost_clamp"][1], tmp_path, how, key=("cnn_pattern", "ghost_clamp")))
    clamps = [(s.layer.op, s.layer.value) for s in graph.nodes if getattr(s, "type_name", "") == "elementwise"]
    assert clamps == [("max", 0.0), ("min", 1.0)], how
