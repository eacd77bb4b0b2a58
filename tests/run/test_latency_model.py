"""The latency model: fitting recovers known coefficients from synthetic data, a profile file survives a round
trip, a bad or old profile is one located error (exit 2), and `--device PROFILE` prices each layer with the
profile's formulas (checked against sums worked out here from the layers' shapes)."""

from __future__ import annotations

import collections
import json
import math
import subprocess
import sys

import pytest

from groupcost.graph.analysis import Row
from groupcost.run.latency import (
    COLD,
    CONV_FEATURES,
    ELEMENTWISE_FEATURES,
    LINEAR_FEATURES,
    Formula,
    LatencyModel,
    Reuse,
    feature_names,
    kind_of,
    reuse_distances,
)

np = pytest.importorskip("numpy")

from groupcost.run import fit
from groupcost.run.profile import LatencyProfile, from_document, to_document, to_yaml


def _cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "groupcost", *args], check=False, capture_output=True, text=True, cwd=cwd)


def test_nnls_recovers_non_negative_coefficients_and_zeroes_a_useless_feature():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 10, size=(60, 4))
    truth = np.array([2.0, 0.0, 0.5, 3.0])
    x = fit.nnls(a, a @ truth)
    assert np.allclose(x, truth, atol=1e-9)
    assert (fit.nnls(a, -(a @ truth)) == 0).all()  # every coefficient would be negative: all zero


def test_linear_fit_recovers_a_known_cost_model():
    rng = np.random.default_rng(2)
    table = np.column_stack([np.ones(80), rng.uniform(1e6, 1e9, 80), rng.uniform(1e4, 1e7, 80), rng.uniform(1e4, 1e7, 80)])
    truth = np.array([20e-6, 1e-11, 2e-10, 0.0])  # 20 µs overhead, 100 GMAC/s, 5 GB/s in, nothing per byte out
    formula = fit.fit("linear", ("one", "macs", "in_bytes", "out_bytes"), table, table @ truth)
    assert np.allclose(formula.coefficients, truth, rtol=1e-6, atol=1e-15)


def test_loglinear_fit_recovers_a_power_law_and_choose_prefers_it_on_power_law_data():
    rng = np.random.default_rng(3)
    macs = rng.uniform(1e6, 1e9, 120)
    table = np.column_stack([np.ones(120), macs])
    seconds = np.exp(-20.0) * (1 + macs) ** 0.8
    formula = fit.fit("loglinear", ("one", "macs"), table, seconds)
    assert formula.coefficients == pytest.approx((-20.0, 0.8), abs=1e-3)
    chosen = fit.choose(("one", "macs"), table, seconds)
    assert chosen.technique == "loglinear" and chosen.heldout_error < 1e-3


def test_spread_is_largest_far_from_the_measured_range():
    rng = np.random.default_rng(4)
    macs = rng.uniform(1e6, 1e7, 30)
    table = np.column_stack([np.ones(30), macs])
    seconds = 1e-5 + 1e-11 * macs * rng.lognormal(0, 0.1, 30)
    candidates = np.array([[1.0, 5e6], [1.0, 1e10]])
    inside, outside = fit.spread("loglinear", ("one", "macs"), table, seconds, candidates)
    assert outside > inside


def _row(type_: str, kind: str, groups, in_shape, out_shape, macs: int, params: int) -> Row:
    return Row("x", type_, out_shape, groups, params, params, macs, math.prod(out_shape), 0, in_shapes=(in_shape,), kind=kind)


def test_kinds_and_the_fallback_chain():
    grouped = _row("pwconv", "grouped 1×1", 8, (64, 8, 8), (64, 8, 8), 64 * 8 * 64, 512)
    relu = _row("relu", "relu", None, (64, 8, 8), (64, 8, 8), 0, 0)
    assert (kind_of(grouped), kind_of(relu)) == ("conv:grouped_pointwise", "relu")
    generic = Formula("linear", ELEMENTWISE_FEATURES, (1e-6, 0.0, 1e-9, 0.0, 0.0, 0.0), 10, 0.1)
    conv = Formula("linear", CONV_FEATURES, (2e-6, 0, 1e-10, 0, 0, 0, 0, 0, 0), 10, 0.1)
    model = LatencyModel({"conv": conv, "generic": generic})
    assert model.formula(grouped)[0] == "conv" and model.formula(relu)[0] == "generic"
    assert model.row_seconds(grouped, 4) == pytest.approx(2e-6 + 1e-10 * 64 * 8 * 64)
    assert model.row_seconds(relu, 4) == pytest.approx(1e-6 + 1e-9 * 64 * 8 * 8 * 4)


def test_reuse_distance_is_the_bytes_moved_and_the_other_kinds_run_since_a_kind_last_ran():
    """Runs follow one another: a kind that runs once last ran one whole network before."""
    small = _row("relu", "relu", None, (8, 4, 4), (8, 4, 4), 0, 0)  # 128 elements in, 128 out: 1 KiB
    big = _row("bn", "bn", None, (64, 112, 112), (64, 112, 112), 0, 128)  # 6.1 MiB and its 128 parameters
    pool = _row("pool", "maxpool", None, (8, 4, 4), (8, 2, 2), 0, 0)  # 640 bytes
    small_bytes, big_bytes = 1024, (2 * 64 * 112 * 112 + 128) * 4
    assert reuse_distances((small, big, small), 4) == [None, Reuse(2 * small_bytes + big_bytes, 1), Reuse(small_bytes + big_bytes, 1)]
    assert reuse_distances((small, big, big, small, big), 4) == [
        Reuse(small_bytes + big_bytes, 1), Reuse(small_bytes + big_bytes, 1), None, Reuse(small_bytes + 2 * big_bytes, 1), Reuse(small_bytes + big_bytes, 1)]
    assert reuse_distances((small,), 4) == reuse_distances((small, small), 4)[:1] == [None]  # it runs after itself
    assert reuse_distances((small, big, pool, big, small), 4)[4] == Reuse(small_bytes + 2 * big_bytes + 640, 2)  # bn and the pool, once each


def test_a_layer_whose_kind_ran_more_than_the_caches_hold_ago_pays_a_cold_start():
    """The cost per byte moved since the kind last ran, up to COLD: timed alone, a layer runs after itself."""
    relu = _row("relu", "relu", None, (8, 4, 4), (8, 4, 4), 0, 0)
    big = _row("bn", "bn", None, (64, 112, 112), (64, 112, 112), 0, 0)  # 6.1 MiB, past COLD
    per_byte = 1e-11
    formula = Formula("linear", ELEMENTWISE_FEATURES, (1e-6, per_byte, 0, 0, 0, 0), 10, 0.1)
    model = LatencyModel({"relu": formula, "bn": formula})
    assert model.row_seconds(relu, 4) == pytest.approx(1e-6 + per_byte * 1024)
    assert model.row_seconds(relu, 4, since=Reuse(10**9, 1)) == pytest.approx(1e-6 + per_byte * COLD)
    profile = LatencyProfile("hand", "by hand", 0.1, 10.0, "a test", model=model)
    assert profile.rows_seconds((relu, big), 4) == [pytest.approx(1e-6 + per_byte * COLD)] * 2


def test_a_layer_that_runs_after_itself_is_priced_as_timed_alone():
    """A network of one kind keeps that kind's code hot, as the operations timed alone ran; between other kinds, the
    formula fitted on layers timed in networks prices it."""
    relu = _row("relu", "relu", None, (8, 4, 4), (8, 4, 4), 0, 0)
    bn = _row("bn", "bn", None, (8, 4, 4), (8, 4, 4), 0, 16)
    alone = Formula("linear", ELEMENTWISE_FEATURES, (1e-6, 0, 0, 0, 0, 0), 10, 0.1)
    in_networks = Formula("linear", ELEMENTWISE_FEATURES, (3e-6, 0, 0, 0, 0, 0), 10, 0.1)
    model = LatencyModel({"relu": alone, "bn": alone}, in_context={"relu": in_networks, "bn": in_networks})
    profile = LatencyProfile("hand", "by hand", 0.1, 10.0, "a test", model=model)
    assert profile.rows_seconds((relu,), 4) == [pytest.approx(1e-6)]
    assert profile.rows_seconds((relu, relu, bn), 4) == [pytest.approx(3e-6), pytest.approx(1e-6), pytest.approx(3e-6)]


def test_a_kind_without_a_formula_in_context_pays_the_contexts_fixed_scale_between_other_kinds():
    """A kind too rare in calibrate's networks for a formula of its own there (attention, upsample, ...) keeps its
    formula timed alone, the fixed part scaled by what fixed costs came to in those networks, unless it runs right after
    one of its own kind; a formula in context may charge for the other kinds run since its kind last ran."""
    from groupcost.run.context import GROUPS, Context

    relu = _row("relu", "relu", None, (8, 4, 4), (8, 4, 4), 0, 0)
    upsample = _row("upsample", "upsample", None, (8, 4, 4), (8, 8, 8), 0, 0)
    alone = Formula("linear", ELEMENTWISE_FEATURES, (2e-6, 0, 1e-9, 0, 0, 0, 0), 10, 0.1)
    in_networks = Formula("linear", ELEMENTWISE_FEATURES, (3e-6, 0, 0, 0, 0, 0, 1e-7), 10, 0.1)  # +0.1 µs per kind between
    context = Context(0.0, 0.0, 1.5, dict.fromkeys(GROUPS, 1.0), 10, 0.1)
    model = LatencyModel({"relu": alone, "upsample": alone}, context, {"relu": in_networks})
    profile = LatencyProfile("hand", "by hand", 0.1, 10.0, "a test", model=model)
    growing = 1e-9 * 8 * 4 * 4 * 4  # per byte read
    assert profile.rows_seconds((relu, upsample, upsample), 4) == [
        pytest.approx(3e-6 + 1e-7), pytest.approx(1.5 * 2e-6 + growing), pytest.approx(2e-6 + growing)]


def test_a_formula_in_context_prices_only_layers_within_twice_the_bytes_it_was_fitted_on():
    """Past them, the kind's formula timed alone (drawn up to 24 MB): fitted on small chains only, a concat's cost per
    byte came out 0 and a YOLO-style model's concats of 6.5 MB were priced as a few hundred elements."""
    small = _row("concat", "concat", None, (8, 4, 4), (8, 4, 4), 0, 0)  # 1 KiB moved
    big = _row("concat", "concat", None, (64, 64, 64), (64, 64, 64), 0, 0)  # 2 MiB moved
    alone = Formula("linear", ELEMENTWISE_FEATURES, (1e-6, 0, 1e-10, 0, 0, 0, 0), 30, 0.1)
    in_networks = Formula("linear", ELEMENTWISE_FEATURES, (3e-6, 0, 0, 0, 0, 0, 0), 30, 0.1, max_bytes=1024)
    model = LatencyModel({"concat": alone}, in_context={"concat": in_networks})
    after_others = Reuse(10**6, 3)
    assert model.row_seconds(small, 4, after_others) == pytest.approx(3e-6)
    assert model.row_seconds(big, 4, after_others) == pytest.approx(1e-6 + 1e-10 * 64**3 * 4)
    assert model.row_seconds(big, 4, after_others) == pytest.approx(LatencyModel({"concat": alone}).row_seconds(big, 4, after_others))


def test_a_formulas_range_is_in_activations_not_weights():
    """AlexNet's first fc (9,216 → 4,096: 151 MB of weights, 53 kB of activations) is within the range of an fc formula
    fitted in context on layers up to 39 MB: past the caches a weight costs the same at any size (priced 12–13.5 ms by
    that formula for about 12 ms measured; 8 ms by the formula timed alone)."""
    fc = _row("fc", "fc", None, (9216,), (4096,), 9216 * 4096, 9216 * 4096 + 4096)
    fitted = Formula("linear", LINEAR_FEATURES, (3e-6, 0, 1e-10, 0, 0, 0, 2.5e-11, 0), 185, 0.2, max_bytes=39_000_000)
    assert fitted.covers(fc, 4)
    wide = _row("fc", "fc", None, (8_000_000,), (10,), 80_000_000, 80_000_010)  # 32 MB of activations read
    assert not Formula("linear", LINEAR_FEATURES, (3e-6, 0, 1e-10, 0, 0, 0, 0, 0), 185, 0.2, max_bytes=1_000_000).covers(wide, 4)


def test_a_formula_timed_alone_prices_layers_within_its_range_and_its_family_the_rest():
    """Fitted on 1×1 kernels over 1×1 maps only, `conv:gdc`'s formula priced MobileFaceNet's 7×7 GDC of 512 channels at
    240× its time: a kind's formula prices layers within twice the bytes it was fitted on, the next one that covers the
    layer (base kind, family, type, generic) the rest, and the most specific one where none does."""
    gdc = _row("gdc", "GDC 7×7", 512, (512, 7, 7), (512, 1, 1), 512 * 49, 512 * 49)
    assert kind_of(gdc).startswith("conv:gdc")
    tiny = Formula("linear", CONV_FEATURES, (1e-5, 0, 1e-7, 0, 0, 0, 0, 0, 0, 0), 38, 0.1, max_bytes=8192)
    wide = Formula("linear", CONV_FEATURES, (2e-5, 0, 1e-10, 0, 0, 0, 0, 0, 0, 0), 900, 0.4, max_bytes=38 * 2**20)
    model = LatencyModel({"conv:gdc": tiny, "conv": wide})
    assert model.formula(gdc)[0] == "conv"
    assert model.row_seconds(gdc, 4) == pytest.approx(2e-5 + 1e-10 * 512 * 49)
    small = _row("gdc", "GDC 1×1", 8, (8, 1, 1), (8, 1, 1), 8, 8)
    assert model.formula(small)[0] == "conv:gdc"
    assert LatencyModel({"conv:gdc": tiny}).formula(gdc)[0] == "conv:gdc"  # nothing covers it: the most specific one


def test_every_type_that_counts_macs_has_a_cost_per_mac():
    assert all("macs" in feature_names(kind) for kind in ("conv:depthwise/onednn", "fc", "linear", "attention", "se", "matmul"))
    assert all("macs" not in feature_names(kind) for kind in ("bn", "concat", "upsample", "softmax"))


PROFILE = """groupcost_latency_profile: 2
name: hand
description: written by hand for a test
runtime: torch-eager
threads: 1
noise: 0.05
roofline: {peak_tflops: 0.1, bandwidth_gbs: 10}
formulas:
  generic: {technique: linear, features: [one, in_bytes, out_bytes, weight_bytes], coefficients: [0.001, 0, 0, 0], samples: 3}
  conv: {technique: linear, features: [one, macs, in_bytes, out_bytes, weight_bytes, im2col_bytes, group_positions],
         coefficients: [0.002, 1.0e-9, 0, 0, 0, 0, 0], samples: 3}
"""


def test_profile_round_trip():
    import yaml

    profile = from_document(yaml.safe_load(PROFILE), PROFILE, "hand.yaml")
    assert isinstance(profile, LatencyProfile) and profile.threads == 1 and set(profile.model.formulas) == {"generic", "conv"}
    text = to_yaml(profile)
    again = from_document(yaml.safe_load(text), text, "again.yaml")
    assert to_document(again) == to_document(profile)
    assert again.model.formulas["conv"].coefficients == (0.002, 1e-9, 0, 0, 0, 0, 0)
    ranged = PROFILE.replace("samples: 3}", "samples: 3, max_bytes: 4096}")
    assert from_document(yaml.safe_load(ranged), ranged, "ranged.yaml").model.formulas["conv"].max_bytes == 4096
    assert to_document(from_document(yaml.safe_load(ranged), ranged, "ranged.yaml"))["formulas"]["conv"]["max_bytes"] == 4096


@pytest.mark.parametrize(("change", "line", "words"), [
    (("groupcost_latency_profile: 2", "groupcost_latency_profile: 1"), 1, "version 1 is not one this groupcost reads"),
    (("runtime: torch-eager", "runtime: tvm"), 4, "unknown runtime 'tvm'"),
    (("technique: linear, features: [one, in", "technique: magic, features: [one, in"), 9, "technique 'magic'"),
    (("coefficients: [0.001, 0, 0, 0]", "coefficients: [0.001, 0]"), 9, "as many coefficients as features"),
    (("coefficients: [0.001, 0, 0, 0], samples: 3}", "coefficients: [0.001, 0, 0, 0], samples: 3, max_bytes: -1}"), 9, "max_bytes -1"),
])
def test_a_bad_or_old_profile_is_one_located_line_and_exit_2(tmp_path, change, line, words):
    path = tmp_path / "bad.yaml"
    path.write_text(PROFILE.replace(*change), encoding="utf-8")
    done = _cli("analyze", "resnet18", "--device", str(path))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"{path}:{line}:1: error: ") and words in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_device_profile_prices_every_layer_with_its_formula(tmp_path):
    """resnet18 under the hand profile: 2 ms + 1 ns per MAC for each convolution, 1 ms for every other layer and merge."""
    path = tmp_path / "hand.yaml"
    path.write_text(PROFILE, encoding="utf-8")
    done = _cli("analyze", "resnet18", "--device", str(path), "--format", "json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    convs = [layer for layer in doc["layers"] if layer["type"] in ("conv", "pwconv", "dwconv")]
    others = [layer for layer in doc["layers"] if layer["type"] not in ("conv", "pwconv", "dwconv")]
    assert len(convs) == 20  # resnet18: 17 3×3/7×7 convs and 3 projections
    conv_macs = 1_814_073_344 - 512 * 1000  # BRIEF.md's MACs less the fc layer's
    expected = 20 * 0.002 + conv_macs * 1e-9 + len(others) * 0.001
    assert doc["roofline"]["latency_s"] == pytest.approx(expected)
    assert "calibrated latency model" in doc["roofline"]["device_label"]


def test_whatif_with_a_profile_names_it_and_prices_the_sweep(tmp_path):
    path = tmp_path / "hand.yaml"
    path.write_text(PROFILE, encoding="utf-8")
    done = _cli("whatif", "shufflenet_v2_table2", "--vary", "G=1,8", "--device", str(path), "--format", "json")
    assert done.returncode == 0, done.stderr
    assert "hand" in done.stdout
    table = _cli("whatif", "shufflenet_v2_table2", "--vary", "G=1,8", "--device", str(path))
    assert "hand (cpu, 1 thread, torch-eager), calibrated latency model" in table.stdout.replace("\n", " ")


def test_check_needs_models_and_a_profile():
    done = _cli("calibrate", "--check")
    assert done.returncode == 2 and done.stderr.startswith("--check:1:1: error: --check needs the models")
    done = _cli("calibrate", "--check", "resnet18")
    assert done.returncode == 2 and done.stderr.startswith("--device:1:1: error: --check needs the profile")


def test_on_cuda_without_a_gpu_is_a_clear_error():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    done = _cli("calibrate", "--on", "cuda", "--quick")
    assert done.returncode == 2 and "torch cannot use cuda here" in done.stderr and "Traceback" not in done.stderr


def test_measure_json_with_a_profile_keeps_the_contract_and_times_merges(tmp_path):
    """estimate_seconds is the profile's sum (resnet18: worked out above); every layer, adds included, has a median."""
    pytest.importorskip("torch")
    path = tmp_path / "hand.yaml"
    path.write_text(PROFILE, encoding="utf-8")
    done = _cli("analyze", "resnet18", "--device", str(path), "--measure", "--on", "cpu", "--runs", "1", "--threads", "1", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    result = data["measurement"]["results"][0]
    assert result["estimate_seconds"] == pytest.approx(data["analysis"]["roofline"]["latency_s"])
    adds = [layer for layer in result["layers"] if layer["name"].endswith(".add")]
    assert len(adds) == 8 and all(layer["median_seconds"] > 0 for layer in result["layers"])  # resnet18: 8 residual adds
    assert "calibrated latency model" in data["measurement"]["estimate_device"]["label"]


def test_the_shipped_module_is_the_structured_export_and_a_variant_runs_stepped():
    torch = pytest.importorskip("torch")
    import groupcost
    from groupcost.graph.network import replace_steps
    from groupcost.run.measure import Stepped, _Bench, shipped_module

    network = groupcost.load("shufflenet_v2_table2", {"G": 2})
    shipped = shipped_module(network)
    assert shipped is not None and type(shipped).__name__ != "Group"
    first = network.nodes[0]
    changed = replace_steps(network, lambda step: (step if step is not first else type(step)(step.name, type(step.layer)(out=step.layer.out, groups=1, bias=False),
                                                                                                step.in_shape, step.out_shape, step.loc),))
    assert shipped_module(changed) is None  # G changed in one layer: no spec says that
    stepped = Stepped(changed, _Bench("cpu", 1)).to("cpu")
    x = torch.randn(1, *changed.input_shape)
    with torch.inference_mode():
        (out,) = stepped(x)
        assert tuple(out.shape[1:]) == changed.output_shape
        assert set(stepped.timed(x)) == {node.name for node in changed.nodes}


def test_every_registered_type_is_drawn_or_falls_back():
    """Every non-macro layer type and every merge can be drawn for calibration (or is priced by the generic formula)."""
    import random

    from groupcost.ops import ALIASES, LAYER_TYPES, MERGE_TYPES, Macro
    from groupcost.run.sampling import draw, other_kinds

    kinds = other_kinds()
    assert set(MERGE_TYPES) <= set(kinds)
    drawn = {kind for kind in kinds if draw(kind, random.Random(0), 1, 10**9)}
    not_drawn = set(kinds) - drawn
    # opaque has no torch module, dist2bbox reads a head's 4 × A distances, class_token tokens C × L (the draws are
    # C × H × W), and broadcast needs a dim of size 1 that a drawn input rarely has: the generic formula prices them
    assert not_drawn <= {"opaque", "dist2bbox", "broadcast", "class_token"}, not_drawn
    convs = {"conv", "dwconv", "pwconv", "gdc"}
    assert {n for n, c in LAYER_TYPES.items() if n not in ALIASES and not issubclass(c, Macro)} - convs <= set(kinds)


def test_no_draw_passes_the_plans_work_limit_attentions_products_included():
    """An attention over a 150×150 map holds tens of billions of products of activations: drawn, it alone took minutes
    of a calibration that must finish in ten."""
    import random

    from groupcost.graph.analysis import step_row
    from groupcost.run.sampling import draw

    limit = 60_000_000
    rows = [step_row(step, 1) for step in draw("attention", random.Random(0), 40, limit)]
    assert rows and all(row.macs + row.matmul_macs <= limit for row in rows)
    assert any(row.matmul_macs for row in rows)


def test_every_kernel_a_convolution_kind_is_split_by_gets_enough_draws():
    """The first draws gave one dilated 3×3 on a small map (torch's own dilated kernel) in sixty standard convolutions, and
    a formula over ten features fitted on seven such layers priced SK-ResNet's dilated branch at 6× its time: each
    kernel drawn too rarely is drawn again until it has enough, grouped 1×1 ones included; and
    a kind of fewer operations than MIN_SAMPLES has no formula of its own (one of ten features fitted on one or two)."""
    import random

    from groupcost.graph.analysis import step_row
    from groupcost.run.latency import kind_of
    from groupcost.run.sampling import CONV_KINDS, MIN_SAMPLES, Sample, draw, few_of_a_kernel, formulas

    rng = random.Random(0)
    first = [Sample(step, step_row(step, 1), 1e-5, 0.0) for kind in CONV_KINDS for step in draw(kind, rng, 60, 250_000_000)]
    counts = collections.Counter(kind_of(s.row) for s in first)
    assert counts["conv:standard/slow_dilated"] < 5 and counts["conv:gdc/slow"] < 5 and counts["conv:depthwise/slow"] > 0  # 1×1 depthwise
    more = collections.Counter(kind_of(step_row(step, 1)) for step in few_of_a_kernel(first, rng, 30, 250_000_000))
    for kind in ("conv:standard/slow_dilated", "conv:grouped_pointwise/onednn"):
        assert counts[kind] + more[kind] == 30, (kind, counts[kind], more[kind])
    assert not more["conv:gdc/slow"]  # the draws' only GDCs are 1×1 kernels on 1×1 maps: not drawn again
    assert all(counts[kind] < 30 for kind in more)
    fitted = formulas(first)  # before the second draws: a kind with fewer than MIN_SAMPLES is priced by its base kind's
    assert "conv:standard/slow_dilated" not in fitted and "conv:gdc/slow" not in fitted and "conv:standard" in fitted
    assert all(formula.samples >= MIN_SAMPLES for formula in fitted.values())


def test_reductions_are_drawn_over_the_channels_too():
    """Drawn over the spatial dims alone, a reduction's output was a few values and its cost per output byte a guess:
    SK-ResNet's sum over its two branches (an output half its input) was priced at 4.5× its time."""
    import random

    from groupcost.graph.analysis import step_row
    from groupcost.run.sampling import draw

    rows = [step_row(step, 1) for step in draw("reduce", random.Random(0), 30, 10**9)]
    assert {len(row.out_shape) for row in rows} == {1, 2}
    assert any(row.out_shape == row.in_shapes[0][1:] for row in rows)  # over the channels


def test_the_convolution_kernel_torch_picks_is_told_from_the_layer_as_torch_tells_it():
    """torch_cpu_kernel against torch's own choice (torch._C._select_conv_backend, one thread) on random convolutions:
    1-D, 2-D and 3-D, batch 1 to 16, any G, kernel, stride and dilation."""
    import random

    torch = pytest.importorskip("torch")
    from groupcost.graph.analysis import analyze
    from groupcost.language import build, parse_text
    from groupcost.run.latency import torch_cpu_kernel

    names = {"Slow2d": "slow", "Slow3d": "slow", "SlowDilated2d": "slow_dilated", "SlowDilated3d": "slow_dilated", "Mkldnn": "onednn"}
    rng, threads, checked = random.Random(5), torch.get_num_threads(), collections.Counter()
    torch.set_num_threads(1)
    try:
        while sum(checked.values()) < 300:
            rank, batch, c = rng.choice((1, 2, 2, 3)), rng.choice((1, 1, 1, 2, 16)), rng.choice((1, 3, 8, 16, 32, 64, 128))
            groups = rng.choice([g for g in (1, 1, 2, 4, c) if c % g == 0])
            out = groups * rng.choice((1, 2, 3))
            dims = [rng.choice((3, 5, 8, 13, 20, 32, 48)) for _ in range(rank)]
            kernel = [rng.choice((1, 1, 2, 3, 4, 5)) for _ in range(rank)]
            stride, dilation = ([rng.choice((1, 1, 1, 2)) for _ in range(rank)] for _ in range(2))
            if any(k + (k - 1) * (d - 1) > size for k, d, size in zip(kernel, dilation, dims)):
                continue
            spec = (f"input: {[c, *dims]}\nbatch: {batch}\nlayers:\n"
                    f"  - conv: {{out: {out}, k: {kernel}, s: {stride}, d: {dilation}, p: 0, groups: {groups}, bias: false}}\n")
            row = analyze(build(parse_text(spec, "conv.yaml"), {}, batch=batch)).rows[0]
            backend = torch._C._select_conv_backend(torch.empty(batch, c, *dims), torch.empty(out, c // groups, *kernel), None,
                                                    stride, [0] * rank, dilation, False, [0] * rank, groups, None)
            assert torch_cpu_kernel(row) == names[backend.name], (backend.name, spec)
            checked[backend.name] += 1
    finally:
        torch.set_num_threads(threads)
    assert set(checked) == set(names), checked  # every kernel was drawn


def test_the_transposed_convolution_kernel_torch_picks_is_told_from_the_layer_as_torch_tells_it():
    """torch_cpu_kernel for transposed convolutions against torch's own choice: oneDNN's (a backend this torch build
    leaves unnamed) by the same rule as a convolution's, unless an output padding reaches its stride; else its own
    slow_conv_transpose2d/3d (1-D, 2-D and 3-D, batch 1 to 16, any G, kernel, stride, dilation and output padding)."""
    import random

    torch = pytest.importorskip("torch")
    from groupcost.graph.analysis import analyze
    from groupcost.language import build, parse_text
    from groupcost.run.latency import torch_cpu_kernel

    rng, threads, checked = random.Random(7), torch.get_num_threads(), collections.Counter()
    torch.set_num_threads(1)
    try:
        while sum(checked.values()) < 300:
            rank, batch, c = rng.choice((1, 2, 2, 3)), rng.choice((1, 1, 1, 2, 16)), rng.choice((1, 3, 8, 16, 32, 64))
            groups = rng.choice([g for g in (1, 1, 2, 4, c) if c % g == 0])
            out = groups * rng.choice((1, 2, 3))
            dims = [rng.choice((3, 5, 8, 13, 20, 32)) for _ in range(rank)]
            kernel = [rng.choice((1, 2, 3, 4, 5)) for _ in range(rank)]
            stride, dilation = ([rng.choice((1, 1, 2, 3)) for _ in range(rank)], [rng.choice((1, 1, 2)) for _ in range(rank)])
            padding = [rng.randrange(max(s, d)) for s, d in zip(stride, dilation)]
            spec = (f"input: {[c, *dims]}\nbatch: {batch}\nlayers:\n  - convtranspose: {{out: {out}, k: {kernel}, s: {stride}, "
                    f"d: {dilation}, output_padding: {padding}, p: 0, groups: {groups}, bias: false}}\n")
            row = analyze(build(parse_text(spec, "deconv.yaml"), {}, batch=batch)).rows[0]
            backend = torch._C._select_conv_backend(torch.empty(batch, c, *dims), torch.empty(c, out // groups, *kernel), None,
                                                    stride, [0] * rank, dilation, True, padding, groups, None)
            told = "slow" if backend.name in ("SlowTranspose2d", "SlowTranspose3d") else "onednn"
            assert torch_cpu_kernel(row) == told, (backend.name, spec)
            checked[told] += 1
    finally:
        torch.set_num_threads(threads)
    assert set(checked) == {"slow", "onednn"}, checked


def test_a_depth_view_prices_each_block_as_the_sum_of_its_layers():
    """`--depth` sums layers into blocks; their latency cannot be summed from the block (it has lost its layers' kinds and
    what ran before each): each block's is its layers', and the total is the model's (it was 20.7 ms for 48.5 ms)."""
    import yaml

    from groupcost.graph.analysis import analyze
    from groupcost.run.roofline import layer_seconds, report_seconds
    from groupcost.sources import load

    profile = from_document(yaml.safe_load(PROFILE), PROFILE, "hand.yaml")
    report = analyze(load("resnet18"))
    layers, blocks = layer_seconds(report, profile), layer_seconds(report.at_depth(1), profile)
    assert blocks["layer1"] == pytest.approx(sum(s for name, s in layers.items() if name.startswith("layer1.")))
    assert report_seconds(report.at_depth(1), profile) == pytest.approx(report_seconds(report, profile))
    assert report_seconds(report.at_depth(2).at_depth(1), profile) == pytest.approx(report_seconds(report, profile))
