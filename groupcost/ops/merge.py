"""Merges: where tensors meet. Element-wise add and multiply, the element-wise arithmetic of two
activations (sub, div, max, min: a norm's division by a computed sum), concatenation along the
channels, and the matrix product of two activations.

A merge type is declared once, like a layer type: its shape rule, its cost, its NumPy kernel and
what each format writes for it, registered by name in `MERGE_TYPES`. A merge has no arguments and
no parameters, and counts no conv + linear MACs by the convention (BRIEF.md): element-wise work is
not a multiply-accumulate of a convolution or a linear layer. `matmul`'s products of two
activations are counted apart, as matmul MACs.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from groupcost.ops.adapters import OnnxGraph
from groupcost.ops.base import Cost, Shape, format_shape


class Merge:
    """Base of the merge types: `out_shape` gives None where the shapes do not fit, and the spec
    builder reports `requirement` and `hint` with the shapes it was given. A merge has no arguments:
    each type has one instance, in MERGE_TYPES."""

    type_name: ClassVar[str] = ""
    requirement: ClassVar[str] = ""  # "add needs <requirement>: conv gives 64×56×56, ..."
    hint: ClassVar[str | None] = None
    sign: ClassVar[str] = ""  # the report graph's label
    torch_operator: ClassVar[str] = ""  # the Python operator between the inputs, in written PyTorch code
    onnx_op: ClassVar[str] = ""  # the ONNX operator of two inputs (Concat takes them all)

    def out_shape(self, shapes: tuple[Shape, ...]) -> Shape | None:
        raise NotImplementedError

    def refusal_hint(self, shapes: tuple[Shape, ...]) -> str | None:
        """The hint for inputs that `out_shape` refuses (the type's `hint`, unless the shapes say more)."""
        return self.hint

    def cost(self, shapes: tuple[Shape, ...], out: Shape) -> Cost:
        """What the merge costs for one sample: nothing, but for `matmul`'s matmul MACs."""
        return Cost()

    def forward(self, tensors: list[Any], counter: Any) -> Any:
        """The NumPy kernel: tensors are (N, *shape) arrays; products of activations are reported to `counter`."""
        y = tensors[0]
        for t in tensors[1:]:
            y = self.combine(y, t)
        return y

    def combine(self, a: Any, b: Any) -> Any:
        raise NotImplementedError

    def torch_expression(self, reads: list[str]) -> str:
        """The merge as a Python expression over the named tensors, in written PyTorch code."""
        return f" {self.torch_operator} ".join(reads)

    def torch_shape(self, shapes: list[str]) -> str:
        """The merged shape as a Python expression over the inputs' shape expressions (the structured PyTorch form)."""
        return shapes[0]

    def onnx_nodes(self, g: OnnxGraph, name: str, inputs: list[str]) -> None:
        """A chain of two-input nodes; the last one's output is the merge's tensor."""
        acc = inputs[0]
        for k, other in enumerate(inputs[1:], start=1):
            acc = g.node(self.onnx_op, [acc, other], name if k == len(inputs) - 1 else f"{name}/{self.onnx_op.lower()}{k}")


class Add(Merge):
    """Element-wise sum of equal shapes; the later inputs may broadcast into the first (GCNet's global context,
    C×1×1, added at every position of C×H×W), which is then the output's shape (the first is never grown)."""

    type_name = "add"
    requirement = "equal shapes (or later ones that broadcast into the first)"
    hint = "add a projection shortcut, e.g. pwconv + bn"
    sign = "+"
    torch_operator = "+"
    onnx_op = "Add"

    def out_shape(self, shapes: tuple[Shape, ...]) -> Shape | None:
        return shapes[0] if broadcast(shapes) == shapes[0] else None

    def combine(self, a: Any, b: Any) -> Any:
        return a + b

    def onnx_nodes(self, g: OnnxGraph, name: str, inputs: list[str]) -> None:
        if len(inputs) > 2:
            g.node("Sum", inputs, name)
        else:
            super().onnx_nodes(g, name, inputs)


class Mul(Merge):
    """Element-wise product, broadcasting as NumPy and PyTorch do (an SE gate's C×1×1 against C×H×W)."""

    type_name = "mul"
    requirement = "equal or broadcastable shapes"
    sign = "×"
    torch_operator = "*"
    onnx_op = "Mul"

    def out_shape(self, shapes: tuple[Shape, ...]) -> Shape | None:
        return broadcast(shapes)

    def combine(self, a: Any, b: Any) -> Any:
        return a * b


class _Broadcasting(Merge):
    """An element-wise operation of activations, broadcasting as NumPy and PyTorch do."""

    requirement = "equal or broadcastable shapes"

    def out_shape(self, shapes: tuple[Shape, ...]) -> Shape | None:
        return broadcast(shapes)

    def torch_shape(self, shapes: list[str]) -> str:
        return f"tuple(torch.broadcast_shapes({', '.join(shapes)}))"


class _TwoSided(_Broadcasting):
    """a op b, where the order matters: exactly two inputs."""

    requirement = "exactly two tensors, a and b, of equal or broadcastable shapes"

    def out_shape(self, shapes: tuple[Shape, ...]) -> Shape | None:
        return broadcast(shapes) if len(shapes) == 2 else None


class Sub(_TwoSided):
    """a − b (a mean taken off, a difference of branches)."""

    type_name = "sub"
    sign = "−"
    torch_operator = "-"
    onnx_op = "Sub"

    def combine(self, a: Any, b: Any) -> Any:
        return a - b


class Div(_TwoSided):
    """a / b (a norm's division by a computed sum or root)."""

    type_name = "div"
    sign = "÷"
    torch_operator = "/"
    onnx_op = "Div"

    def combine(self, a: Any, b: Any) -> Any:
        return a / b


class Maximum(_Broadcasting):
    """The element-wise maximum, as torch.maximum."""

    type_name = "max"
    sign = "max"
    onnx_op = "Max"

    def combine(self, a: Any, b: Any) -> Any:
        import numpy as np

        return np.maximum(a, b)

    def torch_expression(self, reads: list[str]) -> str:
        acc = reads[0]
        for other in reads[1:]:
            acc = f"torch.{self.type_name}imum({acc}, {other})"
        return acc

    def onnx_nodes(self, g: OnnxGraph, name: str, inputs: list[str]) -> None:
        g.node(self.onnx_op, inputs, name)


class Minimum(Maximum):
    """The element-wise minimum, as torch.minimum."""

    type_name = "min"
    sign = "min"
    onnx_op = "Min"

    def combine(self, a: Any, b: Any) -> Any:
        import numpy as np

        return np.minimum(a, b)


class Concat(Merge):
    type_name = "concat"
    requirement = "equal spatial sizes in every branch"
    hint = "match strides and padding"
    sign = "‖"
    onnx_op = "Concat"

    def out_shape(self, shapes: tuple[Shape, ...]) -> Shape | None:
        if len({s[1:] for s in shapes}) != 1:
            return None
        return (sum(s[0] for s in shapes), *shapes[0][1:])

    def forward(self, tensors: list[Any], counter: Any) -> Any:
        import numpy as np

        return np.concatenate(tensors, axis=1)

    def torch_expression(self, reads: list[str]) -> str:
        return f"torch.cat([{', '.join(reads)}], 1)"

    def torch_shape(self, shapes: list[str]) -> str:
        return "(" + " + ".join(f"{s}[0]" for s in shapes) + f", *{shapes[0]}[1:])"

    def onnx_nodes(self, g: OnnxGraph, name: str, inputs: list[str]) -> None:
        g.node("Concat", inputs, name, axis=1)


class Matmul(Merge):
    """`a @ b` with PyTorch's matmul rule on per-sample shapes of one rank (2 to 4): the last two
    dimensions multiply (n×k @ k×m → n×m), the leading ones (C of a C×H×W tensor, ...) broadcast.

    Both tensors are activations: its prod(batch dims)·n·k·m multiply-accumulates are matmul MACs.
    """

    type_name = "matmul"
    requirement = "two tensors of one rank (at least 2) whose last two dimensions multiply (…×n×k @ …×k×m) and whose leading dimensions broadcast"
    sign = "@"
    torch_operator = "@"
    onnx_op = "MatMul"

    def out_shape(self, shapes: tuple[Shape, ...]) -> Shape | None:
        if len(shapes) != 2:
            return None
        a, b = shapes
        if len(a) != len(b) or len(a) < 2 or a[-1] != b[-2]:
            return None
        batch = broadcast((a[:-2], b[:-2]))
        return None if batch is None else (*batch, a[-2], b[-1])

    def refusal_hint(self, shapes: tuple[Shape, ...]) -> str | None:
        if len(shapes) != 2:
            return f"give from: exactly two tensors, a and b (got {len(shapes)})"
        a, b = shapes
        if len(a) != len(b) or len(a) < 2:
            return "reshape one of them to the other's rank; a flat vector has no matrix to multiply"
        if a[-1] != b[-2]:
            return f"a's last dimension ({a[-1]}) must equal b's second-to-last ({b[-2]}): {format_shape(a)} @ {format_shape(b)}; transpose b?"
        return f"the leading dimensions {format_shape(a[:-2])} and {format_shape(b[:-2])} must be equal or 1"

    def cost(self, shapes: tuple[Shape, ...], out: Shape) -> Cost:
        a, b = shapes
        return Cost(matmul_macs=math.prod(out[:-2]) * a[-2] * a[-1] * b[-1])

    def forward(self, tensors: list[Any], counter: Any) -> Any:
        return counter.activation_matmul(tensors[0], tensors[1])

    def torch_shape(self, shapes: list[str]) -> str:
        a, b = shapes
        return f"(*torch.broadcast_shapes({a}[:-2], {b}[:-2]), {a}[-2], {b}[-1])"


def broadcast(shapes: tuple[Shape, ...]) -> Shape | None:
    """NumPy's broadcast of equal-rank shapes, or None where two sizes other than 1 differ."""
    if len({len(s) for s in shapes}) != 1:
        return None
    result = []
    for dims in zip(*shapes):
        sizes = set(dims) - {1}
        if len(sizes) > 1:
            return None
        result.append(sizes.pop() if sizes else 1)
    return tuple(result)


MERGE_TYPES: dict[str, Merge] = {merge.type_name: merge for merge in (Add(), Mul(), Sub(), Div(), Maximum(), Minimum(), Concat(), Matmul())}
"""Every merge type by its spec name (the word a spec writes, `add: [a, b]`)."""
