"""Attention layers, each reported as one row: squeeze-and-excitation (channel attention) and
multi-head self-attention over the positions of a feature map."""

from __future__ import annotations

import math
from dataclasses import dataclass

from groupcost.ops.activation import plain_activation_name
from groupcost.ops.adapters import OnnxGraph, Place, Raised, Raising, TorchModule
from groupcost.ops.base import Cost, Layer, LayerError, Shape, arg, boolean, feature_map, format_shape, non_negative_int, positive_int
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


@register("attention")
@dataclass(frozen=True)
class SelfAttention(Layer):
    """Multi-head self-attention over the N positions of a C×L, C×H×W or C×T×H×W input, as
    torch.nn.MultiheadAttention(C, heads, batch_first=True) applied to the flattened tokens (N×C)
    and folded back to the input's shape.

    Q, K, V = tokens·W_inᵀ (+ b), per head softmax(Q·Kᵀ/√d)·V with d = C / heads, then the output
    projection. The projections are linear MACs (4·C²·N); the two products of activations, Q·Kᵀ
    and A·V, are matmul MACs (N²·C each, 2·N²·C in all). With `batch_dims` k, each index of the
    first k positional dims is a sequence of its own (MobileViT's S patch pixels, each attending
    over its L = N / S patches): the tokens S×L×C attend per sequence, 2·S·L²·C matmul MACs.
    """

    counts_macs = True

    heads: int = arg(positive_int, doc="attention heads; must divide the channels C")
    bias: bool = arg(boolean, True, "biases of the input and output projections")
    batch_dims: int = arg(non_negative_int, 0, "leading positional dims whose every index is a sequence of its own (MobileViT's patch pixels); 0: one sequence")

    def sequences(self, x: Shape) -> tuple[int, int]:
        """(S, L): the sequences and the tokens in each."""
        return math.prod(x[1:1 + self.batch_dims]), math.prod(x[1 + self.batch_dims:])

    def out_shape(self, x: Shape) -> Shape:
        if self.batch_dims >= len(x) - 1 and self.batch_dims:
            raise LayerError(f"attention batch_dims={self.batch_dims} leaves no positions of {format_shape(x)} to attend over",
                             f"batch_dims is at most {len(x) - 2}", arg="batch_dims")
        if len(x) == 1:
            raise LayerError(f"attention needs C×L, C×H×W or C×T×H×W tokens, got the flat vector {format_shape(x)}", "put it before `flatten`")
        if x[0] % self.heads:
            raise LayerError(f"attention heads={self.heads} must divide the channels C={x[0]}",
                             f"heads is one of {', '.join(str(h) for h in range(1, x[0] + 1) if x[0] % h == 0)}", arg="heads")
        return x

    def cost(self, x: Shape, y: Shape) -> Cost:
        c, (sequences, tokens) = x[0], self.sequences(x)
        weights = 4 * c * c
        return Cost(params=weights + (4 * c if self.bias else 0), macs=weights * sequences * tokens, weights=weights, matmul_macs=2 * sequences * tokens * tokens * c)

    def weight_shapes(self, x: Shape) -> dict[str, tuple[int, ...]]:
        c = x[0]
        return {"in_proj_weight": (3 * c, c), **({"in_proj_bias": (3 * c,)} if self.bias else {}),
                "out_proj.weight": (c, c), **({"out_proj.bias": (c,)} if self.bias else {})}

    def forward(self, x, weights, counter):
        import numpy as np

        c = x.shape[1]
        head = c // self.heads
        sequences, length = self.sequences(x.shape[1:])
        n = x.shape[0] * sequences
        tokens = x.reshape(x.shape[0], c, sequences, length).transpose(0, 2, 3, 1).reshape(n, length, c)  # N·S, L, C
        qkv = counter.matmul(tokens, weights["in_proj_weight"].T)
        if self.bias:
            qkv += weights["in_proj_bias"]
        q, k, v = (qkv[:, :, i * c : (i + 1) * c].reshape(n, -1, self.heads, head).transpose(0, 2, 1, 3) for i in range(3))  # N, heads, L, d
        scores = counter.activation_matmul(q, k.transpose(0, 1, 3, 2)) / np.sqrt(head).astype(x.dtype)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        context = counter.activation_matmul(scores, v).transpose(0, 2, 1, 3).reshape(n, -1, c)
        y = counter.matmul(context, weights["out_proj.weight"].T)
        if self.bias:
            y += weights["out_proj.bias"]
        y = y.reshape(x.shape[0], sequences, length, c).transpose(0, 3, 1, 2)
        return np.ascontiguousarray(y).reshape(x.shape).astype(x.dtype, copy=False)

    def torch_module(self, at: Place) -> TorchModule:
        keywords = ('' if self.bias else ', bias=False') + (f", batch_dims={self.batch_dims}" if self.batch_dims else '')
        return TorchModule(f"FeatureMapAttention({at.in_shape[0]}, {self.heads}{keywords})", helpers=(("FeatureMapAttention", FEATURE_MAP_ATTENTION),))

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"{r.need('FeatureMapAttention')}(shape[0], {r.a('heads')}{r.kw('bias', 'batch_dims')})")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        """Tokens N×L×C, MatMul by W_inᵀ (+ bias), Q, K, V sliced and split into heads, MatMul, scale,
        Softmax, MatMul, heads joined, MatMul by W_outᵀ (+ bias), folded back to N×C×(spatial)."""
        name, c = at.name, at.in_shape[0]
        (sequences, tokens_count), head = self.sequences(at.in_shape), c // self.heads
        params = {key: g.tensor(f"{name}.{key}", dims, "kernel" if key.endswith("weight") else "zeros") for key, dims in self.weight_shapes(at.in_shape).items()}
        if self.batch_dims:  # N×C×S×L → (N·S)×L×C
            flat = g.node("Reshape", [x, g.ints(f"{name}/flat.shape", [0, c, sequences, tokens_count])], f"{name}/flat")
            moved = g.node("Transpose", [flat], f"{name}/moved", perm=[0, 2, 3, 1])
            tokens = g.node("Reshape", [moved, g.ints(f"{name}/tokens.shape", [-1, tokens_count, c])], f"{name}/tokens")
        else:
            flat = g.node("Reshape", [x, g.ints(f"{name}/flat.shape", [0, c, -1])], f"{name}/flat")
            tokens = g.node("Transpose", [flat], f"{name}/tokens", perm=[0, 2, 1])
        qkv = g.node("MatMul", [tokens, g.node("Transpose", [params["in_proj_weight"]], f"{name}/in_proj_t", perm=[1, 0])], f"{name}/in_proj")
        if self.bias:
            qkv = g.node("Add", [qkv, params["in_proj_bias"]], f"{name}/in_proj_bias")
        heads_shape = g.ints(f"{name}/heads.shape", [0, tokens_count, self.heads, head])
        axis = g.ints(f"{name}/qkv.axis", [2])
        parts = {}
        for i, part in enumerate("qkv"):
            sliced = g.node("Slice", [qkv, g.ints(f"{name}/{part}.start", [i * c]), g.ints(f"{name}/{part}.end", [(i + 1) * c]), axis], f"{name}/{part}")
            split = g.node("Reshape", [sliced, heads_shape], f"{name}/{part}_heads")
            parts[part] = g.node("Transpose", [split], f"{name}/{part}_t", perm=[0, 2, 3, 1] if part == "k" else [0, 2, 1, 3])
        scores = g.node("MatMul", [parts["q"], parts["k"]], f"{name}/scores")
        scaled = g.node("Mul", [scores, g.tensor(f"{name}/scale", (), repr(1 / math.sqrt(head)))], f"{name}/scaled")
        weights = g.node("Softmax", [scaled], f"{name}/softmax", axis=-1)
        context = g.node("Transpose", [g.node("MatMul", [weights, parts["v"]], f"{name}/context")], f"{name}/context_t", perm=[0, 2, 1, 3])
        joined = g.node("Reshape", [context, g.ints(f"{name}/joined.shape", [0, tokens_count, c])], f"{name}/joined")
        y = g.node("MatMul", [joined, g.node("Transpose", [params["out_proj.weight"]], f"{name}/out_proj_t", perm=[1, 0])], f"{name}/out_proj")
        if self.bias:
            y = g.node("Add", [y, params["out_proj.bias"]], f"{name}/out_proj_bias")
        if self.batch_dims:
            y = g.node("Reshape", [y, g.ints(f"{name}/sequences.shape", [-1, sequences, tokens_count, c])], f"{name}/sequences")
        channels_first = g.node("Transpose", [y], f"{name}/channels_first", perm=[0, 3, 1, 2] if self.batch_dims else [0, 2, 1])
        g.node("Reshape", [channels_first, g.ints(f"{name}/out.shape", [0, *at.in_shape])], name)


FEATURE_MAP_ATTENTION = '''
class FeatureMapAttention(nn.MultiheadAttention):
    """nn.MultiheadAttention over the positions of a feature map: N×C×(spatial) → (N·S)×L×C tokens, S the
    positions of the first batch_dims spatial dims (1 where none), self-attention, folded back."""

    def __init__(self, channels: int, heads: int, bias: bool = True, batch_dims: int = 0):
        super().__init__(channels, heads, bias=bias, batch_first=True)
        self.batch_dims = batch_dims  # leading positional dims whose every index is a sequence of its own

    def forward(self, x):
        if not self.batch_dims:
            tokens = x.flatten(2).transpose(1, 2)
            y, _ = super().forward(tokens, tokens, tokens, need_weights=False)
            return y.transpose(1, 2).reshape(x.shape)
        n, c = x.shape[:2]
        sequences = x.shape[2:2 + self.batch_dims].numel()
        tokens = x.reshape(n, c, sequences, -1).permute(0, 2, 3, 1).reshape(n * sequences, -1, c)
        y, _ = super().forward(tokens, tokens, tokens, need_weights=False)
        return y.reshape(n, sequences, -1, c).permute(0, 3, 1, 2).reshape(x.shape)
'''
