"""ViT's class token and DeiT's distillation token (tests/torch_class_tokens.py), exported three ways and read by
`analyze`, `import` (raised to a spec, built again) and `torch:`, against PyTorch's own counts; groupcost's own export
of a `class_token` read back as itself; a learned token put after the tokens refused by name."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

import groupcost  # noqa: E402
from groupcost.formats.onnx.export import onnx_model  # noqa: E402
from groupcost.formats.onnx.reader import network_from_model, read_network  # noqa: E402
from groupcost.formats.onnx.values import OnnxError  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from dataclasses import replace  # noqa: E402

from pattern_check import EXPORTERS, FOLDED_OR_NOT, check_export, check_factory, export  # noqa: E402
from torch_class_tokens import CLASS_TOKEN_PATTERNS, AppendedToken, class_token_model  # noqa: E402


def _token_rows(network) -> list[tuple[str, tuple[int, ...], int]]:
    return [(row.name, row.out_shape, row.params) for row in analyze(network).rows if row.kind == "class_token"]


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("kind", sorted(CLASS_TOKEN_PATTERNS))
def test_learned_tokens_read_exactly_every_way(kind, how, tmp_path):
    """One `class_token` step named after the parameter, C parameters per token, 17 (18) tokens of 16 channels."""
    model = class_token_model(kind)
    tokens = sum(p.shape[1] for name, p in model.named_parameters() if name.endswith("_token"))

    def one_step_for_the_tokens(report, graph, model, label) -> None:
        assert _token_rows(graph) == [("cls_token", (16, tokens + 16), 16 * tokens)], (kind, label)

    check_export(model, CLASS_TOKEN_PATTERNS[kind][1], how, tmp_path, replace(FOLDED_OR_NOT, also=one_step_for_the_tokens))


@pytest.mark.parametrize("kind", sorted(CLASS_TOKEN_PATTERNS))
def test_learned_tokens_read_from_their_torch_factory(kind):
    check_factory("torch:torch_class_tokens:class_token_model", {"kind": kind}, class_token_model(kind), CLASS_TOKEN_PATTERNS[kind][1], FOLDED_OR_NOT)


def test_groupcosts_own_export_of_a_class_token_comes_back_as_one():
    network = groupcost.language.build(groupcost.parse_text(
        "input: [3, 8, 8]\nlayers:\n  - conv: {name: embed, out: 6, k: 4, s: 4}\n  - flatten: {name: patches, start: 2}\n"
        "  - class_token: {name: cls, tokens: 2}\n  - linear: {name: mix, out: 5}\n"))
    back = network_from_model(onnx_model(network, "zeros"), "own", None, name=network.name)
    assert _token_rows(back) == [("cls", (6, 6), 12)]
    assert analyze(back).totals.params == analyze(network).totals.params


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_learned_token_after_the_tokens_is_refused_by_name(how, tmp_path):
    with pytest.raises(OnnxError, match="learned tokens joined after the tokens"):
        read_network(export(AppendedToken().eval(), (3, 16, 16), tmp_path, how))
