"""How fast is `groupcost analyze`? Prints figures; asserts nothing (targets are in the README).

    python benchmarks/analyze_speed.py [--runs 15]

1. End-to-end wall time and peak RSS of `groupcost analyze resnext50_32x4d` in a fresh process,
   against a process that merely imports typer, rich and yaml (goal: at most 1.5×).
2. Parse + build + analyze of generated specs of 1,000 and 10,000 layers, in process
   (goal: linear, 10,000 layers in at most 1 s).
3. Whether numpy was imported on the analyze path (it must not be).
4. `groupcost whatif resnext50_32x4d` over 64 values of G, against one `analyze`, both end to end
   (goal: at most 2×, since the spec is parsed once and only re-resolved).
5. Where the time of one `analyze resnext50_32x4d` goes beyond `import typer, rich, yaml`, measured
   stage by stage in a fresh process (median of the runs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

PY = sys.executable


def run_child(args: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB) of one child process."""
    start = time.perf_counter()
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{' '.join(args)} failed: {child.stderr.read().decode()}")
    return elapsed, usage.ru_maxrss


def median_child(args: list[str], runs: int) -> tuple[float, int]:
    samples = [run_child(args) for _ in range(runs)]
    return statistics.median(s[0] for s in samples), max(s[1] for s in samples)


def generated_spec(n_layers: int) -> str:
    """A deep plain network of residual blocks, 8 layers a block (conv, bn, relu, conv, bn, add, relu...)."""
    blocks = max(1, n_layers // 9)
    return f"""
name: generated
input: [64, 32, 32]
blocks:
  block:
    layers:
      - residual:
          body:
            - conv: {{out: 64, k: 3, p: 1, bias: false}}
            - bn
            - relu
            - conv: {{out: 64, k: 3, p: 1, groups: 4, bias: false}}
            - bn
            - relu
            - pwconv: {{out: 64, bias: false}}
            - bn
layers:
  - repeat:
      n: {blocks}
      layers: [block]
"""


def time_in_process(n_layers: int, runs: int) -> tuple[int, float]:
    from groupcost.graph.analysis import analyze
    from groupcost.language import build, parse_text

    text = generated_spec(n_layers)
    timings, rows = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        report = analyze(build(parse_text(text, "generated.yaml")))
        timings.append(time.perf_counter() - start)
        rows = len(report.rows)
    return rows, statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs

    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores; median of {runs} runs\n")
    base_t, base_rss = median_child([PY, "-c", "import typer, rich, yaml"], runs)
    table_t, table_rss = median_child([PY, "-m", "groupcost", "analyze", "resnext50_32x4d"], runs)
    json_t, json_rss = median_child([PY, "-m", "groupcost", "analyze", "resnext50_32x4d", "--format", "json"], runs)
    print("1. end to end, fresh process")
    print(f"   import typer, rich, yaml only          {base_t * 1000:7.1f} ms  {base_rss / 1024:6.1f} MiB peak RSS")
    print(f"   groupcost analyze resnext50_32x4d      {table_t * 1000:7.1f} ms  {table_rss / 1024:6.1f} MiB   ({table_t / base_t:.2f}× the imports; goal ≤ 1.5×)")
    print(f"   ... --format json                      {json_t * 1000:7.1f} ms  {json_rss / 1024:6.1f} MiB   ({json_t / base_t:.2f}×)")

    print("\n2. parse + build + analyze in process (generated specs)")
    results = [time_in_process(n, max(3, runs // 3)) for n in (1_000, 10_000)]
    for rows, seconds in results:
        print(f"   {rows:6,} layers  {seconds * 1000:8.1f} ms   {seconds / rows * 1e6:6.1f} µs/layer")
    (rows_a, t_a), (rows_b, t_b) = results
    print(f"   growth: {rows_b / rows_a:.1f}× the layers took {t_b / t_a:.1f}× the time (linear ≈ equal); goal for 10,000 layers ≤ 1 s")

    check = "import sys; from groupcost.cli.app import app\ntry: app(['analyze', 'resnext50_32x4d'])\nexcept SystemExit: pass\nprint('numpy' in sys.modules, file=sys.stderr)"
    done = subprocess.run([PY, "-c", check], capture_output=True, text=True)
    print(f"\n3. numpy imported by analyze: {done.stderr.strip().splitlines()[-1]}")


    every_g = ",".join(str(g) for g in range(1, 65))
    sweep_t, sweep_rss = median_child([PY, "-m", "groupcost", "whatif", "resnext50_32x4d", "--vary", f"G={every_g}", "--format", "json"], max(3, runs // 3))
    print("\n4. whatif over 64 configurations, fresh process, --format json")
    print(f"   whatif resnext50_32x4d --vary G=1..64  {sweep_t * 1000:7.1f} ms  {sweep_rss / 1024:6.1f} MiB   ({sweep_t / json_t:.2f}× one analyze; goal ≤ 2×)")

    print("\n5. where analyze's time goes beyond the imports (fresh process, ms)")
    stages = [run_stages() for _ in range(max(3, runs // 2))]
    for name in stages[0]:
        print(f"   {name:38s} {statistics.median(s[name] for s in stages):7.1f}")


STAGES = """
import io, json, sys, time
t = [time.perf_counter()]
import typer, rich, yaml; t.append(time.perf_counter())
import groupcost, groupcost.ops, groupcost.language; t.append(time.perf_counter())
import groupcost.cli.app; t.append(time.perf_counter())
from groupcost.api import analyze_spec
report = analyze_spec("resnext50_32x4d"); t.append(time.perf_counter())
from groupcost.render.report import to_table
table = to_table(report)
table.plain(120); t.append(time.perf_counter())
from rich.console import Console; t.append(time.perf_counter())
Console(file=io.StringIO(), width=120).print(table, crop=False); t.append(time.perf_counter())
names = ["import typer, rich, yaml", "import groupcost (layers, spec, analysis)", "import groupcost.cli.app (+ typer.main)",
         "load + build + analyze resnext50_32x4d", "render the table, plain (a pipe)", "terminal only: import rich.console",
         "terminal only: render with rich"]
print(json.dumps({n: 1000 * (b - a) for n, a, b in zip(names, t, t[1:])}))
"""


def run_stages() -> dict[str, float]:
    import json

    done = subprocess.run([PY, "-c", STAGES], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


if __name__ == "__main__":
    main()
