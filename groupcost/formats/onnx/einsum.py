"""`Einsum` of two activations that is a batched matrix product (CvT's attention: `torch.einsum("bhlk,bhtk->bhlt", q, k)`
for the scores, `"bhlt,bhtv->bhlv"` for the context).

Read as the `matmul` merge, its MACs counted as matmul MACs, the second operand's last two axes swapped first where the
equation contracts both operands' last axis (q·kᵀ). Any other equation (a sum over an axis, a product of three, an outer
product, batch axes that differ) is refused by name with its equation.
"""

from __future__ import annotations

from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.values import Act, Unsupported, attributes
from groupcost.ops import LAYER_TYPES


def _operands(equation: str) -> tuple[str, str, str] | None:
    """The two operands' and the result's subscripts, or None for other than two operands and an explicit result."""
    inputs, arrow, result = equation.replace(" ", "").partition("->")
    operands = inputs.split(",")
    if not arrow or len(operands) != 2 or "." in equation:
        return None
    return operands[0], operands[1], result


def _einsum(imp: Importer, i: int, node, inputs: list):
    equation = attributes(node).get("equation", b"")
    equation = equation.decode() if isinstance(equation, bytes) else str(equation)
    parts = _operands(equation)
    a, b = (inputs + [None, None])[:2]
    if not isinstance(a, Act) or not isinstance(b, Act) or a.channels is not None or b.channels is not None:
        raise Unsupported(f"an Einsum '{equation}' of other than two activations")
    if parts is not None:
        left, right, result = parts
        batch = left[:-2]
        rank = len(left)
        plain = rank >= 3 and len(right) == rank == len(result) == len(a.shape) + 1 == len(b.shape) + 1 and len(set(left + right)) == rank + 1
        if plain and right[:-2] == batch == result[:-2] and result[-2:] == left[-2] + right[-1] and right[-2] == left[-1]:
            return imp.merge(i, node, "matmul", [a, b])  # ...lk,...kt->...lt
        if plain and right[:-2] == batch == result[:-2] and result[-2:] == left[-2] + right[-2] and right[-1] == left[-1]:
            swapped = imp.layer(i, node, "transpose", LAYER_TYPES["transpose"](dims=(rank - 2, rank - 1)), b,
                                f"{imp.paths[i]}_kt" if imp.paths[i] else None)
            return imp.merge(i, node, "matmul", [a, swapped])  # ...lk,...tk->...lt: the second operand transposed
    raise Unsupported(f"an Einsum '{equation}' other than a batched matrix product (…lk,…kt->…lt or …lk,…tk->…lt)")


EINSUMS = {"Einsum": _einsum}
