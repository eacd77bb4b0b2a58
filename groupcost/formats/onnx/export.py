"""Network → an ONNX model, built with the `onnx` helper API (no torch).

Every graph node keeps its layer's name (`layer2.0.conv2`) and its spec location (doc_string);
every tensor is named after the node that makes it, the network's input is `input`, and the
weights are initializers under PyTorch's parameter names (`layer2.0.conv2.weight`; batch norm's
`running_mean` and `running_var` too; a layer scale's is always `NAME.layer_scale`, since an
initializer cannot share the node's output name). Shapes are static, batch included (the spec's batch).
Convolutions and pools of any rank (1-D, 2-D, 3-D) map to ONNX's Conv/ConvTranspose/MaxPool/AveragePool;
`opaque` is refused, naming the operator.

Weights (`WEIGHTS`): `random` (the default) draws conv and linear kernels from a seeded
uniform U(−1/√fan-in, 1/√fan-in), the range a new torch Conv2d or Linear draws from, so the file computes something non-degenerate that two runtimes can
be compared on; `zeros` makes every kernel and bias zero, which is a little faster to write and
compresses to almost nothing, but every output is constant. Either way batch norm is a fresh
PyTorch module's (scale 1, shift 0, mean 0, variance 1) and PReLU slopes are 0.25. Both write
4 bytes per parameter; a 25 M-parameter model takes well under 2 s.

`OPS` maps every layer type to the nodes that compute it; a test walks the registry, so a new
layer type without an entry fails there, and exporting one anyway raises an ExportError naming it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from groupcost.formats.torch.export import ExportError
from groupcost.ops.conv import TransposedGeometry
from groupcost.graph.network import INPUT, LayerStep, MergeStep, Network

OPSET = 20
IR_VERSION = 9
WEIGHTS = ("random", "zeros")


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ExportError("ONNX export needs the onnx package", "pip install onnx (or groupcost[onnx])") from None
    return onnx


class _Graph:
    """Collects nodes and initializers; names every helper tensor under the layer it belongs to."""

    def __init__(self, onnx, weights: str, seed: int):
        self.onnx = onnx
        self.helper = onnx.helper
        self.nodes: list = []
        self.initializers: list = []
        self.weights = weights
        self.rng = None
        self.seed = seed
        self.slices: dict[tuple[str, int, int], str] = {}
        self.doc = ""
        self.batch = 1

    def node(self, op: str, inputs: list[str], output: str, name: str | None = None, **attrs) -> str:
        node = self.helper.make_node(op, inputs, [output], name=name or output, **attrs)
        node.doc_string = self.doc
        self.nodes.append(node)
        return output

    def tensor(self, name: str, dims: tuple[int, ...], fill: str) -> str:
        """An initializer: `kernel` (random or zeros, per --weights), `zeros`, `ones` or a constant."""
        onnx = self.onnx
        count = math.prod(dims)
        if fill == "kernel" and self.weights == "random":
            import numpy as np

            if self.rng is None:
                self.rng = np.random.default_rng(self.seed)
            fan_in = math.prod(dims[1:]) or 1
            values = self.rng.random(count, dtype=np.float32)  # U(0, 1), then U(-b, b) with b = 1/sqrt(fan-in)
            values -= np.float32(0.5)
            values *= np.float32(2.0 / math.sqrt(fan_in))
            raw = values.tobytes()
        elif fill in ("kernel", "zeros"):
            raw = bytes(4 * count)
        else:
            import struct

            value = {"ones": 1.0}.get(fill, None)
            value = float(fill) if value is None else value
            raw = struct.pack("<f", value) * count
        self.initializers.append(self.helper.make_tensor(name, onnx.TensorProto.FLOAT, dims, raw, raw=True))
        return name

    def ints(self, name: str, values: list[int]) -> str:
        self.initializers.append(self.helper.make_tensor(name, self.onnx.TensorProto.INT64, [len(values)], values))
        return name

    def read(self, tensor: str, channels) -> str:
        """A tensor, or the channel slice a split branch reads (one Slice node per distinct slice)."""
        if channels is None:
            return tensor
        lo, hi = channels
        key = (tensor, lo, hi)
        if key not in self.slices:
            name = f"{tensor}/channels_{lo}_{hi}"
            self.slices[key] = self.node("Slice", [tensor, self.ints(f"{name}.starts", [lo]), self.ints(f"{name}.ends", [hi]), self.ints(f"{name}.axes", [1])], name)
        return self.slices[key]


OpEmitter = Callable[[_Graph, LayerStep, str], None]  # (graph, step, input tensor): adds nodes ending in a tensor named step.name


def _params(g: _Graph, step: LayerStep, fills: dict[str, str]) -> list[str]:
    shapes = step.layer.weight_shapes(step.in_shape)
    return [g.tensor(f"{step.name}.{key}", dims, fills.get(key, "zeros")) for key, dims in shapes.items()]


def _channel_shape(step: LayerStep) -> tuple[int, ...]:
    """C×1×... : a per-channel vector that broadcasts against N×C×(spatial)."""
    return (step.in_shape[0], *(1,) * (len(step.in_shape) - 1))


def _onnx_pads(pads: tuple[int, ...]) -> list[int]:
    """(before, after) per dimension → ONNX's [all befores, all afters]."""
    return [*pads[::2], *pads[1::2]]


def _conv(g: _Graph, step: LayerStep, x: str) -> None:
    geo = step.layer.geometry(step.in_shape)
    inputs = [x, *_params(g, step, {"weight": "kernel"})]
    if isinstance(geo, TransposedGeometry):
        g.node("ConvTranspose", inputs, step.name, kernel_shape=list(geo.kernel), strides=list(geo.stride), pads=_onnx_pads(geo.pads),
               dilations=list(geo.dilation), group=geo.groups, output_padding=list(geo.output_padding))
        return
    g.node("Conv", inputs, step.name, kernel_shape=list(geo.kernel), strides=list(geo.stride), pads=_onnx_pads(geo.pads), dilations=list(geo.dilation), group=geo.groups)


def _linear(g: _Graph, step: LayerStep, x: str) -> None:
    g.node("Gemm", [x, *_params(g, step, {"weight": "kernel"})], step.name, transB=1)


def _batchnorm(g: _Graph, step: LayerStep, x: str) -> None:
    c = step.in_shape[0]
    if step.layer.affine:
        scale, shift = _params(g, step, {"weight": "ones", "bias": "zeros"})
    else:
        scale, shift = g.tensor(f"{step.name}.unit_scale", (c,), "ones"), g.tensor(f"{step.name}.zero_shift", (c,), "zeros")
    mean, var = g.tensor(f"{step.name}.running_mean", (c,), "zeros"), g.tensor(f"{step.name}.running_var", (c,), "ones")
    g.node("BatchNormalization", [x, scale, shift, mean, var], step.name, epsilon=1e-5)


def _prelu(g: _Graph, step: LayerStep, x: str) -> None:
    n = 1 if step.layer.shared else step.in_shape[0]
    dims = (n,) + (1,) * (len(step.in_shape) - 1) if n > 1 else (1,)  # broadcast against N×C×H×W
    g.node("PRelu", [x, g.tensor(f"{step.name}.weight", dims, "0.25")], step.name)


def _unary(op: str, **attrs) -> OpEmitter:
    return lambda g, step, x: g.node(op, [x], step.name, **attrs) and None


def _relu6(g: _Graph, step: LayerStep, x: str) -> None:
    g.node("Clip", [x, g.tensor(f"{step.name}.min", (), "zeros"), g.tensor(f"{step.name}.max", (), "6")], step.name)


def _silu(g: _Graph, step: LayerStep, x: str) -> None:
    g.node("Mul", [x, g.node("Sigmoid", [x], f"{step.name}/sigmoid")], step.name)


ACTIVATION_OPS: dict[str, OpEmitter] = {
    "relu": _unary("Relu"),
    "relu6": _relu6,
    "leakyrelu": _unary("LeakyRelu", alpha=0.01),
    "elu": _unary("Elu", alpha=1.0),
    "gelu": _unary("Gelu"),
    "sigmoid": _unary("Sigmoid"),
    "hsigmoid": _unary("HardSigmoid", alpha=1 / 6, beta=0.5),
    "silu": _silu,
    "hswish": _unary("HardSwish"),
    "tanh": _unary("Tanh"),
    "mish": _unary("Mish"),
    "softmax": _unary("Softmax", axis=1),
    "identity": _unary("Identity"),
}


def _pool(op: str) -> OpEmitter:
    def emit(g: _Graph, step: LayerStep, x: str) -> None:
        layer = step.layer
        _, _, k, s, p, d = layer.resolved(step.in_shape)
        attrs = {"kernel_shape": list(k), "strides": list(s), "pads": [*p, *p], "ceil_mode": int(layer.ceil_mode)}
        if op == "MaxPool":
            attrs["dilations"] = list(d)
        else:
            attrs["count_include_pad"] = 1  # torch.nn.AvgPool2d's default
        g.node(op, [x], step.name, **attrs)

    return emit


def _adaptive(op: str) -> OpEmitter:
    def emit(g: _Graph, step: LayerStep, x: str) -> None:
        dims, outs = step.in_shape[1:], step.out_shape[1:]
        if any(n % o for n, o in zip(dims, outs)):
            size = lambda v: "×".join(map(str, v))  # noqa: E731
            raise ExportError(f"{step.name}: {step.layer.type_name} from {size(dims)} to {size(outs)} has no ONNX export", "ONNX has no adaptive pooling; it is exported only where the output size divides the input", step.loc)
        kernel = [n // o for n, o in zip(dims, outs)]
        g.node(op, [x], step.name, kernel_shape=kernel, strides=kernel)

    return emit


def _gmp(g: _Graph, step: LayerStep, x: str) -> None:
    axes = list(range(2, len(step.in_shape) + 1))
    g.node("ReduceMax", [x, g.ints(f"{step.name}.axes", axes)], step.name, keepdims=1)


def _channels_last(g: _Graph, step: LayerStep, x: str) -> tuple[str, list[int]]:
    """N×C×... → N×...×C, and the permutation that moves C back."""
    rank = len(step.in_shape) + 1
    perm = [0, *range(2, rank), 1]
    back = [0, rank - 1, *range(1, rank - 1)]
    return g.node("Transpose", [x], f"{step.name}/channels_last", perm=perm), back


def _channel_linear(g: _Graph, step: LayerStep, x: str) -> None:
    """nn.Linear on the channels at every position: channels last, MatMul by Wᵀ (+ bias), channels back."""
    if len(step.in_shape) == 1:
        _linear(g, step, x)
        return
    params = _params(g, step, {"weight": "kernel"})
    last, back = _channels_last(g, step, x)
    wt = g.node("Transpose", [params[0]], f"{step.name}/weight_t", perm=[1, 0])
    y = g.node("MatMul", [last, wt], f"{step.name}/matmul")
    if len(params) > 1:
        y = g.node("Add", [y, params[1]], f"{step.name}/bias")
    g.node("Transpose", [y], step.name, perm=back)


def _scale_shift(g: _Graph, step: LayerStep, c: int) -> list[str]:
    if step.layer.affine:
        return _params(g, step, {"weight": "ones", "bias": "zeros"})
    return [g.tensor(f"{step.name}.unit_scale", (c,), "ones"), g.tensor(f"{step.name}.zero_shift", (c,), "zeros")]


def _layernorm(g: _Graph, step: LayerStep, x: str) -> None:
    scale, shift = _scale_shift(g, step, step.in_shape[0])
    if len(step.in_shape) == 1:
        g.node("LayerNormalization", [x, scale, shift], step.name, axis=-1, epsilon=step.layer.eps)
        return
    last, back = _channels_last(g, step, x)
    y = g.node("LayerNormalization", [last, scale, shift], f"{step.name}/normalized", axis=-1, epsilon=step.layer.eps)
    g.node("Transpose", [y], step.name, perm=back)


def _instancenorm(g: _Graph, step: LayerStep, x: str) -> None:
    scale, shift = _scale_shift(g, step, step.in_shape[0])
    g.node("InstanceNormalization", [x, scale, shift], step.name, epsilon=step.layer.eps)


def _groupnorm(g: _Graph, step: LayerStep, x: str) -> None:
    """N×G×(C/G·positions), normalised per group (InstanceNormalization with unit scale), reshaped back, then weight and bias per channel."""
    name, groups, shape = step.name, step.layer.groups, step.in_shape
    grouped = g.node("Reshape", [x, g.ints(f"{name}/grouped.shape", [0, groups, -1])], f"{name}/grouped")
    normal = g.node("InstanceNormalization", [grouped, g.tensor(f"{name}/group_scale", (groups,), "ones"), g.tensor(f"{name}/group_shift", (groups,), "zeros")],
                    f"{name}/normalized", epsilon=step.layer.eps)
    if not step.layer.affine:
        g.node("Reshape", [normal, g.ints(f"{name}.shape", [0, *shape])], name)
        return
    y = g.node("Reshape", [normal, g.ints(f"{name}/ungrouped.shape", [0, *shape])], f"{name}/ungrouped")
    dims = _channel_shape(step)
    y = g.node("Mul", [y, g.tensor(f"{name}.weight", dims, "ones")], f"{name}/scaled")
    g.node("Add", [y, g.tensor(f"{name}.bias", dims, "zeros")], name)


def _layerscale(g: _Graph, step: LayerStep, x: str) -> None:
    # `{name}.layer_scale` even where PyTorch's key is the layer's own name: an ONNX tensor needs a name apart from the node's output
    g.node("Mul", [x, g.tensor(f"{step.name}.layer_scale", _channel_shape(step), repr(step.layer.init))], step.name)


def _upsample(g: _Graph, step: LayerStep, x: str) -> None:
    """Resize as torch's interpolate: nearest as floor(out / scale) ('asymmetric', floor), the linear
    modes half-pixel (or align_corners); a scale is given as scales (torch, too, maps by 1/scale), a size as sizes."""
    layer, name = step.layer, step.name
    if layer.mode == "nearest":
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:
        attrs = {"mode": "linear", "coordinate_transformation_mode": "align_corners" if layer.align_corners else "pytorch_half_pixel"}
    rank = len(step.in_shape) - 1
    if layer.scale is not None and not layer.align_corners:  # align_corners maps by (in − 1)/(out − 1) whatever the scale: sizes
        import numpy as np

        factors = layer.scale if isinstance(layer.scale, tuple) else (layer.scale,) * rank
        # ONNX floors input × scale in float32: scales where that gives groupcost's (torch's) sizes, else sizes
        agrees = all(math.floor(float(np.float32(n) * np.float32(f))) == o for n, f, o in zip(step.in_shape[1:], factors, step.out_shape[1:]))
        if agrees:
            scales = _float_tensor(g, f"{name}.scales", [1.0, 1.0, *map(float, factors)])
            g.node("Resize", [x, "", scales], name, **attrs)
            return
    sizes = g.ints(f"{name}.sizes", [g.batch, *step.out_shape])
    g.node("Resize", [x, "", "", sizes], name, **attrs)


def _float_tensor(g: _Graph, name: str, values: list[float]) -> str:
    g.initializers.append(g.helper.make_tensor(name, g.onnx.TensorProto.FLOAT, [len(values)], values))
    return name


def _crop(g: _Graph, step: LayerStep, x: str) -> None:
    dims, outs = step.in_shape[1:], step.out_shape[1:]
    starts = [(n - t) // 2 for n, t in zip(dims, outs)]
    name = step.name
    g.node("Slice", [x, g.ints(f"{name}.starts", starts), g.ints(f"{name}.ends", [s + t for s, t in zip(starts, outs)]),
                     g.ints(f"{name}.axes", list(range(2, 2 + len(dims))))], name)


def _pad(g: _Graph, step: LayerStep, x: str) -> None:
    layer, name = step.layer, step.name
    pads = layer.pads(step.in_shape)
    onnx_pads = [0, 0, *pads[::2], 0, 0, *pads[1::2]]
    inputs = [x, g.ints(f"{name}.pads", onnx_pads)]
    if layer.mode == "constant":
        inputs.append(g.tensor(f"{name}.value", (), repr(layer.value)))
    g.node("Pad", inputs, name, mode={"constant": "constant", "reflect": "reflect", "replicate": "edge"}[layer.mode])


def _pixelshuffle(g: _Graph, step: LayerStep, x: str) -> None:
    g.node("DepthToSpace", [x], step.name, blocksize=step.layer.r, mode="CRD")  # CRD is torch's PixelShuffle order


def _pixelunshuffle(g: _Graph, step: LayerStep, x: str) -> None:
    """torch's order (channel c·r² + i·r + j), which ONNX's SpaceToDepth does not keep: reshape, transpose, reshape."""
    c, h, w = step.in_shape
    r, name = step.layer.r, step.name
    split = g.node("Reshape", [x, g.ints(f"{name}/split.shape", [0, c, h // r, r, w // r, r])], f"{name}/split")
    moved = g.node("Transpose", [split], f"{name}/transposed", perm=[0, 1, 3, 5, 2, 4])
    g.node("Reshape", [moved, g.ints(f"{name}.shape", [0, c * r * r, h // r, w // r])], name)


def _opaque(g: _Graph, step: LayerStep, x: str) -> None:
    raise ExportError(f"layer type 'opaque' ({step.name}, {step.layer.op}) has no ONNX export",
                      "groupcost knows an opaque operator's shape and parameters, not what it computes; replace it in the spec", step.loc)


def _shuffle(g: _Graph, step: LayerStep, x: str) -> None:
    c, *dims = step.in_shape
    k = step.layer.groups
    split = g.node("Reshape", [x, g.ints(f"{step.name}/grouped.shape", [0, k, c // k, *dims])], f"{step.name}/grouped")
    perm = [0, 2, 1, *range(3, 3 + len(dims))]
    swapped = g.node("Transpose", [split], f"{step.name}/transposed", perm=perm)
    g.node("Reshape", [swapped, g.ints(f"{step.name}.shape", [0, c, *dims])], step.name)


def _se(g: _Graph, step: LayerStep, x: str) -> None:
    layer, name = step.layer, step.name
    shapes = layer.weight_shapes(step.in_shape)
    params = {key: g.tensor(f"{name}.{key}", dims, "kernel" if key.endswith("weight") else "zeros") for key, dims in shapes.items()}
    pooled = g.node("GlobalAveragePool", [x], f"{name}/squeeze")
    hidden = g.node("Conv", [pooled, params["fc1.weight"], params["fc1.bias"]], f"{name}.fc1", kernel_shape=[1, 1])
    hidden = _activation(g, layer.act, hidden, f"{name}.act")
    scale = g.node("Conv", [hidden, params["fc2.weight"], params["fc2.bias"]], f"{name}.fc2", kernel_shape=[1, 1])
    scale = _activation(g, layer.gate, scale, f"{name}.gate")
    g.node("Mul", [x, scale], name)


def _activation(g: _Graph, act: str, x: str, name: str) -> str:
    ACTIVATION_OPS[act](g, LayerStep(name, None, (), (), None), x)  # type: ignore[arg-type]
    return name


OPS: dict[str, OpEmitter] = {
    "conv": _conv,
    "dwconv": _conv,
    "pwconv": _conv,
    "gdc": _conv,
    "convtranspose": _conv,
    "fc": _linear,
    "linear": _channel_linear,
    "bn": _batchnorm,
    "layernorm": _layernorm,
    "groupnorm": _groupnorm,
    "instancenorm": _instancenorm,
    "layerscale": _layerscale,
    "prelu": _prelu,
    "maxpool": _pool("MaxPool"),
    "avgpool": _pool("AveragePool"),
    "gap": _unary("GlobalAveragePool"),
    "gmp": _gmp,
    "adaptive_avgpool": _adaptive("AveragePool"),
    "adaptive_maxpool": _adaptive("MaxPool"),
    "upsample": _upsample,
    "crop": _crop,
    "pad": _pad,
    "pixelshuffle": _pixelshuffle,
    "pixelunshuffle": _pixelunshuffle,
    "opaque": _opaque,  # refused, naming the operator: groupcost does not know what it computes
    "flatten": _unary("Flatten", axis=1),
    "dropout": _unary("Identity"),  # inference
    "lrn": lambda g, step, x: g.node("LRN", [x], step.name, size=step.layer.size, alpha=1e-4, beta=0.75, bias=1.0) and None,
    "shuffle": _shuffle,
    "se": _se,
    **ACTIVATION_OPS,
}
"""Every layer type (by its registered name) → the ONNX nodes that compute it. Macros expand to these."""


def _merge(g: _Graph, node: MergeStep, inputs: list[str]) -> None:
    if node.kind == "concat":
        g.node("Concat", inputs, node.name, axis=1)
    elif node.kind == "add" and len(inputs) > 2:
        g.node("Sum", inputs, node.name)
    else:
        op = "Add" if node.kind == "add" else "Mul"
        acc = inputs[0]
        for k, other in enumerate(inputs[1:], start=1):
            acc = g.node(op, [acc, other], node.name if k == len(inputs) - 1 else f"{node.name}/{op.lower()}{k}")


def onnx_model(network: Network, weights: str = "random", seed: int = 0):
    """The network as an onnx.ModelProto (checked by the caller). Raises ExportError."""
    if weights not in WEIGHTS:
        raise ExportError(f"unknown weights '{weights}'", f"one of {', '.join(WEIGHTS)}")
    onnx = _onnx()
    helper = onnx.helper
    for node in network.nodes:
        if isinstance(node, LayerStep) and node.layer.type_name not in OPS:
            raise ExportError(f"layer type '{node.layer.type_name}' ({node.name}) has no ONNX export", "add it to groupcost.formats.onnx.export.OPS", node.loc)
    g = _Graph(onnx, weights, seed)
    g.batch = network.batch
    for node in network.nodes:
        g.doc = str(node.loc) if node.loc is not None else ""
        inputs = [g.read(t, c) for t, c in zip(node.inputs, node.channels)]
        if isinstance(node, LayerStep):
            OPS[node.layer.type_name](g, node, inputs[0])
        else:
            _merge(g, node, inputs)
    batch = network.batch
    float_ = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        g.nodes,
        network.name,
        [helper.make_tensor_value_info(INPUT, float_, [batch, *network.input_shape])],
        [helper.make_tensor_value_info(name, float_, [batch, *network.shapes[name]]) for name in network.outputs],
        g.initializers,
        doc_string=network.description,
    )
    model = helper.make_model(graph, producer_name="groupcost", opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    model.doc_string = f"{network.name} from {network.source}; variables: " + ", ".join(f"{k}={v}" for k, v in network.variables.items())
    return model


def inferred_shapes(model) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape as ONNX shape inference gives it (strict mode), outputs included."""
    onnx = _onnx()
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    shapes = {}
    for info in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]:
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
    return shapes


def check_shapes(model, network: Network) -> list[str]:
    """Where ONNX's shape inference disagrees with groupcost (empty when it agrees everywhere)."""
    shapes = inferred_shapes(model)
    problems = []
    for name, shape in network.shapes.items():
        expected = (network.batch, *shape)
        if shapes.get(name) != expected:
            problems.append(f"{name}: ONNX infers {shapes.get(name)}, groupcost {expected}")
    return problems


def write_onnx(network: Network, path, weights: str = "random", seed: int = 0) -> None:
    """Build, check (onnx.checker with full_check, which runs shape inference) and save.

    The model is serialised once, checked as bytes and written; one whose weights pass 1.5 GB
    goes to a `.data` file beside it (protobuf stops at 2 GB).
    """
    onnx = _onnx()
    model = onnx_model(network, weights, seed)
    if sum(t.ByteSize() for t in model.graph.initializer) > 1_500_000_000:
        onnx.save_model(model, str(path), save_as_external_data=True, location=f"{path.name}.data")
        onnx.checker.check_model(str(path), full_check=True)
        return
    data = model.SerializeToString()
    onnx.checker.check_model(data, full_check=True)
    path.write_bytes(data)
