"""This machine's roofline figures, measured with torch: peak GEMM throughput and memory bandwidth.

- peak: float32 matrix products (n × n by n × n, 2·n³ FLOPs) for a few n; the best run of the
  best size. It is what torch reaches, not the datasheet's peak.
- bandwidth: copying a tensor far larger than the caches (each element read once and written
  once: 2 × its bytes moved); the best run.

`latency_profile` adds what a latency estimate needs: each operation kind measured and fitted
(groupcost.run.sampling), written as a latency profile (groupcost.run.profile) that `--device path.yaml` reads.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from groupcost.graph.network import Network
from groupcost.run.context import GROUPS, Context
from groupcost.run.latency import Formula, LatencyModel, reuse_distances
from groupcost.run.measure import _Bench, device_name, reference_seconds, runtime_version
from groupcost.run.profile import LatencyProfile
from groupcost.run.roofline import Device
from groupcost.run.sampling import Sample, low_and_spread


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
    """This machine's latency profile: its roofline figures, every operation kind measured alone and fitted, then random
    networks measured in context: under torch eager, layer by layer (formulas fitted on those layers take precedence:
    measure_in_context); under ONNX Runtime, which runs a graph whole, whole (a correction fitted: measure_context).
    One thread by default; `clock` cpu: the timing thread's CPU time, for a machine shared with other loads."""
    from groupcost.run.sampling import Plan, collect, formulas

    roofline = calibrate(on, threads, quick=True)
    bench = _Bench(on, threads, clock, runtime)
    torch, place = bench.torch, bench.place
    plan = Plan.of(quick)
    reference = reference_seconds(on, threads, clock, runtime, plan.runs)
    samples = collect(plan, bench, progress=progress)
    alone = LatencyModel(formulas(samples))
    if runtime == "onnxruntime":
        model = LatencyModel(alone.formulas, measure_context(alone, bench, plan, runtime, progress))
    else:
        context, in_context = measure_in_context(bench, plan, progress, alone.formulas)
        model = LatencyModel(alone.formulas, context, in_context)
    reference = min(reference, reference_seconds(on, threads, clock, runtime, plan.runs))
    threads_used = torch.get_num_threads()
    default_name = f"{place}-{threads_used}t" + ("-ort" if runtime == "onnxruntime" else "")
    versions = f"torch {torch.__version__.split('+')[0]}" + (f", {runtime_version(bench)}" if runtime == "onnxruntime" else "")
    return LatencyProfile(
        name=name or default_name, description=device_name(torch, place), peak_tflops=roofline.peak_tflops,
        bandwidth_gbs=roofline.bandwidth_gbs,
        source=f"groupcost calibrate{' --quick' if quick else ''}: {len(samples)} operations and {model.context.samples} networks measured, {versions}",
        runtime=runtime, place=place, threads=threads_used, torch=torch.__version__.split("+")[0], created=time.strftime("%Y-%m-%d"),
        noise=statistics.median(s.spread for s in samples), model=model, reference_seconds=reference,
    )



def measure_context(alone: LatencyModel, bench, plan, runtime: str, progress: Callable[[str], None]) -> Context:
    """Random networks (groupcost.run.context) timed whole and the correction in context fitted to them (ONNX Runtime:
    it runs a graph whole, so its layers cannot be timed one by one)."""
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
        since = reuse_distances(report.rows, report.dtype_bytes)
        table.append(table_row([(kind_of(row), *alone.alone_parts(row, report.dtype_bytes, distance))
                                for row, gone, distance in zip(report.rows, absorbed, since) if not gone]))
        seconds.append(timed[0])
    return fit_context(table, seconds)


MIN_IN_CONTEXT = 12
"""Layers of one kind measured in context before their own formula replaces the kind's single-operation one."""


@dataclass(frozen=True)
class Timed:
    """One network timed in context: each layer's sample (lower median of its node-by-node runs) and the whole's time."""

    layers: tuple[Sample, ...]
    whole: float


def time_in_context(network: Network, bench, runs: int) -> Timed | None:
    """The network run node by node (groupcost.run.measure.Stepped: each tensor freed after its last reader), `runs`
    times, each run timed whole and per node; None where torch cannot build it."""
    from groupcost.graph.analysis import analyze
    from groupcost.run.measure import Stepped

    torch = bench.torch
    try:
        torch.manual_seed(0)
        stepped = Stepped(network, bench).to(bench.place)
        x = torch.randn(network.batch, *network.input_shape, device=bench.place)
        with torch.inference_mode():
            stepped(x)
            wholes, per_node = [], {}
            for _ in range(runs):
                wholes.append(bench.once(stepped, x))
                for node, seconds in stepped.timed(x).items():
                    per_node.setdefault(node, []).append(seconds)
    except Exception:  # noqa: BLE001 -- a network torch cannot build here is skipped, not fatal
        return None
    rows = {row.name: row for row in analyze(network).rows}
    ordered = [node for node in network.nodes if node.name in rows]
    since = reuse_distances([rows[node.name] for node in ordered], 4)
    timed = ((node, *low_and_spread(per_node[node.name]), distance) for node, distance in zip(ordered, since))
    layers = tuple(Sample(node, rows[node.name], low, spread, distance) for node, low, spread, distance in timed if low > 0)
    return Timed(layers, statistics.median_low(wholes))


def measure_in_context(bench, plan, progress: Callable[[str], None], alone: dict[str, Formula]) -> tuple[Context, dict[str, Formula]]:
    """Model-like networks (groupcost.run.modellike), random chains with layers of every type and small chains of every
    kind (groupcost.run.context) timed layer by layer: one formula per kind with MIN_IN_CONTEXT layers or more, fitted
    on those layers, and the network's own time beyond its layers' (per network and per layer), with the held-out
    error on whole networks (each predicted by a fit that did not see it; `alone`'s formulas for the other kinds)."""
    import random

    from groupcost.run.context import chains, mixed
    from groupcost.run.fit import FOLDS
    from groupcost.run.modellike import networks
    from groupcost.run.sampling import layer_at

    rng = random.Random(1)
    drawn = networks(rng, plan.networks) + chains(rng, plan.chains, layer_at) + chains(rng, plan.mixed, layer_at, mixed)
    progress(f"measuring {len(drawn)} random networks layer by layer (formulas in context)")
    timed = [t for t in (time_in_context(network, bench, plan.runs) for network in drawn) if t is not None and t.layers]
    folds = min(FOLDS, len(timed))
    errors = []
    for k in range(folds if folds >= 2 else 0):
        model = LatencyModel(alone, *_fit_in_context([t for i, t in enumerate(timed) if i % folds != k], alone))
        for t in timed[k::folds]:
            predicted = sum(model.row_seconds(s.row, 4, s.since) for s in t.layers) + model.network_seconds()
            errors.append(abs(predicted - t.whole) / t.whole)
    context, in_context = _fit_in_context(timed, alone)
    return replace(context, heldout_error=statistics.median(errors) if errors else math.nan), in_context


def _fit_in_context(networks: list[Timed], alone: dict[str, Formula]) -> tuple[Context, dict[str, Formula]]:
    """Formulas per kind on the layers timed in networks; the network's own time; and the scale of the single-operation
    formulas' (`alone`) fixed part for the kinds too rare in those networks to have formulas of their own
    (groupcost.run.fit.fit_fixed_scale, on every layer that ran after other kinds)."""
    from groupcost.run.fit import fit_fixed_scale, fit_overheads
    from groupcost.run.latency import base_kind, kind_of
    from groupcost.run.sampling import formulas

    samples = [s for t in networks for s in t.layers]
    kinds = {k for s in samples for k in (kind_of(s.row), base_kind(kind_of(s.row)))}
    in_context = {kind: f for kind, f in formulas(samples).items() if kind in kinds and f.samples >= MIN_IN_CONTEXT}
    per_network, per_layer = fit_overheads([len(t.layers) for t in networks], [t.whole - sum(s.seconds for s in t.layers) for t in networks],
                                           [t.whole for t in networks])
    single = LatencyModel(alone)
    after_others = [s for s in samples if s.since is not None]
    scale_fixed = fit_fixed_scale([single.alone_parts(s.row, 4, s.since) for s in after_others], [s.seconds for s in after_others])
    return Context(per_network, per_layer, scale_fixed, dict.fromkeys(GROUPS, 1.0), len(networks), math.nan), in_context


def profile_yaml(device: Device) -> str:
    import yaml

    fields = {"description": device.description, "peak_tflops": device.peak_tflops, "bandwidth_gbs": device.bandwidth_gbs, "source": device.source}
    return "# A groupcost device profile: --device this-file.yaml\n" + yaml.safe_dump({device.name: fields}, sort_keys=False, allow_unicode=True, width=200)


def write_profile(device: Device, path: Path) -> None:
    path.write_text(profile_yaml(device), encoding="utf-8")
