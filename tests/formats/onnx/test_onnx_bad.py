"""Bad ONNX input: a corpus generated here, each file one located line on stderr and exit 2.

Files are built with onnx.helper (no torch), written to a temporary folder, and read through
the command line in a subprocess with a time limit, as a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.formats.onnx.values import OnnxError  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


def value(name: str, dims) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def weight(name: str, dims, external: str | None = None) -> TensorProto:
    """An initializer with dims and no data read: inline zeros when small, else only a pointer to external data."""
    tensor = TensorProto()
    tensor.name = name
    tensor.data_type = TensorProto.FLOAT
    tensor.dims.extend(dims)
    if external is not None:
        tensor.data_location = TensorProto.EXTERNAL
        for key, val in (("location", external), ("offset", "0"), ("length", str(4 * max(1, _prod(dims))))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, val
    elif all(d >= 0 for d in dims) and _prod(dims) <= 10_000:
        tensor.raw_data = bytes(4 * _prod(dims))
    return tensor


def _prod(dims) -> int:
    out = 1
    for d in dims:
        out *= d
    return out


def conv_model(input_dims=("N", 3, 8, 8), weight_dims=(4, 3, 3, 3), extra_nodes=(), extra_inits=(), output="y", external=None, name="/layer1/layer1.0/conv1/Conv"):
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], name=name, pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"], name="/relu/Relu"), *extra_nodes]
    graph = helper.make_graph(nodes, "g", [value("input", list(input_dims))], [value(output, None)], [weight("w", weight_dims, external), *extra_inits])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def save(model, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "groupcost", *args], capture_output=True, text=True, env=env, timeout=60)


def corpus(folder: Path) -> dict[str, tuple[Path, str]]:
    """name → (file, a fragment the error must contain)."""
    good = conv_model().SerializeToString()
    files: dict[str, tuple[Path, str]] = {}

    def add(name: str, data_or_model, fragment: str) -> None:
        path = folder / f"{name}.onnx"
        if isinstance(data_or_model, bytes):
            path.write_bytes(data_or_model)
        else:
            save(data_or_model, path)
        files[name] = (path, fragment)

    add("truncated", good[: len(good) // 2], "not an ONNX model")
    add("not_protobuf", b"\xff\xfe this is not protobuf \x00\x01\x02" * 10, "not an ONNX model")
    add("empty", b"", "the file is empty")
    cycle = helper.make_graph(
        [helper.make_node("Add", ["input", "t2"], ["t1"], name="/a/Add"), helper.make_node("Relu", ["t1"], ["t2"], name="/b/Relu")],
        "g", [value("input", ["N", 3, 8, 8])], [value("t2", None)])
    add("cycle", helper.make_model(cycle), "node '/a/Add' (Add): is part of a cycle")
    add("dangling", conv_model(extra_nodes=[helper.make_node("Add", ["y", "ghost"], ["z"], name="/add/Add")], output="z"),
        "node '/add/Add' (Add): input 'ghost' is produced by no node")
    add("negative_input_dim", conv_model(input_dims=("N", -3, 8, 8)), "dimension 1 = -3")
    add("zero_input_dim", conv_model(input_dims=("N", 3, 0, 8)), "dimension 2 = 0")
    add("negative_weight_dim", conv_model(weight_dims=(-4, 3, 3, 3)), "node '/layer1/layer1.0/conv1/Conv' (Conv): initializer 'w' has a negative dimension")
    add("absurd_weight", conv_model(weight_dims=(2**21, 2**20, 3, 3)), "more than 2^40")
    add("absurd_input", conv_model(input_dims=(1, 3, 2**20, 2**20)), "more than 2^40")
    add("absurd_output", conv_model(input_dims=(1, 3, 2**19, 2**19), weight_dims=(2**14, 3, 3, 3)), "node '/layer1/layer1.0/conv1/Conv' (Conv): output")
    add("missing_external_data", conv_model(external="missing_external_data.onnx.data"),
        "node '/layer1/layer1.0/conv1/Conv' (Conv): its initializer 'w' is stored in 'missing_external_data.onnx.data', which does not exist")
    add("external_data_outside", conv_model(external="../../etc/passwd"), "cannot be read safely")
    add("weight_does_not_fit", conv_model(weight_dims=(4, 5, 3, 3)), "node '/layer1/layer1.0/conv1/Conv' (Conv): weight [4, 5, 3, 3] with group=1 does not fit an input of 3 channels")
    add("symbolic_spatial", conv_model(input_dims=("N", 3, "H", 8)), "symbolic dimension 2")
    vision_attention = helper.make_graph(
        [helper.make_node("Flatten", ["x"], ["f"], name="/flat/Flatten"),
         helper.make_node("MatMul", ["f", "f2"], ["y"], name="/attn/MatMul"),
         helper.make_node("Flatten", ["x"], ["f2"], name="/flat2/Flatten")],
        "g", [value("x", ["N", 3, 8, 8])], [value("y", None)])
    add("matmul_of_activations", helper.make_model(vision_attention), "unsupported operators: MatMul (node '/attn/MatMul': a product of 192 and 192")
    unknown = conv_model(extra_nodes=[helper.make_node("Acos", ["y"], ["e"], name="/angle/Acos"), helper.make_node("Round", ["e"], ["r"], name="/q/Round"),
                                      helper.make_node("Relu", ["r"], ["z"], name="/out/Relu")], output="z")
    add("unknown_ops", unknown, "unsupported operators: Acos (node '/angle/Acos'), Round (node '/q/Round')")
    two_inputs = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"], name="/Add")], "g", [value("a", ["N", 3, 8, 8]), value("b", ["N", 3, 8, 8])], [value("y", None)])
    add("two_inputs", helper.make_model(two_inputs), "the graph has 2 inputs")
    return files


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    return corpus(tmp_path_factory.mktemp("bad_onnx"))


CASES = ["truncated", "not_protobuf", "empty", "cycle", "dangling", "negative_input_dim", "zero_input_dim", "negative_weight_dim",
         "absurd_weight", "absurd_input", "absurd_output", "missing_external_data", "external_data_outside", "weight_does_not_fit",
         "symbolic_spatial", "matmul_of_activations", "unknown_ops", "two_inputs"]


@pytest.mark.parametrize("case", CASES)
def test_bad_file_is_one_located_line(case, bad_files):
    path, fragment = bad_files[case]
    start = time.perf_counter()
    result = run_cli("analyze", str(path))
    assert time.perf_counter() - start < 30
    assert result.returncode == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"{path}: error: "), lines[0]
    assert fragment in lines[0], lines[0]


def test_corpus_is_exhaustive(bad_files):
    assert sorted(bad_files) == sorted(CASES)


def test_import_reports_the_same_errors(bad_files, tmp_path):
    path, fragment = bad_files["cycle"]
    result = run_cli("import", str(path), "-o", str(tmp_path / "x.yaml"))
    assert result.returncode == 2 and fragment in result.stderr and not (tmp_path / "x.yaml").exists()


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    path = save(conv_model(), tmp_path / "model.onnx")
    with pytest.raises(OnnxError, match=r"more than 100 ") as caught:
        read_network(path, max_bytes=100)
    assert str(caught.value).startswith(f"{path}: error: file is ")
    huge = tmp_path / "huge.onnx"
    with open(huge, "wb") as f:  # sparse: 3 GiB by its size, nothing written
        f.truncate(3 * 2**30)
    start = time.perf_counter()
    result = run_cli("analyze", str(huge))
    assert time.perf_counter() - start < 30
    assert result.returncode == 2 and "3,221,225,472 bytes" in result.stderr and "external data" in result.stderr


def test_unknown_operators_kept_as_opaque_layers(bad_files, tmp_path):
    path, _ = bad_files["unknown_ops"]
    out = tmp_path / "opaque.yaml"
    result = run_cli("import", str(path), "-o", str(out), "--allow-unknown")
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    assert "opaque: {" in text and 'op: "onnx:Acos"' in text and 'op: "onnx:Round"' in text
    assert "opaque operators" in text  # flagged in the spec's header
    analyzed = run_cli("analyze", str(out))
    assert analyzed.returncode == 0 and "opaque" in analyzed.stdout
    network = read_network(path, allow_unknown=True)
    assert [n.type_name for n in network.nodes] == ["conv", "relu", "opaque", "opaque", "relu"]
    assert network.nodes[2].out_shape == (4, 8, 8)
    assert any("opaque operators" in note for note in network.notes)


def test_opaque_layer_counts_its_initializers(tmp_path):
    """An operator groupcost does not read (an Einsum of the activation and two vectors) keeps its 2 × 4
    initializer values as parameters; an InstanceNormalization of the same two is read as `instancenorm`."""
    model = conv_model(extra_nodes=[helper.make_node("Einsum", ["y", "scale", "shift"], ["z"], name="/norm/Einsum", equation="nchw,c,c->nchw")],
                       extra_inits=[weight("scale", (4,)), weight("shift", (4,))], output="z")
    network = read_network(save(model, tmp_path / "m.onnx"), allow_unknown=True)
    opaque = network.nodes[-1]
    assert opaque.type_name == "opaque" and opaque.name == "norm"
    assert opaque.layer.cost(opaque.in_shape, opaque.out_shape).params == 8
    assert analyze(network).totals.params == 4 * 3 * 3 * 3 + 8
    model = conv_model(extra_nodes=[helper.make_node("InstanceNormalization", ["y", "scale", "shift"], ["z"], name="/norm/InstanceNormalization")],
                       extra_inits=[weight("scale", (4,)), weight("shift", (4,))], output="z")
    norm = read_network(save(model, tmp_path / "n.onnx")).nodes[-1]
    assert (norm.type_name, norm.name, norm.layer.cost(norm.in_shape, norm.out_shape).params) == ("instancenorm", "norm", 8)


def test_weights_are_left_out_before_parsing():
    from groupcost.formats.onnx.wire import KEEP_PAYLOAD, without_weights

    shape_constant = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 128])
    big = helper.make_tensor("w", TensorProto.FLOAT, [64, 3, 7, 7], bytes(4 * 64 * 147), raw=True)
    model = conv_model(weight_dims=(64, 3, 7, 7))
    model.graph.initializer[0].CopyFrom(big)
    model.graph.initializer.append(shape_constant)
    data = model.SerializeToString()
    slim = onnx.ModelProto()
    slim.ParseFromString(without_weights(data))
    assert len(without_weights(data)) < len(data) - 4 * 64 * 147 + 100
    assert [n.SerializeToString() for n in slim.graph.node] == [n.SerializeToString() for n in model.graph.node]
    w, s = slim.graph.initializer
    assert (w.name, list(w.dims), w.raw_data) == ("w", [64, 3, 7, 7], b"")
    assert s.SerializeToString() == shape_constant.SerializeToString() and len(shape_constant.SerializeToString()) < KEEP_PAYLOAD
    assert slim.opset_import == model.opset_import and slim.ir_version == model.ir_version
