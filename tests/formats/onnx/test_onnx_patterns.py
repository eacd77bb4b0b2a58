"""Patterns of real models' exports, each from a torch module written here (tests/torch_patterns.py).

Each module is exported three ways — TorchScript with constant folding at opset 17 and without it
at the default opset, and the torch.export exporter — and read by `analyze` (the graph), `import` (the graph raised to a spec
and built again) and `torch:` (the factory traced by groupcost itself). Every reading must give
PyTorch's parameter count (sum(p.numel())), MACs (FlopCounterMode: conv + linear, and the batched
products of activations apart), output shapes and its weighted modules' names.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from pattern_check import EXACT, EXPORTERS, FOLDED_OR_NOT, check_export, check_factory, folds  # noqa: E402
from torch_named import export_onnx  # noqa: E402
from torch_patterns import BLOCKS, PATTERNS, chain, pattern  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch_reference import torch_counts  # noqa: E402


FOLDING = {"nested_trees", "padded_stem"}
"""The patterns with a batch norm right after a conv, which the folding exporters fold into it."""


ALIASED = {"held_in_blocks": {"cpe1.proj": "serial_blocks1.0.cpe.proj"}}
"""Modules held at several places, which torch.export's file names by the place that calls them (its state_dict alias)."""


NAMELESS_WHEN_FOLDED = {"block_layer_scale": {"blocks.0": "blocks.0.layerscale", "blocks.1": "blocks.1.layerscale"},
                        "sequential_layer_scale": {"1": "1.layerscale", "2": "2.layerscale"}}
"""Parameters a block holds itself, viewed in the forward: the folding exporters write the view as a constant of its own
name (`onnx::Mul_26`, `view`), so the row is named by the block and its kind."""


MERGED_VIEWS = {"radix_softmax": {"rsoftmax"}}
"""Modules whose last step is a view that torch.export's optimiser merges into the view after the module: no tensor of
its file is the module's output, so the row named after the module is its softmax, of the shape before that view."""


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("kind", sorted(PATTERNS))
def test_every_pattern_reads_exactly_every_way(kind, how, tmp_path):
    expected = FOLDED_OR_NOT if kind in FOLDING else EXACT
    aliases = {**(ALIASED.get(kind, {}) if how == "dynamo" else {}), **(NAMELESS_WHEN_FOLDED.get(kind, {}) if folds(how) else {})}
    if aliases:
        expected = replace(expected, unnamed=lambda model, shape, how: set(aliases))
    if how == "dynamo" and kind in MERGED_VIEWS:
        expected = replace(expected, shaped=lambda name, module: name not in MERGED_VIEWS[kind])
    network = check_export(pattern(kind), PATTERNS[kind][1], how, tmp_path, expected)
    assert set(aliases.values()) <= {step.name for step in network.nodes}, how


@pytest.mark.parametrize("kind", sorted(PATTERNS))
def test_every_pattern_reads_from_its_torch_factory(kind):
    check_factory("torch:torch_patterns:pattern", {"kind": kind}, pattern(kind), PATTERNS[kind][1])


@pytest.mark.parametrize("fold", [True, False])
def test_torchscript_scopes_read_as_module_paths(fold, tmp_path):
    """Every node TorchScript writes inside a module reads as that module's path, PyTorch's own name for
    it: a branch held in a ModuleList that is never called (`paths.0` under its block `layer.0`) kept its list's
    name only in its weights, so its activation lost it and the written spec reused a name."""
    from groupcost.formats.onnx.names import module_path

    model = pattern("selective_branches")
    path = tmp_path / "branches.onnx"
    export_onnx(model, PATTERNS["selective_branches"][1], path, fold=fold)
    modules = {name for name, _ in model.named_modules()}
    paths = {module_path(node) for node in onnx.load(str(path)).graph.node if node.name.startswith("/")}
    assert {"layer.0.paths.0.bn.act", "layer.1.paths.1.bn.act"} <= paths
    assert paths <= modules


class _CumulativeBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(8, 8, 1)

    def forward(self, x):
        return self.conv(torch.cumsum(x, 2))


class _RankFiveUnknowns(torch.nn.Module):
    """Operators groupcost does not read (Unsqueeze of an activation to rank 5, CumSum) inside two equal blocks."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.blocks = torch.nn.Sequential(_CumulativeBlock(), _CumulativeBlock())

    def forward(self, x):
        return self.blocks(self.conv(x).unsqueeze(2).unsqueeze(2).squeeze(2))


def test_import_allow_unknown_keeps_rank_five_outputs_opaque(cli, tmp_path):
    """It crashed with a KeyError traceback where a block read a tensor of rank 5 (batch included, 6)."""
    model = _RankFiveUnknowns().eval()
    path = tmp_path / "unknown.onnx"
    export_onnx(model, (3, 16, 16), path)
    result = cli("import", path, "--allow-unknown")
    assert result.exit_code == 0, result.output
    totals = analyze(build(parse_text(result.stdout, "unknown.yaml"), {})).totals
    params, macs, _ = torch_counts(model, (3, 16, 16))
    assert (totals.params, totals.macs) == (params, macs)
    assert "repeat" in result.stdout  # the two blocks fold into one block called twice


class _GainConv(torch.nn.Conv2d):
    """A standardised weight times a learned gain per output channel (NFNets' scaled weight standardisation)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gain = torch.nn.Parameter(torch.rand(self.out_channels, 1, 1, 1))

    def forward(self, x):
        w = self.weight - self.weight.mean(dim=(1, 2, 3), keepdim=True)
        return torch.nn.functional.conv2d(x, w * self.gain, self.bias)


@pytest.mark.parametrize("channels", [8, 32])  # the gain as a small constant (≤ 8 values read) and as a weight
def test_weight_arithmetic_with_a_second_parameter_is_refused(channels, tmp_path):
    """Its parameters would be lost: the gain is a parameter PyTorch counts, the conv's weight dims do not hold it."""
    from groupcost.errors import GroupcostError

    path = tmp_path / "gain.onnx"
    export_onnx(_GainConv(3, channels, 3).eval(), (3, 8, 8), path, fold=False)
    with pytest.raises(GroupcostError, match="a second parameter in a weight"):
        read_network(path)


def test_attention_over_a_token_sequence_is_read_with_its_matmuls(tmp_path):
    """A bare attention graph over N×16×64 tokens (once refused): q and k projections are linears on the
    features (16·64·64 MACs each, by hand), scores and context are matmuls of activations (16·64·16 and
    16·16·64 matmul MACs), apart from conv + linear."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"], name="/attn/q_proj/MatMul"),
             helper.make_node("MatMul", ["x", "wk"], ["k"], name="/attn/k_proj/MatMul"),
             helper.make_node("Transpose", ["k"], ["kt"], name="/attn/Transpose", perm=[0, 2, 1]),
             helper.make_node("MatMul", ["q", "kt"], ["s"], name="/attn/MatMul"),
             helper.make_node("Softmax", ["s"], ["p"], name="/attn/Softmax", axis=-1),
             helper.make_node("MatMul", ["p", "x"], ["y"], name="/attn/MatMul_1")]
    weights = [helper.make_tensor(n, TensorProto.FLOAT, [64, 64], [0.0] * 4096) for n in ("wq", "wk")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], weights)
    path = tmp_path / "attention.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    totals = analyze(read_network(path)).totals
    assert (totals.params, totals.macs, totals.matmul_macs) == (2 * 64 * 64, 2 * 16 * 64 * 64, 16 * 64 * 16 + 16 * 16 * 64)


@pytest.mark.parametrize("command", [["analyze"], ["compare", "--g", "2"], ["import"], ["check", "--max-params", "1M"]])
def test_every_command_passes_keywords_to_a_torch_factory(cli, command):
    """`?kind=...&width=...` reaches the factory: the figures are those of pattern(kind, width=...)."""
    source = "torch:torch_patterns:pattern?kind=preact&width=12"
    result = cli(command[0], source, "--input", "3,16,16", *command[1:], *([] if command[0] in ("import", "compare") else ["--format", "json"]))
    assert result.exit_code == 0, result.output
    if command[0] == "analyze":
        import json

        params, macs, _ = torch_counts(pattern("preact", width=12), (3, 16, 16))
        totals = json.loads(result.stdout)["totals"]
        assert (totals["params"], totals["macs"]) == (params, macs)


def test_a_malformed_factory_keyword_is_one_line(cli):
    result = cli("analyze", "torch:torch_patterns:pattern?kind", "--input", "3,16,16")
    assert result.exit_code == 2 and "is not key=value" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_group_norm_after_tokens_folded_back_to_a_map_keeps_the_map_shape(how, tmp_path):
    """torch.export's optimiser merges an attention block's Reshape of its tokens back to C×H×W into the next group
    norm's own Reshape: the norm read the tokens' shape (4 × 16 for 4 × 4 × 4), exit 0, until the property test below
    drew this chain. The merged Reshape is now a step of the block, before the norm."""
    network = check_export(chain(["torch_attention", "group_norm"], 4), (3, 4, 4), how, tmp_path, dynamic_batch=False)
    norm = next(step for step in network.nodes if step.name == "block1.norm")
    assert (norm.type_name, norm.out_shape) == ("groupnorm", (4, 4, 4)), how


def _as_built(model: torch.nn.Module, zero_biases: bool) -> torch.nn.Module:
    """The chain as a library builds it: norms at their defaults (the blocks' own), and, where `zero_biases`, every
    conv's, fc's and attention's bias zero (timm's and ultralytics' initialisers, nn.MultiheadAttention's own): values
    the exporters merge, fold and drop."""
    if zero_biases:
        for module in model.modules():
            for bias in ("bias", "in_proj_bias"):
                if isinstance(getattr(module, bias, None), torch.nn.Parameter):
                    torch.nn.init.zeros_(getattr(module, bias))
    return model


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(kinds=st.lists(st.sampled_from(sorted(BLOCKS)), min_size=1, max_size=4), width=st.sampled_from([4, 8, 12]),
       size=st.integers(4, 9), how=st.sampled_from(["folded", "unfolded"]), zero_biases=st.booleans())
def test_random_chains_of_the_patterns_read_exactly(kinds, width, size, how, zero_biases, tmp_path_factory):
    """Random chains of every pattern (tests/torch_patterns.py BLOCKS), at random widths and sizes, as built (norms
    untrained, biases random or zero), exported by TorchScript folded at opset 17 or unfolded at its default: analyze
    and import give PyTorch's figures."""
    check_export(_as_built(chain(kinds, width), zero_biases), (3, size, size), how, tmp_path_factory.mktemp("chain"))


@pytest.mark.skipif("dynamo" not in EXPORTERS, reason="torch.export's ONNX exporter needs onnxscript")
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(kinds=st.lists(st.sampled_from(sorted(BLOCKS)), min_size=1, max_size=3), width=st.sampled_from([4, 8]),
       size=st.integers(4, 8), zero_biases=st.booleans())
def test_random_chains_of_the_patterns_read_exactly_from_torch_export(kinds, width, size, zero_biases, tmp_path_factory):
    """The same from torch.export's exporter, whose optimiser merges equal computations, fuses norms and removes
    zero biases, with a fixed batch (`torch.onnx.export(model, x, f)`'s default; torch.export cannot give some of these
    blocks a symbolic one): fewer examples, each export takes seconds."""
    check_export(_as_built(chain(kinds, width), zero_biases), (3, size, size), "dynamo", tmp_path_factory.mktemp("chain"), dynamic_batch=False)
