"""What torch.export's optimiser (onnxscript's rewriter) did to a node, as the node's metadata says.

The optimiser fuses a BatchNorm into the conv (or transposed conv, or Gemm) before it, and removes a bias that is all
zeros, whether the layer's own or the norm's shift it just folded in: an untrained model's biases are zeros (most
libraries start them so), and its norms' shifts too. PyTorch counts those parameters; the node's metadata still names
the rules (`pkg.onnxscript.rewriter.rule_name`) and the FX node it came from (`pkg.torch.onnx.fx_node`), which says
whether the layer read a bias parameter.

The optimiser also merges equal computations of one tensor into one node (common-subexpression elimination), and an
untrained model's norms are all ones and zeros, so two norms of one tensor compute the same thing (DPN's two
pre-activations of a block's input, RepViT's two heads' norms of the pooled features): both readers then read one
node, and PyTorch counts both modules. Each node's metadata keeps the FX node it came from, whose arguments name what
it read: where a reader reads another FX node's output than it read, of the same kind (`getitem_318` for
`getitem_321`), that one gone from the file, or the output of a node of fills that another reader names (FastViT's
norm read through a `+ 0` the optimiser removed); or where a node fused from two FX nodes (whose metadata is its partner's)
reads a tensor that has more readers than its FX node had users, the steps that made the input are made again for
that reader, back to and including the first with parameters: the merged module, counted again, named beside the
reader's module (`head.head_dist.bn` beside `head.head_dist.l`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from groupcost.formats.onnx.importer import Importer
from groupcost.formats.onnx.tied import merged_fill
from groupcost.formats.onnx.values import Act, Unsupported
from groupcost.graph.network import LayerStep


def _metadata(node, key: str) -> str:
    """One of the node's metadata entries ('' where it has none): the optimiser's rules (`pkg.onnxscript.rewriter.rule_name`),
    the FX node it came from (`pkg.torch.onnx.fx_node`)."""
    return next((prop.value for prop in node.metadata_props if prop.key == key), "")


def _rules(node) -> str:
    return _metadata(node, "pkg.onnxscript.rewriter.rule_name")


def fused_norm(node) -> bool:
    """Whether torch.export's optimiser fused a BatchNorm into this node (its metadata says so). The fused node has
    the norm's shift for a bias, which the optimiser removes again where it is all zeros (an untrained norm's: β and
    the running mean 0): a bias of C all the same, as in every other model's file."""
    return "FuseBatchNorm" in _rules(node)


def removed_bias(node) -> bool:
    """Whether torch.export's optimiser removed the node's bias for being all zeros (an untrained layer's, timm's and
    most libraries' init): its metadata names the rule, and for a conv the FX node it came from read a parameter for its
    bias (a conv with none gets a zero bias of the exporter's, removed the same way); a Gemm has a bias only where the
    layer had one."""
    if "RemoveOptionalBias" not in _rules(node):
        return False
    if node.op_type == "Gemm":
        return True
    read = re.search(r"args = \((%\w+|None), (%\w+|None), (%\w+|None)", _metadata(node, "pkg.torch.onnx.fx_node"))
    return read is not None and read.group(3).startswith("%p_")


_DEFINED = re.compile(r"%(\w+) : \[num_users=(\d+)\]")
_ARGS = re.compile(r"args = \((.*)\), kwargs")
_GETITEM = re.compile(r"getitem(_\d+)?")  # an output of a node of several (a batch norm's), named by the FX getitem that took it
_DEPTH = 4
"""Steps made again at most, back to the one with parameters (a norm and its activation; a param-free merge costs nothing)."""


def _fx(node) -> tuple[str | None, int, list[str]]:
    """The FX node a node came from: its name, its number of users, and the tensors its arguments name, in order."""
    text = _metadata(node, "pkg.torch.onnx.fx_node")
    defined, args = _DEFINED.match(text), _ARGS.search(text)
    return (defined.group(1) if defined else None, int(defined.group(2)) if defined else 0,
            re.findall(r"%(\w+)", args.group(1)) if args else [])


def redirected(imp: Importer) -> dict[int, set[int]]:
    """Reader → the positions of its inputs where it reads a merged tensor in place of the one it read. A reader made
    from one FX node alone (not fused) that reads an FX tensor where its FX node read another, gone
    from the file (by position where the two list as many tensors: a concat of a head and its merged copy reads one
    tensor twice); or, where the reader's node fused two FX nodes (its metadata is its partner's, which names none of
    its inputs), a tensor with more readers than its FX node had users, by as many as such readers."""
    if imp.redirected is None:
        imp.redirected = {}
        fx = [_fx(node) for node in imp.order]
        users = imp.fx_users = {name: count for name, count, _ in fx if name is not None}
        present = {out for node in imp.order for out in node.output} | set(imp.initializers) | {v.name for v in imp.model.graph.input}
        for k, (node, (name, _, read)) in enumerate(zip(imp.order, fx)):
            gone = {_kind(arg) for arg in read if arg not in present}  # what it read that the optimiser merged away (or any other removal)
            if name is None or _fused(node) or not gone:
                continue
            positional = len(read) == len(node.input)
            for position, tensor in enumerate(node.input):
                if not (tensor in users or _GETITEM.fullmatch(tensor)):
                    continue
                if positional:
                    if read[position] == tensor or read[position] in present:
                        continue
                    same = _kind(read[position]) == _kind(tensor)
                elif tensor in read:
                    continue
                else:
                    same = _kind(tensor) in gone
                # the same kind of node, or a node of fills that another reader names (FastViT's norm, merged, its `+ 0` removed)
                if same or (_fills(imp, tensor) and any(r != k and r >= 0 and tensor in fx[r][2] for r in imp.consumers.get(tensor, []))):
                    imp.redirected.setdefault(k, set()).add(position)
        for tensor, count in users.items():
            readers = sorted({k for k in imp.consumers.get(tensor, []) if k >= 0})
            naming = {fx[k][0] for k in readers if tensor in fx[k][2]}
            fused = [k for k in readers if tensor not in fx[k][2] and fx[k][0] is not None and _fused(imp.order[k]) and not _padded(imp.order[k], tensor)]
            excess = len(naming) + len(fused) - count
            for k in fused if excess == len(fused) else _farthest(imp, tensor, fused, excess):
                imp.redirected.setdefault(k, set()).update(p for p, name in enumerate(imp.order[k].input) if name == tensor)
    return imp.redirected


def _farthest(imp: Importer, tensor: str, fused: list[int], excess: int) -> list[int]:
    """The `excess` fused readers of `tensor` that are twins read in place of their own input: those whose modules
    share the fewest leading path segments with the module that made it (`one2one_cv3.0.0.1` of `cv3.0.0.0`'s output,
    beside `cv3.0.0.1`); none where that does not single them out."""
    producer = imp.producers.get(tensor)
    if excess <= 0 or producer is None:
        return []
    made = imp.paths[producer].split(".")

    def shared(k: int) -> int:
        theirs = imp.paths[k].split(".")
        return next((n for n, (a, b) in enumerate(zip(made, theirs)) if a != b), min(len(made), len(theirs)))

    ranked = sorted(fused, key=shared)
    return ranked[:excess] if shared(ranked[excess - 1]) < shared(ranked[excess]) else []


def _fused(node) -> bool:
    """Whether the optimiser fused two FX nodes into this one (its metadata is then its partner's)."""
    return "Fuse" in _rules(node)


_POOLS = frozenset({"avgpool", "maxpool", "gap", "gmp", "adaptive_avgpool", "adaptive_maxpool"})


def _one_unit(norm: str, after: LayerStep) -> bool:
    """Whether a step with parameters and the merged step after it are one unit of a module (`bn` and `bn.act`, `0` and
    `1` of a Sequential, `bn1` and `relu` of a block), whose twins were merged together (DPN's pre-activations); a step
    of another module (a cell's state, normed by its preprocessing and read by its operations' activations), or a norm
    read by two pools of its module (NASNet's cell norm and the cell's twin pools), was read by both twins, and is not
    made again."""
    if after.name.startswith(norm + "."):
        return True
    return after.name.rsplit(".", 1)[0] == norm.rsplit(".", 1)[0] and after.type_name not in _POOLS


def _fills(imp: Importer, tensor: str | None) -> bool:
    """Whether the node making `tensor` reads parameters that are all constant fills (an untrained norm's ones and
    zeros): the only parameters two modules can have equal, so that the optimiser merged their nodes."""
    k = imp.producers.get(tensor) if tensor is not None else None
    if k is None:
        return False
    stored = [imp.initializers[imp.root(name)] for name in imp.order[k].input[1:] if imp.root(name) in imp.initializers]
    return bool(stored) and all(merged_fill(tensor, imp.folder) for tensor in stored)


def _merged(imp: Importer, tensor: str | None) -> bool | None:
    """Whether a tensor has more readers in the file than its FX node had users (a twin merged into it); None where
    its FX node's users are not known (a batch norm's output, taken by a getitem the file does not write)."""
    users = imp.fx_users.get(tensor) if tensor is not None else None
    if users is None:
        return None
    readers = {k for k in imp.consumers.get(tensor, []) if k >= 0 and not _padded(imp.order[k], tensor)}
    twice = any(list(imp.order[k].input).count(tensor) > named for k in readers if (named := _fx(imp.order[k])[2].count(tensor)))  # read again where its FX node read a twin
    return len(readers) > users or twice


def _padded(node, tensor: str) -> bool:
    """Whether a conv reads `tensor` in place of its pad, which the optimiser fused into it (`FuseConvPad`): a reader
    the tensor's FX node did not have, where the pad has others (HGNetV2's stem pools the padded map too), no twin's."""
    return "FuseConvPad" in _rules(node) and tensor not in _fx(node)[2]


def _kind(name: str) -> str:
    """An FX node's kind, its name less its number (`getitem_321` → `getitem`)."""
    return re.sub(r"_\d+$", "", name)


def recomputed(read: Callable) -> Callable:
    """The engine's reader of merged tensors `read`, and before it each input a merged computation stands for, made again."""

    def handle(imp: Importer, i: int, node, inputs: list):
        again = redirected(imp).get(i)
        if again:
            inputs = [_again(imp, i, node, value, node.input[position]) if position in again and isinstance(value, Act) else value
                      for position, value in enumerate(inputs)]
        return read(imp, i, node, inputs)

    return handle


_COPY_DEPTH = 16
"""Steps of a deep copy made again at most (a head's branch: convs, norms and activations)."""
_UNMERGED = "export with optimize=False, or with TorchScript, or a trained model"
"""What gives a file whose deep copies the optimiser did not merge."""


def _copied(imp: Importer, i: int, node, tensor: str, chain: list, step, steps: dict) -> Act | None:
    """The file's `tensor` made again for its reader where the step that made it, trained, absorbed its deep copy's twin: equal weights and
    one input (the optimiser deduplicates initializers of up to 1,024 elements, then merges nodes of equal inputs, so
    an untrained YOLOv10's one-to-one head loses its first depthwise conv). The reader's module and another reader's
    name the copy (`one2one_cv3.0.0.1.conv` beside `cv3.0.0.1.conv`: `cv3` copied as `one2one_cv3`); the merge went
    down the steps whose twin modules are not in the file (`one2one_cv3.0.0.0.conv`), each made again under its twin's
    name. None where no other reader names a copy, or the step's twin is in the file (not a copy's merge)."""
    rename = _copy_prefix(imp, i, tensor)
    if rename is None:
        return None
    original, copy = rename

    def twin(step) -> str | None:
        name = getattr(step, "name", "")
        copied = copy + name[len(original):] if name.startswith(original + ".") else None
        return copied if copied is not None and copied not in imp.modules else None

    if twin(step) is None or not all(twin(above) for above in chain):
        return None
    copied = list(chain)
    while twin(step) is not None:
        if not isinstance(step, LayerStep) or step.shares is not None or step.channels != (None,) or len(copied) >= _COPY_DEPTH:
            raise Unsupported(f"torch.export's optimiser merged {copy} into {original} (an untrained deep copy: equal "
                              f"parameters) through a step that cannot be made again: {_UNMERGED}")
        copied.append(step)
        step = steps.get(step.inputs[0])
    y = Act(copied[-1].inputs[0], copied[-1].in_shape)
    for made in reversed(copied):
        y = imp.builder.layer(twin(made), made.layer, y, imp.loc, where=imp.where(node), fresh=True)
    return y


def _copy_prefix(imp: Importer, i: int, tensor: str) -> tuple[str, str] | None:
    """(original prefix, copy's prefix): where another node reads `tensor` from a module whose path ends as the reader's
    does after another prefix (`cv3` and `one2one_cv3` of `….0.0.1.conv`)."""
    mine = imp.paths[i].split(".")
    for k in imp.consumers.get(tensor, []):
        if k < 0 or k == i:
            continue
        theirs = imp.paths[k].split(".")
        same = 0
        while same < min(len(mine), len(theirs)) - 1 and mine[-1 - same] == theirs[-1 - same]:
            same += 1
        if same:
            return ".".join(theirs[:-same]), ".".join(mine[:-same])
    return None


def _again(imp: Importer, i: int, node, x: Act, tensor: str) -> Act:
    """The steps that made x (the file's `tensor`) made again for this reader, back to and including the first with parameters (x where none
    has them: a merge of param-free steps loses nothing), named beside the reader's module."""
    steps = {step.name: step for step in imp.builder.nodes}
    tensors: dict[str, str] = {}  # a step's output → its tensor in the file, the one its FX node names where several (SiLU's Sigmoid and Mul)
    for name, value in imp.env.items():
        if isinstance(value, Act) and value.channels is None and (value.name not in tensors or name in imp.fx_users):
            tensors[value.name] = name
    chain, step = [], steps.get(x.name)
    while isinstance(step, LayerStep) and step.shares is None and step.channels == (None,) and len(chain) < _DEPTH:
        merged = _merged(imp, tensors.get(step.name))
        params = step.layer.cost(step.in_shape, step.out_shape).params
        if merged is False or (merged is None and not params):  # this step made its output alone: the merge was below it
            return x
        if params and not _fills(imp, tensors.get(step.name)):  # trained parameters: equal only to a deep copy's
            copied = _copied(imp, i, node, tensor, chain, step, steps) if chain or merged else None
            if copied is not None:
                return copied
            if not chain and merged:  # yet this very node absorbed a twin, whose modules the file does not name
                raise Unsupported("torch.export's optimiser merged two modules whose parameters are equal (an untrained deep copy, "
                                  f"YOLOv10's one-to-one head) into one node, and the file does not say how many: {_UNMERGED}")
            return x
        if params and chain and not _one_unit(step.name, chain[-1]):  # a shared state's norm, read by merged activations (DARTS)
            return x
        chain.append(step)
        if params:
            break
        step = steps.get(step.inputs[0])
    if not chain or not chain[-1].layer.cost(chain[-1].in_shape, chain[-1].out_shape).params:
        return x
    module = imp.weight_owner(i, node) or imp.paths[i]
    parent = module.rsplit(".", 1)[0] if "." in module else module
    y = Act(chain[-1].inputs[0], chain[-1].in_shape)
    for step in reversed(chain):
        last = step.name.rsplit(".", 1)[-1]
        y = imp.builder.layer(f"{parent}.{last}" if parent else last, step.layer, y, imp.loc, where=imp.where(node), fresh=True)
    return y


_SIGNATURE = re.compile(r"^(\w+): (PARAMETER|BUFFER|CONSTANT_TENSOR) target='([^']*)'", re.MULTILINE)
"""An input of torch.export's graph signature (`p_conv_weight: PARAMETER target='conv.weight'`)."""


def fixed_tensor(imp: Importer, name: str) -> str | None:
    """Why the initializer `name` holds no parameter, where what the reader was given says so; None where it may hold one.
    A `torch:` source knows its module's buffers. torch.export's file keeps its graph signature
    (`pkg.torch.export.ExportedProgram.graph_signature`), which names each parameter, buffer and constant tensor; where
    every parameter it names is in the file under its own name or named by a node's FX record (a norm fused into a conv,
    a bias removed), no parameter was folded into a tensor the optimiser computed, so such a tensor came from constants
    alone (kornia's Sobel kernel built in forward, written `unsqueeze`)."""
    if imp.fixed_tensors is None:
        imp.fixed_tensors = {buffer: "a buffer of the module" for buffer in imp.buffers}
        entries = _SIGNATURE.findall(_metadata(imp.graph, "pkg.torch.export.ExportedProgram.graph_signature"))
        parameters = {target: placeholder for placeholder, kind, target in entries if kind == "PARAMETER"}
        for _, kind, target in entries:
            if kind != "PARAMETER":
                imp.fixed_tensors[target] = "a buffer of the module" if kind == "BUFFER" else "a constant tensor of the module"
        if entries:
            named = {found for node in imp.graph.node for found in re.findall(r"%(\w+)", _metadata(node, "pkg.torch.onnx.fx_node"))}
            if all(target in imp.initializers or placeholder in named for target, placeholder in parameters.items()):
                for tensor in imp.initializers:
                    if tensor not in parameters:
                        imp.fixed_tensors.setdefault(tensor, "computed from constants alone (every parameter of the signature is elsewhere)")
    return imp.fixed_tensors.get(name)
