"""Learned tokens put around a sequence of tokens: ViT's class token (DeiT's class and distillation tokens), and
YOLOS's detection tokens after the patches.

ViT (arXiv 2010.11929, §3.1) prepends a learnable embedding to the patch embeddings, and reads the
classifier from its output; DeiT (arXiv 2012.12877) prepends a second one, the distillation token.
YOLOS (arXiv 2106.00666, §2.1) appends 100 learnable detection tokens after the patch tokens, and reads
its boxes from their outputs. Each token is C parameters, the same for every sample (expanded over the
batch); no MACs.
"""

from __future__ import annotations

from dataclasses import dataclass

from groupcost.ops.adapters import OnnxGraph, Place, TorchModule
from groupcost.ops.base import Cost, Layer, LayerError, Shape, arg, format_shape, non_negative_int, positive_int
from groupcost.ops.registry import register


@register("class_token")
@dataclass(frozen=True)
class ClassToken(Layer):
    """Tokens C × L → C × (tokens + L + after): `tokens` learned tokens of C values each put first, `after` put last."""

    tokens: int = arg(positive_int, 1, "how many learned tokens are put first (ViT: 1, the class token; DeiT: 2, class and distillation)")
    after: int = arg(non_negative_int, 0, "how many learned tokens are put after the sequence (YOLOS: its 100 detection tokens)")

    def out_shape(self, x: Shape) -> Shape:
        if len(x) != 2:
            raise LayerError(f"class_token puts tokens before a sequence of tokens C × L, got {format_shape(x)}", "flatten the positions first (reshape to [C, L])")
        return (x[0], self.tokens + x[1] + self.after)

    def cost(self, x: Shape, y: Shape) -> Cost:
        return Cost(params=(self.tokens + self.after) * x[0])

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        return {"token": (1, x[0], self.tokens), **({"after_token": (1, x[0], self.after)} if self.after else {})}

    def forward(self, x, weights, counter):
        import numpy as np

        first = np.broadcast_to(weights["token"], (x.shape[0], x.shape[1], self.tokens)).astype(x.dtype)
        last = [np.broadcast_to(weights["after_token"], (x.shape[0], x.shape[1], self.after)).astype(x.dtype)] if self.after else []
        return np.concatenate([first, x, *last], axis=2)

    def torch_module(self, at: Place) -> TorchModule:
        after = f", after={self.after}" if self.after else ""
        return TorchModule(f"ClassToken({at.in_shape[0]}, {self.tokens}{after})", helpers=(("ClassToken", CLASS_TOKEN),))

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        shape = g.node("Shape", [x], f"{at.name}/Shape")
        batch = g.node("Slice", [shape, g.ints(f"{at.name}/zero", [0]), g.ints(f"{at.name}/one", [1])], f"{at.name}/Slice")
        target = g.node("Concat", [batch, g.ints(f"{at.name}/ones", [1, 1])], f"{at.name}/Concat", axis=0)
        token = g.node("Expand", [g.tensor(f"{at.name}.token", (1, at.in_shape[0], self.tokens), "kernel"), target], f"{at.name}/Expand")
        last = [g.node("Expand", [g.tensor(f"{at.name}.after_token", (1, at.in_shape[0], self.after), "kernel"), target], f"{at.name}/Expand_1")] if self.after else []
        g.node("Concat", [token, x, *last], at.name, axis=2)


CLASS_TOKEN = '''
class ClassToken(nn.Module):
    """Learned tokens (C values each) put before (and `after` of them after) the tokens of a channels-first sequence N × C × L."""

    def __init__(self, channels, tokens, after=0):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, channels, tokens))
        self.after_token = nn.Parameter(torch.zeros(1, channels, after)) if after else None

    def forward(self, x):
        last = [self.after_token.expand(x.shape[0], -1, -1)] if self.after_token is not None else []
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x, *last], 2)
'''
