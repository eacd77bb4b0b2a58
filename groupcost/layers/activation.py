"""Element-wise activations. None counts MACs; only PReLU has parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from groupcost.layers.base import Cost, Layer, LayerError, Shape, arg, boolean
from groupcost.layers.registry import LAYER_TYPES, register


@dataclass(frozen=True)
class Activation(Layer):
    """An element-wise function: shape unchanged, no parameters."""


def _plain(name: str, *aliases: str, doc: str) -> type[Activation]:
    # A subclass that adds no fields needs no @dataclass of its own (and skips its slow codegen).
    return register(name, *aliases)(type(name.capitalize(), (Activation,), {"__doc__": doc, "__module__": __name__}))


for _name, _aliases, _doc in (
    ("relu", (), "max(0, x)"),
    ("relu6", (), "min(max(0, x), 6)"),
    ("leakyrelu", ("leaky_relu",), "x if x > 0 else 0.01·x"),
    ("elu", (), "x if x > 0 else exp(x) − 1"),
    ("gelu", (), "x·Φ(x)"),
    ("sigmoid", (), "1 / (1 + exp(−x))"),
    ("hsigmoid", ("hardsigmoid",), "relu6(x + 3) / 6"),
    ("silu", ("swish",), "x·sigmoid(x)"),
    ("hswish", ("hardswish",), "x·relu6(x + 3) / 6"),
    ("tanh", (), "tanh(x)"),
    ("mish", (), "x·tanh(softplus(x))"),
    ("softmax", (), "softmax over channels"),
    ("identity", (), "x, unchanged"),
):
    _plain(_name, *_aliases, doc=_doc)


@register("prelu")
@dataclass(frozen=True)
class PReLU(Activation):
    """x if x > 0 else a·x with a learned slope a per channel (or one shared, as torch's default)."""

    shared: bool = arg(boolean, False, "one slope for all channels instead of one per channel")

    def cost(self, x: Shape, y: Shape) -> Cost:
        return Cost(params=1 if self.shared else x[0])


def activation_name(value: Any) -> str:
    """Converter for arguments that name an activation (`act: relu`)."""
    cls = LAYER_TYPES.get(value) if isinstance(value, str) else None
    if cls is None or not issubclass(cls, Activation):
        names = sorted(k for k, v in LAYER_TYPES.items() if issubclass(v, Activation))
        raise LayerError(f"unknown activation {value!r}", f"one of {', '.join(names)}")
    return value


def activation(name: str) -> Activation:
    return LAYER_TYPES[name]()


activation_name.choices = tuple(k for k, v in LAYER_TYPES.items() if issubclass(v, Activation))  # type: ignore[attr-defined]
