"""Operators that exporters write out as arithmetic, read back as the one layer they are.

GELU below opset 20 (x · ½ · (1 + erf(x / √2)), in any order of its products), and GroupNorm as
TorchScript writes it (Reshape to N×G×…, InstanceNormalization, Reshape back, Mul and Add of the
per-channel scale and shift): run before the handlers, as the local response norm is
(groupcost.formats.onnx.patterns).
"""

from __future__ import annotations

import math

from groupcost.formats.onnx.importer import Importer, Recognised
from groupcost.formats.onnx.values import Const, Weight, attributes, tensor_values
from groupcost.ops import LAYER_TYPES


def scalar(imp: Importer, tensor: str) -> float | None:
    """The one number a tensor holds (an initializer or a Constant node's), or None."""
    value = imp.env.get(tensor)
    if isinstance(value, Const) and value.values is not None and len(value.values) == 1:
        return value.values[0]
    k = imp.producers.get(tensor)
    if k is None or imp.order[k].op_type != "Constant":
        return None
    attrs = attributes(imp.order[k])
    if "value" in attrs and attrs["value"] is not None:
        values = tensor_values(attrs["value"], None)
        return values[0] if values is not None and len(values) == 1 else None
    return attrs.get("value_float", attrs.get("value_int"))


def near(value: float | None, target: float) -> bool:
    return value is not None and not isinstance(value, bool) and abs(value - target) <= 1e-5 * abs(target)


def other_operand(node, tensor: str) -> str | None:
    """The input of a two-input node that is not `tensor` (None when both are, or it reads neither)."""
    if len(node.input) != 2 or tensor not in node.input or node.input[0] == node.input[1]:
        return None
    return node.input[1] if node.input[0] == tensor else node.input[0]


def _only(imp: Importer, tensor: str, op: str):
    reader = imp.only_reader(tensor)
    return reader if reader is not None and reader[1].op_type == op else None


def recognise_gelus(imp: Importer) -> None:
    """x · ½ · (1 + erf(x / √2)): Div (or Mul by 1/√2), Erf, Add 1, then Mul by x and by ½ in either
    order (TorchScript: (x · t) · ½; torch.export: x · (½ · t); or (x · ½) · t). One `gelu`."""
    for k_erf, erf in enumerate(imp.order):
        if erf.op_type != "Erf" or erf.input[0] not in imp.producers:
            continue
        k_pre = imp.producers[erf.input[0]]
        pre = imp.order[k_pre]
        if pre.op_type not in ("Div", "Mul") or len(pre.input) != 2 or _only(imp, pre.output[0], "Erf") is None:
            continue
        target = math.sqrt(2) if pre.op_type == "Div" else 1 / math.sqrt(2)
        x = pre.input[0] if near(scalar(imp, pre.input[1]), target) else (pre.input[1] if pre.op_type == "Mul" and near(scalar(imp, pre.input[0]), target) else None)
        add = _only(imp, erf.output[0], "Add")
        if x is None or add is None or not near(scalar(imp, other_operand(add[1], erf.output[0]) or ""), 1.0):
            continue
        members = [k_pre, k_erf, add[0]]
        tensor, by_x, by_half = add[1].output[0], False, False
        while not (by_x and by_half):
            mul = _only(imp, tensor, "Mul")
            other = other_operand(mul[1], tensor) if mul is not None else None
            if other is None:
                break
            half_of_x = imp.producers.get(other)
            if other == x and not by_x:
                by_x = True
            elif near(scalar(imp, other), 0.5) and not by_half:
                by_half = True
            elif not (by_x or by_half) and half_of_x is not None and _is_half_of(imp, imp.order[half_of_x], x) and imp.only_reader(other):
                by_x = by_half = True
                members.append(half_of_x)
            else:
                break
            members.append(mul[0])
            tensor = mul[1].output[0]
        if not (by_x and by_half):
            continue
        last = members.pop()
        imp.consumed.update(members)
        imp.recognised[last] = Recognised(x, LAYER_TYPES["gelu"](), "a GELU", elementwise=True)


def _is_half_of(imp: Importer, node, x: str) -> bool:
    """node is x · ½."""
    return node.op_type == "Mul" and other_operand(node, x) is not None and near(scalar(imp, other_operand(node, x)), 0.5)


def recognise_group_norms(imp: Importer) -> None:
    """Reshape(x) → InstanceNormalization (G channels) → Reshape back to x's shape → Mul by and Add of a
    per-channel vector: `groupnorm` with G groups (affine where the Mul and Add follow)."""
    for k_norm, norm in enumerate(imp.order):
        if norm.op_type != "InstanceNormalization" or norm.input[0] not in imp.producers:
            continue
        k_in = imp.producers[norm.input[0]]
        before = imp.order[k_in]
        after = _only(imp, norm.output[0], "Reshape")
        scale = _dims_of(imp, norm.input[1]) if len(norm.input) > 1 else None
        if before.op_type != "Reshape" or after is None or imp.only_reader(before.output[0]) is None or scale is None:
            continue
        groups = math.prod(scale)
        x = before.input[0]
        members = [k_in, k_norm, after[0]]
        tensor, channels, affine = after[1].output[0], None, False
        mul = _only(imp, tensor, "Mul")
        if mul is not None:
            gamma = _dims_of(imp, other_operand(mul[1], tensor) or "")
            add = _only(imp, mul[1].output[0], "Add")
            beta = _dims_of(imp, other_operand(add[1], mul[1].output[0]) or "") if add is not None else None
            if _per_channel(gamma) and _per_channel(beta) and math.prod(gamma) == math.prod(beta):
                members += [mul[0], add[0]]
                channels, affine = math.prod(gamma), True
        eps = float(f"{attributes(norm).get('epsilon', 1e-5):.6g}")
        last = members.pop()
        imp.consumed.update(members)
        imp.recognised[last] = Recognised(x, LAYER_TYPES["groupnorm"](groups=groups, eps=eps, affine=affine), "a group norm", channels=channels)


def _per_channel(dims: tuple[int, ...] | None) -> bool:
    """The dims of one value per channel: every dim 1 but one (C, 1, 1)."""
    return dims is not None and sum(d != 1 for d in dims) == 1


def _dims_of(imp: Importer, tensor: str) -> tuple[int, ...] | None:
    """The dims of an initializer, a Constant node's value, or an Unsqueeze or Identity of one (its count
    and which dims are not 1 kept), before the handlers run; None for anything else."""
    for _ in range(8):
        value = imp.env.get(tensor)
        if isinstance(value, (Const, Weight)):
            return tuple(value.dims)
        k = imp.producers.get(tensor)
        if k is None:
            return None
        node = imp.order[k]
        if node.op_type == "Constant":
            attrs = attributes(node)
            return tuple(attrs["value"].dims) if attrs.get("value") is not None else None
        if node.op_type not in ("Unsqueeze", "Identity"):
            return None
        tensor = node.input[0]
    return None


def _axes(imp: Importer, node) -> tuple[int, ...] | None:
    """A reduction's axes: its attribute (opset < 18) or its constant second input; None where unknown."""
    attrs = attributes(node)
    if "axes" in attrs:
        return tuple(attrs["axes"])
    if len(node.input) < 2 or not node.input[1]:
        return None
    value = imp.env.get(node.input[1])
    if isinstance(value, Const) and value.values is not None:
        return tuple(value.values)
    k = imp.producers.get(node.input[1])
    if k is None or imp.order[k].op_type != "Constant" or attributes(imp.order[k]).get("value") is None:
        return None
    values = tensor_values(attributes(imp.order[k])["value"], None)
    return tuple(values) if values is not None else None


def _grn_layout(spatial: tuple[int, ...], channel: tuple[int, ...]) -> tuple[int, bool] | None:
    """(rank, channels-last) where `spatial` are all the positions' axes and `channel` the channels' of
    one layout: N×C×… reduced over (2, …, rank − 1) and 1, or N×…×C over (1, …, rank − 2) and −1."""
    if len(channel) != 1 or not spatial:
        return None
    if all(a < 0 for a in spatial):
        rank = len(spatial) + 2
        spatial = tuple(a % rank for a in spatial)
    else:
        rank = max(spatial) + (1 if channel[0] == 1 else 2)
    c = channel[0] % rank
    if c == 1 and sorted(spatial) == list(range(2, rank)):
        return rank, False
    if c == rank - 1 and sorted(spatial) == list(range(1, rank - 1)):
        return rank, True
    return None


def recognise_response_norms(imp: Importer) -> None:
    """ConvNeXt V2's global response norm: G = ReduceL2(x) over the positions, N = G / (ReduceMean of G
    over the channels + eps), then γ·(x·N) (times 1: addcmul's value), + β, + x, in either layout. One `grn`."""
    for k_l2, l2 in enumerate(imp.order):
        if l2.op_type != "ReduceL2" or not attributes(l2).get("keepdims", 1):
            continue
        x = l2.input[0]
        mean = [(k, n) for k, n in ((k, imp.order[k]) for k in imp.consumers.get(l2.output[0], []) if k >= 0) if n.op_type == "ReduceMean"]
        div = [(k, n) for k, n in ((k, imp.order[k]) for k in imp.consumers.get(l2.output[0], []) if k >= 0) if n.op_type == "Div"]
        if len(mean) != 1 or len(div) != 1 or len(imp.consumers.get(l2.output[0], [])) != 2 or div[0][1].input[0] != l2.output[0]:
            continue
        (k_mean, mean), (k_div, div) = mean[0], div[0]
        spatial, channel = _axes(imp, l2), _axes(imp, mean)
        layout = _grn_layout(spatial, channel) if spatial is not None and channel is not None else None
        add_eps = _only(imp, mean.output[0], "Add")
        if layout is None or not attributes(mean).get("keepdims", 1) or add_eps is None or add_eps[1].output[0] != div.input[1]:
            continue
        eps = scalar(imp, other_operand(add_eps[1], mean.output[0]) or "")
        response = _only(imp, div.output[0], "Mul")
        if eps is None or eps <= 0 or response is None or other_operand(response[1], div.output[0]) != x:
            continue
        members = [k_l2, k_mean, add_eps[0], k_div, response[0]]
        tensor, gamma, beta = response[1].output[0], None, None
        while True:
            step = imp.only_reader(tensor)
            if step is None or step[1].op_type not in ("Mul", "Add"):
                break
            other = other_operand(step[1], tensor)
            dims = _dims_of(imp, other or "")
            if step[1].op_type == "Mul" and gamma is None and beta is None and _per_channel(dims):
                gamma = dims
            elif step[1].op_type == "Mul" and gamma is not None and beta is None and near(scalar(imp, other or ""), 1.0):
                pass
            elif step[1].op_type == "Add" and gamma is not None and beta is None and _per_channel(dims):
                beta = dims
            elif step[1].op_type == "Add" and beta is not None and other == x:
                members.append(step[0])
                break
            else:
                break
            members.append(step[0])
            tensor = step[1].output[0]
        if beta is None or imp.order[members[-1]].op_type != "Add" or other_operand(imp.order[members[-1]], tensor) != x \
                or math.prod(gamma) != math.prod(beta):
            continue
        last = members.pop()
        imp.consumed.update(members)
        rank, channels_last = layout
        layer = LAYER_TYPES["grn"](eps=float(f"{eps:.6g}"))
        imp.recognised[last] = Recognised(x, layer, "a global response norm", channels=math.prod(gamma), rank=rank, channels_last=channels_last)
