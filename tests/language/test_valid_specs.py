"""Acceptance: every spec in tests/valid/ analyzes from the command line and, where torch is
installed, PyTorch agrees on its params, MACs and output shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import groupcost

VALID = sorted((Path(__file__).parents[1] / "valid").glob("*.yaml"))


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_analyzes(cli, path):
    result = cli("analyze", path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["model"] == path.stem


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_pytorch_agrees(path):
    pytest.importorskip("torch")
    from torch_reference import network_module, torch_counts

    net = groupcost.load(path)
    report = groupcost.analyze(net)
    assert (report.totals.params, report.totals.macs, report.output_shape) == torch_counts(network_module(net), net.input_shape)
