"""Reading an ONNX file or bytes: shapes and attributes only, weights never read.

The file is read in small chunks and its large tensor payloads are left out before protobuf parses it
(groupcost.formats.onnx.wire), so neither time nor memory grows with the weights; only the `onnx`
package's generated message classes are loaded (the `[onnx]` extra). Every weight's size comes
from its initializer's dims; an external-data file is checked for existence and size, never
opened. The parsed model goes through the import engine (groupcost.formats.onnx.importer) with
the operators it reads (groupcost.formats.onnx.operators).
"""

from __future__ import annotations

import sys
from pathlib import Path

from groupcost.formats.onnx.operators import OPERATORS
from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.values import FileLocation, OnnxError, require_onnx
from groupcost.formats.onnx.wire import FileBytes, WireError, without_weights
from groupcost.graph.network import Network

MAX_BYTES = 2**31 - 1  # protobuf cannot parse a larger message; weights beyond it go to external data
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
        _MODEL_PROTO = require_onnx().ModelProto
    return _MODEL_PROTO


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
            slim = without_weights(FileBytes(f.fileno(), size), path.name)
        model = model_proto()
        model.ParseFromString(slim)
        del slim
    except OSError as exc:
        raise OnnxError(f"cannot read: {exc.strerror or exc}", None, FileLocation(label)) from None
    except WireError as exc:
        raise OnnxError(f"not an ONNX model ({exc})", "is the file complete?", FileLocation(label)) from None
    except Exception as exc:  # protobuf's DecodeError and friends: truncated, not protobuf
        raise OnnxError(f"not an ONNX model ({type(exc).__name__}: {str(exc) or 'cannot parse'})", "is the file complete?", FileLocation(label)) from None
    return network_from_model(model, label, path.parent, allow_unknown=allow_unknown, name=name or path.stem)


def read_bytes(data: bytes, label: str, *, allow_unknown: bool = False, name: str = "model", buffers: frozenset[str] = frozenset()) -> Network:
    """The network in an in-memory ONNX model (torch imports); no external data. `buffers`: the module's buffers, by
    their state_dict names (a file cannot tell them from parameters)."""
    model = _model_proto()()
    try:
        model.ParseFromString(data)
    except Exception as exc:
        raise OnnxError(f"not an ONNX model ({type(exc).__name__})", None, FileLocation(label)) from None
    return network_from_model(model, label, None, allow_unknown=allow_unknown, name=name, buffers=buffers)


def network_from_model(model, label: str, folder: Path | None, *, allow_unknown: bool = False, name: str = "model",
                       buffers: frozenset[str] = frozenset()) -> Network:
    if not model.HasField("graph") or not model.graph.node:
        raise OnnxError("no graph, or a graph without nodes", "is this an ONNX model?", FileLocation(label))
    return Importer(model, label, folder, allow_unknown, name, OPERATORS, buffers).run()
