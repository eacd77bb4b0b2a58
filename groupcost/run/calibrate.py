"""This machine's roofline figures, measured with torch: peak GEMM throughput and memory bandwidth.

- peak: float32 matrix products (n × n by n × n, 2·n³ FLOPs) for a few n; the best run of the
  best size. It is what torch reaches, not the datasheet's peak.
- bandwidth: copying a tensor far larger than the caches (each element read once and written
  once: 2 × its bytes moved); the best run.

`latency_profile` adds what a latency estimate needs: each operation kind measured and fitted
(groupcost.run.sampling), written as a latency profile (groupcost.run.profile) that `--device path.yaml` reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from groupcost.run.context import Context
from groupcost.run.latency import LatencyModel
from groupcost.run.measure import _Bench, device_name, runtime_version
from groupcost.run.profile import LatencyProfile
from groupcost.run.roofline import Device


def calibrate(on: str | None = None, threads: int | None = None, quick: bool = False) -> Device:
    bench = _Bench(on, threads)
    torch, place = bench.torch, bench.place
    sizes = (512, 1024) if quick else (512, 1024, 2048) if place == "cpu" else (2048, 4096, 8192)
    repeats = 3 if quick else 8
    best_flops = 0.0
    with torch.inference_mode():
        for n in sizes:
            a = torch.randn(n, n, device=place)
            b = torch.randn(n, n, device=place)
            out = torch.empty(n, n, device=place)
            torch.mm(a, b, out=out)
            for _ in range(repeats):
                bench.sync()
                start = time.perf_counter()
                torch.mm(a, b, out=out)
                bench.sync()
                best_flops = max(best_flops, 2 * n**3 / (time.perf_counter() - start))
        elements = (16 if quick else 64) * 2**20 if place == "cpu" else 256 * 2**20  # 64 MiB / 256 MiB / 1 GiB of float32
        src = torch.ones(elements, device=place)
        dst = torch.empty_like(src)
        dst.copy_(src)
        best_bandwidth = 0.0
        for _ in range(repeats):
            bench.sync()
            start = time.perf_counter()
            dst.copy_(src)
            bench.sync()
            best_bandwidth = max(best_bandwidth, 2 * 4 * elements / (time.perf_counter() - start))
    name = f"calibrated_{place}"
    threads_used = f", {torch.get_num_threads()} threads" if place == "cpu" else ""
    return Device(
        name=name,
        description=f"{device_name(torch, place)} ({place}{threads_used}), measured",
        peak_tflops=round(best_flops / 1e12, 4),
        bandwidth_gbs=round(best_bandwidth / 1e9, 2),
        source=f"groupcost calibrate, torch {torch.__version__.split('+')[0]}, {time.strftime('%Y-%m-%d')}: best float32 matmul of n in {list(sizes)}; "
        f"best copy of {4 * elements // 2**20} MiB",
    )


def latency_profile(on: str | None = None, threads: int | None = 1, quick: bool = False, name: str | None = None, clock: str = "wall",
                    progress: Callable[[str], None] = lambda text: None, runtime: str = "torch-eager") -> LatencyProfile:
    """This machine's latency profile: its roofline figures, every operation kind measured and fitted, then whole random
    chains measured to fit the correction in context (groupcost.run.context); one thread by default; `clock` cpu: the
    timing thread's CPU time, for a machine shared with other loads; `runtime` onnxruntime: every network run in ONNX Runtime."""
    import statistics

    from groupcost.run.sampling import Plan, collect, formulas

    roofline = calibrate(on, threads, quick=True)
    bench = _Bench(on, threads, clock, runtime)
    torch, place = bench.torch, bench.place
    plan = Plan.of(quick)
    samples = collect(plan, bench, progress=progress)
    alone = LatencyModel(formulas(samples))
    context = measure_context(alone, bench, plan, runtime, progress)
    threads_used = torch.get_num_threads()
    default_name = f"{place}-{threads_used}t" + ("-ort" if runtime == "onnxruntime" else "")
    versions = f"torch {torch.__version__.split('+')[0]}" + (f", {runtime_version(bench)}" if runtime == "onnxruntime" else "")
    return LatencyProfile(
        name=name or default_name, description=device_name(torch, place), peak_tflops=roofline.peak_tflops,
        bandwidth_gbs=roofline.bandwidth_gbs,
        source=f"groupcost calibrate{' --quick' if quick else ''}: {len(samples)} operations and {context.samples} networks measured, {versions}",
        runtime=runtime, place=place, threads=threads_used, torch=torch.__version__.split("+")[0], created=time.strftime("%Y-%m-%d"),
        noise=statistics.median(s.spread for s in samples), model=LatencyModel(alone.formulas, context),
    )


def measure_context(alone: LatencyModel, bench, plan, runtime: str, progress: Callable[[str], None]) -> Context:
    """Random networks (groupcost.run.context) timed whole and the correction in context fitted to them."""
    import random

    from groupcost.graph.analysis import analyze
    from groupcost.run.context import chains, table_row
    from groupcost.run.fit import fit_context
    from groupcost.run.fusion import fused_into
    from groupcost.run.latency import kind_of
    from groupcost.run.sampling import layer_at, time_steps

    networks = chains(random.Random(1), plan.chains, layer_at)
    progress(f"measuring {len(networks)} random networks whole (the correction in context)")
    table, seconds = [], []
    for network, timed in zip(networks, time_steps(networks, plan.runs, bench)):
        if timed is None or timed[0] <= 0:
            continue
        report = analyze(network)
        absorbed = fused_into(report.rows) if runtime == "onnxruntime" else [False] * len(report.rows)
        table.append(table_row([(kind_of(row), *alone.alone_parts(row, report.dtype_bytes)) for row, gone in zip(report.rows, absorbed) if not gone]))
        seconds.append(timed[0])
    return fit_context(table, seconds)


def profile_yaml(device: Device) -> str:
    import yaml

    fields = {"description": device.description, "peak_tflops": device.peak_tflops, "bandwidth_gbs": device.bandwidth_gbs, "source": device.source}
    return "# A groupcost device profile: --device this-file.yaml\n" + yaml.safe_dump({device.name: fields}, sort_keys=False, allow_unicode=True, width=200)


def write_profile(device: Device, path: Path) -> None:
    path.write_text(profile_yaml(device), encoding="utf-8")
