"""How fast and how lean is reading an ONNX file? Prints figures; asserts nothing (goals in the README).

    python benchmarks/onnx_import_speed.py [--runs 9] [--model resnet50.onnx]

End to end, each in a fresh process (median wall time, largest peak RSS):
0. `python -c pass`: the interpreter alone, the floor under every figure.
1. `python -c "import onnx; onnx.load(f)"`: the anchor.
2. `groupcost analyze f` (goal, issue 20: at most 0.3x the anchor's time, at most 0.2x its peak memory).
3. `groupcost import f`: the same read, raised to a readable spec.

Memory is the child's peak resident set (`ru_maxrss` from wait4): its own allocations and every
file page mapped into it. The anchor's is almost all one allocation, the file read into a bytes
object. groupcost maps no file: until 2026-12-06 it memory-mapped the ONNX file, and on a kernel
that keeps a file in 2 MiB page-cache folios each fault mapped a whole folio, so the same
process measured 27 MiB or 79 MiB depending on how the file had entered the page cache (a
freshly written export: 79 MiB, 0.33x); it now reads the file in 64 KiB chunks (0.11x either way).
CPU time (user + system, median) is printed too: on a shared machine wall time swings with the
load, and more for groupcost (Python imports, CPU-bound) than for the anchor (a read and a parse).
The file is ResNet-50 as PyTorch's TorchScript exporter writes it (weights inline, about 100 MB),
and the same model from the torch.export exporter (weights in external data); without --model
both are exported first from the zoo spec through the tests' torch builder (needs torch, onnxscript).

4. onnx-tool (`onnx_tool.Model(f)`, `shape_infer`, `profile()`), when importable: give
   `--peers DIR` for a folder it was installed into (`pip install --target DIR --no-deps onnx-tool tabulate`).
   The issue measured it at 1.46x the anchor's time and 238 MB against 233 MB.
torchinfo, fvcore and ptflops need a built torch model (about 5 s and 900 MB for ResNeXt-50, as
the BRIEF reports); they are not measured here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
ROOT = Path(__file__).resolve().parent.parent


def run_child(args: list[str]) -> tuple[float, int, float]:
    """(wall seconds, peak RSS in KiB, CPU seconds: user + system) of one child process."""
    start = time.perf_counter()
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{' '.join(args)} failed: {child.stderr.read().decode()}")
    return elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def measure(args: list[str], runs: int) -> tuple[float, int, float]:
    run_child(args)  # warm the page cache
    samples = [run_child(args) for _ in range(runs)]
    return statistics.median(s[0] for s in samples), max(s[1] for s in samples), statistics.median(s[2] for s in samples)


def export_resnet50(folder: Path) -> list[Path]:
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    from groupcost.sources import load
    from torch_named import export_onnx, named_module

    network = load("resnet50")
    model = named_module(network)
    paths = [folder / "resnet50.onnx", folder / "resnet50_dynamo.onnx"]
    export_onnx(model, network.input_shape, paths[0])
    try:
        export_onnx(model, network.input_shape, paths[1], dynamo=True)
    except Exception as exc:  # onnxscript missing
        print(f"(torch.export exporter unavailable: {type(exc).__name__})")
        paths.pop()
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--model", type=Path, action="append")
    parser.add_argument("--peers", type=Path, help="a folder holding onnx_tool (and tabulate)")
    parser.add_argument("--export-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_to:
        print("\n".join(str(p) for p in export_resnet50(args.export_to)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        # exported in a process of its own: a child's ru_maxrss starts from its parent's resident set at the fork
        # (Linux keeps the high-water mark across exec), so torch must never be loaded in this one
        done = subprocess.run([PY, __file__, "--export-to", tmp], capture_output=True, text=True, check=True)
        models = args.model or [Path(line) for line in done.stdout.splitlines() if line.endswith(".onnx")]
        env_path = f"PYTHONPATH={ROOT}"
        os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
        for model in models:
            size = model.stat().st_size + sum(p.stat().st_size for p in model.parent.glob(model.name + ".data"))
            print(f"{model.name}: {size / 1e6:.1f} MB (file and external data)")
            interpreter = measure([PY, "-c", "pass"], args.runs)
            anchor = measure([PY, "-c", f"import onnx; onnx.load({str(model)!r})"], args.runs)
            analyze = measure([PY, "-m", "groupcost", "analyze", str(model)], args.runs)
            imported = measure([PY, "-m", "groupcost", "import", str(model)], args.runs)
            rows = [("python -c pass", interpreter), ("import onnx; onnx.load(f)", anchor), ("groupcost analyze f", analyze), ("groupcost import f", imported)]
            if args.peers:
                profile = ("import sys, numpy; sys.path.insert(0, %r); import onnx_tool; m = onnx_tool.Model(%r); "
                           "m.graph.shape_infer({'input': numpy.zeros((1, 3, 224, 224), dtype='float32')}); m.graph.profile()") % (str(args.peers), str(model))
                rows.append(("onnx_tool Model+profile", measure([PY, "-c", profile], args.runs)))
            for label, (seconds, kib, cpu) in rows:
                print(f"  {label:28s} {seconds * 1000:7.0f} ms  {kib / 1024:7.1f} MiB  {cpu * 1000:6.0f} ms CPU   "
                      f"{seconds / anchor[0]:.2f}x time  {kib / anchor[1]:.2f}x memory  {cpu / anchor[2]:.2f}x CPU")
        print(f"({env_path}; median of {args.runs} runs after one warm-up; peak RSS is the largest seen)")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"benchmark took {time.perf_counter() - started:.0f} s")
