"""Where the cost sits: the breakdown by layer type against the papers' tables, buffers and
state_dict bytes against PyTorch's, and the batch."""

from __future__ import annotations

import pytest

import groupcost


def test_mobilenet_v1_table_2():
    """arXiv 1704.04861, Table 2: Conv 1×1 94.86 % of mult-adds and 74.59 % of parameters, Conv DW 3×3 3.06 % and
    1.06 %, Conv 3×3 1.91 % (printed 1.19 %, transposed digits) and 0.02 %, Fully connected 0.18 % and 24.33 %.
    The paper counts weights (no BN), so its parameter shares are shares of `weights`."""
    kinds = {t.kind: t for t in groupcost.analyze(groupcost.load("mobilenet_v1")).by_type().rows}
    paper = {"pointwise 1×1": (94.86, 74.59), "depthwise 3×3": (3.06, 1.06), "standard 3×3": (1.91, 0.02), "fc": (0.18, 24.33)}
    for kind, (macs, params) in paper.items():
        assert (round(100 * kinds[kind].shares["macs"], 2), round(100 * kinds[kind].shares["weights"], 2)) == (macs, params), kind
    assert kinds["pointwise 1×1"].count == 13 and kinds["depthwise 3×3"].count == 13


def test_grouped_kind():
    kinds = {t.kind for t in groupcost.analyze(groupcost.load("resnext50_32x4d")).by_type().rows}
    assert {"grouped 3×3", "pointwise 1×1", "standard 7×7"} <= kinds


def test_buffers_and_state_dict_match_pytorch():
    torch = pytest.importorskip("torch")
    from reference_resnet import model as reference

    model = reference("resnext50_32x4d")
    totals = groupcost.analyze(groupcost.load("resnext50_32x4d"))
    assert totals.totals.buffers == sum(b.numel() for b in model.buffers())
    state_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert totals.metric("state_dict_bytes") == state_bytes
    del torch


def test_batch_multiplies_macs():
    one, two = (groupcost.analyze_spec("resnet18", batch=b).totals.macs for b in (1, 2))
    assert two == 2 * one == 2 * 1_814_073_344

