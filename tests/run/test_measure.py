"""--measure and calibrate: the paths run on CPU with tiny networks and few runs; nothing about timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from groupcost.run.measure import Measurement, Session, Setup, Timing

HERE = Path(__file__).parent
TINY = HERE.parent / "formats" / "every_layer.yaml"
SWEEPABLE = """
name: tiny_table2
input: [c, 8, 8]
vars:
  G: 1
  c: "16 if G == 1 else 24"
layers:
  - repeat: {n: 3, layers: [pwconv: {out: c, groups: G, bias: false}]}
"""


ONE_THREAD_PROFILE = """groupcost_latency_profile: 2
name: one-thread
description: written by hand for a test
runtime: torch-eager
machine: {place: cpu}
threads: 1
noise: 0.05
roofline: {peak_tflops: 0.1, bandwidth_gbs: 10}
formulas:
  generic: {technique: linear, features: [one, in_bytes, out_bytes, weight_bytes], coefficients: [0.001, 0, 0, 0], samples: 3}
"""


def _cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "groupcost", *args], capture_output=True, text=True, cwd=cwd)


def test_timing_statistics_and_overlap_flags():
    setup = Setup("cpu", "test", 1, 5, 0, "x")
    a = Measurement("a", Timing((1.0, 2.0, 3.0, 4.0, 5.0)))
    b = Measurement("b", Timing((3.5, 3.5, 3.5, 3.5, 3.5)))
    c = Measurement("c", Timing((10.0, 10.0, 10.0, 10.0, 10.0)))
    assert (a.total.median, a.total.quartiles, a.total.low, a.total.high) == (3.0, (2.0, 4.0), 1.0, 5.0)
    assert Session(setup, (a, b, c)).overlapping() == [("a", "b")]  # 0.5 apart, IQR 2: not told apart


def test_analyze_never_imports_torch_onnx_or_numpy():
    code = ("import sys\nfrom groupcost.cli.app import run\ntry:\n    run(['analyze', 'resnet18', '--traffic'])\nexcept SystemExit:\n    pass\n"
            "loaded = [m for m in ('torch', 'onnx', 'numpy') if m in sys.modules]\nassert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_without_torch_measure_is_one_line_and_exit_2():
    code = ("import sys\nsys.modules['torch'] = None\nfrom groupcost.cli.app import run\nrun(['analyze', %r, '--measure'])" % str(TINY))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "pip install torch==2.13.0" in done.stderr and "Traceback" not in done.stderr


torch = pytest.importorskip("torch")


def test_analyze_measure_per_layer_and_total():
    done = _cli("analyze", str(TINY), "--measure", "--on", "cpu", "--runs", "2", "--threads", "1", "--device", "a100")
    assert done.returncode == 0, done.stderr
    assert "measured on cpu" in done.stdout and "1 threads" in done.stdout
    for name in ("stem", "sep.pw", "fc1", "total"):
        assert f"│ {name} " in done.stdout
    assert "total spread: " in done.stdout


def test_analyze_measure_json_has_both():
    done = _cli("analyze", str(TINY), "--measure", "--on", "cpu", "--runs", "2", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["analysis"]["model"] == "every-layer"
    result = data["measurement"]["results"][0]
    assert len(result["runs_seconds"]) == 2 and result["min_seconds"] <= result["median_seconds"] <= result["max_seconds"]
    assert {row["name"] for row in result["layers"]} == {row["name"] for row in data["analysis"]["layers"]}
    assert data["measurement"]["setup"]["device"] == "cpu" and data["measurement"]["setup"]["threads"] >= 1


def test_measure_times_on_the_threads_of_the_calibrated_profile(tmp_path):
    """A one-thread profile's estimates are for one thread: torch's default (every core) beside them priced a
    VGG-11 at half its time. Without --threads, --measure and calibrate --check take the profile's; --threads still says otherwise."""
    profile = tmp_path / "one.yaml"
    profile.write_text(ONE_THREAD_PROFILE, encoding="utf-8")
    done = _cli("analyze", str(TINY), "--measure", "--runs", "1", "--format", "json", "--device", str(profile))
    assert done.returncode == 0, done.stderr
    setup = json.loads(done.stdout)["measurement"]["setup"]
    assert setup["device"] == "cpu" and setup["threads"] == 1
    asked = _cli("analyze", str(TINY), "--measure", "--runs", "1", "--format", "json", "--device", str(profile), "--threads", "2")
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["measurement"]["setup"]["threads"] == 2
    profile.write_text(ONE_THREAD_PROFILE.replace("threads: 1", "threads: 2"), encoding="utf-8")
    checked = _cli("calibrate", "--check", str(TINY), "--runs", "1", "--json", "--device", str(profile))
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["setup"]["threads"] == 2


def test_check_measures_a_torch_factory_at_its_input(tmp_path):
    """`torch:` sources everywhere: calibrate --check traces a factory at --input, as analyze does; --input without
    --check is one located error."""
    pytest.importorskip("torch")
    profile = tmp_path / "one.yaml"
    profile.write_text(ONE_THREAD_PROFILE, encoding="utf-8")
    done = _cli("calibrate", "--check", "torch:torch_factories:tiny", "--input", "3,32,32", "--runs", "1", "--json", "--device", str(profile),
                cwd=HERE.parent)
    assert done.returncode == 0, done.stderr
    assert [m["label"] for m in json.loads(done.stdout)["models"]] == ["torch:torch_factories:tiny"]
    alone = _cli("calibrate", "--input", "3,32,32")
    assert alone.returncode == 2 and alone.stderr.startswith("--input:1:1: error: --input is the shape of the models --check measures")


@pytest.mark.slow
def test_whatif_compare_and_layer_measure(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SWEEPABLE)
    whatif = _cli("whatif", str(spec), "--vary", "G=1,2,4", "--measure", "--runs", "3", "--on", "cpu", "--format", "markdown")
    assert whatif.returncode == 0, whatif.stderr
    assert "| G=1 * |" in whatif.stdout and "| G=4 |" in whatif.stdout  # * = the spec as written (G: 1)
    compare = _cli("compare", str(spec), "--g", "2", "--measure", "--runs", "2", "--on", "cpu")
    assert compare.returncode == 0, compare.stderr
    assert "all G=2" in compare.stdout and "as written" in compare.stdout
    layer = _cli("layer", "8,8,8", "--out", "8", "-p", "1", "--g", "1,2,dw", "--measure", "--runs", "2", "--format", "json")
    assert layer.returncode == 0, layer.stderr
    assert [r["label"] for r in json.loads(layer.stdout)["measurement"]["results"]] == ["G=1", "G=2", "depthwise"]


@pytest.mark.parametrize("args, place", [
    (["--format", "csv"], "--measure"),
    (["--on", "tpu"], "--on"),
    (["--runs", "0"], "--runs"),
])
def test_measure_usage_errors_are_located(args, place):
    done = _cli("analyze", str(TINY), "--measure", *args)
    assert done.returncode == 2 and done.stderr.startswith(place) and done.stderr.count("\n") == 1


def test_calibrate_roofline_writes_a_profile_that_device_accepts(tmp_path):
    profile = tmp_path / "this.yaml"
    done = _cli("calibrate", "--on", "cpu", "-o", str(profile), "--threads", "1", "--roofline")
    assert done.returncode == 0, done.stderr
    from groupcost.run.roofline import device

    loaded = device(str(profile))
    assert loaded.peak_tflops > 0 and loaded.bandwidth_gbs > 0 and "measured" in loaded.description
    analyzed = _cli("analyze", "resnet18", "--device", str(profile))
    assert analyzed.returncode == 0 and "calibrated_cpu" in analyzed.stdout
    again = _cli("calibrate", "--on", "cpu", "-o", str(profile))
    assert again.returncode == 2 and "--force" in again.stderr


def test_a_bad_profile_is_a_located_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("mine: {peak_tflops: -1, bandwidth_gbs: 10}\n")
    done = _cli("analyze", "resnet18", "--device", str(bad))
    assert done.returncode == 2 and done.stderr.startswith(str(bad)) and "peak_tflops must be a positive number" in done.stderr
    missing = _cli("analyze", "resnet18", "--device", str(tmp_path / "none.yaml"))
    assert missing.returncode == 2 and missing.stderr.startswith("--device")


def test_timed_runs_reuse_freed_memory_without_page_faults():
    """On glibc, a measuring process keeps freed tensors' memory (groupcost.run.measure.steady_allocator): MobileNet V2's
    runs after the first take no page faults. By default glibc hands its 4.8 MB tensors back to the system and maps them
    afresh, about 3,200 faults a run here, and whether it does depends on what the process freed before. The fewest
    faults of five runs is read, not their sum: a busy test worker takes a few dozen faults of its own now and then."""
    torch = pytest.importorskip("torch")
    resource = pytest.importorskip("resource")
    import platform

    if platform.system() != "Linux" or not platform.libc_ver()[0] == "glibc":
        pytest.skip("the allocator setting is glibc's")
    import groupcost
    from groupcost.run.measure import _Bench, shipped_module

    _Bench("cpu", 1)
    model = shipped_module(groupcost.load("mobilenet_v2")).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        model(x)
        model(x)
        faults = []
        for _ in range(5):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            model(x)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        assert min(faults) < 20, faults


@pytest.mark.parametrize(("run_seconds", "untimed"), [(0.001, 3), (0.012, 2), (0.05, 1)])
def test_round_robin_warms_each_configuration_up_before_its_timed_run(run_seconds, untimed):
    """Untimed runs of the same configuration before each timed one: WARM_RUNS, or fewer once they took WARM_SECONDS;
    after one, a small network timed round-robin ran up to 1.28× its time in use (benchmarks/latency_accuracy_results.md §16)."""
    from groupcost.run.measure import WARM_RUNS, WARM_SECONDS, _warm

    class Bench:
        runs = 0

        def once(self, model, x) -> float:
            self.runs += 1
            return run_seconds

    bench = Bench()
    _warm(bench, None, None)
    assert bench.runs == untimed and (WARM_RUNS, WARM_SECONDS) == (3, 0.02)
