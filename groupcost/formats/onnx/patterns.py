"""Multi-node patterns one PyTorch module writes, read as one layer.

A local response norm (~20-40 primitive operators), torch's nn.MultiheadAttention, squeeze-and-excitation (GAP → 1×1 → act →
1×1 → gate → mul), x·sigmoid(x) (SiLU) and x·hardsigmoid(x) (hard swish), a layer scale (x times
one learnable value per channel).
"""

from __future__ import annotations

import math
from dataclasses import replace

from groupcost.formats.onnx.constants import frozen_batch_norm_scale, parameter_step
from groupcost.formats.onnx.importer import Importer, Recognised
from groupcost.formats.onnx.names import LAYER_NAME
from groupcost.formats.onnx.optimised import removed_bias
from groupcost.formats.onnx.values import Act, ChannelsLast, Const, Sequences, TokensFirst, Weight, attributes, require_onnx
from groupcost.ops import LAYER_TYPES

_LRN_OPS = {"Add", "AveragePool", "Cast", "Concat", "Constant", "ConstantOfShape", "Div", "Equal", "Gather", "If", "Mul", "Pad",
            "Pow", "Reshape", "Shape", "Slice", "Squeeze", "Transpose", "Unsqueeze"}


def _modules(imp: Importer) -> dict[str, list[int]]:
    """Each module path the exporter recorded → the indices of its nodes, in order (nodes without a path left out)."""
    by_path: dict[str, list[int]] = {}
    for k, path in enumerate(imp.paths):
        if path:
            by_path.setdefault(path, []).append(k)
    return by_path


def recognise_local_response_norms(imp: Importer) -> None:
    """torch's LocalResponseNorm as its exporters write it: ~20-40 primitive operators in one module.

    x / (k + alpha·avgpool3d(pad(x²)))^beta, with a (size, 1, 1) average pool over the channels. A
    module whose operators are only those, with one Div of an outside tensor by a Pow, one such
    pool, and no tensor read outside but the Div's, is one `lrn` layer.
    """
    for path, indices in _modules(imp).items():
        nodes = [imp.order[i] for i in indices]
        ops = [n.op_type for n in nodes]
        if not set(ops) <= _LRN_OPS or ops.count("Div") != 1 or ops.count("AveragePool") != 1 or ops.count("Pow") != 1:
            continue
        pool = nodes[ops.index("AveragePool")]
        kernel = tuple(attributes(pool).get("kernel_shape", ()))
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
        imp.recognised[k_div] = Recognised(div.input[0], LAYER_TYPES["lrn"](size=kernel[0]), "a local response norm")


def squeeze_excitation(imp: Importer, i: int, node, x: Act) -> Act | None:
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
    paths = [imp.paths[k] for k in [i, *indices] if imp.paths[k]]
    common = _common_prefix(paths)
    if common and any(imp.paths[k] == common for k in (i, k_mul)) \
            and any(imp.paths[k] == common or imp.paths[k].startswith(common + ".") for k in range(k_mul + 1, len(imp.order))):
        return None  # computed inline in a block that goes on (efficientnet-pytorch's MBConvBlock): its convs are the block's, read one by one
    imp.consumed.update(indices)
    if common and common in imp.containers and all(p == common or p.startswith(common + ".") for p in paths) and any(p != common for p in paths):
        preferred = common
    else:
        preferred = None
    y = imp.layer(k_mul, mul, "se", LAYER_TYPES["se"](squeeze=s, act=act, gate=gate), x, preferred)
    imp.env[mul.output[0]] = y
    return y


def _activation_after(imp: Importer, tensor: str):
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


def gated_self(imp: Importer, i: int, node, x: Act, kind: str) -> Act | None:
    """x · sigmoid(x) → silu; x · hardsigmoid(x) → hswish (how some exporters write them)."""
    reader = imp.only_reader(node.output[0])
    if reader is None or reader[1].op_type != "Mul":
        return None
    k, mul = reader
    other = [n for n in mul.input if n != node.output[0]]
    if len(other) != 1 or imp.env.get(other[0]) != x:
        return None
    imp.consumed.add(k)
    # named by the gate's path, or else by the Mul's (groupcost's own export names the Mul after the layer)
    y = imp.layer(i, node, kind, LAYER_TYPES[kind](), x, None if imp.paths[i] else imp.paths[k] or None)
    imp.env[mul.output[0]] = y
    return y


def layerscale(imp: Importer, i: int, node, x, weight, tensor: str) -> Act | ChannelsLast | None:
    """x times a learnable tensor of one value per channel: `layerscale` (ConvNeXt), else None.

    Named after `tensor`, the name the Mul reads (an Identity may alias another initializer), else after the parameter
    it was reshaped from (a block's own `gamma`, viewed as 1×C×1×1 in the forward).
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
    if frozen_batch_norm_scale(imp, node, tensor, dims):
        return None  # a constant scale: the Mul and its Add read as arithmetic with constants, no parameters
    name = next((n for n in (tensor, getattr(weight, "name", "")) if LAYER_NAME.fullmatch(n) and not n.startswith("onnx")), None)
    if name and name.endswith(".layer_scale") and name[: -len(".layer_scale")] == imp.paths[i]:
        name = imp.paths[i]  # groupcost's own export: `{layer}.layer_scale`
    y = imp.layer(i, node, "layerscale", LAYER_TYPES["layerscale"](), act, parameter_step(imp, i, name) if name else None)
    return ChannelsLast(y) if view else y


_ATTENTION_OPS = {"Add", "Cast", "Concat", "Constant", "ConstantOfShape", "Div", "Dropout", "Gather", "Gemm", "Identity", "MatMul", "Mod", "Mul", "Pow", "Reshape",
                  "Shape", "Slice", "Softmax", "Split", "Sqrt", "Squeeze", "Transpose", "Unsqueeze"}


def recognise_multihead_attention(imp: Importer) -> None:
    """torch's nn.MultiheadAttention (self-attention) as its exporters write it: one `attention` layer.

    A module whose operators are only the projections, reshapes, transposes (of the batch too),
    shape arithmetic, the scaled products and one Softmax; that reads two matrices, the input
    projection 3C×C and the output projection C×C (or their transposes, folded by the exporter),
    one activation from outside (the tokens, as query, key and value), and gives one tensor to the
    rest of the graph. Its heads are read once its tokens are known (_with_heads); where they cannot
    be, the module is refused by name.
    """
    for path, indices in _subtrees(imp).items():
        nodes = [imp.order[k] for k in indices]
        ops = [n.op_type for n in nodes]
        if ops.count("Softmax") != 1 or not set(ops) <= _ATTENTION_OPS or attributes(nodes[ops.index("Softmax")]).get("axis", -1) != -1:
            continue  # one softmax, over the keys
        read = {t for n in nodes for t in n.input if t}
        matrices = [tuple(imp.initializers[w].dims) for w in {_initializer(imp, t) for t in read} - {None} if len(imp.initializers[w].dims) == 2]
        projections = [d for d in matrices if max(d) == 3 * min(d)]  # the input projection, 3C×C or its transpose
        if len(projections) != 1 or matrices.count((min(projections[0]),) * 2) != 1 or len(matrices) != 2:
            continue
        c = min(projections[0])
        members = {k for k in indices if imp.order[k].op_type != "Constant"}  # TorchScript shares its Constant nodes between modules
        inside = {out for n in nodes for out in n.output}
        if not all(t in imp.producers or t in imp.env for t in read - inside):
            continue
        sources = {t for t in read - inside if _initializer(imp, t) is None and (t not in imp.producers or imp.order[imp.producers[t]].op_type != "Constant")}  # the graph input has no producer
        leaks = {out for k in members for out in imp.order[k].output if any(r not in members for r in imp.consumers.get(out, []))}
        floats = [imp.initializers[w] for w in {_initializer(imp, t) for t in read} - {None} if imp.initializers[w].data_type in (1, 10, 11, 16)]
        learned = [tuple(t.dims) for t in floats if math.prod(t.dims) > 1]  # scalars are the scale
        biases = [(3 * c,) in learned, (c,) in learned]
        # nn.MultiheadAttention starts its output projection's bias at zero, which torch.export's optimiser removes
        dropped = c if biases[0] and not biases[1] and any(n.op_type == "Gemm" and removed_bias(n) for n in nodes) else 0
        biases[1] = biases[1] or dropped > 0
        expected = 4 * c * c + (4 * c if biases[0] else 0)
        if len(sources) != 1 or len(leaks) != 1 or biases[0] != biases[1] or sum(math.prod(d) for d in learned) + dropped != expected:
            continue
        (output,) = leaks
        k_last = imp.producers[output]
        imp.consumed.update(members - {k_last})
        layer = LAYER_TYPES["attention"](heads=1, bias=biases[0])  # its heads once the tokens' shape is known
        imp.recognised[k_last] = Recognised(next(iter(sources)), layer, "multi-head attention", elementwise=True, channels=c, name=path if imp.paths[k_last] != path else None,
                                            members=tuple(sorted(members - {k_last})),
                                            completed=lambda tokens, nodes=nodes, softmax=nodes[ops.index("Softmax")], layer=layer: _with_heads(imp, nodes, softmax, tokens, layer))


def _subtrees(imp: Importer) -> dict[str, list[int]]:
    """Each module path → the indices of its nodes and its submodules' (timm's `attn` holds `attn.qkv` and `attn.proj`), in order."""
    by_path: dict[str, list[int]] = {}
    for k, path in enumerate(imp.paths):
        for module in [path[:end] for end, ch in enumerate(path) if ch == "."] + [path] if path else []:
            by_path.setdefault(module, []).append(k)
    return by_path


def _with_heads(imp: Importer, nodes: list, softmax, tokens, layer):
    """`layer` with the heads of the attention module `nodes`: the leading dims of its Softmax input, by ONNX
    shape inference over the module alone, its tokens' shape given with a batch of 1; None where inference cannot say.
    Where the scores are of fewer tokens than the input has positions, each index of its leading positional
    dims is a sequence of its own (MobileViT's patches, the batch merged with them): its `batch_dims`."""
    onnx = require_onnx()
    x = tokens.x if isinstance(tokens, (ChannelsLast, TokensFirst, Sequences)) else tokens
    if not isinstance(x, Act):
        return None
    c, length = x.shape[0], math.prod(x.shape[1:])
    shape = ((length, 1, c) if isinstance(tokens, TokensFirst) else (*x.shape[1:], c) if isinstance(tokens, Sequences)
             else (1, *x.shape[1:], c) if isinstance(tokens, ChannelsLast) else (1, *x.shape))
    inside = {out for n in nodes for out in n.output}
    wanted = {t for n in nodes for t in n.input if t and t not in inside}
    extra, initializers, source = [], [], None
    while wanted:
        t = wanted.pop()
        if t in imp.initializers:
            initializers.append(imp.initializers[t])
        elif t in imp.producers and imp.order[imp.producers[t]].op_type in ("Constant", "Identity"):
            producer = imp.order[imp.producers[t]]
            extra.append(producer)
            wanted.update(n for n in producer.input if n)
        else:
            source = t
    helper = onnx.helper
    graph = helper.make_graph([*extra, *nodes], "attention", [helper.make_tensor_value_info(source, onnx.TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info(softmax.output[0], onnx.TensorProto.FLOAT, None)], initializers)
    model = helper.make_model(graph, opset_imports=list(imp.model.opset_import))
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # shape inference refuses the module: its heads cannot be read
        return None
    scores = next((tuple(d.dim_value if d.HasField("dim_value") else 0 for d in v.type.tensor_type.shape.dim)
                   for v in inferred.graph.value_info if v.name == softmax.input[0]), ())
    if len(scores) < 3 or not all(scores) or scores[-1] != scores[-2] or length % scores[-1]:
        return None
    sequences = length // scores[-1]
    batch_dims = next((k for k in range(len(x.shape)) if math.prod(x.shape[1:1 + k]) == sequences), None)
    heads, rest = divmod(math.prod(scores[:-2]), sequences)
    if batch_dims is None or rest or heads < 1 or c % heads:
        return None
    return replace(layer, heads=heads, batch_dims=batch_dims)


def _initializer(imp: Importer, tensor: str) -> str | None:
    """The initializer `tensor` is, through Identity nodes (TorchScript writes equal initializers as Identities of one), or None."""
    for _ in range(len(imp.order)):
        if tensor in imp.initializers:
            return tensor
        producer = imp.order[imp.producers[tensor]] if tensor in imp.producers else None
        if producer is None or producer.op_type != "Identity":
            return None
        tensor = producer.input[0]
    return None
