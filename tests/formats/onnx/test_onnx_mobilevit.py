"""MobileViT's blocks read exactly from ONNX (tests/torch_mobilevit.py, written from the papers).

v1 unfolds a feature map into pixel sequences with the batch merged into them ((B·P)×N×d) and folds
it back; v2 unfolds to B×d×P×N and broadcasts a context vector with an Expand. Each is exported three
ways and read by `analyze`, `import` (raised to a spec and built again) and `torch:`; every reading
must give PyTorch's parameter count, MACs (FlopCounterMode: conv + linear, the batched products of
activations apart), output shape, weighted modules' names and their output shapes. What a batch merge
makes inexact (a batch other than 1 in the file, a merge moved from the front, an operator across
the merged sequences) is refused by name.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from groupcost.errors import GroupcostError  # noqa: E402
from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.graph.network import LayerStep  # noqa: E402
from pattern_check import EXPORTERS, Expected, check_export, check_factory, export  # noqa: E402
from torch_mobilevit import MobileViTBlock, mobilevit  # noqa: E402
from torch_named import export_onnx  # noqa: E402

INPUT = (3, 16, 16)
MODELS = {"v1 merged": ("v1", "merged"), "v1 split": ("v1", "split"), "v2": ("v2", "merged")}


def _pixel_sequences(row_shape: tuple, full: tuple) -> bool:
    """Channels first here; a token layout's channels are its last dim; a merged (1·P)×N×d is P×N×d per sample (the
    batch of 1 kept)."""
    return row_shape in (full[1:], (full[-1], *full[1:-1]), (full[-1], *full[:-1]))


SEQUENCES = Expected(shape_fits=_pixel_sequences)


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_mobilevit_blocks_read_exactly_every_way(name, how, tmp_path):
    check_export(mobilevit(*MODELS[name]), INPUT, how, tmp_path, SEQUENCES, key=("mobilevit", *MODELS[name]))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_mobilevit_blocks_read_from_their_torch_factory(name):
    version, unfold = MODELS[name]
    check_factory("torch:torch_mobilevit:mobilevit", {"version": version, "unfold": unfold}, mobilevit(version, unfold), INPUT, SEQUENCES)


def test_v1_attention_is_one_layer_per_pixel_sequence(tmp_path):
    """The 2×2 patches of an 8×8 map: 4 sequences of 16 tokens, attended apart (batch_dims 1), named as the module."""
    network = read_network(export(mobilevit("v1", "merged"), INPUT, tmp_path, "folded", key=("mobilevit", "v1", "merged")))
    attentions = [s for s in network.nodes if isinstance(s, LayerStep) and s.type_name == "attention"]
    assert [(s.name, s.layer.heads, s.layer.batch_dims, network.shapes[s.name]) for s in attentions] == \
        [(f"1.transformer.{k}.attn", 2, 1, (12, 4, 16)) for k in range(2)]


class _Across(torch.nn.Module):
    """The unfolded sequences, then an operator across them (a softmax over the merged batch and pixel dim)."""

    def __init__(self):
        super().__init__()
        self.block = MobileViTBlock(4, 4, layers=1)

    def forward(self, x):
        tokens = self.block.unfold(x)
        return self.block.fold(tokens.softmax(dim=0), x.shape[-2:])


class _Moved(torch.nn.Module):
    """The unfolded sequences with the merged batch dim moved from the front before a layer norm."""

    def __init__(self):
        super().__init__()
        self.norm = torch.nn.LayerNorm(4)

    def forward(self, x):
        tokens = MobileViTBlock(4, 4, layers=1).unfold(x)
        return self.norm(tokens.transpose(0, 1)).sum()


@pytest.mark.parametrize(("model", "reason"), [(_Across(), "an operator along the batch merged with other dims"), (_Moved(), "moves the batch from the front")])
def test_what_a_batch_merge_makes_inexact_is_refused_by_name(model, reason, tmp_path):
    path = tmp_path / "m.onnx"
    export_onnx(model.eval(), (4, 8, 8), path, fold=False)
    with pytest.raises(GroupcostError, match=reason):
        read_network(path)


def test_a_batch_merge_in_a_file_of_batch_two_is_refused(tmp_path):
    path = tmp_path / "batch2.onnx"
    with torch.no_grad():
        torch.onnx.export(mobilevit("v1", "merged"), (torch.zeros(2, *INPUT),), str(path), dynamo=False, input_names=["input"])
    with pytest.raises(GroupcostError, match="Reshape"):
        read_network(path)


@pytest.mark.parametrize("axis", [-1, 2])
def test_an_axis_from_the_front_on_merged_sequences_is_refused(axis, tmp_path):
    """N×4×4×4 reshaped to (N·4)×4×4 sequences, a LayerNormalization, reshaped back: over the last axis it is
    a layer norm of the 4 channels (8 parameters, by hand); an axis counted from the front, which the file
    numbers in its own rank, is refused by name."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Reshape", ["x", "tokens_shape"], ["tokens"], name="/unfold/Reshape"),
             helper.make_node("LayerNormalization", ["tokens", "scale", "shift"], ["normed"], name="/norm/LayerNormalization", axis=axis),
             helper.make_node("Reshape", ["normed", "map_shape"], ["y"], name="/fold/Reshape")]
    constants = [helper.make_tensor("tokens_shape", TensorProto.INT64, [3], [-1, 4, 4]), helper.make_tensor("map_shape", TensorProto.INT64, [4], [-1, 4, 4, 4]),
                 helper.make_tensor("scale", TensorProto.FLOAT, [4], [1.0, 2.0, 3.0, 4.0]), helper.make_tensor("shift", TensorProto.FLOAT, [4], [0.1, 0.2, 0.3, 0.4])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], constants)
    path = tmp_path / "sequences.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    if axis == -1:
        report = analyze(read_network(path))
        assert (report.totals.params, report.totals.macs, [s for _, s in report.outputs]) == (8, 0, [(4, 4, 4)])
    else:
        with pytest.raises(GroupcostError, match="an operator on sequences"):
            read_network(path)
