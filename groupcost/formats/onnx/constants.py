"""An activation and a constant, element by element (Add, Sub, Mul, Div): one `elementwise` layer.

The constant is read relative to the activation: its batch axis dropped, moved channels first
where the activation is a channels-last view, one number where all its values are equal. A
learned tensor (an initializer the model named, a positional embedding) counts its elements as
parameters; a constant the exporter made (folded arithmetic, `onnx::Add_7`, `val_12`, torch.export's
`add_3`) counts none.
"""

from __future__ import annotations

import math
import re

from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.names import LAYER_NAME
from groupcost.formats.onnx.relpos import folded_bias
from groupcost.formats.onnx.values import GRID, UNFOLDED_EXPORT, VIEW_OPERATORS, Act, ChannelsLast, Const, Unsupported, Weight, tensor_buffer, tensor_values
from groupcost.ops import LAYER_TYPES, format_shape

MADE_BY_EXPORTER = re.compile(r"val_\d+|onnx::.*|/.*|(add|sub|mul|div|expand|arange|view|reshape|repeat|cat|stack|unsqueeze|permute|"
                              r"transpose|clone|linspace|full|ones|zeros|select|pow|sqrt|exp|neg|rsub|sin|cos|where|_to_copy|"
                              r"lift_fresh_copy|scalar_tensor(_default)?|empty|empty_like|new_empty|zeros_like|ones_like|full_like|new_zeros|new_ones|new_full|meshgrid|mean|sum|tensor|_tensor_constant|index|index_select|gather|squeeze|"
                              r"flatten|slice|narrow|contiguous|alias|detach|_unsafe_view|cumsum|embedding|roll|pad|constant_pad_nd|"
                              r"conv[123]d|convolution|_convolution|linear|addmm|mm|bmm|baddbmm|matmul)(_\d+)?")
"""Names exporters give the tensors they make: TorchScript's `onnx::Op_N` and `/module/Op_output_0`, torch.export's
`val_N` and its FX node names (`add_3`, `expand`, `conv2d_1`: a conv of constants it computed); a parameter keeps its state_dict
name (`pos_embed`, `blocks.0.gamma`)."""

PARAMETER_NAME = re.compile(r"(?=[\w.]*[A-Za-z_])\w+(\.\w+)*")
"""A state_dict key: `pos_embed`, `blocks.0.gamma`, `1.gamma` (a Sequential's); not a number."""

MASK_VALUES = 1 << 23
"""The largest attention mask read (Swin's first stage at 224 × 224: 64 windows of 49 × 49, 153,664 values)."""

_NEUTRAL = {"add": 0.0, "sub": 0.0, "mul": 1.0, "div": 1.0}

def constant_operation(imp: Importer, i: int, node, kind: str, inputs: list):
    """x op c or c op x for an activation x (maybe channels-last) and a constant or weight c; None when it is not that."""
    if len(inputs) != 2 or None in inputs:
        return None
    (first, second) = inputs
    act_first = isinstance(first, (Act, ChannelsLast))
    x, c, c_name = (first, second, node.input[1]) if act_first else (second, first, node.input[0])
    if not isinstance(x, (Act, ChannelsLast)) or not isinstance(c, (Const, Weight)):
        return None
    view = isinstance(x, ChannelsLast)
    act = x.x if view else x
    dims = tuple(c.dims)
    if act.channels is not None and (view or math.prod(dims) != 1):  # a number: x[:, a:b] - 0.5 (a slice assignment's new values)
        raise Unsupported(f"{kind} of a constant and a channel range")
    rank = len(act.shape) + 1
    if len(dims) > rank:
        raise Unsupported(f"{kind} of N×{format_shape(act.shape)} and a constant of {list(dims)} (broadcasting)")
    full = (1,) * (rank - len(dims)) + dims
    if full[0] != 1:
        raise Unsupported(f"{kind} of a constant with a batch axis of {full[0]}")
    shape = full[1:]
    if view:  # N×…×C as the view holds it: channels first as the activation is
        shape = (shape[-1], *shape[:-1])
    shape = tuple(shape)
    if any(a != b and b != 1 for a, b in zip(act.shape, shape)):
        raise Unsupported(f"{kind} of N×{format_shape(act.shape)} and a constant of {list(dims)} that grows it (broadcasting)")
    values = c.values if isinstance(c, Const) and c.values is not None and all(isinstance(v, (int, float)) for v in c.values) else None
    uniform = values is not None and len(set(values)) == 1
    root = c.name if isinstance(c, Weight) else imp.root(c_name)  # a Weight carries its initializer's name through views
    learned = root in imp.initializers and PARAMETER_NAME.fullmatch(root) and not MADE_BY_EXPORTER.fullmatch(root)
    folded = folded_bias(imp, i, node, act, c_name, dims) if kind == "add" and not view and root in imp.initializers and not learned else None
    if folded is not None:  # a relative position bias the exporter gathered from its table: the table read back
        return folded
    mask = kind == "add" and root in imp.initializers and math.prod(dims) > 1 and attention_mask(imp, root)
    learned = learned and not mask
    shift = kind == "add" and root in imp.initializers and not learned and not mask and norm_shift(imp, node, c_name, dims)
    if root in imp.initializers and not learned and not shift and not mask and math.prod(dims) > 1 \
            and not frozen_batch_norm_part(imp, node, c_name, dims):
        _refuse_folded(imp, kind, root, dims)
    learned = learned or shift
    shape = () if uniform and not learned else shape
    while shape and shape[0] == 1:  # leading ones broadcast as they are left out
        shape = shape[1:]
    value = float(values[0]) if uniform else _NEUTRAL[kind]
    op = kind if act_first or kind in ("add", "mul") else "r" + kind
    layer = LAYER_TYPES["elementwise"](op=op, value=value, shape=shape, learned=learned)
    y = imp.layer(i, node, "elementwise", layer, act, parameter_step(imp, i, root) if learned and not shift else None)
    return ChannelsLast(y) if view else y


def parameter_step(imp: Importer, i: int, root: str) -> str:
    """A learned constant's step name: its parameter's path, or the reading module's path and the parameter's own name where
    the exporter merged equal parameters of several modules into one initializer (an untrained scale of 1 in every block)."""
    name = clean_parameter(root)
    module, _, own = name.rpartition(".")
    path = imp.paths[i]
    if path and module and path != module and not path.startswith(module + ".") and len(imp.consumers.get(root, ())) > 1:
        return f"{path}.{own}"
    return name


_NORMALISING = {"Div", "Mul", "Sub", "Sqrt", "Reciprocal"}  # a norm written out ends in (x − mean) / std or × rsqrt: its affine is learned
_NORMALISATIONS = {"BatchNormalization", "InstanceNormalization", "LayerNormalization", "GroupNormalization"}


def _computed(tensor: str) -> bool:
    """A constant the exporter computed (TorchScript's `onnx::Mul_31`, torch.export's `unsqueeze_1`), not a
    parameter under its module path (`layer1.0.ls.gamma`)."""
    return not LAYER_NAME.fullmatch(tensor) or tensor.startswith("onnx")


def _per_channel(dims: tuple[int, ...]) -> bool:
    """Whether a constant of `dims` holds one value per channel (1×C×1×…, leading ones left out)."""
    stripped = tuple(dims)
    while stripped and stripped[0] == 1:
        stripped = stripped[1:]
    return bool(stripped) and all(d == 1 for d in stripped[1:])


def _scaling_mul(imp: Importer, add, tensor: str):
    """The Mul whose output `add` adds `tensor` to, or None."""
    scaled = [name for name in add.input if name != tensor]
    k = imp.producers.get(scaled[0]) if len(scaled) == 1 else None
    return imp.order[k] if k is not None and imp.order[k].op_type == "Mul" else None


def _scaled_source(imp: Importer, mul, scale: str) -> int | None:
    """The node making what `mul` multiplies by `scale`, past views (a norm written out: Reshape back after it), or None."""
    x = [name for name in mul.input if name != scale]
    producer = imp.producers.get(x[0]) if len(x) == 1 else None
    while producer is not None and imp.order[producer].op_type in VIEW_OPERATORS:
        producer = imp.producers.get(imp.order[producer].input[0])
    return producer


def frozen_batch_norm_scale(imp: Importer, mul, tensor: str, dims: tuple[int, ...]) -> bool:
    """x · scale + shift, scale and shift both computed per-channel constants of one shape, x not the
    output of a normalisation: torchvision's FrozenBatchNorm2d, all four of whose tensors are buffers,
    as folded and torch.export exports write it (PyTorch counts no parameters). A norm's own learned
    affine follows its normalisation; a reshaped LayerScale parameter has no Add of a constant."""
    if not _computed(tensor):
        return False
    reader = imp.only_reader(mul.output[0])
    if reader is None or reader[1].op_type != "Add":
        return False
    shift = [name for name in reader[1].input if name != mul.output[0]]
    if len(shift) != 1 or not _computed(shift[0]):
        return False
    value = imp.initializers.get(shift[0]) or imp.env.get(shift[0])
    if not hasattr(value, "dims") or tuple(value.dims) != dims:
        return False  # a residual or another activation added: not a frozen batch norm's shift
    producer = _scaled_source(imp, mul, tensor)
    return producer is None or imp.order[producer].op_type not in _NORMALISATIONS | _NORMALISING


def frozen_batch_norm_part(imp: Importer, node, tensor: str, dims: tuple[int, ...]) -> bool:
    """`node` is the Mul or the Add of a frozen batch norm (frozen_batch_norm_scale), `tensor` its computed
    per-channel constant (C×1×…, one value per channel)."""
    if not _per_channel(dims):
        return False
    if node.op_type == "Mul":
        return frozen_batch_norm_scale(imp, node, tensor, dims)
    mul = _scaling_mul(imp, node, tensor) if node.op_type == "Add" else None
    return mul is not None and any(frozen_batch_norm_scale(imp, mul, name, dims) for name in mul.input
               if name in imp.initializers and tuple(imp.initializers[name].dims) == tuple(dims))


def norm_shift(imp: Importer, add, tensor: str, dims: tuple[int, ...]) -> bool:
    """`add` adds the computed per-channel constant `tensor` to x · scale, scale a computed per-channel constant of the
    same shape and x a normalisation's output (its operator, or the division by a deviation that ends one written
    out): a norm's learned affine (EvoNorm's γ and β viewed to 1×C×1×1, both folded by the exporter), whose scale
    reads as learned; its shift is learned too, C parameters. The complement of frozen_batch_norm_scale, whose x is
    not normalised."""
    mul = _scaling_mul(imp, add, tensor) if _per_channel(dims) and _computed(tensor) else None
    if mul is None:
        return False
    scales = [name for name in mul.input if name in imp.initializers and tuple(imp.initializers[name].dims) == tuple(dims) and _computed(name)]
    if len(scales) != 1 or imp.only_reader(mul.output[0]) is None:
        return False
    producer = _scaled_source(imp, mul, scales[0])
    return producer is not None and imp.order[producer].op_type in _NORMALISATIONS | {"Div"}


MASKED = -100.0
"""At most this: a masked logit (Swin's shifted windows add −100 where two positions come from different regions)."""


def attention_mask(imp: Importer, root: str) -> bool:
    """Whether an initializer holds zeros and masked logits only (≤ MASKED, −inf): a fixed attention mask, a buffer
    torch.export writes under its module path as it writes a parameter (Swin's `layers.0.blocks.1.attn_mask`), never a
    learned tensor (a learned one holds a value no mask does, or one value alone: an untrained fill)."""
    values = tensor_buffer(imp.initializers[root], imp.folder, MASK_VALUES)
    distinct = set(values) if values is not None else set()
    return 0 in distinct and len(distinct) > 1 and all(v == 0 or v <= MASKED for v in distinct)


def _refuse_folded(imp: Importer, kind: str, name: str, dims: tuple[int, ...]) -> None:
    """An initializer the exporter computed (TorchScript's constant folding: `onnx::Add_12`; the torch.export
    optimiser's: `val_3`, `index`, `unsqueeze`) may hold parameters folded in: a relative position bias
    gathered from its table, a learned embedding viewed, a bias reshaped. Its elements are not the parameters'
    count, and a fixed table looks the same, so it is refused unless its values are a grid of whole or half numbers
    that no learned table holds (an index or coordinate grid built from arange, a detection head's cell centres
    k + 0.5; never all equal)."""
    values = tensor_values(imp.initializers[name], imp.folder, GRID)  # a detection head's stride per cell: 8,400 at 640 × 640
    if values is not None and len(set(values)) > 1 and all(float(2 * v).is_integer() for v in values):
        return
    raise Unsupported(f"{kind} of {list(dims)} values the exporter computed ('{name}'), which may hold a parameter folded in "
                      f"(a relative position bias, a learned embedding): {UNFOLDED_EXPORT}")


def clean_parameter(name: str) -> str:
    """A learned constant's step name: its parameter's path (`blocks.0.pos`), less the `.value` groupcost's own export adds."""
    from groupcost.formats.onnx.names import clean

    return clean(name[: -len(".value")] if name.endswith(".value") else name)
