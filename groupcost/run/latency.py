"""A per-operation latency model: each layer's time predicted from its exact counts by a formula
fitted to this machine's measurements (groupcost.run.fit), one formula per operation kind.

An operation's kind is its layer type and, for convolutions, what the convolution is (standard,
grouped, depthwise, pointwise, GDC): `conv:grouped`, `conv:depthwise`, `bn`, `add`, ... A kind with
no fitted formula of its own uses its type's, then the generic per-byte formula fitted over every
measured non-convolution layer. Prediction is plain Python (no NumPy): `analyze --device profile.yaml`
stays as light as without a profile.

Two forms of formula, chosen per kind by held-out error when the profile is made:
- `linear`: seconds = Σ c_j · f_j with every c_j ≥ 0 (a fixed overhead, a cost per MAC, per byte in and
  out, per weight, ...), fitted to relative error;
- `loglinear`: log seconds = a + Σ b_j · log(1 + f_j), a power law in the features.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from groupcost.graph.analysis import Row
from groupcost.ops import LAYER_TYPES
from groupcost.run.context import Context

GENERIC = "generic"
TECHNIQUES = ("linear", "loglinear")

CONV_FEATURES = ("one", "since_bytes", "macs", "in_bytes", "out_bytes", "weight_bytes", "spill_bytes", "im2col_bytes", "group_positions",
                 "kinds_since")
"""A convolution's features: a fixed overhead, the bytes moved since a layer of its kind last ran (up to COLD), its MACs,
the bytes it reads and writes, its weights' bytes, the bytes beyond what a core's cache holds (SPILL), the bytes of its
unfolded input (positions × C_in·k², what a GEMM-based kernel copies), and G × output positions (each group is a GEMM
of its own: small per-group matrices run below peak), and the other kinds of layer run since its kind last ran (up to
KINDS: their code pushes its code out of the caches)."""
LINEAR_FEATURES = ("one", "since_bytes", "macs", "in_bytes", "out_bytes", "weight_bytes", "spill_bytes", "kinds_since")
ELEMENTWISE_FEATURES = ("one", "since_bytes", "in_bytes", "out_bytes", "weight_bytes", "spill_bytes", "kinds_since")
"""Every other layer and merge: a fixed overhead, the bytes it moves and how long ago its kind last ran."""
FEATURES = CONV_FEATURES
"""Every feature name a formula may use."""
SPILL = 2**20
"""Bytes a layer may move before it leaves a core's cache (1 MiB, an L2's order): past it, a byte costs a
trip to memory, so a layer that moves more is slower per byte than the small ones calibrate measures most."""
COLD = 2 * 2**20
"""Bytes a network may move between two runs of a kind of layer while that kind's code and tables stay in the caches
(its reuse distance): past them, its fixed cost is that of a cold start. Measured on this project's machine
(benchmarks/latency_accuracy_results.md §14): a global pool, a flatten and an fc of a 32-channel map took 8, 2.6 and 7 µs
run one after another, over and over, and 51, 8.8 and 31 µs with a copy of 1 MiB before each run; 71, 10 and 36 µs with
4 or 16 MiB. A layer timed alone, over and over, runs after itself; in a network, after every other layer between."""
KINDS = 12
"""Other kinds of layer run since a layer's kind last ran, counted up to this. Data is not all a layer finds cold: each
kind runs code of its own (torch's dispatch, its kernel), which the kinds between push out. Measured on this machine
(benchmarks/latency_accuracy_results.md §16): layers after 1 to 7 other kinds took 0.98–1.04× what the formulas fitted
in context gave, after 8 to 12 kinds 1.22× (random graphs of a dozen kinds; 1.21× in zoo models' heads)."""


TRUSTED = 2
"""A formula fitted on layers inside networks prices layers up to this many times the bytes of the largest it was fitted
on; past them, the kind's formula timed alone does (drawn up to 24 MB tensors). calibrate's small chains time rare kinds
on a few hundred elements: fitted there, a concat's cost per byte came out 0, and YOLO-style models' 18 concats of up to
6.5 MB were priced 0.1 ms for 7.5 ms measured (benchmarks/latency_accuracy_results.md §16)."""


@dataclass(frozen=True)
class Formula:
    """One kind's fitted formula: its form, feature names and coefficients, how well it did on layers it was not fitted
    on (median |predicted − measured| / measured, cross-validated) and the most bytes a layer it was fitted on moved
    (moved_bytes; 0: not recorded)."""

    technique: str
    features: tuple[str, ...]
    coefficients: tuple[float, ...]
    samples: int
    heldout_error: float
    max_bytes: int = 0

    def covers(self, row: Row, dtype_bytes: int) -> bool:
        """Whether the layer is within the range the formula was fitted on (TRUSTED): the bytes of activations it moves
        against the most any layer it was fitted on moved. Weights are left out: past the caches a weight costs the same
        at any size, and AlexNet's first fc (151 MB of weights) was priced 8 ms for about 12 ms by its formula timed
        alone, 12–13.5 ms by its formula in context, fitted up to 39 MB."""
        return not self.max_bytes or moved_bytes(row, dtype_bytes) - row.params * dtype_bytes <= TRUSTED * self.max_bytes

    def fixed_seconds(self) -> float:
        """The part of every prediction that does not grow with the layer: the linear form's constant, the power
        law's value at zero features."""
        if self.technique == "linear":
            return self.coefficients[0] if self.features[0] == "one" else 0.0
        return math.exp(self.coefficients[0])

    def seconds(self, values: dict[str, float]) -> float:
        if self.technique == "linear":
            return sum(c * values[name] for c, name in zip(self.coefficients, self.features))
        intercept, *slopes = self.coefficients
        return math.exp(intercept + sum(b * math.log1p(values[name]) for b, name in zip(slopes, self.features[1:])))


def family(row: Row) -> str | None:
    """`conv` or `convtranspose` for a convolution of any type (conv, dwconv, pwconv, gdc, ...), else None."""
    if row.groups is None:
        return None
    return "convtranspose" if "transpose" in row.type else "conv"


def torch_cpu_kernel(row: Row) -> str:
    """Which kernel torch's CPU convolution runs for the layer (float32, one thread): `slow` (its own unfold and GEMM,
    slow_conv2d/3d; for a transposed one, slow_conv_transpose2d/3d), `slow_dilated` (its own dilated one) or `onednn`.
    at::native's ConvParams::use_mkldnn takes oneDNN where (it is strided or dilated, the batch is 16 or more, or the
    kernel is not 1×1) and (it is grouped, the kernel's last two sizes are both over 3, the batch is over 1, or the
    input's first four sizes hold over 20,480 elements), and, transposed, no output padding reaches its stride; a 1-D
    input is viewed as N×C×1×L. On this machine a 14-channel 3×3 convolution of 20×20 ran 36 µs at dilation 1 and
    110 µs at dilation 2 (its own dilated kernel), a 64-channel one of 32×32 the same at both (oneDNN); a transposed
    4×4 of 3×8×8 (oneDNN) 89 µs, a transposed 3×2 of 25×5×12 (torch's own) 32 µs.
    tests/run/test_latency_model.py checks this against torch's own choice (torch._C._select_conv_backend).
    A row without its window (a `--depth` block) is `` (not told)."""
    if family(row) is None or not row.kernel or not row.in_shapes:
        return ""
    transposed = family(row) == "convtranspose"
    if transposed and any(pad >= stride for pad, stride in zip(row.output_padding, row.stride)):
        return "slow"
    c_in, *dims = row.in_shapes[0]
    batch = row.activations // math.prod(row.out_shape) if math.prod(row.out_shape) else 1
    kernel = (1, *row.kernel) if len(row.kernel) == 1 else row.kernel
    dims = [1, *dims] if len(dims) == 1 else dims
    strided, dilated = any(s != 1 for s in row.stride), any(d != 1 for d in row.dilation)
    first_four = batch * c_in * dims[0] * dims[1]
    onednn = ((strided or dilated or batch >= 16 or kernel[-1] != 1 or kernel[-2] != 1)
              and ((row.groups or 1) > 1 or (kernel[-1] > 3 and kernel[-2] > 3) or batch > 1 or first_four > 20480))
    return "onednn" if onednn else "slow_dilated" if dilated and not transposed else "slow"


def kind_of(row: Row) -> str:
    """`conv:grouped`, `convtranspose:depthwise`, `conv:gdc`, `bn`, `add`, ...: what the model fits one formula to.
    A convolution of a C×L or C×T×H×W input is `conv:1d` or `conv:3d` (torch runs other kernels there); a grouped 1×1
    convolution is `conv:grouped_pointwise` (ShuffleNet's, Table 2's: a GEMM per group, no unfolding, unlike a 3×3's).
    A convolution says which kernel torch runs for it: `conv:standard/onednn`, `conv:standard/slow`, `conv:1d/slow_dilated`
    (torch_cpu_kernel: they differ in their fixed cost and their cost per MAC)."""
    conv = family(row)
    if conv is None:
        return row.type
    if row.kind.startswith("grouped 1×1"):
        kind = f"{conv}:grouped_pointwise"
    elif " " in row.kind:
        kind = f"{conv}:{row.kind.split()[0].lower()}"
    else:
        kind = f"{conv}:{len(row.in_shapes[0]) - 1}d" if row.in_shapes else conv
    kernel = torch_cpu_kernel(row)
    return f"{kind}/{kernel}" if kernel else kind


def base_kind(kind: str) -> str:
    """The kind without the kernel a runtime picks: `conv:standard` for `conv:standard/slow`."""
    return kind.split("/")[0]


def feature_names(kind: str) -> tuple[str, ...]:
    """A convolution's features; a cost per MAC for every other type that counts MACs (fc, attention, squeeze-excitation,
    a matmul merge: MobileViT's attention blocks of 256 tokens took 10 ms, priced 3.4 ms by their bytes); bytes for the rest."""
    if kind.split(":")[0] in ("conv", "convtranspose"):
        return CONV_FEATURES
    if kind == "matmul" or getattr(LAYER_TYPES.get(kind), "counts_macs", False):
        return LINEAR_FEATURES
    return ELEMENTWISE_FEATURES


def _elements(row: Row) -> tuple[int, int]:
    """The elements the layer reads and writes, batch included."""
    out_per_sample = math.prod(row.out_shape)
    batch = row.activations // out_per_sample if out_per_sample else 1
    return batch * sum(math.prod(s) for s in row.in_shapes), row.activations


def moved_bytes(row: Row, dtype_bytes: int) -> int:
    """The bytes a layer reads, writes and weighs: what it passes through the caches."""
    in_elements, out_elements = _elements(row)
    return (in_elements + out_elements + row.params) * dtype_bytes


@dataclass(frozen=True)
class Reuse:
    """How long ago a layer's kind last ran in a network (its reuse distance): the bytes moved since, that run included,
    and the other kinds of layer that ran between."""

    bytes: int
    kinds: int


def reuse_distances(rows: Sequence[Row], dtype_bytes: int) -> list[Reuse | None]:
    """Per layer, how long ago a layer of its kind last ran; None where that layer ran just before it (no other kind
    between: it runs after itself, as when timed alone). Runs follow one another: a kind that runs once in a network last
    ran one whole network before."""
    moved = [moved_bytes(row, dtype_bytes) for row in rows]
    kinds = [kind_of(row) for row in rows]
    prefix = [0]
    for m in moved:
        prefix.append(prefix[-1] + m)
    total, count = prefix[-1], len(rows)
    last = {kind: k - count for k, kind in enumerate(kinds)}  # where each kind last ran in the run before (negative)
    distances: list[Reuse | None] = []
    for k, kind in enumerate(kinds):
        j = last[kind]
        if j == k - 1:
            distances.append(None)
        else:
            moved_since = prefix[k] - prefix[j] if j >= 0 else total - prefix[j + count] + prefix[k]
            distances.append(Reuse(moved_since, sum(1 for position in last.values() if position > j)))  # the kinds run since
        last[kind] = k
    return distances


def features(row: Row, dtype_bytes: int, since: Reuse | None = None) -> dict[str, float]:
    """Every feature a formula may use, from the row's exact counts and shapes and how long ago a layer of its kind last
    ran (`since`, reuse_distances; None: just before, as when it is timed alone, over and over)."""
    in_elements, out_elements = _elements(row)
    values = {
        "one": 1.0,
        "since_bytes": float(min(since.bytes if since is not None else moved_bytes(row, dtype_bytes), COLD)),
        "macs": float(row.macs + row.matmul_macs),  # attention's products of activations are multiply-adds too
        "in_bytes": float(in_elements * dtype_bytes),
        "out_bytes": float(out_elements * dtype_bytes),
        "weight_bytes": float(row.params * dtype_bytes),
        "spill_bytes": float(max(0, (in_elements + out_elements + row.params) * dtype_bytes - SPILL)),
        "im2col_bytes": 0.0,
        "group_positions": 0.0,
        "kinds_since": float(min(since.kinds, KINDS)) if since is not None else 0.0,
    }
    if row.groups and row.out_shape and row.out_shape[0]:
        per_group_out = row.out_shape[0] // row.groups or 1
        positions = out_elements // row.out_shape[0]
        values["im2col_bytes"] = float(row.macs // per_group_out * dtype_bytes)
        values["group_positions"] = float(row.groups * positions)
    return values


@dataclass(frozen=True)
class LatencyModel:
    """The fitted formulas by kind, on operations timed alone (`generic`: the fallback for a kind never measured);
    where the profile has them, the formulas fitted on layers timed inside networks (`in_context`, by kind: they take
    precedence) and the context (groupcost.run.context): the network call's own time, the time per layer beyond
    its formula's, and the correction of the formulas timed alone (under torch eager: of their fixed part, for the
    kinds without formulas in context)."""

    formulas: dict[str, Formula]
    context: Context | None = None
    in_context: dict[str, Formula] = field(default_factory=dict)

    def formula(self, row: Row, dtype_bytes: int = 4) -> tuple[str, Formula | None]:
        """The most specific formula fitted on layers of the row's size (Formula.covers), else the most specific one:
        the kind's, its base kind's, its family's, its type's, the generic one. Fitted on 1×1 kernels over 1×1 maps,
        `conv:gdc`'s formula priced MobileFaceNet's 7×7 GDC at 240× its time; its family's, fitted up to 38 MB, at 0.6×.
        The generic formula (bytes only) is never taken for its range: past its own, AlexNet's first fc was priced 9×
        fast by it, and 0.9× by its own formula."""
        kind = kind_of(row)
        keys = [key for key in dict.fromkeys((kind, base_kind(kind), family(row), row.type, GENERIC)) if key in self.formulas]
        for key in keys:
            if key != GENERIC and self.formulas[key].covers(row, dtype_bytes):
                return key, self.formulas[key]
        return (keys[0], self.formulas[keys[0]]) if keys else (GENERIC, None)

    def alone_parts(self, row: Row, dtype_bytes: int, since: Reuse | None = None) -> tuple[float, float]:
        """The layer's time as its formula gives it, measured alone, split into its fixed part and the part that grows
        with the layer ((0, 0) for a kind with no formula and no generic one)."""
        _, formula = self.formula(row, dtype_bytes)
        if formula is None:
            return 0.0, 0.0
        alone = max(formula.seconds(features(row, dtype_bytes, since)), 0.0)
        fixed = min(max(formula.fixed_seconds(), 0.0), alone)
        return fixed, alone - fixed

    def row_seconds(self, row: Row, dtype_bytes: int, since: Reuse | None = None) -> float:
        """The predicted time of one layer inside a network, `since` how long ago its kind last ran (reuse_distances).
        None: it runs after itself, its code hot, as the operations timed alone ran: their formula prices it (a network
        of one layer took 8-10 µs for a 1×1 convolution, as timed alone, where the formula in context said 18-21 µs).
        A kind with no formula in context is priced by its formula timed alone, corrected by the context."""
        kind = kind_of(row)
        measured_in_context = None if since is None else self.in_context.get(kind) or self.in_context.get(base_kind(kind))
        if measured_in_context is not None and measured_in_context.covers(row, dtype_bytes):
            per_layer = self.context.per_layer if self.context is not None else 0.0
            return max(measured_in_context.seconds(features(row, dtype_bytes, since)) + per_layer, 0.0)
        fixed, variable = self.alone_parts(row, dtype_bytes, since)
        if self.context is None:
            return fixed + variable
        if since is None and self.in_context:  # torch eager, after itself: as it was timed alone
            return max(self.context.per_layer + fixed + variable, 0.0)
        return max(self.context.layer_seconds(kind, fixed, variable), 0.0)

    def network_seconds(self) -> float:
        """The fixed time of calling the network, beyond its layers'."""
        return self.context.per_network if self.context is not None else 0.0
