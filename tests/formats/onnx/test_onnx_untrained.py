"""Untrained models' files (tests/torch_untrained.py), exported three ways and read by `analyze`, `import` and
`torch:` as PyTorch counts them: the exporters merge equal initializers of two modules (tables of zeros) and
torch.export's optimiser removes biases of zeros, which the file's metadata still names."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from pattern_check import EXPORTERS, FOLDED_OR_NOT, Expected, Refusal, check_export, check_factory, exact, export, folded_norms, folded_or_not, folds  # noqa: E402
from torch_untrained import untrained  # noqa: E402

INPUT = (3, 8, 8)


@pytest.mark.parametrize("how", EXPORTERS)
def test_zero_biases_count_where_the_optimiser_removed_them(how, tmp_path):
    """torch.export's optimiser removes a conv's or a linear's bias of zeros (its metadata names the rule, and the FX
    node read the module's bias parameter), and the shift of a norm it fused into a conv when that is zeros: each
    still counts, as PyTorch counts it (exit 0 with 5 + 16 + 8 parameters missing before). The conv without a bias
    gets none (the exporter's own zero bias, removed the same way, is no parameter)."""
    network = check_export(untrained("zero_bias"), INPUT, how, tmp_path, FOLDED_OR_NOT)
    biased = {step.name: step.layer.bias for step in network.nodes if hasattr(getattr(step, "layer", None), "bias")}
    assert biased == {"stem": True, "conv": False, "proj": True, "fc": True}, how
    if how == "dynamo":  # the file really lacks them
        model = onnx.load(str(export(untrained("zero_bias"), INPUT, tmp_path / "look", how)))
        assert all(len(node.input) == 2 for node in model.graph.node if node.op_type in ("Conv", "Gemm"))


def test_zero_biases_read_from_their_torch_factory():
    check_factory("torch:torch_untrained:untrained", {"kind": "zero_bias"}, untrained("zero_bias"), INPUT, FOLDED_OR_NOT)


def _two_tables(report, graph, model, label: str) -> None:
    """Each block's table, once, named after it."""
    tables = {f"blocks.{k}.attention_biases": block.attention_biases.numel() for k, block in enumerate(model.blocks)}
    assert {row.name: row.params for row in report.rows if row.kind == "bias_table"} == tables, label


@pytest.mark.parametrize("how", EXPORTERS)
def test_tables_of_zeros_merged_by_the_exporter_count_per_block(how, tmp_path):
    """LeViT's offset tables start at zero: two blocks' equal tables, which TorchScript's exporter writes once and both
    blocks gather. A table of one value is each block's own (it was refused as one table added twice). torch.export
    folds the gathered tables into constants, refused by name as for any table."""
    refused = Refusal(("exporter computed",), must=True) if how == "dynamo" else None
    check_export(untrained("zero_tables"), INPUT, how, tmp_path, Expected(also=_two_tables), refused=refused)


def test_tables_of_zeros_read_from_their_torch_factory():
    check_factory("torch:torch_untrained:untrained", {"kind": "zero_tables"}, untrained("zero_tables"), INPUT, Expected(also=_two_tables))


@pytest.mark.parametrize("how", EXPORTERS)
def test_two_modules_equal_norms_merged_by_the_optimiser_count_each(how, tmp_path):
    """Untrained, a block's two pre-activation norms of one tensor and two heads' norms of the pooled features compute
    the same thing: torch.export's optimiser keeps one node of each pair, read by both branches (exit 0 with two
    norms' parameters missing before). Each node's FX metadata says which tensor its reader read, and the merged
    norm (with its ReLU) is made again for that reader, counted as PyTorch counts it, named beside the reader."""
    network = check_export(untrained("twin_norms"), INPUT, how, tmp_path, FOLDED_OR_NOT)
    norms = sorted(step.name for step in network.nodes if step.type_name == "bn")
    assert {"proj.0", "main.0", "head.0", "head_dist.0"} <= set(norms), (how, norms)
    if how == "dynamo":  # the file really has one node of each pair
        model = onnx.load(str(export(untrained("twin_norms"), INPUT, tmp_path / "look", how)))
        assert sum(node.op_type == "BatchNormalization" for node in model.graph.node) == 2


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_merged_norm_read_through_a_removed_addition_counts(how, tmp_path):
    """FastViT's RepMixer, untrained: its norm of x, written `0 + norm(x)`, equals its identity norm of x; torch.export
    keeps one norm node and reads it where the subtraction read the `+ 0` it removed. The FX metadata names the
    addition, and the norm it reads is one of fills that another reader names: made again (768 parameters of an
    untrained FastViT-T8 were missing with exit 0)."""
    def unnamed(model, input_shape, how: str):  # the file does not say which module the merged norm was
        return {*folded_norms(model, input_shape, how), *(("norm",) if how == "dynamo" else ())}

    check_export(untrained("repmixer"), INPUT, how, tmp_path, Expected(fewer_params=folded_or_not, unnamed=unnamed))


def test_two_modules_equal_norms_read_from_their_torch_factory():
    check_factory("torch:torch_untrained:untrained", {"kind": "twin_norms"}, untrained("twin_norms"), INPUT, FOLDED_OR_NOT)


@pytest.mark.parametrize("how", EXPORTERS)
def test_modules_named_with_a_number_are_modules_of_their_own(how, tmp_path):
    """`branch_1` and `branch_2` with no module `branch`: two modules, whose untrained norms' ones and zeros the
    exporter merged, not one module called again (the unfolded file's second norm counted none before)."""
    network = check_export(untrained("numbered"), INPUT, how, tmp_path, FOLDED_OR_NOT)
    assert all(step.shares is None for step in network.nodes if hasattr(step, "shares")), how


@pytest.mark.parametrize("how", EXPORTERS)
def test_modules_named_as_later_calls_beside_the_first_are_modules_of_their_own(how, tmp_path):
    """`repeat_1` and `repeat_2` beside `repeat`, whose parameters the file names: three modules, not `repeat` called
    three times (the unfolded file's later norms, whose ones and zeros the exporter merged, counted none)."""
    network = check_export(untrained("repeated_stages"), INPUT, how, tmp_path, FOLDED_OR_NOT)
    assert all(step.shares is None for step in network.nodes if hasattr(step, "shares")), how


@pytest.mark.parametrize("how", EXPORTERS)
def test_parameters_merged_across_modules_are_named_by_their_readers(how, tmp_path):
    """Every block's untrained scale and shift of one number, which the exporters write once, is its own block's:
    each was named after the first block's parameter (`blocks.0.lab.scale_1` for `blocks.1.lab.scale`)."""
    network = check_export(untrained("affine_blocks"), INPUT, how, tmp_path, FOLDED_OR_NOT)
    named = {step.name for step in network.nodes}
    assert {f"blocks.{k}.lab.{p}" for k in range(3) for p in ("scale", "bias")} <= named, (how, sorted(named))


def test_parameters_merged_across_modules_read_from_their_torch_factory():
    check_factory("torch:torch_untrained:untrained", {"kind": "affine_blocks"}, untrained("affine_blocks"), INPUT, FOLDED_OR_NOT)


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("kind", ["twin_pools", "twin_activations", "shared_state", "pooled_norm"])
def test_merged_steps_without_parameters_are_not_made_again(kind, how, tmp_path):
    """Two pools, or two ReLUs, of one tensor are one node in torch.export's file; nothing is lost, and the conv or
    norm below them is not made again (it was: counted twice): its output has no more readers than its FX node had
    users, or its kernel is random, equal to no other module's, or it is another module's than the ReLUs' (a state
    normed once, read by two operations), or the pools' sibling, which a twin would be named as (NASNet's cell norm read
    by two of the cell's pools: nasnetalarge's torch.export file counted each cell's norm twice, exit 0)."""
    network = check_export(untrained(kind), INPUT, how, tmp_path, FOLDED_OR_NOT)
    assert sum(step.type_name in ("conv", "pwconv") for step in network.nodes) == 3, how


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_deep_copy_whose_kernels_the_exporter_merged_counts_apart_or_is_refused(how, tmp_path):
    """A head and its untrained deep copy (YOLOv10's one-to-one head): TorchScript writes each equal kernel once, the
    copy reading it through an Identity, where one parameter held by two modules (ShaResNet's) is read directly; the
    copy's convs count their own (they were read as one module held twice: YOLOv10n untrained 462,344 parameters
    short with exit 0). torch.export's optimiser merges the whole copy into the head (equal weights, one input): the
    concat reads the head twice where its FX node read two tensors, and how deep the merge went the file does not
    say: refused by name (it was exit 0 with the copy's 620 parameters missing)."""
    refused = Refusal(("merged two modules whose parameters are equal",), must=True) if how == "dynamo" else None
    network = check_export(untrained("copied_head"), INPUT, how, tmp_path, refused=refused)
    assert network is None or all(step.shares is None for step in network.nodes if hasattr(step, "shares")), how



@pytest.mark.parametrize("kind", ["copied_branches", "copied_fused_branches"])
@pytest.mark.parametrize("how", EXPORTERS)
def test_a_deep_copy_merged_as_far_as_its_small_kernels_counts_apart(kind, how, tmp_path):
    """YOLOv10's one-to-one branch, untrained: torch.export's optimiser merges the copy's depthwise conv (and its SiLU)
    into the original's, and the copy's pointwise conv reads the original's output; the copy's conv counts again under
    its own name (the first pointwise readers' modules, `one2one_cv3.0.1` beside `cv3.0.1`, name the copy). It was
    exit 0 with the conv missing (YOLOv10n: 640 parameters), where the reader was a conv its norm was fused into too."""
    network = check_export(untrained(kind), (3, 16, 16), how, tmp_path, FOLDED_OR_NOT)
    depthwise = sorted(step.name for step in network.nodes if getattr(step, "type_name", "") == "dwconv")
    assert depthwise == ["cv3.0.0.conv", "one2one_cv3.0.0.conv"], how


def test_a_deep_copy_merged_as_far_as_its_small_kernels_reads_from_its_torch_factory():
    check_factory("torch:torch_untrained:untrained", {"kind": "copied_branches"}, untrained("copied_branches"), (3, 16, 16), FOLDED_OR_NOT)


@pytest.mark.parametrize("how", EXPORTERS)
def test_modules_called_past_their_container_take_its_name(how, tmp_path):
    """A block a Sequential holds (`blocks.block1`), called from the unit's own forward and not through the Sequential,
    is scoped `block1` by TorchScript: its modules were named `block1.pw_conv.activ` and, where the untrained norms'
    equal weights are written once under the first norm's name, `block1.pw_conv` for the second block's norm. Each
    unshared weight's name puts `blocks` back, for every node under that scope (the folded conv's and the ReLU6's)."""
    network = check_export(untrained("called_past_their_container"), INPUT, how, tmp_path, FOLDED_OR_NOT)
    names = {step.name for step in network.nodes}
    assert {f"blocks.block{k}.pw_conv.activ" for k in (1, 2)} <= names, sorted(names)
    assert not [name for name in names if name.split(".")[0] in ("block1", "block2")], sorted(names)


def test_modules_called_past_their_container_read_from_their_torch_factory():
    check_factory("torch:torch_untrained:untrained", {"kind": "called_past_their_container"}, untrained("called_past_their_container"),
                  INPUT, FOLDED_OR_NOT)


@pytest.mark.parametrize("kind", ["one_scope_two_modules", "one_scope_two_slashed_modules"])
@pytest.mark.parametrize("how", EXPORTERS)
def test_two_modules_of_one_scope_keep_their_merged_norms_apart(kind, how, tmp_path):
    """Two modules TorchScript scopes alike (`unit1` and `unit1/bn_1`), whose untrained norms' equal weights are written
    once: the second norm reads them through an Identity named with its own parameter's name, so it is that module,
    not `unit1.bn` called again (its 2C parameters were counted once, with exit 0, in FishNet's and HRNet's files).
    In TorchScript's folded file the norms are folded into the convs, whose new weights no name holds: the convs are
    named by their scopes (`unit1.conv`, `unit1.conv_1`), their counts PyTorch's. A norm named `conv/bn` (HoVerNet's) is
    told apart by its parameter's name too (26,112 parameters short in HoVerNet's file): its row is `conv_bn`, not
    PyTorch's name, which no step name can hold."""
    convs = {"down_seq.unit1.conv", "skip_seq.unit1.conv"} if how == "folded" else set()
    slashed = {f"{seq}.unit1.conv/bn" for seq in ("down_seq", "skip_seq")} if kind.endswith("slashed_modules") else set()
    expected = Expected(fewer_params=folded_or_not if folds(how) else exact, unnamed=lambda model, shape, how: folded_norms(model, shape, how) | convs | slashed)
    check_export(untrained(kind), INPUT, how, tmp_path, expected)


def test_two_modules_of_one_scope_read_from_their_torch_factory():
    check_factory("torch:torch_untrained:untrained", {"kind": "one_scope_two_modules"}, untrained("one_scope_two_modules"), INPUT)
