"""Step names from module paths: the exporters' node names, scope metadata and weight names.

The TorchScript exporter names nodes by module (`/layer1/layer1.0/conv1/Conv`), the torch.export
exporter keeps `pkg.torch.onnx.name_scopes` metadata and its initializer names
(`layer1.0.conv1.weight`); groupcost's own export names each node by its layer.
"""

from __future__ import annotations

import re


def module_path(node) -> str:
    """The module path of the code that wrote this node ('' at the top level or when unknown)."""
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
    if "." in node.name and LAYER_NAME.fullmatch(node.name):
        return node.name  # a writer that names each node by its layer (groupcost export --to onnx)
    return ""


LAYER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)+")


_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")


def clean(path: str) -> str:
    segments = [s for s in _BAD_CHARS.sub("_", path).split(".") if s]
    return ".".join(s + "_" if s in ("input", "in") else s for s in segments)


def weight_path(node, index: int) -> str | None:
    """The module path in a weight's name (`layer1.0.conv1.weight`), when the exporter kept it."""
    if len(node.input) > index:
        name = node.input[index]
        if name.endswith(".weight") and not name.startswith("onnx::") and "/" not in name:
            return clean(name[: -len(".weight")]) or None
    return None
