"""Operators that exporters write out as arithmetic, read back as the one layer they are.

GELU below opset 20 (x · ½ · (1 + erf(x / √2)), in any order of its products) and its tanh form,
GroupNorm as TorchScript writes it (Reshape to N×G×…, InstanceNormalization, Reshape back, Mul and
Add of the per-channel scale and shift), a layer norm written out over one axis, and ConvNeXt V2's
global response norm: run before the handlers, as the local response norm is
(groupcost.formats.onnx.patterns). A pattern whose axes need a layout (channels first or last)
says so; the importer refuses it by name where its input is the other.
"""

from __future__ import annotations

import math

from groupcost.formats.onnx.constants import MADE_BY_EXPORTER, PARAMETER_NAME
from groupcost.formats.onnx.importer import Importer, Recognised
from groupcost.formats.onnx.shiftless import affine_left_out, recorded_group_norm, shift_left_out
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
        _recognise_gelu(imp, x, [k_pre, k_erf, add[0]], add[1].output[0], "none")


def _recognise_gelu(imp: Importer, x: str, members: list[int], tensor: str, approximate: str) -> None:
    """`tensor` (1 + erf(...) or 1 + tanh(...)) times x and ½ in either order: with `members`, one `gelu`."""
    by_x, by_half = False, False
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
        return
    last = members.pop()
    imp.consumed.update(members)
    imp.recognised[last] = Recognised(x, LAYER_TYPES["gelu"](approximate=approximate), "a GELU", elementwise=True)


def recognise_tanh_gelus(imp: Importer) -> None:
    """GELU's tanh form, ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as TorchScript writes it below opset 20:
    x³ as x·(x·x) or Pow(x, 3), then the products by x and ½ in either order. One `gelu` with approximate tanh."""
    for k_tanh, tanh in enumerate(imp.order):
        if tanh.op_type != "Tanh" or tanh.input[0] not in imp.producers:
            continue
        k_scale = imp.producers[tanh.input[0]]
        scale = imp.order[k_scale]
        inner = _scaled(imp, scale, math.sqrt(2 / math.pi))
        if inner is None or _only(imp, scale.output[0], "Tanh") is None or inner not in imp.producers:
            continue
        k_sum = imp.producers[inner]
        total = imp.order[k_sum]
        if total.op_type != "Add" or len(total.input) != 2 or imp.only_reader(inner) is None:
            continue
        for x, cubic in (total.input, total.input[::-1]):
            cube_members = _cubic_term(imp, cubic, x)
            if cube_members is not None:
                break
        else:
            continue
        add = _only(imp, tanh.output[0], "Add")
        if add is None or not near(scalar(imp, other_operand(add[1], tanh.output[0]) or ""), 1.0):
            continue
        _recognise_gelu(imp, x, [*cube_members, k_sum, k_scale, k_tanh, add[0]], add[1].output[0], "tanh")


def _scaled(imp: Importer, node, factor: float) -> str | None:
    """The tensor `node` multiplies by `factor` (a Mul by a scalar near it), or None."""
    if node.op_type != "Mul" or len(node.input) != 2:
        return None
    for tensor, other in (node.input, node.input[::-1]):
        if near(scalar(imp, other), factor):
            return tensor
    return None


def _cubic_term(imp: Importer, tensor: str, x: str) -> list[int] | None:
    """The nodes of 0.044715·x³ (x³ as Pow(x, 3), x·(x·x) or (x·x)·x), each read only there; None otherwise."""
    k = imp.producers.get(tensor)
    if k is None or imp.only_reader(tensor) is None:
        return None
    cube = _scaled(imp, imp.order[k], 0.044715)
    k_cube = imp.producers.get(cube) if cube is not None else None
    if k_cube is None or imp.only_reader(cube) is None:
        return None
    node = imp.order[k_cube]
    if node.op_type == "Pow" and node.input[0] == x and near(scalar(imp, node.input[1]), 3.0):
        return [k_cube, k]
    if node.op_type != "Mul" or x not in node.input:
        return None
    square = other_operand(node, x)
    k_square = imp.producers.get(square) if square is not None else None
    if k_square is None or imp.only_reader(square) is None or list(imp.order[k_square].input) != [x, x] or imp.order[k_square].op_type != "Mul":
        return None
    return [k_square, k_cube, k]


def _is_half_of(imp: Importer, node, x: str) -> bool:
    """node is x · ½."""
    return node.op_type == "Mul" and other_operand(node, x) is not None and near(scalar(imp, other_operand(node, x)), 0.5)


def recognise_group_norms(imp: Importer) -> None:
    """Reshape(x) → InstanceNormalization (G channels) → Reshape back to x's shape → Mul by and Add of a
    per-channel vector: `groupnorm` with G groups (affine where the Mul and Add follow; `bias: false` where
    the Add adds no learned shift, or a learned scale has no Add after it: groupcost.formats.onnx.shiftless)."""
    for k_norm, norm in enumerate(imp.order):
        if norm.op_type != "InstanceNormalization" or norm.input[0] not in imp.producers:
            continue
        k_in = imp.producers[norm.input[0]]
        before = imp.order[k_in]
        after = _only(imp, norm.output[0], "Reshape")
        scale = _dims_of(imp, norm.input[1]) if len(norm.input) > 1 else None
        # torch.export leaves out the Reshape back where it changes nothing (one channel a group over a sequence)
        same_shape = after is None and recorded_group_norm(norm)
        if before.op_type != "Reshape" or (after is None and not same_shape) or imp.only_reader(before.output[0]) is None or scale is None:
            continue
        groups = math.prod(scale)
        x = before.input[0]
        members = [k_in, k_norm] if after is None else [k_in, k_norm, after[0]]
        tensor, channels, affine, parameters = norm.output[0] if after is None else after[1].output[0], None, False, ()
        mul = _only(imp, tensor, "Mul")
        shifted = True
        if mul is not None:
            weight, scaled = other_operand(mul[1], tensor) or "", mul[1].output[0]
            gamma = _dims_of(imp, weight)
            add = _only(imp, scaled, "Add")
            shift = other_operand(add[1], scaled) or "" if add is not None else ""
            beta = _dims_of(imp, shift)
            if add is not None and affine_left_out(mul[1], add[1]):
                members += [mul[0], add[0]]  # GroupNorm(affine=False) as torch.export writes it
            elif _channel_values(imp, weight, gamma) and (shift_left_out(imp, add[1], scaled) if add is not None else _learned(_initializer(imp, weight))):
                members += [mul[0]] if add is None else [mul[0], add[0]]  # a scale and no learned shift (GroupNorm1NoBias)
                channels, affine, shifted = math.prod(gamma), True, False
                parameters = (_initializer(imp, weight),) if _initializer(imp, weight) is not None else ()
            elif _channel_values(imp, weight, gamma) and _channel_values(imp, shift, beta) and math.prod(gamma) == math.prod(beta):
                members += [mul[0], add[0]]
                channels, affine = math.prod(gamma), True
                stored = (_initializer(imp, weight), _initializer(imp, shift))
                parameters = stored if None not in stored else ()
        eps = float(f"{attributes(norm).get('epsilon', 1e-5):.6g}")
        last = members.pop()
        imp.consumed.update(members)
        layer = LAYER_TYPES["groupnorm"](groups=groups, eps=eps, affine=affine, bias=shifted)
        back = after[1].input[1] if after is not None and len(after[1].input) > 1 else None
        imp.recognised[last] = Recognised(x, layer, "a group norm", channels=channels, parameters=parameters,
                                          reshaped=None if back is None else lambda back=back: _shape_back(imp, back))


def _shape_back(imp: Importer, back: str) -> tuple[int, ...] | None:
    """The shape (batch left out) a group norm's Reshape back gives, where the file states it: torch.export's optimiser
    merges a Reshape of the norm's input into the norm's own (an attention block's tokens folded back to C×H×W, then a
    GroupNorm: the norm read the tokens' shape, exit 0), so the norm's output has this shape, not its input's."""
    target = imp.env.get(back)
    if not isinstance(target, Const) or not all(isinstance(v, int) and v > 0 for v in target.values[1:]):
        return None  # the shape of the input itself, computed (TorchScript)
    return tuple(target.values[1:])


def _learned(stored: str | None) -> bool:
    """Whether an initializer is a parameter under its own name (groupcost's export writes a group norm's scale
    with no shift as `NAME.weight`), not a constant the exporter computed."""
    return stored is not None and PARAMETER_NAME.fullmatch(stored) is not None and not MADE_BY_EXPORTER.fullmatch(stored)


def _initializer(imp: Importer, tensor: str) -> str | None:
    """The initializer a per-channel constant is, seen through Identity, Unsqueeze and Reshape (TorchScript unfolded
    writes `weight.unsqueeze(-1)` at every call of the module), or None."""
    for _ in range(8):
        tensor = imp.root(tensor)
        if tensor in imp.initializers:
            return tensor
        k = imp.producers.get(tensor)
        if k is None or imp.order[k].op_type not in ("Identity", "Unsqueeze", "Reshape"):
            return None
        tensor = imp.order[k].input[0]
    return None


def _per_channel(dims: tuple[int, ...] | None) -> bool:
    """The dims of one value per channel: every dim 1 but one (C, 1, 1)."""
    return dims is not None and sum(d != 1 for d in dims) == 1


def _channel_values(imp: Importer, tensor: str, dims: tuple[int, ...] | None) -> bool:
    """Whether `tensor` holds one value per channel: per-channel dims, or one stored value (1, 1) for a norm of one
    channel (an initializer, the norm's own or the exporter's fold of it; TorchScript writes a norm without an
    affine as Constant nodes, never initializers, which stay element-wise steps)."""
    return _per_channel(dims) or (dims is not None and len(dims) >= 1 and math.prod(dims) == 1 and _initializer(imp, tensor) is not None)


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
        if node.op_type == "Reshape":  # a parameter viewed per channel (`gamma.view(1, -1, 1, 1)`)
            return _reshaped(imp, node)
        if node.op_type not in ("Unsqueeze", "Identity"):
            return None
        tensor = node.input[0]
    return None


def _reshaped(imp: Importer, node) -> tuple[int, ...] | None:
    """The dims a Reshape of a known tensor to a constant shape gives (−1 worked out, 0 copied), or None."""
    source = _dims_of(imp, node.input[0])
    target = _ints(imp, node.input[1]) if len(node.input) > 1 else None
    if source is None or target is None or target.count(-1) > 1:
        return None
    dims = [source[k] if d == 0 and k < len(source) else d for k, d in enumerate(target)]
    known = math.prod(d for d in dims if d != -1)
    if known <= 0 or math.prod(source) % known:
        return None
    return tuple(math.prod(source) // known if d == -1 else d for d in dims)


def _axes(imp: Importer, node) -> tuple[int, ...] | None:
    """A reduction's axes: its attribute (opset < 18) or its constant second input; None where unknown."""
    attrs = attributes(node)
    if "axes" in attrs:
        return tuple(attrs["axes"])
    return _ints(imp, node.input[1]) if len(node.input) > 1 and node.input[1] else None


def _ints(imp: Importer, tensor: str) -> tuple[int, ...] | None:
    """The whole numbers a constant holds (an initializer or a Constant node's), or None."""
    value = imp.env.get(tensor)
    if isinstance(value, Const) and value.values is not None:
        values = value.values
    else:
        k = imp.producers.get(tensor)
        if k is None or imp.order[k].op_type != "Constant" or attributes(imp.order[k]).get("value") is None:
            return None
        values = tensor_values(attributes(imp.order[k])["value"], None)
    if values is None or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    return tuple(values)


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


def _readers(imp: Importer, tensor: str) -> list[tuple[int, object]]:
    return [(k, imp.order[k]) for k in imp.consumers.get(tensor, []) if k >= 0]


def _norm_axis(axes: tuple[int, ...] | None) -> tuple[int | None, bool] | None:
    """(rank or None, channels-last) for a layer norm over one axis: 1 is the channels of N×C×…, −1 or
    k > 1 those of a channels-last N×…×C (of rank k + 1)."""
    if axes is None or len(axes) != 1:
        return None
    axis = axes[0]
    if axis == 1:
        return None, False
    return (None, True) if axis == -1 else ((axis + 1, True) if axis > 1 else None)


def recognise_written_layer_norms(imp: Importer) -> None:
    """A layer norm written out over one axis (ConvNeXt's channels-first LayerNorm, a LayerNormalization
    below opset 17, torch.var_mean with rsqrt): u = ReduceMean(x) (once, or once for each of its two
    uses), d = x − u, v = ReduceMean(d² (Pow 2 or d·d)), d / √(v + eps) (or d · 1/√(v + eps), as
    Reciprocal or Div of 1), then × γ and + β where it is affine. One `layernorm`."""
    for k_mean, mean in enumerate(imp.order):
        if mean.op_type != "ReduceMean" or not attributes(mean).get("keepdims", 1):
            continue
        axes, x = _axes(imp, mean), mean.input[0]
        layout = _norm_axis(axes)
        means = [(k, n) for k, n in dict(_readers(imp, x)).items() if n.op_type == "ReduceMean" and _axes(imp, n) == axes and attributes(n).get("keepdims", 1)]
        means = [(k, n) for k, n in means if all(r.op_type == "Sub" and list(r.input) == [x, n.output[0]] for _, r in _readers(imp, n.output[0]))]
        if layout is None or not means or means[0][0] != k_mean or len(means) > 2:
            continue
        subs = list(dict(r for _, n in means for r in _readers(imp, n.output[0])).items())
        readers = list(dict(r for _, n in subs for r in _readers(imp, n.output[0])).items())
        if not subs or len(subs) > 2 or len(readers) != 2:
            continue
        square = [(k, n) for k, n in readers if (n.op_type == "Pow" and near(scalar(imp, n.input[1]), 2.0)) or (n.op_type == "Mul" and n.input[0] == n.input[1])]
        if len(square) != 1:
            continue
        variance = _only(imp, square[0][1].output[0], "ReduceMean")
        if variance is None or _axes(imp, variance[1]) != axes or not attributes(variance[1]).get("keepdims", 1):
            continue
        add_eps = _only(imp, variance[1].output[0], "Add")
        eps = scalar(imp, other_operand(add_eps[1], variance[1].output[0]) or "") if add_eps is not None else None
        root = _only(imp, add_eps[1].output[0], "Sqrt") if add_eps is not None else None
        if eps is None or eps <= 0 or root is None:
            continue
        members = [*(k for k, _ in means), *(k for k, _ in subs), square[0][0], variance[0], add_eps[0], root[0]]
        diffs = {n.output[0] for _, n in subs}
        k_div, div = next((k, n) for k, n in readers if k != square[0][0])
        if div.op_type == "Div" and div.input[0] in diffs and div.input[1] == root[1].output[0]:
            members.append(k_div)
        else:
            inverse = imp.only_reader(root[1].output[0])
            one_over = inverse is not None and (inverse[1].op_type == "Reciprocal" or (
                inverse[1].op_type == "Div" and inverse[1].input[1] == root[1].output[0] and near(scalar(imp, inverse[1].input[0]), 1.0)))
            if not one_over or div.op_type != "Mul" or set(div.input) - diffs != {inverse[1].output[0]} or imp.only_reader(inverse[1].output[0]) is None:
                continue
            members += [inverse[0], k_div]
        tensor, channels = div.output[0], None
        mul = _only(imp, tensor, "Mul")
        gamma = _dims_of(imp, other_operand(mul[1], tensor) or "") if mul is not None else None
        add = _only(imp, mul[1].output[0], "Add") if mul is not None else None
        beta = _dims_of(imp, other_operand(add[1], mul[1].output[0]) or "") if add is not None else None
        affine = _per_channel(gamma) and _per_channel(beta) and math.prod(gamma) == math.prod(beta)
        if affine:
            members += [mul[0], add[0]]
            channels = math.prod(gamma)
        last = members.pop()
        imp.consumed.update(members)
        rank, channels_last = layout
        layer = LAYER_TYPES["layernorm"](eps=float(f"{eps:.6g}"), affine=affine)
        imp.recognised[last] = Recognised(x, layer, "a layer norm", channels=channels, rank=rank, channels_last=channels_last)
