"""Measured latency: a network built in torch and timed on a CPU, CUDA or MPS device. The torch
extra; imported only by `--measure` and `calibrate`.

What is timed is the module a user would ship: the structured form of `export --to pytorch` (blocks
as classes, `repeat` as loops) wherever the configuration is its spec as written (with its
variables); a variant the spec cannot express (one layer's G changed) runs the resolved graph
node by node, each intermediate tensor freed after its last reader, as a shipped module frees it.

Method: each configuration is built once and warmed up; then the timed runs go round-robin over
the configurations (run 1 of each, run 2 of each, ...), so a machine that slows down or speeds up
half-way affects them all alike. With several configurations, each timed run follows an untimed run
of the same configuration: its weights and buffers are back in the caches, as in a model run over and
over, rather than left cold by the other configurations' runs (on this project's machine a 20 µs
network timed right after a 300 ms one took 2–9× its time in use). On the CPU, freed memory stays in the
process (steady_allocator), so that no run pays page faults for memory the allocator handed back. Every
run is one forward pass under `torch.inference_mode()`, bracketed by a device synchronisation; the
result keeps every run, and reports the median with the interquartile range and min–max. Per-layer
times (analyze) come from separate runs of the graph node by node, merges included, a synchronisation
around each node: the layers add up to the whole (a little more than the total, which is timed without them).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from groupcost.errors import GroupcostError, Location, UsageError
from groupcost.graph.network import Network

TORCH_HINT = "pip install torch==2.13.0 (the CPU wheel), or a CUDA build of torch"
ONNXRUNTIME_HINT = "pip install onnxruntime onnx (the onnxruntime extra)"
PLACES = ("cpu", "cuda", "mps")
RUNTIMES = ("torch-eager", "onnxruntime")
"""What runs the network: torch eager (the structured PyTorch export), or ONNX Runtime (the ONNX export, every
graph optimisation on, `threads` intra-op threads, one inter-op thread, sequential execution; CPU only)."""


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
    clock: str = "wall"
    runtime: str = ""  # "onnxruntime 1.23.2" where ONNX Runtime ran the networks, else torch eager

    def label(self) -> str:
        threads = f", {self.threads} threads" if self.place == "cpu" else ""
        clock = ", CPU time of the timing thread" if self.clock == "cpu" else ""
        runtime = self.runtime or f"torch {self.torch}"
        return f"{self.place} ({self.device}{threads}), {runtime}, median of {self.runs} runs after {self.warmup} warm-up{clock}"


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


CLOCKS = ("wall", "cpu")
"""wall: elapsed time. cpu: the CPU time of the timing thread, which other processes' load does not
inflate (on a shared machine) and which equals the elapsed time on a quiet one; only for one CPU thread."""


def import_onnxruntime():
    try:
        import onnx  # noqa: F401 -- the ONNX export needs it
        import onnxruntime
    except ImportError:
        raise MeasureError("the onnxruntime runtime needs onnxruntime and onnx, which are not installed", ONNXRUNTIME_HINT,
                           Location("--runtime")) from None
    return onnxruntime


class _Bench:
    def __init__(self, on: str | None, threads: int | None, clock: str = "wall", runtime: str = "torch-eager"):
        if runtime not in RUNTIMES:
            raise UsageError(f"unknown runtime '{runtime}'", f"one of {', '.join(RUNTIMES)}", Location("--runtime"))
        self.runtime = runtime
        self.torch = torch = import_torch()
        self.place = choose_device(torch, on)
        if self.place == "cpu":
            steady_allocator()
        self.onnxruntime = import_onnxruntime() if runtime == "onnxruntime" else None
        if self.onnxruntime is not None and self.place != "cpu":
            raise UsageError(f"the onnxruntime runtime is timed on the CPU here, not on {self.place}", "add --on cpu",
                             Location("--runtime"))
        if threads is not None:
            if threads < 1:
                raise UsageError(f"--threads must be positive, got {threads}", None, Location("--threads"))
            torch.set_num_threads(threads)
        if clock == "cpu" and (self.place != "cpu" or torch.get_num_threads() != 1):
            raise UsageError("--clock cpu times one CPU thread", "add --on cpu --threads 1, or use --clock wall", Location("--clock"))
        self.clock = clock
        self.now: Callable[[], float] = time.thread_time if clock == "cpu" else time.perf_counter
        self.sync: Callable[[], None] = lambda: None
        if self.place == "cuda":
            self.sync = torch.cuda.synchronize
        elif self.place == "mps":
            self.sync = torch.mps.synchronize

    def built(self, network: Network):
        """One network as this runtime runs it, and an input: the graph-form torch module, or an ONNX Runtime session."""
        torch = self.torch
        torch.manual_seed(0)
        if self.onnxruntime is not None:
            return self.session(network)
        from groupcost.formats.torch.export import torch_model

        return torch_model(network).eval().to(self.place), torch.randn(network.batch, *network.input_shape, device=self.place)

    def session(self, network: Network):
        """The ONNX export in ONNX Runtime, every graph optimisation on (its fusions), and a NumPy input."""
        from groupcost.formats.onnx.export import onnx_model
        from groupcost.graph.network import INPUT

        ort = self.onnxruntime
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        session = ort.InferenceSession(onnx_model(network).SerializeToString(), options, providers=["CPUExecutionProvider"])
        x = self.torch.randn(network.batch, *network.input_shape).numpy()
        return (lambda value: session.run(None, {INPUT: value})), x

    def prepare(self, network: Network):
        """The module to time (shipped form where it is faithful, else the stepped graph; the ONNX export in ONNX Runtime) and its input."""
        torch = self.torch
        torch.manual_seed(0)
        if self.onnxruntime is not None:
            return self.session(network)
        model = shipped_module(network) or Stepped(network, self)
        x = torch.randn(network.batch, *network.input_shape, device=self.place)
        return model.eval().to(self.place) if hasattr(model, "eval") else model.to(self.place), x

    def once(self, model, x) -> float:
        self.sync()
        start = self.now()
        model(x)
        self.sync()
        return self.now() - start

    def per_layer(self, network: Network, x, runs: int) -> dict[str, float]:
        """Every node's median time (merges included), from runs of the graph node by node (none under ONNX Runtime,
        which runs the graph whole)."""
        if self.onnxruntime is not None:
            return {}
        stepped = Stepped(network, self).to(self.place)
        samples: dict[str, list[float]] = {node.name: [] for node in network.nodes}
        stepped(x)
        for _ in range(runs):
            for name, seconds in stepped.timed(x).items():
                samples[name].append(seconds)
        return {name: statistics.median(values) for name, values in samples.items()}


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
MMAP_THRESHOLD = 32 * 2**20  # glibc's own upper limit for its adaptive threshold


def steady_allocator() -> None:
    """Keep freed tensors' memory in this process (glibc: every allocation under 32 MiB from the heap, which is never
    trimmed), as a long-running process's allocator settles: each run then reuses the memory the last one freed. By
    default glibc maps large tensors afresh and hands them back, and how often depends on what the process freed
    before: MobileNet V2 took 3,200 page faults and 28% more time per run, or none (benchmarks/latency_accuracy_results.md
    §13). A no-op where the C library is not glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    mallopt(M_TRIM_THRESHOLD, 2**31 - 1)


def runtime_version(bench: _Bench) -> str:
    return f"onnxruntime {bench.onnxruntime.__version__}" if bench.onnxruntime is not None else ""


def shipped_module(network: Network):
    """The structured export of the network's spec, when the network is that spec at its variables (else None):
    what `export --to pytorch` writes, built at those variables."""
    from groupcost.formats.torch.export import export_pytorch, load_module
    from groupcost.graph.analysis import analyze
    from groupcost.language.build import build

    try:
        from groupcost.sources import read

        doc = read(network.source).document(network.input_shape)
        same = analyze(build(doc, network.variables, batch=network.batch)).rows == analyze(network).rows
        if not same:
            return None
        source, fallback = export_pytorch(doc, network.variables)
        if fallback is not None:
            return None
        return load_module(source)["build"](**network.variables)
    except Exception:  # noqa: BLE001 -- no spec to re-read (a variant, an import, standard input): the stepped graph is timed instead
        return None


class Stepped:
    """The resolved graph run one node at a time over the modules of its graph-form export, each tensor
    dropped after its last reader: a module that frees its intermediates, and can time each node."""

    def __init__(self, network: Network, bench: _Bench):
        from groupcost.formats.torch.export import load_module, pytorch_source

        source = pytorch_source(network)
        namespace = load_module(source)
        self.module = namespace["build"]()
        self.namespace = namespace
        lines = source.splitlines()
        start = len(lines) - lines[::-1].index("    def forward(self, x):")  # the network's class comes after its helpers
        body = [line.strip() for line in lines[start : start + len(network.nodes)]]
        self.nodes = [(node.name, compile(line, f"<{node.name}>", "exec")) for node, line in zip(network.nodes, body)]
        names = [line.split(" = ", 1)[0] for line in body]
        dying: dict[int, list[str]] = {}
        variables = {"input": "x", **{node.name: name for node, name in zip(network.nodes, names)}}
        last_use = dict(network.last_use)
        for index, node in enumerate(network.nodes):  # a `to:` layer reads its target's size in forward
            target = getattr(node, "size_of", None)
            if target is not None:
                last_use[target] = max(last_use.get(target, index), index)
        for tensor, last in last_use.items():
            dying.setdefault(last, []).append(variables[tensor])
        self.dying = [dying.get(i, []) for i in range(len(network.nodes))]
        self.outputs = [variables[name] for name in network.outputs]
        self.sync, self.now = bench.sync, bench.now

    def to(self, place: str) -> Stepped:
        self.module = self.module.eval().to(place)
        return self

    def __call__(self, x):
        env = {"self": self.module, "x": x}
        for (_, code), dead in zip(self.nodes, self.dying):
            exec(code, self.namespace, env)  # noqa: S102 -- the lines groupcost's own export wrote
            for name in dead:
                del env[name]
        return [env[name] for name in self.outputs]

    def timed(self, x) -> dict[str, float]:
        env = {"self": self.module, "x": x}
        times = {}
        for (name, code), dead in zip(self.nodes, self.dying):
            self.sync()
            start = self.now()
            exec(code, self.namespace, env)  # noqa: S102 -- the lines groupcost's own export wrote
            self.sync()
            times[name] = self.now() - start
            for tensor in dead:
                del env[tensor]
        return times


WARM_RUNS = 3
WARM_SECONDS = 0.02
"""Among several configurations timed round-robin, each timed run follows untimed runs of the same one: WARM_RUNS, or
fewer once they took WARM_SECONDS (at least one). Measured on this project's machine (benchmarks/latency_accuracy_results.md
§16): twenty small random networks, each timed round-robin after one untimed run of itself, took 1.02–1.28× their time
run back to back (a median of 1.12×); after two, 1.01–1.08×; after four, 0.96–1.05×. A model in use runs over and over:
that is the time measured, and the time a latency profile predicts."""


def _warm(bench: _Bench, model, x) -> None:
    spent = 0.0
    for _ in range(WARM_RUNS):
        spent += bench.once(model, x)
        if spent >= WARM_SECONDS:
            break


def measure(configurations: list[tuple[str, Network]], on: str | None = None, runs: int = 20, threads: int | None = None,
            warmup: int = 3, per_layer: bool = False, clock: str = "wall", runtime: str = "torch-eager") -> Session:
    """Time each (label, network) on one device under one runtime, the runs interleaved; `per_layer` adds node-by-node runs."""
    if runs < 1:
        raise UsageError(f"--runs must be positive, got {runs}", None, Location("--runs"))
    bench = _Bench(on, threads, clock, runtime)
    torch = bench.torch
    with torch.inference_mode():
        prepared = [bench.prepare(network) for _, network in configurations]
        for model, x in prepared:
            for _ in range(warmup):
                bench.once(model, x)
        samples: list[list[float]] = [[] for _ in prepared]
        for _ in range(runs):
            for k, (model, x) in enumerate(prepared):
                if len(prepared) > 1:
                    _warm(bench, model, x)
                samples[k].append(bench.once(model, x))
        layers = [bench.per_layer(network, x, runs) if per_layer else {} for (_, network), (_, x) in zip(configurations, prepared)]
    setup = Setup(bench.place, device_name(torch, bench.place), torch.get_num_threads(), runs, warmup, torch.__version__.split("+")[0], clock,
                  runtime_version(bench))
    results = tuple(Measurement(label, Timing(tuple(s)), lay) for (label, _), s, lay in zip(configurations, samples, layers))
    return Session(setup, results)


REFERENCE = "mobilenet_v2"
"""The network `calibrate` times at its start and end, and `calibrate --check` again: how far the machine's speed has moved."""


def reference_seconds(on: str | None, threads: int | None, clock: str, runtime: str, runs: int) -> float:
    """The lower median of the reference network's runs: timed at the start and end of `calibrate` (the profile keeps
    the faster) and by `calibrate --check`, so that a check says how far the machine's speed has moved since."""
    from groupcost.sources import load

    session = measure([(REFERENCE, load(REFERENCE))], on, runs, threads, clock=clock, runtime=runtime)
    return statistics.median_low(session.results[0].total.runs)
