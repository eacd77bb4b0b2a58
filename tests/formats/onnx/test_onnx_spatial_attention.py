"""Attention whose keys and values are reduced in space (tests/torch_spatial_attention.py, written from the papers),
exported three ways and read by `analyze`, `import` (raised to a spec that analyzes the same) and `torch:`: PyTorch's
parameters, MACs (conv and linear; products of activations apart), output shape, module names and shapes."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.formats.onnx.values import OnnxError  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.sources import read_graph  # noqa: E402
from pattern_check import EXPORTERS, Expected, check_export, check_factory  # noqa: E402
from torch_named import export_onnx  # noqa: E402
from torch_spatial_attention import spatial_model  # noqa: E402

INPUT = (3, 16, 16)
KINDS = ["pvt", "maxvit", "heads_first", "stacked", "single", "botnet", "global", "global_interleaved", "dual"]


def _per_sample_or_sequences(row_shape: tuple, torch_shape: tuple) -> bool:
    """A channels-last module (Linear, LayerNorm on N×H×W×C) has its channels first here; on windows merged with the
    batch, (N·S)×L×C, its S sequences after the channels."""
    shape = torch_shape[1:]
    return row_shape in (shape, (shape[-1], *shape[:-1])) or row_shape[:1] + row_shape[2:] == (shape[-1], *shape[:-1])


REDUCED = Expected(parent_kinds=frozenset({"attention"}), shape_fits=_per_sample_or_sequences,
                   shaped=lambda name, module: isinstance(module, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.LayerNorm)))
"""Every module with parameters of its own named by a row (a learned table by its parameter's path, `attn.bias_table`;
a projection by the `attention` step holding it: DaViT's windows), and the rows of convs, linears and layer norms (one
operator each) their modules' output shapes (a module of several operators, BoTNet's relative logits, names its first
step)."""


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("kind", KINDS)
def test_reduced_attention_reads_exactly_every_way(kind, how, tmp_path):
    """Exported as the libraries export it (the fused kernel), counted by PyTorch written out (the same arithmetic).
    MaxViT's relative position table gathered by a constant index is computed into one constant by constant folding
    and by torch.export: then the table is read back from the constant's values (groupcost.formats.onnx.relpos)."""
    # torch.export specialises the batch of a reshape to (B, -1, C) of a map's tokens: it exports a batch of 1, as it
    # does the libraries' models (their files have a fixed batch)
    check_export(spatial_model(kind), INPUT, how, tmp_path, REDUCED, counted=spatial_model(kind, fused=False),
                 dynamic_batch=how != "dynamo")


@pytest.mark.parametrize("kind", KINDS)
def test_reduced_attention_reads_from_its_torch_factory(kind):
    check_factory("torch:torch_spatial_attention:spatial_model", {"kind": kind}, spatial_model(kind, fused=False), INPUT, REDUCED)


def test_pvt_counts_its_products_over_the_reduced_keys():
    """4 × 4 tokens of 8 channels against the 2 × 2 reduced keys and values: q·kᵀ and A·v cost 16 · 4 · 8 each, in
    each of two blocks: 1,024 matmul MACs, as FlopCounterMode counts them."""
    report = analyze(read_graph("torch:torch_spatial_attention:spatial_model", INPUT, {"kind": "pvt"}))
    assert report.totals.matmul_macs == 2 * 2 * 16 * 4 * 8


def test_botnet_counts_its_relative_logits_as_products_with_parameters():
    """q·R_wᵀ and q·R_hᵀ multiply an activation by a learned (2·8 − 1) × 4 embedding at each of 2 heads × 64 positions:
    linear MACs (PyTorch's mm), 2 · 2 · 64 · 15 · 4 = 15,360 of them, the embeddings counted once as parameters;
    q·kᵀ and A·v (2 · 2 · 64 · 64 · 4 = 65,536) are matmul MACs. The tiling of the logits over the other axis is a
    `broadcast`, no cost."""
    network = read_graph("torch:torch_spatial_attention:spatial_model", INPUT, {"kind": "botnet"})
    report = analyze(network)
    assert report.totals.matmul_macs == 65_536
    linears = [row for row in report.rows if row.kind == "linear"]
    assert sum(row.macs for row in linears) == 15_360 and sum(row.params for row in linears) == 2 * 15 * 4
    assert any(row.kind == "broadcast" for row in report.rows)


class _MergedThen(torch.nn.Module):
    """Windows of a map's tokens merged with the batch, (N·4)×16×C, then an operator that no per-sample reading fits."""

    def __init__(self, then: str):
        super().__init__()
        self.then = then
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)

    def forward(self, x):
        y = self.conv(x).permute(0, 2, 3, 1).reshape(-1, 2, 4, 2, 4, 8).permute(0, 1, 3, 2, 4, 5).reshape(-1, 16, 8)
        if self.then == "pad":  # a window of zeros more: the merged dim itself grows
            return torch.nn.functional.pad(y, (0, 0, 0, 0, 0, 1)).sum()
        return torch.nn.functional.max_pool1d(y, 2).sum()  # a pool over the channels of 16 positions: the merged dim its batch


@pytest.mark.parametrize(("then", "reason"), [("pad", "a padding of the dim that merges the batch"),
                                              ("maxpool", "MaxPool .*an operator on sequences")])
def test_what_no_per_sample_reading_fits_on_merged_windows_is_refused_by_name(then, reason, tmp_path):
    path = tmp_path / "m.onnx"
    export_onnx(_MergedThen(then).eval(), INPUT, path, fold=False)
    with pytest.raises(OnnxError, match=reason):
        read_network(path)


class _TiledAlong(torch.nn.Module):
    """A map's channels-last tokens repeated along a dim other than the first: no per-sample reading of windows."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1).repeat(1, 2, 1, 1).sum()


def test_a_tile_other_than_a_samples_copies_along_its_first_dim_is_refused_by_name(tmp_path):
    path = tmp_path / "m.onnx"
    export_onnx(_TiledAlong().eval(), INPUT, path, fold=False)
    with pytest.raises(OnnxError, match=r"a tile of an activation by \[1, 2, 1, 1\]"):
        read_network(path)
