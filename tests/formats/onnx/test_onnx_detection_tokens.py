"""YOLOS's detection tokens (tests/torch_detection_tokens.py): learned tokens put after the patch tokens, its resampled
position tables (one per later block), and boxes read from the detection tokens' outputs, exported three ways
and read by `analyze`, `import` (raised to a spec, built again) and `torch:` against PyTorch's own counts; a
`class_token` with `after` tokens in a spec against a torch module written here."""

from __future__ import annotations

import dataclasses

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from pattern_check import FOLDED_OR_NOT, Refusal, check_export, check_factory  # noqa: E402
from torch_detection_tokens import DETECTION_TOKEN_PATTERNS, detection_token_model  # noqa: E402
from torch_layers import LearnedTokens  # noqa: E402
from torch_reference import torch_counts_with_matmul  # noqa: E402


def _one_class_token(report, graph, model, label: str) -> None:
    """One `class_token` of 1 token before and 5 after (6·C parameters)."""
    tokens = [(row.name, row.params) for row in report.rows if row.kind == "class_token"]
    # torch.export's optimiser may fold the class token's Expand into a constant of its own name (`expand`)
    assert [params for _, params in tokens] == [6 * 16] and tokens[0][0] in ("cls_token", "expand"), label


@pytest.mark.parametrize("how", ["unfolded", "dynamo"])
@pytest.mark.parametrize("kind", sorted(DETECTION_TOKEN_PATTERNS))
def test_detection_tokens_read_as_pytorch_counts_them(kind, how, tmp_path):
    """One `class_token` of 1 token before and 5 after (6·C parameters), the position tables counted whole."""
    expected = dataclasses.replace(FOLDED_OR_NOT, also=_one_class_token)
    check_export(detection_token_model(kind), DETECTION_TOKEN_PATTERNS[kind][1], how, tmp_path, expected)


@pytest.mark.parametrize("kind", sorted(DETECTION_TOKEN_PATTERNS))
def test_detection_tokens_read_from_their_torch_factory(kind):
    input_shape = DETECTION_TOKEN_PATTERNS[kind][1]
    check_factory("torch:torch_detection_tokens:detection_token_model", {"kind": kind}, detection_token_model(kind), input_shape, FOLDED_OR_NOT)


def test_folded_detection_tokens_are_refused_by_name(tmp_path):
    """TorchScript's folding computes the resampled tables into constants of its own."""
    kind = "one_block"
    check_export(detection_token_model(kind), DETECTION_TOKEN_PATTERNS[kind][1], "folded", tmp_path,
                 refused=Refusal(("the exporter computed",), must=True))


def test_a_class_token_with_tokens_after_counts_as_pytorch_does():
    network = build(parse_text("input: [6, 10]\nlayers:\n  - class_token: {name: cls, tokens: 2, after: 3}\n"), {})
    params, macs, _, out_shape = torch_counts_with_matmul(LearnedTokens(6, 2, 3).eval(), (6, 10))
    report = analyze(network)
    assert (report.totals.params, report.totals.macs, report.output_shape) == (params, macs, out_shape) == (30, 0, (6, 15))
