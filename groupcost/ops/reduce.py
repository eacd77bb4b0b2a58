"""A reduction over chosen dimensions: sum, mean, max or L2 norm. No parameters, no MACs.

What split attention sums its radix branches with (`x.sum(dim=1)` of a stacked tensor), what
selective-kernel attention and ConvNeXt V2's global response norm (an L2 norm over H and W)
compute; global pools over every spatial dimension are `gap` and `gmp`. Dims are numbered as
PyTorch numbers them, the batch being 0 (refused) and the channels 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from groupcost.ops.adapters import OnnxGraph, Place, TorchModule
from groupcost.ops.base import Layer, LayerError, Shape, arg, boolean, one_of
from groupcost.ops.registry import register
from groupcost.ops.view import dim_index, whole_list

_ONNX = {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax", "l2": "ReduceL2"}


@register("reduce")
@dataclass(frozen=True)
class Reduce(Layer):
    """x reduced over `dims` (sum, mean, max or the L2 norm), as torch's x.sum(dim, keepdim)."""

    op: str = arg(one_of(*_ONNX), doc="sum, mean, max or l2 (the square root of the sum of squares)")
    dims: tuple[int, ...] = arg(whole_list, doc="the dims reduced, as PyTorch numbers them: [1] the channels, [2, 3] H and W")
    keepdim: bool = arg(boolean, False, "keep each reduced dim as 1")

    def axes(self, x: Shape) -> tuple[int, ...]:
        """The reduced dims as indices into the per-sample shape, in order, each once."""
        axes = sorted({dim_index(d, x, self.type_name, "dims") for d in self.dims})
        if len(axes) != len(self.dims):
            raise LayerError(f"reduce dims {list(self.dims)} name one dim twice", "each dim once", arg="dims")
        if not self.keepdim and len(axes) == len(x):
            raise LayerError("reduce over every dim leaves no per-sample shape", "keepdim: true, or keep a dim", arg="dims")
        return tuple(axes)

    def out_shape(self, x: Shape) -> Shape:
        axes = self.axes(x)
        return tuple(1 if k in axes else d for k, d in enumerate(x)) if self.keepdim else tuple(d for k, d in enumerate(x) if k not in axes)

    def forward(self, x, weights, counter):
        import numpy as np

        axes = tuple(a + 1 for a in self.axes(x.shape[1:]))
        if self.op == "l2":
            return np.sqrt(np.sum(np.square(x, dtype=np.float64), axis=axes, keepdims=self.keepdim)).astype(x.dtype)
        reduce = {"sum": np.sum, "mean": np.mean, "max": np.max}[self.op]
        return reduce(x, axis=axes, keepdims=self.keepdim).astype(x.dtype, copy=False)

    def torch_module(self, at: Place) -> TorchModule:
        dims = tuple(a + 1 for a in self.axes(at.in_shape))
        return TorchModule(f"Reduce({self.op!r}, {dims!r}, {self.keepdim!r})", helpers=(("Reduce", REDUCE),))

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        axes = [a + 1 for a in self.axes(at.in_shape)]
        g.node(_ONNX[self.op], [x, g.ints(f"{at.name}.axes", axes)], at.name, keepdims=int(self.keepdim))


REDUCE = '''
class Reduce(nn.Module):
    """x reduced over dims: sum, mean, max or the L2 norm."""

    def __init__(self, op, dims, keepdim=False):
        super().__init__()
        self.op, self.dims, self.keepdim = op, dims, keepdim

    def forward(self, x):
        if self.op == "l2":
            return torch.linalg.vector_norm(x, 2, dim=self.dims, keepdim=self.keepdim)
        if self.op == "max":
            return torch.amax(x, dim=self.dims, keepdim=self.keepdim)
        return getattr(torch, self.op)(x, dim=self.dims, keepdim=self.keepdim)
'''
