"""Network → Report: per-layer rows and totals. Pure arithmetic over shapes; no I/O.

Conventions (stated in every output through CONVENTION):
- macs: multiply-accumulates of convolutions and fully connected layers (incl. SE's 1×1 convs and
  attention's projections); bias adds, batch norm, activations, pooling and merges are not in it.
  FLOPs = 2 × MACs.
- matmul_macs: products of two activations (attention's Q·Kᵀ and A·V, `matmul`), reported apart
  so that `macs` keeps its published meaning.
- params: learnable parameters as torch's sum(p.numel() for p in model.parameters()).
- activations: output elements of each layer, for the whole batch.
- traffic: elements read and written (input + output for the batch, + weights once), the
  memory-access cost of ShuffleNet V2's guideline G2.
- buffers: BN running statistics, apart from params; state_dict bytes = params + buffers.
- shared modules (`share:`): parameters and buffers once, at the first call; MACs and traffic at every call.

`METRICS` names every total once, with its unit; JSON, CSV, tables and budgets follow it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from groupcost.ops import Shape
from groupcost.graph.network import LayerStep, MergeStep, Network, Step

MACS_RULE = "MACs count conv + linear; matmul MACs (attention's products of two activations) are reported apart"
"""The counting convention in one sentence: every output that shows MACs says it."""

CONVENTION = {
    "macs": "multiply-accumulates of conv and linear layers only (no bias, BN, activation, pooling or add); FLOPs = 2 x MACs",
    "matmul_macs": MACS_RULE + ": attention's Q x K^T and A x V, and matmul of two tensors (batch dims x n x k x m); FLOPs of them = 2 x matmul MACs",
    "params": "learnable parameters as PyTorch counts them (weights, biases, BN scale and shift)",
    "weights": "conv and linear kernel weights only (no biases, no BN), as the papers count them",
    "buffers": "non-learnable state as PyTorch counts it: BN running mean and variance (C each) and num_batches_tracked (1, int64)",
    "activations": "output elements of each layer for the whole batch; *_bytes at the spec's dtype",
    "traffic": "elements moved: read input + write output (whole batch) + read weights; *_bytes at the spec's dtype",
    "shapes": "C x H x W of one sample (the batch is given apart)",
    "peak_memory": "inference: the most bytes of activations alive at once, each tensor from its producer to its last reader (the input included, weights apart)",
    "training_memory": "one training step: weights + their gradients + the optimizer's state (adam 2, momentum 1, sgd 0 copies of the weights) + every activation kept for the backward pass (the input and each layer's output, once)",
}

OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2}
"""Copies of the weights an optimizer keeps: SGD none, SGD with momentum a velocity, Adam two moments."""

INT64_BYTES = 8  # num_batches_tracked


@dataclass(frozen=True)
class Row:
    """One layer's facts and costs for one input shape. Counts are exact ints; shapes leave the batch out.

    `kind` names what a convolution is (standard, grouped, depthwise, pointwise, GDC) with its
    kernel, or repeats the type for other layers: `Report.by_type()` groups by it.
    """

    name: str
    type: str
    out_shape: Shape
    groups: int | None
    params: int
    weights: int
    macs: int
    activations: int
    traffic: int
    in_shapes: tuple[Shape, ...] = ()
    kind: str = ""
    buffers: int = 0  # elements, torch's `sum(b.numel() for b in module.buffers())`
    buffer_bytes: int = 0  # running statistics at the spec's dtype, num_batches_tracked as int64
    matmul_macs: int = 0  # products of two activations (attention), apart from `macs`
    shares: str | None = None  # the layer whose module (parameters, buffers) this one calls again: none of its own
    kernel: tuple[int, ...] = ()  # a convolution's kernel, stride, dilation, output padding (transposed) per spatial dimension
    stride: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()
    output_padding: tuple[int, ...] = ()


@dataclass(frozen=True)
class Totals:
    params: int
    weights: int
    macs: int
    activations: int
    largest_activation: int  # elements of the largest single output (not peak memory: tensors live together)
    traffic: int
    buffers: int = 0
    buffer_bytes: int = 0
    peak_memory: int = 0  # elements of the tensors alive at once at the peak of an inference pass
    training_memory: int = 0  # elements held in one training step (see OPTIMIZER_STATES), at the spec's dtype
    matmul_macs: int = 0  # products of two activations (attention), apart from `macs`

    @property
    def flops(self) -> int:
        return 2 * self.macs


@dataclass(frozen=True)
class Metric:
    """One figure a report gives: its JSON and budget name (with its unit), how to read it.

    Adding a total (e.g. a peak-memory figure) is one entry here plus its field on `Totals`: the
    JSON, CSV, table summary, budgets (`check`, `diff`) and `--max-...` flags all follow.
    """

    key: str
    unit: str  # count | bytes | elements
    label: str  # words for a person
    total: Callable[[Report], int]
    row: Callable[[Row, int], int] | None = None  # (row, dtype_bytes) → value; None: whole-network only
    example: str = "1M"  # a budget example for --help
    summary: bool = False  # a memory figure in the totals line under the layer table


METRICS: tuple[Metric, ...] = (
    Metric("params", "count", "params", lambda r: r.totals.params, lambda row, b: row.params, "5M"),
    Metric("weights", "count", "weights", lambda r: r.totals.weights, lambda row, b: row.weights, "4M"),
    Metric("buffers", "count", "buffers", lambda r: r.totals.buffers, lambda row, b: row.buffers, "50K"),
    Metric("macs", "count", "MACs", lambda r: r.totals.macs, lambda row, b: row.macs, "600M"),
    Metric("flops", "count", "FLOPs", lambda r: r.totals.flops, lambda row, b: 2 * row.macs, "1.2G"),
    Metric("matmul_macs", "count", "matmul MACs", lambda r: r.totals.matmul_macs, lambda row, b: row.matmul_macs, "50M"),
    Metric("activation_elements", "elements", "activations", lambda r: r.totals.activations, lambda row, b: row.activations, "20M"),
    Metric("activation_bytes", "bytes", "all outputs", lambda r: r.totals.activations * r.dtype_bytes, lambda row, b: row.activations * b, "64MiB", summary=True),
    Metric("largest_activation_elements", "elements", "largest activation", lambda r: r.totals.largest_activation, None, "2M"),
    Metric("largest_activation_bytes", "bytes", "largest output", lambda r: r.totals.largest_activation * r.dtype_bytes, None, "8MiB", summary=True),
    Metric("param_bytes", "bytes", "parameter memory", lambda r: r.totals.params * r.dtype_bytes, lambda row, b: row.params * b, "20MB"),
    Metric("state_dict_bytes", "bytes", "state_dict", lambda r: r.totals.params * r.dtype_bytes + r.totals.buffer_bytes,
           lambda row, b: row.params * b + row.buffer_bytes, "20MB", summary=True),
    Metric("peak_memory_bytes", "bytes", "peak memory", lambda r: r.totals.peak_memory * r.dtype_bytes, None, "32MiB", summary=True),
    Metric("training_memory_bytes", "bytes", "training step", lambda r: r.totals.training_memory * r.dtype_bytes, None, "1GiB", summary=True),
    Metric("traffic_elements", "elements", "memory traffic", lambda r: r.totals.traffic, lambda row, b: row.traffic, "100M"),
    Metric("traffic_bytes", "bytes", "traffic", lambda r: r.totals.traffic * r.dtype_bytes, lambda row, b: row.traffic * b, "400MiB", summary=True),
)
METRIC = {m.key: m for m in METRICS}
# Names of groupcost 0.1, still read in budgets and rules.
RENAMED = {"activations": "activation_elements", "traffic": "traffic_elements", "peak_activation_bytes": "largest_activation_bytes",
           "weight_bytes": "param_bytes"}


@dataclass(frozen=True)
class TypeRow:
    """One layer type (for convolutions: one kind and kernel) and its share of the network."""

    type: str
    kind: str
    count: int
    params: int
    weights: int
    macs: int
    activations: int
    traffic: int
    shares: dict[str, float]  # metric → fraction of the network's total (0.0 where the total is 0)
    matmul_macs: int = 0


@dataclass(frozen=True)
class TypeBreakdown:
    """Where the cost sits: `Report.by_type()`, rows in order of MACs, then params."""

    report: Report
    rows: tuple[TypeRow, ...]



SHARED = ("params", "weights", "macs", "matmul_macs", "traffic")


@dataclass(frozen=True)
class Report:
    model: str
    source: str
    input_shape: Shape
    output_shape: Shape  # the first output's
    batch: int
    dtype: str
    dtype_bytes: int
    variables: dict[str, int | float]
    rows: tuple[Row, ...]
    totals: Totals
    outputs: tuple[tuple[str, Shape], ...] = ()  # every output: (tensor name, shape)
    notes: tuple[str, ...] = ()  # the network's notes (e.g. BatchNorm folded by an ONNX exporter)
    layers: tuple[Row, ...] = ()  # the layers a `--depth` view summed into its blocks (empty: `rows` are the layers)

    def at_depth(self, depth: int) -> Report:
        """Rows summed into blocks of at most `depth` name segments (totals unchanged); the layers kept apart, for
        what cannot be summed from blocks (a latency estimate: a layer's depends on its kind and what ran before it)."""
        groups: dict[str, list[Row]] = {}
        for row in self.rows:
            groups.setdefault(".".join(row.name.split(".")[:depth]), []).append(row)
        return replace(self, rows=tuple(_combine(name, rows) for name, rows in groups.items()), layers=self.layers or self.rows)

    def by_type(self) -> TypeBreakdown:
        """Rows summed per layer type and, for convolutions, per kind and kernel (MobileNet's Table 2)."""
        groups: dict[tuple[str, str], list[Row]] = {}
        for row in self.rows:
            groups.setdefault((row.type, row.kind or row.type), []).append(row)
        totals = {m: sum(getattr(r, m) for r in self.rows) for m in SHARED}
        result = []
        for (type_, kind), rows in groups.items():
            sums = {m: sum(getattr(r, m) for r in rows) for m in (*SHARED, "activations")}
            shares = {m: sums[m] / totals[m] if totals[m] else 0.0 for m in SHARED}
            result.append(TypeRow(type_, kind, len(rows), shares=shares, **sums))
        result.sort(key=lambda t: (-t.macs, -t.params, t.kind))
        return TypeBreakdown(self, tuple(result))

    def metric(self, key: str) -> int:
        """A total by its METRICS name ('params', 'traffic_bytes', ...)."""
        return METRIC[RENAMED.get(key, key)].total(self)



def _combine(name: str, rows: list[Row]) -> Row:
    if len(rows) == 1:
        return replace(rows[0], name=name)
    return Row(
        name=name,
        type="block",
        out_shape=rows[-1].out_shape,
        groups=None,
        params=sum(r.params for r in rows),
        weights=sum(r.weights for r in rows),
        macs=sum(r.macs for r in rows),
        activations=sum(r.activations for r in rows),
        traffic=sum(r.traffic for r in rows),
        in_shapes=rows[0].in_shapes,
        kind="block",
        buffers=sum(r.buffers for r in rows),
        buffer_bytes=sum(r.buffer_bytes for r in rows),
        matmul_macs=sum(r.matmul_macs for r in rows),
    )


def step_row(step: Step, batch: int, dtype_bytes: int = 4) -> Row:
    """The row of one layer or merge for a batch of `batch`."""
    out_elements = math.prod(step.out_shape)
    if isinstance(step, MergeStep):
        in_elements = sum(math.prod(s) for s in step.in_shapes)
        merge_cost = step.merge.cost(step.in_shapes, step.out_shape)
        return Row(step.name, step.kind, step.out_shape, None, 0, 0, 0, batch * out_elements, batch * (in_elements + out_elements),
                   in_shapes=tuple(step.in_shapes), kind=step.kind, matmul_macs=merge_cost.matmul_macs * batch)
    assert isinstance(step, LayerStep)
    cost = step.layer.cost(step.in_shape, step.out_shape)
    traffic = batch * (math.prod(step.in_shape) + out_elements) + cost.params  # a shared module's weights are read at every call
    floats, ints = step.layer.buffer_counts(step.in_shape)
    owned = step.shares is None  # a shared module's parameters and buffers count once, at its first call
    kernel, stride, dilation, output_padding = step.layer.window(step.in_shape)
    return Row(
        step.name, step.type_name, step.out_shape, step.layer.group_count(step.in_shape),
        cost.params * owned, cost.weights * owned, cost.macs * batch, batch * out_elements, traffic,
        in_shapes=(step.in_shape,), kind=step.layer.kind_label(step.in_shape),
        buffers=(floats + ints) * owned, buffer_bytes=(floats * dtype_bytes + ints * INT64_BYTES) * owned,
        matmul_macs=cost.matmul_macs * batch, shares=step.shares, kernel=kernel, stride=stride, dilation=dilation,
        output_padding=output_padding,
    )


def analyze(network: Network, optimizer: str = "adam") -> Report:
    """Per-layer rows and totals; `optimizer` (sgd | momentum | adam) sets the training-memory figure."""
    rows = tuple(step_row(step, network.batch, network.dtype_bytes) for step in network.steps())
    params = sum(r.params for r in rows)
    saved = network.batch * math.prod(network.input_shape) + sum(r.activations for r in rows)
    totals = Totals(
        params=params,
        weights=sum(r.weights for r in rows),
        macs=sum(r.macs for r in rows),
        matmul_macs=sum(r.matmul_macs for r in rows),
        activations=sum(r.activations for r in rows),
        largest_activation=max((r.activations for r in rows), default=0),
        traffic=sum(r.traffic for r in rows),
        buffers=sum(r.buffers for r in rows),
        buffer_bytes=sum(r.buffer_bytes for r in rows),
        peak_memory=peak_live_elements(network),
        training_memory=params * (2 + OPTIMIZER_STATES[optimizer]) + saved,
    )
    return Report(
        model=network.name,
        source=network.source,
        input_shape=network.input_shape,
        output_shape=network.output_shape,
        batch=network.batch,
        dtype=network.dtype,
        dtype_bytes=network.dtype_bytes,
        variables=dict(network.variables),
        rows=rows,
        totals=totals,
        outputs=tuple(zip(network.outputs, network.output_shapes)),
        notes=_notes(network),
    )


def _notes(network: Network) -> tuple[str, ...]:
    """The network's notes, and a flag on opaque layers wherever they came from."""
    opaque = [step.name for step in network.nodes if step.type_name == "opaque"]
    if opaque and not any("opaque" in note for note in network.notes):
        return (*network.notes, f"opaque layers (not modelled: shape given, params counted, no MACs): {', '.join(opaque)}")
    return network.notes


def peak_live_elements(network: Network) -> int:
    """The most elements alive at once in an inference forward pass (the whole batch): each tensor
    lives from the node that makes it (the input from the start) to its last reader, and the
    network's outputs to the end. Weights are not included. Linear in the number of nodes."""
    sizes = {name: math.prod(shape) for name, shape in network.shapes.items()}
    dying: dict[int, list[str]] = {}
    for name, last in network.last_use.items():
        dying.setdefault(last, []).append(name)
    live = peak = sizes["input"]
    for index, node in enumerate(network.nodes):
        live += sizes[node.name]
        peak = max(peak, live)
        live -= sum(sizes[name] for name in dying.get(index, ()))
    return peak * network.batch
