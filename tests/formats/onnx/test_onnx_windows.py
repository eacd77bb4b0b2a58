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
from groupcost.language import build, parse_text  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402
from groupcost.sources import read_graph  # noqa: E402
from groupcost.formats.onnx.values import OnnxError  # noqa: E402
from test_onnx_patterns import EXPORTERS, export, module_outputs, weighted_modules  # noqa: E402
from torch_reference import torch_counts_with_matmul  # noqa: E402
from torch_windows import ConvNorm, window_model  # noqa: E402

INPUT = (3, 16, 16)
KINDS = ["single_head", "cascaded", "tokens"]
TABLES = {"cascaded": lambda heads, offsets: [offsets] * heads, "tokens": lambda heads, offsets: [heads * offsets]}


def _folded_away(model) -> int:
    """What the folding exporters drop: each BatchNorm2d after a conv without bias becomes that conv's bias, C of its 2C."""
    return sum(part.bn.num_features for part in model.modules() if isinstance(part, ConvNorm))


def _assert_reads_as_pytorch(network, model, kind: str, how: str, folded: bool) -> None:
    params, macs, matmul_macs, out_shape = torch_counts_with_matmul(model, INPUT)
    report = analyze(network)
    expected = params - _folded_away(model) if folded else params
    assert (report.totals.params, report.totals.macs, report.totals.matmul_macs, report.output_shape) == (expected, macs, matmul_macs, out_shape), how
    rows = {row.name: row for row in report.rows}
    owners = dict(model.named_modules())
    missing = {name for name in weighted_modules(model) if name not in rows and not (folded and name.endswith(".bn"))
               and not any(f"{name}.{own}" in rows for own, _ in owners[name].named_parameters(recurse=False))}  # a table: its parameter's path
    assert not missing, (how, missing, sorted(rows))
    shapes = module_outputs(model, INPUT, lambda output: tuple(output.shape))
    for name, row in rows.items():
        if name in shapes:  # the windows merged with the batch second here; a channels-last module's channels first
            n, *dims = shapes[name]
            merged = () if n == 1 else (n,)
            assert row.out_shape in ((dims[0], *merged, *dims[1:]), (dims[-1], *merged, *dims[:-1])), (how, name, row.out_shape)
    tables = [row.params for row in report.rows if row.kind == "bias_table"]
    biases = getattr(model.mixer.inner, "attention_biases", None)
    heads, offsets = (0, 0) if biases is None else biases.shape
    assert tables == TABLES.get(kind, lambda heads, offsets: [])(heads, offsets), how  # the table once, whole or a row per head


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("kind", KINDS)
def test_partial_and_windowed_attention_reads_exactly_every_way(kind, how, tmp_path):
    model = window_model(kind)
    try:
        network = read_network(export(model, INPUT, tmp_path, how))
    except OnnxError as exc:  # torch.export computes each head's row of the bias table into a constant
        assert kind in TABLES and how == "dynamo" and "exporter computed" in str(exc) and "optimize=False" in str(exc), str(exc)
        return
    _assert_reads_as_pytorch(network, model, kind, f"{kind} {how} analyze", folded=how != "unfolded")
    raised = build(parse_text(raise_spec(network), "<raised>"), {})
    _assert_reads_as_pytorch(raised, model, kind, f"{kind} {how} import", folded=how != "unfolded")


@pytest.mark.parametrize("kind", KINDS)
def test_partial_and_windowed_attention_reads_from_its_torch_factory(kind):
    graph = read_graph("torch:torch_windows:window_model", INPUT, {"kind": kind})
    _assert_reads_as_pytorch(graph, window_model(kind), kind, f"{kind} torch:", folded=False)


@pytest.mark.parametrize("how", ["folded", "unfolded"])
def test_the_group_norm_of_a_channel_slice_is_one_groupnorm(how, tmp_path):
    """SHViT's GroupNorm(1) of the attending channels, written out around the split's part: one `groupnorm` with
    PyTorch's 2C parameters on those C channels."""
    model = window_model("single_head")
    report = analyze(read_network(export(model, INPUT, tmp_path, how)))
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
    model = _LinearAfterProducts().eval()
    params, macs, matmul_macs, out_shape = torch_counts_with_matmul(model, (3, 4, 4))
    network = read_network(export(model, (3, 4, 4), tmp_path, how))
    for graph in (network, build(parse_text(raise_spec(network), "<raised>"), {})):
        report = analyze(graph)
        assert (report.totals.params, report.totals.macs, report.totals.matmul_macs, report.output_shape) == (params, macs, matmul_macs, out_shape), how
        assert {"linear", "norm"} <= {row.name for row in report.rows}, how
