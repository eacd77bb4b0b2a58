"""Squeeze-and-excitation: channel attention reported as one row."""

from __future__ import annotations

from dataclasses import dataclass

from groupcost.ops.activation import plain_activation_name
from groupcost.ops.adapters import OnnxGraph, Place, Raised, Raising, TorchModule
from groupcost.ops.base import Cost, Layer, Shape, arg, feature_map, positive_int
from groupcost.ops.registry import LAYER_TYPES, register


@register("se")
@dataclass(frozen=True)
class SqueezeExcitation(Layer):
    """GAP → 1×1 conv C→S (bias) → act → 1×1 conv S→C (bias) → gate → scale the input.

    As torchvision's SqueezeExcitation; the two 1×1 convs count as convolution MACs.
    """

    counts_macs = True

    squeeze: int = arg(positive_int, doc="squeeze channels S, e.g. divisible(c_in / 4, 8)")
    act: str = arg(plain_activation_name, "relu", "activation between the two convs")
    gate: str = arg(plain_activation_name, "sigmoid", "gating activation (sigmoid or hsigmoid)")

    def out_shape(self, x: Shape) -> Shape:
        feature_map(x, self.type_name)
        return x

    def cost(self, x: Shape, y: Shape) -> Cost:
        c = x[0]
        weights = 2 * c * self.squeeze
        return Cost(params=weights + self.squeeze + c, macs=weights, weights=weights)

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        c, s = x[0], self.squeeze
        return {"fc1.weight": (s, c, 1, 1), "fc1.bias": (s,), "fc2.weight": (c, s, 1, 1), "fc2.bias": (c,)}

    def forward(self, x, weights, counter):
        from groupcost.ops.registry import LAYER_TYPES

        pooled = x.mean(axis=(2, 3))
        hidden = LAYER_TYPES[self.act]().forward(counter.matmul(pooled, weights["fc1.weight"][:, :, 0, 0].T) + weights["fc1.bias"], {}, counter)
        scale = LAYER_TYPES[self.gate]().forward(counter.matmul(hidden, weights["fc2.weight"][:, :, 0, 0].T) + weights["fc2.bias"], {}, counter)
        return x * scale[:, :, None, None]

    def torch_module(self, at: Place) -> TorchModule:
        act, gate = LAYER_TYPES[self.act].torch_text(), LAYER_TYPES[self.gate].torch_text()
        return TorchModule(f"SqueezeExcitation({at.in_shape[0]}, {self.squeeze}, {act}, {gate})", helpers=(("SqueezeExcitation", SQUEEZE_EXCITATION),))

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"{r.need('SqueezeExcitation')}(shape[0], {r.a('squeeze')}{r.kw('act', 'gate')})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        name = at.name
        params = {key: g.tensor(f"{name}.{key}", dims, "kernel" if key.endswith("weight") else "zeros") for key, dims in self.weight_shapes(at.in_shape).items()}
        pooled = g.node("GlobalAveragePool", [x], f"{name}/squeeze")
        hidden = g.node("Conv", [pooled, params["fc1.weight"], params["fc1.bias"]], f"{name}.fc1", kernel_shape=[1, 1])
        LAYER_TYPES[self.act]().onnx_nodes(g, Place(f"{name}.act", (), ()), hidden)
        scale = g.node("Conv", [f"{name}.act", params["fc2.weight"], params["fc2.bias"]], f"{name}.fc2", kernel_shape=[1, 1])
        LAYER_TYPES[self.gate]().onnx_nodes(g, Place(f"{name}.gate", (), ()), scale)
        g.node("Mul", [x, f"{name}.gate"], name)


SQUEEZE_EXCITATION = '''
class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation: global average, 1×1 conv C→S, act, 1×1 conv S→C, gate, scale the input."""

    def __init__(self, channels: int, squeeze: int, act: nn.Module, gate: nn.Module):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.act = act
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.gate = gate

    def forward(self, x):
        scale = self.gate(self.fc2(self.act(self.fc1(x.mean((2, 3), keepdim=True)))))
        return x * scale
'''
