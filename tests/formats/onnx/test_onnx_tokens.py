"""Norms over the channels of N × L × C tokens: LeViT's BatchNorm1d over the flattened tokens of the batch, and
EfficientFormer's MetaBlocks (a LayerNorm over each token's channels after a linear), from tests/torch_tokens.py.

Each model is exported three ways and read by `analyze`, `import` and `torch:`: PyTorch's parameter count (less
the BatchNorm2d the folding exporters merge into the conv before it), MACs (conv + linear, and attention's
products apart), output shape; each BatchNorm1d a `bn` of its module's name with PyTorch's parameters,
buffers and output elements on the C × L tokens; each LayerNorm a `layernorm` of 2C parameters. Where torch.export folds the
gathered position table into a constant, the table is read back from its values, named after the module that adds it.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from torch import nn  # noqa: E402

from pattern_check import EXPORTERS, Expected, check_export, check_factory, folds, merged_batch, module_outputs  # noqa: E402
from torch_tokens import token_model  # noqa: E402

INPUT = (3, 8, 8)
TOKENS = 16  # the stem's 4 × 4 map
KINDS = ["levit", "levit_mlp", "efficientformer"]
TABLES = {"levit": "block.attn.attention_biases", "efficientformer": "meta3d.token_mixer.attention_biases"}


def _folded_norms(model, input_shape, how: str) -> dict[str, int]:
    """The parameters the folding exporters drop, by norm: 2C for each BatchNorm2d right after a conv with a bias,
    which becomes that conv's bias (README, "Folded BatchNorm")."""
    if not folds(how):
        return {}
    names = {id(part): name for name, part in model.named_modules()}
    return {names[id(after)]: 2 * after.num_features for part in model.modules() if isinstance(part, nn.Sequential)
            for before, after in zip(part, list(part)[1:])
            if isinstance(before, nn.Conv2d) and before.bias is not None and isinstance(after, nn.BatchNorm2d)}


def _output_elements(model) -> dict[str, int]:
    """Each module's output elements at batch 1, as PyTorch computes them (a BatchNorm1d's output is (N·L)×C)."""
    return module_outputs(model, INPUT, lambda output: output.numel())


def _expected(kind: str, how: str | None = None) -> Expected:
    """Each BatchNorm1d a `bn` of its module's name with PyTorch's parameters, buffers and output elements on the C × L
    tokens, each LayerNorm a `layernorm` of 2C parameters; the position table once, named after its parameter."""

    def norms_over_the_tokens(report, graph, model, label: str) -> None:
        rows = {row.name: row for row in report.rows}
        norms = [(name, part) for name, part in model.named_modules() if isinstance(part, (nn.BatchNorm1d, nn.LayerNorm))]
        assert norms, label
        elements = _output_elements(model)
        for name, part in norms:
            row = rows.get(name)
            assert row is not None, (label, name, sorted(rows))
            c = part.weight.numel()
            torch_buffers = sum(b.numel() for b in part.buffers())
            layer = "bn" if isinstance(part, nn.BatchNorm1d) else "layernorm"
            assert (row.kind, row.params, row.buffers, row.out_shape) == (layer, 2 * c, torch_buffers, (c, TOKENS)), (label, name)
            assert row.activations == elements[name], (label, name)
        table = TABLES.get(kind)
        tables = [(row.name, row.params) for row in report.rows if row.kind == "bias_table"]
        name = f"{table.rsplit('.', 1)[0]}.bias_table" if table and how == "dynamo" else table
        assert tables == ([(name, model.get_parameter(table).numel())] if table else []), label

    def unnamed(model, input_shape, how: str) -> set[str]:
        """The folded norms, and the module holding a table torch.export folded (its parameter's name is gone)."""
        table = TABLES.get(kind) if how == "dynamo" else None
        return set(_folded_norms(model, input_shape, how)) | ({table.rsplit(".", 1)[0]} if table else set())

    return Expected(fewer_params=lambda model, input_shape, how: (sum(_folded_norms(model, input_shape, how).values()),),
                    unnamed=unnamed, shape_fits=merged_batch, also=norms_over_the_tokens)


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("kind", KINDS)
def test_norms_over_tokens_read_exactly_every_way(kind, how, tmp_path):
    # torch.export folds the gathered position table into a constant it computed: read back from its values
    check_export(token_model(kind), INPUT, how, tmp_path, _expected(kind, how))


@pytest.mark.parametrize("kind", KINDS)
def test_norms_over_tokens_read_from_their_torch_factory(kind):
    check_factory("torch:torch_tokens:token_model", {"kind": kind}, token_model(kind), INPUT, _expected(kind))


class _MergedThenRelu(nn.Module):
    """Tokens flattened with the batch, (N·L)×C, read by a ReLU (not a BatchNorm1d) and put back, then pooled."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.linear = nn.Linear(8, 8, bias=False)

    def forward(self, x):
        y = self.linear(self.conv(x).flatten(2).transpose(1, 2))
        return y.flatten(0, 1).relu().reshape_as(y).mean(1)


@pytest.mark.parametrize("how", EXPORTERS)
def test_merged_tokens_read_by_other_than_a_batch_norm_read_per_sample(how, tmp_path):
    """The merged tokens are a merged view like windows' (formats/onnx/windows.py): an element-wise operator reads
    them as they are, the reshape back is the tokens again: PyTorch's params, MACs and output shape."""
    def a_relu(report, graph, model, label: str) -> None:
        assert any(row.kind == "relu" for row in report.rows), label

    check_export(_MergedThenRelu().eval(), INPUT, how, tmp_path, Expected(shape_fits=merged_batch, also=a_relu))
