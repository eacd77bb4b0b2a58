"""Network → an ONNX model, built with the `onnx` helper API (no torch).

Every graph node keeps its layer's name (`layer2.0.conv2`) and its spec location (doc_string);
every tensor is named after the node that makes it, the network's input is `input`, and the
weights are initializers under PyTorch's parameter names (`layer2.0.conv2.weight`; batch norm's
`running_mean` and `running_var` too). Shapes are static, batch included (the spec's batch).

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

from groupcost.io.pytorch_export import ExportError
from groupcost.network import INPUT, LayerStep, MergeStep, Network

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


def _conv(g: _Graph, step: LayerStep, x: str) -> None:
    geo = step.layer.geometry(step.in_shape)
    top, bottom, left, right = geo.pads
    inputs = [x, *_params(g, step, {"weight": "kernel"})]
    g.node("Conv", inputs, step.name, kernel_shape=list(geo.kernel), strides=list(geo.stride), pads=[top, left, bottom, right], dilations=list(geo.dilation), group=geo.groups)


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
        top, bottom, left, right = layer.p
        attrs = {"kernel_shape": list(layer.k), "strides": list(layer.s or layer.k), "pads": [top, left, bottom, right], "ceil_mode": int(layer.ceil_mode)}
        if op == "MaxPool":
            attrs["dilations"] = list(layer.d)
        else:
            attrs["count_include_pad"] = 1  # torch.nn.AvgPool2d's default
        g.node(op, [x], step.name, **attrs)

    return emit


def _adaptive(g: _Graph, step: LayerStep, x: str) -> None:
    _, h, w = step.in_shape
    oh, ow = step.layer.size
    if h % oh or w % ow:
        raise ExportError(f"{step.name}: adaptive_avgpool from {h}×{w} to {oh}×{ow} has no ONNX export", "ONNX has no adaptive pooling; it is exported only where the output size divides the input", step.loc)
    g.node("AveragePool", [x], step.name, kernel_shape=[h // oh, w // ow], strides=[h // oh, w // ow])


def _shuffle(g: _Graph, step: LayerStep, x: str) -> None:
    c, h, w = step.in_shape
    k = step.layer.groups
    split = g.node("Reshape", [x, g.ints(f"{step.name}/grouped.shape", [0, k, c // k, h, w])], f"{step.name}/grouped")
    swapped = g.node("Transpose", [split], f"{step.name}/transposed", perm=[0, 2, 1, 3, 4])
    g.node("Reshape", [swapped, g.ints(f"{step.name}.shape", [0, c, h, w])], step.name)


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
    "fc": _linear,
    "bn": _batchnorm,
    "prelu": _prelu,
    "maxpool": _pool("MaxPool"),
    "avgpool": _pool("AveragePool"),
    "gap": _unary("GlobalAveragePool"),
    "adaptive_avgpool": _adaptive,
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
            raise ExportError(f"layer type '{node.layer.type_name}' ({node.name}) has no ONNX export", "add it to groupcost.io.onnx_export.OPS", node.loc)
    g = _Graph(onnx, weights, seed)
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
