"""Element-wise activations. None counts MACs; only PReLU has parameters."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable
from typing import Any, ClassVar

from groupcost.ops.adapters import OnnxGraph, Place, Raised, Raising, TorchModule, Unary
from groupcost.ops.base import Cost, Layer, LayerError, Shape, arg, boolean, dimension, one_of, real
from groupcost.ops.registry import LAYER_TYPES, register


def _sigmoid(np, x):
    return np.exp(-np.logaddexp(0, -x))  # stable for large |x|


def erf(np, x):
    """erf to ~1e-14, vectorised (numpy has none, scipy is no dependency): its Maclaurin series below
    |x| = 2.5, and above it erfc's continued fraction, erfc(x) = e^(−x²)/√π · 1/(x + ½/(x + 1/(x + ³⁄₂/(x + ...)))).
    Each part is computed only where it applies, in place."""
    a = np.abs(x.astype(np.float64)).ravel()
    out = np.empty_like(a)
    small = a < 2.5
    z = a[small]
    term, total, z2 = z.copy(), z.copy(), z * z
    for n in range(1, 60):
        term *= z2
        term *= -1.0 / n
        total += term * (1.0 / (2 * n + 1))
    out[small] = total * (2.0 / np.sqrt(np.pi))
    large = a[~small]
    fraction = large.copy()
    for k in range(60, 0, -1):
        fraction = large + (k / 2.0) / fraction
    out[~small] = 1.0 - np.exp(-large * large) / (np.sqrt(np.pi) * fraction)
    return np.sign(x) * out.reshape(x.shape)


@dataclass(frozen=True)
class Activation(Layer):
    """An element-wise function: shape unchanged, no parameters."""

    kernel: ClassVar[Callable] = staticmethod(lambda np, x: x)

    def forward(self, x, weights, counter):
        import numpy as np

        return self.kernel(np, x).astype(x.dtype, copy=False)

    # set by _plain for each activation; PReLU, with its parameters, writes its own modules and nodes
    torch_class: ClassVar[str]  # the torch module class
    torch_args: ClassVar[str]  # what the graph form passes it (groupcost's constants, e.g. LeakyReLU's slope)
    torch_args_needed: ClassVar[bool]  # torch has no default for them (Softmax's dim): the raised form passes them too
    onnx: ClassVar[Callable]  # (graph, place, input) → the nodes

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(self.torch_text())

    @classmethod
    def torch_text(cls) -> str:
        """The module in the graph form, also inside a squeeze-and-excitation."""
        return f"{cls.torch_class}({cls.torch_args})"

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"{cls.torch_class}({cls.torch_args if cls.torch_args_needed else ''})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        self.onnx(g, at, x)


def _plain(name: str, *aliases: str, doc: str, kernel: Callable, torch: str, onnx: Callable) -> type[Activation]:
    # A subclass that adds no fields needs no @dataclass of its own (and skips its slow codegen).
    torch_class, _, torch_args = torch.partition("(")
    attrs = {"__doc__": doc, "__module__": __name__, "kernel": staticmethod(kernel), "torch_class": torch_class,
             "torch_args": torch_args.rstrip(")"), "torch_args_needed": False, "onnx": staticmethod(onnx)}
    return register(name, *aliases)(type(name.capitalize(), (Activation,), attrs))


def _relu6_onnx(g: OnnxGraph, at: Place, x: str) -> None:
    g.node("Clip", [x, g.tensor(f"{at.name}.min", (), "zeros"), g.tensor(f"{at.name}.max", (), "6")], at.name)


def _silu_onnx(g: OnnxGraph, at: Place, x: str) -> None:
    g.node("Mul", [x, g.node("Sigmoid", [x], f"{at.name}/sigmoid")], at.name)


# name, aliases, what it computes, its NumPy kernel, its torch module (graph form), its ONNX nodes
for _name, _aliases, _doc, _kernel, _torch, _onnx in (
    ("relu", (), "max(0, x)", lambda np, x: np.maximum(x, 0), "nn.ReLU()", Unary("Relu")),
    ("relu6", (), "min(max(0, x), 6)", lambda np, x: np.clip(x, 0, 6), "nn.ReLU6()", _relu6_onnx),
    ("elu", (), "x if x > 0 else exp(x) − 1", lambda np, x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), "nn.ELU()", Unary("Elu", {"alpha": 1.0})),
    ("sigmoid", (), "1 / (1 + exp(−x))", _sigmoid, "nn.Sigmoid()", Unary("Sigmoid")),
    ("hsigmoid", ("hardsigmoid",), "relu6(x + 3) / 6", lambda np, x: np.clip(x + 3, 0, 6) / 6, "nn.Hardsigmoid()", Unary("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5})),
    ("silu", ("swish",), "x·sigmoid(x)", lambda np, x: x * _sigmoid(np, x), "nn.SiLU()", _silu_onnx),
    ("hswish", ("hardswish",), "x·relu6(x + 3) / 6", lambda np, x: x * np.clip(x + 3, 0, 6) / 6, "nn.Hardswish()", Unary("HardSwish")),
    ("tanh", (), "tanh(x)", lambda np, x: np.tanh(x), "nn.Tanh()", Unary("Tanh")),
    ("mish", (), "x·tanh(softplus(x))", lambda np, x: x * np.tanh(np.logaddexp(0, x)), "nn.Mish()", Unary("Mish")),
    ("identity", (), "x, unchanged", lambda np, x: x, "nn.Identity()", Unary("Identity")),
):
    _plain(_name, *_aliases, doc=_doc, kernel=_kernel, torch=_torch, onnx=_onnx)


@register("leakyrelu", "leaky_relu")
@dataclass(frozen=True)
class LeakyReLU(Activation):
    """x if x > 0 else slope·x, as torch.nn.LeakyReLU(negative_slope): 0.01 by default, Darknet's and YOLOv3's 0.1."""

    slope: float = arg(real, 0.01, "the slope below 0 (torch's negative_slope, ONNX's alpha)")

    torch_class = "nn.LeakyReLU"
    torch_args = "0.01"
    torch_args_needed = False

    def forward(self, x, weights, counter):
        import numpy as np

        return np.where(x > 0, x, x * np.asarray(self.slope, dtype=x.dtype))

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"nn.LeakyReLU({self.slope!r})")

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"nn.LeakyReLU({r.a('slope') or ''})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        g.node("LeakyRelu", [x], at.name, alpha=self.slope)


@register("gelu")
@dataclass(frozen=True)
class Gelu(Activation):
    """x·Φ(x), as torch.nn.GELU; `approximate: tanh` is its tanh form,
    ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (timm's `gelu_tanh`)."""

    approximate: str = arg(one_of("none", "tanh"), "none", "none: the exact x·Φ(x); tanh: PyTorch's tanh approximation")

    torch_class = "nn.GELU"
    torch_args = ""
    torch_args_needed = False

    def forward(self, x, weights, counter):
        import numpy as np

        if self.approximate == "tanh":
            y = 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))
        else:
            y = 0.5 * x * (1.0 + erf(np, x / np.sqrt(2.0)))
        return y.astype(x.dtype, copy=False)

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule("nn.GELU(approximate='tanh')" if self.approximate == "tanh" else "nn.GELU()")

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"nn.GELU({'approximate=' + r.a('approximate') if r.a('approximate') else ''})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        g.node("Gelu", [x], at.name, **({"approximate": "tanh"} if self.approximate == "tanh" else {}))


@register("softmax")
@dataclass(frozen=True)
class Softmax(Activation):
    """exp(x) / Σ exp(x) along one dimension, as torch.nn.Softmax(dim): dim 1 (the channels) by default.

    `dim` numbers the dimensions as PyTorch does with the batch: 0 is the batch (refused: a softmax
    over the batch mixes samples), 1 the channels, -1 the last dimension.
    """

    dim: int = arg(dimension, 1, "the dimension it normalises, PyTorch's numbering (0 = batch, 1 = channels, -1 = last)")

    torch_class = "nn.Softmax"
    torch_args = "dim=1"
    torch_args_needed = True  # torch has no default dim

    def axis(self, x: Shape) -> int:
        """`dim` as a non-negative axis of the batched tensor (N, *x)."""
        rank = len(x) + 1
        if not -rank <= self.dim < rank:
            raise LayerError(f"softmax dim {self.dim} is out of range for an input of {rank} dimensions with the batch", f"dim is one of {-rank}..{rank - 1}; 1 is the channels", arg="dim")
        axis = self.dim % rank
        if axis == 0:
            raise LayerError("softmax over dim 0 normalises across the batch", "dim 0 is the batch: use 1 for the channels or -1 for the last dimension", arg="dim")
        return axis

    def out_shape(self, x: Shape) -> Shape:
        self.axis(x)
        return x

    def forward(self, x, weights, counter):
        import numpy as np

        axis = self.axis(x.shape[1:])
        shifted = np.exp(x - x.max(axis=axis, keepdims=True))
        return (shifted / shifted.sum(axis=axis, keepdims=True)).astype(x.dtype, copy=False)

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"nn.Softmax(dim={self.dim})")

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"nn.Softmax(dim={r.a('dim') or 1})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        g.node("Softmax", [x], at.name, axis=self.axis(at.in_shape))


@register("prelu")
@dataclass(frozen=True)
class PReLU(Activation):
    """x if x > 0 else a·x with a learned slope a per channel (or one shared, as torch's default)."""

    shared: bool = arg(boolean, False, "one slope for all channels instead of one per channel")

    def cost(self, x: Shape, y: Shape) -> Cost:
        return Cost(params=1 if self.shared else x[0])

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        return {"weight": (1 if self.shared else x[0],)}

    def forward(self, x, weights, counter):
        import numpy as np

        slope = weights["weight"].reshape((1, -1) + (1,) * (x.ndim - 2))
        return np.where(x > 0, x, slope * x)

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"nn.PReLU({1 if self.shared else at.in_shape[0]})")

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        shared = r.a("shared")
        return Raised(f"nn.PReLU(1 if {shared} else shape[0])" if shared else "nn.PReLU(shape[0])")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        n = 1 if self.shared else at.in_shape[0]
        dims = (n,) + (1,) * (len(at.in_shape) - 1) if n > 1 else (1,)  # broadcast against N×C×H×W
        g.node("PRelu", [x, g.tensor(f"{at.name}.weight", dims, "0.25")], at.name)


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


def plain_activation_name(value: Any) -> str:
    """Converter for an activation without parameters (inside `se`)."""
    if value not in plain_activation_name.choices:  # type: ignore[attr-defined]
        raise LayerError(f"unknown activation {value!r}", f"one of {', '.join(plain_activation_name.choices)}")  # type: ignore[attr-defined]
    return value


plain_activation_name.choices = tuple(k for k in activation_name.choices if LAYER_TYPES[k].weight_shapes is Layer.weight_shapes)  # type: ignore[attr-defined]


def plain_activations() -> tuple[type[Activation], ...]:
    """The activation types without parameters, each once (no aliases), in registration order."""
    return tuple(LAYER_TYPES[k] for k in plain_activation_name.choices if LAYER_TYPES[k].type_name == k)  # type: ignore[attr-defined]
