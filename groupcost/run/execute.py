"""Run a network in NumPy with seeded random weights, and prove the analytic figures by running.

For every layer (and merge) the output shape must equal the analytic one, the multiply-
accumulates the kernels performed (counted from the contractions they ran) must equal the
analytic MACs, and the weight tensors created must add up to the analytic parameter count.
numpy is imported here and in groupcost.ops.kernels only: `analyze` never loads it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from groupcost.graph.analysis import step_row
from groupcost.ops.kernels import MacCounter
from groupcost.graph.network import INPUT, LayerStep, MergeStep, Network, Step

DTYPES = {"float32": np.float32, "float64": np.float64}


@dataclass(frozen=True)
class StepCheck:
    name: str
    type: str
    expected_shape: tuple[int, ...]
    actual_shape: tuple[int, ...]
    expected_macs: int
    counted_macs: int
    expected_params: int
    allocated_params: int
    seconds: float
    error: str | None = None  # the kernel raised
    expected_matmul_macs: int = 0  # products of two activations (attention), apart from conv + linear
    counted_matmul_macs: int = 0

    @property
    def ok(self) -> bool:
        expected = (self.expected_shape, self.expected_macs, self.expected_matmul_macs, self.expected_params)
        return self.error is None and expected == (self.actual_shape, self.counted_macs, self.counted_matmul_macs, self.allocated_params)

    def problem(self) -> str:
        if self.error is not None:
            return f"the kernel failed: {self.error}"
        problems = []
        if self.expected_shape != self.actual_shape:
            problems.append(f"output {self.actual_shape} where the analysis says {self.expected_shape}")
        if self.expected_macs != self.counted_macs:
            problems.append(f"{self.counted_macs:,} MACs performed where the analysis says {self.expected_macs:,}")
        if self.expected_matmul_macs != self.counted_matmul_macs:
            problems.append(f"{self.counted_matmul_macs:,} matmul MACs performed where the analysis says {self.expected_matmul_macs:,}")
        if self.expected_params != self.allocated_params:
            problems.append(f"{self.allocated_params:,} parameters allocated where the analysis says {self.expected_params:,}")
        return "; ".join(problems)


@dataclass(frozen=True)
class Verification:
    model: str
    batch: int
    dtype: str
    seed: int
    checks: tuple[StepCheck, ...]
    seconds: float
    finite: bool  # no inf or NaN in the output
    peak_bytes: int = 0  # the most bytes of tensors the run held at once (each freed after its last reader)

    @property
    def first_mismatch(self) -> StepCheck | None:
        return next((c for c in self.checks if not c.ok), None)

    @property
    def ok(self) -> bool:
        return self.first_mismatch is None


def init_weights(network: Network, seed: int, dtype: str) -> dict[str, dict[str, np.ndarray]]:
    """Seeded weights for every layer (one entry per module: a step that shares another's has none), He-normal
    kernels, scales near 1, small shifts, in step order."""
    rng = np.random.default_rng(seed)
    weights: dict[str, dict[str, np.ndarray]] = {}
    for step in network.steps():
        if not isinstance(step, LayerStep):
            continue
        if step.shares is not None:  # one module called again: its weights are the first call's
            continue
        tensors = {}
        for name, shape in step.layer.weight_shapes(step.in_shape).items():
            if len(shape) > 1:
                values = rng.standard_normal(shape) * math.sqrt(2.0 / math.prod(shape[1:]))
            elif name.endswith("bias"):
                values = rng.normal(0.0, 0.1, shape)
            else:
                values = rng.uniform(0.5, 1.5, shape)
            tensors[name] = values.astype(DTYPES[dtype])
        weights[step.name] = tensors
    return weights


class _Stop(Exception):
    """A step disagreed: what follows it would run on a wrong tensor, so the run ends there."""


class _Runner:
    def __init__(self, network: Network, weights: dict[str, dict[str, np.ndarray]], on_step: Callable[[int, int], None] | None, keep: bool):
        self.network = network
        self.weights = weights
        # column chunks no larger than the largest activation of the batch: memory near 2× it plus weights
        self.chunk_elements = max((math.prod(s.out_shape) for s in network.steps()), default=1) * network.batch
        self.on_step = on_step
        self.total = len(network.steps())
        self.checks: list[StepCheck] = []
        self.keep = keep  # every step's output, for comparing with other frameworks (memory!)
        self.outputs: dict[str, np.ndarray] = {}
        self.peak_bytes = 0  # the most bytes of tensors alive at once, as the run held them

    def record(self, step: Step, shape: tuple[int, ...], counter: MacCounter, seconds: float, allocated: int, error: str | None = None) -> None:
        row = step_row(step, self.network.batch)
        check = StepCheck(step.name, step.type_name, (self.network.batch, *step.out_shape), shape, row.macs, counter.macs, row.params, allocated, seconds, error,
                          row.matmul_macs, counter.matmul_macs)
        self.checks.append(check)
        if self.on_step:
            self.on_step(len(self.checks), self.total)
        if not check.ok:
            raise _Stop

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Every node in order; each tensor is freed after its last reader. Returns the outputs."""
        network = self.network
        live: dict[str, np.ndarray] = {INPUT: x}
        self.peak_bytes = x.nbytes
        for index, node in enumerate(network.nodes):
            inputs = [live[name] if channels is None else live[name][:, channels[0]:channels[1]] for name, channels in zip(node.inputs, node.channels)]
            live[node.name] = self.layer(node, inputs[0]) if isinstance(node, LayerStep) else self.merge(node, inputs)
            self.peak_bytes = max(self.peak_bytes, sum(t.nbytes for t in live.values()))
            for name in set(node.inputs):
                if network.last_use.get(name, -1) <= index:
                    del live[name]
            if network.last_use.get(node.name, -1) <= index:
                del live[node.name]
        return [live[name] for name in network.outputs]

    def layer(self, node: LayerStep, x: np.ndarray) -> np.ndarray:
        counter = MacCounter(self.chunk_elements)
        tensors = self.weights[node.shares or node.name]
        allocated = 0 if node.shares is not None else sum(t.size for t in tensors.values())  # a shared module's weights were made for its first call
        start = time.perf_counter()
        try:
            y = node.layer.forward(x, tensors, counter)
        except Exception as exc:  # noqa: BLE001 — a failing kernel is a finding of the verification, reported as such
            self.record(node, (), counter, time.perf_counter() - start, allocated, f"{type(exc).__name__}: {exc}")  # raises _Stop
        self.record(node, tuple(y.shape), counter, time.perf_counter() - start, allocated)
        if self.keep:
            self.outputs[node.name] = y
        return y

    def merge(self, step: MergeStep, tensors: list[np.ndarray]) -> np.ndarray:
        counter = MacCounter(self.chunk_elements)
        start = time.perf_counter()
        y = step.merge.forward(tensors, counter)
        self.record(step, tuple(y.shape), counter, time.perf_counter() - start, 0)
        if self.keep:
            self.outputs[step.name] = y
        return y


def forward(network: Network, x: np.ndarray, weights: dict[str, dict[str, np.ndarray]], keep_outputs: bool = False) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The (first) output for input `x` (N, *input_shape) and, with `keep_outputs`, every step's output by name."""
    runner = _Runner(dataclasses.replace(network, batch=x.shape[0]), weights, None, keep=keep_outputs)
    return runner.run(x)[0], runner.outputs


def verify(network: Network, batch: int | None = None, seed: int = 0, dtype: str = "float32", on_step=None) -> Verification:
    """Seeded weights and input, one forward pass, every step checked against the analysis."""
    if batch is not None:
        network = dataclasses.replace(network, batch=batch)
    weights = init_weights(network, seed, dtype)
    x = np.random.default_rng(seed + 1).standard_normal((network.batch, *network.input_shape)).astype(DTYPES[dtype])
    runner = _Runner(network, weights, on_step, keep=False)
    start = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            finite = all(bool(np.isfinite(y).all()) for y in runner.run(x))
        except _Stop:
            finite = True
    return Verification(network.name, network.batch, dtype, seed, tuple(runner.checks), time.perf_counter() - start, finite, runner.peak_bytes)
