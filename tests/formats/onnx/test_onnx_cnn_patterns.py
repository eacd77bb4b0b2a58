"""CNN families' patterns (tests/torch_cnn_patterns.py), each exported three ways and read by `analyze`, `import`
(raised to a spec, built again) and `torch:`, against PyTorch's own counts. A batch norm right after a conv is
folded into it by the exporters; the count PyTorch's modules give for that graph is accepted as well."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402
from pattern_check import EXPORTERS, FOLDED_OR_NOT, check_export, check_factory, export  # noqa: E402
from torch_named import export_onnx  # noqa: E402
from torch_cnn_patterns import CNN_PATTERNS, cnn_pattern  # noqa: E402
from torch_reference import torch_counts_with_matmul  # noqa: E402


TRACED_AT_BATCH_TWO = {"gated_conv"}
"""Patterns with a layer norm of a permuted tensor before a conv, which torch.export fails to export with a dynamic
batch traced at 1 (it specialises the batch): traced at 2 here (test_torch_export_still_fails_at_batch_one)."""


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("kind", sorted(CNN_PATTERNS))
def test_every_cnn_pattern_reads_exactly_every_way(kind, how, tmp_path):
    batch = 2 if how == "dynamo" and kind in TRACED_AT_BATCH_TWO else 1
    check_export(cnn_pattern(kind), CNN_PATTERNS[kind][1], how, tmp_path, FOLDED_OR_NOT, example_batch=batch, key=("cnn_pattern", kind))


@pytest.mark.skipif("dynamo" not in EXPORTERS, reason="torch.export needs onnxscript")
@pytest.mark.parametrize("kind", sorted(TRACED_AT_BATCH_TWO))
def test_torch_export_still_fails_at_batch_one(kind, tmp_path):
    """Where this starts to pass, PyTorch has fixed its export: the pattern leaves TRACED_AT_BATCH_TWO."""
    with pytest.raises(Exception, match="Failed to export the model with torch.export"):
        export_onnx(cnn_pattern(kind), CNN_PATTERNS[kind][1], tmp_path / "dynamo.onnx", dynamo=True)


@pytest.mark.parametrize("kind", sorted(CNN_PATTERNS))
def test_every_cnn_pattern_reads_from_its_torch_factory(kind):
    check_factory("torch:torch_cnn_patterns:cnn_pattern", {"kind": kind}, cnn_pattern(kind), CNN_PATTERNS[kind][1], FOLDED_OR_NOT)


class _RestridedHead(torch.nn.Module):
    """A classifier head that restrides its pooled map (`torch.as_strided` to its own shape, as a library's head ends
    up doing), then a layer norm over its channels moved last and a linear: torch.export writes the restriding as a
    Reshape to one dim and a Gather of every element in order."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, 3, 2, 1)
        self.norm = torch.nn.LayerNorm(16)
        self.fc = torch.nn.Linear(16, 10)

    def forward(self, x):
        y = self.conv(x).mean((2, 3), keepdim=True)
        n, c = y.shape[:2]
        y = torch.as_strided(y, (n, c, 1, 1), (c, 1, 1, 1))
        return self.fc(self.norm(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).flatten(1))


@pytest.mark.skipif("dynamo" not in EXPORTERS, reason="torch.export needs onnxscript")
@pytest.mark.parametrize("dynamic_batch", [True, False])
def test_a_restrided_map_reads_exactly(dynamic_batch, tmp_path):
    """torch.export's Gather takes the 16 values of a map reshaped to one dim in order (its index a constant, or
    with a symbolic batch built from a range over it): the map reshaped (it was refused as the batch merged into
    a 1-dim tensor).
    (TorchScript writes an explicit `as_strided` with NonZero, refused by name; the library heads that restride
    do so in torch.export's decomposition alone.)"""
    torch.manual_seed(0)
    check_export(_RestridedHead().eval(), (3, 16, 16), "dynamo", tmp_path, dynamic_batch=dynamic_batch)


class _PooledAfterChannelsLast(torch.nn.Module):
    """A layer norm over the channels moved last and back (a 2-d LayerNorm, as ConvNeXt, CoAtNet and MaxViT norm a map),
    then a classifier head of its own modules: a pool, a flatten and a linear. torch.export decomposes the pool of the
    map so laid out into a mean and an `as_strided` of the pooled map to its own shape."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, 3, 2, 1)
        self.norm = torch.nn.LayerNorm(16)
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.flatten = torch.nn.Flatten()
        self.fc = torch.nn.Linear(16, 10)

    def forward(self, x):
        y = self.norm(self.conv(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.fc(self.flatten(self.pool(y)))


@pytest.mark.skipif("dynamo" not in EXPORTERS, reason="torch.export needs onnxscript")
def test_a_restrided_pool_and_its_flatten_keep_their_names(tmp_path):
    """The pool's `as_strided` (a Reshape and a Gather in the pool's scope) and the flatten after it (a Reshape in the
    flatten's) are one run of views, made one `reshape` step: named after the flatten, whose output it is (it was named
    after the pool, and the pool's row held the flatten's shape)."""
    torch.manual_seed(0)
    network = check_export(_PooledAfterChannelsLast().eval(), (3, 16, 16), "dynamo", tmp_path, dynamic_batch=False)
    shapes = {step.name: step.out_shape for step in network.nodes}
    assert (shapes["pool"], shapes["flatten"]) == ((16, 1, 1), (16,))


class _MeanPool(torch.nn.Module):
    """A pool of its own that flattens as it pools, `x.mean((2, 3))` (TResNet's head): its output is N × C."""

    def forward(self, x):
        return x.mean((2, 3))


class _FlatPoolHead(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, 3, 2, 1)
        self.pool = _MeanPool()
        self.fc = torch.nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)))


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_pool_that_flattens_is_named_by_its_output(how, tmp_path):
    """ReduceMean without keepdims is a `gap` and a `flatten`: in the module `pool` the flatten, its output, is named
    `pool` (N × 16, PyTorch's), the gap `pool_1` (it was the gap `pool` of 16 × 1 × 1, the flatten `pool_flatten`)."""
    torch.manual_seed(0)
    network = check_export(_FlatPoolHead().eval(), (3, 16, 16), how, tmp_path)
    assert {step.name: step.out_shape for step in network.nodes}["pool"] == (16,), how


class _ExpandedIntoConcat(torch.nn.Module):
    """A gate expanded to the input's shape and concatenated with it: the expanded copy is what the concat reads."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 1)

    def forward(self, x):
        x = self.conv(x)
        return torch.cat([x, x.mean((2, 3), keepdim=True).expand_as(x)], 1)


@pytest.mark.parametrize("how", EXPORTERS)
def test_an_expand_read_by_more_than_a_broadcast_is_tiled(how, tmp_path):
    """The 4×1×1 gate expanded to 4×8×8 before the concat reads it: `broadcast` steps (it was refused), PyTorch's counts
    and shape, in the graph and in its raised spec."""
    model = _ExpandedIntoConcat().eval()
    params, macs, _, out_shape = torch_counts_with_matmul(model, (3, 8, 8))
    network = read_network(export(model, (3, 8, 8), tmp_path, how))
    for graph in (network, build(parse_text(raise_spec(network), "<raised>"), {})):
        report = analyze(graph)
        assert (report.totals.params, report.totals.macs, report.output_shape) == (params, macs, out_shape), how
        assert [row.out_shape for row in report.rows if row.kind == "broadcast"] == [(4, 8, 1), (4, 8, 8)], how


def test_mixed_kernel_convs_inside_a_residual_raise_as_splits(tmp_path):
    """MixNet's blocks split a tensor into kernel groups and add it back after them: a residual whose body starts
    with a `parallel: split:`, folded into blocks (it was the graph form, an entry with `from:` for every read)."""
    graph = read_network(export(cnn_pattern("mixed_kernel"), CNN_PATTERNS["mixed_kernel"][1], tmp_path, "folded", key=("cnn_pattern", "mixed_kernel")))
    text = raise_spec(graph)
    assert "residual:" in text and "split: 2" in text and "from:" not in text and "blocks:" in text


def test_the_graph_form_names_from_the_top_a_tensor_that_a_block_hides(tmp_path):
    """In the graph form the first block's sum reads the stem's `bn1.act` inside a block with its own `bn1.act`:
    written `/bn1.act`, it builds back into the same network (it read the block's own)."""
    from groupcost.language.raised import Spec
    from groupcost.language.raising import explicit_slices, mismatch, spec_names, structure
    from groupcost.language.writing import to_yaml

    exported = export(cnn_pattern("mixed_kernel"), CNN_PATTERNS["mixed_kernel"][1], tmp_path, "folded", key=("cnn_pattern", "mixed_kernel"))
    graph = explicit_slices(spec_names(read_network(exported)))
    text = to_yaml(Spec(graph.name, "", graph.input_shape, graph.batch, graph.dtype, structure(graph, structured=False), []))
    assert "from: [conv_pw, /bn1.act]" in text
    assert mismatch(graph, text) is None


@pytest.mark.parametrize("shift, expected", [(0.0, 8), (0.5, None)])
def test_a_layer_norm_shift_written_as_a_constant_is_none_only_where_it_is_zero(shift, expected, tmp_path):
    """A scale-only layer norm's missing shift is a Constant of zeros (TorchScript): C parameters. A Constant of
    other values is no parameter PyTorch counts and no zero: refused by name."""
    from onnx import TensorProto, helper, numpy_helper
    import numpy as np

    from groupcost.errors import GroupcostError

    nodes = [helper.make_node("Transpose", ["input"], ["last"], name="/norm/Transpose", perm=[0, 2, 3, 1]),
             helper.make_node("Constant", [], ["shift"], name="/norm/Constant", value=numpy_helper.from_array(np.full(8, shift, np.float32))),
             helper.make_node("LayerNormalization", ["last", "norm.weight", "shift"], ["normed"], name="/norm/LayerNormalization", axis=-1, epsilon=1e-6),
             helper.make_node("Transpose", ["normed"], ["y"], name="/norm/Transpose_1", perm=[0, 3, 1, 2])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 8, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.linspace(0.5, 1.5, 8).astype(np.float32), "norm.weight")])
    path = tmp_path / "norm.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    if expected is None:
        with pytest.raises(GroupcostError, match=r"unsupported operators: LayerNormalization \(node '/norm/LayerNormalization'"):
            read_network(path)
    else:
        assert analyze(read_network(path)).totals.params == expected
@pytest.mark.parametrize("fold", [True, False])
def test_tf_same_padding_is_computed_in_the_torchscript_file(fold, tmp_path):
    """TorchScript writes TF's "SAME" padding as arithmetic on the traced size (Ceil, then Clip at 0, on
    constants once the size is known): the pattern test above reads exactly that, not a padding folded away."""
    from torch_named import export_onnx

    path = tmp_path / "same.onnx"
    export_onnx(cnn_pattern("tf_same_padding"), CNN_PATTERNS["tf_same_padding"][1], path, fold=fold)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert {"Ceil", "Clip", "Pad"} <= ops
