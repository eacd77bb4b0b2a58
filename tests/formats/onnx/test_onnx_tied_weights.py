"""One conv module held by several blocks (ShaResNet's shared weights), read from ONNX: a `share:` of its
first call, parameters once and MACs per call; two modules' equal kernels merged by the exporter (an untrained fill,
Dirac's identity, a deep copy: read through an Identity, or of one value) are two modules, each counting its own.

References: PyTorch's own counts of torch modules written here (tests/torch_shared_weights.py), exported three
ways; the folded export's count is PyTorch's count of the same network with a conv per block, less its folded norms.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.graph.network import LayerStep  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402
from pattern_check import EXPORTERS, FACTORY, FOLDED_OR_NOT, Expected, check_export, check_factory  # noqa: E402
from torch_cnn_patterns import foldable_norms  # noqa: E402
from torch_named import export_onnx  # noqa: E402
from torch_reference import torch_counts_with_matmul  # noqa: E402
from torch_shared_weights import DiracTwins, shared_conv_stage, zero_init_residual_stage  # noqa: E402

INPUT = (3, 32, 32)
SHARED_NORMS = {f"stage.{k}.bn2" for k in range(3)}
"""The norms after the shared conv: torch.export keeps them (folding one into the kernel would change it for every block)."""


def expected_params(how: str) -> int:
    """PyTorch's count of the graph each exporter writes."""
    model = shared_conv_stage()
    params = torch_counts_with_matmul(model, INPUT)[0]
    folded = foldable_norms(model, INPUT)
    if how == "unfolded":
        return params
    if how == "dynamo":
        return params - sum(c for name, c in folded.items() if name not in SHARED_NORMS)
    apart = shared_conv_stage(share=False)  # TorchScript folds each block's norm into a copy of the kernel of its own
    return torch_counts_with_matmul(apart, INPUT)[0] - sum(foldable_norms(apart, INPUT).values())


def _folded_away(model, input_shape, how: str) -> tuple[int]:
    """PyTorch's count of the module less PyTorch's count of the graph the exporter `how` writes."""
    return (torch_counts_with_matmul(model, input_shape)[0] - expected_params("unfolded" if how == FACTORY else how),)


def _folded_norms(model, input_shape, how: str) -> set[str]:
    folded = set(foldable_norms(model, input_shape))
    return {"unfolded": set(), FACTORY: set(), "dynamo": folded - SHARED_NORMS}.get(how, folded)


SHARED = Expected(fewer_params=_folded_away, unnamed=_folded_norms)


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_conv_held_by_every_block_counts_once(how, tmp_path):
    graph = check_export(shared_conv_stage(), INPUT, how, tmp_path, SHARED)
    convs = {s.name: s.shares for s in graph.nodes if isinstance(s, LayerStep) and s.type_name == "conv" and s.name.endswith("conv2")}
    if how == "folded":
        assert set(convs.values()) == {None}  # every block's kernel of its own, its norm folded in
    else:
        assert convs == {"stage.0.conv2": None, "stage.1.conv2": "stage.0.conv2", "stage.2.conv2": "stage.0.conv2"}, how
    text = raise_spec(graph)
    assert (text.count("share: \"0.conv2\"") == 2) == (how != "folded")


def test_a_conv_held_by_every_block_reads_from_its_torch_factory():
    check_factory("torch:torch_shared_weights:shared_conv_stage", {}, shared_conv_stage(), INPUT, SHARED)


@pytest.mark.parametrize("how", EXPORTERS)
def test_untrained_zero_initialised_norms_folded_into_their_convs_count_per_block(how, tmp_path):
    """An untrained stage whose blocks' last norms start at γ = 0: folded, every block's last kernel is zeros, one
    initializer every block reads (it was refused as two modules' kernels merged). A kernel of one value is a fill
    two modules had, never one module held twice: each block's conv counts its own, as PyTorch counts them."""
    graph = check_export(zero_init_residual_stage(), INPUT, how, tmp_path, FOLDED_OR_NOT)
    assert {s.shares for s in graph.nodes if isinstance(s, LayerStep) and s.type_name == "conv"} == {None}
    if how == "folded":
        path = tmp_path / "zero.onnx"
        export_onnx(zero_init_residual_stage(), INPUT, path, fold=True)
        model = onnx.load(str(path))
        passed_on = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Identity"}  # one initializer, an Identity per reader
        readers = [n for n in model.graph.node if n.op_type == "Conv" and n.name.endswith("conv2/Conv")]
        assert len(readers) == 3 and len({passed_on.get(n.input[1], n.input[1]) for n in readers}) == 1  # the exporter did merge them


def test_untrained_zero_initialised_norms_read_from_their_torch_factory():
    check_factory("torch:torch_shared_weights:zero_init_residual_stage", {}, zero_init_residual_stage(), INPUT, FOLDED_OR_NOT)


def test_two_modules_whose_equal_kernels_the_exporter_merged_count_apart(tmp_path):
    """Untrained, both convs are Dirac's identity: the exporter writes one initializer, which the second conv reads
    through an Identity (a merged copy, where one module held twice is read directly): two modules, 1,152 params
    as PyTorch counts them (it was refused by name; counted once, 576)."""
    path = tmp_path / "dirac.onnx"
    model = DiracTwins().eval()
    export_onnx(model, (8, 8, 8), path, fold=True)
    assert len(onnx.load(str(path)).graph.initializer) == 1
    params, macs, _, _ = torch_counts_with_matmul(model, (8, 8, 8))
    totals = analyze(read_network(path)).totals
    assert (totals.params, totals.macs) == (params, macs) == (1152, 2 * 576 * 64)
