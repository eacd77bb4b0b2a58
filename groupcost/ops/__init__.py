"""Layer types, one module per family, each registered by name in `LAYER_TYPES`."""

from groupcost.ops import activation, attention, conv, detection, elementwise, grn, linear, norm, opaque, pool, position, reduce, resize, shape, table, token, view  # noqa: F401  (registration)
from groupcost.ops.merge import MERGE_TYPES, Merge
from groupcost.ops.base import Cost, Layer, LayerError, Macro, Shape, format_shape
from groupcost.ops.registry import ALIASES, LAYER_TYPES

__all__ = ["ALIASES", "LAYER_TYPES", "MERGE_TYPES", "Merge", "Cost", "Layer", "LayerError", "Macro", "Shape", "format_shape"]
