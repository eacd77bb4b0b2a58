"""Operator handlers: (importer, index, node, inputs) → output value(s), and the table of them (`BASE`).

Each ONNX operator groupcost reads maps to a groupcost layer type or merge through its handler here (with the
readings of patterns that span several nodes layered on it in groupcost.formats.onnx.operators); a
handler raises Unsupported for a use of its operator groupcost cannot model (reported at the end,
or kept opaque with --allow-unknown), and the importer's `fail` for a malformed node.
"""

from __future__ import annotations

import math
import re

from groupcost.formats.onnx.arithmetic import ARITHMETIC, ON_CONSTANTS, activations_merged
from groupcost.formats.onnx.bounded import clamped
from groupcost.formats.onnx.constants import MADE_BY_EXPORTER, PARAMETER_NAME, constant_operation
from groupcost.formats.onnx.depth import DEPTH
from groupcost.formats.onnx.importer import Handler, Importer
from groupcost.formats.onnx.names import LAYER_NAME, clean, parameter_module
from groupcost.formats.onnx.optimised import fixed_tensor, fused_norm, removed_bias
from groupcost.formats.onnx.patterns import gated_self, layerscale, squeeze_excitation
from groupcost.formats.onnx.folding import FOLDED, divide, elementwise, multiply
from groupcost.formats.onnx.shapes import SHAPES
from groupcost.formats.onnx.shiftless import fixed_zeros
from groupcost.formats.onnx.tables import GATHERS, table_add
from groupcost.formats.onnx.values import BATCH, Act, ChannelsLast, Const, PaddedView, Table, Unsupported, Weight, as_act, attributes, feature_map
from groupcost.formats.onnx.views import VIEWS
from groupcost.formats.onnx.weights import WEIGHT_SIDE, folded_standardisation, is_binomial, stored_values
from groupcost.ops import LAYER_TYPES, format_shape


def _pads(attrs: dict, kernel, stride, dilation, dims: tuple[int, ...], imp, node) -> tuple[int, ...]:
    """groupcost's pads, (before, after) per spatial dimension; ONNX lists every begin, then every end."""
    rank = len(dims)
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        from groupcost.ops.base import same_padding

        pairs = [same_padding(n, k, s, d) for n, k, s, d in zip(dims, kernel, stride, dilation)]
        return tuple(v for before, after in pairs for v in ((after, before) if auto == "SAME_LOWER" else (before, after)))
    if auto == "VALID":
        return (0,) * (2 * rank)
    pads = attrs.get("pads", (0,) * (2 * rank))
    if len(pads) != 2 * rank or any(p < 0 for p in pads):
        raise imp.fail(node, f"pads {list(pads)}: expected {2 * rank} non-negative numbers for a {rank}-D window")
    return tuple(v for k in range(rank) for v in (pads[k], pads[rank + k]))


def _window(attrs: dict, imp, node, rank: int, kernel_default=None):
    kernel = tuple(attrs.get("kernel_shape", kernel_default or ()))
    if len(kernel) != rank:
        raise imp.fail(node, f"a {len(kernel)}-D window on a {rank}-D input")
    stride = tuple(attrs.get("strides", (1,) * rank))
    dilation = tuple(attrs.get("dilations", (1,) * rank))
    for what, values in (("kernel_shape", kernel), ("strides", stride), ("dilations", dilation)):
        if len(values) != rank or any(v < 1 for v in values):
            raise imp.fail(node, f"{what} {list(values)}: expected {rank} positive numbers")
    return kernel, stride, dilation


def _kernel_dims(imp: Importer, node, inputs: list, rank: int) -> tuple[int, ...]:
    """The dims of a (transposed) convolution's weight: an initializer of rank + 2 dimensions."""
    weight = inputs[1] if len(inputs) > 1 else None
    if not isinstance(weight, (Weight, Const)):
        raise Unsupported("its weight is computed, not an initializer")
    if len(weight.dims) != rank + 2:
        raise imp.fail(node, f"weight {list(weight.dims)} does not fit a {rank}-D input")
    return tuple(weight.dims)


def _conv(imp: Importer, i: int, node, inputs: list) -> Act:
    padded = inputs[0] if isinstance(inputs[0], PaddedView) else None
    x = as_act(padded.x if padded is not None else inputs[0])
    c_in, dims = feature_map(x)
    rank = len(dims)
    wdims = _kernel_dims(imp, node, inputs, rank)
    attrs = attributes(node)
    kernel, stride, dilation = _window(attrs, imp, node, rank, wdims[2:])
    if tuple(wdims[2:]) != kernel:
        raise imp.fail(node, f"kernel_shape {list(kernel)} differs from its weight's {list(wdims[2:])}")
    groups = attrs.get("group", 1)
    c_out = wdims[0]
    if groups < 1 or wdims[1] * groups != c_in or c_out % groups:
        raise imp.fail(node, f"weight {list(wdims)} with group={groups} does not fit an input of {c_in} channels")
    pads = _pads(attrs, kernel, stride, dilation, dims, imp, node)
    if padded is not None:
        if attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
            raise Unsupported("a convolution with auto_pad after an explicit Pad")
        pads = tuple(a + b for a, b in zip(pads, padded.pads))
    bias = len(inputs) > 2 and inputs[2] is not None or removed_bias(node)
    path = imp.weight_owner(i, node) or _own_conv(imp, i)
    if _folded_batchnorm(node, bias):
        imp.folded_bn += 1
        bias = True  # torch.export's optimiser drops the folded shift where it is all zeros (an untrained norm's): the conv's bias still
    weight_args = _kernel_args(imp, node, inputs[1], c_in, c_out, groups)
    types = LAYER_TYPES
    ones, zeros = (1,) * rank, (0,) * (2 * rank)
    if groups == c_in and groups > 1:
        if c_out == c_in and kernel == dims and pads == zeros and dilation == ones and stride == ones and not weight_args:
            kind, layer = "gdc", types["gdc"](bias=bias)
        else:
            kind, layer = "conv", types["dwconv"](k=kernel, s=stride, p=pads, d=dilation, mult=c_out // c_in, bias=bias, **weight_args)
    elif kernel == ones and pads == zeros and dilation == ones:
        kind, layer = "conv", types["pwconv"](out=c_out, s=stride, groups=groups, bias=bias, **weight_args)
    else:
        kind, layer = "conv", types["conv"](out=c_out, k=kernel, s=stride, p=pads, d=dilation, groups=groups, bias=bias, **weight_args)
    return imp.module_call(i, node, imp.layer(i, node, kind, layer, x, path), tuple(node.input[1:3]))


def _own_conv(imp: Importer, i: int) -> str | None:
    """The module a conv whose kernel the file leaves unnamed (folded with its norm) is, where its path is a module with
    children and no other conv there: a conv that holds its own padding module (efficientnet-pytorch's
    Conv2dStaticSamePadding: `_conv_stem`, beside `_conv_stem.static_padding`), as its unfolded file names it by its weight."""
    path = imp.paths[i]
    if not path or path not in imp.containers:
        return None
    convs = sum(1 for k, node in enumerate(imp.order) if imp.paths[k] == path and node.op_type in ("Conv", "ConvTranspose", "Gemm"))
    return path if convs == 1 else None


def _kernel_args(imp: Importer, node, kernel, c_in: int, c_out: int, groups: int) -> dict:
    """The conv's arguments its kernel decides: `ws` for a standardised weight (computed in the file, or folded
    by torch.export with its gain), `filter` for a fixed one.

    A functional conv over a buffer (an anti-aliasing blur's fixed filter) exports the buffer as a
    Constant node (TorchScript) or as an initializer under the buffer's name (torch.export); PyTorch
    counts neither as a parameter, and from the file a buffer and a parameter look alike. Read as a
    fixed filter where its values are the binomial filter, the same for every channel of a depthwise
    conv (no trained weight is); any other such kernel is refused."""
    if isinstance(kernel, Weight) and kernel.standardised is not None:
        ws = kernel.standardised
        return {"ws": "scaled" if ws.gain is not None else "std", "ws_eps": ws.eps}
    name = kernel.name if isinstance(kernel, Weight) else imp.root(node.input[1])
    fixed = fixed_tensor(imp, name) if name in imp.initializers else None  # before a folded standardisation: a Sobel kernel's rows have mean 0 too
    folded = None if fixed else folded_standardisation(imp, name, kernel.dims)  # `scaled`: torch.export folded a gain into it, C_out parameters PyTorch counts
    if folded is not None:
        return {"ws": folded}
    constant = isinstance(kernel, Const) and name not in imp.initializers
    buffer_named = name in imp.initializers and _unlike_a_weight(name, imp.model.producer_name == "pytorch")
    if not constant and not fixed and not buffer_named:
        return {}
    if groups == c_in > 1 and is_binomial(stored_values(imp, name, kernel), kernel.dims):
        return {"filter": "binomial"}
    if constant:
        raise Unsupported("its kernel is a constant of the graph, no module's parameter (a fixed filter such as an anti-aliasing blur, "
                          "a buffer PyTorch does not count) and no binomial filter of a depthwise conv, which groupcost's conv would count as parameters")
    if fixed:
        raise Unsupported(f"its kernel '{name}' is {fixed}, no parameter (a fixed filter, which PyTorch does not count), and no binomial "
                          "filter of a depthwise conv, which groupcost's conv would count as parameters")
    raise Unsupported(f"its kernel '{name}' is no module's weight and no binomial filter of a depthwise conv: a buffer (a fixed filter, which "
                      "PyTorch does not count) or a parameter, which groupcost cannot tell apart")


def _unlike_a_weight(name: str, by_pytorch: bool) -> bool:
    """Whether an initializer a conv reads as its kernel is named as a module's tensor other than its `weight`
    (`blur.filt`; in PyTorch's files, `k`, the model's own: other writers name weights as they like): a buffer or a
    parameter, which the file cannot tell apart."""
    if name.endswith(".weight") or name == "weight":
        return False
    return bool(LAYER_NAME.fullmatch(name) or by_pytorch and PARAMETER_NAME.fullmatch(name) and not MADE_BY_EXPORTER.fullmatch(name))


def _conv_transpose(imp: Importer, i: int, node, inputs: list) -> Act:
    """ConvTranspose: weight (C_in, C_out/G, k...); pads symmetric per dimension, as torch writes them."""
    x = as_act(inputs[0])
    c_in, dims = feature_map(x)
    rank = len(dims)
    wdims = _kernel_dims(imp, node, inputs, rank)
    attrs = attributes(node)
    kernel, stride, dilation = _window(attrs, imp, node, rank, wdims[2:])
    groups = attrs.get("group", 1)
    if groups < 1 or wdims[0] != c_in or c_in % groups or tuple(wdims[2:]) != kernel:
        raise imp.fail(node, f"weight {list(wdims)} with group={groups} does not fit an input of {c_in} channels")
    if "output_shape" in attrs or attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise Unsupported("a transposed convolution sized by output_shape or auto_pad (groupcost takes pads and output_padding)")
    pads = tuple(attrs.get("pads", (0,) * (2 * rank)))
    if len(pads) != 2 * rank or pads[:rank] != pads[rank:] or any(p < 0 for p in pads):
        raise Unsupported(f"transposed-convolution pads {list(pads)} that differ before and after")
    output_padding = tuple(attrs.get("output_padding", (0,) * rank))
    bias = len(inputs) > 2 and inputs[2] is not None or fused_norm(node) or removed_bias(node)
    layer = LAYER_TYPES["convtranspose"](out=wdims[1] * groups, k=kernel, s=stride, p=pads[:rank], output_padding=output_padding,
                                         d=dilation, groups=groups, bias=bias)
    return imp.module_call(i, node, imp.layer(i, node, "convtranspose", layer, x, imp.weight_owner(i, node)), tuple(node.input[1:3]))  # a module called again


def _folded_batchnorm(node, bias: bool) -> bool:
    """Whether the exporter folded a BatchNorm into this convolution.

    The torch.export exporter says so in the node's metadata; the TorchScript exporter's constant
    folding leaves a weight and a bias it computed, named `onnx::Conv_N`, where a conv exported as
    it is keeps its parameters' names (`features.0.weight`).
    """
    if fused_norm(node):
        return True
    return bias and len(node.input) > 2 and node.input[1].startswith("onnx::") and node.input[2].startswith("onnx::")


def _gemm(imp: Importer, i: int, node, inputs: list) -> Act:
    x = as_act(inputs[0])
    attrs = attributes(node)
    weight = inputs[1]
    if not isinstance(weight, (Weight, Const)) or attrs.get("transA", 0):
        raise Unsupported("its second operand is not a weight")
    if len(x.shape) != 1:
        raise Unsupported(f"its input is {format_shape(x.shape)}, not a flat vector")
    dims = weight.dims
    if len(dims) != 2:
        raise imp.fail(node, f"weight {list(dims)} is not a matrix")
    out, fan_in = (dims[0], dims[1]) if attrs.get("transB", 0) else (dims[1], dims[0])
    if fan_in != x.shape[0]:
        raise imp.fail(node, f"weight {list(dims)} does not fit an input of {x.shape[0]} features")
    bias = len(inputs) > 2 and inputs[2] is not None or fused_norm(node) or removed_bias(node)
    y = imp.layer(i, node, "fc", LAYER_TYPES["fc"](out=out, bias=bias), x, imp.weight_owner(i, node))
    return imp.module_call(i, node, y, tuple(node.input[1:3])) if isinstance(weight, Weight) else y


def _matmul(imp: Importer, i: int, node, inputs: list) -> Act | ChannelsLast:
    """x·W (+ b): `fc` on a feature vector, `linear` on the channels of a channels-last view (ConvNeXt's MLP)."""
    x = inputs[0]
    weight = inputs[1]
    view = isinstance(x, ChannelsLast)
    if view:
        x = x.x
    if isinstance(x, Act) and isinstance(weight, Act) and not view:
        return imp.merge(i, node, "matmul", [x, weight])  # attention's scores and context: matmul MACs
    if not isinstance(x, Act) or not isinstance(weight, (Weight, Const)):
        raise Unsupported("a product of an activation and a computed tensor")
    tokens = not view and len(x.shape) >= 2 and len(weight.dims) == 2 and weight.dims[0] == x.shape[-1]
    swap = (1, len(x.shape))
    kind = "linear" if view or tokens else "fc"
    # a transposed weight (groupcost's own linear: MatMul reads `NAME/weight_t`) is named by the initializer it transposes
    preferred = imp.weight_owner(i, node) or (parameter_module(weight.name) if isinstance(weight, Weight) and not imp.paths[i] else None)
    if preferred is None and isinstance(weight, Weight) and imp.paths[i] in imp.containers and weight.name.rpartition(".")[0] == imp.paths[i]:
        preferred = clean(weight.name)  # a parameter of the module itself (SwiftFormer's `attn.w_g`), not of a child linear
    if tokens:  # nn.Linear on the last axis of N×…×C tokens: the features moved first (named after the linear), a `linear`, moved back
        x = imp.layer(i, node, "transpose", LAYER_TYPES["transpose"](dims=swap), x, f"{imp.step_name(i, kind, preferred)}_in")
    if len(weight.dims) != 2 or (x.channels is not None if view or tokens else len(x.shape) != 1):
        raise Unsupported(f"a product of {format_shape(x.shape)} with a {list(weight.dims)} weight, not a linear layer on a flat vector")
    if weight.dims[0] != x.shape[0]:
        raise imp.fail(node, f"weight {list(weight.dims)} does not fit an input of {x.shape[0]} features")
    out = weight.dims[1]
    reader = imp.only_reader(node.output[0])
    bias_add = None
    if reader is not None and reader[1].op_type == "Add":
        other = [imp.env.get(n) for n in reader[1].input if n != node.output[0]]
        if len(other) == 1 and isinstance(other[0], (Weight, Const)) and tuple(other[0].dims) in ((out,), (1, out)):
            bias_add = reader
    y = imp.layer(i, node, kind, LAYER_TYPES[kind](out=out, bias=bias_add is not None), x, preferred)
    if isinstance(weight, Weight):
        bias = [n for n in bias_add[1].input if n != node.output[0]] if bias_add is not None else []
        read = node.input[1] if imp.root(node.input[1]) in imp.initializers else weight.name  # each call's own Transpose of it: the initializer
        y = imp.module_call(i, node, y, (read, *bias))
    result = ChannelsLast(y) if view else y
    if tokens:  # N×L×C tokens: a channels-last view of the C×L output, moved back only where a reader needs it; other ranks moved back
        result = ChannelsLast(y) if len(y.shape) == 2 else imp.layer(i, node, "transpose", LAYER_TYPES["transpose"](dims=swap), y, f"{y.name}_out")
    if bias_add is not None:
        imp.consumed.add(bias_add[0])
        imp.env[bias_add[1].output[0]] = result
    return result


GENERATED_NAME = re.compile(r"val_\d+$|onnx::")
"""A tensor named by PyTorch's exporters (torch.export's `val_N`, TorchScript's `onnx::Op_N`), not after a parameter."""


def _learned(imp: Importer, tensor: str) -> bool:
    """A norm's scale or shift is a parameter: an initializer under a name of its own, not one the exporter made
    for the constant ones and zeros of a norm without an affine (`val_9`, `onnx::...`, a Constant node)."""
    return imp.root(tensor) in imp.initializers and not GENERATED_NAME.match(tensor) and not GENERATED_NAME.match(imp.root(tensor))


def _batchnorm(imp: Importer, i: int, node, inputs: list) -> Act:
    x = as_act(inputs[0])
    scale = inputs[1]
    if not isinstance(scale, (Weight, Const)) or tuple(scale.dims) != (x.shape[0],):
        raise imp.fail(node, f"scale of shape {list(getattr(scale, 'dims', []))} does not fit {x.shape[0]} channels")
    # A learned scale is an initializer of its own. BatchNorm2d(affine=False) exports constant ones
    # and zeros: Constant nodes, tensors the exporter names itself (`val_9`, `onnx::...`), or the
    # running statistics themselves where the exporter shares equal tensors.
    scale = node.input[1]
    affine = imp.root(scale) in imp.initializers and not scale.endswith((".running_var", ".running_mean")) and not GENERATED_NAME.match(scale)
    y = imp.layer(i, node, "bn", LAYER_TYPES["bn"](affine=affine), x, imp.weight_owner(i, node))
    return imp.module_call(i, node, y, tuple(node.input[1:5] if affine else node.input[3:5]), constant_fills=True)  # a module called again


def _instancenorm(imp: Importer, i: int, node, inputs: list) -> Act:
    """InstanceNormalization: `instancenorm`, learned where its scale is a parameter. GroupNorm as TorchScript
    writes it (Reshape to N×G×…, an InstanceNormalization of constant ones and zeros, Reshape back, Mul
    and Add of the learned scale and shift) reads step by step with the same shapes and parameters."""
    x = as_act(inputs[0])
    feature_map(x)
    scale = node.input[1]
    if math.prod(getattr(inputs[1], "dims", (0,))) != x.shape[0]:
        raise imp.fail(node, f"scale of shape {list(getattr(inputs[1], 'dims', []))} does not fit {x.shape[0]} channels")
    affine = _learned(imp, scale)
    eps = float(f"{attributes(node).get('epsilon', 1e-5):.6g}")
    return imp.layer(i, node, "instancenorm", LAYER_TYPES["instancenorm"](affine=affine, eps=eps), x, imp.weight_owner(i, node) if affine else None)


def _pool(kind: str) -> Handler:
    def handle(imp: Importer, i: int, node, inputs: list) -> Act:
        x = as_act(inputs[0])
        _, dims = feature_map(x)
        rank = len(dims)
        if len(node.output) > 1 and node.output[1] and imp.consumers.get(node.output[1]):
            raise Unsupported("its indices output is used")
        attrs = attributes(node)
        kernel, stride, dilation = _window(attrs, imp, node, rank)
        pads = _pads(attrs, kernel, stride, dilation, dims, imp, node)
        ceil = bool(attrs.get("ceil_mode", 0))
        if pads[::2] != pads[1::2]:
            raise Unsupported(f"an asymmetric pool padding {list(pads)} (pools pad symmetrically)")
        pads = pads[::2]  # one per dimension, as the pool layers take it
        if kind == "maxpool":
            layer = LAYER_TYPES["maxpool"](k=kernel, s=stride, p=pads, d=dilation, ceil_mode=ceil)
        else:
            if dilation != (1,) * rank:
                raise Unsupported("a dilated average pool")
            # without padding both divisors are the window clipped to the input
            include = bool(attrs.get("count_include_pad", 0)) or not any(pads)
            layer = LAYER_TYPES["avgpool"](k=kernel, s=stride, p=pads, ceil_mode=ceil, count_include_pad=include)
        return imp.layer(i, node, kind, layer, x)

    return handle


def _global_pool(kind: str) -> Handler:
    def handle(imp: Importer, i: int, node, inputs: list) -> Act:
        x = as_act(inputs[0])
        feature_map(x)
        if kind == "gap":
            se = squeeze_excitation(imp, i, node, x)
            if se is not None:
                return se
        return imp.layer(i, node, kind, LAYER_TYPES[kind](), x)

    return handle


def _reduce(kind: str | None, op: str) -> Handler:
    """ReduceMean / ReduceMax over every spatial axis: a global pool (then a flatten without keepdims);
    any reduction over other axes (ReduceSum of stacked branches, ReduceL2 over H and W): `reduce`."""

    def handle(imp: Importer, i: int, node, inputs: list):
        view = inputs[0] if isinstance(inputs[0], ChannelsLast) else None
        x = as_act(view.x if view is not None else inputs[0])
        attrs = attributes(node)
        axes = imp.axes(node, inputs)
        rank = len(x.shape) + 1
        if axes is None:
            if attrs.get("noop_with_empty_axes", 0):
                return inputs[0]
            axes = tuple(range(1, rank))  # every axis but the batch, as groupcost keeps it apart
        axes = tuple(sorted(a % rank for a in axes))
        keep = bool(attrs.get("keepdims", 1))
        if view is None and kind is not None and rank >= 3 and list(axes) == list(range(2, rank)):
            if keep:
                return _global_pool(kind)(imp, i, node, inputs)
            pooled = imp.layer(i, node, kind, LAYER_TYPES[kind](), x)
            # in a module (TResNet's pool, `x.mean((2, 3))`) the flatten is its output: named `P_1` here, `P` once renamed
            # (names.output_owners); outside any, `gap_flatten`
            return imp.layer(i, node, "flatten", LAYER_TYPES["flatten"](), pooled, None if imp.paths[i] else f"{pooled.name}_flatten")
        if 0 in axes:
            raise Unsupported("a reduction over the batch")
        if view is not None:  # N×…×C: the axes of the view, as the channels-first tensor numbers them
            order = (0, *range(2, rank), 1)
            axes = tuple(sorted(order[a] for a in axes))
        y = imp.layer(i, node, "reduce", LAYER_TYPES["reduce"](op=op, dims=axes, keepdim=keep), x)
        # still channels-last where every axis is kept (the channels reduced to one: a norm's mean) or the channels and a spatial axis remain
        return ChannelsLast(y) if view is not None and (keep or (1 not in axes and len(axes) < rank - 2)) else y

    return handle


def _activation(kind: str) -> Handler:
    def handle(imp: Importer, i: int, node, inputs: list) -> Act | ChannelsLast:
        if isinstance(inputs[0], ChannelsLast):  # element-wise: the same layer in either layout
            return ChannelsLast(handle(imp, i, node, [inputs[0].x, *inputs[1:]]))
        x = as_act(inputs[0])
        if kind in ("sigmoid", "hsigmoid"):
            fused = gated_self(imp, i, node, x, "silu" if kind == "sigmoid" else "hswish")
            if fused is not None:
                return fused
        if kind == "hsigmoid":
            attrs = attributes(node)
            if abs(attrs.get("alpha", 0.2) - 1 / 6) > 1e-6 or abs(attrs.get("beta", 0.5) - 0.5) > 1e-6:
                raise Unsupported("a HardSigmoid other than PyTorch's relu6(x + 3) / 6")
        if kind == "softmax":
            rank = len(x.shape) + 1
            axis = attributes(node).get("axis", -1 if imp.opset >= 13 else 1) % rank
            if imp.opset < 13 and axis != rank - 1:  # before opset 13 a softmax flattens from its axis on
                raise Unsupported("a softmax (opset < 13) over the flattened dimensions from an axis")
            return imp.layer(i, node, kind, LAYER_TYPES[kind](dim=axis), x)
        if kind == "gelu":
            return imp.layer(i, node, kind, LAYER_TYPES[kind](approximate=attributes(node).get("approximate", "none")), x)
        if kind == "leakyrelu":  # alpha is a float32 attribute: 0.1 is read as 0.1, not 0.10000000149
            return imp.layer(i, node, kind, LAYER_TYPES[kind](slope=float(f"{attributes(node).get('alpha', 0.01):.7g}")), x)
        return imp.layer(i, node, kind, LAYER_TYPES[kind](), x)

    return handle


def _clip(imp: Importer, i: int, node, inputs: list) -> Act:
    x = as_act(inputs[0])
    attrs = attributes(node)
    low, high = attrs.get("min"), attrs.get("max")
    if len(inputs) > 1 and inputs[1] is not None:
        low = imp.const(inputs[1], node, "its min").values[0]
    if len(inputs) > 2 and inputs[2] is not None:
        high = imp.const(inputs[2], node, "its max").values[0]
    if low == 0 and high == 6:
        return imp.layer(i, node, "relu6", LAYER_TYPES["relu6"](), x)
    if low == 0 and high is None:
        return imp.layer(i, node, "relu", LAYER_TYPES["relu"](), x)
    if (low is None) != (high is None) and isinstance(low if high is None else high, (int, float)):  # F.normalize's clamp_min(eps)
        op, bound = ("max", low) if high is None else ("min", high)
        return imp.layer(i, node, "elementwise", LAYER_TYPES["elementwise"](op=op, value=float(bound)), x)
    if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low < high:
        return clamped(imp, i, node, x, float(low), float(high))
    raise Unsupported(f"a clip to [{low}, {high}] (groupcost knows relu6: [0, 6])")


def _prelu(imp: Importer, i: int, node, inputs: list) -> Act:
    x = as_act(inputs[0])
    slope = inputs[1]
    if not isinstance(slope, (Weight, Const)):
        raise Unsupported("its slope is computed")
    n = math.prod(slope.dims)
    if n not in (1, x.shape[0]):
        raise imp.fail(node, f"slope of {n} values does not fit {x.shape[0]} channels")
    return imp.layer(i, node, "prelu", LAYER_TYPES["prelu"](shared=n == 1), x, imp.weight_owner(i, node))


def _lrn(imp: Importer, i: int, node, inputs: list) -> Act:
    x = as_act(inputs[0])
    return imp.layer(i, node, "lrn", LAYER_TYPES["lrn"](size=attributes(node).get("size", 5)), x)


def _binary(kind: str) -> Handler:
    ops = {"add": lambda a, b: a + b, "mul": multiply, "sub": lambda a, b: a - b, "div": divide}

    def handle(imp: Importer, i: int, node, inputs: list):
        values = [v for v in inputs if v is not None]
        if all(isinstance(v, Const) for v in values):
            return elementwise(values, ops[kind])
        tables = [v for v in values if isinstance(v, Table)]
        if tables:
            return table_add(imp, i, node, kind, next(v for v in values if v is not tables[0]) if len(values) == 2 else None, tables[0])
        if kind == "mul" and len(inputs) == 2 and None not in inputs:
            for (x, _), (w, w_name) in (zip(inputs, node.input), zip(inputs[::-1], node.input[::-1])):
                scaled = layerscale(imp, i, node, x, w, w_name)
                if scaled is not None:
                    return scaled
        with_constant = constant_operation(imp, i, node, kind, inputs)
        if with_constant is not None:
            return with_constant
        merged = activations_merged(imp, i, node, kind, values)
        if merged is None:
            raise Unsupported(f"{kind} with a constant or weight")
        return merged

    return handle


def _weights_only(imp: Importer, i: int, node, inputs: list):
    """An operator groupcost reads on weights (Sqrt, Pow, ... of weight standardisation) and on shape
    arithmetic's constants (a head's scale, dim ** -0.5), never on activations."""
    values = [v for v in inputs if v is not None]
    if node.op_type in ON_CONSTANTS and values and all(isinstance(v, Const) for v in values):
        return elementwise(values, ON_CONSTANTS[node.op_type])
    raise Unsupported("on an activation (groupcost reads it on weights and constants only)")


def _sum(imp: Importer, i: int, node, inputs: list):
    acts = [as_act(v) for v in inputs if v is not None]
    return acts[0] if len(acts) == 1 else imp.merge(i, node, "add", acts)


def _layernorm(imp: Importer, i: int, node, inputs: list):
    """LayerNormalization over the last axis: the channels of a channels-last view, or a feature vector; or over
    C×1×1 from the channels on (GCNet's nn.LayerNorm([C, 1, 1]) of a pooled context: the channels alone)."""
    x, scale = inputs[0], inputs[1]
    view = isinstance(x, ChannelsLast)
    act = x.x if view else as_act(x)
    rank = len(act.shape) + 1
    attrs = attributes(node)
    pooled = not view and rank > 2 and attrs.get("axis", -1) % rank == 1 and set(act.shape[1:]) == {1}
    if not pooled and (attrs.get("axis", -1) % rank != rank - 1 or not (view or rank == 2)):
        raise Unsupported("a layer norm over other than the channels")
    bias = inputs[2] if len(inputs) > 2 else None
    c = act.shape[0]
    if not isinstance(scale, (Weight, Const)) or math.prod(scale.dims) != c or not (bias is None or isinstance(bias, (Weight, Const)) and math.prod(bias.dims) == c):
        raise Unsupported(f"a layer norm without a scale of {c} values and a shift of {c} or none")
    eps = float(f"{attrs.get('epsilon', 1e-5):.6g}")  # the attribute is float32: 1e-6 reads 9.99999997e-07
    affine = _learned(imp, node.input[1])  # elementwise_affine=False: the exporter writes constant ones and zeros
    shifted = bias is not None and _learned(imp, node.input[2])  # bias=False: no shift, or a constant of zeros
    if shifted and not affine or affine and not shifted and bias is not None and not fixed_zeros(imp, node.input[2]):
        raise Unsupported("a layer norm with a fixed scale and a learned shift, or a learned scale and a fixed shift other than zero")
    layer = LAYER_TYPES["layernorm"](eps=eps, affine=affine, bias=shifted or not affine)
    y = imp.layer(i, node, "layernorm", layer, act, imp.weight_owner(i, node) if affine else None)
    if affine:
        y = imp.module_call(i, node, y, tuple(node.input[1:3] if shifted else node.input[1:2]), constant_fills=True)
    return ChannelsLast(y) if view else y


def _resize(imp: Importer, i: int, node, inputs: list) -> Act:
    """Resize as torch's interpolate writes it: nearest (any rank) or linear (bilinear, trilinear), by scales or sizes."""
    x = as_act(inputs[0])
    c, dims = feature_map(x)
    rank = len(dims)
    attrs = attributes(node)
    mode = attrs.get("mode", "nearest")
    if mode not in ("nearest", "linear"):
        raise Unsupported(f"a {mode} resize (groupcost's upsample is nearest or linear)")
    if attrs.get("axes") is not None:
        raise Unsupported("a resize along chosen axes")
    transform = attrs.get("coordinate_transformation_mode", "half_pixel")
    if mode == "linear" and transform not in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        raise Unsupported(f"a linear resize with coordinates '{transform}' (torch's are half_pixel or align_corners)")
    layer_mode = "nearest" if mode == "nearest" else ("linear", "bilinear", "trilinear")[rank - 1]
    sizes = inputs[3] if len(inputs) > 3 else None
    scales = inputs[2] if len(inputs) > 2 else (inputs[1] if imp.opset < 11 and len(inputs) > 1 else None)
    if isinstance(sizes, Const) and sizes.dims != (0,):
        values = imp.const(sizes, node, "its sizes").values
        if len(values) != rank + 2 or values[1] != c or values[0] not in (BATCH, imp.batch) or any(not isinstance(v, int) or v < 1 for v in values[2:]):
            raise imp.fail(node, f"sizes {list(values)} do not fit an input of N×{format_shape(x.shape)}")
        out = tuple(values[2:])
    else:
        factors = imp.const(scales, node, "its scales").values
        if len(factors) != rank + 2 or tuple(factors[:2]) != (1, 1) or any(not f or f <= 0 for f in factors[2:]):
            raise imp.fail(node, f"scales {list(factors)} do not fit an input of N×{format_shape(x.shape)}")
        out = tuple(math.floor(n * f) for n, f in zip(dims, factors[2:]))
        if all(float(f).is_integer() for f in factors[2:]) and not transform == "align_corners":
            scale = tuple(int(f) for f in factors[2:])
            return imp.layer(i, node, "upsample", LAYER_TYPES["upsample"](mode=layer_mode, scale=scale[0] if len(set(scale)) == 1 else scale), x)
    if min(out) < 1:
        raise imp.fail(node, f"resizes N×{format_shape(x.shape)} to nothing ({list(out)})")
    layer = LAYER_TYPES["upsample"](mode=layer_mode, size=out, align_corners=mode == "linear" and transform == "align_corners")
    return imp.layer(i, node, "upsample", layer, x)


BASE: dict[str, Handler] = {
    "Conv": _conv,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "BatchNormalization": _batchnorm,
    "MaxPool": _pool("maxpool"),
    "AveragePool": _pool("avgpool"),
    "GlobalAveragePool": _global_pool("gap"),
    "GlobalMaxPool": _global_pool("gmp"),
    "ReduceMean": _reduce("gap", "mean"),
    "ReduceMax": _reduce("gmp", "max"),
    "ReduceSum": _reduce(None, "sum"),
    "ReduceL2": _reduce(None, "l2"),
    "ConvTranspose": _conv_transpose,
    "Resize": _resize,
    "LayerNormalization": _layernorm,
    "InstanceNormalization": _instancenorm,
    "Relu": _activation("relu"),
    "LeakyRelu": _activation("leakyrelu"),
    "Elu": _activation("elu"),
    "Gelu": _activation("gelu"),
    "Sigmoid": _activation("sigmoid"),
    "HardSigmoid": _activation("hsigmoid"),
    "HardSwish": _activation("hswish"),
    "Tanh": _activation("tanh"),
    "Mish": _activation("mish"),
    "Softmax": _activation("softmax"),
    "Clip": _clip,
    "PRelu": _prelu,
    "LRN": _lrn,
    "Add": _binary("add"),
    "Mul": _binary("mul"),
    "Sub": _binary("sub"),
    "Div": _binary("div"),
    "Sum": _sum,
    **SHAPES,
    **FOLDED,
    **GATHERS,
    **VIEWS,
    **DEPTH,
    **{op: _weights_only for op in WEIGHT_SIDE if op not in ("Add", "Mul", "Sub", "Div", "Reshape", "Slice", "Identity", "Cast", "Clip", "ReduceMean", "ReduceMax",
                                                           "ReduceSum", "ReduceL2")},
    **ARITHMETIC,
}
"""Each ONNX operator's own handler; `groupcost.formats.onnx.operators` layers the readings of patterns that span
several nodes on them."""
