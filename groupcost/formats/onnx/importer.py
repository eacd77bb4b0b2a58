"""The import engine: an ONNX graph's nodes, in order, through their handlers into a GraphBuilder.

It reads the file's graph (groupcost.formats.onnx.filegraph: the nodes in order, the initializers
and the input checked), runs the pattern recognisers, then gives each node its
operator's handler (groupcost.formats.onnx.operators) and records what it makes. Names come from
module paths (groupcost.formats.onnx.names); every error is one line naming the node:
`model.onnx: error: node '/layer1/layer1.0/conv1/Conv' (Conv): ...`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from groupcost.formats.onnx.arranged import made
from groupcost.formats.onnx.filegraph import graph_input, initializer_values, nodes_in_order
from groupcost.formats.onnx.names import (PRODUCER, clean, module_path, norm_owners, output_owners, parameter_module, renamed, skipped_containers,
                                          weight_path, weighted_owners)
from groupcost.formats.onnx.tied import merged_fill, merged_parameter, one_trained_parameter
from groupcost.formats.onnx.values import (UNKNOWN, Act, Arranged, ChannelsLast, Const, Cropped, FileLocation, GroupedView, OnnxError, Sequences, TokensFirst, Unknown, Unsupported, Value,
                                           Weight, attributes, require_onnx)
from groupcost.formats.onnx.wire import MAX_NODES
from groupcost.graph.builder import GraphBuilder
from groupcost.graph.check import check, share_problem
from groupcost.graph.network import INPUT, Network
from groupcost.ops import LAYER_TYPES, Layer, LayerError, Shape, format_shape

@dataclass(frozen=True)
class Recognised:
    """A multi-node pattern read as one layer: its last node computes `layer` of the tensor `source`
    (the pattern's other nodes are consumed); `what` names it where `source` is unknown."""

    source: str
    layer: Layer | None
    what: str
    elementwise: bool = False  # the same layer in either layout: a channels-last view stays one
    channels: int | None = None  # the channels `source` must have for the pattern to hold (its per-channel constants' size)
    resolve: Callable[[Importer, Act], Layer | None] | None = None
    """Where the layer depends on values known only once the handlers have run (a decoding's anchors): its
    layer, or None where the values say it is not the pattern; its `members` are then read one by one."""
    members: tuple[int, ...] = ()
    completed: Callable[[Any], Layer | None] | None = None  # the layer from the source's value, where `layer` depends on its shape (None: it cannot be read; its `members` then read one by one)
    rank: int | None = None  # the rank (batch included) `source` must have, where the pattern's axes assume one
    channels_last: bool | None = None  # whether `source` must be a channels-last view (True) or not (False), where the axes say
    parameters: tuple[str, ...] = ()  # the initializers holding the layer's parameters: a module called again shares them (a group norm in RetinaNet's towers)
    name: str | None = None  # the step's module path where the last node's is not the layer's (a projection's conv inside the block's Add)
    reshaped: Callable[[], tuple[int, ...] | None] | None = None  # the shape `source` has first where the exporter merged a Reshape of it into the pattern's own (a group norm's); None: its own


@dataclass(frozen=True)
class Operators:
    """What the engine dispatches to: a handler per ONNX operator of the default domain, the operators
    that read a cropped window as it is, the recognisers of multi-node patterns (run first), and what
    reads arithmetic on weights (weight standardisation) before any handler."""

    handlers: Mapping[str, Handler]
    window_readers: frozenset[str]
    recognisers: tuple[Callable[[Importer], None], ...]
    on_weights: Callable[[Importer, Any, list], Any] | None = None  # constants, tables and weights, before the handler (or where none is); None where it is not
    merged: Callable[[Importer, int, Any, list], tuple[list | None, list]] | None = None
    """Tensors whose first dim merges the batch with others (groupcost.formats.onnx.windows): (the node's outputs, or
    None for the handlers to read it, and its inputs as they are to read them)."""
    finishers: tuple[Callable[[Importer], None], ...] = ()  # checks over the whole graph once every node is read


class Importer:
    """One import: the state the handlers read and write (values by tensor name, readers, paths), and
    the GraphBuilder they add layers to through `layer` and `merge`."""

    def __init__(self, model, label: str, folder: Path | None, allow_unknown: bool, name: str, operators: Operators,
                 buffers: frozenset[str] = frozenset()):
        self.model, self.graph, self.label, self.folder = model, model.graph, label, folder
        self.buffers = buffers  # the module's buffers, where the reader knows them (`torch:`)
        self.fixed_tensors: dict[str, str] | None = None  # initializers that hold no parameter → why (optimised.fixed_tensor)
        self.allow_unknown, self.name, self.operators = allow_unknown, name, operators
        self.loc = FileLocation(label)
        self.env: dict[str, Value] = {}
        self.initializers = {t.name: t for t in self.graph.initializer}
        self.builder: GraphBuilder | None = None  # made once the input is read
        self.unsupported: dict[str, str] = {}
        self.consumed: set[int] = set()
        self.batch = 1
        self.folded_bn = 0
        self.step_paths: dict[str, str] = {}  # a step made by layer() or merge() → its node's module path (names.output_owners)
        self.module_calls: dict[tuple[str, str], tuple[int, tuple[str, ...], str]] = {}  # (a weight, '' or a constant fill's module) → its first reader: (node, the weights it reads, its step)
        self.fx_users: dict[str, int] = {}  # an FX node's name → its users, as torch.export's metadata says
        self.redirected: dict[int, set[int]] | None = None  # torch.export's merged computations, by reader (groupcost.formats.onnx.optimised)
        self.fills: dict[str, bool] = {}  # a kernel → whether it is a constant fill (tied.merged_fill), decided at its first reader
        self.tables: dict[str, int] = {}  # a gathered table's initializer → the node that adds it (it counts once)
        self.opaque: list[str] = []
        self.inferred: dict[str, tuple] | None = None
        self.opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=1)
        self.order_index: dict[int, int] = {}
        self.crops: dict = {}  # Cropped view → its crop layer's output, made once
        self.aliases: dict[str, str] = {}  # an Identity's output → its input
        self.views: dict = {}  # ChannelsLast or GroupedView → the layers it stands for, made once
        self.weight_slices: dict[str, tuple[str, tuple]] = {}  # a Slice of a weight's output → (the weight, the block it takes)

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
        order = nodes_in_order(graph, self.initializers, self.fail)
        self.order_index = {id(n): i for i, n in enumerate(order)}
        self.consumers: dict[str, list[int]] = {}
        self.producers = {out: i for i, node in enumerate(order) for out in node.output if out}
        for i, node in enumerate(order):
            for name in node.input:
                if name:
                    self.consumers.setdefault(name, []).append(i)
        for name in graph.output:
            self.consumers.setdefault(name.name, []).append(-1)
        self.order = order
        self.env.update(initializer_values(self.initializers, order, self.folder, self.loc, self.fail))
        input_name, self.dtype, dims = graph_input(graph, self.initializers, self.loc)
        self.batch = dims[0] or 1
        self.builder = GraphBuilder(tuple(dims[1:]), self.batch, self.loc, input_label=f"input '{input_name}'", error=OnnxError, limit_hint=None, first_copy=1)
        self.env[input_name] = self.builder.input
        self.paths = skipped_containers([clean(module_path(n, own=self.model.producer_name == PRODUCER)) for n in order], order, self.consumers)
        self.containers = {p[:i] for p in self.paths for i, ch in enumerate(p) if ch == "."}
        self.modules = set(self.paths) | self.containers  # every module a node's path names, called once or again
        self.owners = {name[:k] for name in self.initializers for k, ch in enumerate(name) if ch == "."}  # the modules parameters name
        self.recognised: dict[int, Recognised] = {}
        for recognise in self.operators.recognisers:
            recognise(self)
        for i, node in enumerate(order):
            if i in self.recognised:
                self.pattern(i, node, self.recognised[i])
            elif i not in self.consumed:
                self.convert(i, node)
        if self.unsupported:
            listed = ", ".join(f"{op} (node '{where}'{': ' + why if why else ''})" for op, (where, why) in self.unsupported.items())
            raise OnnxError(f"unsupported operators: {listed}", "`groupcost import --allow-unknown` keeps them as opaque layers in a spec", self.loc)
        for finish in self.operators.finishers:
            finish(self)
        outputs = []
        for out in graph.output:
            value = self.env.get(out.name)
            if isinstance(value, Cropped):
                value = self.cropped(value)
            if isinstance(value, Arranged):
                try:
                    value = self.arranged(value)
                except Unsupported as exc:
                    raise OnnxError(f"graph output '{out.name}' is {exc.reason}", None, self.loc) from None
            if isinstance(value, ChannelsLast) and out.name in self.producers:  # tokens N × L × C (YOLOS's boxes per detection token)
                value = self.materialized(self.producers[out.name], self.order[self.producers[out.name]], value)
            if isinstance(value, Act) and value.name != INPUT and value.channels is not None:
                value = self.sliced_output(out.name, value)
            if not isinstance(value, Act) or value.name == INPUT or value.channels is not None:
                raise OnnxError(f"graph output '{out.name}' is not the output of a layer groupcost can name", None, self.loc)
            outputs.append(value.name)
        notes = []
        if self.folded_bn:
            notes.append(f"BatchNorm folded into {self.folded_bn} convolutions by the exporter: params count the graph (a bias of C), C fewer per conv + BN pair than the PyTorch model (C more where the norm has no affine parameters)")
        if self.opaque:
            notes.append(f"opaque operators, shapes from ONNX shape inference, params from initializers, no MACs: {', '.join(self.opaque)}")
        from groupcost.language.document import DTYPE_BYTES

        renames = weighted_owners(self.builder.nodes) | norm_owners(self.builder.nodes) | output_owners(self.builder.nodes, self.step_paths)
        if renames:
            self.builder.nodes = [renamed(step, renames) for step in self.builder.nodes]
            outputs = [renames.get(name, name) for name in outputs]
        network = self.builder.network(self.name, f"imported from {Path(self.label).name}", self.label, self.dtype, DTYPE_BYTES[self.dtype], {},
                                       tuple(outputs), notes)
        check(network)  # views and channel ranges are wired by hand here; a few hundred nodes check in well under a millisecond
        return network

    def sliced_output(self, name: str, value: Act) -> Act:
        """A graph output that is a channel range of a layer (a head returning `x[:, -k:]`): a `slice` step."""
        i = self.producers[name]
        source = next(step for step in self.builder.nodes if step.name == value.name)
        start, stop = value.channels
        return self.layer(i, self.order[i], "slice", LAYER_TYPES["slice"](start=start, stop=stop), Act(value.name, source.out_shape))

    def convert(self, i: int, node) -> None:
        """One node through its operator's handler."""
        handler = self.operators.handlers.get(node.op_type) if node.domain in ("", "ai.onnx") else None
        inputs = [self.env.get(n, UNKNOWN) if n else None for n in node.input]
        if handler is None or node.op_type not in self.operators.window_readers:
            inputs = [self.cropped(v) if isinstance(v, Cropped) else v for v in inputs]
        if any(isinstance(v, Unknown) for v in inputs if v is not None):
            self.unknown(i, node, inputs, None if handler is None else "")
            return
        if self.operators.merged is not None:
            try:
                read = self.operators.merged(self, i, node, inputs)
            except Unsupported as exc:
                self.unknown(i, node, inputs, exc.reason)
                return
            except LayerError as exc:
                raise self.fail(node, exc.message, exc.hint) from None
            outputs, inputs = read
            if outputs is not None:
                for out_name, value in zip(node.output, outputs):
                    self.env[out_name] = value
                return
        if node.op_type not in ("Reshape", "Transpose", "Shape"):  # a rearrangement read by anything else: the layers it stands for
            try:
                inputs = [self.arranged(v) if isinstance(v, Arranged) else v for v in inputs]
            except Unsupported as exc:
                self.unknown(i, node, inputs, exc.reason)
                return
        layout = next((type(v) for v in inputs if isinstance(v, (TokensFirst, Sequences))), None)
        if node.op_type == "Transpose" or (node.op_type in ("Reshape", "Shape") and layout is Sequences):
            layout = None  # an operator that reads the layout itself
        tokens_first = layout is not None
        if tokens_first and node.op_type in ("Add", "Mul") and all(isinstance(v, layout) for v in inputs if v is not None):
            try:  # two activations in the same layout: their merge, in that layout
                self.env[node.output[0]] = layout(self.merge(i, node, node.op_type.lower(), [v.x for v in inputs if v is not None]))
            except Unsupported as exc:
                self.unknown(i, node, inputs, exc.reason)
            return
        if tokens_first:
            if node.op_type not in ON_CHANNELS_LAST or any(isinstance(v, (Act, ChannelsLast, GroupedView, TokensFirst, Sequences)) and not isinstance(v, layout) for v in inputs) \
                    or (layout is Sequences and (_positive_axis(node) or (node.op_type == "MatMul" and not any(isinstance(v, (Const, Weight)) for v in inputs)))) \
                    or any(isinstance(v, (Const, Weight)) and len(v.dims) > 1 and node.op_type != "MatMul" for v in inputs):
                self.unknown(i, node, inputs, _LAYOUT_REFUSALS[layout])
                return
            inputs = [ChannelsLast(v.x) if isinstance(v, layout) else v for v in inputs]  # the same operator on the channels, whichever axis the batch is
        consumed_before = set(self.consumed) if tokens_first else set()
        try:
            on_weights = self.operators.on_weights(self, node, inputs) if self.operators.on_weights is not None else None
            if handler is None and on_weights is None:  # an operator read on constants alone (a positional encoding's Sin)
                self.unknown(i, node, inputs, None)
                return
            outputs = on_weights if on_weights is not None else handler(self, i, node, inputs)
        except Unsupported as exc:
            # a view (channels last, grouped) that this operator does not read as such: made a layer, and tried again
            if tokens_first or not any(isinstance(v, (ChannelsLast, GroupedView)) for v in inputs):
                self.unknown(i, node, inputs, exc.reason)
                return
            inputs = [self.materialized(i, node, v) if isinstance(v, (ChannelsLast, GroupedView)) else v for v in inputs]
            try:
                outputs = handler(self, i, node, inputs)
            except Unsupported as again:
                self.unknown(i, node, inputs, again.reason)
                return
            except LayerError as again:
                raise self.fail(node, again.message, again.hint) from None
        except LayerError as exc:
            raise self.fail(node, exc.message, exc.hint) from None
        if tokens_first:
            for k in self.consumed - consumed_before:  # a node the handler read with this one (a linear's bias Add)
                for out in self.order[k].output:
                    if isinstance(self.env.get(out), ChannelsLast):
                        self.env[out] = layout(self.env[out].x)
        if outputs is None:
            return
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        if tokens_first:
            outputs = [layout(v.x) if isinstance(v, ChannelsLast) else v for v in outputs]
        for out_name, value in zip(node.output, outputs):
            self.env[out_name] = value

    def pattern(self, i: int, node, found: Recognised) -> None:
        """The last node of a recognised pattern: its layer, of the pattern's source."""
        x = self.env.get(found.source)
        if isinstance(x, Cropped):
            x = self.cropped(x)
        if isinstance(x, Arranged):
            try:
                x = self.env[found.source] = self.arranged(x)
            except Unsupported as exc:
                self.unknown(i, node, [x], exc.reason)
                return
        view = None
        if isinstance(x, (ChannelsLast, TokensFirst, Sequences)) and (found.elementwise or (found.channels_last is not None and isinstance(x, ChannelsLast))):
            view = type(x)
        if view is not None:
            x = x.x
        layer = found.layer
        if found.resolve is not None:
            layer = found.resolve(self, x) if isinstance(x, Act) else None
            if layer is None:  # not the pattern after all: each node as its handler reads it
                return self._members_read(i, found)
        if not isinstance(x, Act):
            self.unknown(i, node, [x], f"{found.what} of an unknown tensor")
            return
        if found.channels is not None and x.shape[0] != found.channels and found.completed is not None and found.members:
            return self._members_read(i, found)  # its tokens in another layout (a window's, the batch alone): not its layer
        if found.channels is not None and x.shape[0] != found.channels:
            self.unknown(i, node, [x], f"{found.what} whose per-channel constants do not fit {x.shape[0]} channels")
            return
        if (found.rank is not None and len(x.shape) + 1 != found.rank) or (found.channels_last is not None and (view is ChannelsLast) != found.channels_last):
            self.unknown(i, node, [x], f"{found.what} whose axes are not the channels and positions of its input")
            return
        if found.completed is not None:
            layer = found.completed(self.env.get(found.source))
            if layer is None and found.members:  # not the pattern's layer after all: each node as its handler reads it
                return self._members_read(i, found)
            if layer is None:
                self.unknown(i, node, [x], f"{found.what} whose arguments cannot be read from its operators")
                return
        shape = found.reshaped() if found.reshaped is not None else None
        if shape is not None and shape != x.shape:  # the Reshape the exporter merged into the pattern's, a step of the source's module
            producer = self.producers.get(found.source)
            owner = self.paths[producer] if producer is not None else ""
            x = self.layer(i, node, "reshape", LAYER_TYPES["reshape"](shape=shape), x, f"{owner}.reshape" if owner else "reshape")
        y = self.layer(i, node, layer.type_name, layer, x, found.name)
        if found.parameters:
            y = self.module_call(i, node, y, found.parameters, constant_fills=True)
        self.env[node.output[0]] = view(y) if view is not None else y

    def _members_read(self, i: int, found: Recognised) -> None:
        """A pattern that is not its layer after all: each of its nodes, then the last, as its handler reads it."""
        self.consumed.difference_update(found.members)
        for k in (*found.members, i):
            if k not in self.consumed:  # (a handler may read a later member with its own: a Squeeze with its Split)
                self.convert(k, self.order[k])

    # steps ------------------------------------------------------------------------------

    def step_name(self, i: int, kind: str, preferred: str | None = None) -> str:
        """A step's name before de-duplication: its module path (`layer1.0.conv1`), `{container}.{kind}`, or its kind."""
        path = preferred or self.paths[i]
        if not path:
            return kind
        if path in self.containers and not preferred:
            return f"{path}.{kind}"
        return path

    def weight_owner(self, i: int, node, index: int = 1) -> str | None:
        """The module whose weight the node reads (`layer1.0.conv1.weight` → `layer1.0.conv1`), unless the
        node's own module path says otherwise where several nodes read that weight: exporters share equal
        initializers (an untrained model's BN scales are all ones), so one module's weight may carry another's name.
        A TorchScript scope that ends in the weight's module is that module held in another (CoaT's `cpe1` in every
        serial block, scoped `serial_blocks1.0.cpe1`): named as PyTorch names it, by its weight."""
        named = weight_path(node, index)
        path = self.paths[i]
        shared = len(node.input) > index and len(self.consumers.get(node.input[index], ())) > 1
        if named and path and shared and named != path and not named.startswith(path + ".") and not path.endswith("." + named):
            return path
        return named

    def module_of_call(self, path: str) -> str:
        """The module a node's path names, whichever call it is: TorchScript's `head.conv_1` is `head.conv` called again
        where `head.conv` is a module of the file (its first call's path); Inception's `branch3x3dbl_3`, with no
        `branch3x3dbl` anywhere, is a module of its own, and so is Inception-ResNet's `repeat_2` beside `repeat`, whose
        parameters the file names (`repeat_2.0.branch0.conv.weight`)."""
        parts = path.split(".")
        for k, part in enumerate(parts):
            base = re.sub(r"_\d+$", "", part)
            if base != part and ".".join([*parts[:k], base]) in self.modules and ".".join(parts[:k + 1]) not in self.owners:
                parts[k] = base
        return ".".join(parts)

    def root(self, tensor: str) -> str:
        """The tensor an Identity chain passes on (TorchScript writes a shared initializer as Identities of one)."""
        seen = 0
        while tensor in self.aliases and seen < len(self.aliases):
            tensor, seen = self.aliases[tensor], seen + 1
        return tensor

    def layer(self, i: int, node, kind: str, layer: Layer, x: Act, preferred: str | None = None) -> Act:
        y = self.builder.layer(self.step_name(i, kind, preferred), layer, x, self.loc, where=self.where(node), fresh=True)
        self.step_paths[y.name] = self.paths[i]
        return y

    def module_call(self, i: int, node, y: Act, weights: tuple[str, ...], constant_fills: bool = False) -> Act:
        """The layer `y` just made from a node reading `weights` (initializer names, the kernel first): the
        first call of its module, or its module called again where an earlier node read the same kernel
        (RetinaNet's head over its levels), which then shares that step's parameters: counted once, MACs per call.

        One module called again reads the same weights from the same module path (TorchScript numbers
        the later calls' scopes `conv_1`, `conv_2`; groupcost's own export names each call as its step).
        A trained kernel read by two module paths is one module held at both (ShaResNet's shared convs, tied.py).
        Two modules whose equal initializers PyTorch's exporter merged (an untrained constant fill), or
        readers that differ in arguments or shapes, are refused by name; with `constant_fills` (a norm's
        scale and shift, ones and zeros in every untrained model) two modules, or a node with no module
        path, keep their parameters apart instead."""
        read = weights[0]
        weights = tuple(self.root(w) for w in weights)
        if not constant_fills:  # a kernel of one value, read by two modules: their fills merged (the same answer for every call of it)
            if weights[0] not in self.fills:  # (read once, directly: no second module to tell apart, and no values to read)
                shared = read != weights[0] or len(self.consumers.get(weights[0], ())) > 1
                self.fills[weights[0]] = shared and merged_fill(self.initializers.get(weights[0]), self.folder)
            constant_fills = self.fills[weights[0]]
        # another module's equal kernel the exporter merged into this one (an untrained deep copy): TorchScript reads it
        # through an Identity, where one parameter held by two modules is read directly; torch.export's FX node names its own
        constant_fills = constant_fills or read != weights[0] or merged_parameter(node, weights[0])
        # a fill merged across modules: each module's first call owns it. The module is the one the copy's name holds where
        # TorchScript names it (two modules of one scope, HRNet's fuse layers called past their lists: `block1/subblock1/bn_2`
        # is `fuse_layers.layer4.block1.subblock1.bn`, not a third call of `block1.subblock1.bn`), else the scope's
        module = ""
        if constant_fills:
            module = (parameter_module(read) if read != weights[0] else None) or self.module_of_call(self.paths[i])
        direct = self.module_calls.get((weights[0], ""))
        if module and direct is not None and self.paths[direct[0]] and self.module_of_call(self.paths[direct[0]]) == module:
            module = ""  # the module's own first call, which read the kernel directly (TorchScript's later calls read its folded copy through an Identity)
        first = self.module_calls.setdefault((weights[0], module), (i, weights, y.name))
        if first[0] == i:
            return y
        k, owned, owner_name = first
        if constant_fills and (not self.paths[k] or not self.paths[i] or self.module_of_call(self.paths[k]) != self.module_of_call(self.paths[i])):
            return y
        step = self.builder.nodes[-1]
        owner = next(s for s in self.builder.nodes if s.name == owner_name)
        if self.module_of_call(self.paths[k]) != self.module_of_call(self.paths[i]) and self.model.producer_name != PRODUCER \
                and not one_trained_parameter(self.initializers.get(weights[0]), self.folder):  # one module held at two places
            problem = f"they are the modules '{self.paths[k] or '?'}' and '{self.paths[i] or '?'}' (PyTorch's exporters merge equal initializers of two modules)"
        elif owned != weights:
            problem = f"'{owner_name}' reads {', '.join(owned)} and this one {', '.join(weights)}"
        else:
            problem = share_problem(owner, step)
        if problem is not None:
            raise self.fail(node, f"reads the weight '{weights[0]}' of '{owner_name}', but is not its module called again: {problem}",
                            "one module called again reads the same weights with the same arguments")
        self.builder.nodes[-1] = replace(step, shares=owner.name)
        return y

    def merge(self, i: int, node, kind: str, xs: list[Act], preferred: str | None = None) -> Act:
        def refused(shapes: tuple[Shape, ...]) -> Exception:
            if kind == "add":
                return Unsupported(f"adds {' and '.join(map(format_shape, shapes))} (broadcasting)")
            if kind == "concat":
                return self.fail(node, f"concatenates {', '.join(map(format_shape, shapes))}: H×W differ")
            if kind == "matmul":
                return Unsupported(f"a product of {' and '.join(map(format_shape, shapes))} (broadcast batch dims)")
            verb = "multiplies" if kind == "mul" else f"takes the {kind} of"
            return self.fail(node, f"{verb} {' and '.join(map(format_shape, shapes))}, which do not broadcast")

        y = self.builder.merge(self.step_name(i, kind, preferred), kind, xs, self.loc, refused, where=self.where(node), fresh=True)
        self.step_paths[y.name] = self.paths[i]
        return y

    def cropped(self, view: "Cropped") -> Act:
        """A run of spatial Slices (torch's narrow writes one per axis), made at its first reader: the centre
        `crop` it is, or else a `slice` along each axis it narrows (a pose head's keypoints (x, y) and score)."""
        if view not in self.crops:
            dims = view.x.shape[1:]
            node = self.order[view.first]
            if all(start == (n - (stop - start)) // 2 for n, (start, stop) in zip(dims, view.box)):
                size = tuple(stop - start for start, stop in view.box)
                self.crops[view] = self.layer(view.first, node, "crop", LAYER_TYPES["crop"](size=size), view.x)
            else:
                y = view.x
                for axis, (n, (start, stop)) in enumerate(zip(dims, view.box), start=2):
                    if (start, stop) != (0, n):
                        y = self.layer(view.first, node, "slice", LAYER_TYPES["slice"](start=start, stop=stop, dim=axis), y)
                self.crops[view] = y
        return self.crops[view]

    def materialized(self, i: int, node, view) -> Act:
        """A view as the layers it stands for, made once, named at its first reader: a channels-last view
        a `permute` (named after the Transpose that made it, where one did); a grouped view a `reshape` to (g, C/g, H, W), and a `transpose` of its group axes."""
        if view not in self.views:
            if isinstance(view, ChannelsLast):
                rank = len(view.x.shape) + 1
                k = i if view.made_at is None else view.made_at
                y = self.layer(k, self.order[k], "permute", LAYER_TYPES["permute"](dims=(0, *range(2, rank), 1)), view.x)
            else:
                c, *rest = view.x.shape
                y = self.layer(i, node, "reshape", LAYER_TYPES["reshape"](shape=(view.groups, c // view.groups, *rest)), view.x)
                if view.swapped:
                    y = self.layer(i, node, "transpose", LAYER_TYPES["transpose"](dims=(1, 2)), y)
            self.views[view] = y
        return self.views[view]

    def arranged(self, view: Arranged) -> Act | Sequences:
        """A run of Reshapes and Transposes as the layers it stands for, made once, named after its first node, the step
        that makes its result after its last (a classifier head's flatten after torch.export's `as_strided` in the pool)."""
        if view not in self.views:
            def make(kind: str, layer: Layer, x: Act, result: bool) -> Act:
                k = view.last if result and view.last is not None else view.first
                return self.layer(k, self.order[k], kind, layer, x)

            self.views[view] = made(view, make)
        return self.views[view]

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
            onnx = require_onnx()
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
            raise Unsupported(f"{what} is not a constant")
        return value

    def axes(self, node, inputs: list):
        """A reduction's or Squeeze's axes: its attribute (older opsets), else its second input, a constant (Unsupported
        where it is not); None where it has neither."""
        axes = attributes(node).get("axes")
        if axes is None and len(inputs) > 1 and inputs[1] is not None:
            axes = self.const(inputs[1], node, "its axes").values
        return axes

    def slice_bounds(self, node, inputs: list) -> tuple[tuple, tuple, tuple, tuple]:
        """A Slice's (starts, ends, axes, steps): attributes before opset 10, constant inputs after (Unsupported where
        one is not a constant); axes default to the first len(starts), steps to 1."""
        attrs = attributes(node)
        starts = tuple(attrs["starts"] if "starts" in attrs else self.const(inputs[1], node, "its starts").values)
        ends = tuple(attrs["ends"] if "ends" in attrs else self.const(inputs[2], node, "its ends").values)
        given = len(inputs) > 3 and inputs[3] is not None
        axes = tuple(attrs["axes"] if "axes" in attrs else self.const(inputs[3], node, "its axes").values if given else range(len(starts)))
        steps = tuple(self.const(inputs[4], node, "its steps").values if len(inputs) > 4 and inputs[4] is not None else (1,) * len(starts))
        return starts, ends, axes, steps



ON_CHANNELS_LAST = frozenset({"LayerNormalization", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "Sigmoid", "Tanh", "Gelu", "HardSwish", "HardSigmoid", "Erf",
                              "Cast"})
"""Operators that read tokens L×N×C (TokensFirst) or sequences (N·S)×L×C (Sequences) as they read N×L×C
(ChannelsLast): on the channels alone, or element by element (MatMul: with a weight; an Add of two
activations: both in that layout)."""

_LAYOUT_REFUSALS = {TokensFirst: "an operator on tokens L×N×C (the batch second) other than a layer norm, linear or element-wise one",
                    Sequences: "an operator on sequences (N·S)×L×C (the batch merged with S) other than a layer norm, linear or element-wise one"}


def _positive_axis(node) -> bool:
    """Whether a node names an axis from the front: on sequences (N·S)×L×C the file's rank is one less than the view's."""
    return any(a.name == "axis" and a.i >= 0 for a in node.attribute)


Handler = Callable[[Importer, int, Any, list], Any]
"""(importer, index, node, inputs) → the node's output value(s), or None where it set them itself."""
