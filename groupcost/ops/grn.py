"""Global response normalisation (ConvNeXt V2, arXiv 2301.00808, Algorithm 1): 2·C parameters, no MACs."""

from __future__ import annotations

from dataclasses import dataclass

from groupcost.ops.adapters import OnnxGraph, Place, Raised, Raising, TorchModule
from groupcost.ops.base import Cost, Layer, LayerError, Shape, arg, format_shape, positive_real
from groupcost.ops.registry import register


@register("grn")
@dataclass(frozen=True)
class GlobalResponseNorm(Layer):
    """x + γ·(x·N(x)) + β, where G(x) is each channel's L2 norm over the positions and
    N(x) = G(x) / (mean of G(x) over the channels + eps); γ and β one per channel."""

    eps: float = arg(positive_real, 1e-6, "added to the channels' mean norm (ConvNeXt V2: 1e-6)")

    def out_shape(self, x: Shape) -> Shape:
        if len(x) < 2:
            raise LayerError(f"grn normalises over the positions of a feature map, got {format_shape(x)}", "use it on C×L, C×H×W or C×T×H×W")
        return x

    def cost(self, x: Shape, y: Shape) -> Cost:
        return Cost(params=2 * x[0])

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        return {"gamma": (x[0],), "beta": (x[0],)}

    def forward(self, x, weights, counter):
        import numpy as np

        per_channel = (1, -1) + (1,) * (x.ndim - 2)
        g = np.sqrt((x.astype(np.float64) ** 2).sum(axis=tuple(range(2, x.ndim)), keepdims=True))
        n = g / (g.mean(axis=1, keepdims=True) + self.eps)
        y = weights["gamma"].reshape(per_channel) * (x * n) + weights["beta"].reshape(per_channel) + x
        return y.astype(x.dtype, copy=False)

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"GRN({at.in_shape[0]}, eps={self.eps!r})", helpers=(("GRN", GRN),))

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"{r.need('GRN')}(shape[0]{r.kw('eps')})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        rank = len(at.in_shape) + 1
        per_channel = (at.in_shape[0],) + (1,) * (rank - 2)
        norm = g.node("ReduceL2", [x, g.ints(f"{at.name}/positions", list(range(2, rank)))], f"{at.name}/ReduceL2", keepdims=1)
        mean = g.node("ReduceMean", [norm, g.ints(f"{at.name}/channels", [1])], f"{at.name}/ReduceMean", keepdims=1)
        shifted = g.node("Add", [mean, g.tensor(f"{at.name}/eps", (), repr(self.eps))], f"{at.name}/Add")
        normalised = g.node("Div", [norm, shifted], f"{at.name}/Div")
        response = g.node("Mul", [x, normalised], f"{at.name}/Mul")
        scaled = g.node("Mul", [g.tensor(f"{at.name}.gamma", per_channel, "kernel"), response], f"{at.name}/Mul_1")
        shifted_back = g.node("Add", [scaled, g.tensor(f"{at.name}.beta", per_channel, "kernel")], f"{at.name}/Add_1")
        g.node("Add", [x, shifted_back], at.name)


GRN = '''
class GRN(nn.Module):
    """Global response normalisation (ConvNeXt V2) on a channels-first tensor: gamma, beta one per channel."""

    def __init__(self, channels, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        per_channel = (1, -1) + (1,) * (x.dim() - 2)
        g = torch.linalg.vector_norm(x, 2, dim=tuple(range(2, x.dim())), keepdim=True)
        n = g / (g.mean(dim=1, keepdim=True) + self.eps)
        return self.gamma.view(per_channel) * (x * n) + self.beta.view(per_channel) + x
'''
