"""Python names in the written PyTorch files: module paths from layer names, class names from model names."""

from __future__ import annotations

import ast
import keyword
import re

from groupcost.ops.adapters import Unraisable

_MODULE_ATTRIBUTES = frozenset(
    ["training", "forward", "eval", "train", "type", "float", "half", "double", "bfloat16", "cuda", "cpu", "xpu", "ipu", "mtia", "to", "apply", "parameters", "modules", "children", "buffers", "state_dict", "load_state_dict", "zero_grad", "register_buffer", "register_parameter", "register_module", "add_module", "get_submodule", "get_parameter", "get_buffer", "extra_repr", "requires_grad_", "share_memory", "compile", "named_modules", "named_parameters", "named_buffers", "named_children", "set_extra_state", "get_extra_state", "call_super_init", "dump_patches", "to_empty"]
)


def plain_attribute(segment: str) -> bool:
    """A name that can be an attribute of an nn.Module (`self.conv1`) without clashing with its API."""
    return segment.isidentifier() and not keyword.iskeyword(segment) and not segment.startswith("_") and segment not in _MODULE_ATTRIBUTES


def module_path(name: str) -> str:
    """`layer1.0.conv1` → `self.layer1[0].conv1`: how forward and __init__ reach a module."""
    text = "self"
    for segment in name.split("."):
        if plain_attribute(segment):
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


def literal_name(name: str) -> str | None:
    """The name a Python string literal holds (`'conv1'` → `conv1`); None for a computed name (`str(index)`)."""
    if name.startswith(("'", '"')):
        return ast.literal_eval(name)
    return None


def module_ref(name: str) -> str:
    """How code in a module reaches the child named by the Python expression `name`."""
    literal = literal_name(name)
    if literal is not None and plain_attribute(literal):
        return f"self.{literal}"
    return f"self._modules[{name}]"


def placed_name(lines: list[str]) -> str:
    """The name of the module the constructor lines placed last in `self`."""
    for line in reversed(lines):
        m = re.match(r"\s*self\.(\w+) = ", line)
        if m and not line.strip().startswith("self.out_shape"):
            return repr(m.group(1))
        m = re.match(r"\s*self\.add_module\(('[^']*'), ", line)
        if m:
            return m.group(1)
    raise Unraisable("a module whose name forward cannot refer to")
