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
from dataclasses import dataclass, field

from groupcost.graph.analysis import Row
from groupcost.run.context import Context

GENERIC = "generic"
TECHNIQUES = ("linear", "loglinear")

CONV_FEATURES = ("one", "macs", "in_bytes", "out_bytes", "weight_bytes", "spill_bytes", "im2col_bytes", "group_positions")
"""A convolution's features: a fixed overhead, its MACs, the bytes it reads and writes, its weights'
bytes, the bytes beyond what a core's cache holds (SPILL), the bytes of its unfolded input (positions ×
C_in·k², what a GEMM-based kernel copies), and G × output positions (each group is a GEMM of its own:
small per-group matrices run below peak)."""
LINEAR_FEATURES = ("one", "macs", "in_bytes", "out_bytes", "weight_bytes", "spill_bytes")
ELEMENTWISE_FEATURES = ("one", "in_bytes", "out_bytes", "weight_bytes", "spill_bytes")
"""Every other layer and merge: a fixed overhead and the bytes it moves."""
FEATURES = CONV_FEATURES
"""Every feature name a formula may use."""
SPILL = 2**20
"""Bytes a layer may move before it leaves a core's cache (1 MiB, an L2's order): past it, a byte costs a
trip to memory, so a layer that moves more is slower per byte than the small ones calibrate measures most."""


@dataclass(frozen=True)
class Formula:
    """One kind's fitted formula: its form, feature names and coefficients, and how well it did on
    layers it was not fitted on (median |predicted − measured| / measured, cross-validated)."""

    technique: str
    features: tuple[str, ...]
    coefficients: tuple[float, ...]
    samples: int
    heldout_error: float

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


def kind_of(row: Row) -> str:
    """`conv:grouped`, `convtranspose:depthwise`, `conv:gdc`, `bn`, `add`, ...: what the model fits one formula to.
    A convolution of a C×L or C×T×H×W input is `conv:1d` or `conv:3d` (torch runs other kernels there); a grouped 1×1
    convolution is `conv:grouped_pointwise` (ShuffleNet's, Table 2's: a GEMM per group, no unfolding, unlike a 3×3's)."""
    conv = family(row)
    if conv is None:
        return row.type
    if row.kind.startswith("grouped 1×1"):
        return f"{conv}:grouped_pointwise"
    if " " in row.kind:
        return f"{conv}:{row.kind.split()[0].lower()}"
    return f"{conv}:{len(row.in_shapes[0]) - 1}d" if row.in_shapes else conv


def feature_names(kind: str) -> tuple[str, ...]:
    if kind.split(":")[0] in ("conv", "convtranspose"):
        return CONV_FEATURES
    if kind in ("fc", "linear"):
        return LINEAR_FEATURES
    return ELEMENTWISE_FEATURES


def features(row: Row, dtype_bytes: int) -> dict[str, float]:
    """Every feature a formula may use, from the row's exact counts and shapes."""
    out_per_sample = math.prod(row.out_shape)
    batch = row.activations // out_per_sample if out_per_sample else 1
    in_elements = batch * sum(math.prod(s) for s in row.in_shapes)
    out_elements = row.activations
    values = {
        "one": 1.0,
        "macs": float(row.macs + row.matmul_macs),  # attention's products of activations are multiply-adds too
        "in_bytes": float(in_elements * dtype_bytes),
        "out_bytes": float(out_elements * dtype_bytes),
        "weight_bytes": float(row.params * dtype_bytes),
        "spill_bytes": float(max(0, (in_elements + out_elements + row.params) * dtype_bytes - SPILL)),
        "im2col_bytes": 0.0,
        "group_positions": 0.0,
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
    its formula's, and the correction of the formulas timed alone (1 where formulas in context were measured)."""

    formulas: dict[str, Formula]
    context: Context | None = None
    in_context: dict[str, Formula] = field(default_factory=dict)

    def formula(self, row: Row) -> tuple[str, Formula | None]:
        kind = kind_of(row)
        for key in (kind, family(row), row.type, GENERIC):
            if key in self.formulas:
                return key, self.formulas[key]
        return GENERIC, None

    def alone_parts(self, row: Row, dtype_bytes: int) -> tuple[float, float]:
        """The layer's time as its formula gives it, measured alone, split into its fixed part and the part that grows
        with the layer ((0, 0) for a kind with no formula and no generic one). A block of `--depth` has lost its layers'
        kinds: the generic formula prices the bytes it moves."""
        _, formula = self.formula(row)
        if formula is None:
            return 0.0, 0.0
        alone = max(formula.seconds(features(row, dtype_bytes)), 0.0)
        fixed = min(max(formula.fixed_seconds(), 0.0), alone)
        return fixed, alone - fixed

    def row_seconds(self, row: Row, dtype_bytes: int) -> float:
        """The predicted time of one layer inside a network."""
        measured_in_context = self.in_context.get(kind_of(row))
        if measured_in_context is not None:
            per_layer = self.context.per_layer if self.context is not None else 0.0
            return max(measured_in_context.seconds(features(row, dtype_bytes)) + per_layer, 0.0)
        fixed, variable = self.alone_parts(row, dtype_bytes)
        return max(self.context.layer_seconds(kind_of(row), fixed, variable), 0.0) if self.context is not None else fixed + variable

    def network_seconds(self) -> float:
        """The fixed time of calling the network, beyond its layers'."""
        return self.context.per_network if self.context is not None else 0.0
