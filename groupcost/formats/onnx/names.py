"""Step names from module paths: the exporters' node names, scope metadata and weight names.

The TorchScript exporter names nodes by module (`/layer1/layer1.0/conv1/Conv`), the torch.export
exporter keeps `pkg.torch.onnx.name_scopes` metadata and its initializer names
(`layer1.0.conv1.weight`); groupcost's own export (producer `groupcost`) names each node by its
layer, top-level ones (`avgpool`, `9`) included.
"""

from __future__ import annotations

import re


PRODUCER = "groupcost"
"""The producer_name of the files groupcost writes: their node names are the layers' names."""


def module_path(node, own: bool = False) -> str:
    """The module path of the code that wrote this node ('' at the top level or when unknown);
    `own`: a file groupcost wrote, whose node names are step names, dotted or not."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes" and len(prop.value) < 10_000:
            scopes = re.findall(r"'((?:[^'\\]|\\.)*)'", prop.value)
            return scopes[-2] if len(scopes) >= 2 else ""
    if node.name.startswith("/"):
        path = ""
        for segment in node.name.split("/")[1:-1]:
            # TorchScript writes each module by its qualified name's tail from the last non-numeric atom
            # (`layer1.0`, `conv1`, `branch1.0`): a module's own attribute name is that tail's last atom.
            path = f"{path}.{segment.split('.')[-1]}" if path else segment
        return path
    if own and STEP_NAME.fullmatch(node.name):
        return node.name
    if "." in node.name and LAYER_NAME.fullmatch(node.name):
        return node.name  # a writer that names each node by its layer (groupcost export --to onnx)
    return ""


LAYER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)+")
STEP_NAME = re.compile(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*")


_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")


def clean(path: str) -> str:
    segments = [s for s in _BAD_CHARS.sub("_", path).split(".") if s]
    return ".".join(s + "_" if s in ("input", "in") else s for s in segments)


def weight_path(node, index: int) -> str | None:
    """The module path in a weight's name (`layer1.0.conv1.weight`), when the exporter kept it."""
    return parameter_module(node.input[index]) if len(node.input) > index else None


def parameter_module(name: str) -> str | None:
    """`layer1.0.conv1.weight` → `layer1.0.conv1`: the module a weight's PyTorch name holds, if it is one."""
    if name.endswith(".weight") and not name.startswith("onnx::") and "/" not in name:
        return clean(name[: -len(".weight")]) or None
    return None
