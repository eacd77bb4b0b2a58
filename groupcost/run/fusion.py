"""The layers ONNX Runtime fuses into the convolution before them, so that a fused group is priced as one kernel.

Observed in ONNX Runtime's optimised model (`SessionOptions.optimized_model_filepath`, every optimisation on, CPU)
for groupcost's ONNX export of ResNet-18, MobileNet V3, ShuffleNet V2, RegNetY and random chains: a 2-D
convolution absorbs the batch norm after it, a residual add after that, and one activation among ReLU, ReLU6
(Clip), hard swish, hard sigmoid and sigmoid; PReLU, multiplies, pools and everything else stay kernels of their own,
but for dropout and identity, which are no kernel at all.

The rows carry no graph edges, so a layer counts as the next in a group when it comes right after the group's
last layer and reads a tensor of that layer's shape: a sequential reading that matches conv → bn → act blocks
and residual adds; a branch that reads the same shape right after another branch's convolution is
taken as fused too (its time is then left out).
"""

from __future__ import annotations

from groupcost.graph.analysis import Row

NORMS = frozenset({"bn", "frozenbn"})
ACTIVATIONS = frozenset({"relu", "relu6", "hswish", "hsigmoid", "sigmoid"})
REMOVED = frozenset({"dropout", "identity"})
"""Layers that are no kernel at all in an optimised inference graph (ONNX Runtime drops Identity)."""
ORDER = ("conv", "norm", "add", "activation")
"""A fused group's layers in the order ONNX Runtime takes them: each at most once, none after an activation."""


def _stage(row: Row) -> str | None:
    if row.type in NORMS:
        return "norm"
    if row.type == "add":
        return "add"
    if row.type in ACTIVATIONS:
        return "activation"
    return None


def _is_2d_conv(row: Row) -> bool:
    return row.groups is not None and "transpose" not in row.type and len(row.in_shapes) == 1 and len(row.in_shapes[0]) == 3


def fused_into(rows: tuple[Row, ...]) -> list[bool]:
    """Per row: True where ONNX Runtime runs it inside the convolution kernel of an earlier row, or not at all."""
    absorbed = [False] * len(rows)
    stage: str | None = None  # where the current group is in ORDER; None: no open group
    for k, row in enumerate(rows):
        if row.type in REMOVED:
            absorbed[k] = True
            continue
        if _is_2d_conv(row):
            stage = "conv"
            continue
        next_stage = _stage(row)
        previous = rows[k - 1] if k else None
        fits = (stage is not None and next_stage is not None and previous is not None and ORDER.index(next_stage) > ORDER.index(stage)
                and row.in_shapes and row.in_shapes[0] == previous.out_shape and (next_stage != "norm" or stage == "conv"))
        if fits:
            absorbed[k] = True
            stage = next_stage
        else:
            stage = None
    return absorbed
