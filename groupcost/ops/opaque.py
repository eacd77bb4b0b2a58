"""An operator groupcost does not model, kept by `groupcost import --allow-unknown`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from groupcost.ops.adapters import OnnxGraph, Place, TorchModule, refused
from groupcost.ops.base import Cost, Layer, LayerError, Shape, arg, non_negative_int, positive_int
from groupcost.ops.registry import register


def word(value: Any) -> str:
    """A name taken as written (an operator's name), never an expression."""
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise LayerError(f"expected a word, got {value!r}")
    return value


word.choices = ()  # type: ignore[attr-defined]  # taken as text, not evaluated; any word


def shape(value: Any) -> tuple[int, ...]:
    """An output shape without the batch: [C, H, W] or [F]."""
    if not isinstance(value, list) or not value:
        raise LayerError(f"expected a shape such as [64, 56, 56], got {value!r}")
    return tuple(positive_int(v) for v in value)


@register("opaque")
@dataclass(frozen=True)
class Opaque(Layer):
    """An operator groupcost does not model: its output shape given, its parameters counted, no MACs."""

    op: str = arg(word, doc="the source operator, e.g. onnx:NonMaxSuppression")
    out: tuple[int, ...] = arg(shape, doc="output shape without the batch, from the source's shape inference")
    params: int = arg(non_negative_int, 0, "learnable parameters (the operator's initializers)")

    def out_shape(self, x: Shape) -> Shape:
        return self.out

    def cost(self, x: Shape, y: Shape) -> Cost:
        return Cost(params=self.params)

    def forward(self, x, weights, counter):
        raise LayerError(f"opaque operator {self.op} cannot be executed", "groupcost knows its shape and parameters, not what it computes")

    def torch_module(self, at: Place) -> TorchModule:
        raise refused(self.type_name, at, self.op, "PyTorch")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        raise refused(self.type_name, at, self.op, "ONNX")
