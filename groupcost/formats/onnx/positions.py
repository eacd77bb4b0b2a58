"""A positional encoding built at run time and projected by a 1×1 conv, then added: `fourier_position`.

XCiT and EdgeNeXt build a Fourier encoding from the input's shape (ConstantOfShape of the batch and
map size, Not, CumSum, Div, Sin, Cos: evaluated by groupcost.formats.onnx.folding as a constant of
known dims) and run a learned 1×1 conv on it; the exporters write that conv with a constant input,
viewed (Reshape to tokens, Transpose channels last) and added to the activation. The conv counts as
any conv (its weight, bias and MACs at every position), the encoding's values are not read: what
the grid holds does not change a count (the layer's own kernel writes XCiT's encoding).
"""

from __future__ import annotations

import math

from groupcost.formats.onnx.constants import MADE_BY_EXPORTER, PARAMETER_NAME
from groupcost.formats.onnx.importer import Importer, Recognised
from groupcost.formats.onnx.optimised import removed_bias
from groupcost.formats.onnx.values import BATCH, Act, ChannelsLast, Const, Weight, attributes
from groupcost.ops import LAYER_TYPES, Layer

_VIEWS = ("Reshape", "Transpose", "Cast", "Identity", "Tile", "Expand")


def recognise_projected_encodings(imp: Importer) -> None:
    """A 1×1 Conv whose only reader chain (views) ends in an Add with another tensor: read at the Add, once the
    values say the conv's input is a constant (fixed_grid) and the views keep its channels and positions."""
    free: dict[str, bool] = {}
    for k, node in enumerate(imp.order):
        if node.op_type != "Conv" or node.domain not in ("", "ai.onnx") or len(node.input) < 2 or node.input[1] not in imp.initializers:
            continue
        if not _input_free(imp, node.input[0], free):
            continue
        if tuple(imp.initializers[node.input[1]].dims[2:]) != (1, 1):
            continue
        members, tensor = [k], node.output[0]
        reader = imp.only_reader(tensor)
        while reader is not None and reader[1].op_type in _VIEWS:
            members.append(reader[0])
            tensor = reader[1].output[0]
            reader = imp.only_reader(tensor)
        if reader is None or reader[1].op_type != "Add" or reader[0] in imp.recognised or any(m in imp.consumed for m in members):
            continue
        k_add, add = reader
        others = [name for name in add.input if name != tensor]
        if len(others) != 1:
            continue
        chain = tuple(members)
        imp.consumed.update(chain)
        imp.recognised[k_add] = Recognised(others[0], None, "a projected positional encoding", elementwise=True, members=chain,
                                           resolve=lambda imp, x, chain=chain, source=others[0]: _encoding(imp, x, chain, source),
                                           name=imp.weight_owner(k, node))


def _input_free(imp: Importer, tensor: str, free: dict[str, bool]) -> bool:
    """The tensor is computed without the input's values: from initializers, Constants and Shapes alone."""
    stack = [tensor]
    while stack:
        name = stack[-1]
        if name in free:
            stack.pop()
            continue
        k = imp.producers.get(name)
        if k is None:
            free[name] = name in imp.initializers or not name
            stack.pop()
            continue
        node = imp.order[k]
        if node.op_type == "Shape":
            free[name] = True
            stack.pop()
            continue
        waiting = [i for i in node.input if i and i not in free]
        if waiting:
            stack.extend(waiting)
            continue
        free[name] = all(free[i] for i in node.input if i)
        stack.pop()
    return free[tensor]


def _encoding(imp: Importer, x: Act, chain: tuple[int, ...], source: str) -> Layer | None:
    """fourier_position of x, or None where the conv's input is no fixed grid or the views move its channels or positions."""
    conv = imp.order[chain[0]]
    grid = imp.env.get(conv.input[0])
    if not _fixed(imp, conv.input[0], grid) or len(grid.dims) != 4 or grid.dims[0] not in (1, imp.batch):
        return None
    attrs = attributes(conv)
    weight = imp.initializers[conv.input[1]]
    c, features = int(weight.dims[0]), int(weight.dims[1])
    if attrs.get("group", 1) != 1 or features != grid.dims[1] or attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID") \
            or any(v != 1 for v in (*attrs.get("strides", ()), *attrs.get("dilations", ()))) or any(attrs.get("pads", ())):
        return None
    given = len(conv.input) > 2 and bool(conv.input[2])
    bias = given or removed_bias(conv)
    if given and (imp.root(conv.input[2]) not in imp.initializers or tuple(imp.initializers[imp.root(conv.input[2])].dims) != (c,)):  # (an untrained bias of zeros may be another's, through an Identity)
        return None
    rows, cols = grid.dims[2:]
    dims, channels_last = (grid.dims[0], c, rows * cols), False  # positions kept in row-major order: all that matters below
    shown = (grid.dims[0], c, rows, cols)
    for k in chain[1:]:
        view = imp.order[k]
        if view.op_type == "Reshape" and not channels_last:
            target = imp.env.get(view.input[1])
            if not isinstance(target, Const) or target.values is None:
                return None
            shown = _reshaped(shown, [grid.dims[0] if v is BATCH else v for v in target.values])
            if shown is None or tuple(shown[:2]) != dims[:2] or math.prod(shown[2:]) != dims[2]:
                return None
        elif view.op_type == "Transpose" and not channels_last:
            perm = tuple(attributes(view).get("perm", ()))
            if perm != (0, *range(2, len(shown)), 1):
                return None
            channels_last = True
        elif view.op_type == "Tile":  # the encoding repeated for each sample (XCiT's `pos.repeat(B, 1, 1, 1)`): what the Add broadcasts
            repeats = imp.env.get(view.input[1])
            if not isinstance(repeats, Const) or repeats.values is None or len(repeats.values) != len(shown) or shown[0] != 1 \
                    or repeats.values[0] not in (1, BATCH, imp.batch) or any(r != 1 for r in repeats.values[1:]):
                return None
        elif view.op_type == "Expand":  # to its own shape (the exporter's Expand before a Tile)
            target = imp.env.get(view.input[1])
            if not isinstance(target, Const) or target.values is None or len(target.values) > len(shown) or any(v != 1 for v in target.values):
                return None
        elif view.op_type not in ("Cast", "Identity"):
            return None
    value = imp.env.get(source)
    if channels_last != isinstance(value, ChannelsLast) or x.channels is not None or x.shape[0] != c or math.prod(x.shape[1:]) != rows * cols:
        return None
    if tuple(x.shape[1:]) != tuple(shown[2:]):
        return None
    grid_arg = None if tuple(x.shape[1:]) == (rows, cols) else (rows, cols)
    return LAYER_TYPES["fourier_position"](features=features, bias=bias, grid=grid_arg)


def _fixed(imp: Importer, tensor: str, value) -> bool:
    """The tensor is computed from constants alone (a Const), or an initializer no parameter is (its values fixed)."""
    if isinstance(value, Const):
        return True
    if not isinstance(value, Weight):
        return False
    root = imp.root(value.name)
    return not (PARAMETER_NAME.fullmatch(root) and not MADE_BY_EXPORTER.fullmatch(root))


def _reshaped(dims: tuple[int, ...], target: list) -> tuple[int, ...] | None:
    """ONNX Reshape's output dims (0 keeps a dim, one -1 takes the rest), or None where they do not fit."""
    out = [dims[k] if v == 0 and k < len(dims) else v for k, v in enumerate(target)]
    if any(not isinstance(v, int) for v in out) or out.count(-1) > 1:
        return None
    known = math.prod(v for v in out if v != -1)
    if -1 in out:
        if not known or math.prod(dims) % known:
            return None
        out[out.index(-1)] = math.prod(dims) // known
    return tuple(out) if math.prod(out) == math.prod(dims) else None
