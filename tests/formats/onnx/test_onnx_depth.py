"""DepthToSpace and SpaceToDepth read as pixel (un)shuffles, with a channel shuffle where ONNX's channel order is not torch's.

nn.PixelShuffle(r), exported three ways (DepthToSpace, CRD mode), gives PyTorch's params, MACs and shapes
through `analyze` and `import`, and its values run in groupcost's NumPy kernels. The orders no PyTorch
exporter writes (DepthToSpace in DCR mode, SpaceToDepth) are checked against onnxruntime running the file.
"""

from __future__ import annotations

from collections import OrderedDict

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

import numpy as np  # noqa: E402

from groupcost.errors import GroupcostError  # noqa: E402
from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402
from groupcost.run.execute import forward, init_weights  # noqa: E402
from torch_named import export_onnx  # noqa: E402
from torch_reference import torch_counts_with_matmul  # noqa: E402


def _shuffling(c: int, r: int) -> torch.nn.Module:
    """A conv (so that the file has a parameter before the shuffle), then nn.PixelShuffle(r)."""
    torch.manual_seed(0)
    return torch.nn.Sequential(OrderedDict([("conv", torch.nn.Conv2d(3, c, 3, padding=1)), ("shuffle", torch.nn.PixelShuffle(r))])).eval()


@pytest.mark.parametrize("r", [1, 2, 3])
@pytest.mark.parametrize("how", ["folded", "unfolded", "dynamo"])
def test_a_pixel_shuffle_reads_as_pytorch_counts_it_and_computes_its_values(how, r, tmp_path):
    model, input_shape = _shuffling(2 * r * r, r), (3, 5, 4)
    path = tmp_path / "shuffle.onnx"
    export_onnx(model, input_shape, path, dynamo=how == "dynamo", fold=how != "unfolded")
    assert "DepthToSpace" in {n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}
    params, macs, _, out_shape = torch_counts_with_matmul(model, input_shape)
    imported = read_network(path)
    report = analyze(imported)
    assert (report.totals.params, report.totals.macs, report.output_shape) == (params, macs, out_shape)
    assert [step.type_name for step in imported.nodes] == ["conv", "pixelshuffle"]
    rebuilt = build(parse_text(raise_spec(imported), "raised.yaml"), {})
    assert analyze(rebuilt).totals == report.totals

    x = torch.randn(1, *input_shape)
    with torch.no_grad():
        want = model(x).numpy()
    weights = {**init_weights(imported, 0, "float32"), "conv": {"weight": model.conv.weight.detach().numpy(), "bias": model.conv.bias.detach().numpy()}}
    got, _ = forward(imported, x.numpy(), weights)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def _one_node_model(op: str, c: int, h: int, w: int, **attrs) -> onnx.ModelProto:
    from onnx import TensorProto, helper

    node = helper.make_node(op, ["x"], ["y"], name=f"/{op.lower()}/{op}", **attrs)
    graph = helper.make_graph([node], op, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, w])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


CASES = [("DepthToSpace", 8, 3, 2, {"blocksize": 2, "mode": "DCR"}), ("DepthToSpace", 18, 2, 3, {"blocksize": 3, "mode": "DCR"}),
         ("DepthToSpace", 12, 2, 2, {"blocksize": 2}), ("DepthToSpace", 8, 3, 2, {"blocksize": 2, "mode": "CRD"}),
         ("DepthToSpace", 4, 3, 3, {"blocksize": 1, "mode": "DCR"}), ("SpaceToDepth", 3, 4, 6, {"blocksize": 2}),
         ("SpaceToDepth", 2, 6, 3, {"blocksize": 3}), ("SpaceToDepth", 1, 4, 4, {"blocksize": 2}), ("SpaceToDepth", 5, 2, 2, {"blocksize": 1})]


@pytest.mark.parametrize(("op", "c", "h", "w", "attrs"), CASES, ids=[f"{op}-{c}x{h}x{w}-{attrs}" for op, c, h, w, attrs in CASES])
def test_each_channel_order_computes_what_onnxruntime_computes(op, c, h, w, attrs, tmp_path):
    """DCR (ONNX's default) and SpaceToDepth order channels as torch does not: the imported steps, run in NumPy,
    give onnxruntime's values of the same file, and the import raises to a spec that builds again."""
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "depth.onnx"
    onnx.save(_one_node_model(op, c, h, w, **attrs), str(path))
    x = np.random.default_rng(0).standard_normal((1, c, h, w)).astype(np.float32)
    (want,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    imported = read_network(path)
    got, _ = forward(imported, x, init_weights(imported, 0, "float32"))
    np.testing.assert_array_equal(got, want)
    assert analyze(imported).totals.params == analyze(imported).totals.macs == 0
    rebuilt = build(parse_text(raise_spec(imported), "raised.yaml"), {})
    assert rebuilt.output_shapes == imported.output_shapes == (tuple(want.shape[1:]),)


@pytest.mark.parametrize(("op", "c", "h", "w", "attrs", "message"), [
    ("DepthToSpace", 6, 2, 2, {"blocksize": 2, "mode": "CRD"}, "blocksize² = 4 does not divide its 6 channels"),
    ("SpaceToDepth", 2, 5, 4, {"blocksize": 2}, "blocksize 2 does not divide its input's 5×4"),
    ("DepthToSpace", 4, 2, 2, {"blocksize": 2, "mode": "XYZ"}, "mode 'XYZ' is neither CRD nor DCR")])
def test_a_block_that_does_not_fit_is_refused_by_name(op, c, h, w, attrs, message, tmp_path):
    path = tmp_path / "depth.onnx"
    onnx.save(_one_node_model(op, c, h, w, **attrs), str(path))
    with pytest.raises(GroupcostError, match=message):
        read_network(path)
