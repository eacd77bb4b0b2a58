"""Export speed and the ShuffleNet V2 Table 2 experiment, measured. Prints figures; asserts nothing.

    python benchmarks/export_measure.py [--runs 30] [--threads N] [--on cpu|cuda]

1. `export --to onnx` of resnet50 (25.6 M parameters): build + full check + write, both weight
   choices (goal ≤ 2 s), and `export --to pytorch` (the source text).
2. ShuffleNet V2's Table 2 (arXiv 1807.11164): ten stacked 1×1 group convs on 56×56, c chosen
   per G so the FLOPs stay nearly fixed; measured in torch (interleaved runs), beside the roofline
   estimate on this machine's calibrated figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import groupcost
from groupcost.graph.analysis import analyze
from groupcost.run.calibrate import calibrate
from groupcost.formats.onnx.export import write_onnx
from groupcost.formats.torch.export import export_pytorch
from groupcost.run.measure import measure
from groupcost.render.measure import ratio, seconds, warnings
from groupcost.run.roofline import report_seconds


def export_figures() -> None:
    network = groupcost.load("resnet50")
    print(f"## export, resnet50 ({groupcost.analyze(network).totals.params:,} parameters)\n")
    with tempfile.TemporaryDirectory() as folder:
        for weights in ("random", "zeros"):
            path = Path(folder) / f"{weights}.onnx"
            times = []
            for _ in range(3):
                start = time.perf_counter()
                write_onnx(network, path, weights)
                times.append(time.perf_counter() - start)
            print(f"- onnx, --weights {weights}: best {min(times):.2f} s of 3 (median {sorted(times)[1]:.2f} s), {path.stat().st_size / 2**20:.0f} MiB")
    start = time.perf_counter()
    source, fallback = export_pytorch(groupcost.load_document("resnet50"))
    form = "the spec's structure" if fallback is None else f"the resolved graph ({fallback})"
    print(f"- pytorch: {time.perf_counter() - start:.2f} s (checked against the graph on the meta device), {len(source.splitlines())} lines, {form}\n")


def table2(runs: int, threads: int | None, on: str | None) -> None:
    doc = groupcost.load_document("shufflenet_v2_table2")
    configs = [(f"G={g}", groupcost.language.build(doc, {"G": g})) for g in (1, 2, 4, 8)]
    device = calibrate(on, threads)
    session = measure(configs, on, runs, threads)
    print(f"## ShuffleNet V2 Table 2, measured\n\nmachine: {platform.machine()}, {os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    print(f"measured on {session.setup.label()}; estimate on {device.label()}\n")
    print("| G | c | MACs | traffic (elements) | estimate | measured median | IQR | min–max | measured ÷ G=1 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = session.results[0].total.median
    for (label, network), result in zip(configs, session.results):
        report = analyze(network)
        t = result.total
        low, high = t.quartiles
        print(f"| {label[2:]} | {network.variables['c']} | {report.totals.macs:,} | {report.totals.traffic:,} | {seconds(report_seconds(report, device))} | "
              f"{seconds(t.median)} | {seconds(low)}–{seconds(high)} | {seconds(t.low)}–{seconds(t.high)} | {t.median / base:.2f}× |")
    for line in warnings(session):
        print(f"\n{line}")
    print(f"\nestimate vs measured at G=1: {ratio(base, report_seconds(analyze(configs[0][1]), device))}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--on", default=None)
    args = parser.parse_args()
    export_figures()
    table2(args.runs, args.threads, args.on)


if __name__ == "__main__":
    main()
