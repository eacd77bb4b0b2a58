"""ONNX file → Network: shapes and attributes only, weights never read.

The only module that imports `onnx` to read a model (the `[onnx]` extra). It reads the file with
`load_external_data=False` and takes every weight's size from its initializer's dims, so an
external-data file is checked for existence and size, never opened. Each ONNX operator maps to a
groupcost layer type or merge through one table (`HANDLERS`); shape computations (Shape, Gather,
Concat of ints, ...) are evaluated on small constants; a few multi-node patterns that one PyTorch
module writes are recognised: x·sigmoid(x) (SiLU), x·hardsigmoid(x) (hard swish), GAP → 1×1 →
act → 1×1 → gate → mul (squeeze-and-excitation), reshape–transpose–reshape (channel shuffle),
MatMul + bias (a linear layer). Two views stand for a tensor until something reads it: a move of
the channels last (ConvNeXt's LayerNorm and Linear read it) and a run of spatial Slices (one per
axis, as torch's narrow writes them), which becomes one centre crop.

Names come from module paths: the TorchScript exporter's node names (`/layer1/layer1.0/conv1/Conv`),
the torch.export exporter's `pkg.torch.onnx.name_scopes` metadata and its initializer names
(`layer1.0.conv1.weight`). Every error is one line naming the node: `model.onnx: error: node
'/layer1/layer1.0/conv1/Conv' (Conv): ...`.
"""

from __future__ import annotations

import math
import mmap
import re
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Union

from groupcost.errors import Location, SpecError
from groupcost.graph.builder import MAX_ELEMENTS, GraphBuilder, Tensor
from groupcost.graph.network import INPUT, Network
from groupcost.ops import LAYER_TYPES, Layer, LayerError, Shape, format_shape

MAX_BYTES = 2**31 - 1  # protobuf cannot parse a larger message; weights beyond it go to external data
MAX_NODES = 1_000_000
SMALL = 1024  # elements of a constant we read (shape arithmetic, clip bounds): never a weight tensor
DTYPES = {1: "float32", 10: "float16", 16: "bfloat16", 11: "float64", 3: "int8", 2: "uint8", 5: "int16", 6: "int32"}


class OnnxError(SpecError):
    """The ONNX file cannot be read as a network."""


class FileLocation(Location):
    """A whole file: printed as its path alone (`model.onnx: error: ...`)."""

    def __str__(self) -> str:
        return self.path


def _onnx():
    try:
        import onnx
    except ImportError:
        raise OnnxError("reading ONNX needs the onnx package", "pip install 'groupcost[onnx]'") from None
    return onnx


_MODEL_PROTO = None


def _model_proto():
    """onnx's ModelProto class, from the package's generated protobuf module alone.

    `import onnx` costs about half a second (numpy, its C++ checker, every helper) where reading
    needs only the message classes; so `onnx_ml_pb2.py` is loaded by itself when the package is
    installed and not yet imported. Where that fails, `import onnx` as usual.
    """
    global _MODEL_PROTO
    if _MODEL_PROTO is not None:
        return _MODEL_PROTO
    if "onnx" in sys.modules:
        _MODEL_PROTO = sys.modules["onnx"].ModelProto
        return _MODEL_PROTO
    import importlib.util

    found = importlib.util.find_spec("onnx")
    if found is None or not found.submodule_search_locations:
        raise OnnxError("reading ONNX needs the onnx package", "pip install 'groupcost[onnx]'")
    try:
        path = Path(list(found.submodule_search_locations)[0]) / "onnx_ml_pb2.py"
        spec = importlib.util.spec_from_file_location("groupcost_io_onnx_ml_pb2", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        _MODEL_PROTO = module.ModelProto
    except Exception:
        _MODEL_PROTO = _onnx().ModelProto
    return _MODEL_PROTO


# ---- values flowing along the graph -----------------------------------------------------


class _Batch:
    """The batch dimension in shape arithmetic (symbolic or not: the network's batch is apart)."""

    def __repr__(self) -> str:
        return "N"


BATCH = _Batch()


Act = Tensor
"""An activation as groupcost sees it: a step's output (or the input), maybe a channel range of it."""


@dataclass(frozen=True)
class Const:
    """A small constant: flat values (ints, floats, BATCH, None for unknown) and its dims."""

    values: tuple
    dims: tuple[int, ...]


@dataclass(frozen=True)
class Weight:
    """An initializer too large to read, or any learnable tensor: only its dims are known."""

    name: str
    dims: tuple[int, ...]

    @property
    def size(self) -> int:
        return math.prod(self.dims)


class Unknown:
    """The output of an unsupported operator (reported at the end, or kept opaque)."""


UNKNOWN = Unknown()
Value = Union[Act, Const, Weight, Unknown, "GroupedView", "PaddedView", "ChannelsLast", "Cropped"]


# ---- reading the file -------------------------------------------------------------------


def read_network(path: str | Path, *, allow_unknown: bool = False, max_bytes: int = MAX_BYTES, name: str | None = None) -> Network:
    """The network in an ONNX file; raises OnnxError (located at the file, naming the node) on anything else."""
    path = Path(path)
    label = str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise OnnxError(f"cannot read: {exc.strerror or exc}", None, FileLocation(label)) from None
    if size > max_bytes:
        raise OnnxError(f"file is {size:,} bytes, more than {max_bytes:,}", "protobuf reads at most 2 GiB; export the weights as external data", FileLocation(label))
    model_proto = _model_proto()
    try:
        with open(path, "rb") as f:
            if size == 0:
                raise OnnxError("the file is empty", "is this an ONNX model?", FileLocation(label))
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                slim = without_weights(data)
        model = model_proto()
        model.ParseFromString(slim)
        del slim
    except OSError as exc:
        raise OnnxError(f"cannot read: {exc.strerror or exc}", None, FileLocation(label)) from None
    except _WireError as exc:
        raise OnnxError(f"not an ONNX model ({exc})", "is the file complete?", FileLocation(label)) from None
    except Exception as exc:  # protobuf's DecodeError and friends: truncated, not protobuf
        raise OnnxError(f"not an ONNX model ({type(exc).__name__}: {str(exc) or 'cannot parse'})", "is the file complete?", FileLocation(label)) from None
    return network_from_model(model, label, path.parent, allow_unknown=allow_unknown, name=name or path.stem)


def read_bytes(data: bytes, label: str, *, allow_unknown: bool = False, name: str = "model") -> Network:
    """The network in an in-memory ONNX model (torch imports); no external data."""
    model = _model_proto()()
    try:
        model.ParseFromString(data)
    except Exception as exc:
        raise OnnxError(f"not an ONNX model ({type(exc).__name__})", None, FileLocation(label)) from None
    return network_from_model(model, label, None, allow_unknown=allow_unknown, name=name)


def network_from_model(model, label: str, folder: Path | None, *, allow_unknown: bool = False, name: str = "model") -> Network:
    if not model.HasField("graph") or not model.graph.node:
        raise OnnxError("no graph, or a graph without nodes", "is this an ONNX model?", FileLocation(label))
    return _Importer(model, label, folder, allow_unknown, name).run()


# ---- the protobuf wire, weights left out ---------------------------------------------------
#
# ONNX files are mostly weights. Before the `onnx` package parses a file, the bytes of every
# large tensor payload are left out here, so neither the time nor the memory of a parse grows
# with the weights: a 100 MB ResNet-50 parses as about 100 kB. Only tag and length prefixes are
# read; payloads are skipped by their length (the file is memory-mapped, so skipped pages are
# never read). Fields: ModelProto.graph = 7; GraphProto.initializer = 5, sparse_initializer = 15;
# TensorProto's payloads float_data 4, int32_data 5, string_data 6, int64_data 7, raw_data 9,
# double_data 10, uint64_data 11.

KEEP_PAYLOAD = 8192  # bytes: small constants (shapes, clip bounds) stay readable
_TENSOR_PAYLOADS = {4, 5, 6, 7, 9, 10, 11}


class _WireError(Exception):
    pass


def _varint(data, pos: int, end: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= end or shift > 63:
            raise _WireError("truncated or malformed protobuf")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(data, start: int, end: int):
    """(field number, wire type, field start, payload start, field end) for each field in data[start:end]."""
    pos = start
    while pos < end:
        first = pos
        tag, pos = _varint(data, pos, end)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise _WireError("field number 0")
        if wire == 0:
            _, pos = _varint(data, pos, end)
            payload = pos
        elif wire == 1:
            payload, pos = pos, pos + 8
        elif wire == 5:
            payload, pos = pos, pos + 4
        elif wire == 2:
            length, payload = _varint(data, pos, end)
            pos = payload + length
        else:
            raise _WireError(f"unsupported wire type {wire}")
        if pos > end:
            raise _WireError("truncated protobuf: a field runs past the end")
        yield number, wire, first, payload, pos


def without_weights(data) -> bytes:
    """The serialized model with large tensor payloads left out (dims, names and types kept)."""
    out = bytearray()
    for number, wire, first, payload, end in _fields(data, 0, len(data)):
        if number == 7 and wire == 2:
            graph = _slim_graph(data, payload, end)
            out += _tag_and_length(7, len(graph)) + graph
        else:
            out += data[first:end]
    return bytes(out)


def _slim_graph(data, start: int, end: int) -> bytes:
    out = bytearray()
    run = start  # copy untouched fields in runs
    nodes = 0
    for number, wire, first, payload, stop in _fields(data, start, end):
        if number == 1:
            nodes += 1
            if nodes > MAX_NODES:  # before protobuf builds them all
                raise _WireError(f"more than {MAX_NODES:,} nodes")
        if number in (5, 15) and wire == 2:
            out += data[run:first]
            tensor = _slim_tensor(data, payload, stop) if number == 5 else _slim_sparse(data, payload, stop)
            out += _tag_and_length(number, len(tensor)) + tensor
            run = stop
    out += data[run:end]
    return bytes(out)


def _slim_tensor(data, start: int, end: int) -> bytes:
    out = bytearray()
    for number, wire, first, payload, stop in _fields(data, start, end):
        if number in _TENSOR_PAYLOADS and wire == 2 and stop - payload > KEEP_PAYLOAD:
            continue
        out += data[first:stop]
    return bytes(out)


def _slim_sparse(data, start: int, end: int) -> bytes:
    out = bytearray()
    for number, wire, first, payload, stop in _fields(data, start, end):
        if number in (1, 2) and wire == 2:  # values, indices: tensors
            tensor = _slim_tensor(data, payload, stop)
            out += _tag_and_length(number, len(tensor)) + tensor
        else:
            out += data[first:stop]
    return bytes(out)


def _tag_and_length(number: int, length: int) -> bytes:
    return _encode_varint(number << 3 | 2) + _encode_varint(length)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


# ---- small helpers ----------------------------------------------------------------------


def _attrs(node) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in node.attribute:
        t = a.type
        if t == 1:
            out[a.name] = a.f
        elif t == 2:
            out[a.name] = a.i
        elif t == 3:
            out[a.name] = a.s.decode("utf-8", "replace")
        elif t == 4:
            out[a.name] = a.t
        elif t == 6:
            out[a.name] = tuple(a.floats)
        elif t == 7:
            out[a.name] = tuple(a.ints)
        else:
            out[a.name] = None
    return out


_ARRAY_CODES = {1: "f", 11: "d", 6: "i", 7: "q", 2: "B", 3: "b", 5: "h", 9: "B"}


def _tensor_values(tensor, folder: Path | None) -> tuple | None:
    """The values of a small tensor (≤ SMALL elements), or None when it is large or of another type."""
    n = math.prod(tensor.dims)
    code = _ARRAY_CODES.get(tensor.data_type)
    if n > SMALL or code is None:
        return None
    if tensor.data_location == 1:  # external: only small constants are read, never weights
        info = {e.key: e.value for e in tensor.external_data}
        if folder is None or "location" not in info:
            return None
        try:
            with open(folder / info["location"], "rb") as f:
                f.seek(int(info.get("offset", 0)))
                raw = f.read(n * array(code).itemsize)
        except (OSError, ValueError):
            return None
    elif tensor.raw_data:
        raw = tensor.raw_data
    else:
        field_values = {1: tensor.float_data, 11: tensor.double_data, 7: tensor.int64_data, 6: tensor.int32_data, 2: tensor.int32_data,
                        3: tensor.int32_data, 5: tensor.int32_data, 9: tensor.int32_data}[tensor.data_type]
        values = tuple(field_values)
        return values if len(values) == n else None
    values_array = array(code)
    if len(raw) != n * values_array.itemsize:
        return None
    values_array.frombytes(raw)
    if sys.byteorder != "little":
        values_array.byteswap()
    return tuple(values_array)


def _module_path(node) -> str:
    """The module path of the code that wrote this node ('' at the top level or when unknown)."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes" and len(prop.value) < 10_000:
            scopes = re.findall(r"'((?:[^'\\]|\\.)*)'", prop.value)
            return scopes[-2] if len(scopes) >= 2 else ""
    if node.name.startswith("/"):
        path = ""
        for segment in node.name.split("/")[1:-1]:
            # TorchScript writes each module by its qualified name's tail from the last non-numeric atom
            # (`layer1.0`, `conv1`, `branch1.0`): a module's own attribute name is that tail's last atom.
            path = f"{path}.{segment.split('.')[-1]}" if path else segment
        return path
    if "." in node.name and _LAYER_NAME.fullmatch(node.name):
        return node.name  # a writer that names each node by its layer (groupcost export --to onnx)
    return ""


_LAYER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)+")


_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")


def _clean(path: str) -> str:
    segments = [s for s in _BAD_CHARS.sub("_", path).split(".") if s]
    return ".".join(s + "_" if s in ("input", "in") else s for s in segments)


# ---- the importer -----------------------------------------------------------------------


class _Importer:
    def __init__(self, model, label: str, folder: Path | None, allow_unknown: bool, name: str):
        self.model, self.graph, self.label, self.folder = model, model.graph, label, folder
        self.allow_unknown, self.name = allow_unknown, name
        self.loc = FileLocation(label)
        self.env: dict[str, Value] = {}
        self.initializers = {t.name: t for t in self.graph.initializer}
        self.builder: GraphBuilder | None = None  # made once the input is read
        self.unsupported: dict[str, str] = {}
        self.consumed: set[int] = set()
        self.batch = 1
        self.folded_bn = 0
        self.opaque: list[str] = []
        self.inferred: dict[str, tuple] | None = None
        self.opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=1)
        self.order_index: dict[int, int] = {}
        self.crops: dict = {}  # Cropped view → its crop layer's output, made once

    # errors ---------------------------------------------------------------------------

    def where(self, node) -> str:
        return f"node '{node.name or '#' + str(self.order_index.get(id(node), '?'))}' ({node.op_type})"

    def fail(self, node, message: str, hint: str | None = None) -> OnnxError:
        return OnnxError(f"{self.where(node)}: {message}" if node is not None else message, hint, self.loc)

    # the whole graph ------------------------------------------------------------------

    def run(self) -> Network:
        graph = self.graph
        if len(graph.node) > MAX_NODES:
            raise self.fail(None, f"{len(graph.node):,} nodes, more than {MAX_NODES:,}")
        order = self.topological_order()
        self.order_index = {id(n): i for i, n in enumerate(order)}
        self.consumers: dict[str, list[int]] = {}
        for i, node in enumerate(order):
            for name in node.input:
                if name:
                    self.consumers.setdefault(name, []).append(i)
        for name in graph.output:
            self.consumers.setdefault(name.name, []).append(-1)
        self.order = order
        self.check_initializers()
        self.read_input()
        self.paths = [_clean(_module_path(n)) for n in order]
        self.containers = {p[:i] for p in self.paths for i, ch in enumerate(p) if ch == "."}
        self.special: dict[int, tuple[str, Any]] = {}
        _recognise_local_response_norms(self)
        for i, node in enumerate(order):
            if i in self.consumed:
                continue
            if i in self.special:
                source, size = self.special[i]
                x = self.env.get(source)
                if not isinstance(x, Act):
                    self.unknown(i, node, [x], "a local response norm of an unknown tensor")
                    continue
                self.env[node.output[0]] = self.layer(i, node, "lrn", LAYER_TYPES["lrn"](size=size), x)
                continue
            handler = HANDLERS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
            inputs = [self.env.get(n, UNKNOWN) if n else None for n in node.input]
            if handler not in (_slice, _shape):  # a shape or a further slice reads the window, not a layer
                inputs = [self.cropped(v) if isinstance(v, Cropped) else v for v in inputs]
            if handler is None or any(isinstance(v, Unknown) for v in inputs if v is not None):
                self.unknown(i, node, inputs, None if handler is None else "")
                continue
            try:
                outputs = handler(self, i, node, inputs)
            except _Unsupported as exc:
                self.unknown(i, node, inputs, exc.reason)
                continue
            except LayerError as exc:
                raise self.fail(node, exc.message, exc.hint) from None
            if outputs is None:
                continue
            if not isinstance(outputs, (list, tuple)):
                outputs = [outputs]
            for out_name, value in zip(node.output, outputs):
                self.env[out_name] = value
        if self.unsupported:
            listed = ", ".join(f"{op} (node '{where}'{': ' + why if why else ''})" for op, (where, why) in self.unsupported.items())
            raise OnnxError(f"unsupported operators: {listed}", "`groupcost import --allow-unknown` keeps them as opaque layers in a spec", self.loc)
        outputs = []
        for out in graph.output:
            value = self.env.get(out.name)
            if isinstance(value, Cropped):
                value = self.cropped(value)
            if not isinstance(value, Act) or value.name == INPUT or value.channels is not None:
                raise OnnxError(f"graph output '{out.name}' is not the output of a layer groupcost can name", None, self.loc)
            outputs.append(value.name)
        notes = []
        if self.folded_bn:
            notes.append(f"BatchNorm folded into {self.folded_bn} convolutions by the exporter: params count the graph (a bias of C), C fewer per conv + BN pair than the PyTorch model")
        if self.opaque:
            notes.append(f"opaque operators, shapes from ONNX shape inference, params from initializers, no MACs: {', '.join(self.opaque)}")
        from groupcost.language.document import DTYPE_BYTES

        return self.builder.network(self.name, f"imported from {Path(self.label).name}", self.label, self.dtype, DTYPE_BYTES[self.dtype], {},
                                    tuple(dict.fromkeys(outputs)), notes)

    def topological_order(self) -> list:
        """The nodes in an order where each follows its inputs' producers: the file's own when it is one."""
        import heapq

        graph = self.graph
        produced: dict[str, int] = {}
        available = {i.name for i in graph.input} | set(self.initializers) | {""}
        for k, node in enumerate(graph.node):
            for out in node.output:
                if out and (out in produced or out in available):
                    raise self.fail(node, f"output '{out}' is also produced elsewhere", "an ONNX tensor has one producer")
                if out:
                    produced[out] = k
        waiting: list[int] = []
        readers: dict[int, list[int]] = {}
        for k, node in enumerate(graph.node):
            deps = set()
            for name in node.input:
                if name in available:
                    continue
                if name not in produced:
                    raise self.fail(node, f"input '{name}' is produced by no node, initializer or graph input", "the graph is incomplete")
                deps.add(produced[name])
            waiting.append(len(deps))
            for d in deps:
                readers.setdefault(d, []).append(k)
        ready = [k for k, n in enumerate(waiting) if n == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            k = heapq.heappop(ready)
            order.append(graph.node[k])
            for r in readers.get(k, ()):
                waiting[r] -= 1
                if waiting[r] == 0:
                    heapq.heappush(ready, r)
        if len(order) != len(graph.node):
            stuck = min(k for k, n in enumerate(waiting) if n > 0)
            raise self.fail(graph.node[stuck], "is part of a cycle", "an ONNX graph must be acyclic")
        return order

    def check_initializers(self) -> None:
        first_reader: dict[str, Any] = {}
        for node in self.order:
            for name in node.input:
                first_reader.setdefault(name, node)
        sizes: dict[str, int] = {}
        for name, tensor in self.initializers.items():
            node = first_reader.get(name)
            dims = tuple(tensor.dims)
            if any(d < 0 for d in dims):
                raise self.fail(node, f"initializer '{name}' has a negative dimension: {list(dims)}") if node is not None else OnnxError(f"initializer '{name}' has a negative dimension", None, self.loc)
            if math.prod(dims) > MAX_ELEMENTS:
                raise self.fail(node, f"initializer '{name}' has {math.prod(dims):,} elements, more than 2^40") if node is not None else OnnxError(f"initializer '{name}' is too large", None, self.loc)
            if tensor.data_location == 1:
                info = {e.key: e.value for e in tensor.external_data}
                where = info.get("location", "")
                if self.folder is None or not where or Path(where).is_absolute() or ".." in Path(where).parts:
                    raise self.fail(node, f"initializer '{name}' points to external data '{where}' that cannot be read safely", "keep the data file beside the model")
                file = self.folder / where
                if where not in sizes:
                    try:
                        sizes[where] = file.stat().st_size
                    except OSError:
                        raise self.fail(node, f"its initializer '{name}' is stored in '{where}', which does not exist", f"copy {where} beside {Path(self.label).name}") from None
                try:
                    end = int(info.get("offset", 0)) + int(info.get("length", 0))
                except ValueError:
                    raise self.fail(node, f"initializer '{name}': external data offset or length is not a number") from None
                if end > sizes[where]:
                    raise self.fail(node, f"initializer '{name}' ends at byte {end:,} of '{where}', which has {sizes[where]:,}", "the data file is truncated or from another export")
            values = _tensor_values(tensor, self.folder) if tensor.data_type in (6, 7) or math.prod(dims) <= 8 else None
            self.env[name] = Const(values, dims) if values is not None else Weight(name, dims)

    def read_input(self) -> None:
        inputs = [i for i in self.graph.input if i.name not in self.initializers]
        if len(inputs) != 1:
            raise OnnxError(f"the graph has {len(inputs)} inputs ({', '.join(i.name for i in inputs) or 'none'}); groupcost reads networks with one", None, self.loc)
        value = inputs[0]
        tensor_type = value.type.tensor_type
        self.dtype = DTYPES.get(tensor_type.elem_type, "float32")
        if tensor_type.elem_type not in (1, 10, 16, 11):
            raise OnnxError(f"input '{value.name}' is not a floating-point tensor", "groupcost reads image models (N×C×H×W) and feature vectors (N×F)", self.loc)
        if not tensor_type.HasField("shape"):
            raise OnnxError(f"input '{value.name}' has no shape", "export with a fixed input size", self.loc)
        dims = []
        for k, d in enumerate(tensor_type.shape.dim):
            if d.HasField("dim_value"):
                if d.dim_value < 1:
                    raise OnnxError(f"input '{value.name}' has dimension {k} = {d.dim_value}", "dimensions must be positive", self.loc)
                dims.append(d.dim_value)
            elif k == 0:
                dims.append(None)
            else:
                raise OnnxError(f"input '{value.name}' has a symbolic dimension {k} ('{d.dim_param}')", "only the batch may be symbolic: export with a fixed input size", self.loc)
        if len(dims) not in (2, 3, 4, 5):
            shown = "×".join("N" if d is None else str(d) for d in dims)
            raise OnnxError(f"input '{value.name}' is {shown or 'a scalar'}", "groupcost reads feature vectors (N×F), signals (N×C×L), images (N×C×H×W) and videos (N×C×T×H×W); this looks like another kind of model", self.loc)
        self.batch = dims[0] or 1
        self.builder = GraphBuilder(tuple(dims[1:]), self.batch, self.loc, input_label=f"input '{value.name}'", error=OnnxError, limit_hint=None, first_copy=1)
        self.env[value.name] = self.builder.input

    # steps ------------------------------------------------------------------------------

    def step_name(self, i: int, kind: str, preferred: str | None = None) -> str:
        """A step's name before de-duplication: its module path (`layer1.0.conv1`), `{container}.{kind}`, or its kind."""
        path = preferred or self.paths[i]
        if not path:
            return kind
        if path in self.containers and not preferred:
            return f"{path}.{kind}"
        return path

    def layer(self, i: int, node, kind: str, layer: Layer, x: Act, preferred: str | None = None) -> Act:
        return self.builder.layer(self.step_name(i, kind, preferred), layer, x, self.loc, where=self.where(node), fresh=True)

    def merge(self, i: int, node, kind: str, xs: list[Act]) -> Act:
        def refused(shapes: tuple[Shape, ...]) -> Exception:
            if kind == "add":
                return _Unsupported(f"adds {' and '.join(map(format_shape, shapes))} (broadcasting)")
            if kind == "concat":
                return self.fail(node, f"concatenates {', '.join(map(format_shape, shapes))}: H×W differ")
            return self.fail(node, f"multiplies {' and '.join(map(format_shape, shapes))}, which do not broadcast")

        return self.builder.merge(self.step_name(i, kind), kind, xs, self.loc, refused, where=self.where(node), fresh=True)

    def cropped(self, view: "Cropped") -> Act:
        """The crop layer of a run of spatial Slices (torch's narrow writes one per axis), made at its first reader."""
        if view not in self.crops:
            dims = view.x.shape[1:]
            for n, (start, stop) in zip(dims, view.box):
                if start != (n - (stop - start)) // 2:
                    raise self.fail(self.order[view.first], f"crops {format_shape(view.x.shape)} to {[b - a for a, b in view.box]} off centre (starting at {[a for a, _ in view.box]})",
                                    "groupcost's crop takes the centre, offset (size − target) // 2") from None
            size = tuple(stop - start for start, stop in view.box)
            self.crops[view] = self.layer(view.first, self.order[view.first], "crop", LAYER_TYPES["crop"](size=size), view.x)
        return self.crops[view]

    def unknown(self, i: int, node, inputs: list, reason: str | None) -> None:
        """An operator groupcost cannot model: reported, or kept opaque with --allow-unknown."""
        acts = [v for v in inputs if isinstance(v, Act)]
        upstream_unknown = any(isinstance(v, Unknown) for v in inputs if v is not None)
        if not self.allow_unknown:
            if reason is None or reason or not upstream_unknown:  # no handler, or the handler said why
                self.unsupported.setdefault(node.op_type, (node.name or f"#{i}", reason or ""))
            for out in node.output:
                self.env[out] = UNKNOWN
            return
        shape = self.inferred_shape(node.output[0]) if node.output else None
        if not acts or shape is None:
            if shape is None and acts:
                raise self.fail(node, "ONNX shape inference gives no shape for its output", "export with fixed shapes")
            raise self.fail(node, "reads no activation groupcost knows", "cannot be kept as an opaque layer")
        if len(shape) < 2 or shape[0] not in (self.batch, None) or any(not isinstance(d, int) or d < 1 for d in shape[1:]):
            raise self.fail(node, f"its output shape {shape} is not batch × features")
        params = sum(math.prod(self.initializers[n].dims) for n in dict.fromkeys(node.input) if n in self.initializers and self.initializers[n].data_type in (1, 10, 11, 16))
        layer = LAYER_TYPES["opaque"](op=f"onnx:{node.op_type}", out=tuple(shape[1:]), params=params)
        y = self.layer(i, node, node.op_type.lower(), layer, acts[0])
        self.opaque.append(f"{y.name} ({node.op_type})")
        self.env[node.output[0]] = y
        for out in node.output[1:]:
            self.env[out] = UNKNOWN

    def inferred_shape(self, tensor: str):
        if self.inferred is None:
            onnx = _onnx()
            try:
                inferred = onnx.shape_inference.infer_shapes(self.model, strict_mode=False)
            except Exception:
                inferred = self.model
            self.inferred = {}
            for v in [*inferred.graph.value_info, *inferred.graph.output]:
                dims = v.type.tensor_type.shape.dim
                self.inferred[v.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
        return self.inferred.get(tensor)

    # pattern helpers ------------------------------------------------------------------

    def only_reader(self, tensor: str):
        """The one node reading `tensor` (index, node), or None."""
        readers = self.consumers.get(tensor, [])
        if len(readers) != 1 or readers[0] < 0:
            return None
        return readers[0], self.order[readers[0]]

    def const(self, value, node, what: str) -> Const:
        if not isinstance(value, Const) or value.values is None:
            raise _Unsupported(f"{what} is not a constant")
        return value


_LRN_OPS = {"Add", "AveragePool", "Cast", "Concat", "Constant", "ConstantOfShape", "Div", "Equal", "Gather", "If", "Mul", "Pad",
            "Pow", "Reshape", "Shape", "Slice", "Squeeze", "Transpose", "Unsqueeze"}


def _recognise_local_response_norms(imp: _Importer) -> None:
    """torch's LocalResponseNorm as its exporters write it: ~20-40 primitive operators in one module.

    x / (k + alpha·avgpool3d(pad(x²)))^beta, with a (size, 1, 1) average pool over the channels. A
    module whose operators are only those, with one Div of an outside tensor by a Pow, one such
    pool, and no tensor read outside but the Div's, is one `lrn` layer.
    """
    by_path: dict[str, list[int]] = {}
    for i, path in enumerate(imp.paths):
        if path:
            by_path.setdefault(path, []).append(i)
    for path, indices in by_path.items():
        nodes = [imp.order[i] for i in indices]
        ops = [n.op_type for n in nodes]
        if not set(ops) <= _LRN_OPS or ops.count("Div") != 1 or ops.count("AveragePool") != 1 or ops.count("Pow") != 1:
            continue
        pool = nodes[ops.index("AveragePool")]
        kernel = tuple(_attrs(pool).get("kernel_shape", ()))
        if len(kernel) != 3 or kernel[1:] != (1, 1):
            continue
        k_div = indices[ops.index("Div")]
        div = imp.order[k_div]
        inside = {out for n in nodes for out in n.output}
        if div.input[0] in inside or div.input[1] not in inside:
            continue
        members = set(indices)
        leaks = [out for n in nodes if n is not div for out in n.output if any(r not in members for r in imp.consumers.get(out, []))]
        if leaks:
            continue
        imp.consumed.update(members - {k_div})
        imp.special[k_div] = (div.input[0], kernel[0])


class _Unsupported(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# ---- operator handlers: (importer, index, node, inputs) → output value(s) --------------

Handler = Callable[[_Importer, int, Any, list], Any]


def _act(value, what: str = "its input") -> Act:
    if not isinstance(value, Act):
        raise _Unsupported(f"{what} is a constant, not an activation")
    return value


def _feature_map(x: Act, node) -> tuple[int, tuple[int, ...]]:
    """C and the spatial sizes of a C×L, C×H×W or C×T×H×W input."""
    if not 2 <= len(x.shape) <= 4:
        raise _Unsupported(f"its input is {format_shape(x.shape)}, not C×L, C×H×W or C×T×H×W")
    return x.shape[0], tuple(x.shape[1:])


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


@dataclass(frozen=True)
class PaddedView:
    """x with zeros around its spatial dimensions (a `Pad` read only by convolutions): folded into them."""

    x: Act
    pads: tuple[int, ...]  # (before, after) per spatial dimension


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}


def _pad(imp: _Importer, i: int, node, inputs: list):
    x = _act(inputs[0])
    _, dims = _feature_map(x, node)
    rank = len(dims)
    attrs = _attrs(node)
    mode = attrs.get("mode", "constant")
    if mode not in _PAD_MODES:
        raise _Unsupported(f"a {mode} padding (groupcost pads with a constant, reflect or replicate)")
    pads = attrs.get("pads")
    if pads is None:
        pads = imp.const(inputs[1], node, "its pads").values
    value = 0.0
    if len(inputs) > 2 and inputs[2] is not None:
        values = imp.const(inputs[2], node, "its value").values
        value = float(values[0]) if values else 0.0
    if len(inputs) > 3 and inputs[3] is not None:
        raise _Unsupported("a padding along chosen axes")
    n = rank + 2
    if len(pads) != 2 * n or any(not isinstance(p, int) or p < 0 for p in pads) or pads[0] or pads[1] or pads[n] or pads[n + 1]:
        raise _Unsupported(f"a padding {list(pads)} of other than the spatial dimensions")
    spatial_pads = tuple(v for k in range(2, n) for v in (pads[k], pads[n + k]))
    readers = imp.consumers.get(node.output[0], [])  # -1: a graph output
    if mode == "constant" and value == 0 and readers and all(k >= 0 and imp.order[k].op_type == "Conv" and imp.order[k].input[0] == node.output[0] for k in readers):
        return PaddedView(x, spatial_pads)
    layer = LAYER_TYPES["pad"](p=spatial_pads, mode=_PAD_MODES[mode], value=value)
    return imp.layer(i, node, "pad", layer, x)


def _kernel_dims(imp: _Importer, node, inputs: list, rank: int) -> tuple[int, ...]:
    """The dims of a (transposed) convolution's weight: an initializer of rank + 2 dimensions."""
    weight = inputs[1] if len(inputs) > 1 else None
    if not isinstance(weight, (Weight, Const)):
        raise _Unsupported("its weight is computed, not an initializer")
    if len(weight.dims) != rank + 2:
        raise imp.fail(node, f"weight {list(weight.dims)} does not fit a {rank}-D input")
    return tuple(weight.dims)


def _conv(imp: _Importer, i: int, node, inputs: list) -> Act:
    padded = inputs[0] if isinstance(inputs[0], PaddedView) else None
    x = _act(padded.x if padded is not None else inputs[0])
    c_in, dims = _feature_map(x, node)
    rank = len(dims)
    wdims = _kernel_dims(imp, node, inputs, rank)
    attrs = _attrs(node)
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
            raise _Unsupported("a convolution with auto_pad after an explicit Pad")
        pads = tuple(a + b for a, b in zip(pads, padded.pads))
    bias = len(inputs) > 2 and inputs[2] is not None
    path = _weight_path(node, 1)
    if _folded_batchnorm(node, bias):
        imp.folded_bn += 1
    types = LAYER_TYPES
    ones, zeros = (1,) * rank, (0,) * (2 * rank)
    if groups == c_in and groups > 1:
        if c_out == c_in and kernel == dims and pads == zeros and dilation == ones and stride == ones:
            return imp.layer(i, node, "gdc", types["gdc"](bias=bias), x, path)
        layer = types["dwconv"](k=kernel, s=stride, p=pads, d=dilation, mult=c_out // c_in, bias=bias)
        return imp.layer(i, node, "conv", layer, x, path)
    if kernel == ones and pads == zeros and dilation == ones:
        return imp.layer(i, node, "conv", types["pwconv"](out=c_out, s=stride, groups=groups, bias=bias), x, path)
    return imp.layer(i, node, "conv", types["conv"](out=c_out, k=kernel, s=stride, p=pads, d=dilation, groups=groups, bias=bias), x, path)


def _conv_transpose(imp: _Importer, i: int, node, inputs: list) -> Act:
    """ConvTranspose: weight (C_in, C_out/G, k...); pads symmetric per dimension, as torch writes them."""
    x = _act(inputs[0])
    c_in, dims = _feature_map(x, node)
    rank = len(dims)
    wdims = _kernel_dims(imp, node, inputs, rank)
    attrs = _attrs(node)
    kernel, stride, dilation = _window(attrs, imp, node, rank, wdims[2:])
    groups = attrs.get("group", 1)
    if groups < 1 or wdims[0] != c_in or c_in % groups or tuple(wdims[2:]) != kernel:
        raise imp.fail(node, f"weight {list(wdims)} with group={groups} does not fit an input of {c_in} channels")
    if "output_shape" in attrs or attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise _Unsupported("a transposed convolution sized by output_shape or auto_pad (groupcost takes pads and output_padding)")
    pads = tuple(attrs.get("pads", (0,) * (2 * rank)))
    if len(pads) != 2 * rank or pads[:rank] != pads[rank:] or any(p < 0 for p in pads):
        raise _Unsupported(f"transposed-convolution pads {list(pads)} that differ before and after")
    output_padding = tuple(attrs.get("output_padding", (0,) * rank))
    bias = len(inputs) > 2 and inputs[2] is not None
    layer = LAYER_TYPES["convtranspose"](out=wdims[1] * groups, k=kernel, s=stride, p=pads[:rank], output_padding=output_padding,
                                         d=dilation, groups=groups, bias=bias)
    return imp.layer(i, node, "convtranspose", layer, x, _weight_path(node, 1))


def _folded_batchnorm(node, bias: bool) -> bool:
    """Whether the exporter folded a BatchNorm into this convolution.

    The torch.export exporter says so in the node's metadata; the TorchScript exporter's constant
    folding leaves a weight and a bias it computed, named `onnx::Conv_N`, where a conv exported as
    it is keeps its parameters' names (`features.0.weight`).
    """
    for prop in node.metadata_props:
        if prop.key == "pkg.onnxscript.rewriter.rule_name" and "FuseBatchNorm" in prop.value:
            return True
    return bias and len(node.input) > 2 and node.input[1].startswith("onnx::") and node.input[2].startswith("onnx::")


def _weight_path(node, index: int) -> str | None:
    """The module path in a weight's name (`layer1.0.conv1.weight`), when the exporter kept it."""
    if len(node.input) > index:
        name = node.input[index]
        if name.endswith(".weight") and not name.startswith("onnx::") and "/" not in name:
            return _clean(name[: -len(".weight")]) or None
    return None


def _gemm(imp: _Importer, i: int, node, inputs: list) -> Act:
    x = _act(inputs[0])
    attrs = _attrs(node)
    weight = inputs[1]
    if not isinstance(weight, (Weight, Const)) or attrs.get("transA", 0):
        raise _Unsupported("its second operand is not a weight")
    if len(x.shape) != 1:
        raise _Unsupported(f"its input is {format_shape(x.shape)}, not a flat vector")
    dims = weight.dims
    if len(dims) != 2:
        raise imp.fail(node, f"weight {list(dims)} is not a matrix")
    out, fan_in = (dims[0], dims[1]) if attrs.get("transB", 0) else (dims[1], dims[0])
    if fan_in != x.shape[0]:
        raise imp.fail(node, f"weight {list(dims)} does not fit an input of {x.shape[0]} features")
    bias = len(inputs) > 2 and inputs[2] is not None
    return imp.layer(i, node, "fc", LAYER_TYPES["fc"](out=out, bias=bias), x, _weight_path(node, 1))


def _matmul(imp: _Importer, i: int, node, inputs: list) -> Act | ChannelsLast:
    """x·W (+ b): `fc` on a feature vector, `linear` on the channels of a channels-last view (ConvNeXt's MLP)."""
    x = inputs[0]
    weight = inputs[1]
    view = isinstance(x, ChannelsLast)
    if view:
        x = x.x
    if not isinstance(x, Act) or not isinstance(weight, (Weight, Const)):
        raise _Unsupported("a product of two activations (attention?), not a layer with weights")
    kind = "linear" if view else "fc"
    if len(weight.dims) != 2 or (x.channels is not None if view else len(x.shape) != 1):
        raise _Unsupported(f"a product of {format_shape(x.shape)} with a {list(weight.dims)} weight, not a linear layer on a flat vector")
    if weight.dims[0] != x.shape[0]:
        raise imp.fail(node, f"weight {list(weight.dims)} does not fit an input of {x.shape[0]} features")
    out = weight.dims[1]
    reader = imp.only_reader(node.output[0])
    bias_add = None
    if reader is not None and reader[1].op_type == "Add":
        other = [imp.env.get(n) for n in reader[1].input if n != node.output[0]]
        if len(other) == 1 and isinstance(other[0], (Weight, Const)) and tuple(other[0].dims) in ((out,), (1, out)):
            bias_add = reader
    y = imp.layer(i, node, kind, LAYER_TYPES[kind](out=out, bias=bias_add is not None), x, _weight_path(node, 1))
    result = ChannelsLast(y) if view else y
    if bias_add is not None:
        imp.consumed.add(bias_add[0])
        imp.env[bias_add[1].output[0]] = result
    return result


def _batchnorm(imp: _Importer, i: int, node, inputs: list) -> Act:
    x = _act(inputs[0])
    scale = inputs[1]
    if not isinstance(scale, (Weight, Const)) or tuple(scale.dims) != (x.shape[0],):
        raise imp.fail(node, f"scale of shape {list(getattr(scale, 'dims', []))} does not fit {x.shape[0]} channels")
    return imp.layer(i, node, "bn", LAYER_TYPES["bn"](affine=True), x, _weight_path(node, 1))


def _pool(kind: str) -> Handler:
    def handle(imp: _Importer, i: int, node, inputs: list) -> Act:
        x = _act(inputs[0])
        _, dims = _feature_map(x, node)
        rank = len(dims)
        if len(node.output) > 1 and node.output[1] and imp.consumers.get(node.output[1]):
            raise _Unsupported("its indices output is used")
        attrs = _attrs(node)
        kernel, stride, dilation = _window(attrs, imp, node, rank)
        pads = _pads(attrs, kernel, stride, dilation, dims, imp, node)
        ceil = bool(attrs.get("ceil_mode", 0))
        if pads[::2] != pads[1::2]:
            raise _Unsupported(f"an asymmetric pool padding {list(pads)} (pools pad symmetrically)")
        pads = pads[::2]  # one per dimension, as the pool layers take it
        if kind == "maxpool":
            layer = LAYER_TYPES["maxpool"](k=kernel, s=stride, p=pads, d=dilation, ceil_mode=ceil)
        else:
            if dilation != (1,) * rank:
                raise _Unsupported("a dilated average pool")
            if not attrs.get("count_include_pad", 0) and any(pads):
                raise _Unsupported("an average pool that leaves its padding out of the mean (count_include_pad=0)")
            layer = LAYER_TYPES["avgpool"](k=kernel, s=stride, p=pads, ceil_mode=ceil)
        return imp.layer(i, node, kind, layer, x)

    return handle


def _global_pool(kind: str) -> Handler:
    def handle(imp: _Importer, i: int, node, inputs: list) -> Act:
        x = _act(inputs[0])
        _feature_map(x, node)
        if kind == "gap":
            se = _squeeze_excitation(imp, i, node, x)
            if se is not None:
                return se
        return imp.layer(i, node, kind, LAYER_TYPES[kind](), x)

    return handle


def _reduce(kind: str) -> Handler:
    """ReduceMean / ReduceMax over every spatial axis: a global pool (then a flatten without keepdims)."""

    def handle(imp: _Importer, i: int, node, inputs: list):
        x = _act(inputs[0])
        attrs = _attrs(node)
        axes = attrs.get("axes")
        if axes is None and len(inputs) > 1 and inputs[1] is not None:
            axes = imp.const(inputs[1], node, "its axes").values
        rank = len(x.shape) + 1
        if axes is None or rank < 3 or sorted(a % rank for a in axes) != list(range(2, rank)):
            raise _Unsupported("a reduction over other axes than the spatial ones")
        if attrs.get("keepdims", 1):
            return _global_pool(kind)(imp, i, node, inputs)
        pooled = imp.layer(i, node, kind, LAYER_TYPES[kind](), x)
        return imp.layer(i, node, "flatten", LAYER_TYPES["flatten"](), pooled, f"{pooled.name}_flatten")

    return handle


def _squeeze_excitation(imp: _Importer, i: int, node, x: Act) -> Act | None:
    """GAP → 1×1 conv (bias) → act → 1×1 conv (bias) → gate → mul with the pooled input: one `se` layer."""
    indices: list[int] = []
    convs = []
    kinds = []
    tensor = node.output[0]
    for expected in ("Conv", "act", "Conv", "gate"):
        if expected == "Conv":
            reader = imp.only_reader(tensor)
            if reader is None or reader[1].op_type != "Conv":
                return None
            indices.append(reader[0])
            convs.append(reader[1])
            tensor = reader[1].output[0]
            continue
        found = _activation_after(imp, tensor)
        if found is None:
            return None
        kind, tensor, used = found
        kinds.append(kind)
        indices.extend(used)
    reader = imp.only_reader(tensor)
    if reader is None or reader[1].op_type != "Mul":
        return None
    k_mul, mul = reader
    other = [n for n in mul.input if n != tensor]
    if len(other) != 1 or imp.env.get(other[0]) != x:
        return None
    conv1, conv2 = convs
    act, gate = kinds
    c = x.shape[0]
    w1, w2 = imp.env.get(conv1.input[1]), imp.env.get(conv2.input[1])
    if not isinstance(w1, (Weight, Const)) or not isinstance(w2, (Weight, Const)) or len(conv1.input) < 3 or len(conv2.input) < 3:
        return None
    s = w1.dims[0]
    if tuple(w1.dims) != (s, c, 1, 1) or tuple(w2.dims) != (c, s, 1, 1) or gate not in ("sigmoid", "hsigmoid"):
        return None
    indices.append(k_mul)
    imp.consumed.update(indices)
    paths = [imp.paths[k] for k in [i, *indices] if imp.paths[k]]
    common = _common_prefix(paths)
    if common and common in imp.containers and all(p == common or p.startswith(common + ".") for p in paths) and any(p != common for p in paths):
        preferred = common
    else:
        preferred = None
    y = imp.layer(k_mul, mul, "se", LAYER_TYPES["se"](squeeze=s, act=act, gate=gate), x, preferred)
    imp.env[mul.output[0]] = y
    return y


def _activation_after(imp: _Importer, tensor: str):
    """The activation applied to `tensor` alone: (kind, its output, node indices), x·sigmoid(x) as silu."""
    readers = [k for k in imp.consumers.get(tensor, []) if k >= 0]
    ops = {imp.order[k].op_type: k for k in readers}
    if len(readers) == 1 and imp.order[readers[0]].op_type in _SE_ACTS:
        k = readers[0]
        return _SE_ACTS[imp.order[k].op_type], imp.order[k].output[0], [k]
    if len(readers) == 2 and "Mul" in ops and ({"Sigmoid", "HardSigmoid"} & set(ops)):
        gate_op = "Sigmoid" if "Sigmoid" in ops else "HardSigmoid"
        k_gate, k_mul = ops[gate_op], ops["Mul"]
        if sorted(imp.order[k_mul].input) == sorted([tensor, imp.order[k_gate].output[0]]) and imp.only_reader(imp.order[k_gate].output[0]):
            return ("silu" if gate_op == "Sigmoid" else "hswish"), imp.order[k_mul].output[0], [k_gate, k_mul]
    return None


_SE_ACTS = {"Relu": "relu", "Sigmoid": "sigmoid", "HardSigmoid": "hsigmoid", "HardSwish": "hswish", "Tanh": "tanh"}


def _common_prefix(paths: list[str]) -> str:
    if not paths:
        return ""
    parts = [p.split(".") for p in paths]
    common = []
    for segments in zip(*parts):
        if len(set(segments)) != 1:
            break
        common.append(segments[0])
    return ".".join(common)


def _activation(kind: str) -> Handler:
    def handle(imp: _Importer, i: int, node, inputs: list) -> Act | ChannelsLast:
        if isinstance(inputs[0], ChannelsLast):  # element-wise: the same layer in either layout
            return ChannelsLast(handle(imp, i, node, [inputs[0].x, *inputs[1:]]))
        x = _act(inputs[0])
        if kind in ("sigmoid", "hsigmoid"):
            fused = _gated_self(imp, i, node, x, "silu" if kind == "sigmoid" else "hswish")
            if fused is not None:
                return fused
        if kind == "hsigmoid":
            attrs = _attrs(node)
            if abs(attrs.get("alpha", 0.2) - 1 / 6) > 1e-6 or abs(attrs.get("beta", 0.5) - 0.5) > 1e-6:
                raise _Unsupported("a HardSigmoid other than PyTorch's relu6(x + 3) / 6")
        if kind == "softmax":
            axis = _attrs(node).get("axis", -1 if imp.opset >= 13 else 1)
            if axis % (len(x.shape) + 1) != 1:
                raise _Unsupported("a softmax over other than the channels")
        return imp.layer(i, node, kind, LAYER_TYPES[kind](), x)

    return handle


def _gated_self(imp: _Importer, i: int, node, x: Act, kind: str) -> Act | None:
    """x · sigmoid(x) → silu; x · hardsigmoid(x) → hswish (how some exporters write them)."""
    reader = imp.only_reader(node.output[0])
    if reader is None or reader[1].op_type != "Mul":
        return None
    k, mul = reader
    other = [n for n in mul.input if n != node.output[0]]
    if len(other) != 1 or imp.env.get(other[0]) != x:
        return None
    imp.consumed.add(k)
    y = imp.layer(i, node, kind, LAYER_TYPES[kind](), x)
    imp.env[mul.output[0]] = y
    return y


def _clip(imp: _Importer, i: int, node, inputs: list) -> Act:
    x = _act(inputs[0])
    attrs = _attrs(node)
    low, high = attrs.get("min"), attrs.get("max")
    if len(inputs) > 1 and inputs[1] is not None:
        low = imp.const(inputs[1], node, "its min").values[0]
    if len(inputs) > 2 and inputs[2] is not None:
        high = imp.const(inputs[2], node, "its max").values[0]
    if low == 0 and high == 6:
        return imp.layer(i, node, "relu6", LAYER_TYPES["relu6"](), x)
    if low == 0 and high is None:
        return imp.layer(i, node, "relu", LAYER_TYPES["relu"](), x)
    raise _Unsupported(f"a clip to [{low}, {high}] (groupcost knows relu6: [0, 6])")


def _prelu(imp: _Importer, i: int, node, inputs: list) -> Act:
    x = _act(inputs[0])
    slope = inputs[1]
    if not isinstance(slope, (Weight, Const)):
        raise _Unsupported("its slope is computed")
    n = math.prod(slope.dims)
    if n not in (1, x.shape[0]):
        raise imp.fail(node, f"slope of {n} values does not fit {x.shape[0]} channels")
    return imp.layer(i, node, "prelu", LAYER_TYPES["prelu"](shared=n == 1), x, _weight_path(node, 1))


def _lrn(imp: _Importer, i: int, node, inputs: list) -> Act:
    x = _act(inputs[0])
    return imp.layer(i, node, "lrn", LAYER_TYPES["lrn"](size=_attrs(node).get("size", 5)), x)


def _passthrough(imp: _Importer, i: int, node, inputs: list):
    return [inputs[0]] + [UNKNOWN] * (len(node.output) - 1)


def _dropout(imp: _Importer, i: int, node, inputs: list):
    x = inputs[0]
    if not isinstance(x, Act):
        return [x] + [UNKNOWN] * (len(node.output) - 1)
    y = imp.layer(i, node, "dropout", LAYER_TYPES["dropout"](), x)
    return [y] + [UNKNOWN] * (len(node.output) - 1)


def _flatten(imp: _Importer, i: int, node, inputs: list):
    x = inputs[0]
    if isinstance(x, Const):
        return Const(x.values, (math.prod(x.dims),))
    x = _act(x)
    if _attrs(node).get("axis", 1) != 1:
        raise _Unsupported("a flatten from another axis than 1")
    if len(x.shape) == 1:
        return x
    return imp.layer(i, node, "flatten", LAYER_TYPES["flatten"](), x)


def _target_shape(x: Act, target: Const, allowzero: bool, batch: int) -> list | None:
    """Reshape's target resolved against N×x: [BATCH, dims...], or None when it is not fully known.

    A -1 that stands for the batch (`[-1, 1024]`), or a batch written as a number, becomes BATCH.
    """
    full = [BATCH, *x.shape]
    out = []
    for k, v in enumerate(target.values):
        if v == 0 and not allowzero and v is not BATCH:
            if k >= len(full):
                return None
            out.append(full[k])
        elif v is None:
            return None
        else:
            out.append(v)
    known = [v for v in out if v is not BATCH and v != -1]
    if out.count(-1) > 1 or any(not isinstance(v, int) or v < 1 for v in known):
        return None
    total, rest = math.prod(x.shape), math.prod(known)
    if -1 in out:
        if BATCH in out:
            if total % rest:
                return None
            out = [total // rest if v == -1 else v for v in out]
        elif rest == total:
            out = [BATCH if v == -1 else v for v in out]
        else:
            return None
    elif BATCH not in out and out and out[0] == batch and math.prod(out[1:]) == total:
        out = [BATCH, *out[1:]]
    return out


def _reshape(imp: _Importer, i: int, node, inputs: list):
    x = inputs[0]
    if isinstance(x, Const):
        if x.values is None:
            raise _Unsupported("a reshape of an unknown constant")
        dims = list(imp.const(inputs[1], node, "its shape").values)
        known = math.prod(d for d in dims if d not in (-1, 0))
        dims = [x.dims[k] if d == 0 and k < len(x.dims) else d for k, d in enumerate(dims)]
        if dims.count(-1) == 1 and known and len(x.values) % known == 0:
            dims[dims.index(-1)] = len(x.values) // math.prod(d for d in dims if d != -1)
        if any(not isinstance(d, int) or d < 0 for d in dims) or math.prod(dims) != len(x.values):
            raise _Unsupported("a reshape of a constant to a shape that does not fit")
        return Const(x.values, tuple(dims))
    target = imp.const(inputs[1], node, "its target shape")
    if isinstance(x, GroupedView):
        c, h, w = x.x.shape
        out = _target_shape(Act(x.x.name, (c // x.groups, x.groups, h, w)), target, bool(_attrs(node).get("allowzero", 0)), imp.batch)
        if x.swapped and out is not None and tuple(out) == (BATCH, c, h, w):
            return imp.layer(i, node, "shuffle", LAYER_TYPES["shuffle"](groups=x.groups), x.x)
        raise _Unsupported("a reshape of a grouped view other than a channel shuffle's")
    x = _act(x)
    out = _target_shape(x, target, bool(_attrs(node).get("allowzero", 0)), imp.batch)
    if out is None or not out or out[0] is not BATCH:
        raise _Unsupported(f"a reshape of N×{format_shape(x.shape)} to {list(target.values)}")
    dims = tuple(out[1:])
    if dims == x.shape:
        return x
    if len(dims) == 1 and dims[0] == math.prod(x.shape):
        if len(x.shape) == 1:
            return x
        return imp.layer(i, node, "flatten", LAYER_TYPES["flatten"](), x)
    grouped = _grouped(imp, i, node, x, dims)
    if grouped is not None:
        return grouped
    raise _Unsupported(f"a reshape of N×{format_shape(x.shape)} to N×{format_shape(dims)}")


@dataclass(frozen=True)
class GroupedView:
    """x viewed as (N, g, C/g, H, W), maybe with its two group axes swapped: half a channel shuffle."""

    x: Act
    groups: int
    swapped: bool = False


def _transpose(imp: _Importer, i: int, node, inputs: list):
    view = inputs[0]
    if isinstance(view, Const) and view.values is not None and len(view.dims) == 2 and tuple(_attrs(node).get("perm", (1, 0))) == (1, 0):
        rows, cols = view.dims
        return Const(tuple(view.values[r * cols + c] for c in range(cols) for r in range(rows)), (cols, rows))
    perm = tuple(_attrs(node).get("perm", ()))
    if isinstance(view, (Act, ChannelsLast)):
        rank = len((view.x if isinstance(view, ChannelsLast) else view).shape) + 1
        perm = tuple(p % rank for p in perm)  # TorchScript writes movedim(-1, 1) as (0, -1, 1, 2)
        if perm == tuple(range(rank)):
            return view  # a move back and forth, which TorchScript's constant folding merges into one
    if isinstance(view, GroupedView) and not view.swapped and perm == (0, 2, 1, 3, 4):
        return GroupedView(view.x, view.groups, True)
    if isinstance(view, Weight) and len(view.dims) == 2 and perm in ((), (1, 0)):
        return Weight(view.name, view.dims[::-1])  # Wᵀ of a linear layer
    if isinstance(view, Act) and view.channels is None and len(view.shape) >= 2 and perm == _to_last(len(view.shape) + 1):
        return ChannelsLast(view)
    if isinstance(view, ChannelsLast) and perm == _to_first(len(view.x.shape) + 1):
        return view.x
    raise _Unsupported("a transpose other than a channel shuffle's or a move of the channels last and back")


def _grouped(imp: _Importer, i: int, node, x: Act, dims: tuple):
    """Reshape to (N, g, C/g, H, W) (→ Transpose (0, 2, 1, 3, 4) → Reshape to (N, C, H, W): a channel shuffle)."""
    if len(x.shape) != 3 or len(dims) != 4:
        return None
    c, h, w = x.shape
    g, per, dh, dw = dims
    if g * per != c or (dh, dw) != (h, w):
        return None
    return GroupedView(x, g)


def _squeeze(imp: _Importer, i: int, node, inputs: list):
    x = inputs[0]
    axes = _attrs(node).get("axes")
    if axes is None and len(inputs) > 1 and inputs[1] is not None:
        axes = imp.const(inputs[1], node, "its axes").values
    if isinstance(x, Const):
        if node.op_type == "Unsqueeze" and x.dims == ():
            return Const(x.values, (1,))
        return Const(x.values, tuple(d for d in x.dims if d != 1) if node.op_type == "Squeeze" else x.dims + (1,) * len(axes or ()))
    x = _act(x)
    rank = len(x.shape) + 1
    if node.op_type == "Squeeze" and rank >= 3 and set(x.shape[1:]) == {1} and axes is not None and sorted(a % rank for a in axes) == list(range(2, rank)):
        return imp.layer(i, node, "flatten", LAYER_TYPES["flatten"](), x)
    raise _Unsupported(f"a {node.op_type.lower()} of N×{format_shape(x.shape)}")


def _binary(kind: str) -> Handler:
    ops = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b, "sub": lambda a, b: a - b, "div": lambda a, b: a // b if isinstance(a, int) and isinstance(b, int) else a / b}

    def handle(imp: _Importer, i: int, node, inputs: list):
        values = [v for v in inputs if v is not None]
        if all(isinstance(v, Const) for v in values):
            return _const_op(values, ops[kind])
        if kind == "mul" and len(inputs) == 2 and None not in inputs:
            for (x, _), (w, w_name) in (zip(inputs, node.input), zip(inputs[::-1], node.input[::-1])):
                scaled = _layerscale(imp, i, node, x, w, w_name)
                if scaled is not None:
                    return scaled
        acts = [v for v in values if isinstance(v, Act)]
        if len(acts) != len(values) or kind in ("sub", "div"):
            raise _Unsupported(f"{kind} with a constant or weight")
        return imp.merge(i, node, kind, acts)

    return handle


def _sum(imp: _Importer, i: int, node, inputs: list):
    acts = [_act(v) for v in inputs if v is not None]
    return acts[0] if len(acts) == 1 else imp.merge(i, node, "add", acts)


def _const_op(values: list, op) -> Const:
    """Element-wise arithmetic on two small constants (shape computations); unknown where a value is."""
    a, b = values
    if a.values is None or b.values is None:
        return Const(None, a.dims)
    av, bv = list(a.values), list(b.values)
    n = max(len(av), len(bv))
    if len(av) not in (1, n) or len(bv) not in (1, n):
        return Const(None, a.dims)
    av, bv = av * (n // len(av)), bv * (n // len(bv))
    out = []
    for x, y in zip(av, bv):
        try:
            out.append(None if x is None or y is None or x is BATCH or y is BATCH else op(x, y))
        except (ZeroDivisionError, OverflowError, TypeError):
            out.append(None)
    return Const(tuple(out), a.dims if len(a.values) >= len(b.values) else b.dims)


def _concat(imp: _Importer, i: int, node, inputs: list):
    values = [v for v in inputs if v is not None]
    if all(isinstance(v, Const) for v in values):
        if any(v.values is None for v in values):
            return Const(None, (len(values),))
        return Const(tuple(x for v in values for x in v.values), (sum(len(v.values) for v in values),))
    acts = [_act(v, "an input") for v in values]
    axis = _attrs(node).get("axis", 1)
    rank = len(acts[0].shape) + 1
    if axis % rank != 1:
        raise _Unsupported("a concatenation along another axis than the channels")
    return acts[0] if len(acts) == 1 else imp.merge(i, node, "concat", acts)


def _shape(imp: _Importer, i: int, node, inputs: list) -> Const:
    x = inputs[0]
    if isinstance(x, Cropped):
        dims = (BATCH, x.x.shape[0], *(stop - start for start, stop in x.box))
    elif isinstance(x, ChannelsLast):
        dims = (BATCH, *x.x.shape[1:], x.x.shape[0])
    else:
        dims = (BATCH, *x.shape) if isinstance(x, Act) else tuple(x.dims)
    attrs = _attrs(node)
    start, end = attrs.get("start", 0), attrs.get("end", len(dims))
    values = dims[start:end]
    return Const(values, (len(values),))


def _constant(imp: _Importer, i: int, node, inputs: list) -> Const:
    attrs = _attrs(node)
    if "value" in attrs and attrs["value"] is not None:
        tensor = attrs["value"]
        return Const(_tensor_values(tensor, None), tuple(tensor.dims))
    for key in ("value_int", "value_float"):
        if key in attrs:
            return Const((attrs[key],), ())
    for key in ("value_ints", "value_floats"):
        if key in attrs:
            return Const(tuple(attrs[key]), (len(attrs[key]),))
    raise _Unsupported("a constant of a kind groupcost does not read")


def _constant_of_shape(imp: _Importer, i: int, node, inputs: list) -> Const:
    dims = imp.const(inputs[0], node, "its shape").values
    if any(not isinstance(d, int) or d < 0 for d in dims) or math.prod(dims) > SMALL:
        raise _Unsupported("a constant of an unknown or large shape")
    tensor = _attrs(node).get("value")
    fill = (_tensor_values(tensor, None) or (0,))[0] if tensor is not None else 0
    return Const((fill,) * math.prod(dims), tuple(dims))


def _gather(imp: _Importer, i: int, node, inputs: list) -> Const:
    data, index = inputs[0], inputs[1]
    if isinstance(data, Act):
        raise _Unsupported("a gather from an activation")
    data, index = imp.const(data, node, "its data"), imp.const(index, node, "its indices")
    if _attrs(node).get("axis", 0) != 0 or len(data.dims) != 1:
        raise _Unsupported("a gather of other than a shape")
    try:
        values = tuple(data.values[k] for k in index.values)
    except (IndexError, TypeError):
        raise imp.fail(node, f"index {list(index.values)} outside {len(data.values)} values") from None
    return Const(values, tuple(index.dims))


def _cast(imp: _Importer, i: int, node, inputs: list):
    x = inputs[0]
    if isinstance(x, Const) and x.values is not None:
        to = _attrs(node).get("to", 1)
        if to in (6, 7, 2, 3, 5):
            return Const(tuple(v if v is BATCH or v is None else int(v) for v in x.values), x.dims)
        return x
    if isinstance(x, Act):
        return x  # a precision change: same tensor for counting
    raise _Unsupported("a cast of an unknown value")


def _split(imp: _Importer, i: int, node, inputs: list):
    x = _act(inputs[0])
    attrs = _attrs(node)
    if attrs.get("axis", 0) % (len(x.shape) + 1) != 1:
        raise _Unsupported("a split along another axis than the channels")
    sizes = attrs.get("split")
    if sizes is None and len(inputs) > 1 and inputs[1] is not None:
        sizes = imp.const(inputs[1], node, "its sizes").values
    channels = x.shape[0] if x.channels is None else x.channels[1] - x.channels[0]
    n = len(node.output)
    if sizes is None:
        if channels % n and "num_outputs" not in attrs:
            raise imp.fail(node, f"cannot split {channels} channels into {n} equal parts")
        step = -(-channels // n)
        sizes = [min(step, channels - k * step) for k in range(n)]
    if sum(sizes) != channels or len(sizes) != n or any(s < 1 for s in sizes):
        raise imp.fail(node, f"splits {channels} channels as {list(sizes)}")
    start = 0 if x.channels is None else x.channels[0]
    out = []
    for size in sizes:
        out.append(_slice_of(x, start, start + size))
        start += size
    return out


def _slice_of(x: Act, start: int, stop: int) -> Act:
    """Channels [start, stop) of the step's output x reads (absolute offsets); all of it is x itself."""
    if x.channels is None and (start, stop) == (0, x.shape[0]):
        return x
    return Act(x.name, (stop - start, *x.shape[1:]), (start, stop))


def _bound(index: int, width: int) -> int:
    """A Slice bound as ONNX reads it: negative counts from the end, then clamped to [0, width]."""
    return max(0, min(width, index + width if index < 0 else index))


def _slice(imp: _Importer, i: int, node, inputs: list):
    x = inputs[0]
    attrs = _attrs(node)
    starts = attrs.get("starts") if "starts" in attrs else imp.const(inputs[1], node, "its starts").values
    ends = attrs.get("ends") if "ends" in attrs else imp.const(inputs[2], node, "its ends").values
    axes = attrs.get("axes") if "axes" in attrs else (imp.const(inputs[3], node, "its axes").values if len(inputs) > 3 and inputs[3] is not None else tuple(range(len(starts))))
    steps = imp.const(inputs[4], node, "its steps").values if len(inputs) > 4 and inputs[4] is not None else (1,) * len(starts)
    if isinstance(x, Const):
        if x.values is None or len(axes) != 1 or axes[0] % max(len(x.dims), 1) != 0 or not x.dims:
            raise _Unsupported("a slice of a constant other than along its first axis")
        rows, width = x.dims[0], math.prod(x.dims[1:])
        picked = range(rows)[slice(starts[0], ends[0], steps[0])]  # Python's slice clamps as ONNX does
        values = tuple(v for r in picked for v in x.values[r * width:(r + 1) * width])
        return Const(values, (len(picked), *x.dims[1:]))
    if isinstance(x, Cropped) or (isinstance(x, Act) and x.channels is None and len(axes) and all(2 <= a % (len(x.shape) + 1) for a in axes)):
        return _spatial_slice(imp, i, node, x, starts, ends, axes, steps)
    x = _act(x)
    rank = len(x.shape) + 1
    if len(axes) != 1 or axes[0] % rank != 1 or steps[0] != 1:
        raise _Unsupported("a slice of other than a channel range or a spatial window")
    width = x.shape[0]
    start, stop = _bound(starts[0], width), _bound(ends[0], width)
    if stop <= start:
        raise imp.fail(node, f"takes no channels ({starts[0]}:{ends[0]} of {width})")
    offset = 0 if x.channels is None else x.channels[0]
    if x.channels is None and (start, stop) == (0, width):
        return x
    return Act(x.name, (stop - start, *x.shape[1:]), (offset + start, offset + stop))


@dataclass(frozen=True)
class Cropped:
    """A spatial window of x, (start, stop) per spatial dimension: a centre `crop` once something reads it."""

    x: Act
    box: tuple[tuple[int, int], ...]
    first: int  # the index of the first Slice: the crop layer's name and location


def _spatial_slice(imp: _Importer, i: int, node, x, starts, ends, axes, steps) -> Cropped:
    view = x if isinstance(x, Cropped) else Cropped(x, tuple((0, n) for n in x.shape[1:]), i)
    rank = len(view.x.shape) + 1
    box = list(view.box)
    for start, stop, axis, step in zip(starts, ends, axes, steps):
        axis %= rank
        if axis < 2 or step != 1 or start is None or stop is None:
            raise _Unsupported("a slice of a spatial window along the batch or the channels, or with a step")
        lo, hi = box[axis - 2]
        width = hi - lo
        start, stop = _bound(start, width), _bound(stop, width)
        if stop <= start:
            raise imp.fail(node, f"takes nothing of axis {axis} ({width} long)")
        box[axis - 2] = (lo + start, lo + stop)
    return Cropped(view.x, tuple(box), view.first)


@dataclass(frozen=True)
class ChannelsLast:
    """x with its channels moved last (a Transpose to N×…×C), as a channels-last LayerNorm or Linear reads it."""

    x: Act


def _to_last(rank: int) -> tuple[int, ...]:
    return (0, *range(2, rank), 1)


def _to_first(rank: int) -> tuple[int, ...]:
    return (0, rank - 1, *range(1, rank - 1))


def _layernorm(imp: _Importer, i: int, node, inputs: list):
    """LayerNormalization over the last axis: the channels of a channels-last view, or a feature vector."""
    x, scale = inputs[0], inputs[1]
    view = isinstance(x, ChannelsLast)
    act = x.x if view else _act(x)
    rank = len(act.shape) + 1
    attrs = _attrs(node)
    if attrs.get("axis", -1) % rank != rank - 1 or not (view or rank == 2):
        raise _Unsupported("a layer norm over other than the channels")
    bias = inputs[2] if len(inputs) > 2 else None
    c = act.shape[0]
    if not isinstance(scale, (Weight, Const)) or math.prod(scale.dims) != c or not isinstance(bias, (Weight, Const)) or math.prod(bias.dims) != c:
        raise _Unsupported(f"a layer norm without a scale and a shift of {c} values each")
    eps = float(f"{attrs.get('epsilon', 1e-5):.6g}")  # the attribute is float32: 1e-6 reads 9.99999997e-07
    y = imp.layer(i, node, "layernorm", LAYER_TYPES["layernorm"](eps=eps), act, _weight_path(node, 1))
    return ChannelsLast(y) if view else y


def _layerscale(imp: _Importer, i: int, node, x, weight, tensor: str) -> Act | ChannelsLast | None:
    """x times a learnable tensor of one value per channel: `layerscale` (ConvNeXt), else None.

    Named after `tensor`, the name the Mul reads (an Identity may alias another initializer).
    """
    view = isinstance(x, ChannelsLast)
    act = x.x if view else x
    learnable = isinstance(weight, Weight) or (isinstance(weight, Const) and tensor in imp.initializers)  # ≤ 8 values read as a Const
    if not isinstance(act, Act) or act.channels is not None or not learnable or len(act.shape) < 2:
        return None
    c, rank = act.shape[0], len(act.shape)
    dims = tuple(weight.dims)
    fits = (c,) if view else (c, *(1,) * (rank - 1))
    if dims[-len(fits):] != fits or any(d != 1 for d in dims[:-len(fits)]) or len(dims) > rank + 1:
        return None
    name = tensor if _LAYER_NAME.fullmatch(tensor) and not tensor.startswith("onnx") else None
    if name and name.endswith(".layer_scale") and name[: -len(".layer_scale")] == imp.paths[i]:
        name = imp.paths[i]  # groupcost's own export: `{layer}.layer_scale`
    y = imp.layer(i, node, "layerscale", LAYER_TYPES["layerscale"](), act, _clean(name) if name else None)
    return ChannelsLast(y) if view else y


def _resize(imp: _Importer, i: int, node, inputs: list) -> Act:
    """Resize as torch's interpolate writes it: nearest (any rank) or linear (bilinear, trilinear), by scales or sizes."""
    x = _act(inputs[0])
    c, dims = _feature_map(x, node)
    rank = len(dims)
    attrs = _attrs(node)
    mode = attrs.get("mode", "nearest")
    if mode not in ("nearest", "linear"):
        raise _Unsupported(f"a {mode} resize (groupcost's upsample is nearest or linear)")
    if attrs.get("axes") is not None:
        raise _Unsupported("a resize along chosen axes")
    transform = attrs.get("coordinate_transformation_mode", "half_pixel")
    if mode == "linear" and transform not in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        raise _Unsupported(f"a linear resize with coordinates '{transform}' (torch's are half_pixel or align_corners)")
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


HANDLERS: dict[str, Handler] = {
    "Conv": _conv,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "BatchNormalization": _batchnorm,
    "MaxPool": _pool("maxpool"),
    "AveragePool": _pool("avgpool"),
    "GlobalAveragePool": _global_pool("gap"),
    "GlobalMaxPool": _global_pool("gmp"),
    "ReduceMean": _reduce("gap"),
    "ReduceMax": _reduce("gmp"),
    "ConvTranspose": _conv_transpose,
    "Resize": _resize,
    "LayerNormalization": _layernorm,
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
    "Identity": _passthrough,
    "Dropout": _dropout,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Pad": _pad,
    "Squeeze": _squeeze,
    "Unsqueeze": _squeeze,
    "Add": _binary("add"),
    "Mul": _binary("mul"),
    "Sub": _binary("sub"),
    "Div": _binary("div"),
    "Sum": _sum,
    "Concat": _concat,
    "Split": _split,
    "Slice": _slice,
    "Shape": _shape,
    "Constant": _constant,
    "ConstantOfShape": _constant_of_shape,
    "Gather": _gather,
    "Cast": _cast,
}
"""Every ONNX operator groupcost reads, in the default domain; anything else is unsupported."""
