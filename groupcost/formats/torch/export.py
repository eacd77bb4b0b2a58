"""Network → one readable PyTorch source file (imports only torch).

Two forms. `export_pytorch` first raises the spec's structure (groupcost.formats.torch.structured: blocks
as classes, `repeat` as loops, variables as build()'s arguments); what it cannot raise, and a
raised file that does not reproduce the graph, is written here as the *resolved graph*: the
network built for one set of variables, module attribute paths = layer names (`layer2.0.conv2`)
in nested `Group` containers, and `forward` running the graph's nodes in order, one line each.
Either way a zoo spec that follows torchvision's names gives torchvision's `state_dict` keys.

Writing the source needs no torch: it is text. `EMITTERS` maps every layer type to the module
that builds it; a test walks the registry, so a new layer type without an entry fails there,
and exporting one anyway raises an ExportError that names it.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass

from groupcost.errors import GroupcostError
from groupcost.ops import Layer, Shape
from groupcost.ops.conv import ConvGeometry, ConvLike, TransposedGeometry
from groupcost.graph.network import INPUT, LayerStep, MergeStep, Network


class ExportError(GroupcostError):
    """The network has something a format cannot express (named in the message)."""


@dataclass(frozen=True)
class Emitted:
    """One layer as PyTorch code: the module's constructor, and a wrapper around its call in forward."""

    module: str
    call: str = "{m}({x})"  # {m}: the module, {x}: its input
    helpers: tuple[str, ...] = ()  # names of HELPERS the module needs in the file


def _ints(values: tuple[int, ...]) -> str:
    """A size as torch takes it: one int when all equal, else a tuple."""
    return str(values[0]) if len(set(values)) == 1 else f"({', '.join(map(str, values))})"


def _options(**kwargs) -> str:
    return "".join(f", {k}={v}" for k, v in kwargs.items() if v is not None)


def _rank(x: Shape) -> int:
    """Spatial dimensions of an input: 0 flat, 1, 2 or 3."""
    return len(x) - 1


def _nd(name: str, x: Shape) -> str:
    """`Conv` → `nn.Conv2d` for a C×H×W input (the class of the input's rank)."""
    return f"nn.{name}{_rank(x)}d"


def _torch_pad(pads: tuple[int, ...]) -> str:
    """(before, after) per dimension, first dimension first → F.pad's order (last dimension first)."""
    pairs = [pads[i : i + 2] for i in range(0, len(pads), 2)]
    return "(" + ", ".join(str(v) for pair in reversed(pairs) for v in pair) + ")"


def _conv(layer: ConvLike, x: Shape) -> Emitted:
    g: ConvGeometry = layer.geometry(x)
    rank = len(g.kernel)
    ones = (1,) * rank
    if isinstance(g, TransposedGeometry):
        module = (
            f"{_nd('ConvTranspose', x)}({g.c_in}, {g.c_out}, {_ints(g.kernel)}"
            + _options(
                stride=_ints(g.stride) if g.stride != ones else None,
                padding=_ints(g.pads[::2]) if any(g.pads) else None,
                output_padding=_ints(g.output_padding) if any(g.output_padding) else None,
                groups=g.groups if g.groups != 1 else None,
                bias=None if g.bias else "False",
                dilation=_ints(g.dilation) if g.dilation != ones else None,
            )
            + ")"
        )
        return Emitted(module)
    before, after = g.pads[::2], g.pads[1::2]
    symmetric = before == after
    module = (
        f"{_nd('Conv', x)}({g.c_in}, {g.c_out}, {_ints(g.kernel)}"
        + _options(
            stride=_ints(g.stride) if g.stride != ones else None,
            padding=_ints(before) if symmetric and any(before) else None,
            dilation=_ints(g.dilation) if g.dilation != ones else None,
            groups=g.groups if g.groups != 1 else None,
            bias=None if g.bias else "False",
        )
        + ")"
    )
    if symmetric:
        return Emitted(module)
    return Emitted(module, f"{{m}}(F.pad({{x}}, {_torch_pad(g.pads)}))")


def _linear(layer, x: Shape) -> Emitted:
    return Emitted(f"nn.Linear({x[0]}, {layer.out}{'' if layer.bias else ', bias=False'})")


def _channel_linear(layer, x: Shape) -> Emitted:
    if len(x) == 1:
        return _linear(layer, x)
    return Emitted(f"ChannelLinear({x[0]}, {layer.out}{'' if layer.bias else ', bias=False'})", helpers=("ChannelLinear",))


def _batchnorm(layer, x: Shape) -> Emitted:
    kind = {1: "BatchNorm1d", 2: "BatchNorm1d", 3: "BatchNorm2d", 4: "BatchNorm3d"}[len(x)]
    return Emitted(f"nn.{kind}({x[0]}{'' if layer.affine else ', affine=False'})")


def _layernorm(layer, x: Shape) -> Emitted:
    options = f", eps={layer.eps!r}" + ("" if layer.affine else ", elementwise_affine=False")
    if len(x) == 1:
        return Emitted(f"nn.LayerNorm({x[0]}{options})")
    return Emitted(f"ChannelLayerNorm({x[0]}{options})", helpers=("ChannelLayerNorm",))


def _groupnorm(layer, x: Shape) -> Emitted:
    return Emitted(f"nn.GroupNorm({layer.groups}, {x[0]}, eps={layer.eps!r}{'' if layer.affine else ', affine=False'})")


def _instancenorm(layer, x: Shape) -> Emitted:
    return Emitted(f"{_nd('InstanceNorm', x)}({x[0]}, eps={layer.eps!r}{', affine=True' if layer.affine else ''})")


def _layerscale(layer, x: Shape) -> Emitted:
    shape = "(" + ", ".join(map(str, (x[0], *(1,) * _rank(x)))) + ("," if len(x) == 1 else "") + ")"
    return Emitted(f"LayerScale({shape}, {layer.init!r})", helpers=("LayerScale",))


def _pool(kind: str) -> Callable[[Layer, Shape], Emitted]:
    def emit(layer, x: Shape) -> Emitted:
        _, _, k, s, p, d = layer.resolved(x)
        rank = len(k)
        options = _options(
            stride=_ints(s) if s != k else None,
            padding=_ints(p) if any(p) else None,
            dilation=_ints(d) if kind == "MaxPool" and d != (1,) * rank else None,
            ceil_mode="True" if layer.ceil_mode else None,
        )
        return Emitted(f"{_nd(kind, x)}({_ints(k)}{options})")

    return emit


def _adaptive(kind: str, one: bool = False) -> Callable[[Layer, Shape], Emitted]:
    def emit(layer, x: Shape) -> Emitted:
        size = "1" if one else _ints(layer.out_shape(x)[1:])
        return Emitted(f"{_nd(kind, x)}({size})")

    return emit


def _upsample(layer, x: Shape) -> Emitted:
    corners = f", align_corners={layer.align_corners}" if layer.mode != "nearest" else ""
    if layer.size is not None:
        out = layer.out_shape(x)[1:]
        return Emitted(f"nn.Upsample(size={out if len(out) > 1 else out[0]}, mode={layer.mode!r}{corners})")
    scale = layer.scale if not isinstance(layer.scale, tuple) else tuple(float(v) for v in layer.scale)
    return Emitted(f"nn.Upsample(scale_factor={scale!r}, mode={layer.mode!r}{corners})")


def _crop(layer, x: Shape) -> Emitted:
    out = layer.out_shape(x)[1:]
    return Emitted(f"CenterCrop({tuple(out)!r})", helpers=("CenterCrop",))


def _pad(layer, x: Shape) -> Emitted:
    value = f", {layer.value!r}" if layer.mode == "constant" and layer.value != 0 else ""
    return Emitted(f"Pad({_torch_pad(layer.pads(x))}, {layer.mode!r}{value})", helpers=("Pad",))


def _opaque(layer, x: Shape) -> Emitted:
    raise ExportError(f"layer type 'opaque' ({layer.op}) has no PyTorch export", "groupcost knows an opaque operator's shape and parameters, not what it computes")


def _plain(text: str) -> Callable[[Layer, Shape], Emitted]:
    return lambda layer, x: Emitted(text)


ACTIVATIONS = {
    "relu": "nn.ReLU()", "relu6": "nn.ReLU6()", "leakyrelu": "nn.LeakyReLU(0.01)", "elu": "nn.ELU()",
    "gelu": "nn.GELU()", "sigmoid": "nn.Sigmoid()", "hsigmoid": "nn.Hardsigmoid()", "silu": "nn.SiLU()",
    "hswish": "nn.Hardswish()", "tanh": "nn.Tanh()", "mish": "nn.Mish()", "softmax": "nn.Softmax(dim=1)",
    "identity": "nn.Identity()",
}
"""Activations without parameters, as torch modules (also used inside SqueezeExcitation)."""


EMITTERS: dict[str, Callable[[Layer, Shape], Emitted]] = {
    "conv": _conv,
    "dwconv": _conv,
    "pwconv": _conv,
    "gdc": _conv,
    "convtranspose": _conv,
    "fc": _linear,
    "linear": _channel_linear,
    "bn": _batchnorm,
    "layernorm": _layernorm,
    "groupnorm": _groupnorm,
    "instancenorm": _instancenorm,
    "layerscale": _layerscale,
    "prelu": lambda layer, x: Emitted(f"nn.PReLU({1 if layer.shared else x[0]})"),
    "maxpool": _pool("MaxPool"),
    "avgpool": _pool("AvgPool"),
    "gap": _adaptive("AdaptiveAvgPool", one=True),
    "gmp": _adaptive("AdaptiveMaxPool", one=True),
    "adaptive_avgpool": _adaptive("AdaptiveAvgPool"),
    "adaptive_maxpool": _adaptive("AdaptiveMaxPool"),
    "upsample": _upsample,
    "crop": _crop,
    "pad": _pad,
    "pixelshuffle": lambda layer, x: Emitted(f"nn.PixelShuffle({layer.r})"),
    "pixelunshuffle": lambda layer, x: Emitted(f"nn.PixelUnshuffle({layer.r})"),
    "flatten": _plain("nn.Flatten()"),
    "dropout": lambda layer, x: Emitted(f"nn.Dropout({layer.p})"),
    "lrn": lambda layer, x: Emitted(f"nn.LocalResponseNorm({layer.size})"),
    "shuffle": lambda layer, x: Emitted(f"nn.ChannelShuffle({layer.groups})"),
    "se": lambda layer, x: Emitted(f"SqueezeExcitation({x[0]}, {layer.squeeze}, {ACTIVATIONS[layer.act]}, {ACTIVATIONS[layer.gate]})", helpers=("SqueezeExcitation",)),
    "opaque": _opaque,  # refused, naming the operator: groupcost does not know what it computes
    **{name: _plain(text) for name, text in ACTIVATIONS.items()},
}
"""Every layer type (by its registered name) → its PyTorch module. Macros (dwsep) expand to these."""


HELPERS = {
    "ChannelLinear": '''
class ChannelLinear(nn.Linear):
    """nn.Linear on the channels at every position: channels moved last, mapped, moved back."""

    def forward(self, x):
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)
''',
    "ChannelLayerNorm": '''
class ChannelLayerNorm(nn.LayerNorm):
    """nn.LayerNorm over the channels at every position (ConvNeXt's LayerNorm2d)."""

    def forward(self, x):
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)
''',
    "LayerScale": '''
class LayerScale(nn.Module):
    """A learned scale per channel, torchvision's `layer_scale` (C×1×1)."""

    def __init__(self, shape, init):
        super().__init__()
        self.layer_scale = nn.Parameter(torch.full(shape, init))

    def forward(self, x):
        return x * self.layer_scale
''',
    "CenterCrop": '''
class CenterCrop(nn.Module):
    """Centre crop to `size`: offset (size_in − size) // 2 in each spatial dimension."""

    def __init__(self, size):
        super().__init__()
        self.size = tuple(size)

    def forward(self, x):
        for axis, size in enumerate(self.size, start=2):
            x = x.narrow(axis, (x.shape[axis] - size) // 2, size)
        return x
''',
    "Pad": '''
class Pad(nn.Module):
    """F.pad as a module: `pad` in F.pad's order (last dimension first), mode constant, reflect or replicate."""

    def __init__(self, pad, mode="constant", value=0.0):
        super().__init__()
        self.pad, self.mode, self.value = tuple(pad), mode, value

    def forward(self, x):
        if self.mode == "constant":
            return F.pad(x, self.pad, "constant", self.value)
        return F.pad(x, self.pad, self.mode)
''',
    "SqueezeExcitation": '''
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
''',
}


GROUP = '''
class Group(nn.Module):
    """A namespace of submodules, so that module paths are the layer names: `layer1[0].conv1`."""

    def __getitem__(self, key):
        return self._modules[str(key)]
'''


def emit_layer(step: LayerStep) -> Emitted:
    emitter = EMITTERS.get(step.layer.type_name)
    if emitter is None:
        raise ExportError(f"layer type '{step.layer.type_name}' ({step.name}) has no PyTorch export", "add it to groupcost.formats.torch.export.EMITTERS", step.loc)
    if step.layer.type_name == "opaque":
        raise ExportError(f"layer type 'opaque' ({step.name}, {step.layer.op}) has no PyTorch export",
                          "groupcost knows an opaque operator's shape and parameters, not what it computes; replace it in the spec", step.loc)
    if step.layer.type_name == "layerscale" and step.name.rsplit(".", 1)[-1] == "layer_scale":
        # named after its one tensor (torchvision's `features.1.0.layer_scale`): a parameter, not a module
        shape = tuple(step.parameter_shapes()[step.name])
        return Emitted(f"nn.Parameter(torch.full({shape!r}, {step.layer.init!r}))", "{x} * {m}")
    return emitter(step.layer, step.in_shape)


# ---- names -------------------------------------------------------------------------------------

_MODULE_ATTRIBUTES = frozenset(
    "training forward eval train type float half double bfloat16 cuda cpu xpu ipu mtia to apply parameters modules children "
    "buffers state_dict load_state_dict zero_grad register_buffer register_parameter register_module add_module "
    "get_submodule get_parameter get_buffer extra_repr requires_grad_ share_memory compile named_modules named_parameters "
    "named_buffers named_children set_extra_state get_extra_state call_super_init dump_patches to_empty".split()
)


def _plain_attribute(segment: str) -> bool:
    return segment.isidentifier() and not keyword.iskeyword(segment) and not segment.startswith("_") and segment not in _MODULE_ATTRIBUTES


def module_path(name: str) -> str:
    """`layer1.0.conv1` → `self.layer1[0].conv1`: how forward and __init__ reach a module."""
    text = "self"
    for segment in name.split("."):
        if _plain_attribute(segment):
            text += f".{segment}"
        elif segment.isdigit():
            text += f"[{int(segment)}]"
        else:
            text += f"[{segment!r}]"
    return text


def class_name(model: str) -> str:
    """`shufflenet_v2_x1_0` → `ShufflenetV2X1_0` (an underscore kept between two digits)."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", model) if p]
    text = ""
    for part in parts:
        if text and text[-1].isdigit() and part[0].isdigit():
            text += "_"
        text += part[0].upper() + part[1:]
    if not text or not text[0].isalpha():
        text = "Net" + text
    return text


class _Variables:
    """Python names for the graph's tensors in forward: the layer name with `_` for dots."""

    def __init__(self):
        self.names = {INPUT: "x"}
        self.used = {"x", "self", "torch", "nn", "F"}

    def define(self, tensor: str) -> str:
        base = re.sub(r"\W", "_", tensor)
        if not base or base[0].isdigit() or keyword.iskeyword(base):
            base = "t_" + base
        name, n = base, 2
        while name in self.used:
            name, n = f"{base}_{n}", n + 1
        self.used.add(name)
        self.names[tensor] = name
        return name

    def read(self, tensor: str, channels) -> str:
        name = self.names[tensor]
        return name if channels is None else f"{name}[:, {channels[0]}:{channels[1]}]"


# ---- the file ----------------------------------------------------------------------------------


def _literal(value) -> str:
    return repr(value)


def pytorch_source(network: Network, command: str | None = None) -> str:
    """The network as one Python file: `class <Name>(nn.Module)` and `build()`. Raises ExportError."""
    emitted = {step.name: emit_layer(step) for step in network.nodes if isinstance(step, LayerStep)}
    cls = class_name(network.name)
    helpers = sorted({h for e in emitted.values() for h in e.helpers})
    uses_pad = any("F.pad" in e.call for e in emitted.values()) or "Pad" in helpers

    init: list[str] = []
    containers: set[str] = set()
    leaves = set(emitted)
    for name, e in emitted.items():
        parts = name.split(".")
        for depth in range(1, len(parts)):
            prefix = ".".join(parts[:depth])
            if prefix in leaves:
                raise ExportError(f"'{prefix}' is both a layer and the namespace of '{name}'", "PyTorch module paths must form a tree", network.nodes[0].loc)
            if prefix not in containers:
                containers.add(prefix)
                init.append(_assign(prefix, "Group()"))
        init.append(_assign(name, e.module))

    variables = _Variables()
    body: list[str] = []
    for node in network.nodes:
        reads = [variables.read(t, c) for t, c in zip(node.inputs, node.channels)]
        target = variables.define(node.name)
        if isinstance(node, LayerStep):
            call = emitted[node.name].call.format(m=module_path(node.name), x=reads[0])
            body.append(f"{target} = {call}  # {node.type_name} → {_shape(node.out_shape)}")
        else:
            body.append(f"{target} = {_merge(node, reads)}  # {node.kind} → {_shape(node.out_shape)}")
    outputs = [variables.names[name] for name in network.outputs]
    result = outputs[0] if len(outputs) == 1 else "(" + ", ".join(outputs) + ")"

    settings = ", ".join(f"{k}={_literal(v)}" for k, v in network.variables.items()) or "none"
    header = [
        f'"""{network.name}: {network.description}'.rstrip(": ") if network.description else f'"""{network.name}',
        "",
        f"Written by groupcost from {network.source}" + (f" ({command})" if command else "") + ".",
        f"Variables, resolved: {settings}.",
        f"Input: {network.batch}×{_shape(network.input_shape)}; output{'s' if len(outputs) > 1 else ''}: "
        + ", ".join(_shape(s) for s in network.output_shapes) + ".",
        "Module paths are the spec's layer names; forward runs the resolved graph, one node a line.",
        "Needs only torch.",
        '"""',
        "",
        "import torch",
        "from torch import nn",
    ]
    if uses_pad:
        header.append("from torch.nn import functional as F")
    lines = [*header, "", f"INPUT_SHAPE = ({network.batch}, {', '.join(map(str, network.input_shape))})", f"VARIABLES = {_literal(dict(network.variables))}", ""]
    lines.append(GROUP.rstrip("\n"))
    for helper in helpers:
        lines.append("")
        lines.append(HELPERS[helper].rstrip("\n"))
    lines += ["", "", f"class {cls}(Group):", f'    """{network.name} as groupcost resolved it."""', "", "    def __init__(self):", "        super().__init__()"]
    lines += [f"        {line}" for line in init]
    lines += ["", "    def forward(self, x):"]
    lines += [f"        {line}" for line in body]
    lines += [f"        return {result}", "", "", "def build(**variables) -> nn.Module:", f'    """A new, untrained {cls}. Its variables are those it was exported with (VARIABLES); to change one, export again with --set."""',
              "    changed = {k: v for k, v in variables.items() if VARIABLES.get(k, v) != v or k not in VARIABLES}",
              "    if changed:",
              f'        raise ValueError(f"this file holds {network.name} with {{VARIABLES}}; for {{changed}} run groupcost export again with --set")',
              f"    return {cls}()", ""]
    return "\n".join(lines)


def _assign(name: str, value: str) -> str:
    parent, _, last = name.rpartition(".")
    owner = module_path(parent) if parent else "self"
    if _plain_attribute(last):
        return f"{owner}.{last} = {value}"
    return f"{owner}.add_module({last!r}, {value})"


def _merge(node: MergeStep, reads: list[str]) -> str:
    if node.kind == "concat":
        return f"torch.cat([{', '.join(reads)}], 1)"
    return f" {'+' if node.kind == 'add' else '*'} ".join(reads)


def _shape(shape: Shape) -> str:
    return "×".join(map(str, shape))


def export_pytorch(doc, overrides: dict | None = None, command: str | None = None) -> tuple[str, str | None]:
    """The PyTorch file for a spec: its structure raised (blocks as classes, repeat as loops,
    variables as build()'s arguments) where groupcost.formats.torch.structured can, else the resolved graph.

    Returns (source, why the graph was written instead, or None). Where torch is installed, the
    raised form is checked against the graph (state_dict keys, shapes and order, and the output
    shapes, on the meta device: no arithmetic) before it is chosen.
    """
    from groupcost.formats.torch.structured import Unraisable, spec_source
    from groupcost.language.build import build

    network = build(doc, overrides or {})
    settings = ", ".join(f"{k}={_literal(v)}" for k, v in network.variables.items()) or "none"
    header = [
        f'"""{network.name}: {network.description}' if network.description else f'"""{network.name}',
        "",
        f"Written by groupcost from {network.source}" + (f" ({command})" if command else "") + ".",
        "Blocks are classes whose constructors take the block's arguments (and the input shape),",
        "`repeat` is a loop, and the spec's variables are the arguments of build(), with the spec's",
        f"values as defaults ({settings}). Module paths are the spec's layer names. Needs only torch.",
        '"""',
    ]
    try:
        source = spec_source(doc, header, overrides)
    except Unraisable as exc:
        return pytorch_source(network, command), f"not raised: {exc}"
    except Exception as exc:  # a gap in raising must not stop the export: the graph is written instead
        return pytorch_source(network, command), f"not raised ({type(exc).__name__}: {exc})"
    problem = _differs(source, network)
    if problem:
        return pytorch_source(network, command), f"the raised form differs from the graph ({problem})"
    return source, None


def _differs(source: str, network: Network) -> str | None:
    """Where the raised source's module differs from the graph's; None when equal or torch is missing."""
    try:
        import torch
    except ImportError:
        return None
    try:
        with torch.device("meta"):
            raised = load_module(source)["build"]().eval()
            graph = load_module(pytorch_source(network))["build"]().eval()
        keys = [(k, tuple(v.shape)) for k, v in raised.state_dict().items()]
        expected = [(k, tuple(v.shape)) for k, v in graph.state_dict().items()]
        if keys != expected:
            first = next((a, b) for a, b in zip(keys + [None], expected + [None]) if a != b)
            return f"state_dict {first[0]} where the graph has {first[1]}"
        with torch.no_grad():
            y = raised(torch.zeros(network.batch, *network.input_shape, device="meta"))
        shapes = (tuple(y.shape[1:]),) if isinstance(y, torch.Tensor) else tuple(tuple(t.shape[1:]) for t in y)
        if shapes != network.output_shapes:
            return f"output {shapes} where the graph gives {network.output_shapes}"
    except Exception as exc:  # a bug in raising must not stop the export: the graph is written instead
        return f"{type(exc).__name__}: {exc}"
    return None


def load_module(source: str, name: str = "groupcost_export"):
    """Execute generated source (needs torch) and return its namespace, for `build()`."""
    namespace: dict = {"__name__": name}
    exec(compile(source, f"<{name}>", "exec"), namespace)
    return namespace


def torch_model(network: Network):
    """The network as a torch module, built from the same source `export --to pytorch` writes."""
    return load_module(pytorch_source(network))["build"]()
