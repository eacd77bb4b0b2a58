"""One `read(source)` for every kind of source, and every command reads every kind: a spec file, a zoo
name, `-` (standard input), an ONNX file, `torch:package.module:factory`."""

from __future__ import annotations

import json

import pytest

import groupcost
from groupcost.errors import UsageError
from groupcost.sources import kind, read

TINY = "name: tiny\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, k: 3, p: 1}\n"


def test_kinds():
    assert [kind(s) for s in ("resnet18", "models/net.yaml", "-", "net.onnx", "NET.ONNX", "torch:pkg.mod:factory")] == \
           ["spec", "spec", "spec", "onnx", "onnx", "torch"]


def test_a_spec_a_zoo_name_and_stdin_read_alike(write_spec, monkeypatch):
    import io

    path = write_spec(TINY, "tiny.yaml")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(TINY.encode())))
    from_stdin = read("-")
    assert from_stdin.spec.path == "<stdin>" and from_stdin.graph is None
    assert groupcost.analyze(from_stdin.network()).totals == groupcost.analyze(read(str(path)).network()).totals
    assert groupcost.analyze(read("resnet18").network()).totals == groupcost.analyze(groupcost.load("resnet18")).totals


def test_a_model_has_no_variables(write_spec, tmp_path):
    pytest.importorskip("onnx")
    path = tmp_path / "tiny.onnx"
    groupcost.export_onnx(str(write_spec(TINY, "tiny.yaml")), path)
    source = read(str(path))
    assert source.kind == "onnx" and source.spec is None
    assert groupcost.analyze(source.network()).totals.macs == groupcost.analyze(groupcost.load(str(path))).totals.macs
    with pytest.raises(UsageError, match="an ONNX model has no variables to set"):
        source.network({"G": 2})


def test_analyze_reads_a_torch_factory(cli):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import torch_factories
    from torch_reference import torch_counts

    params, macs, _ = torch_counts(torch_factories.tiny(), (3, 16, 16))
    result = cli("analyze", "torch:torch_factories:tiny", "--input", "3,16,16", "-f", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["totals"]["params"], document["totals"]["macs"]) == (params, macs)
    assert document["input_shape"] == [3, 16, 16]
    imported = cli("import", "torch:torch_factories:tiny", "--input", "3,16,16")
    assert imported.exit_code == 0, imported.stderr
    spec = groupcost.parse_text(imported.stdout, "tiny.yaml")
    assert groupcost.analyze(groupcost.language.build(spec)).totals.macs == macs
    for argv in (["compare", "torch:torch_factories:tiny", "--input", "3,16,16"], ["verify", "torch:torch_factories:tiny", "--input", "3,16,16"],
                 ["analyze", "torch:torch_factories:tiny", "--input", "3,16,16", "--batch", "2"]):
        assert cli(*argv).exit_code == 0, argv


def test_a_model_that_neither_exporter_can_trace_is_one_clear_error(cli):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    result = cli("analyze", "torch:torch_factories:failing", "--input", "3,16,16")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("torch:torch_factories:failing:1:1: error: the ONNX export failed: ValueError: this model takes 32x32 inputs (torch.export")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert cli("analyze", "torch:torch_factories:failing", "--input", "3,32,32").exit_code == 0


def test_a_torch_factory_needs_its_input_shape(cli):
    result = cli("analyze", "torch:torch_factories:tiny")
    assert result.exit_code == 2
    assert result.stderr == "--input:1:1: error: torch: imports need --input (e.g. --input 3,224,224)\n"
