"""Reading a file's wire format: the weights' bytes are never read, and what is read equals a parse of the whole file."""

from __future__ import annotations

import os

import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402

from groupcost.formats.onnx import wire  # noqa: E402
from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402

CHANNELS = 128
LAYERS = 6


def conv_chain_file(path) -> int:
    """LAYERS 3×3 convs of CHANNELS → CHANNELS, weights inline as raw data; returns the weights' bytes."""
    nodes, weights, x = [], [], "input"
    for i in range(LAYERS):
        nodes.append(helper.make_node("Conv", [x, f"w{i}"], [f"c{i}"], name=f"/conv{i}/Conv", pads=[1, 1, 1, 1]))
        weights.append(helper.make_tensor(f"w{i}", TensorProto.FLOAT, [CHANNELS, CHANNELS, 3, 3], bytes(4 * CHANNELS * CHANNELS * 9), raw=True))
        x = f"c{i}"
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", CHANNELS, 8, 8])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)], weights)
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    return LAYERS * 4 * CHANNELS * CHANNELS * 9


def test_reading_a_file_never_reads_its_weights(tmp_path, monkeypatch):
    path = tmp_path / "chain.onnx"
    weight_bytes = conv_chain_file(path)
    read = []
    real_pread = os.pread
    monkeypatch.setattr(wire.os, "pread", lambda fd, n, at: read.append(n) or real_pread(fd, n, at))
    totals = analyze(read_network(path)).totals
    assert (totals.params, totals.macs) == (LAYERS * CHANNELS * CHANNELS * 9, LAYERS * CHANNELS * CHANNELS * 9 * 8 * 8)
    assert sum(read) <= (LAYERS + 1) * wire.CHUNK < weight_bytes / 4  # a chunk around each tensor's header, not its payload


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_a_file_read_in_chunks_slims_as_its_bytes_do(tmp_path, monkeypatch, chunk):
    """Chunk edges fall inside varints and copied fields; the result must not depend on them."""
    path = tmp_path / "chain.onnx"
    conv_chain_file(path)
    monkeypatch.setattr(wire, "CHUNK", chunk)
    with open(path, "rb") as f:
        from_file = wire.without_weights(wire.FileBytes(f.fileno(), path.stat().st_size))
    assert from_file == wire.without_weights(path.read_bytes())


def test_a_file_cut_short_is_a_wire_error(tmp_path):
    path = tmp_path / "chain.onnx"
    conv_chain_file(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with open(path, "rb") as f, pytest.raises(wire.WireError):
        wire.without_weights(wire.FileBytes(f.fileno(), path.stat().st_size))
