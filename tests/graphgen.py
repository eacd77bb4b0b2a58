"""Random DAG networks drawn by hypothesis, built twice: as a groupcost spec and as a torch module.

    from graphgen import graphs

    @given(graphs())
    def test_something(graph):
        graph.spec            # YAML text of a groupcost spec (graph form: from:, to:, merges, outputs:)
        graph.module()        # a torch nn.Module written from the same drawn description
        graph.input_shape     # (C, H, W), (C, L) or (C, T, H, W), batch not included
        graph.outputs         # the output tensor names, in order; graph.shapes[name] their shapes
        graph.spec_name(n)    # the name groupcost gives tensor n (`body.n` when drawn inside a block)

The two builders are independent of each other and of groupcost's Network: a drawn graph is a
plain description (`Node`s with names, inputs, spec arguments, the output shape worked out here
by hand, and a factory of the equivalent torch module, written from torch's documentation).
`spec_text` writes the description as YAML; `GraphNet` runs it in torch. groupcost must then
agree with PyTorch on params, MACs and every output's shape, and with this module on every
named tensor's shape.

What a graph contains: an input of any rank — C×H×W mostly, C×L (1-D) or C×T×H×W (3-D) — and
a chain that mostly extends the newest tensor and sometimes branches from an older one;
convolutions of the input's rank (grouped, depthwise, strided, dilated, padded symmetrically,
per side or `same`), pointwise and depthwise convs, transposed convs (groups, stride, padding,
output_padding, dilation), bn, layernorm (over the channels at every position), groupnorm,
instancenorm, layerscale, bias_table (a learned table added through a fixed index), fourier_position (a projected
Fourier encoding of the positions), class_token (learned tokens put first on a C × L input), activations,
max/avg pools, gap, gmp, adaptive pools, upsample
(nearest or the rank's interpolation, align_corners, by scale or size), centre crops, pads
(constant, reflect, replicate), pixel (un)shuffle (2-D), `linear` on the channels at every
position, flatten and fc (alone or as a classifier head); layers sized `to:` an earlier tensor
(upsample, crop, adaptive pools), FPN's top-down step (a 1×1 projection, upsample `to:` the
lateral, add) and U-Net's skip (crop `to:` the up-sampled tensor, concat); merges whose partners
are drawn among all earlier tensors of a fitting shape (so long skips, reaching back many
layers, are common): `add` (with a 1×1 projection when no partner fits), `mul` (equal shapes,
or a broadcast gate C×1×1 / 1×H×W built from gap or a 1×1 conv and a sigmoid, or any earlier
tensor that broadcasts, C×1×1 · 1×H×W included), `concat` (equal spatial size), `matmul` (an
earlier tensor whose rows match x's columns, or x's rows its columns, leading sizes broadcast),
and multi-head self-attention over the positions (`attention`). Layers that
enlarge a tensor stay within MAX_POSITIONS and 2 × MAX_CHANNELS. Every tensor that nothing
reads (neither as an input nor as a `to:` target) is an output, so graphs that branch have
several outputs (`outputs:`), listed in a drawn order. Entries that read the tensor just before
them are written without `from:`; nodes nobody names may go unnamed; a third of the graphs put
their layers in a block (`blocks:`) used once as `body`, reading the network's input as `in`
or `input`.

Adding a layer type (the layer-types and ONNX work extend this): write one drawing function
that takes hypothesis's `draw` and the input shape and returns an `Op` — the spec type, its
arguments, the output shape computed from the layer's documented rule (not from groupcost), and
a factory of the torch module — or None where the type does not apply to that shape, and
register it with a weight (the drawer's name; the weight is how often it is picked). A drawer
sees the input's rank in `len(x)`: return None for ranks the type does not take (`nd("Conv",
rank)` names torch's class of a rank):

    @layer("hardtanh", weight=1)  # once groupcost knows `hardtanh`
    def draw_hardtanh(draw, x):
        return Op("hardtanh", {}, x, lambda: nn().Hardtanh())

The torch factory is called only when a module is built, so drawing needs no torch (the NumPy
property tests run without it). A new kind of merge registers `@merge(kind, weight)` with a
function `(draw, draft, x) -> name | None` that adds nodes to the `Draft` and returns the name
of the tensor it produced; a layer that reads another tensor's size is drawn this way
(`draft.add_layer(op, x, target)` writes `to: target`). tests/graph/test_random_graphs.py's FEATURES
and NOT_DRAWN say what the draws must reach: every layer type groupcost registers is drawn.
`graphs(kinds=...)` restricts a draw to some registered names.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

Shape = tuple[int, ...]
INPUT = "input"
MAX_CHANNELS = 32  # keeps every drawn graph cheap to run in torch and NumPy
MAX_FLAT = 512


def nn():
    """torch.nn, imported when a module is first built."""
    from torch import nn as torch_nn

    return torch_nn


# ---- descriptions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One layer applied to one tensor, as a drawing function describes it."""

    kind: str  # the spec's type name
    args: dict[str, Any]  # the spec's arguments: ints, floats, bools, words and lists of numbers
    out: Shape  # worked out from the layer's documented rule
    torch: Callable[[], Any]  # builds the equivalent torch module


@dataclass(frozen=True)
class Node:
    name: str
    kind: str
    inputs: tuple[str, ...]
    out: Shape
    args: dict[str, Any] = field(default_factory=dict)
    torch: Callable[[], Any] | None = None  # None: a merge (add, mul, concat)
    target: str | None = None  # `to:`: the tensor whose spatial size this layer takes (upsample, crop, adaptive pools)
    shares: str | None = None  # `share:`: the earlier layer whose torch module this one calls again
    parts: tuple[Shape, ...] = ()  # a chunk's parts, tensors `NAME.0` …; the node itself stands for the last

    @property
    def is_merge(self) -> bool:
        return self.torch is None


class Draft:
    """A graph being drawn: its tensors by name, in the order they were made."""

    def __init__(self, input_shape: Shape):
        self.shapes: dict[str, Shape] = {INPUT: input_shape}
        self.nodes: list[Node] = []

    @property
    def tensors(self) -> list[str]:
        return list(self.shapes)

    def fresh(self) -> str:
        return f"t{len(self.nodes)}"

    def add_layer(self, op: Op, source: str, target: str | None = None) -> str:
        node = Node(self.fresh(), op.kind, (source,), op.out, op.args, op.torch, target)
        return self._add(node)

    def add_node(self, node: Node) -> str:
        """A node made by a drawer itself (a shared layer, a chunk); a chunk's parts become tensors too."""
        for k, part in enumerate(node.parts):
            self.shapes[f"{node.name}.{k}"] = part
        return self._add(node)

    def add_merge(self, kind: str, sources: list[str], out: Shape) -> str:
        return self._add(Node(self.fresh(), kind, tuple(sources), out))

    def _add(self, node: Node) -> str:
        self.nodes.append(node)
        self.shapes[node.name] = node.out
        return node.name

    def read(self) -> set[str]:
        """Every tensor some node reads, as an input or (only its size) as a `to:` target."""
        return {name for node in self.nodes for name in (*node.inputs, *((node.target,) if node.target else ()))}


@dataclass(frozen=True)
class Graph:
    input_shape: Shape
    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]
    spec: str
    block: str | None = None  # the spec wraps the layers in a block used under this name

    def spec_name(self, name: str) -> str:
        """The name groupcost gives tensor `name` (inside the block: `BLOCK.name`)."""
        return name if self.block is None or name == INPUT else f"{self.block}.{name}"

    @property
    def rank(self) -> int:
        """Spatial dimensions of the input: 1 (C×L), 2 (C×H×W) or 3 (C×T×H×W)."""
        return len(self.input_shape) - 1

    @property
    def shapes(self) -> dict[str, Shape]:
        parts = {f"{n.name}.{k}": part for n in self.nodes for k, part in enumerate(n.parts)}
        return {INPUT: self.input_shape, **parts, **{n.name: n.out for n in self.nodes}}

    @property
    def steps(self) -> int:
        """The steps groupcost makes of the graph: one per node, a chunk one per part."""
        return sum(len(n.parts) or 1 for n in self.nodes)

    @property
    def output_shapes(self) -> tuple[Shape, ...]:
        return tuple(self.shapes[name] for name in self.outputs)

    def module(self):
        return _graph_net()(self)

    def longest_skip(self) -> int:
        """How many nodes back the farthest-reaching input of any node was made."""
        position = {INPUT: -1, **{f"{n.name}.{k}": i for i, n in enumerate(self.nodes) for k in range(len(n.parts))}, **{n.name: i for i, n in enumerate(self.nodes)}}
        return max((i - position[name] for i, n in enumerate(self.nodes) for name in n.inputs), default=0)


# ---- registries ---------------------------------------------------------------------------------

LayerDraw = Callable[[Callable, Shape], "Op | None"]
MergeDraw = Callable[[Callable, Draft, str], "str | None"]
LAYERS: dict[str, tuple[LayerDraw, int]] = {}
MERGES: dict[str, tuple[MergeDraw, int]] = {}


def layer(name: str, weight: int = 1):
    """Register a drawing function `(draw, shape) -> Op | None` under `name`."""

    def register(fn: LayerDraw) -> LayerDraw:
        LAYERS[name] = (fn, weight)
        return fn

    return register


def merge(name: str, weight: int = 1):
    """Register a drawing function `(draw, draft, x) -> tensor name | None` under `name`."""

    def register(fn: MergeDraw) -> MergeDraw:
        MERGES[name] = (fn, weight)
        return fn

    return register


# ---- arithmetic, written from PyTorch's documentation -------------------------------------------


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def window(size: int, k: int, s: int, before: int, after: int, d: int = 1, ceil: bool = False) -> int:
    """Conv2d / MaxPool2d output length; with ceil_mode the last window must start inside the input or left padding."""
    span = size + before + after - d * (k - 1) - 1
    if span < 0:
        return 0
    if not ceil:
        return span // s + 1
    out = -(-span // s) + 1
    if (out - 1) * s >= size + before:
        out -= 1
    return out


def broadcast(a: Shape | None, b: Shape) -> Shape | None:
    """NumPy's and torch's broadcast of two shapes of one rank (a size 1 stretches), or None."""
    if a is None or len(a) != len(b) or any(m != n and 1 not in (m, n) for m, n in zip(a, b)):
        return None
    return tuple(max(m, n) for m, n in zip(a, b))


def same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow's 'same': output ceil(size / s), the odd pixel of padding after."""
    total = max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


# Positions (the product of the spatial sizes) a layer that enlarges its input may produce, per rank:
# keeps every drawn graph cheap to run in torch and NumPy.
MAX_POSITIONS = {1: 128, 2: 400, 3: 640}


def fits(shape: Shape) -> bool:
    """A tensor small enough to draw: within MAX_POSITIONS and 2 × MAX_CHANNELS."""
    return len(shape) >= 2 and 1 <= shape[0] <= 2 * MAX_CHANNELS and min(shape) >= 1 and math.prod(shape[1:]) <= MAX_POSITIONS[len(shape) - 1]


def nd(name: str, rank: int):
    """torch.nn's class of a rank: nd("Conv", 3) is nn.Conv3d."""
    return getattr(nn(), f"{name}{rank}d")


def torch_pads(pads: tuple[int, ...]) -> tuple[int, ...]:
    """(before, after) per dimension, first dimension first, in torch.nn.functional.pad's order: the last dimension first."""
    pairs = [pads[i : i + 2] for i in range(0, len(pads), 2)]
    return tuple(v for pair in reversed(pairs) for v in pair)


def conv_module(c_in: int, c_out: int, k: tuple[int, ...], s: tuple[int, ...], d: int, groups: int, bias: bool, pads: tuple[int, ...]):
    """Conv1d/2d/3d by the kernel's rank, behind a ConstantPadNd when the padding differs between the two
    sides of a dimension; `pads` are (before, after) per dimension ((top, bottom, left, right) in 2-D)."""
    rank = len(k)
    if pads[::2] == pads[1::2]:
        return nd("Conv", rank)(c_in, c_out, k, s, pads[::2], d, groups, bias)
    return nn().Sequential(nd("ConstantPad", rank)(torch_pads(pads), 0.0), nd("Conv", rank)(c_in, c_out, k, s, 0, d, groups, bias))


def _size(draw, low: int, high: int, rank: int = 2) -> tuple[int, ...] | int:
    """N (mostly) or one per dimension ([l], [h, w], [t, h, w])."""
    if draw(st.integers(0, 3)):
        return draw(st.integers(low, high))
    return tuple(draw(st.integers(low, high)) for _ in range(rank))


def _per(v, rank: int) -> tuple:
    return (v,) * rank if isinstance(v, (int, float)) else tuple(v)


def _spec_value(v) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _one(values: tuple) -> Any:
    """One number where every dimension has the same, else the list."""
    return values[0] if len(set(values)) == 1 else list(values)


def _stride(draw, rank: int):
    """1 (mostly), 2, 3, or one per dimension of 1s and 2s."""
    if draw(st.integers(0, 5)) == 0:
        return tuple(draw(st.sampled_from([1, 2])) for _ in range(rank))
    return draw(st.sampled_from([1, 1, 1, 2, 3]))


def _padding(draw, dims: Shape, k: tuple[int, ...], s: tuple[int, ...], d: int) -> tuple[Any, tuple[int, ...]]:
    """(the spec's p, the pads (before, after) per dimension): N, one per dimension, two per dimension, same or valid."""
    rank = len(dims)
    style = draw(st.sampled_from(["keep", "keep", "int", "hw", "sides", "same", "valid"]))
    if style == "keep":  # the size-keeping padding of an odd kernel: what real networks mostly use
        per = tuple(d * (kk - 1) // 2 for kk in k)
        return _one(per), tuple(v for v in per for _ in range(2))
    if style == "int":
        p = draw(st.integers(0, 3))
        return p, (p,) * (2 * rank)
    if style == "hw":
        per = tuple(draw(st.integers(0, 3)) for _ in range(rank))
        return list(per), tuple(v for v in per for _ in range(2))
    if style == "sides":
        sides = tuple(draw(st.integers(0, 3)) for _ in range(2 * rank))
        return list(sides), sides
    if style == "same":
        return "same", tuple(v for n, kk, ss in zip(dims, k, s) for v in same_pads(n, kk, ss, d))
    return "valid", (0,) * (2 * rank)


@functools.cache
def _modules():
    """The few torch modules that torch.nn does not have as such, written from torch's documentation."""
    import types

    import torch

    class ChannelsLast(nn().Module):
        """Applies `inner` to the channels at every position: dim 1 moved last (permute), mapped, moved back."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            last = (0, *range(2, x.dim()), 1)
            back = (0, x.dim() - 1, *range(1, x.dim() - 1))
            return self.inner(x.permute(last)).permute(back)

    class CentreCrop(nn().Module):
        """The centre of each spatial dimension: from (n − t) // 2, t long (U-Net's crop of its skips)."""

        def __init__(self, size: tuple[int, ...]):
            super().__init__()
            self.size = size

        def forward(self, x):
            index = [slice(None), slice(None)]
            for n, t in zip(x.shape[2:], self.size):
                index.append(slice((n - t) // 2, (n - t) // 2 + t))
            return x[tuple(index)]

    class Pad(nn().Module):
        """torch.nn.functional.pad with (before, after) per dimension given first dimension first."""

        def __init__(self, pads: tuple[int, ...], mode: str, value: float):
            super().__init__()
            self.pads, self.mode, self.value = torch_pads(pads), mode, value

        def forward(self, x):
            if self.mode == "constant":
                return torch.nn.functional.pad(x, self.pads, "constant", self.value)
            return torch.nn.functional.pad(x, self.pads, self.mode)

    class LayerScale(nn().Module):
        """x · γ, one learned γ per channel, stored C×1×... (torchvision's `layer_scale`)."""

        def __init__(self, c: int, rank: int, init: float):
            super().__init__()
            self.layer_scale = nn().Parameter(torch.full((c, *(1,) * rank), init))

        def forward(self, x):
            return x * self.layer_scale

    class Apply(nn().Module):
        """A view as torch's tensor methods and indexing do it: `fn(x)` (slice, reshape, transpose, permute, chunk)."""

        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, x):
            return self.fn(x)

    return types.SimpleNamespace(ChannelsLast=ChannelsLast, CentreCrop=CentreCrop, Pad=Pad, LayerScale=LayerScale, Apply=Apply)


# ---- layers -------------------------------------------------------------------------------------


@layer("conv", weight=6)
def draw_conv(draw, x: Shape) -> Op | None:
    """A conv of the input's rank: any kernel up to 5 (3 in 3-D), stride up to 3 (mostly 1), dilation up to 2,
    any legal groups (depthwise included)."""
    if len(x) < 2:
        return None
    c, dims = x[0], x[1:]
    rank = len(dims)
    k = _size(draw, 1, 5 if rank < 3 else 3, rank)
    s = _stride(draw, rank)
    d = draw(st.sampled_from([1, 1, 1, 2]))
    kk, ss = _per(k, rank), _per(s, rank)
    p, pads = _padding(draw, dims, kk, ss, d)
    outs = tuple(window(n, kn, sn, pads[2 * i], pads[2 * i + 1], d) for i, (n, kn, sn) in enumerate(zip(dims, kk, ss)))
    if min(outs) < 1:
        return None
    groups = draw(st.sampled_from([1, c, *divisors(c)]))  # 1 and depthwise drawn more often
    out = groups * draw(st.integers(1, max(1, MAX_CHANNELS // groups)))
    bias = draw(st.booleans())
    args = {"out": out, "k": _spec_value(k), "s": _spec_value(s), "p": p}
    if d != 1:
        args["d"] = d
    if groups != 1 or draw(st.booleans()):
        args[draw(st.sampled_from(["groups", "g"]))] = groups
    args["bias"] = bias
    return Op("conv", args, (out, *outs), lambda: conv_module(c, out, kk, ss, d, groups, bias, pads))


@layer("dwconv", weight=2)
def draw_dwconv(draw, x: Shape) -> Op | None:
    if len(x) < 2:
        return None
    c, dims = x[0], x[1:]
    rank = len(dims)
    k = draw(st.integers(1, 5 if rank < 3 else 3))
    s, d = draw(st.sampled_from([1, 1, 2])), draw(st.sampled_from([1, 1, 2]))
    p, pads = _padding(draw, dims, (k,) * rank, (s,) * rank, d)
    outs = tuple(window(n, k, s, pads[2 * i], pads[2 * i + 1], d) for i, n in enumerate(dims))
    mult = draw(st.integers(1, max(1, min(2, MAX_CHANNELS // c))))
    if min(outs) < 1:
        return None
    bias = draw(st.booleans())
    args = {"k": k, "s": s, "p": p, "d": d, "mult": mult, "bias": bias}
    return Op("dwconv", args, (c * mult, *outs), lambda: conv_module(c, c * mult, (k,) * rank, (s,) * rank, d, c, bias, pads))


@layer("pwconv", weight=2)
def draw_pwconv(draw, x: Shape) -> Op | None:
    if len(x) < 2:
        return None
    c, dims = x[0], x[1:]
    rank = len(dims)
    groups = draw(st.sampled_from(divisors(c)))
    out = groups * draw(st.integers(1, max(1, MAX_CHANNELS // groups)))
    s = draw(st.sampled_from([1, 1, 2]))
    bias = draw(st.booleans())
    shape = (out, *(window(n, 1, s, 0, 0) for n in dims))
    return Op("pwconv", {"out": out, "s": s, "groups": groups, "bias": bias}, shape, lambda: nd("Conv", rank)(c, out, 1, s, 0, 1, groups, bias))


@layer("convtranspose", weight=3)
def draw_convtranspose(draw, x: Shape) -> Op | None:
    """ConvTranspose1d/2d/3d: per dimension (L − 1)·s − 2p + d·(K − 1) + output_padding + 1, output_padding
    smaller than the stride or the dilation; any legal groups."""
    if len(x) < 2:
        return None
    c, dims = x[0], x[1:]
    rank = len(dims)
    k = _size(draw, 1, 4 if rank < 3 else 3, rank)
    s = _stride(draw, rank)
    d = draw(st.sampled_from([1, 1, 1, 2]))
    p = draw(st.sampled_from([0, 0, 1, 2])) if draw(st.integers(0, 3)) else tuple(draw(st.integers(0, 2)) for _ in range(rank))
    kk, ss, pp = _per(k, rank), _per(s, rank), _per(p, rank)
    op = tuple(draw(st.integers(0, max(sn, d) - 1)) for sn in ss)
    outs = tuple((n - 1) * sn - 2 * pn + d * (kn - 1) + on + 1 for n, kn, sn, pn, on in zip(dims, kk, ss, pp, op))
    groups = draw(st.sampled_from([1, c, *divisors(c)]))
    out = groups * draw(st.integers(1, max(1, MAX_CHANNELS // groups)))
    if min(outs) < 1 or not fits((out, *outs)):
        return None
    bias = draw(st.booleans())
    args: dict[str, Any] = {"out": out, "k": _spec_value(k)}
    if s != 1 or draw(st.booleans()):
        args["s"] = _spec_value(s)
    if p != 0 or draw(st.booleans()):
        args["p"] = _spec_value(p)
    if any(op) or draw(st.booleans()):
        args["output_padding"] = _one(op)
    if d != 1:
        args["d"] = d
    if groups != 1 or draw(st.booleans()):
        args[draw(st.sampled_from(["groups", "g"]))] = groups
    args["bias"] = bias
    return Op("convtranspose", args, (out, *outs), lambda: nd("ConvTranspose", rank)(c, out, kk, ss, pp, op, groups, bias, d))


@layer("dwconvtranspose", weight=1)
def draw_dwconvtranspose(draw, x: Shape) -> Op | None:
    """ConvTranspose1d/2d/3d(C, mult·C, k, groups=C): the transposed conv's sizes, one group per channel."""
    if len(x) < 2:
        return None
    c, dims = x[0], x[1:]
    rank = len(dims)
    k = _size(draw, 1, 4 if rank < 3 else 3, rank)
    s = _stride(draw, rank)
    p = draw(st.sampled_from([0, 0, 1]))
    kk, ss, pp = _per(k, rank), _per(s, rank), _per(p, rank)
    op = tuple(draw(st.integers(0, sn - 1)) for sn in ss)
    outs = tuple((n - 1) * sn - 2 * pn + kn + on for n, kn, sn, pn, on in zip(dims, kk, ss, pp, op))
    mult = draw(st.sampled_from([1, 1, 2]))
    if min(outs) < 1 or not fits((c * mult, *outs)):
        return None
    bias = draw(st.booleans())
    args: dict[str, Any] = {"k": _spec_value(k), "s": _spec_value(s), "p": p, "output_padding": _one(op), "mult": mult, "bias": bias}
    return Op("dwconvtranspose", args, (c * mult, *outs), lambda: nd("ConvTranspose", rank)(c, c * mult, kk, ss, pp, op, c, bias, 1))


@layer("bn", weight=3)
def draw_bn(draw, x: Shape) -> Op:
    affine = draw(st.sampled_from([True, True, True, False]))
    norm = {1: "BatchNorm1d", 2: "BatchNorm1d", 3: "BatchNorm2d", 4: "BatchNorm3d"}[len(x)]
    return Op("bn", {} if affine else {"affine": False}, x, lambda: getattr(nn(), norm)(x[0], affine=affine))


@layer("frozenbn", weight=1)
def draw_frozenbn(draw, x: Shape) -> Op | None:
    """torchvision's FrozenBatchNorm2d: its four per-channel tensors are buffers, not parameters."""
    if len(x) != 3:
        return None
    args: dict[str, Any] = {}
    eps = _eps(draw, args, 1e-5)
    return Op("frozenbn", args, x, lambda: _torch_layers().FrozenBatchNorm2d(x[0], eps))


def _torch_layers():
    import torch_layers

    return torch_layers


def _eps(draw, args: dict[str, Any], default: float) -> float:
    """The default eps (mostly) or a drawn one, written into args (decimals: PyYAML reads 1e-05 as a string)."""
    eps = draw(st.sampled_from([None, None, 0.001, 0.0001]))
    if eps is None:
        return default
    args["eps"] = eps
    return eps


def _shift(draw, args: dict[str, Any], affine: bool) -> bool:
    """Whether an affine norm learns its shift too (mostly), written into args where it does not."""
    shifted = not affine or draw(st.sampled_from([True, True, False]))
    if not shifted:
        args["bias"] = False
    return shifted


@layer("layernorm", weight=1)
def draw_layernorm(draw, x: Shape) -> Op:
    """nn.LayerNorm over the channels at every position (permute, LayerNorm(C), permute back), or over a flat input."""
    affine = draw(st.sampled_from([True, True, False]))
    args: dict[str, Any] = {} if affine else {"affine": False}
    shifted = _shift(draw, args, affine)
    eps = _eps(draw, args, 1e-6)  # groupcost's documented default, ConvNeXt's

    def build():
        norm = nn().LayerNorm(x[0], eps=eps, elementwise_affine=affine, bias=shifted)
        return norm if len(x) == 1 else _modules().ChannelsLast(norm)

    return Op("layernorm", args, x, build)


@layer("groupnorm", weight=1)
def draw_groupnorm(draw, x: Shape) -> Op | None:
    """nn.GroupNorm(G, C): G divides C, and each group holds more than one value."""
    proper = divisors(x[0])[1:-1]  # 1 < G < C, drawn more often where there is one
    groups = draw(st.sampled_from(proper if proper and draw(st.booleans()) else divisors(x[0])))
    if math.prod(x) == groups:
        return None
    affine = draw(st.sampled_from([True, True, False]))
    args: dict[str, Any] = {draw(st.sampled_from(["groups", "g"])): groups}
    if not affine or draw(st.booleans()):
        args["affine"] = affine
    shifted = _shift(draw, args, affine)
    eps = _eps(draw, args, 1e-5)

    def build():
        norm = nn().GroupNorm(groups, x[0], eps=eps, affine=affine)
        if not shifted:
            norm.bias = None  # a learned scale alone (MetaFormer's GroupNorm1NoBias)
        return norm

    return Op("groupnorm", args, x, build)


@layer("instancenorm", weight=1)
def draw_instancenorm(draw, x: Shape) -> Op | None:
    """nn.InstanceNorm1d/2d/3d: needs more than one position; affine is false by default, as in torch."""
    if len(x) < 2 or math.prod(x[1:]) == 1:
        return None
    affine = draw(st.booleans())
    args: dict[str, Any] = {"affine": True} if affine else draw(st.sampled_from([{}, {"affine": False}]))
    eps = _eps(draw, args, 1e-5)
    return Op("instancenorm", args, x, lambda: nd("InstanceNorm", len(x) - 1)(x[0], eps=eps, affine=affine))


@layer("layerscale", weight=1)
def draw_layerscale(draw, x: Shape) -> Op:
    init = draw(st.sampled_from([None, 0.5, 1.0]))
    args = {} if init is None else {"init": init}
    return Op("layerscale", args, x, lambda: _modules().LayerScale(x[0], len(x) - 1, 1e-6 if init is None else init))


@layer("bias_table", weight=1)
def draw_bias_table(draw, x: Shape) -> Op | None:
    """A learned table per channel added through a fixed index (a relative position bias): any number of entries;
    or one row shared by every channel (a head's row in every window)."""
    if len(x) < 2:
        return None
    entries, shared = draw(st.integers(1, 12)), draw(st.booleans())
    args = {"entries": entries, **({"shared": True} if shared else {})}
    return Op("bias_table", args, x, lambda: _torch_layers().GatheredTable(x, entries, shared))


@layer("fourier_position", weight=1)
def draw_fourier_position(draw, x: Shape) -> Op | None:
    """A Fourier encoding of the positions projected by a learned 1×1 conv and added (XCiT, EdgeNeXt)."""
    if len(x) != 3:
        return None
    features = 4 * draw(st.integers(1, 3))
    return Op("fourier_position", {"features": features}, x, lambda: _torch_layers().FourierEncoding(x, features, 10000.0, True, x[1:]))


@layer("class_token", weight=1)
def draw_class_token(draw, x: Shape) -> Op | None:
    """Learned tokens put before the tokens of a C × L input (ViT's class token, DeiT's two)."""
    if len(x) != 2 or x[1] + 2 > MAX_POSITIONS[1] or x[0] == 4:  # 4 × A stays for dist2bbox's distances
        return None
    tokens = draw(st.integers(1, 2))
    return Op("class_token", {"tokens": tokens} if tokens > 1 or draw(st.booleans()) else {}, (x[0], x[1] + tokens),
              lambda: _torch_layers().LearnedTokens(x[0], tokens))


ACTIVATIONS = {"relu": "ReLU", "relu6": "ReLU6", "sigmoid": "Sigmoid", "hswish": "Hardswish", "silu": "SiLU", "tanh": "Tanh", "identity": "Identity"}


@layer("activation", weight=3)
def draw_activation(draw, x: Shape) -> Op:
    kind = draw(st.sampled_from(["relu", "relu", *ACTIVATIONS]))
    return Op(kind, {}, x, lambda: getattr(nn(), ACTIVATIONS[kind])())


@layer("pool", weight=3)
def draw_pool(draw, x: Shape) -> Op | None:
    """maxpool (with dilation) or avgpool of the input's rank: windows up to 3, padding at most half the window, ceil_mode."""
    if len(x) < 2:
        return None
    c, dims = x[0], x[1:]
    rank = len(dims)
    kind = draw(st.sampled_from(["maxpool", "avgpool"]))
    k = draw(st.integers(1, 3))
    s = draw(st.sampled_from([None, 1, 2, 3]))  # None: the default, s = k
    p = draw(st.integers(0, k // 2))
    d = draw(st.sampled_from([1, 1, 2])) if kind == "maxpool" else 1
    ceil = draw(st.booleans())
    stride = s or k
    if d * (k - 1) + 1 > min(dims) + 2 * p or p > (d * (k - 1) + 1) // 2:
        return None
    if kind == "avgpool" and rank == 3 and min(dims) < k:
        return None  # AvgPool3d refuses an input smaller than its window, padded or not (a groupcost bug: tests/graph/test_random_graphs.py)
    outs = tuple(window(n, k, stride, p, p, d, ceil) for n in dims)
    if min(outs) < 1:
        return None
    args: dict[str, Any] = {"k": k, "p": p, "ceil_mode": ceil}
    if s is not None:
        args["s"] = s
    if d != 1:
        args["d"] = d
    if kind == "maxpool":
        return Op(kind, args, (c, *outs), lambda: nd("MaxPool", rank)(k, stride, p, d, ceil_mode=ceil))
    return Op(kind, args, (c, *outs), lambda: nd("AvgPool", rank)(k, stride, p, ceil_mode=ceil))


@layer("gap", weight=1)
def draw_gap(draw, x: Shape) -> Op | None:
    if len(x) < 2:
        return None
    return Op("gap", {}, (x[0], *(1,) * (len(x) - 1)), lambda: nd("AdaptiveAvgPool", len(x) - 1)(1))


@layer("gmp", weight=1)
def draw_gmp(draw, x: Shape) -> Op | None:
    if len(x) < 2:
        return None
    return Op("gmp", {}, (x[0], *(1,) * (len(x) - 1)), lambda: nd("AdaptiveMaxPool", len(x) - 1)(1))


def adaptive_op(kind: str, x: Shape, size: tuple[int, ...], args: dict[str, Any]) -> Op:
    """AdaptiveAvgPool / AdaptiveMaxPool of the input's rank to `size` (which may exceed the input: windows overlap)."""
    cls = "AdaptiveAvgPool" if kind == "adaptive_avgpool" else "AdaptiveMaxPool"
    return Op(kind, args, (x[0], *size), lambda: nd(cls, len(x) - 1)(size))


@layer("adaptive_pool", weight=2)
def draw_adaptive_pool(draw, x: Shape) -> Op | None:
    """adaptive_avgpool or adaptive_maxpool to a drawn `size` (N or one per dimension), up to one more than the input."""
    if len(x) < 2:
        return None
    rank = len(x) - 1
    size = _size(draw, 1, min(x[1:]) + 1, rank)
    out = _per(size, rank)
    if not fits((x[0], *out)):
        return None
    kind = draw(st.sampled_from(["adaptive_avgpool", "adaptive_maxpool"]))
    return adaptive_op(kind, x, out, {"size": _spec_value(size)})


INTERPOLATING = {1: "linear", 2: "bilinear", 3: "trilinear"}


def upsample_op(draw, x: Shape, args: dict[str, Any], out: Shape, scale=None, mode: str | None = None) -> Op:
    """nn.Upsample to `out` (by its size, or by `scale` when given): nearest, or the interpolation of the rank,
    with align_corners drawn."""
    rank = len(x) - 1
    mode = mode or draw(st.sampled_from(["nearest", INTERPOLATING[rank]]))
    corners = None
    if mode != "nearest":
        corners = draw(st.booleans())
        if corners or draw(st.booleans()):
            args["align_corners"] = corners
    if mode != "nearest" or draw(st.booleans()):
        args = {"mode": mode, **args}
    if scale is None:
        return Op("upsample", args, out, lambda: nn().Upsample(size=out[1:], mode=mode, align_corners=corners))
    factor = float(scale) if isinstance(scale, (int, float)) else tuple(float(v) for v in scale)
    return Op("upsample", args, out, lambda: nn().Upsample(scale_factor=factor, mode=mode, align_corners=corners))


@layer("upsample", weight=2)
def draw_upsample(draw, x: Shape) -> Op | None:
    """interpolate by a `scale` (floor(size · scale) per dimension; whole, halves, or one per dimension) or to a `size`."""
    if len(x) < 2:
        return None
    dims, rank = x[1:], len(x) - 1
    if draw(st.integers(0, 2)):
        if draw(st.integers(0, 3)):
            scale = draw(st.sampled_from([2, 2, 2, 3, 0.5, 1.5, 2.5]))
        else:
            scale = tuple(draw(st.sampled_from([1, 2, 1.5, 0.5])) for _ in range(rank))
        out = (x[0], *(math.floor(float(n) * f) for n, f in zip(dims, _per(scale, rank))))
        if min(out) < 1 or not fits(out):
            return None
        return upsample_op(draw, x, {"scale": _spec_value(scale)}, out, scale)
    size = _size(draw, 1, 2 * max(dims), rank)
    out = (x[0], *_per(size, rank))
    if not fits(out):
        return None
    return upsample_op(draw, x, {"size": _spec_value(size)}, out)


@layer("crop", weight=1)
def draw_crop(draw, x: Shape) -> Op | None:
    """A centre crop to a drawn size (N or one per dimension) within the input."""
    if len(x) < 2:
        return None
    dims, rank = x[1:], len(x) - 1
    if draw(st.integers(0, 2)):
        size: Any = draw(st.integers(1, min(dims)))
    else:
        size = tuple(draw(st.integers(1, n)) for n in dims)
    out = _per(size, rank)
    return Op("crop", {"size": _spec_value(size)}, (x[0], *out), lambda: _modules().CentreCrop(out))


@layer("pad", weight=2)
def draw_pad(draw, x: Shape) -> Op | None:
    """F.pad by N, one per dimension or (before, after) per dimension: constant (a value), reflect (each pad
    smaller than its dimension) or replicate."""
    if len(x) < 2:
        return None
    dims, rank = x[1:], len(x) - 1
    style = draw(st.sampled_from(["int", "dims", "sides"]))
    if style == "int":
        p: Any = draw(st.integers(0, 2))
        pads = (p,) * (2 * rank)
    elif style == "dims":
        p = [draw(st.integers(0, 2)) for _ in range(rank)]
        pads = tuple(v for v in p for _ in range(2))
    else:
        p = [draw(st.integers(0, 2)) for _ in range(2 * rank)]
        pads = tuple(p)
    mode = draw(st.sampled_from(["constant", "constant", "reflect", "replicate"]))
    if mode == "reflect" and any(max(pads[2 * i], pads[2 * i + 1]) >= n for i, n in enumerate(dims)):
        mode = "replicate"
    out = (x[0], *(n + pads[2 * i] + pads[2 * i + 1] for i, n in enumerate(dims)))
    if not fits(out):
        return None
    args: dict[str, Any] = {"p": p}
    value = 0.0
    if mode != "constant" or draw(st.booleans()):
        args["mode"] = mode
    if mode == "constant" and draw(st.booleans()):
        value = draw(st.sampled_from([0.5, -1.0, 2]))
        args["value"] = value
    return Op("pad", args, out, lambda: _modules().Pad(pads, mode, float(value)))


@layer("pixelshuffle", weight=2)
def draw_pixelshuffle(draw, x: Shape) -> Op | None:
    """nn.PixelShuffle(r), 2-D only: C×H×W → C/r² × H·r × W·r."""
    if len(x) != 3:
        return None
    legal = [r for r in (2, 3) if x[0] % (r * r) == 0 and fits((x[0] // (r * r), x[1] * r, x[2] * r))]
    if not legal:
        return None
    r = 1 if draw(st.integers(0, 9)) == 0 else draw(st.sampled_from(legal))
    out = (x[0] // (r * r), x[1] * r, x[2] * r)
    return Op("pixelshuffle", {"r": r}, out, lambda: nn().PixelShuffle(r))


@layer("pixelunshuffle", weight=3)
def draw_pixelunshuffle(draw, x: Shape) -> Op | None:
    """nn.PixelUnshuffle(r), 2-D only: C×H×W → C·r² × H/r × W/r."""
    if len(x) != 3:
        return None
    legal = [r for r in (2, 3) if x[1] % r == 0 and x[2] % r == 0 and x[0] * r * r <= 2 * MAX_CHANNELS]
    if not legal:
        return None
    r = 1 if draw(st.integers(0, 9)) == 0 else draw(st.sampled_from(legal))
    out = (x[0] * r * r, x[1] // r, x[2] // r)
    return Op("pixelunshuffle", {"r": r}, out, lambda: nn().PixelUnshuffle(r))


@layer("flatten", weight=1)
def draw_flatten(draw, x: Shape) -> Op | None:
    if len(x) < 2 or math.prod(x) > MAX_FLAT:
        return None
    return Op("flatten", {}, (math.prod(x),), lambda: nn().Flatten())


@layer("flatten_dims", weight=1)
def draw_flatten_dims(draw, x: Shape) -> Op | None:
    """flatten of some spatial dims only, start … end (PyTorch's numbering): as many positions, fewer dims."""
    if len(x) < 3:
        return None
    start = draw(st.integers(2, len(x) - 1))
    end = draw(st.integers(start + 1, len(x)))
    out = (*x[:start - 1], math.prod(x[start - 1:end]), *x[end:])
    return Op("flatten", {"start": start, "end": end if draw(st.booleans()) else end - len(x) - 1}, out, lambda: nn().Flatten(start, end))


def _dim(draw, index: int, rank: int) -> int:
    """PyTorch's number of per-sample dim `index` (0 the channels) of a tensor of `rank` per-sample dims: index + 1, or from the end."""
    return index + 1 if draw(st.booleans()) else index - rank


@layer("slice", weight=1)
def draw_slice(draw, x: Shape) -> Op | None:
    """x[:, ..., start:stop:step] along one dim, Python's rules (negative, past the end, stop left out)."""
    axis = draw(st.integers(0, len(x) - 1))
    size = x[axis]
    start = draw(st.integers(-size - 1, size - 1))
    stop = draw(st.none() | st.integers(-size, size + 1))
    step = draw(st.sampled_from([1, 1, 2, 3]))
    first, last, _ = slice(start, stop).indices(size)
    if last <= first:
        return None
    dim = _dim(draw, axis, len(x))
    index = (slice(None),) * (axis + 1) + (slice(start, stop, step),)
    args = {"start": start, **({"stop": stop} if stop is not None else {}), **({"dim": dim} if dim != 1 or draw(st.booleans()) else {}),
            **({"step": step} if step != 1 else {})}
    return Op("slice", args, (*x[:axis], len(range(first, last, step)), *x[axis + 1:]), lambda: _modules().Apply(lambda t: t[index]))


def _factors(n: int) -> list[int]:
    return [d for d in range(2, n + 1) if n % d == 0]


@layer("reshape", weight=1)
def draw_reshape(draw, x: Shape) -> Op | None:
    """A new per-sample shape of 1 to 4 dims with the same elements (one of them maybe -1)."""
    left = math.prod(x)
    target = []
    for _ in range(draw(st.integers(1, 3))):
        factors = _factors(left)
        if not factors:
            break
        d = draw(st.sampled_from(factors))
        target.append(d)
        left //= d
    target.append(left)
    target = [target[i] for i in draw(st.permutations(range(len(target))))]
    out = tuple(target)
    if not (fits(out) or len(out) == 1 and out[0] <= MAX_FLAT):
        return None
    written = list(out)
    if draw(st.booleans()):
        written[draw(st.integers(0, len(written) - 1))] = -1
    return Op("reshape", {"shape": written}, out, lambda: _modules().Apply(lambda t: t.reshape(t.shape[0], *written)))


@layer("dist2bbox", weight=2)
def draw_dist2bbox(draw, x: Shape) -> Op | None:
    """Anchor-free box decoding of 4×A distances: the A cells as one or two levels of h×w grids."""
    if len(x) != 2 or x[0] != 4:
        return None
    cells = x[1]
    first = draw(st.sampled_from([d for d in range(1, cells + 1) if cells % d == 0]))
    levels = [(first, cells // first)]
    if cells % 2 == 0 and draw(st.booleans()):
        levels = [(1, cells // 2), (cells // 2, 1)]
    strides = [draw(st.sampled_from([4, 8, 16])) for _ in levels]
    return Op("dist2bbox", {"grids": [list(level) for level in levels], "strides": strides}, x, lambda: _torch_layers().DistanceToBox(levels, strides, True))


@layer("transpose", weight=1)
def draw_transpose(draw, x: Shape) -> Op | None:
    if len(x) < 2:
        return None
    a, b = draw(st.integers(0, len(x) - 1)), draw(st.integers(0, len(x) - 1))
    order = list(range(len(x)))
    order[a], order[b] = b, a
    out = tuple(x[i] for i in order)
    if not fits(out):
        return None
    dims = [_dim(draw, a, len(x)), _dim(draw, b, len(x))]
    return Op("transpose", {"dims": dims}, out, lambda: _modules().Apply(lambda t: t.transpose(*dims)))


@layer("broadcast", weight=1)
def draw_expand(draw, x: Shape) -> Op | None:
    """x.expand along one dim of size 1 (a pooled C×1×1 map tiled back, a slice of one row repeated)."""
    ones = [k for k, n in enumerate(x) if n == 1]
    if not ones:
        return None
    axis = draw(st.sampled_from(ones))
    size = draw(st.integers(2, 6))
    out = (*x[:axis], size, *x[axis + 1:])
    if not fits(out):
        return None
    dim = _dim(draw, axis, len(x))
    sizes = [-1] * (len(x) + 1)
    sizes[axis + 1] = size
    return Op("broadcast", {"dim": dim, "size": size}, out, lambda: _modules().Apply(lambda t: t.expand(*sizes)))


@layer("permute", weight=1)
def draw_permute(draw, x: Shape) -> Op | None:
    if len(x) < 2:
        return None
    order = draw(st.permutations(range(len(x))))
    out = tuple(x[i] for i in order)
    if not fits(out):
        return None
    dims = [0, *(_dim(draw, i, len(x)) for i in order)]
    # the module counts dims from the front, as groupcost's own export does: TorchScript's exporter, folding constants,
    # reads a negative perm out of bounds in its shape inference (a segfault now and then)
    return Op("permute", {"dims": dims}, out, lambda: _modules().Apply(lambda t: t.permute(*(d % t.dim() for d in dims))))


@layer("fc", weight=2)
def draw_fc(draw, x: Shape) -> Op | None:
    if len(x) != 1:
        return None
    out, bias = draw(st.integers(1, 24)), draw(st.booleans())
    return Op(draw(st.sampled_from(["fc", "linear"])), {"out": out, "bias": bias}, (out,), lambda: nn().Linear(x[0], out, bias))


@layer("softmax", weight=1)
def draw_softmax(draw, x: Shape) -> Op:
    """softmax along any dimension but the batch's, numbered as torch numbers the batched tensor (negative from the end)."""
    rank = len(x) + 1
    dim = draw(st.sampled_from([d for d in range(-rank, rank) if d % rank != 0]))
    args = {} if dim == 1 and draw(st.booleans()) else {"dim": dim}
    return Op("softmax", args, x, lambda: nn().Softmax(dim))


@layer("attention", weight=1)
def draw_attention(draw, x: Shape) -> Op | None:
    """Multi-head self-attention over the positions (at most 64 tokens): heads any divisor of C, with biases or
    not, over all positions or (batch_dims 1) each index of the first positional dim a sequence of its own."""
    if len(x) < 2 or math.prod(x[1:]) > 64:
        return None
    heads, bias = draw(st.sampled_from(divisors(x[0]))), draw(st.booleans())
    batch_dims = draw(st.sampled_from([0, 1])) if len(x) >= 3 else 0
    args = {"heads": heads, "bias": bias} if not bias or draw(st.booleans()) else {"heads": heads}
    if batch_dims:
        args["batch_dims"] = batch_dims

    def module():
        from torch_layers import TokenAttention

        return TokenAttention(x[0], heads, bias, batch_dims)

    return Op("attention", args, x, module)


@layer("linear", weight=1)
def draw_linear(draw, x: Shape) -> Op | None:
    """`linear` on the channels at every position: permute, nn.Linear(C, out), permute back."""
    if len(x) < 2:
        return None
    out, bias = draw(st.integers(1, MAX_CHANNELS)), draw(st.booleans())
    args = {"out": out, "bias": bias} if not bias or draw(st.booleans()) else {"out": out}
    return Op("linear", args, (out, *x[1:]), lambda: _modules().ChannelsLast(nn().Linear(x[0], out, bias)))


@merge("head", weight=1)
def draw_head(draw, draft: Draft, x: str) -> str | None:
    """A classifier head: gap (or not) and flatten before an fc, or just the fc on a flat tensor."""
    shape = draft.shapes[x]
    if len(shape) >= 2:
        if draw(st.booleans()):
            x = draft.add_layer(draw(st.sampled_from([draw_gap, draw_gmp]))(draw, shape), x)
        flat = draw_flatten(draw, draft.shapes[x])
        if flat is None:
            return x
        x = draft.add_layer(flat, x)
    return draft.add_layer(draw_fc(draw, draft.shapes[x]), x)


# ---- layers sized like another tensor (`to:`) -----------------------------------------------------


def _like(draft: Draft, x: str, holds: Callable[[Shape], bool]) -> list[str]:
    """Earlier tensors of x's rank whose shape satisfies `holds` (x itself last, as a fallback)."""
    rank = len(draft.shapes[x])
    found = [t for t in draft.tensors if t != x and len(draft.shapes[t]) == rank and holds(draft.shapes[t])]
    return found or ([x] if holds(draft.shapes[x]) else [])


@merge("upsample_to", weight=1)
def draw_upsample_to(draw, draft: Draft, x: str) -> str | None:
    """upsample `to:` an earlier tensor of x's rank (its spatial size, any)."""
    shape = draft.shapes[x]
    if len(shape) < 2:
        return None
    targets = _like(draft, x, lambda t: fits((shape[0], *t[1:])))
    if not targets:
        return None
    target = draw(st.sampled_from(targets))
    out = (shape[0], *draft.shapes[target][1:])
    return draft.add_layer(upsample_op(draw, shape, {}, out), x, target)


@merge("crop_to", weight=1)
def draw_crop_to(draw, draft: Draft, x: str) -> str | None:
    """crop `to:` an earlier tensor of x's rank no larger than x in any dimension."""
    shape = draft.shapes[x]
    if len(shape) < 2:
        return None
    target = draw(st.sampled_from(_like(draft, x, lambda t: all(a <= b for a, b in zip(t[1:], shape[1:])))))
    out = (shape[0], *draft.shapes[target][1:])
    return draft.add_layer(Op("crop", {}, out, lambda: _modules().CentreCrop(out[1:])), x, target)


@merge("adaptive_pool_to", weight=1)
def draw_adaptive_pool_to(draw, draft: Draft, x: str) -> str | None:
    """adaptive_avgpool / adaptive_maxpool `to:` an earlier tensor of x's rank (its spatial size)."""
    shape = draft.shapes[x]
    if len(shape) < 2:
        return None
    targets = _like(draft, x, lambda t: fits((shape[0], *t[1:])))
    if not targets:
        return None
    target = draw(st.sampled_from(targets))
    kind = draw(st.sampled_from(["adaptive_avgpool", "adaptive_maxpool"]))
    return draft.add_layer(adaptive_op(kind, shape, draft.shapes[target][1:], {}), x, target)


@merge("fpn", weight=1)
def draw_fpn(draw, draft: Draft, x: str) -> str | None:
    """FPN's top-down step: an earlier tensor of x's rank (projected to x's channels by a 1×1 conv when they
    differ) upsampled `to: x`, then added to x."""
    shape = draft.shapes[x]
    if len(shape) < 2:
        return None
    rank = len(shape) - 1
    top = draw(st.sampled_from(_like(draft, x, lambda t: True)))
    c_top, c = draft.shapes[top][0], shape[0]
    if c_top != c:
        bias = draw(st.booleans())
        top = draft.add_layer(Op("pwconv", {"out": c, "bias": bias}, (c, *draft.shapes[top][1:]), lambda: nd("Conv", rank)(c_top, c, 1, bias=bias)), top)
    up = draft.add_layer(upsample_op(draw, draft.shapes[top], {}, shape, mode=draw(st.sampled_from(["nearest", "nearest", INTERPOLATING[rank]]))), top, x)
    return draft.add_merge("add", draw(st.permutations([up, x])), shape)


@merge("unet", weight=1)
def draw_unet(draw, draft: Draft, x: str) -> str | None:
    """U-Net's skip: an earlier tensor of x's rank at least as large as x, centre-cropped `to: x`, concatenated with x."""
    shape = draft.shapes[x]
    if len(shape) < 2:
        return None
    skip = draw(st.sampled_from(_like(draft, x, lambda t: all(a >= b for a, b in zip(t[1:], shape[1:])))))
    if draft.shapes[skip][0] + shape[0] > 2 * MAX_CHANNELS:
        return None
    cropped = (draft.shapes[skip][0], *shape[1:])
    crop = draft.add_layer(Op("crop", {}, cropped, lambda: _modules().CentreCrop(cropped[1:])), skip, x)
    return draft.add_merge("concat", draw(st.permutations([crop, x])), (cropped[0] + shape[0], *shape[1:]))


@merge("share", weight=1)
def draw_share(draw, draft: Draft, x: str) -> str | None:
    """An earlier layer's module called again (`share:`) on a tensor of the very shape it read: weights once, MACs per call."""
    shape = draft.shapes[x]
    owners = [n for n in draft.nodes if not n.is_merge and not n.parts and n.target is None and draft.shapes[n.inputs[0]] == shape]
    if not owners:
        return None
    owner = draw(st.sampled_from(owners))
    return draft.add_node(Node(draft.fresh(), owner.kind, (x,), owner.out, owner.args, owner.torch, shares=owner.shares or owner.name))


@merge("chunk", weight=1)
def draw_chunk(draw, draft: Draft, x: str) -> str | None:
    """torch.chunk into n parts along one dim, then every part concatenated again in a drawn order (C2f keeps both halves)."""
    shape = draft.shapes[x]
    if len(shape) < 2:
        return None
    axis = draw(st.integers(0, len(shape) - 1))
    if shape[axis] < 2:
        return None
    n = draw(st.integers(2, min(4, shape[axis])))
    step = -(-shape[axis] // n)
    if -(-shape[axis] // step) != n:
        return None
    parts = tuple((*shape[:axis], min(step, shape[axis] - k * step), *shape[axis + 1:]) for k in range(n))
    dim = _dim(draw, axis, len(shape))
    name = draft.add_node(Node(draft.fresh(), "chunk", (x,), parts[-1], {"n": n, "dim": dim}, lambda: _modules().Apply(lambda t: t.chunk(n, dim)), parts=parts))
    if axis:  # concat joins channels: only the channels' parts join again; the others are outputs
        return name
    order = draw(st.permutations(range(n)))
    return draft.add_merge("concat", [f"{name}.{k}" for k in order], shape)


# ---- merges -------------------------------------------------------------------------------------


def _partners(draw, candidates: list[str], x: str, most: int) -> list[str]:
    """1 to `most` partners of x, drawn among all earlier tensors (so from far back as often as near)."""
    count = draw(st.integers(1, most))
    others = [t for t in candidates if t != x] or [x]
    picked = [draw(st.sampled_from(others)) for _ in range(count)]
    if draw(st.integers(0, 9)) == 0:
        picked.append(x)  # a tensor merged with itself
    inputs = [x, *picked]
    order = draw(st.permutations(range(len(inputs))))
    return [inputs[i] for i in order]


@merge("add", weight=3)
def draw_add(draw, draft: Draft, x: str) -> str | None:
    shape = draft.shapes[x]
    same = [t for t in draft.tensors if draft.shapes[t] == shape and t != x]
    if not same or (len(shape) >= 2 and draw(st.integers(0, 3)) == 0):
        # no partner of this shape: project one of the same spatial size with a 1×1 conv (a projection shortcut)
        if len(shape) < 2:
            return None
        planar = [t for t in draft.tensors if len(draft.shapes[t]) == len(shape) and draft.shapes[t][1:] == shape[1:] and t != x]
        if not planar:
            return None
        source = draw(st.sampled_from(planar))
        c_src, c = draft.shapes[source][0], shape[0]
        groups = draw(st.sampled_from(divisors(math.gcd(c_src, c))))
        bias = draw(st.booleans())
        rank = len(shape) - 1
        op = Op("conv", {"out": c, "k": 1, "groups": groups, "bias": bias}, shape, lambda: nd("Conv", rank)(c_src, c, 1, 1, 0, 1, groups, bias))
        same = [draft.add_layer(op, source)]
    return draft.add_merge("add", _partners(draw, same + [x], x, 2), shape)


@merge("mul", weight=3)
def draw_mul(draw, draft: Draft, x: str) -> str | None:
    """Equal shapes, or a gate that broadcasts: C×1×1 (squeeze-excitation), 1×H×W (spatial), 1×1×1 (and so in
    every rank); partners drawn among all earlier tensors that broadcast with x (C×1×1 times 1×H×W gives C×H×W)."""
    shape = draft.shapes[x]
    if len(shape) < 2:
        fits_ = [t for t in draft.tensors if draft.shapes[t] == shape]
        return draft.add_merge("mul", _partners(draw, fits_, x, 1), shape)
    if any(n != 1 for n in shape[1:]) and draw(st.integers(0, 5)) == 0:  # a channel gate times a spatial one
        gates = [_gate(draw, draft, x, spatial=False), _gate(draw, draft, x, spatial=True)]
        return draft.add_merge("mul", gates[:: draw(st.sampled_from([1, -1]))], shape)
    fits_ = [t for t in draft.tensors if broadcast(shape, draft.shapes[t]) and t != x]
    if not fits_ or draw(st.booleans()):
        fits_ = [_gate(draw, draft, x)]
    inputs = _partners(draw, fits_, x, 1)
    out = functools.reduce(broadcast, (draft.shapes[t] for t in inputs))
    if not fits(out):
        return None
    return draft.add_merge("mul", inputs, out)


def _gate(draw, draft: Draft, x: str, spatial: bool | None = None) -> str:
    """A gate drawn from any tensor of x's channels (channel gate) or x's spatial size (spatial gate):
    gap / 1×1 conv, sigmoid."""
    shape = draft.shapes[x]
    c, dims, rank = shape[0], shape[1:], len(shape) - 1
    if spatial is None:
        spatial = draw(st.booleans())
    if not spatial:
        source = draw(st.sampled_from([t for t in draft.tensors if len(draft.shapes[t]) == len(shape) and draft.shapes[t][0] == c]))
        g = draft.add_layer(draw_gap(draw, draft.shapes[source]), source)
        if draw(st.booleans()):
            bias = draw(st.booleans())
            g = draft.add_layer(Op("pwconv", {"out": c, "bias": bias}, draft.shapes[g], lambda: nd("Conv", rank)(c, c, 1, bias=bias)), g)
    else:
        source = draw(st.sampled_from([t for t in draft.tensors if len(draft.shapes[t]) == len(shape) and draft.shapes[t][1:] == dims]))
        c_src = draft.shapes[source][0]
        g = draft.add_layer(Op("conv", {"out": 1, "k": 1}, (1, *dims), lambda: nd("Conv", rank)(c_src, 1, 1)), source)
    kind = draw(st.sampled_from(["sigmoid", "hsigmoid"]))
    return draft.add_layer(Op(kind, {}, draft.shapes[g], lambda: nn().Sigmoid() if kind == "sigmoid" else nn().Hardsigmoid()), g)


@merge("matmul", weight=1)
def draw_matmul(draw, draft: Draft, x: str) -> str | None:
    """x @ t or t @ x (torch.matmul on the batched tensors) with an earlier tensor t of x's rank whose matrix
    dimensions fit; the leading dimensions broadcast."""
    shape = draft.shapes[x]
    if len(shape) < 2:
        return None
    if len(shape) > 2 and shape[-1] == shape[-2] and draw(st.integers(0, 2)) == 0:  # a one-channel partner: its C broadcasts
        rank, c = len(shape) - 1, shape[0]
        draft.add_layer(Op("conv", {"out": 1, "k": 1}, (1, *shape[1:]), lambda: nd("Conv", rank)(c, 1, 1)), x)
    pairs = [(a, b) for t in draft.tensors if len(draft.shapes[t]) == len(shape) for a, b in ((x, t), (t, x))
             if draft.shapes[a][-1] == draft.shapes[b][-2] and broadcast(draft.shapes[a][:-2], draft.shapes[b][:-2]) is not None]
    if not pairs:
        return None
    broadcasting = [(a, b) for a, b in pairs if draft.shapes[a][:-2] != draft.shapes[b][:-2]]
    if broadcasting and draw(st.booleans()):
        pairs = broadcasting
    a, b = draw(st.sampled_from(pairs))
    out = (*broadcast(draft.shapes[a][:-2], draft.shapes[b][:-2]), draft.shapes[a][-2], draft.shapes[b][-1])
    if not fits(out):
        return None
    return draft.add_merge("matmul", [a, b], out)


@merge("concat", weight=2)
def draw_concat(draw, draft: Draft, x: str) -> str | None:
    shape = draft.shapes[x]
    fits_ = [t for t in draft.tensors if len(draft.shapes[t]) == len(shape) and draft.shapes[t][1:] == shape[1:]]
    inputs = _partners(draw, fits_, x, 2)
    channels = sum(draft.shapes[t][0] for t in inputs)
    if channels > (MAX_CHANNELS * 2 if len(shape) >= 2 else MAX_FLAT):
        return None
    return draft.add_merge("concat", inputs, (channels, *shape[1:]))


# ---- the strategy -------------------------------------------------------------------------------


@st.composite
def inputs(draw) -> Shape:
    """C×H×W (mostly), C×L (1-D) or C×T×H×W (3-D), small."""
    rank = draw(st.sampled_from([2, 2, 1, 3]))
    c = draw(st.integers(1, 8))
    if rank == 1:
        return (c, draw(st.integers(3, 32)))
    if rank == 2:
        return (c, draw(st.integers(3, 14)), draw(st.integers(3, 14)))
    return (c, draw(st.integers(2, 5)), draw(st.integers(3, 7)), draw(st.integers(3, 7)))


@st.composite
def graphs(draw, max_nodes: int = 24, kinds: tuple[str, ...] | None = None) -> Graph:
    """A random DAG of up to about `max_nodes` steps over a small input; `kinds` picks registered drawers."""
    chosen = kinds or (*LAYERS, *MERGES)
    weighted = [name for name in chosen for _ in range((LAYERS.get(name) or MERGES[name])[1])]
    input_shape = draw(inputs())
    draft = Draft(input_shape)
    x = INPUT
    for _ in range(draw(st.integers(1, max_nodes))):
        if draft.nodes and draw(st.integers(0, 5)) == 0:
            x = draw(st.sampled_from(draft.tensors))  # branch from an earlier tensor
        name = draw(st.sampled_from(weighted))
        if name in LAYERS:
            op = LAYERS[name][0](draw, draft.shapes[x])
            if op is not None:
                x = draft.add_layer(op, x)
        else:
            x = MERGES[name][0](draw, draft, x) or x
    if not draft.nodes:
        draft.add_layer(draw_activation(draw, draft.shapes[x]), x)
    read = draft.read()
    parts = [f"{n.name}.{k}" for n in draft.nodes for k in range(len(n.parts))]
    outputs = [t for n in draft.nodes for t in ([f"{n.name}.{k}" for k in range(len(n.parts))] if n.parts else [n.name]) if t not in read]  # every unread tensor is an output
    assert all(p in read or p in outputs for p in parts)
    if draw(st.integers(0, 4)) == 0:
        outputs.append(draw(st.sampled_from([n.name for n in draft.nodes if n.name not in outputs and not n.parts] or outputs)))
    outputs = list(dict.fromkeys(outputs))
    outputs = [outputs[i] for i in draw(st.permutations(range(len(outputs))))]
    nodes = tuple(draft.nodes)
    block = draw(st.sampled_from([None, None, "body"]))
    return Graph(input_shape, nodes, tuple(outputs), spec_text(draw, input_shape, nodes, outputs, block), block)


# ---- the two builders ---------------------------------------------------------------------------


def _yaml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    return str(value)


def spec_text(draw, input_shape: Shape, nodes: tuple[Node, ...], outputs: list[str], block: str | None = None) -> str:
    """The description as a groupcost spec: entries that read the tensor before them omit `from:`;
    names appear where `from:` or `outputs:` needs them, and elsewhere when drawn. With `block`,
    the layers are a block's body (reading the network's input as `in` or `input`), used once
    under that name, and `outputs:` names `BLOCK.tN`."""
    referenced = set(outputs) | {node.shares for node in nodes if node.shares}
    previous = INPUT
    for node in nodes:
        if node.is_merge or node.inputs != (previous,):
            referenced.update(node.inputs)
        if node.target:
            referenced.add(node.target)
        previous = node.name
    indent = "      " if block else "  "
    entries = []
    previous = INPUT
    for node in nodes:
        keys: dict[str, Any] = {}
        if node.name in referenced or node.parts or draw(st.booleans()):
            keys["name"] = node.name
        sources = [draw(st.sampled_from(["in", INPUT])) if block and name == INPUT else name for name in node.inputs]
        if node.is_merge:
            keys["from"] = sources
        elif node.inputs != (previous,):
            keys["from"] = sources[0]
        if node.target:
            keys["to"] = draw(st.sampled_from(["in", INPUT])) if block and node.target == INPUT else node.target
        keys.update(node.args)
        if node.shares:
            keys["share"] = node.shares
        if keys:
            entries.append(f"{indent}- {node.kind}: {{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in keys.items()) + "}")
        else:
            entries.append(f"{indent}- {node.kind}")
        previous = node.name
    lines = [f"input: {_yaml(input_shape)}"]
    if block:
        lines += ["blocks:", "  graph:", "    layers:", *entries, "layers:", f"  - graph: {{name: {block}}}"]
    else:
        lines += ["layers:", *entries]
    if outputs != [nodes[-1].name] or draw(st.booleans()):
        lines.append(f"outputs: {_yaml([f'{block}.{name}' if block else name for name in outputs])}")
    return "\n".join(lines) + "\n"


@functools.cache
def _graph_net():
    import torch

    class GraphNet(nn().Module):
        """The description run in torch, node by node; `shapes` holds every tensor's shape of the last run."""

        def __init__(self, graph: Graph):
            super().__init__()
            self.graph = graph
            self.layers = nn().ModuleDict({n.name: n.torch() for n in graph.nodes if not n.is_merge and not n.shares})
            self.shapes: dict[str, Shape] = {}

        def forward(self, x):
            tensors = {INPUT: x}
            for node in self.graph.nodes:
                inputs = [tensors[name] for name in node.inputs]
                if node.parts:
                    *parts, y = self.layers[node.name](inputs[0])
                    tensors.update({f"{node.name}.{k}": part for k, part in enumerate(parts)})
                    tensors[f"{node.name}.{len(parts)}"] = y
                elif not node.is_merge:
                    y = self.layers[node.shares or node.name](inputs[0])
                elif node.kind == "concat":
                    y = torch.cat(inputs, 1)
                elif node.kind == "matmul":
                    y = torch.matmul(*inputs)
                else:
                    y = inputs[0]
                    for t in inputs[1:]:
                        y = y + t if node.kind == "add" else y * t
                tensors[node.name] = y
            self.shapes = {name: tuple(t.shape[1:]) for name, t in tensors.items()}
            outputs = tuple(tensors[name] for name in self.graph.outputs)
            return outputs[0] if len(outputs) == 1 else outputs

    return GraphNet
