"""Random DAG networks drawn by hypothesis, built twice: as a groupcost spec and as a torch module.

    from graphgen import graphs

    @given(graphs())
    def test_something(graph):
        graph.spec            # YAML text of a groupcost spec (graph form: from:, merges, outputs:)
        graph.module()        # a torch nn.Module written from the same drawn description
        graph.input_shape     # (C, H, W), batch not included
        graph.outputs         # the output tensor names, in order; graph.shapes[name] their shapes
        graph.spec_name(n)    # the name groupcost gives tensor n (`body.n` when drawn inside a block)

The two builders are independent of each other and of groupcost's Network: a drawn graph is a
plain description (`Node`s with names, inputs, spec arguments, the output shape worked out here
by hand, and a factory of the equivalent torch module). `spec_text` writes the description as
YAML; `GraphNet` runs it in torch. groupcost must then agree with PyTorch on params, MACs and
every output's shape, and with this module on every named tensor's shape.

What a graph contains: a chain that mostly extends the newest tensor and sometimes branches from
an older one; convolutions (grouped, depthwise, strided, dilated, padded symmetrically,
per side or `same`), pointwise and depthwise convs, bn, activations, pools, gap, flatten and fc;
merges whose partners are drawn among all earlier tensors of a fitting shape (so long skips,
reaching back many layers, are common): `add` (with a 1×1 projection when no partner fits),
`mul` (equal shapes, or a broadcast gate C×1×1 / 1×H×W built from gap or a 1×1 conv and a
sigmoid, or any earlier tensor that broadcasts, C×1×1 · 1×H×W included), `concat` (equal H×W).
Every tensor that nothing reads is an output, so graphs that branch have several outputs
(`outputs:`), listed in a drawn order. Entries that read the tensor just before them are written
without `from:`; nodes nobody names may go unnamed; a third of the graphs put their layers in a
block (`blocks:`) used once as `body`, reading the network's input as `in` or `input`.

Adding a layer type (the layer-types and ONNX work extend this): write one drawing function
that takes hypothesis's `draw` and the input shape and returns an `Op` — the spec type, its
arguments, the output shape computed from the layer's documented rule (not from groupcost), and
a factory of the torch module — or None where the type does not apply to that shape, and
register it with a weight (the drawer's name; the weight is how often it is picked):

    @layer("hardtanh", weight=1)  # once groupcost knows `hardtanh`
    def draw_hardtanh(draw, x):
        return Op("hardtanh", {}, x, lambda: nn().Hardtanh())

The torch factory is called only when a module is built, so drawing needs no torch (the NumPy
property tests run without it). A new kind of merge registers `@merge(kind, weight)` with a
function `(draw, draft, x) -> name | None` that adds nodes to the `Draft` and returns the name
of the tensor it produced. `graphs(kinds=...)` restricts a draw to some registered names.
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
    args: dict[str, Any]  # the spec's arguments: ints, bools, words and lists of ints
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

    def add_layer(self, op: Op, source: str) -> str:
        node = Node(self.fresh(), op.kind, (source,), op.out, op.args, op.torch)
        return self._add(node)

    def add_merge(self, kind: str, sources: list[str], out: Shape) -> str:
        return self._add(Node(self.fresh(), kind, tuple(sources), out))

    def _add(self, node: Node) -> str:
        self.nodes.append(node)
        self.shapes[node.name] = node.out
        return node.name

    def read(self) -> set[str]:
        return {name for node in self.nodes for name in node.inputs}


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
    def shapes(self) -> dict[str, Shape]:
        return {INPUT: self.input_shape, **{n.name: n.out for n in self.nodes}}

    @property
    def output_shapes(self) -> tuple[Shape, ...]:
        return tuple(self.shapes[name] for name in self.outputs)

    def module(self):
        return _graph_net()(self)

    def longest_skip(self) -> int:
        """How many nodes back the farthest-reaching input of any node was made."""
        position = {INPUT: -1, **{n.name: i for i, n in enumerate(self.nodes)}}
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


def conv_module(c_in: int, c_out: int, k: tuple[int, int], s: tuple[int, int], d: int, groups: int, bias: bool, pads: tuple[int, int, int, int]):
    """Conv2d, behind a ZeroPad2d when the padding differs between the two sides (top, bottom, left, right)."""
    top, bottom, left, right = pads
    if top == bottom and left == right:
        return nn().Conv2d(c_in, c_out, k, s, (top, left), d, groups, bias)
    return nn().Sequential(nn().ZeroPad2d((left, right, top, bottom)), nn().Conv2d(c_in, c_out, k, s, 0, d, groups, bias))


def _size(draw, low: int, high: int) -> tuple[int, int] | int:
    """N (mostly) or [h, w]."""
    if draw(st.integers(0, 3)):
        return draw(st.integers(low, high))
    return (draw(st.integers(low, high)), draw(st.integers(low, high)))


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _spec_value(v) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _padding(draw, h: int, w: int, k: tuple[int, int], s: tuple[int, int], d: int) -> tuple[Any, tuple[int, int, int, int]]:
    """(the spec's p, the pads top, bottom, left, right): N, [h, w], four sides, same or valid."""
    style = draw(st.sampled_from(["keep", "keep", "int", "hw", "sides", "same", "valid"]))
    if style == "keep":  # the size-keeping padding of an odd kernel: what real networks mostly use
        ph, pw = d * (k[0] - 1) // 2, d * (k[1] - 1) // 2
        return ([ph, pw] if ph != pw else ph), (ph, ph, pw, pw)
    if style == "int":
        p = draw(st.integers(0, 3))
        return p, (p, p, p, p)
    if style == "hw":
        ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        return [ph, pw], (ph, ph, pw, pw)
    if style == "sides":
        sides = [draw(st.integers(0, 3)) for _ in range(4)]
        return sides, tuple(sides)
    if style == "same":
        return "same", (*same_pads(h, k[0], s[0], d), *same_pads(w, k[1], s[1], d))
    return "valid", (0, 0, 0, 0)


# ---- layers -------------------------------------------------------------------------------------


@layer("conv", weight=6)
def draw_conv(draw, x: Shape) -> Op | None:
    """A conv: any kernel up to 5, stride up to 3 (mostly 1), dilation up to 2, any legal groups (depthwise included)."""
    if len(x) != 3:
        return None
    c, h, w = x
    k = _size(draw, 1, 5)
    s = draw(st.sampled_from([1, 1, 1, 2, 3, (1, 2), (2, 1)]))
    d = draw(st.sampled_from([1, 1, 1, 2]))
    kh, kw = _pair(k)
    sh, sw = _pair(s)
    p, pads = _padding(draw, h, w, (kh, kw), (sh, sw), d)
    out_h, out_w = window(h, kh, sh, pads[0], pads[1], d), window(w, kw, sw, pads[2], pads[3], d)
    if out_h < 1 or out_w < 1:
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
    return Op("conv", args, (out, out_h, out_w), lambda: conv_module(c, out, (kh, kw), (sh, sw), d, groups, bias, pads))


@layer("dwconv", weight=2)
def draw_dwconv(draw, x: Shape) -> Op | None:
    if len(x) != 3:
        return None
    c, h, w = x
    k = draw(st.integers(1, 5))
    s, d = draw(st.sampled_from([1, 1, 2])), draw(st.sampled_from([1, 1, 2]))
    p, pads = _padding(draw, h, w, (k, k), (s, s), d)
    out_h, out_w = window(h, k, s, pads[0], pads[1], d), window(w, k, s, pads[2], pads[3], d)
    mult = draw(st.integers(1, max(1, min(2, MAX_CHANNELS // c))))
    if out_h < 1 or out_w < 1:
        return None
    bias = draw(st.booleans())
    args = {"k": k, "s": s, "p": p, "d": d, "mult": mult, "bias": bias}
    return Op("dwconv", args, (c * mult, out_h, out_w), lambda: conv_module(c, c * mult, (k, k), (s, s), d, c, bias, pads))


@layer("pwconv", weight=2)
def draw_pwconv(draw, x: Shape) -> Op | None:
    if len(x) != 3:
        return None
    c, h, w = x
    groups = draw(st.sampled_from(divisors(c)))
    out = groups * draw(st.integers(1, max(1, MAX_CHANNELS // groups)))
    s = draw(st.sampled_from([1, 1, 2]))
    bias = draw(st.booleans())
    shape = (out, window(h, 1, s, 0, 0), window(w, 1, s, 0, 0))
    return Op("pwconv", {"out": out, "s": s, "groups": groups, "bias": bias}, shape, lambda: nn().Conv2d(c, out, 1, s, 0, 1, groups, bias))


@layer("bn", weight=3)
def draw_bn(draw, x: Shape) -> Op:
    affine = draw(st.sampled_from([True, True, True, False]))
    norm = "BatchNorm2d" if len(x) == 3 else "BatchNorm1d"
    return Op("bn", {} if affine else {"affine": False}, x, lambda: getattr(nn(), norm)(x[0], affine=affine))


ACTIVATIONS = {"relu": "ReLU", "relu6": "ReLU6", "sigmoid": "Sigmoid", "hswish": "Hardswish", "silu": "SiLU", "tanh": "Tanh", "identity": "Identity"}


@layer("activation", weight=3)
def draw_activation(draw, x: Shape) -> Op:
    kind = draw(st.sampled_from(["relu", "relu", *ACTIVATIONS]))
    return Op(kind, {}, x, lambda: getattr(nn(), ACTIVATIONS[kind])())


@layer("pool", weight=2)
def draw_pool(draw, x: Shape) -> Op | None:
    """maxpool (with dilation) or avgpool: windows up to 3, padding at most half the window, ceil_mode."""
    if len(x) != 3:
        return None
    c, h, w = x
    kind = draw(st.sampled_from(["maxpool", "avgpool"]))
    k = draw(st.integers(1, 3))
    s = draw(st.sampled_from([None, 1, 2, 3]))  # None: the default, s = k
    p = draw(st.integers(0, k // 2))
    d = draw(st.sampled_from([1, 1, 2])) if kind == "maxpool" else 1
    ceil = draw(st.booleans())
    stride = s or k
    if d * (k - 1) + 1 > min(h, w) + 2 * p or p > (d * (k - 1) + 1) // 2:
        return None
    out_h, out_w = window(h, k, stride, p, p, d, ceil), window(w, k, stride, p, p, d, ceil)
    if out_h < 1 or out_w < 1:
        return None
    args: dict[str, Any] = {"k": k, "p": p, "ceil_mode": ceil}
    if s is not None:
        args["s"] = s
    if d != 1:
        args["d"] = d
    if kind == "maxpool":
        return Op(kind, args, (c, out_h, out_w), lambda: nn().MaxPool2d(k, stride, p, d, ceil_mode=ceil))
    return Op(kind, args, (c, out_h, out_w), lambda: nn().AvgPool2d(k, stride, p, ceil_mode=ceil))


@layer("gap", weight=1)
def draw_gap(draw, x: Shape) -> Op | None:
    if len(x) != 3:
        return None
    return Op("gap", {}, (x[0], 1, 1), lambda: nn().AdaptiveAvgPool2d(1))


@layer("flatten", weight=1)
def draw_flatten(draw, x: Shape) -> Op | None:
    if len(x) != 3 or math.prod(x) > MAX_FLAT:
        return None
    return Op("flatten", {}, (math.prod(x),), lambda: nn().Flatten())


@layer("fc", weight=2)
def draw_fc(draw, x: Shape) -> Op | None:
    if len(x) != 1:
        return None
    out, bias = draw(st.integers(1, 24)), draw(st.booleans())
    return Op(draw(st.sampled_from(["fc", "linear"])), {"out": out, "bias": bias}, (out,), lambda: nn().Linear(x[0], out, bias))


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
    if not same or (len(shape) == 3 and draw(st.integers(0, 3)) == 0):
        # no partner of this shape: project one of the same H×W with a 1×1 conv (a projection shortcut)
        if len(shape) != 3:
            return None
        planar = [t for t in draft.tensors if len(draft.shapes[t]) == 3 and draft.shapes[t][1:] == shape[1:] and t != x]
        if not planar:
            return None
        source = draw(st.sampled_from(planar))
        c_src, c = draft.shapes[source][0], shape[0]
        groups = draw(st.sampled_from(divisors(math.gcd(c_src, c))))
        bias = draw(st.booleans())
        op = Op("conv", {"out": c, "k": 1, "groups": groups, "bias": bias}, shape, lambda: nn().Conv2d(c_src, c, 1, 1, 0, 1, groups, bias))
        same = [draft.add_layer(op, source)]
    return draft.add_merge("add", _partners(draw, same + [x], x, 2), shape)


@merge("mul", weight=2)
def draw_mul(draw, draft: Draft, x: str) -> str | None:
    """Equal shapes, or a gate that broadcasts: C×1×1 (squeeze-excitation), 1×H×W (spatial), 1×1×1;
    partners drawn among all earlier tensors that broadcast with x (C×1×1 times 1×H×W gives C×H×W)."""
    shape = draft.shapes[x]
    if len(shape) != 3:
        fits = [t for t in draft.tensors if draft.shapes[t] == shape]
        return draft.add_merge("mul", _partners(draw, fits, x, 1), shape)
    if shape[1:] != (1, 1) and draw(st.integers(0, 5)) == 0:  # a channel gate times a spatial one: C×1×1 · 1×H×W
        gates = [_gate(draw, draft, x, spatial=False), _gate(draw, draft, x, spatial=True)]
        return draft.add_merge("mul", gates[:: draw(st.sampled_from([1, -1]))], shape)
    fits = [t for t in draft.tensors if broadcast(shape, draft.shapes[t]) and t != x]
    if not fits or draw(st.booleans()):
        fits = [_gate(draw, draft, x)]
    inputs = _partners(draw, fits, x, 1)
    out = functools.reduce(broadcast, (draft.shapes[t] for t in inputs))
    if math.prod(out) > MAX_CHANNELS * 14 * 14:
        return None
    return draft.add_merge("mul", inputs, out)


def _gate(draw, draft: Draft, x: str, spatial: bool | None = None) -> str:
    """A gate drawn from any tensor of x's channels (channel gate) or x's H×W (spatial gate): gap / 1×1 conv, sigmoid."""
    c, h, w = draft.shapes[x]
    if spatial is None:
        spatial = draw(st.booleans())
    if not spatial:
        source = draw(st.sampled_from([t for t in draft.tensors if len(draft.shapes[t]) == 3 and draft.shapes[t][0] == c]))
        g = draft.add_layer(draw_gap(draw, draft.shapes[source]), source)
        if draw(st.booleans()):
            bias = draw(st.booleans())
            g = draft.add_layer(Op("pwconv", {"out": c, "bias": bias}, (c, 1, 1), lambda: nn().Conv2d(c, c, 1, bias=bias)), g)
    else:
        source = draw(st.sampled_from([t for t in draft.tensors if len(draft.shapes[t]) == 3 and draft.shapes[t][1:] == (h, w)]))
        c_src = draft.shapes[source][0]
        g = draft.add_layer(Op("conv", {"out": 1, "k": 1}, (1, h, w), lambda: nn().Conv2d(c_src, 1, 1)), source)
    kind = draw(st.sampled_from(["sigmoid", "hsigmoid"]))
    return draft.add_layer(Op(kind, {}, draft.shapes[g], lambda: nn().Sigmoid() if kind == "sigmoid" else nn().Hardsigmoid()), g)


@merge("concat", weight=2)
def draw_concat(draw, draft: Draft, x: str) -> str | None:
    shape = draft.shapes[x]
    fits = [t for t in draft.tensors if len(draft.shapes[t]) == len(shape) and draft.shapes[t][1:] == shape[1:]]
    inputs = _partners(draw, fits, x, 2)
    channels = sum(draft.shapes[t][0] for t in inputs)
    if channels > (MAX_CHANNELS * 2 if len(shape) == 3 else MAX_FLAT):
        return None
    return draft.add_merge("concat", inputs, (channels, *shape[1:]))


# ---- the strategy -------------------------------------------------------------------------------


@st.composite
def graphs(draw, max_nodes: int = 24, kinds: tuple[str, ...] | None = None) -> Graph:
    """A random DAG of up to about `max_nodes` steps over a small input; `kinds` picks registered drawers."""
    chosen = kinds or (*LAYERS, *MERGES)
    weighted = [name for name in chosen for _ in range((LAYERS.get(name) or MERGES[name])[1])]
    c = draw(st.integers(1, 8))
    h, w = draw(st.integers(3, 14)), draw(st.integers(3, 14))
    draft = Draft((c, h, w))
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
    outputs = [n.name for n in draft.nodes if n.name not in read]  # every unread tensor is an output
    if draw(st.integers(0, 4)) == 0:
        outputs.append(draw(st.sampled_from([n.name for n in draft.nodes if n.name not in outputs] or outputs)))
    outputs = list(dict.fromkeys(outputs))
    outputs = [outputs[i] for i in draw(st.permutations(range(len(outputs))))]
    nodes = tuple(draft.nodes)
    block = draw(st.sampled_from([None, None, "body"]))
    return Graph((c, h, w), nodes, tuple(outputs), spec_text(draw, (c, h, w), nodes, outputs, block), block)


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
    referenced = set(outputs)
    previous = INPUT
    for node in nodes:
        if node.is_merge or node.inputs != (previous,):
            referenced.update(node.inputs)
        previous = node.name
    indent = "      " if block else "  "
    entries = []
    previous = INPUT
    for node in nodes:
        keys: dict[str, Any] = {}
        if node.name in referenced or draw(st.booleans()):
            keys["name"] = node.name
        sources = [draw(st.sampled_from(["in", INPUT])) if block and name == INPUT else name for name in node.inputs]
        if node.is_merge:
            keys["from"] = sources
        elif node.inputs != (previous,):
            keys["from"] = sources[0]
        keys.update(node.args)
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
            self.layers = nn().ModuleDict({n.name: n.torch() for n in graph.nodes if not n.is_merge})
            self.shapes: dict[str, Shape] = {}

        def forward(self, x):
            tensors = {INPUT: x}
            for node in self.graph.nodes:
                inputs = [tensors[name] for name in node.inputs]
                if not node.is_merge:
                    y = self.layers[node.name](inputs[0])
                elif node.kind == "concat":
                    y = torch.cat(inputs, 1)
                else:
                    y = inputs[0]
                    for t in inputs[1:]:
                        y = y + t if node.kind == "add" else y * t
                tensors[node.name] = y
            self.shapes = {name: tuple(t.shape[1:]) for name, t in tensors.items()}
            outputs = tuple(tensors[name] for name in self.graph.outputs)
            return outputs[0] if len(outputs) == 1 else outputs

    return GraphNet
