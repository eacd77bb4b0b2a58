"""Layer types, one module per family, each registered by name in `LAYER_TYPES`."""

from groupcost.layers import activation, attention, conv, linear, norm, opaque, pool, resize, shape  # noqa: F401  (registration)
from groupcost.layers.base import Cost, Layer, LayerError, Macro, Shape, format_shape
from groupcost.layers.registry import ALIASES, LAYER_TYPES

__all__ = ["ALIASES", "LAYER_TYPES", "Cost", "Layer", "LayerError", "Macro", "Shape", "format_shape"]
