"""Network → one readable PyTorch source file (imports only torch): the resolved-graph form.

The network built for one set of variables: module attribute paths = layer names (`layer2.0.conv2`)
in nested `Group` containers, and `forward` running the graph's nodes in order, one line each; a
step that shares a module (`share:`) calls the first one's again, and has no module of its own.
Each layer's module comes from its type (`torch_module`, groupcost.ops.adapters); a type without
one is refused, naming it. Writing the source needs no torch: it is text.
"""

from __future__ import annotations

import keyword
import re

from groupcost.formats.torch.names import class_name, module_path, plain_attribute
from groupcost.graph.network import INPUT, LayerStep, Network
from groupcost.ops import Shape
from groupcost.ops.adapters import ExportError, Place, TorchModule

GROUP = '''
class Group(nn.Module):
    """A namespace of submodules, so that module paths are the layer names: `layer1[0].conv1`."""

    def __getitem__(self, key):
        return self._modules[str(key)]
'''


def torch_module(step: LayerStep, size_of: str | None = None) -> TorchModule:
    """The step's module, as its layer type writes it; `size_of`: the Python name of the tensor whose
    spatial size a `to:` layer takes, read when forward runs (so the module follows the input's size)."""
    return step.layer.torch_module(Place(step.name, step.in_shape, step.out_shape, step.loc, size_of))


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


def _literal(value) -> str:
    return repr(value)


def pytorch_source(network: Network, command: str | None = None) -> str:
    """The network as one Python file: `class <Name>(nn.Module)` and `build()`. Raises ExportError."""
    variables = _Variables()
    targets = [variables.define(node.name) for node in network.nodes]
    emitted = {step.name: torch_module(step, step.size_of and variables.read(step.size_of, None))
               for step in network.nodes if isinstance(step, LayerStep) and step.shares is None}
    cls = class_name(network.name)
    helpers = dict(sorted({h for e in emitted.values() for h in e.helpers}))
    uses_f = any(re.search(r"\bF\b", text) for text in [*(e.call for e in emitted.values()), *helpers.values()])  # F.pad, getattr(F, ...)

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

    body: list[str] = []
    for node, target in zip(network.nodes, targets):
        reads = [variables.read(t, c) for t, c in zip(node.inputs, node.channels)]
        if isinstance(node, LayerStep):  # a step that shares a module calls the first one's again
            owner = node.shares or node.name
            call = emitted[owner].call.format(m=module_path(owner), x=reads[0])
            body.append(f"{target} = {call}  # {node.type_name} → {_shape(node.out_shape)}")
        else:
            body.append(f"{target} = {node.merge.torch_expression(reads)}  # {node.kind} → {_shape(node.out_shape)}")
    outputs = [variables.names[name] for name in network.outputs]
    if network.output_keys:  # a dict, as torchvision's segmentation models and FPN return
        items = [f"{key!r}: {tensor}" for key, tensor in zip(network.output_keys, outputs)]
        result = "{" + ", ".join(items) + "}" if len(", ".join(items)) < 80 else "{\n" + "".join(f"            {i},\n" for i in items) + "        }"
    else:
        result = outputs[0] if len(outputs) == 1 else "(" + ", ".join(outputs) + ")"

    settings = ", ".join(f"{k}={_literal(v)}" for k, v in network.variables.items()) or "none"
    header = [
        f'"""{network.name}: {network.description}'.rstrip(": ") if network.description else f'"""{network.name}',
        "",
        f"Written by groupcost from {network.source}" + (f" ({command})" if command else "") + ".",
        f"Variables, resolved: {settings}.",
        f"Input: {network.batch}×{_shape(network.input_shape)}; output{'s' if len(outputs) > 1 else ''}: "
        + ", ".join((f"{key!r}: " if key else "") + _shape(s) for key, s in zip(network.output_keys or [""] * len(outputs), network.output_shapes))
        + (" (a dict)." if network.output_keys else "."),
        "Module paths are the spec's layer names; forward runs the resolved graph, one node a line.",
        *(["Sizes the spec takes from a tensor (`to:`) are read from it in forward: the outputs follow the input."]
          if any(isinstance(step, LayerStep) and step.size_of for step in network.nodes) else []),
        "Needs only torch.",
        '"""',
        "",
        "import torch",
        "from torch import nn",
    ]
    if uses_f:
        header.append("from torch.nn import functional as F")
    lines = [*header, "", f"INPUT_SHAPE = ({network.batch}, {', '.join(map(str, network.input_shape))})", f"VARIABLES = {_literal(dict(network.variables))}", ""]
    lines.append(GROUP.rstrip("\n"))
    for text in helpers.values():
        lines.append("")
        lines.append(text.rstrip("\n"))
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
    if plain_attribute(last):
        return f"{owner}.{last} = {value}"
    return f"{owner}.add_module({last!r}, {value})"


def _shape(shape: Shape) -> str:
    return "×".join(map(str, shape))
