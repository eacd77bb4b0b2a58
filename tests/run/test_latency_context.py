"""Context and ONNX Runtime's fusions: fitting recovers known coefficients from synthetic data, a version-3 profile
with a context survives a round trip and prices a network as per network + Σ (per layer + scale × formula), a
version-4 profile's formulas in context take precedence over those of operations timed alone, the model-like
networks calibrate draws are valid and within their limits, and an onnxruntime profile leaves out the layers ONNX
Runtime's own optimised model fuses."""

from __future__ import annotations

import collections
import json
import subprocess
import sys

import pytest

np = pytest.importorskip("numpy")

from groupcost.run.fit import fit_context, fit_fixed_scale, fit_overheads

PROFILE = """groupcost_latency_profile: 3
name: hand
description: written by hand for a test
runtime: torch-eager
threads: 1
noise: 0.05
roofline: {peak_tflops: 0.1, bandwidth_gbs: 10}
context: {per_network: 0.01, per_layer: 0.0005, scale_fixed: 1.5, scale_conv: 0.5, scale_pointwise: 2.0, scale_other: 3.0, samples: 3, heldout_error: 0.1}
formulas:
  generic: {technique: linear, features: [one, in_bytes, out_bytes, weight_bytes], coefficients: [0.001, 0, 0, 0], samples: 3}
  conv: {technique: linear, features: [one, macs, in_bytes, out_bytes, weight_bytes, im2col_bytes, group_positions],
         coefficients: [0.002, 1.0e-9, 0, 0, 0, 0, 0], samples: 3}
"""
CONV_MACS = 1_814_073_344 - 512 * 1000  # resnet18: BRIEF.md's MACs less the fc layer's
CONVS = ("conv", "pwconv", "dwconv")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "groupcost", *args], check=False, capture_output=True, text=True)


def test_context_fit_recovers_known_overheads_and_scales():
    rng = np.random.default_rng(5)
    count = 40
    table = np.column_stack([np.ones(count), rng.integers(2, 60, count), rng.uniform(1e-5, 1e-3, count), rng.uniform(1e-4, 1e-2, count),
                             rng.uniform(1e-5, 1e-3, count), rng.uniform(0, 1e-3, count)])
    truth = np.array([1.5e-5, 3e-6, 0.3, 0.8, 0.4, 1.2])
    context = fit_context(table, table @ truth)
    got = (context.per_network, context.per_layer, context.scale_fixed, context.scales["conv"], context.scales["pointwise"], context.scales["other"])
    assert got == pytest.approx(tuple(truth), rel=1e-6)
    assert context.samples == count and context.heldout_error < 1e-6


def test_profile_with_a_context_round_trips_and_a_version_2_profile_reads_without_one():
    import yaml

    from groupcost.run.profile import from_document, to_document, to_yaml

    profile = from_document(yaml.safe_load(PROFILE), PROFILE, "hand.yaml")
    assert profile.model.context is not None and profile.model.context.scales == {"conv": 0.5, "pointwise": 2.0, "other": 3.0}
    text = to_yaml(profile)
    assert to_document(from_document(yaml.safe_load(text), text, "again.yaml")) == to_document(profile)
    old = PROFILE.replace("groupcost_latency_profile: 3", "groupcost_latency_profile: 2").replace(PROFILE.splitlines()[7] + "\n", "")
    assert from_document(yaml.safe_load(old), old, "old.yaml").model.context is None


def test_a_negative_context_coefficient_is_one_located_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(PROFILE.replace("scale_conv: 0.5", "scale_conv: -0.5"), encoding="utf-8")
    done = _cli("analyze", "resnet18", "--device", str(path))
    assert done.returncode == 2 and done.stderr.startswith(f"{path}:8:1: error: latency profile: context scale_conv"), done.stderr


def _resnet18(path) -> dict:
    done = _cli("analyze", "resnet18", "--device", str(path), "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_context_prices_resnet18_per_network_per_layer_and_per_group(tmp_path):
    """The hand formulas' fixed parts (2 ms per convolution, 1 ms per other layer and merge) × 1.5; the part that grows
    (1 ns per MAC, convolutions only: group conv) × 0.5; 0.5 ms more per layer and 10 ms per network. The generic
    formula has no growing part, so the pointwise and other scales change nothing here."""
    path = tmp_path / "hand.yaml"
    path.write_text(PROFILE, encoding="utf-8")
    doc = _resnet18(path)
    types = collections.Counter(layer["type"] for layer in doc["layers"])
    assert (sum(types[t] for t in CONVS), types["bn"], types["relu"], types["add"]) == (20, 20, 17, 8)
    layers = len(doc["layers"])
    fixed = 20 * 0.002 + (layers - 20) * 0.001
    assert doc["roofline"]["latency_s"] == pytest.approx(0.01 + layers * 0.0005 + 1.5 * fixed + 0.5 * CONV_MACS * 1e-9)


def test_an_onnxruntime_profile_prices_conv_bn_relu_add_as_one_kernel(tmp_path):
    """ONNX Runtime folds resnet18's batch norms, ReLUs and residual adds into its convolutions: 20 kernels of 2 ms + 1 ns
    per MAC, and the max pool, global pool, flatten and fc at 1 ms each."""
    path = tmp_path / "ort.yaml"
    path.write_text(PROFILE.replace("runtime: torch-eager", "runtime: onnxruntime").replace(PROFILE.splitlines()[7] + "\n", ""), encoding="utf-8")
    doc = _resnet18(path)
    assert doc["roofline"]["latency_s"] == pytest.approx(20 * 0.002 + CONV_MACS * 1e-9 + 4 * 0.001)
    assert "onnxruntime" in doc["roofline"]["device_label"]
    fused = [layer for layer in doc["layers"] if layer["type"] in ("bn", "relu", "add")]
    assert len(fused) == 45 and all(layer["latency_s"] == 0 for layer in fused)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_the_fused_groups_are_what_onnxruntime_fuses(tmp_path, name):
    """Against ONNX Runtime's own optimised model: the layers left unfused are as many as the kernels it keeps
    (its NCHWc layout reorders aside)."""
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    import groupcost
    from groupcost.formats.onnx.export import onnx_model
    from groupcost.graph.analysis import analyze
    from groupcost.run.fusion import fused_into

    network = groupcost.load(name)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp_path / "optimised.onnx")
    options.log_severity_level = 3
    ort.InferenceSession(onnx_model(network).SerializeToString(), options, providers=["CPUExecutionProvider"])
    kernels = [n.op_type for n in onnx.load(str(tmp_path / "optimised.onnx")).graph.node if not n.op_type.startswith("Reorder")]
    rows = analyze(network).rows
    assert sum(not gone for gone in fused_into(rows)) == len(kernels)


def test_measure_on_an_onnxruntime_profile_times_onnx_runtime_and_keeps_the_contract(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    path = tmp_path / "ort.yaml"
    path.write_text(PROFILE.replace("runtime: torch-eager", "runtime: onnxruntime"), encoding="utf-8")
    done = _cli("analyze", "mobilenet_v1", "--device", str(path), "--measure", "--on", "cpu", "--runs", "1", "--threads", "1", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    result = data["measurement"]["results"][0]
    assert data["measurement"]["setup"]["runtime"].startswith("onnxruntime ")  # with its version
    assert result["median_seconds"] > 0 and result["estimate_seconds"] == pytest.approx(data["analysis"]["roofline"]["latency_s"])


def test_onnxruntime_missing_is_a_clear_error(tmp_path):
    """With onnxruntime not importable, calibrate --runtime onnxruntime says what to install: exit 2, no traceback."""
    pytest.importorskip("torch")
    (tmp_path / "onnxruntime.py").write_text("raise ImportError('not installed here')\n", encoding="utf-8")
    env = {**__import__("os").environ, "PYTHONPATH": f"{tmp_path}:{__import__('os').environ.get('PYTHONPATH', '')}"}
    done = subprocess.run([sys.executable, "-m", "groupcost", "calibrate", "--quick", "--on", "cpu", "--runtime", "onnxruntime"],
                          check=False, capture_output=True, text=True, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "needs onnxruntime" in done.stderr and "pip install onnxruntime" in done.stderr, done.stderr


IN_CONTEXT = """in_context:
  conv:standard: {technique: linear, features: [one, macs], coefficients: [0.004, 2.0e-9], samples: 30}
  bn: {technique: linear, features: [one, out_bytes], coefficients: [0.0002, 0], samples: 30}
"""


def test_fit_overheads_recovers_a_per_network_and_a_negative_per_layer_time():
    layers = [3, 10, 25, 40, 61, 7]
    wholes = [0.001 * n + 0.01 for n in layers]
    beyond = [2e-5 - 1.5e-6 * n for n in layers]
    assert fit_overheads(layers, beyond, wholes) == pytest.approx((2e-5, -1.5e-6), rel=1e-6)
    assert fit_overheads(layers, [-2e-5 + 1e-6 * n for n in layers], wholes)[0] == 0.0  # never a negative network call


def test_fit_fixed_scale_recovers_how_much_more_fixed_costs_took_in_networks():
    """(fixed, growing) parts of single-operation formulas and layers that took 1.3 × fixed + growing in networks."""
    parts = [(1e-5, 0.0), (2e-5, 1e-5), (5e-6, 1e-4), (3e-5, 2e-6), (8e-6, 4e-6)]
    assert fit_fixed_scale(parts, [1.3 * fixed + growing for fixed, growing in parts]) == pytest.approx(1.3)
    assert fit_fixed_scale([], []) == 1.0 == fit_fixed_scale([(0.0, 1e-5)], [2e-5])  # nothing to tell it by


def test_formulas_in_context_take_precedence_and_the_rest_keep_the_formulas_timed_alone(tmp_path):
    """resnet18 on a version-4 profile: its 3×3 convolutions (conv:standard, 17 of them) and batch norms (20) are priced
    by the formulas in context; the pointwise downsampling convolutions (3) by the `conv` formula timed alone, the rest by
    the generic one; every layer gets the context's per-layer time, here negative, and the network its per-network time."""
    import yaml

    from groupcost.run.profile import from_document, to_document, to_yaml

    text = (PROFILE.replace("groupcost_latency_profile: 3", "groupcost_latency_profile: 4")
            .replace("per_layer: 0.0005, scale_fixed: 1.5, scale_conv: 0.5, scale_pointwise: 2.0, scale_other: 3.0",
                     "per_layer: -0.0001, scale_fixed: 1, scale_conv: 1, scale_pointwise: 1, scale_other: 1") + IN_CONTEXT)
    profile = from_document(yaml.safe_load(text), text, "v4.yaml")
    assert set(profile.model.in_context) == {"conv:standard", "bn"}
    again = to_yaml(profile)
    assert to_document(from_document(yaml.safe_load(again), again, "again.yaml")) == to_document(profile)
    path = tmp_path / "v4.yaml"
    path.write_text(text, encoding="utf-8")
    doc = _resnet18(path)
    kinds = collections.Counter(layer["kind"].split()[0] if layer["type"] in CONVS else layer["type"] for layer in doc["layers"])
    standard = [layer for layer in doc["layers"] if layer["type"] == "conv"]
    assert len(standard) == 17 and kinds["bn"] == 20
    macs = sum(layer["macs"] for layer in standard)
    others = len(doc["layers"]) - 17 - 20 - 3
    pointwise_macs = CONV_MACS - macs
    expected = (0.01 + 17 * 0.004 + 2e-9 * macs + 20 * 0.0002 + 3 * 0.002 + 1e-9 * pointwise_macs + others * 0.001
                - 0.0001 * len(doc["layers"]))
    assert doc["roofline"]["latency_s"] == pytest.approx(expected)


@pytest.mark.parametrize("entry, message", [("[1, 2]", "'in_context' must be a mapping of formulas"),
                                            ("{bn: {technique: cubic, features: [one], coefficients: [1]}}", "formula 'bn' has technique 'cubic'")])
def test_a_bad_in_context_section_is_one_located_error(tmp_path, entry, message):
    path = tmp_path / "bad.yaml"
    path.write_text(PROFILE.replace("groupcost_latency_profile: 3", "groupcost_latency_profile: 4") + f"in_context: {entry}\n", encoding="utf-8")
    done = _cli("analyze", "resnet18", "--device", str(path))
    assert done.returncode == 2 and "Traceback" not in done.stderr and message in done.stderr, done.stderr
    assert done.stderr.startswith(f"{path}:") and ": error: latency profile:" in done.stderr, done.stderr


def test_check_says_how_far_the_machine_moved_since_the_profile_was_made(tmp_path):
    """The profile's reference time (here 1 s, far slower than MobileNet V2 runs anywhere) against the reference timed
    again by `calibrate --check`: the machine runs faster than then, in the text and in the JSON."""
    pytest.importorskip("torch")
    import yaml

    from groupcost.run.profile import from_document, to_document

    text = PROFILE.replace("groupcost_latency_profile: 3", "groupcost_latency_profile: 4") + "reference_seconds: 1.0\n"
    assert to_document(from_document(yaml.safe_load(text), text, "ref.yaml"))["reference_seconds"] == 1.0
    path = tmp_path / "ref.yaml"
    path.write_text(text, encoding="utf-8")
    done = _cli("calibrate", "--check", "mobilenet_v1", "--device", str(path), "--runs", "2")
    assert done.returncode == 0, done.stderr
    assert "reference (mobilenet_v2):" in done.stdout and "1000.00 ms when the profile was made" in done.stdout
    assert "the machine runs faster than then" in done.stdout, done.stdout
    done = _cli("calibrate", "--check", "mobilenet_v1", "--device", str(path), "--runs", "2", "--json")
    reference = json.loads(done.stdout)["reference"]
    assert reference["model"] == "mobilenet_v2" and reference["calibrated_seconds"] == 1.0 and 0 < reference["measured_seconds"] < 1.0
    path.write_text(text.replace("reference_seconds: 1.0", "reference_seconds: -1"), encoding="utf-8")
    done = _cli("analyze", "resnet18", "--device", str(path))
    assert done.returncode == 2 and done.stderr.startswith(f"{path}:{len(PROFILE.splitlines()) + 1}:1: error: latency profile: reference_seconds")


def test_model_like_networks_cover_every_family_within_their_limits():
    import random

    from groupcost.graph.analysis import analyze
    from groupcost.run.latency import base_kind, kind_of
    from groupcost.run.modellike import FAMILIES, MAX_ACTIVATIONS, MAX_MACS, networks

    drawn = networks(random.Random(3), 60)
    assert len(drawn) == 60
    assert {n.name.rstrip("0123456789") for n in drawn} == set(FAMILIES)
    kinds = collections.Counter()
    for network in drawn:
        rows = analyze(network).rows
        assert sum(row.macs for row in rows) <= MAX_MACS and max(row.activations for row in rows) <= MAX_ACTIVATIONS
        kinds.update(base_kind(kind_of(row)) for row in rows)
    for kind in ("conv:standard", "conv:grouped", "conv:grouped_pointwise", "conv:depthwise", "conv:pointwise", "bn", "add", "se", "shuffle", "maxpool", "fc",
                 "concat", "avgpool"):
        assert kinds[kind] >= 12, (kind, kinds[kind])


def test_a_tiny_calibration_end_to_end_writes_a_profile_the_cli_reads(tmp_path):
    """Operations and networks in context really measured (a tiny plan: no timing is asserted), the profile
    written, read back by `analyze --device`, and a network's estimate the sum of its layers and the per-network time."""
    pytest.importorskip("torch")
    import dataclasses

    from groupcost.run import calibrate
    from groupcost.run.latency import LatencyModel
    from groupcost.run.measure import _Bench
    from groupcost.run.profile import LatencyProfile, to_yaml
    from groupcost.run.sampling import Plan, collect, formulas

    bench = _Bench("cpu", 1)
    plan = Plan(conv_first=2, conv_rounds=0, conv_per_round=0, other=1, runs=2, max_macs=2_000_000, chains=6, networks=2)
    alone = LatencyModel(formulas(collect(plan, bench)))
    context = calibrate.measure_context(alone, bench, plan, "torch-eager", lambda text: None)
    assert context.samples == 6 and all(value >= 0 for value in (context.per_network, context.per_layer, *context.scales.values()))
    in_network, in_context = calibrate.measure_in_context(bench, plan, lambda text: None, alone.formulas)
    assert in_network.samples == 8 and in_network.scales == dict.fromkeys(in_network.scales, 1.0) and in_network.scale_fixed > 0
    assert "bn" in in_context and all(f.samples >= calibrate.MIN_IN_CONTEXT for f in in_context.values())
    for model in (LatencyModel(alone.formulas, context), LatencyModel(alone.formulas, in_network, in_context)):
        profile = LatencyProfile(name="tiny", description="test", peak_tflops=0.1, bandwidth_gbs=10.0, source="test", model=model)
        path = tmp_path / "tiny.yaml"
        path.write_text(to_yaml(profile), encoding="utf-8")
        done = _cli("analyze", "mobilenet_v1", "--device", str(path), "--format", "json")
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        layers = sum(layer["latency_s"] for layer in doc["layers"])
        assert doc["roofline"]["latency_s"] == pytest.approx(layers + model.context.per_network, rel=1e-4)
        assert dataclasses.replace(profile, model=alone).network_seconds() == 0.0
