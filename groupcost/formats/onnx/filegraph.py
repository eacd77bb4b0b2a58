"""The file's graph as the import first reads it: its nodes in an order where each follows its inputs'
producers, its initializers checked (external data for existence and size, never opened), its one input."""

from __future__ import annotations

import heapq
import math
from pathlib import Path
from collections.abc import Callable, Mapping
from typing import Any

from groupcost.formats.onnx.values import Const, FileLocation, OnnxError, Value, Weight, tensor_values
from groupcost.graph.builder import MAX_ELEMENTS

Fail = Callable[..., OnnxError]
"""(node, message, hint=None) → the error naming that node."""

DTYPES = {1: "float32", 10: "float16", 16: "bfloat16", 11: "float64", 3: "int8", 2: "uint8", 5: "int16", 6: "int32"}


def nodes_in_order(graph, initializers: Mapping[str, Any], fail: Fail) -> list:
    """The nodes in an order where each follows its inputs' producers: the file's own when it is one."""
    produced: dict[str, int] = {}
    available = {i.name for i in graph.input} | set(initializers) | {""}
    for k, node in enumerate(graph.node):
        for out in node.output:
            if out and (out in produced or out in available):
                raise fail(node, f"output '{out}' is also produced elsewhere", "an ONNX tensor has one producer")
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
                raise fail(node, f"input '{name}' is produced by no node, initializer or graph input", "the graph is incomplete")
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
        raise fail(graph.node[stuck], "is part of a cycle", "an ONNX graph must be acyclic")
    return order


def initializer_values(initializers: Mapping[str, Any], order: list, folder: Path | None, loc: FileLocation, fail: Fail) -> dict[str, Value]:
    """Each initializer as a Const (integers and small tensors, with their values) or a Weight, after checking
    its dimensions and, where it is stored outside the file, that its data file is there and long enough."""
    values_by_name: dict[str, Value] = {}
    first_reader: dict[str, Any] = {}
    for node in order:
        for name in node.input:
            first_reader.setdefault(name, node)
    sizes: dict[str, int] = {}
    for name, tensor in initializers.items():
        node = first_reader.get(name)
        dims = tuple(tensor.dims)
        if any(d < 0 for d in dims):
            raise fail(node, f"initializer '{name}' has a negative dimension: {list(dims)}") if node is not None else OnnxError(f"initializer '{name}' has a negative dimension", None, loc)
        if math.prod(dims) > MAX_ELEMENTS:
            raise fail(node, f"initializer '{name}' has {math.prod(dims):,} elements, more than 2^40") if node is not None else OnnxError(f"initializer '{name}' is too large", None, loc)
        if tensor.data_location == 1:
            info = {e.key: e.value for e in tensor.external_data}
            where = info.get("location", "")
            if folder is None or not where or Path(where).is_absolute() or ".." in Path(where).parts:
                raise fail(node, f"initializer '{name}' points to external data '{where}' that cannot be read safely", "keep the data file beside the model")
            file = folder / where
            if where not in sizes:
                try:
                    sizes[where] = file.stat().st_size
                except OSError:
                    raise fail(node, f"its initializer '{name}' is stored in '{where}', which does not exist", f"copy {where} beside {Path(loc.path).name}") from None
            try:
                end = int(info.get("offset", 0)) + int(info.get("length", 0))
            except ValueError:
                raise fail(node, f"initializer '{name}': external data offset or length is not a number") from None
            if end > sizes[where]:
                raise fail(node, f"initializer '{name}' ends at byte {end:,} of '{where}', which has {sizes[where]:,}", "the data file is truncated or from another export")
        values = tensor_values(tensor, folder) if tensor.data_type in (6, 7) or math.prod(dims) <= 8 else None
        values_by_name[name] = Const(values, dims) if values is not None else Weight(name, dims)
    return values_by_name


def graph_input(graph, initializers: Mapping[str, Any], loc: FileLocation) -> tuple[str, str, list[int | None]]:
    """The graph's one input: its name, dtype and dimensions (the batch None where it is symbolic)."""
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise OnnxError(f"the graph has {len(inputs)} inputs ({', '.join(i.name for i in inputs) or 'none'}); groupcost reads networks with one", None, loc)
    value = inputs[0]
    tensor_type = value.type.tensor_type
    if tensor_type.elem_type not in (1, 10, 16, 11):
        raise OnnxError(f"input '{value.name}' is not a floating-point tensor", "groupcost reads image models (N×C×H×W) and feature vectors (N×F)", loc)
    if not tensor_type.HasField("shape"):
        raise OnnxError(f"input '{value.name}' has no shape", "export with a fixed input size", loc)
    dims = []
    for k, d in enumerate(tensor_type.shape.dim):
        if d.HasField("dim_value"):
            if d.dim_value < 1:
                raise OnnxError(f"input '{value.name}' has dimension {k} = {d.dim_value}", "dimensions must be positive", loc)
            dims.append(d.dim_value)
        elif k == 0:
            dims.append(None)
        else:
            raise OnnxError(f"input '{value.name}' has a symbolic dimension {k} ('{d.dim_param}')", "only the batch may be symbolic: export with a fixed input size", loc)
    if len(dims) not in (2, 3, 4, 5):
        shown = "×".join("N" if d is None else str(d) for d in dims)
        raise OnnxError(f"input '{value.name}' is {shown or 'a scalar'}", "groupcost reads feature vectors (N×F), signals (N×C×L), images (N×C×H×W) and videos (N×C×T×H×W); this looks like another kind of model", loc)
    return value.name, DTYPES.get(tensor_type.elem_type, "float32"), dims
