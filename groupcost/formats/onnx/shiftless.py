"""Norms with a learned scale and no learned shift (MetaFormer's GroupNorm1NoBias and LayerNorm2dNoBias,
`nn.LayerNorm(bias=False)`): C parameters, not 2·C.

The exporters write the missing shift in three ways: as no input at all (LayerNormalization's optional
bias, torch.export), as a Constant of zeros the exporter made (TorchScript; for a group norm an `Add` of
a zero of shape 1×1×1), or, for torch.export's group norm, as a per-channel tensor of zeros whose node
metadata says that aten.group_norm was called with no bias. A zero tensor the exporter computed is not
enough on its own: an untrained norm's learned shift is zeros too.
"""

from __future__ import annotations

import math
import re

from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.stored import stored_values
from groupcost.formats.onnx.values import attributes

_GROUP_NORM_CALL = re.compile(r"aten\.group_norm\.default\]\(args = \((.*)\), kwargs")
"""torch.export's record of the call a node computes (`pkg.torch.onnx.fx_node`): group_norm(x, G, weight, bias, eps, cudnn)."""


def fixed_zeros(imp: Importer, tensor: str) -> bool:
    """Whether `tensor` is no parameter and holds zeros only: Constant nodes' values, maybe viewed or joined (never an
    initializer: a learned shift that is still zero is one)."""
    stored = stored_values(imp, tensor, initializers=False)
    return stored is not None and len(stored[0]) > 0 and all(v == 0 for v in stored[0])


def _group_norm_call(node) -> list[str] | None:
    """The arguments of the group_norm call torch.export records on `node`, as written, or None."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.fx_node":
            call = _GROUP_NORM_CALL.search(prop.value)
            if call is not None:
                return [a.strip() for a in call.group(1).split(",")]
    return None


def recorded_group_norm(node) -> bool:
    """Whether torch.export records `node` as part of a group_norm call."""
    return _group_norm_call(node) is not None


def shift_left_out(imp: Importer, add, scaled: str) -> bool:
    """Whether `add`, the Add after a group norm's scale (the Mul whose output is `scaled`), adds no learned shift:
    a fixed zero of one value (TorchScript's 1×1×1), or torch.export's call of group_norm with a bias of None."""
    shift = next((name for name in add.input if name != scaled), None)
    if shift is None:
        return False
    args = _group_norm_call(add)
    if args is not None:
        return len(args) > 3 and args[3] == "None"
    return _constant_count(imp, shift) == 1 and fixed_zeros(imp, shift)


def affine_left_out(mul, add) -> bool:
    """Whether the Mul and Add after a group norm are torch.export's of a group_norm called with neither weight nor
    bias (`affine=False`): a scale of ones and a shift of zeros that it computed, no parameters."""
    calls = [_group_norm_call(node) for node in (mul, add)]
    return all(args is not None and len(args) > 3 and args[2] == args[3] == "None" for args in calls)


def _constant_count(imp: Importer, tensor: str) -> int | None:
    """How many values a Constant node's value holds, seen through Unsqueeze; None for anything else."""
    for _ in range(4):
        k = imp.producers.get(imp.root(tensor))
        if k is None:
            return None
        node = imp.order[k]
        if node.op_type == "Constant":
            value = attributes(node).get("value")
            return math.prod(value.dims) if value is not None else None
        if node.op_type != "Unsqueeze":
            return None
        tensor = node.input[0]
    return None
