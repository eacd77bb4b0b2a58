"""Adaptive average pools whose size does not divide the map (PSPNet's and Fast-SCNN's bins of 3 and 6):
torch.export writes each as gathered windows, and the TorchScript exporter cannot export them at all. Read as
`adaptive_avgpool` by analyze, import and `torch:` (which falls back to torch.export), against PyTorch's counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

from groupcost.errors import GroupcostError  # noqa: E402
from groupcost.formats.onnx.reader import read_network  # noqa: E402
from pattern_check import FOLDED_OR_NOT, TRACED_BY_TORCH_EXPORT, check_export, check_factory, export  # noqa: E402
from torch_cnn_patterns import foldable_norms, uneven_pyramid  # noqa: E402

INPUT = (3, 16, 20)
TESTS = Path(__file__).resolve().parents[2]


def _pool_sizes(network) -> list[tuple[int, int]]:
    return sorted(tuple(step.out_shape[1:]) for step in network.nodes if getattr(step, "layer", None) is not None
                  and step.layer.type_name == "adaptive_avgpool")


def test_the_torchscript_exporter_cannot_export_them(tmp_path):
    """Why `torch:` falls back to torch.export's exporter for such a model."""
    with pytest.raises(Exception, match="factor of input size"):
        export(uneven_pyramid(), INPUT, tmp_path, "folded")


def test_uneven_pools_read_exactly_from_a_torch_export_file(tmp_path):
    graph = check_export(uneven_pyramid(), INPUT, "dynamo", tmp_path, FOLDED_OR_NOT, key=("uneven_pyramid",))
    assert _pool_sizes(graph) == [(3, 3), (6, 6)]  # bins of 1 and 2 divide 8×10: read as gap and avgpool


def test_windows_that_are_not_the_adaptive_pools_are_refused_by_name(tmp_path):
    """The same graph with one divisor changed no longer averages its windows: refused, not read as a pool."""
    path = export(uneven_pyramid(), INPUT, tmp_path, "dynamo", key=("uneven_pyramid",))
    model = onnx.load(str(path))
    divisors = {node.input[1] for node in model.graph.node if node.op_type == "Div"}
    tensor = next(t for t in model.graph.initializer if t.name in divisors)
    values = onnx.numpy_helper.to_array(tensor).copy()
    values.flat[0] += 1
    tensor.CopyFrom(onnx.numpy_helper.from_array(values, tensor.name))
    changed = tmp_path / "changed.onnx"
    onnx.save(model, str(changed))
    with pytest.raises(GroupcostError, match="an adaptive average pool written out whose arguments cannot be read"):
        read_network(changed)


def test_a_torch_source_that_only_torch_export_can_trace_reads_exactly():
    graph = check_factory("torch:torch_cnn_patterns:uneven_pyramid", {}, uneven_pyramid(), INPUT, TRACED_BY_TORCH_EXPORT)
    assert _pool_sizes(graph) == [(3, 3), (6, 6)]


def test_the_exporters_write_nothing_to_the_commands_output():
    """The TorchScript exporter dumps its graph to file descriptor 1 when it fails: the JSON stays clean."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "groupcost", "analyze", "torch:torch_cnn_patterns:uneven_pyramid", "--input",
                           ",".join(map(str, INPUT)), "--format", "json"], capture_output=True, text=True, env=env, cwd=TESTS, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    totals, model = json.loads(proc.stdout)["totals"], uneven_pyramid()
    params = sum(p.numel() for p in model.parameters())
    assert totals["params"] in (params, params - sum(foldable_norms(model, INPUT).values()))  # torch.export folds each conv's BN
