"""Spec or network → one readable PyTorch source file (imports only torch), in one of two forms.

`export_pytorch` writes the spec's structure raised (groupcost.formats.torch.structured: blocks as
classes, `repeat` as loops, variables as build()'s arguments); what that form does not raise is
written as the resolved graph (groupcost.formats.torch.graph), saying why. Either way a zoo spec
that follows torchvision's names gives torchvision's `state_dict` keys.

What is written depends on the spec alone, not on whether torch is installed: the tests prove,
with torch, that the raised form computes what the graph form computes.
"""

from __future__ import annotations

import textwrap

from groupcost.formats.torch.graph import pytorch_source
from groupcost.formats.torch.names import class_name, module_path
from groupcost.formats.torch.structured import spec_source
from groupcost.graph.network import Network
from groupcost.language.build import build
from groupcost.ops.adapters import ExportError, Unraisable

__all__ = ["ExportError", "class_name", "export_pytorch", "load_module", "module_path", "pytorch_source", "torch_model"]


def export_pytorch(doc, overrides: dict | None = None, command: str | None = None) -> tuple[str, str | None]:
    """The PyTorch file for a spec: its structure raised where groupcost.formats.torch.structured can, else the resolved graph.

    Returns (source, why the graph was written instead, or None).
    """
    network = build(doc, overrides or {})
    settings = ", ".join(f"{k}={v!r}" for k, v in network.variables.items()) or "none"
    if len(settings) > 200:
        settings = ", ".join(network.variables) + ": see build()"
    about = (f"Written by groupcost from {network.source}" + (f" ({command})" if command else "") + ". "
             "Blocks are classes whose constructors take the block's arguments (and the input shape), "
             "`repeat` is a loop, and the spec's variables are the arguments of build(), with the spec's "
             f"values as defaults ({settings}). Module paths are the spec's layer names. Needs only torch.")
    header = [
        f'"""{network.name}: {network.description}' if network.description else f'"""{network.name}',
        "",
        *textwrap.wrap(about, 100, break_long_words=False, break_on_hyphens=False),
        '"""',
    ]
    try:
        return spec_source(doc, header, overrides), None
    except Unraisable as exc:
        return pytorch_source(network, command), f"not raised: {exc}"


def load_module(source: str, name: str = "groupcost_export"):
    """Execute generated source (needs torch) and return its namespace, for `build()`."""
    namespace: dict = {"__name__": name}
    exec(compile(source, f"<{name}>", "exec"), namespace)
    return namespace


def torch_model(network: Network):
    """The network as a torch module, built from the same source `export --to pytorch` writes."""
    return load_module(pytorch_source(network))["build"]()
