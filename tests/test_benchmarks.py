"""Every script under benchmarks/ runs to the end in its quick mode (one run of each figure), so that
none can rot unseen: a benchmark prints figures and asserts nothing, and its targets are read by a
person, but a crash is a defect (verify_speed.py once crashed at its second part)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
BENCHMARKS = ROOT / "benchmarks"
QUICK = {
    "analyze_speed.py": ["--runs", "1"],
    "export_measure.py": ["--runs", "1"],
    "graph_scale.py": ["--runs", "1"],
    "hostile_inputs.py": [],
    "latency_accuracy.py": ["--quick"],
    "onnx_import_speed.py": ["--runs", "1"],
    "verify_speed.py": ["--runs", "1"],
}
"""Each script's quick mode: its fewest runs."""


def test_every_benchmark_has_a_quick_mode():
    assert sorted(p.name for p in BENCHMARKS.glob("*.py")) == sorted(QUICK)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(QUICK))
def test_benchmark_runs_to_the_end(script):
    pytest.importorskip("torch")  # the export, import and verify benchmarks compare with torch
    pytest.importorskip("onnx")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *QUICK[script]], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip(), f"{script} printed no figures"
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
