"""Attention on part of the channels (SHViT) and inside windows merged into the batch (EfficientViT, TinyViT), from
tests/torch_windows.py, exported three ways and read by `analyze`, `import` (raised to a spec that analyzes the same)
and `torch:`: PyTorch's parameters (less what the folding exporters merge of each BatchNorm2d into the conv before
it), MACs (conv + linear, and the products of activations apart), output shape, and each weighted module's name and
output (a module on S windows merged with the batch, (N·S)×C×h×w in PyTorch, is C×S×h×w per sample here)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from torch import nn  # noqa: E402

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.formats.onnx.values import OnnxError  # noqa: E402
from pattern_check import EXPORTERS, Expected, Refusal, check_export, check_factory, export, folds, merged_batch, weighted_modules  # noqa: E402
from torch_windows import ConvNorm, window_model  # noqa: E402

INPUT = (3, 16, 16)
KINDS = ["single_head", "cascaded", "tokens"]
TABLES = {"cascaded": lambda heads, offsets: [offsets] * heads, "tokens": lambda heads, offsets: [heads * offsets]}


def _folded_away(model, input_shape, how: str) -> tuple[int]:
    """What the folding exporters drop: each BatchNorm2d after a conv without bias becomes that conv's bias, C of its 2C."""
    return (sum(part.bn.num_features for part in model.modules() if isinstance(part, ConvNorm)) if folds(how) else 0,)


def _folded_norms(model, input_shape, how: str) -> set[str]:
    return {name for name in weighted_modules(model) if name.endswith(".bn")} if folds(how) else set()


def _expected(kind: str) -> Expected:
    """Each module named by its row or its parameter's path (a table), not its parent's; the windows merged with the
    batch second here; the bias table once, whole or a row per head."""

    def one_table(report, graph, model, label: str) -> None:
        tables = [row.params for row in report.rows if row.kind == "bias_table"]
        biases = getattr(model.mixer.inner, "attention_biases", None)
        heads, offsets = (0, 0) if biases is None else biases.shape
        assert tables == TABLES.get(kind, lambda heads, offsets: [])(heads, offsets), label

    def unnamed(model, input_shape, how: str) -> set[str]:
        """The folded norms, and the module holding the whole table where torch.export folded it (its parameter's name
        is gone: the table is named after the module that adds it)."""
        return _folded_norms(model, input_shape, how) | ({"mixer.inner"} if kind == "tokens" and how == "dynamo" else set())

    return Expected(fewer_params=_folded_away, unnamed=unnamed, parent_kinds=frozenset(), shape_fits=merged_batch, also=one_table)


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("kind", KINDS)
def test_partial_and_windowed_attention_reads_exactly_every_way(kind, how, tmp_path):
    # torch.export computes the bias table gathered into a constant: read back from its values where it is added whole
    # (TinyViT's); each head's row gathered from it apart (EfficientViT's `biases[head]`) is refused by name
    refused = Refusal(("exporter computed", "optimize=False"), must=True) if kind == "cascaded" and how == "dynamo" else None
    check_export(window_model(kind), INPUT, how, tmp_path, _expected(kind), refused=refused, key=("window_model", kind))


@pytest.mark.parametrize("kind", KINDS)
def test_partial_and_windowed_attention_reads_from_its_torch_factory(kind):
    check_factory("torch:torch_windows:window_model", {"kind": kind}, window_model(kind), INPUT, _expected(kind))


@pytest.mark.parametrize("how", ["folded", "unfolded"])
def test_the_group_norm_of_a_channel_slice_is_one_groupnorm(how, tmp_path):
    """SHViT's GroupNorm(1) of the attending channels, written out around the split's part: one `groupnorm` with
    PyTorch's 2C parameters on those C channels."""
    model = window_model("single_head")
    report = analyze(read_network(export(model, INPUT, tmp_path, how, key=("window_model", "single_head"))))
    norm = model.mixer.inner.norm
    assert isinstance(norm, nn.GroupNorm)
    rows = [(row.name, row.kind, row.params, row.out_shape) for row in report.rows if row.kind == "groupnorm"]
    assert rows == [("mixer.inner.norm", "groupnorm", sum(p.numel() for p in norm.parameters()), (norm.num_channels, 8, 8))], how


class _FirstRowOnly(nn.Module):
    """A table of two heads' biases of which only the first row is added: the rows would not add up to the
    parameter PyTorch counts."""

    def __init__(self):
        super().__init__()
        from torch_windows import _offsets

        self.conv = nn.Conv2d(3, 4, 1)
        count, index = _offsets(4)
        self.attention_biases = nn.Parameter(torch.randn(2, count))
        self.register_buffer("attention_bias_idxs", index, persistent=False)

    def forward(self, x):
        y = self.conv(x).flatten(2)
        return ((y.transpose(1, 2) @ y) + self.attention_biases[:, self.attention_bias_idxs][0]).softmax(dim=-1)


@pytest.mark.parametrize("how", ["folded", "unfolded"])
def test_a_table_whose_rows_are_not_each_added_is_refused_by_name(how, tmp_path):
    with pytest.raises(OnnxError, match="rows of a learned table gathered by an index, where its 2 rows are not each gathered once"):
        read_network(export(_FirstRowOnly().eval(), (3, 4, 4), tmp_path, how))


class _LinearAfterProducts(nn.Module):
    """Windows of 2 × 2 tokens, channels last, attending over themselves, then a linear and a layer norm on the
    products' output as it is ((N·S)×L×C, no rearrangement between), and the windows put back."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)
        self.linear = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)

    def forward(self, x):
        x = self.conv(x)
        n, c, h, w = x.shape
        tokens = x.permute(0, 2, 3, 1).reshape(n, h // 2, 2, w // 2, 2, c).transpose(2, 3).reshape(n * (h // 2) * (w // 2), 4, c)
        y = self.norm(self.linear((tokens @ tokens.transpose(-2, -1)).softmax(-1) @ tokens))
        return y.reshape(n, h // 2, w // 2, 2, 2, c).transpose(2, 3).reshape(n, h, w, c).permute(0, 3, 1, 2).mean((2, 3))


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_linear_and_a_layer_norm_read_the_products_of_windows(how, tmp_path):
    check_export(_LinearAfterProducts().eval(), (3, 4, 4), how, tmp_path, Expected(shape_fits=merged_batch))
