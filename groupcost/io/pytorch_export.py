"""Network → one readable PyTorch source file (imports only torch).

Two forms. `export_pytorch` first raises the spec's structure (groupcost.io.pytorch_spec: blocks
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
from groupcost.layers import Layer, Shape
from groupcost.layers.conv import ConvGeometry, ConvLike
from groupcost.network import INPUT, LayerStep, MergeStep, Network


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


def _conv(layer: ConvLike, x: Shape) -> Emitted:
    g: ConvGeometry = layer.geometry(x)
    top, bottom, left, right = g.pads
    symmetric = top == bottom and left == right
    padding = _ints((top, left)) if symmetric else "0"
    module = (
        f"nn.Conv2d({g.c_in}, {g.c_out}, {_ints(g.kernel)}"
        + _options(
            stride=_ints(g.stride) if g.stride != (1, 1) else None,
            padding=padding if padding != "0" else None,
            dilation=_ints(g.dilation) if g.dilation != (1, 1) else None,
            groups=g.groups if g.groups != 1 else None,
            bias=None if g.bias else "False",
        )
        + ")"
    )
    if symmetric:
        return Emitted(module)
    return Emitted(module, f"{{m}}(F.pad({{x}}, ({left}, {right}, {top}, {bottom})))")


def _linear(layer, x: Shape) -> Emitted:
    return Emitted(f"nn.Linear({x[0]}, {layer.out}{'' if layer.bias else ', bias=False'})")


def _batchnorm(layer, x: Shape) -> Emitted:
    kind = "BatchNorm2d" if len(x) == 3 else "BatchNorm1d"
    return Emitted(f"nn.{kind}({x[0]}{'' if layer.affine else ', affine=False'})")


def _pool(kind: str) -> Callable[[Layer, Shape], Emitted]:
    def emit(layer, x: Shape) -> Emitted:
        s = layer.s or layer.k
        pads = (layer.p[0], layer.p[2])
        options = _options(
            stride=_ints(s) if s != layer.k else None,
            padding=_ints(pads) if any(pads) else None,
            dilation=_ints(layer.d) if kind == "MaxPool2d" and layer.d != (1, 1) else None,
            ceil_mode="True" if layer.ceil_mode else None,
        )
        return Emitted(f"nn.{kind}({_ints(layer.k)}{options})")

    return emit


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
    "fc": _linear,
    "bn": _batchnorm,
    "prelu": lambda layer, x: Emitted(f"nn.PReLU({1 if layer.shared else x[0]})"),
    "maxpool": _pool("MaxPool2d"),
    "avgpool": _pool("AvgPool2d"),
    "gap": _plain("nn.AdaptiveAvgPool2d(1)"),
    "adaptive_avgpool": lambda layer, x: Emitted(f"nn.AdaptiveAvgPool2d({_ints(layer.size)})"),
    "flatten": _plain("nn.Flatten()"),
    "dropout": lambda layer, x: Emitted(f"nn.Dropout({layer.p})"),
    "lrn": lambda layer, x: Emitted(f"nn.LocalResponseNorm({layer.size})"),
    "shuffle": lambda layer, x: Emitted(f"nn.ChannelShuffle({layer.groups})"),
    "se": lambda layer, x: Emitted(f"SqueezeExcitation({x[0]}, {layer.squeeze}, {ACTIVATIONS[layer.act]}, {ACTIVATIONS[layer.gate]})", helpers=("SqueezeExcitation",)),
    **{name: _plain(text) for name, text in ACTIVATIONS.items()},
}
"""Every layer type (by its registered name) → its PyTorch module. Macros (dwsep) expand to these."""


HELPERS = {
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
        raise ExportError(f"layer type '{step.layer.type_name}' ({step.name}) has no PyTorch export", "add it to groupcost.io.pytorch_export.EMITTERS", step.loc)
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
    uses_pad = any("F.pad" in e.call for e in emitted.values())

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
    variables as build()'s arguments) where groupcost.io.pytorch_spec can, else the resolved graph.

    Returns (source, why the graph was written instead, or None). Where torch is installed, the
    raised form is checked against the graph (state_dict keys, shapes and order, and the output
    shapes, on the meta device: no arithmetic) before it is chosen.
    """
    from groupcost.io.pytorch_spec import Unraisable, spec_source
    from groupcost.spec.build import build

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
