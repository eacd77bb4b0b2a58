"""Network → an ONNX model, built with the `onnx` helper API (no torch).

Every graph node keeps its layer's name (`layer2.0.conv2`) and its spec location (doc_string);
every tensor is named after the node that makes it, the network's input is `input`, and the
weights are initializers under PyTorch's parameter names (`layer2.0.conv2.weight`; batch norm's
`running_mean` and `running_var` too). A layer named after its one tensor (ConvNeXt's
`features.1.0.layer_scale`) is that tensor, as in PyTorch's state_dict; its output is then
`NAME/output`, since an initializer cannot share a node's output name. A step that shares a module
(`share:`) reads the first step's initializers: one set of weights, as in the state_dict. The batch is symbolic
(`batch`, the dim_param of the input's and the outputs' first dimension; reshapes keep it with 0,
a resize to a size reads it with Shape), so one file runs at any batch; the other dimensions are static.
Convolutions and pools of any rank (1-D, 2-D, 3-D) map to ONNX's Conv/ConvTranspose/MaxPool/AveragePool;
`opaque` is refused, naming the operator.

Weights (`WEIGHTS`): `random` (the default) draws conv and linear kernels from a seeded
uniform U(−1/√fan-in, 1/√fan-in), the range a new torch Conv2d or Linear draws from, so the file computes something non-degenerate that two runtimes can
be compared on; `zeros` makes every kernel and bias zero, which is a little faster to write and
compresses to almost nothing, but every output is constant. Either way batch norm is a fresh
PyTorch module's (scale 1, shift 0, mean 0, variance 1) and PReLU slopes are 0.25. Both write
4 bytes per parameter; a 25 M-parameter model takes well under 2 s.

Each layer type writes its own nodes (`onnx_nodes`, groupcost.ops.adapters) into `_Graph`; a test
walks the registry, so a new layer type without them fails there, and exporting one anyway raises
an ExportError naming it.
"""

from __future__ import annotations

import math

from groupcost.formats.onnx.names import PRODUCER
from groupcost.graph.network import INPUT, LayerStep, Network
from groupcost.ops.adapters import ExportError, Place

OPSET = 20
BATCH = "batch"
"""The dim_param of the batch dimension of the graph's input and outputs."""
IR_VERSION = 9
WEIGHTS = ("random", "zeros")


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ExportError("ONNX export needs the onnx package", "pip install onnx (or groupcost[onnx])") from None
    return onnx


class _Graph:
    """Collects nodes and initializers; names every helper tensor under the layer it belongs to (an OnnxGraph)."""

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
        self.outputs: dict[str, str] = {}  # step → its output tensor, where that is not the step's name
        self.sharing: tuple[str, str] | None = None  # (step, owner) while a step that shares its owner's module writes its nodes
        self.written: set[str] = set()  # initializer names

    def node(self, op: str, inputs: list[str], output: str, name: str | None = None, **attrs) -> str:
        node = self.helper.make_node(op, inputs, [output], name=name or output, **attrs)
        node.doc_string = self.doc
        self.nodes.append(node)
        return output

    def tensor(self, name: str, dims: tuple[int, ...], fill: str) -> str:
        """An initializer: `kernel` (random or zeros, per --weights), `zeros`, `ones` or a constant.

        A step that shares a module reads its owner's initializers (`head.p4.conv.weight` is `head.p3.conv.weight`)."""
        if self.sharing is not None:
            step, owner = self.sharing
            if name == step or name.startswith(step + "."):
                name = owner + name[len(step):]
                if name in self.written:
                    return name
        self.written.add(name)
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

    def floats(self, name: str, values: list[float]) -> str:
        self.initializers.append(self.helper.make_tensor(name, self.onnx.TensorProto.FLOAT, [len(values)], values))
        return name

    def read(self, tensor: str, channels) -> str:
        """A tensor, or the channel slice a split branch reads (one Slice node per distinct slice)."""
        tensor = self.outputs.get(tensor, tensor)
        if channels is None:
            return tensor
        lo, hi = channels
        key = (tensor, lo, hi)
        if key not in self.slices:
            name = f"{tensor}/channels_{lo}_{hi}"
            self.slices[key] = self.node("Slice", [tensor, self.ints(f"{name}.starts", [lo]), self.ints(f"{name}.ends", [hi]), self.ints(f"{name}.axes", [1])], name)
        return self.slices[key]


def onnx_model(network: Network, weights: str = "random", seed: int = 0):
    """The network as an onnx.ModelProto (checked by the caller). Raises ExportError."""
    if weights not in WEIGHTS:
        raise ExportError(f"unknown weights '{weights}'", f"one of {', '.join(WEIGHTS)}")
    onnx = _onnx()
    helper = onnx.helper
    g = _Graph(onnx, weights, seed)
    for node in network.nodes:
        g.doc = str(node.loc) if node.loc is not None else ""
        inputs = [g.read(t, c) for t, c in zip(node.inputs, node.channels)]
        if isinstance(node, LayerStep):
            g.sharing = None if node.shares is None else (node.name, node.shares)
            node.layer.onnx_nodes(g, Place(node.name, node.in_shape, node.out_shape, node.loc), inputs[0])
            if g.nodes[-1].output[0] != node.name:  # a layer named after its one tensor writes its output apart
                g.outputs[node.name] = g.nodes[-1].output[0]
        else:
            node.merge.onnx_nodes(g, node.name, inputs)
    float_ = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        g.nodes,
        network.name,
        [helper.make_tensor_value_info(INPUT, float_, [BATCH, *network.input_shape])],
        [helper.make_tensor_value_info(g.outputs.get(name, name), float_, [BATCH, *network.shapes[name]]) for name in network.outputs],
        g.initializers,
        doc_string=network.description,
    )
    model = helper.make_model(graph, producer_name=PRODUCER, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    model.doc_string = f"{network.name} from {network.source}; variables: " + ", ".join(f"{k}={v}" for k, v in network.variables.items())
    return model


def output_tensor(model, step: str) -> str:
    """The name of a step's output tensor in a model this module wrote: the step's name, or `NAME/output`
    for a layer named after its one tensor."""
    initializers = {t.name for t in model.graph.initializer}
    return f"{step}/output" if step in initializers else step


def inferred_shapes(model) -> dict[str, tuple[int | str | None, ...]]:
    """Every tensor's shape as ONNX shape inference gives it (strict mode), outputs included: a
    symbolic dimension as its name (`batch`), an unknown one as None."""
    onnx = _onnx()
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    shapes = {}
    for info in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]:
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in dims)
    return shapes


def check_shapes(model, network: Network) -> list[str]:
    """Where ONNX's shape inference disagrees with groupcost (empty when it agrees everywhere): every
    tensor is a symbolic batch by groupcost's shape. (ONNX's inference of a Resize gives its output a
    batch of a new name, `unk__0`: any symbolic batch passes, a number or a missing one does not.)"""
    shapes = inferred_shapes(model)
    problems = []
    for name, shape in network.shapes.items():
        expected = (BATCH, *shape)
        got = shapes.get(output_tensor(model, name))
        if got is not None and got[1:] == tuple(shape) and isinstance(got[0], str):
            continue
        if got != expected:
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
