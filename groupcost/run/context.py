"""Operations in context: small random networks `calibrate` measures, for what single-operation timings miss.

A single operation is timed alone, over and over: its output buffer is recycled, its input is whatever the
previous timed operation left in the caches. Inside a network, each layer reads what its producer has just
written and allocates its output among others of differing sizes, and the network itself costs one call more
than its layers. Measured on this machine (benchmarks/latency_accuracy_results.md), the sum of per-layer times
in a model equals its whole time within 3%, but single-operation formulas priced batch norms and activations
2.5–6× too slow there and grouped convolutions 1.5–1.9× too slow, while tiny networks came out 20–50% too fast
(their fixed costs were left out).

Two kinds of random network are drawn here: `chain` (blocks of convolution, batch norm and activation with
residual adds, pools and layers of every other type between them, a classifier head; or a single layer alone)
and `mixed` (a few layers of every kind on small tensors, where a layer costs its fixed overhead). Under torch
eager, `calibrate` times them layer by layer beside the model-like networks of groupcost.run.modellike, and fits
formulas on those layers (groupcost.run.calibrate.measure_in_context); the `Context` then holds the network's own
time (per network, per layer) and, for the kinds too rare in those networks to have formulas of their own (attention,
upsample, reshape, ...), a scale on their single-operation formulas' fixed part (its growing parts' scales are 1): over
every layer that ran after other kinds, a layer's fixed cost was 1.3× its cost timed alone (an attention block took
77–117 µs in random graphs, priced 47–60 µs by its formula timed alone). ONNX Runtime runs a graph whole, so there the chains are timed
whole and a correction of the single-operation formulas is fitted, by non-negative least squares on the relative
error:

    network seconds = per_network + Σ over layers (per_layer + scale_fixed × fixed + scale[group] × growing)

where fixed is the layer's formula's constant (its cost at zero size) and growing the rest, and `group` is conv
(convolutions, fc: arithmetic-bound), pointwise (batch norms, activations, adds: an element at a time) or other.
The fixed part has a scale of its own: with one scale per group on the whole formula, the small convolutions of
the networks (mostly fixed cost, which shrinks inside a network) set a scale that shrank large ones 25–44% too far.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace

from groupcost.errors import GroupcostError, Location
from groupcost.graph.network import LayerStep, MergeStep, Network, Step
from groupcost.ops import LAYER_TYPES, MERGE_TYPES

HERE = Location("<calibrate>")
GROUPS = ("conv", "pointwise", "other")
"""The groups of kinds whose single-operation formulas are scaled."""
COEFFICIENTS = ("per_network", "per_layer", "scale_fixed", *(f"scale_{g}" for g in GROUPS))
ACTIVATIONS = ("relu", "relu", "relu6", "hswish", "silu", "prelu", None)
POINTWISE = frozenset({"bn", "frozenbn", "relu", "relu6", "hswish", "hsigmoid", "silu", "sigmoid", "prelu", "leakyrelu", "add"})


def group_of(kind: str) -> str:
    """`conv` for a convolution or fully connected layer (its MACs dominate), `pointwise` for batch norms, activations
    and adds (an element at a time, from a tensor just written), `other` for the rest."""
    if kind.split(":")[0] in ("conv", "convtranspose", "fc", "linear"):
        return "conv"
    return "pointwise" if kind in POINTWISE else "other"


@dataclass(frozen=True)
class Context:
    """The fitted correction: a fixed cost per network call and per layer, a scale on the fixed part of every
    single-operation formula and one per group of kinds on the part that grows with the layer; `heldout_error`:
    median relative error on networks it was not fitted on."""

    per_network: float
    per_layer: float
    scale_fixed: float
    scales: dict[str, float]
    samples: int
    heldout_error: float

    def layer_seconds(self, kind: str, fixed: float, variable: float) -> float:
        """A layer's time inside a network, from its formula's time alone (fixed part, growing part)."""
        return self.per_layer + self.scale_fixed * fixed + self.scales.get(group_of(kind), 1.0) * variable


def _conv_block(rng: random.Random, x: tuple[int, ...], name: str, last: str) -> list[Step]:
    """conv → bn → activation, the convolution standard, grouped, depthwise or pointwise, then maybe a residual add."""
    c, size = x[0], x[1]
    form = rng.choice(("standard", "grouped", "depthwise", "pointwise", "pointwise"))
    out, k, groups = rng.choice((8, 16, 24, 32, 48, 64, 96, 128, 192, 256)), rng.choice((3, 3, 5)), 1
    if form == "pointwise":
        k = 1
    elif form == "depthwise":
        out = groups = c
        k = rng.choice((1, 3, 3, 5))
    elif form == "grouped":
        common = [g for g in (2, 3, 4, 8, 16, 32) if c % g == 0 and out % g == 0 and g < c]
        groups = rng.choice(common) if common else 1
        k = rng.choice((1, 3, 3))
    stride = rng.choice((1, 1, 1, 2)) if size > 4 else 1
    steps: list[Step] = []
    conv = LAYER_TYPES["conv"](out=out, k=k, s=stride, p=k // 2, groups=groups, bias=False)
    y = conv.out_shape(x)
    steps.append(LayerStep(f"{name}.conv", conv, x, y, HERE, (last,)))
    steps.append(LayerStep(f"{name}.bn", LAYER_TYPES["bn"](), y, y, HERE, (f"{name}.conv",)))
    tail = f"{name}.bn"
    act = rng.choice(ACTIVATIONS)
    if act is not None:
        steps.append(LayerStep(f"{name}.act", LAYER_TYPES[act](), y, y, HERE, (tail,)))
        tail = f"{name}.act"
    if y == x and rng.random() < 0.5:
        steps.append(MergeStep(f"{name}.add", "add", (y, y), y, HERE, (tail, last), (None, None)))
    return steps


def chain(rng: random.Random, extra: Callable[[random.Random, tuple[int, ...]], LayerStep | None] | None = None) -> Network:
    """A random network of the shape real convolutional networks have: 1 to 10 blocks, maybe a pool or a layer
    of any other type (`extra` draws it for the current shape) between them, maybe a classifier head; or one
    layer of any type alone; channels 3 to 256, maps 2 to 112 (from a few µs to tens of ms)."""
    size = rng.choice((2, 4, 8, 14, 28, 56, 112))
    x: tuple[int, ...] = (rng.choice((3, 8, 16, 32)), size, size)
    input_shape, last = x, "input"
    steps: list[Step] = []
    if extra is not None and rng.random() < 0.2:  # one layer alone: what pins the fixed cost per network
        step = extra(rng, x)
        if step is not None:
            return Network("chain", "", "<calibrate>", x, 1, "float32", 4, {}, (replace(step, name="only", inputs=(last,)),), ("only",))
    for index in range(rng.choice((1, 1, *range(1, 11)))):
        block = _conv_block(rng, x, f"b{index}", last)
        steps += block
        x, last = block[-1].out_shape, block[-1].name
        if x[1] >= 8 and rng.random() < 0.15:
            pool = LAYER_TYPES[rng.choice(("maxpool", "avgpool"))](k=2)
            y = pool.out_shape(x)
            steps.append(LayerStep(f"b{index}.pool", pool, x, y, HERE, (last,)))
            x, last = y, f"b{index}.pool"
        elif extra is not None and rng.random() < 0.4:
            step = extra(rng, x)
            if step is not None and len(step.out_shape) == 3 and min(step.out_shape) > 0:
                steps.append(replace(step, name=f"b{index}.extra", inputs=(last,)))
                x, last = step.out_shape, f"b{index}.extra"
    if rng.random() < 0.5:
        gap, flatten, fc = LAYER_TYPES["gap"](), LAYER_TYPES["flatten"](), LAYER_TYPES["fc"](out=rng.choice((10, 100, 1000)))
        pooled = gap.out_shape(x)
        flat = flatten.out_shape(pooled)
        steps += [LayerStep("head.gap", gap, x, pooled, HERE, (last,)), LayerStep("head.flatten", flatten, pooled, flat, HERE, ("head.gap",)),
                  LayerStep("head.fc", fc, flat, fc.out_shape(flat), HERE, ("head.flatten",))]
        last = "head.fc"
    return Network("chain", "", "<calibrate>", input_shape, 1, "float32", 4, {}, tuple(steps), (last,))


def mixed(rng: random.Random, extra: Callable[[random.Random, tuple[int, ...]], LayerStep | None]) -> Network:
    """A small chain of layers of every kind: each step a layer of any registered type (`extra` draws it), a merge of
    the current tensor with itself, or a convolution of any form (transposed too; kernels 1 to 5, strides 1 to 3, one
    in four dilated), on maps of 1 to 28 and 2 to 64 channels; one in five on a C×L or C×T×H×W input (1-D and 3-D convolutions and what else takes that rank). Small
    networks are where a layer costs its fixed overhead, which differs from kind to kind."""
    size = rng.choice((1, 2, 3, 5, 7, 14, 28))
    spatial = rng.choice(((size, size),) * 8 + ((size * size,), (rng.choice((2, 4)), size, size)))
    x: tuple[int, ...] = (rng.choice((2, 3, 4, 8, 13, 16, 32, 64)), *spatial)
    input_shape, last = x, "input"
    steps: list[Step] = []
    for index in range(rng.randint(2, 12)):
        name, roll = f"m{index}", rng.random()
        if roll < 0.2:
            merge = rng.choice(sorted(MERGE_TYPES))
            if merge == "matmul" and x[-1] != x[-2]:
                continue
            step: Step | None = MergeStep(name, merge, (x, x), MERGE_TYPES[merge].out_shape((x, x)), HERE, (last, last), (None, None))
        elif roll < 0.4 or len(x) != 3:
            c, k = rng.choice((2, 4, 8, 16, 32, 64)), rng.choice((1, 2, 3, 3, 4, 5))
            groups = rng.choice([g for g in (1, 1, 2, 4, x[0]) if x[0] % g == 0 and c % g == 0] or [1])
            c = x[0] if groups == x[0] else c
            transposed = rng.random() < 0.25
            d = 2 if k > 1 and not transposed and rng.random() < 0.25 else 1  # torch's own dilated kernel on small maps
            conv = LAYER_TYPES["convtranspose" if transposed else "conv"](out=c, k=k, s=rng.choice((1, 1, 2, 3)), p=d * (k // 2), d=d, groups=groups)
            try:
                step = LayerStep(name, conv, x, conv.out_shape(x), HERE, (last,))
            except GroupcostError:  # a kernel past the padded map
                continue
        else:
            drawn = extra(rng, x)
            step = replace(drawn, name=name, inputs=(last,)) if drawn is not None else None
        if step is None or len(step.out_shape) != len(x) or min(step.out_shape) < 1 or max(step.out_shape[1:]) > 112:
            continue
        steps.append(step)
        x, last = step.out_shape, name
    if not steps:
        raise ValueError("no layer drawn")
    return Network("mixed", "", "<calibrate>", input_shape, 1, "float32", 4, {}, tuple(steps), (last,))


def chains(rng: random.Random, count: int, extra=None, draw: Callable = chain) -> list[Network]:
    result: list[Network] = []
    while len(result) < count:
        try:
            result.append(draw(rng, extra))
        except (GroupcostError, ValueError, ZeroDivisionError):
            continue
    return result


def table_row(layers: list[tuple[str, float, float]]) -> list[float]:
    """One network's features for the fit, from its layers' (kind, fixed and growing parts of the single-operation
    seconds): 1, the layer count, the fixed parts summed, and the growing parts summed per group."""
    sums = dict.fromkeys(GROUPS, 0.0)
    for kind, _, variable in layers:
        sums[group_of(kind)] += variable
    return [1.0, float(len(layers)), sum(fixed for _, fixed, _ in layers), *(sums[g] for g in GROUPS)]
