"""Traffic, intensity and the roofline estimate, worked by hand from the device's datasheet figures."""

from __future__ import annotations

import json

import pytest

import groupcost
from groupcost.run.roofline import device, devices


def test_profiles_have_sources():
    for profile in devices().values():
        assert profile.peak_tflops > 0 and profile.bandwidth_gbs > 0 and profile.source


def test_compute_and_memory_bound():
    a100 = device("a100")  # 19.5 TFLOP/s, 1,555 GB/s
    assert a100.seconds(19_500_000, 0) == pytest.approx(1e-6)
    assert a100.seconds(0, 1_555_000) == pytest.approx(1e-6)
    assert a100.seconds(39_000_000, 1_555_000) == pytest.approx(2e-6)  # compute-bound: the larger wins
    assert device(None, 1.0, 100.0).ridge == pytest.approx(10.0)


def test_analyze_json_roofline(cli):
    result = cli("analyze", "resnet18", "--format", "json", "--device", "v100")
    doc = json.loads(result.stdout)
    assert doc["roofline"]["device"] == "v100"
    for layer in doc["layers"]:
        expected = max(2 * layer["macs"] / 15.7e12, layer["traffic_bytes"] / 900e9)
        assert layer["latency_s"] == pytest.approx(expected)
    assert doc["roofline"]["latency_s"] == pytest.approx(sum(layer["latency_s"] for layer in doc["layers"]))


def test_analyze_table_columns(cli):
    plain = cli("analyze", "resnet18")
    assert "FLOP/B" not in plain.stdout and "latency" not in plain.stdout
    traffic = cli("analyze", "resnet18", "--traffic")
    assert "FLOP/B" in traffic.stdout and "est. latency" not in traffic.stdout
    custom = cli("analyze", "resnet18", "--peak-tflops", "1", "--bandwidth-gbs", "100")
    assert "est. latency" in custom.stdout and "custom (1 TFLOP/s, 100 GB/s)" in custom.stdout


def test_intensity_of_a_layer():
    """AlexNet conv1: 70,276,800 MACs; traffic 3·224·224 + 64·55·55 + 23,296 elements at 4 bytes."""
    row = groupcost.analyze(groupcost.load("alexnet")).rows[0]
    assert row.traffic == 3 * 224 * 224 + 64 * 55 * 55 + 23_296
    from groupcost.run.roofline import intensity

    assert intensity(row.macs, row.traffic, 4) == pytest.approx(2 * 70_276_800 / (4 * row.traffic))
