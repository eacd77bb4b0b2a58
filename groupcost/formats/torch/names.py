"""Python names in the written PyTorch files: module paths from layer names, class names from model names."""

from __future__ import annotations

import keyword
import re

_MODULE_ATTRIBUTES = frozenset(
    "training forward eval train type float half double bfloat16 cuda cpu xpu ipu mtia to apply parameters modules children "
    "buffers state_dict load_state_dict zero_grad register_buffer register_parameter register_module add_module "
    "get_submodule get_parameter get_buffer extra_repr requires_grad_ share_memory compile named_modules named_parameters "
    "named_buffers named_children set_extra_state get_extra_state call_super_init dump_patches to_empty".split()
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
