"""Views: layers that only rearrange or select elements. No parameters, no MACs.

Dimensions are numbered as PyTorch numbers them, the batch being dim 0: the channels are `dim: 1`,
and of a C×H×W tensor H is 2 and W is 3 (or −2 and −1), so a spec reads as the torch code it
comes from. A view's output may have any rank (`reshape` of 64×8400 to 4×16×8400); layers that
need a feature map (conv, pool, ...) refuse more than three spatial dimensions by name.

- `slice`: one range [start:stop] of one dimension, Python's rules (negatives count from the end);
- `chunk`: n parts of one dimension as torch.chunk cuts them, each a `slice` step named NAME.k;
- `reshape`: a new per-sample shape, one −1 allowed; `flatten` (groupcost.ops.shape) flattens a range of dims;
- `transpose` (two dims swapped) and `permute` (every dim, the batch first);
- `broadcast`: a dim of size 1 repeated (torch's `expand`: a gate tiled over a map before a concat).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from groupcost.ops.adapters import OnnxGraph, Place, Raised, Raising, TorchModule
from groupcost.ops.base import Layer, LayerError, Macro, Shape, arg, format_shape, positive_int
from groupcost.ops.registry import register


def whole(value: Any) -> int:
    """Any whole number, negative included (an index counted from the end)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise LayerError(f"expected a whole number, got {value!r}")
    return value


def optional_whole(value: Any) -> int | None:
    return None if value is None else whole(value)


def whole_list(value: Any) -> tuple[int, ...]:
    """A list of whole numbers (a shape with one −1, or dims)."""
    if not isinstance(value, list) or not value:
        raise LayerError(f"expected a list of whole numbers, got {value!r}")
    return tuple(whole(v) for v in value)


def dim_index(dim: int, x: Shape, type_name: str, name: str = "dim") -> int:
    """A PyTorch dim of a batched tensor N×`x` (0 the batch, −1 the last) → the index into `x`.

    The batch cannot be chosen: groupcost's shapes are per sample."""
    rank = len(x) + 1
    full = dim + rank if dim < 0 else dim
    if not 0 <= full < rank:
        raise LayerError(f"{type_name} {name}: dim {dim} is outside a tensor of {rank} dims (N×{format_shape(x)})",
                         f"dims are numbered as in PyTorch: 0 the batch, 1 the channels, up to {rank - 1} (or -1 for the last)", arg=name)
    if full == 0:
        raise LayerError(f"{type_name} {name}: dim {dim} is the batch, which groupcost keeps apart",
                         "dims are numbered as in PyTorch: 1 is the channels", arg=name)
    return full - 1


TORCH_HELPERS = {
    "Slice": '''
class Slice(nn.Module):
    """x[:, ..., start:stop:step] along one dim (PyTorch's numbering, 0 the batch); knows its output shape."""

    def __init__(self, shape, dim, start=0, stop=None, step=1):
        super().__init__()
        self.dim = dim % (len(shape) + 1)
        self.start, self.stop, self.step = slice(start, stop, step).indices(shape[self.dim - 1])
        self.length = len(range(self.start, self.stop, self.step))
        self.out_shape = (*shape[:self.dim - 1], self.length, *shape[self.dim:])

    def forward(self, x):
        if self.step == 1:
            return x.narrow(self.dim, self.start, self.length)
        return x[(slice(None),) * self.dim + (slice(self.start, self.stop, self.step),)]
''',
    "Reshape": '''
class Reshape(nn.Module):
    """x.reshape(batch, *shape): a per-sample shape with at most one -1."""

    def __init__(self, shape, target):
        super().__init__()
        known = 1
        for d in target:
            known *= d if d != -1 else 1
        numel = 1
        for d in shape:
            numel *= d
        self.out_shape = tuple(numel // known if d == -1 else d for d in target)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.out_shape)
''',
    "Permute": '''
class Permute(nn.Module):
    """x.permute(*dims), the batch staying dim 0; knows its output shape."""

    def __init__(self, shape, dims):
        super().__init__()
        self.dims = tuple(d % (len(shape) + 1) for d in dims)
        self.out_shape = tuple(shape[d - 1] for d in self.dims[1:])

    def forward(self, x):
        return x.permute(*self.dims)
''',
    "Transpose": '''
class Transpose(nn.Module):
    """x.transpose(a, b) of two dims other than the batch; knows its output shape."""

    def __init__(self, shape, a, b):
        super().__init__()
        self.a, self.b = a % (len(shape) + 1), b % (len(shape) + 1)
        dims = list(shape)
        dims[self.a - 1], dims[self.b - 1] = dims[self.b - 1], dims[self.a - 1]
        self.out_shape = tuple(dims)

    def forward(self, x):
        return x.transpose(self.a, self.b)
''',
    "Expand": '''
class Expand(nn.Module):
    """x.expand along one dim of size 1 (not the batch); knows its output shape."""

    def __init__(self, shape, dim, size):
        super().__init__()
        self.dim = dim % (len(shape) + 1)
        dims = list(shape)
        dims[self.dim - 1] = size
        self.out_shape = tuple(dims)

    def forward(self, x):
        sizes = [-1] * x.dim()
        sizes[self.dim] = self.out_shape[self.dim - 1]
        return x.expand(*sizes)
''',
    "_flattened": '''
def _flattened(shape, start, end):
    """The per-sample shape after torch.flatten(x, start, end) (0 the batch)."""
    first, last = start % (len(shape) + 1), end % (len(shape) + 1)
    n = 1
    for d in shape[first - 1:last]:
        n *= d
    return (*shape[:first - 1], n, *shape[last:])
''',
}
"""The torch classes the views write, in both PyTorch forms (graph and raised): shape-aware, no state."""


def _helper(name: str) -> tuple[tuple[str, str], ...]:
    return ((name, TORCH_HELPERS[name]),)


@register("slice")
@dataclass(frozen=True)
class Slice(Layer):
    """x[:, start:stop:step] (or along `dim`): Ghost's `[:, :out]`, a partial-channel residual's first C channels,
    YOLOv5's Focus (`x[..., ::2, ::2]`: every other row, then every other column)."""

    start: int = arg(whole, 0, "first index taken (negative: from the end)")
    stop: int | None = arg(optional_whole, None, "index after the last one taken (negative: from the end; default: to the end)")
    dim: int = arg(whole, 1, "dimension, as PyTorch numbers it: 0 the batch, 1 the channels (default), -1 the last")
    step: int = arg(positive_int, 1, "take every step-th index from start (1: all of them)")

    def bounds(self, x: Shape) -> tuple[int, int, int]:
        """(index into x, first, stop) for an input `x`, Python's slice rules."""
        axis = dim_index(self.dim, x, self.type_name)
        first, stop, _ = slice(self.start, self.stop).indices(x[axis])
        if stop <= first:
            raise LayerError(f"slice [{self.start}:{'' if self.stop is None else self.stop}] of dim {self.dim} (size {x[axis]}) is empty",
                             f"start and stop count from 0 to {x[axis]}; negatives count from the end")
        return axis, first, stop

    def out_shape(self, x: Shape) -> Shape:
        axis, first, stop = self.bounds(x)
        return (*x[:axis], len(range(first, stop, self.step)), *x[axis + 1:])

    def forward(self, x, weights, counter):
        axis, first, stop = self.bounds(x.shape[1:])
        return x[(slice(None),) * (axis + 1) + (slice(first, stop, self.step),)]

    def torch_module(self, at: Place) -> TorchModule:
        axis, first, stop = self.bounds(at.in_shape)
        step = f", {self.step}" if self.step != 1 else ""
        return TorchModule(f"Slice({at.in_shape}, {axis + 1}, {first}, {stop}{step})", helpers=_helper("Slice"))

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        step = f", {r.a('step')}" if r.a("step") else ""
        return Raised(f"{r.need('Slice')}(shape, {r.a('dim') or '1'}, {r.a('start') or '0'}, {r.a('stop') or 'None'}{step})", "module")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        axis, first, stop = self.bounds(at.in_shape)
        steps = [g.ints(f"{at.name}.steps", [self.step])] if self.step != 1 else []
        g.node("Slice", [x, g.ints(f"{at.name}.starts", [first]), g.ints(f"{at.name}.ends", [stop]), g.ints(f"{at.name}.axes", [axis + 1]), *steps], at.name)


@register("chunk")
@dataclass(frozen=True)
class Chunk(Macro):
    """torch.chunk(x, n, dim): n parts, each ceil(size / n) long but the last; named NAME.0 to NAME.{n-1}.

    Every part reads the entry's input (not the part before it, as a macro's parts do); the entry
    stands for its last part, as C2f's `y[-1]`."""

    n: int = arg(positive_int, doc="number of parts")
    dim: int = arg(whole, 1, "dimension, as PyTorch numbers it: 1 the channels (default)")

    def parts(self, x: Shape) -> tuple[tuple[str, Slice], ...]:
        """The parts, each a slice of the input with the name suffix it is reported under."""
        axis = dim_index(self.dim, x, self.type_name)
        size = x[axis]
        step = -(-size // self.n)
        if self.n > size or -(-size // step) != self.n:
            raise LayerError(f"chunk n={self.n}: torch.chunk cuts dim {self.dim} (size {size}) into {min(-(-size // step), size)} parts, not {self.n}",
                             "choose an n that divides the size, or write slice entries", arg="n")
        return tuple((str(k), Slice(k * step, min((k + 1) * step, size), self.dim)) for k in range(self.n))

    def out_shape(self, x: Shape) -> Shape:
        return self.parts(x)[-1][1].out_shape(x)


def _resolved(target: tuple[int, ...], x: Shape, type_name: str) -> Shape:
    """A reshape's target per-sample shape with its −1 filled in; the element count checked."""
    numel = math.prod(x)
    if target.count(-1) > 1:
        raise LayerError(f"{type_name} shape {list(target)} has more than one -1", "give every size but one", arg="shape")
    if any(d < 1 and d != -1 for d in target):
        raise LayerError(f"{type_name} shape {list(target)}: sizes are positive (or one -1)", None, arg="shape")
    known = math.prod(d for d in target if d != -1)
    if -1 in target:
        if numel % known:
            raise LayerError(f"{type_name} shape {list(target)}: {format_shape(x)} has {numel:,} elements, not a multiple of {known:,}",
                             "the sizes given must divide the element count", arg="shape")
        return tuple(numel // known if d == -1 else d for d in target)
    if known != numel:
        raise LayerError(f"{type_name} shape {list(target)} holds {known:,} elements, but the input {format_shape(x)} has {numel:,}",
                         "the sizes must multiply to the input's element count (or use one -1)", arg="shape")
    return target


@register("reshape")
@dataclass(frozen=True)
class Reshape(Layer):
    """x.reshape(N, *shape): a new per-sample shape (the batch is kept), one −1 allowed."""

    shape: tuple[int, ...] = arg(whole_list, doc="the per-sample shape, e.g. [4, 16, -1] (no batch; one -1 allowed)")

    def out_shape(self, x: Shape) -> Shape:
        return _resolved(self.shape, x, self.type_name)

    def forward(self, x, weights, counter):
        return x.reshape(x.shape[0], *self.out_shape(x.shape[1:]))

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"Reshape({at.in_shape}, {at.out_shape})", helpers=_helper("Reshape"))

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"{r.need('Reshape')}(shape, {r.a('shape')})", "module")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        g.node("Reshape", [x, g.ints(f"{at.name}.shape", [0, *at.out_shape])], at.name)


@register("permute")
@dataclass(frozen=True)
class Permute(Layer):
    """x.permute(*dims): every dim of the batched tensor, the batch (0) first, as in torch code."""

    dims: tuple[int, ...] = arg(whole_list, doc="a permutation of 0 to rank-1, batch first: [0, 2, 3, 1] for channels-last")

    def order(self, x: Shape) -> tuple[int, ...]:
        """The permutation as indices into the per-sample shape."""
        rank = len(x) + 1
        if len(self.dims) != rank:
            raise LayerError(f"permute dims {list(self.dims)} name {len(self.dims)} dims, but the input N×{format_shape(x)} has {rank}",
                             f"list every dim, the batch first: e.g. {[0, *range(2, rank), 1]}", arg="dims")
        full = [d + rank if d < 0 else d for d in self.dims]
        if sorted(full) != list(range(rank)):
            raise LayerError(f"permute dims {list(self.dims)} are not a permutation of 0 to {rank - 1}", "name each dim once", arg="dims")
        if full[0] != 0:
            raise LayerError(f"permute dims {list(self.dims)} move the batch, which groupcost keeps at dim 0", "start the list with 0", arg="dims")
        return tuple(d - 1 for d in full[1:])

    def out_shape(self, x: Shape) -> Shape:
        return tuple(x[i] for i in self.order(x))

    def forward(self, x, weights, counter):
        return x.transpose(0, *(i + 1 for i in self.order(x.shape[1:])))

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"Permute({at.in_shape}, {(0, *(i + 1 for i in self.order(at.in_shape)))})", helpers=_helper("Permute"))

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"{r.need('Permute')}(shape, {r.a('dims')})", "module")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        g.node("Transpose", [x], at.name, perm=[0, *(i + 1 for i in self.order(at.in_shape))])


@register("transpose")
@dataclass(frozen=True)
class Transpose(Layer):
    """x.transpose(a, b): two dims swapped (PyTorch's numbering, 0 the batch, which stays)."""

    dims: tuple[int, ...] = arg(whole_list, doc="the two dims swapped, e.g. [1, 2]")

    def order(self, x: Shape) -> tuple[int, ...]:
        if len(self.dims) != 2:
            raise LayerError(f"transpose dims {list(self.dims)}: name two dims", "e.g. dims: [1, 2]; permute reorders more", arg="dims")
        a, b = (dim_index(d, x, self.type_name, "dims") for d in self.dims)
        order = list(range(len(x)))
        order[a], order[b] = b, a
        return tuple(order)

    def out_shape(self, x: Shape) -> Shape:
        return tuple(x[i] for i in self.order(x))

    def forward(self, x, weights, counter):
        return x.transpose(0, *(i + 1 for i in self.order(x.shape[1:])))

    def torch_module(self, at: Place) -> TorchModule:
        a, b = (dim_index(d, at.in_shape, self.type_name, "dims") + 1 for d in self.dims)
        return TorchModule(f"Transpose({at.in_shape}, {a}, {b})", helpers=_helper("Transpose"))

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"{r.need('Transpose')}(shape, *{r.a('dims')})", "module")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        g.node("Transpose", [x], at.name, perm=[0, *(i + 1 for i in self.order(at.in_shape))])


@register("broadcast")
@dataclass(frozen=True)
class Broadcast(Layer):
    """One dim of size 1 repeated `size` times, as torch's `expand` does (PyTorch's numbering, 0 the batch, which stays)."""

    dim: int = arg(whole, doc="the dim of size 1 repeated, e.g. 2")
    size: int = arg(positive_int, doc="its size after the broadcast")

    def axis(self, x: Shape) -> int:
        k = dim_index(self.dim, x, self.type_name)
        if x[k] != 1:
            raise LayerError(f"{self.type_name} dim {self.dim} is {x[k]} long in {format_shape(x)}: only a dim of size 1 is repeated",
                             "repeat a dim of size 1 (unsqueeze one first), or reshape", arg="dim")
        return k

    def out_shape(self, x: Shape) -> Shape:
        k = self.axis(x)
        return (*x[:k], self.size, *x[k + 1:])

    def forward(self, x, weights, counter):
        import numpy as np

        return np.ascontiguousarray(np.broadcast_to(x, (x.shape[0], *self.out_shape(x.shape[1:]))))

    def torch_module(self, at: Place) -> TorchModule:
        return TorchModule(f"Expand({at.in_shape}, {self.axis(at.in_shape) + 1}, {self.size})", helpers=_helper("Expand"))

    @classmethod
    def torch_raised(cls, r: Raising) -> Raised | None:
        return Raised(f"{r.need('Expand')}(shape, {r.a('dim')}, {r.a('size')})", "module")

    def onnx_nodes(self, g: OnnxGraph, at: Place, x: str) -> None:
        shape = [1] * (len(at.in_shape) + 1)
        shape[self.axis(at.in_shape) + 1] = self.size
        g.node("Expand", [x, g.ints(f"{at.name}/shape", shape)], at.name)
