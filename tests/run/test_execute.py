"""`verify`: every zoo model run in NumPy agrees with the analysis; a wrong kernel is caught (exit 1)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

import groupcost
from conftest import executable
from groupcost.run.execute import verify
from groupcost.ops import Layer
from groupcost.ops.conv import Conv
from groupcost.ops.registry import register


@pytest.mark.slow
@pytest.mark.parametrize("name", groupcost.zoo_names())
def test_zoo_verifies(name):
    net = executable(name)
    result = verify(net)
    assert result.ok, result.first_mismatch and result.first_mismatch.problem()
    assert result.finite
    report = groupcost.analyze(net)
    assert sum(c.counted_macs for c in result.checks) == report.totals.macs
    assert sum(c.allocated_params for c in result.checks) == report.totals.params


def test_batch_and_precision(cli):
    result = cli("verify", "mobilefacenet", "--batch", "3", "--dtype", "float64", "--seed", "7", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["batch"], doc["dtype"], doc["seed"], doc["ok"]) == (3, "float64", 7, True)
    assert sum(layer["counted_macs"] for layer in doc["layers"]) == 3 * 220_965_376  # MobileFaceNet's 221 M, three times
    assert doc["layers"][0]["actual_shape"] == [64, 56, 56] and doc["layers"][0]["actual_batch"] == 3  # shapes of one sample, as analyze


def test_a_wrong_kernel_is_caught(cli, monkeypatch):
    """A conv kernel that does one multiply-accumulate too many must be named, with exit 1."""
    original = Conv.forward

    def sloppy(self, x, weights, counter):
        counter.macs += 1
        return original(self, x, weights, counter)

    monkeypatch.setattr(Conv, "forward", sloppy)
    result = cli("verify", "alexnet_2gpu")
    assert result.exit_code == 1
    assert result.stderr == "MISMATCH at conv1 (conv): 105,415,201 MACs performed where the analysis says 105,415,200\n"


def test_a_wrong_shape_is_caught(monkeypatch):
    original = Conv.forward
    monkeypatch.setattr(Conv, "forward", lambda self, x, w, c: original(self, x, w, c)[:, :, :-1])
    result = verify(groupcost.load("resnet18"))
    assert result.first_mismatch.name == "conv1"
    assert result.first_mismatch.problem() == "output (1, 64, 111, 112) where the analysis says (1, 64, 112, 112)"


def test_every_layer_type_declares_a_kernel():
    with pytest.raises(RuntimeError, match="has no NumPy kernel"):

        @register("kernelless")
        @dataclass(frozen=True)
        class Kernelless(Layer):
            pass


def test_verify_errors_are_located(cli):
    result = cli("verify", "resnet51")
    assert result.exit_code == 2 and result.stderr.startswith("resnet51:1:1: error:")


def test_out_of_memory_is_not_a_mismatch(cli, monkeypatch):
    from groupcost.ops.conv import Conv

    def starved(self, x, weights, counter):
        raise MemoryError("Unable to allocate 3.50 GiB for an array with shape (8, 64, 1792, 1792) and data type float32")

    monkeypatch.setattr(Conv, "forward", starved)
    result = cli("verify", "resnet18")
    assert result.exit_code == 2 and "MISMATCH" not in result.stdout + result.stderr
    assert result.stderr.startswith("resnet18:1:1: error: out of memory while verifying resnet18 at conv1: Unable to allocate 3.50 GiB")
    assert result.stderr.count("\n") == 1 and "needs at least" in result.stderr

