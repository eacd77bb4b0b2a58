"""`compare`: convolution variants against the closed forms of the brief, heads, and whole networks
against networks PyTorch builds (ResNeXt-50 built standard is torchvision's wide_resnet50_2)."""

from __future__ import annotations

import json

import pytest

import groupcost
from groupcost.questions.compare import compare


def test_layer_variants_closed_forms():
    """resnet18 layer4.0.conv2: 512→512, 3×3 on 7×7 (bias-free)."""
    (layer,) = compare(groupcost.load("resnet18"), [2, 3, 32], "layer4.0.conv2").layers
    variants = {v.label: v for v in layer.variants}
    assert list(variants) == ["standard", "G=2", "G=3", "G=32", "dw-separable"]
    for label, g in (("standard", 1), ("G=2", 2), ("G=32", 32)):
        weights = 512 * (512 // g) * 9
        assert (variants[label].total("params"), variants[label].total("macs")) == (weights, weights * 7 * 7)
        assert variants[label].total("traffic") == 512 * 7 * 7 * 2 + weights  # ShuffleNet V2 Eq. 2, batch 1
    assert variants["G=3"].reason == "groups=3 does not divide C_in=512 and C_out=512"
    assert variants["G=3"].nearest_legal == (2, 4)
    separable = variants["dw-separable"]
    assert [r.name for r in separable.rows] == ["layer4.0.conv2.dw", "layer4.0.conv2.pw"]
    assert separable.total("params") == 9 * 512 + 512 * 512  # K²·C_in + C_in·C_out
    assert separable.total("macs") == (9 * 512 + 512 * 512) * 7 * 7
    assert layer.written.total("params") == variants["standard"].total("params")


def test_one_by_one_has_no_separable_variant():
    (layer,) = compare(groupcost.load("resnet18"), [], "layer4.0.downsample.0").layers
    assert layer.variants[-1].reason == "a 1×1 convolution has no spatial part to separate"


def test_heads_gap_gdc_dense():
    """MobileFaceNet's GDC head over 512×7×7: GAP 0, GDC 512·7·7 = 25,088, dense 512·512·7·7."""
    (head,) = compare(groupcost.load("mobilefacenet"), []).heads
    figures = {v.label: (v.total("params"), v.total("macs"), v.out_shape) for v in head.variants}
    assert figures == {"GAP": (0, 0, (512, 1, 1)), "GDC": (25_088, 25_088, (512, 1, 1)), "dense conv": (12_845_056, 12_845_056, (512, 1, 1))}
    assert head.written.total("params") == 25_088


def test_network_scenarios_count_illegal_layers():
    scenarios = {s.label: s for s in compare(groupcost.load("alexnet_2gpu"), [3, 4]).scenarios}
    assert scenarios["as written"].totals.params == 60_965_224
    assert scenarios["all standard"].totals.params == 62_378_344  # the brief: without the groups
    # 3 divides conv1 (3→96) and conv4 (384→384), not 256 in conv2 (96→256), conv3 (256→384), conv5 (384→256)
    assert scenarios["all G=3"].illegal == ("conv2", "conv3", "conv5") and scenarios["all G=3"].replaced == 2
    # the rest stay as written: conv1 G=1 → 3 saves 96·(3 − 1)·121, conv4 G=2 → 3 saves 384·(192 − 128)·9
    assert scenarios["all G=3"].totals.params == 60_965_224 - 96 * 2 * 121 - 384 * 64 * 9


def test_compare_cli_json(cli):
    result = cli("compare", "resnet18", "--g", "2,3", "--layers", "layer1.0.*", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [layer["name"] for layer in doc["layers"]] == ["layer1.0.conv1", "layer1.0.conv2"]
    g3 = doc["layers"][0]["variants"][2]
    assert g3 == {"variant": "G=3", "legal": False, "reason": "groups=3 does not divide C_in=64 and C_out=64", "nearest_legal": [2, 4]}
    assert [n["variant"] for n in doc["networks"]] == ["as written", "all standard", "all G=2", "all G=3", "all dw-separable"]


def test_compare_table_explains_illegal_rows(cli):
    result = cli("compare", "resnet18", "--g", "3", "--layers", "layer1.0.conv1")
    assert result.exit_code == 0
    assert "¹ G=3: groups=3 does not divide C_in=64 and C_out=64; nearest legal G: 2, 4 — layer1.0.conv1" in result.stdout


def test_resnext_built_standard_is_wide_resnet50_2():
    """Every grouped 3×3 of ResNeXt-50 32×4d at G=1 is torchvision's wide_resnet50_2 (width 128): 68,883,240 params."""
    pytest.importorskip("torch")
    from reference_resnet import meta_counts, model

    scenarios = {s.label: s for s in compare(groupcost.load("resnext50_32x4d"), []).scenarios}
    params, macs = meta_counts(model("wide_resnet50_2", "meta"))
    assert (scenarios["all standard"].totals.params, scenarios["all standard"].totals.macs) == (params, macs)
    assert params == 68_883_240  # torchvision's published figure for wide_resnet50_2
