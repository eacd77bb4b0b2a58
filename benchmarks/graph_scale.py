"""How does parse + build + analyze grow with the size of a graph? Prints figures; asserts nothing.

    python benchmarks/graph_scale.py [--runs 5] [--profile]

The network is a chain of 1×1 convs and relus on a small tensor (8 × 4 × 4), five nodes a block:
conv, relu, conv, relu, add — and each add also reads a relu from 1 to 50 blocks back (5 to 250
nodes), so the graph has a long skip every five nodes. It is written two ways:

- `repeat`: one `repeat` over a named `seq` with computed names (`name: "b{i}"`, `from: [r,
  "b{max(i - 1 - i % 50, 0)}.r"]`): a few lines, whatever the size.
- `flat`: every node its own entry with `name:`/`from:` where needed (as an importer would write
  it), for the sizes that stay under the 50,000-values limit of one spec file.

Goal: linear growth, 10,000 nodes in at most 1 s. Times are medians of `--runs` runs, wall clock
and CPU time of this process (the CPU time is the steadier figure on a busy machine). `--profile`
prints cProfile's top functions for the largest graph.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import statistics
import sys
import time

from groupcost.graph.analysis import analyze
from groupcost.language import build, parse_text
from groupcost.errors import SpecError
from groupcost.language.yamlsource import MAX_NODES as MAX_VALUES

SIZES = (1_000, 2_500, 5_000, 10_000)
FLAT_SIZES = (1_000, 2_500, 5_000, 7_500)  # 10,000 flat nodes would pass the values limit
BLOCK = 5  # nodes a block: conv, relu, conv, relu, add


def repeat_spec(nodes: int) -> str:
    return f"""name: graph_scale
input: [8, 4, 4]
layers:
  - repeat:
      n: {nodes // BLOCK}
      layers:
        - seq:
            name: "b{{i}}"
            layers:
              - conv: {{out: 8, k: 1, bias: false}}
              - relu
              - conv: {{out: 8, k: 1, bias: false}}
              - relu: {{name: r}}
              - add: {{from: [r, "b{{max(i - 1 - i % 50, 0)}}.r"]}}
"""


def flat_spec(nodes: int) -> str:
    lines = ["name: graph_scale_flat", "input: [8, 4, 4]", "layers:"]
    for i in range(nodes // BLOCK):
        j = max(i - 1 - i % 50, 0)
        lines += ["  - conv: {out: 8, k: 1, bias: false}", "  - relu", "  - conv: {out: 8, k: 1, bias: false}", f"  - relu: {{name: r{i}}}", f"  - add: {{from: [r{i}, r{j}]}}"]
    return "\n".join(lines) + "\n"


def once(text: str) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, nodes) of parse + build + analyze."""
    wall, cpu = time.perf_counter(), time.process_time()
    report = analyze(build(parse_text(text, "graph_scale.yaml")))
    return time.perf_counter() - wall, time.process_time() - cpu, len(report.rows)


def measure(text: str, runs: int) -> tuple[float, float, float, int]:
    """(wall, CPU, CPU with Python's cyclic garbage collector off, nodes): medians of `runs` runs."""
    samples = [once(text) for _ in range(runs)]
    gc.disable()
    try:
        quiet = [once(text)[1] for _ in range(runs)]
    finally:
        gc.enable()
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples), statistics.median(quiet), samples[0][2]


def fits(text: str) -> bool:
    """Whether the spec stays under the values limit (any other error is the benchmark's bug: raised)."""
    try:
        parse_text(text, "graph_scale.yaml")
    except SpecError as exc:
        if "YAML values" not in exc.message:
            raise
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile the largest repeat-form graph")
    args = parser.parse_args()

    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores; parse + build + analyze, median of {args.runs} runs")
    print(f"(a spec file holds at most {MAX_VALUES:,} YAML values)\n")
    for form, make, sizes in (("repeat", repeat_spec, SIZES), ("flat", flat_spec, FLAT_SIZES)):
        print(f"{form} form")
        first = None
        for size in sizes:
            text = make(size)
            if not fits(text):
                print(f"   {size:6,} nodes  over the values limit: not measured")
                continue
            wall, cpu, quiet, rows = measure(text, args.runs)
            first = first or (rows, cpu, quiet)
            print(f"   {rows:6,} nodes  {wall * 1000:7.1f} ms wall  {cpu * 1000:7.1f} ms CPU  {cpu / rows * 1e6:5.1f} µs/node   (GC off: {quiet * 1000:7.1f} ms, {quiet / rows * 1e6:5.1f} µs/node)")
        if first:
            print(f"   growth: {rows / first[0]:.1f}× the nodes took {cpu / first[1]:.1f}× the CPU time ({quiet / first[2]:.1f}× with the GC off; linear ≈ equal)\n")
    print("goal: 10,000 nodes in at most 1 s\n")

    if args.profile:
        text = repeat_spec(SIZES[-1])
        profile = cProfile.Profile()
        profile.enable()
        analyze(build(parse_text(text, "graph_scale.yaml")))
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(20)
        print(out.getvalue())


if __name__ == "__main__":
    main()
