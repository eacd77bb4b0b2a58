"""`torch:` sources whose forward returns a ModelOutput, a dataclass, a dict or nested tuples: the outputs are every
tensor returned, in order; a forward that returns no tensor is refused by name."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

import torch_outputs  # noqa: E402
from torch_reference import torch_counts  # noqa: E402

INPUT = (3, 16, 16)


def pytorch_figures(model) -> tuple[int, int, list[list[int]]]:
    """Params, conv + linear MACs, and the shape of every tensor the forward returns, as PyTorch gives them."""
    model.eval()
    with torch.no_grad():
        returned = model(torch.zeros(1, *INPUT))
    tensors = []

    def collect(value):
        if isinstance(value, torch.Tensor):
            tensors.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                collect(item)
        elif hasattr(value, "__dataclass_fields__"):
            for field in value.__dataclass_fields__:
                collect(getattr(value, field))

    collect(returned)
    params, macs, _ = torch_counts(torch_outputs.Classifier(), INPUT)  # the same layers, returning a tuple
    return params, macs, [list(t.shape[1:]) for t in tensors]


@pytest.mark.parametrize("factory", ["library_style", "dataclass_result", "nested"])
def test_every_tensor_returned_is_an_output(cli, factory):
    params, macs, shapes = pytorch_figures(getattr(torch_outputs, factory)())
    result = cli("analyze", f"torch:torch_outputs:{factory}", "--input", "3,16,16", "-f", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["totals"]["params"], document["totals"]["macs"]) == (params, macs)
    assert [output["shape"] for output in document["outputs"]] == shapes


def test_the_library_style_output_names_the_head(cli):
    result = cli("analyze", "torch:torch_outputs:library_style", "--input", "3,16,16", "-f", "json")
    assert [output["name"] for output in json.loads(result.stdout)["outputs"]] == ["head"]
    imported = cli("import", "torch:torch_outputs:dataclass_result", "--input", "3,16,16")
    assert imported.exit_code == 0, imported.stderr


def test_a_forward_that_returns_no_tensor_is_refused_by_name(cli):
    result = cli("analyze", "torch:torch_outputs:no_tensor", "--input", "3,16,16")
    assert result.exit_code == 2
    assert result.stderr == ("torch:torch_outputs:no_tensor:1:1: error: the model's forward returned no tensor (a dict) "
                             "(a model's outputs are the tensors its forward returns)\n")
