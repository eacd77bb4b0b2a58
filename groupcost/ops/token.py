"""Learned tokens put before a sequence of tokens: ViT's class token (DeiT's class and distillation tokens).

ViT (arXiv 2010.11929, §3.1) prepends a learnable embedding to the patch embeddings, and reads the
classifier from its output; DeiT (arXiv 2012.12877) prepends a second one, the distillation token.
Each token is C parameters, the same for every sample (expanded over the batch); no MACs.
"""

from __future__ import annotations

from dataclasses import dataclass

from groupcost.ops.adapters import OnnxGraph, Place, TorchModule
from groupcost.ops.base import Cost, Layer, LayerError, Shape, arg, format_shape, positive_int
from groupcost.ops.registry import register


@register("class_token")
@dataclass(frozen=True)
class ClassToken(Layer):
    """Tokens C × L → C × (tokens + L): `tokens` learned tokens of C values each, put first."""

    tokens: int = arg(positive_int, 1, "how many learned tokens are put first (ViT: 1, the class token; DeiT: 2, class and distillation)")

    def out_shape(self, x: Shape) -> Shape:
        if len(x) != 2:
            raise LayerError(f"class_token puts tokens before a sequence of tokens C × L, got {format_shape(x)}", "flatten the positions first (reshape to [C, L])")
        return (x[0], self.tokens + x[1])

    def cost(self, x: Shape, y: Shape) -> Cost:
        return Cost(params=self.tokens * x[0])

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        return {"token": (1, x[0], self.tokens)}

    def forward(self, x, weights, counter):
        import numpy as np

        token = np.broadcast_to(weights["token"], (x.shape[0], x.shape[1], self.tokens)).astype(x.dtype)
        return np.concatenate([token, x], axis=2)

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"ClassToken({at.in_shape[0]}, {self.tokens})", helpers=(("ClassToken", CLASS_TOKEN),))

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        shape = g.node("Shape", [x], f"{at.name}/Shape")
        batch = g.node("Slice", [shape, g.ints(f"{at.name}/zero", [0]), g.ints(f"{at.name}/one", [1])], f"{at.name}/Slice")
        target = g.node("Concat", [batch, g.ints(f"{at.name}/ones", [1, 1])], f"{at.name}/Concat", axis=0)
        token = g.node("Expand", [g.tensor(f"{at.name}.token", (1, at.in_shape[0], self.tokens), "kernel"), target], f"{at.name}/Expand")
        g.node("Concat", [token, x], at.name, axis=2)


CLASS_TOKEN = '''
class ClassToken(nn.Module):
    """Learned tokens (C values each) put before the tokens of a channels-first sequence N × C × L."""

    def __init__(self, channels, tokens):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, channels, tokens))

    def forward(self, x):
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], 2)
'''
