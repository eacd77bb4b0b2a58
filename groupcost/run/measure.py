"""Measured latency: a network built in torch (the resolved-graph form of `export --to pytorch`,
which every configuration has, variants included) and timed on a CPU, CUDA or MPS device. The torch extra; imported only by `--measure` and `calibrate`.

Method: each configuration is built once and warmed up; then the timed runs go round-robin over
the configurations (run 1 of each, run 2 of each, ...), so a machine that slows down or speeds up
half-way affects them all alike. Every run is one forward pass under `torch.inference_mode()`,
bracketed by a device synchronisation; the result keeps every run, and reports the median with
the interquartile range and min–max. Per-layer times (analyze) come from separate runs with
forward hooks on every layer's module (a synchronisation before and after each layer), so they
add up to a little more than the total, which is timed without hooks.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from groupcost.errors import GroupcostError, Location, UsageError
from groupcost.graph.network import LayerStep, Network

TORCH_HINT = "pip install torch==2.13.0 (the CPU wheel), or a CUDA build of torch"
PLACES = ("cpu", "cuda", "mps")


class MeasureError(GroupcostError):
    """Measuring is not possible here (no torch, no such device)."""


def import_torch():
    try:
        import torch
    except ImportError:
        raise MeasureError("--measure and calibrate need PyTorch, which is not installed", TORCH_HINT, Location("--measure")) from None
    return torch


def choose_device(torch, on: str | None) -> str:
    """`on` checked against what this torch can use; None: cuda, then mps, then cpu."""
    available = ["cpu"]
    if torch.cuda.is_available():
        available.insert(0, "cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        available.insert(0 if "cuda" not in available else 1, "mps")
    if on is None:
        return available[0]
    if on not in PLACES:
        raise UsageError(f"unknown device '{on}'", f"one of {', '.join(PLACES)}", Location("--on"))
    if on not in available:
        raise UsageError(f"torch cannot use {on} here", f"available: {', '.join(available)}", Location("--on"))
    return on


def device_name(torch, place: str) -> str:
    if place == "cuda":
        return torch.cuda.get_device_name()
    if place == "cpu":
        import platform

        model = ""
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as info:
                model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
        except OSError:
            pass
        return model or platform.processor() or platform.machine()
    return place


@dataclass(frozen=True)
class Timing:
    """The timed runs of one configuration, in seconds."""

    runs: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def quartiles(self) -> tuple[float, float]:
        if len(self.runs) < 2:
            return self.runs[0], self.runs[0]
        q = statistics.quantiles(self.runs, n=4, method="inclusive")
        return q[0], q[2]

    @property
    def iqr(self) -> float:
        low, high = self.quartiles
        return high - low

    @property
    def low(self) -> float:
        return min(self.runs)

    @property
    def high(self) -> float:
        return max(self.runs)


@dataclass(frozen=True)
class Setup:
    """Where and how the runs were made: reported beside every figure."""

    place: str  # cpu | cuda | mps
    device: str  # the processor's name
    threads: int
    runs: int
    warmup: int
    torch: str

    def label(self) -> str:
        threads = f", {self.threads} threads" if self.place == "cpu" else ""
        return f"{self.place} ({self.device}{threads}), torch {self.torch}, median of {self.runs} runs after {self.warmup} warm-up"


@dataclass(frozen=True)
class Measurement:
    label: str
    total: Timing
    layers: dict[str, float] = field(default_factory=dict)  # layer name → median seconds (per-layer runs)


@dataclass(frozen=True)
class Session:
    """Measurements of one or more configurations, made together."""

    setup: Setup
    results: tuple[Measurement, ...]

    def overlapping(self) -> list[tuple[str, str]]:
        """Pairs of configurations whose medians differ by less than the wider of their IQRs: not told apart."""
        pairs = []
        for i, a in enumerate(self.results):
            for b in self.results[i + 1 :]:
                if abs(a.total.median - b.total.median) < max(a.total.iqr, b.total.iqr):
                    pairs.append((a.label, b.label))
        return pairs


class _Bench:
    def __init__(self, on: str | None, threads: int | None):
        self.torch = torch = import_torch()
        self.place = choose_device(torch, on)
        if threads is not None:
            if threads < 1:
                raise UsageError(f"--threads must be positive, got {threads}", None, Location("--threads"))
            torch.set_num_threads(threads)
        self.sync: Callable[[], None] = lambda: None
        if self.place == "cuda":
            self.sync = torch.cuda.synchronize
        elif self.place == "mps":
            self.sync = torch.mps.synchronize

    def prepare(self, network: Network):
        from groupcost.formats.torch.export import torch_model

        torch = self.torch
        torch.manual_seed(0)
        model = torch_model(network).eval().to(self.place)
        x = torch.randn(network.batch, *network.input_shape, device=self.place)
        return model, x

    def once(self, model, x) -> float:
        self.sync()
        start = time.perf_counter()
        model(x)
        self.sync()
        return time.perf_counter() - start

    def per_layer(self, network: Network, model, x, runs: int) -> dict[str, float]:
        modules = dict(model.named_modules())
        samples: dict[str, list[float]] = {}
        starts: dict[str, float] = {}
        handles = []
        for step in network.nodes:
            module = modules.get(step.name) if isinstance(step, LayerStep) else None
            if module is None:
                continue

            def before(m, args, name=step.name):
                self.sync()
                starts[name] = time.perf_counter()

            def after(m, args, out, name=step.name):
                self.sync()
                samples.setdefault(name, []).append(time.perf_counter() - starts[name])

            handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
        try:
            for _ in range(runs):
                model(x)
        finally:
            for handle in handles:
                handle.remove()
        return {name: statistics.median(values) for name, values in samples.items()}


def measure(configurations: list[tuple[str, Network]], on: str | None = None, runs: int = 20, threads: int | None = None,
            warmup: int = 3, per_layer: bool = False) -> Session:
    """Time each (label, network) on one device, the runs interleaved; `per_layer` adds hooked runs."""
    if runs < 1:
        raise UsageError(f"--runs must be positive, got {runs}", None, Location("--runs"))
    bench = _Bench(on, threads)
    torch = bench.torch
    with torch.inference_mode():
        prepared = [bench.prepare(network) for _, network in configurations]
        for model, x in prepared:
            for _ in range(warmup):
                bench.once(model, x)
        samples: list[list[float]] = [[] for _ in prepared]
        for _ in range(runs):
            for k, (model, x) in enumerate(prepared):
                samples[k].append(bench.once(model, x))
        layers = [bench.per_layer(network, model, x, runs) if per_layer else {} for (_, network), (model, x) in zip(configurations, prepared)]
    setup = Setup(bench.place, device_name(torch, bench.place), torch.get_num_threads(), runs, warmup, torch.__version__.split("+")[0])
    results = tuple(Measurement(label, Timing(tuple(s)), lay) for (label, _), s, lay in zip(configurations, samples, layers))
    return Session(setup, results)
