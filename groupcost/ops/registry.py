"""The one mapping from spec name to layer type."""

from __future__ import annotations

from groupcost.ops.base import Layer, Macro

LAYER_TYPES: dict[str, type[Layer]] = {}
ALIASES: dict[str, str] = {}


def register(name: str, *aliases: str):
    """Class decorator: make a layer type available in specs under `name` (and `aliases`)."""

    def decorate(cls: type[Layer]) -> type[Layer]:
        if cls.forward is Layer.forward and not issubclass(cls, Macro):
            raise RuntimeError(f"layer type '{name}' has no NumPy kernel: define forward() beside its cost")
        for key in (name, *aliases):
            if key in LAYER_TYPES:
                raise RuntimeError(f"layer type '{key}' registered twice")
            LAYER_TYPES[key] = cls
        for alias in aliases:
            ALIASES[alias] = name
        cls.type_name = name
        return cls

    return decorate
