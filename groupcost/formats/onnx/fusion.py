"""BiFPN's fast normalised fusion (EfficientDet, arXiv 1911.09070, eq. 3): O = Σ_k w_k·I_k / (ε + Σ_j w_j),
w = relu(w'), w' a learned parameter of one weight per input.

Every input is scaled by its weight, divided by one shared sum, stacked on a new last axis and summed over
it. Each exporter writes the weights differently:

- TorchScript (folded or not): the parameter is still an initializer of N values (its state_dict name, or
  `onnx::Relu_7` once folded), read by `Relu` (after a `Cast`), a `Gather` per input and a `ReduceSum`
  plus ε for the shared sum.
- torch.export: its optimiser folds all of it into scalars (`select`, `add_12`): the parameter is gone,
  but the scalars keep its trace: every weight ≥ 0 and the shared divisor their sum plus a small ε.

Either way each input's scaling is read as an `elementwise` multiplication by one learned number, so the
fusion counts N parameters, as PyTorch counts the parameter, and no MACs; the stack and its sum are read
by their handlers (an `add` of the inputs). Anything else (other weights, another divisor) is left to the
handlers, which refuse what they cannot read by name.
"""

from __future__ import annotations

from groupcost.formats.onnx.constants import MADE_BY_EXPORTER
from groupcost.formats.onnx.decomposed import other_operand, scalar
from groupcost.formats.onnx.importer import Importer, Recognised
from groupcost.formats.onnx.stacked import summed_stack
from groupcost.formats.onnx.values import attributes
from groupcost.ops import LAYER_TYPES

MAX_EPSILON = 1e-3
"""The largest ε read in a folded divisor (EfficientDet's is 1e-4): the divisor less the weights' sum."""


def recognise_weighted_fusions(imp: Importer) -> None:
    for node in imp.order:
        if node.op_type != "ReduceSum":
            continue
        branches = _stacked_divisions(imp, node)
        if branches is None:
            continue
        divisor = imp.order[branches[0][0]].input[1]
        weights = [c for _, _, c in branches]  # None: a weight of 1 (folded, its product left out)
        side = _parameter_side(imp, divisor, weights) if divisor in imp.producers else _folded_side(imp, divisor, weights)
        if side is None:
            continue
        imp.consumed.update(side)
        for k_div, k_mul, weight in branches:
            div = imp.order[k_div]
            x = div.input[0] if k_mul is None else other_operand(imp.order[k_mul], weight)
            if k_mul is not None:
                imp.consumed.add(k_mul)
            imp.recognised[k_div] = Recognised(x, LAYER_TYPES["elementwise"](op="mul", value=1.0, shape=(), learned=True),
                                               "a weighted fusion's input", elementwise=True)


def _stacked_divisions(imp: Importer, reduce) -> list[tuple[int, int | None, str | None]] | None:
    """ReduceSum over the axis of a Concat of Unsqueezes (torch.stack(..., -1).sum(-1)), each of a Div
    (x · c) / s with one s: (the Div, the Mul, c) per input, (the Div, None, None) for x / s (a weight of 1,
    its product left out by torch.export's optimiser); None where it is not that."""
    stack = summed_stack(imp, reduce)
    if stack is None:
        return None
    branches, divisors = [], set()
    for k_unsq in stack[2]:
        k_div = imp.producers.get(imp.order[k_unsq].input[0])
        if k_div is None or imp.order[k_div].op_type != "Div" or imp.only_reader(imp.order[k_div].output[0]) is None:
            return None
        div = imp.order[k_div]
        k_mul = imp.producers.get(div.input[0])
        mul = imp.order[k_mul] if k_mul is not None and imp.order[k_mul].op_type == "Mul" and imp.only_reader(div.input[0]) else None
        weight = next((name for name in mul.input if _is_weight(imp, name)), None) if mul is not None else None
        divisors.add(div.input[1])
        if weight is None or other_operand(mul, weight) is None:  # torch.export drops a product by a weight of exactly 1
            branches.append((k_div, None, None))
        else:
            branches.append((k_div, k_mul, weight))
    return branches if len(divisors) == 1 else None


def _is_weight(imp: Importer, name: str) -> bool:
    """A scalar weight: a Gather of the parameter's Relu (TorchScript) or a scalar the exporter folded (torch.export)."""
    k = imp.producers.get(name)
    if k is None:
        return name in imp.initializers and not imp.initializers[name].dims
    return imp.order[k].op_type == "Gather"


def _parameter_side(imp: Importer, divisor: str, weights: list[str | None]) -> set[int] | None:
    """TorchScript's weights: w' an initializer of N values (maybe through a Cast), r = Relu(w'), each c_k =
    Gather(r, k) for k = 0 … N−1 and the divisor ReduceSum(r) + ε. The nodes computing them, or None."""
    k_add = imp.producers[divisor]
    add = imp.order[k_add]
    if add.op_type != "Add" or None in weights:
        return None
    k_sum = next((imp.producers[t] for t in add.input if t in imp.producers and imp.order[imp.producers[t]].op_type == "ReduceSum"), None)
    if k_sum is None:
        return None
    epsilon = scalar(imp, other_operand(add, imp.order[k_sum].output[0]) or "")
    relu_out = imp.order[k_sum].input[0]
    k_relu = imp.producers.get(relu_out)
    if epsilon is None or not 0 < epsilon <= MAX_EPSILON or k_relu is None or imp.order[k_relu].op_type != "Relu":
        return None
    side = {k_add, k_sum, k_relu}
    source = imp.order[k_relu].input[0]
    if source in imp.producers and imp.order[imp.producers[source]].op_type == "Cast":
        side.add(imp.producers[source])
        source = imp.order[imp.producers[source]].input[0]
    source = imp.root(source)
    if source not in imp.initializers or list(imp.initializers[source].dims) != [len(weights)]:
        return None
    picked = set()
    for weight in weights:
        k_gather = imp.producers[weight]
        gather = imp.order[k_gather]
        index = scalar(imp, gather.input[1]) if gather.input[0] == relu_out else None
        if index is None or attributes(gather).get("axis", 0) != 0 or imp.only_reader(weight) is None:
            return None
        picked.add(int(index) % len(weights))
        side.add(k_gather)
    readers = set(imp.consumers.get(relu_out, ())) | set(imp.consumers.get(divisor, ()))
    if picked != set(range(len(weights))) or not readers <= side | {imp.producers[w] for w in weights} | {imp.only_reader(w)[0] for w in weights} | _divisions(imp, divisor):
        return None
    return side


def _divisions(imp: Importer, divisor: str) -> set[int]:
    return {k for k in imp.consumers.get(divisor, ()) if k >= 0 and imp.order[k].op_type == "Div"}


def _folded_side(imp: Importer, divisor: str, weights: list[str | None]) -> set[int] | None:
    """torch.export's weights, folded: scalars the exporter computed, each ≥ 0, the divisor their sum plus
    0 < ε ≤ MAX_EPSILON. Nothing to consume (they are initializers), or None where they are not that."""
    names = [divisor, *(w for w in weights if w is not None)]
    if any(n not in imp.initializers or imp.initializers[n].dims or not MADE_BY_EXPORTER.fullmatch(n) for n in names):
        return None
    values = [1.0 if n is None else scalar(imp, n) for n in weights]
    total = scalar(imp, divisor)
    if total is None or any(v is None or v < 0 for v in values):
        return None
    epsilon = total - sum(values)
    return set() if 0 < epsilon <= MAX_EPSILON * max(1.0, total) else None
