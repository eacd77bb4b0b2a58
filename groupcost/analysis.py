"""Network → Report: per-layer rows and totals. Pure arithmetic over shapes; no I/O.

Conventions (stated in every output through CONVENTION):
- macs: multiply-accumulates of convolutions and fully connected layers (incl. SE's 1×1 convs);
  bias adds, batch norm, activations, pooling and merges are not in it. FLOPs = 2 × MACs.
- params: learnable parameters as torch's sum(p.numel() for p in model.parameters()).
- activations: output elements of each layer, for the whole batch.
- traffic: elements read and written (input + output for the batch, + weights once), the
  memory-access cost of ShuffleNet V2's guideline G2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from groupcost.layers import Shape
from groupcost.network import LayerStep, MergeStep, Network, Step

CONVENTION = {
    "macs": "multiply-accumulates of conv and linear layers only (no bias, BN, activation, pooling or add); FLOPs = 2 x MACs",
    "params": "learnable parameters as PyTorch counts them (weights, biases, BN scale and shift)",
    "weights": "conv and linear kernel weights only (no biases, no BN), as the papers count them",
    "activations": "output elements of each layer for the whole batch",
    "traffic": "elements moved: read input + write output (whole batch) + read weights",
}


@dataclass(frozen=True)
class Row:
    """One layer's facts and costs. Counts are exact ints; bytes use the report's dtype."""

    name: str
    type: str
    out_shape: Shape
    groups: int | None
    params: int
    weights: int
    macs: int
    activations: int
    traffic: int


@dataclass(frozen=True)
class Totals:
    params: int
    weights: int
    macs: int
    activations: int
    peak_activation: int
    traffic: int

    @property
    def flops(self) -> int:
        return 2 * self.macs


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

    def at_depth(self, depth: int) -> Report:
        """Rows summed into blocks of at most `depth` name segments (totals unchanged)."""
        groups: dict[str, list[Row]] = {}
        for row in self.rows:
            groups.setdefault(".".join(row.name.split(".")[:depth]), []).append(row)
        return replace(self, rows=tuple(_combine(name, rows) for name, rows in groups.items()))


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
    )


def step_row(step: Step, batch: int) -> Row:
    """The row of one layer or merge for a batch of `batch`."""
    out_elements = math.prod(step.out_shape)
    if isinstance(step, MergeStep):
        in_elements = sum(math.prod(s) for s in step.in_shapes)
        return Row(step.name, step.kind, step.out_shape, None, 0, 0, 0, batch * out_elements, batch * (in_elements + out_elements))
    assert isinstance(step, LayerStep)
    cost = step.layer.cost(step.in_shape, step.out_shape)
    traffic = batch * (math.prod(step.in_shape) + out_elements) + cost.params
    return Row(
        step.name, step.type_name, step.out_shape, step.layer.group_count(step.in_shape),
        cost.params, cost.weights, cost.macs * batch, batch * out_elements, traffic,
    )


def analyze(network: Network) -> Report:
    rows = tuple(step_row(step, network.batch) for step in network.steps())
    totals = Totals(
        params=sum(r.params for r in rows),
        weights=sum(r.weights for r in rows),
        macs=sum(r.macs for r in rows),
        activations=sum(r.activations for r in rows),
        peak_activation=max((r.activations for r in rows), default=0),
        traffic=sum(r.traffic for r in rows),
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
