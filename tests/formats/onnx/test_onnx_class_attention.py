"""CaiT's and XCiT's class attention (tests/torch_class_attention.py): the class token sliced off the tokens or held
apart, layer-normed alone, the one query of an attention over every token, and joined back before the patch tokens;
exported three ways and read by `analyze`, `import` (raised to a spec, built again) and `torch:`, against PyTorch's
own counts (matmul MACs apart)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from pattern_check import EXPORTERS, Expected, check_export, check_factory  # noqa: E402
from torch_class_attention import CLASS_ATTENTION_PATTERNS, INPUT_SHAPE, class_attention_model  # noqa: E402


def _class_token_norms(report, graph, model, label: str) -> None:
    """The class token's own norm: 2 × 16 parameters over one token of 16 channels, in each block."""
    norms = [(row.out_shape, row.params) for row in report.rows if row.name.endswith("norm2")]
    assert norms == [((16, 1), 32)] * 2, label


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("kind", sorted(CLASS_ATTENTION_PATTERNS))
def test_class_attention_reads_exactly_every_way(kind, how, tmp_path):
    check_export(class_attention_model(kind), INPUT_SHAPE, how, tmp_path, Expected(also=_class_token_norms))


@pytest.mark.parametrize("kind", sorted(CLASS_ATTENTION_PATTERNS))
def test_class_attention_reads_from_its_torch_factory(kind):
    check_factory("torch:torch_class_attention:class_attention_model", {"kind": kind}, class_attention_model(kind), INPUT_SHAPE)
