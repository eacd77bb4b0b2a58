"""Tensors stacked ahead of the batch and summed or averaged over that axis: `torch.stack(xs).sum(dim=0)`, `.mean(dim=0)`.

segmentation_models_pytorch's FPN decoder merges its levels so (MergeBlock, policy "add"), MONAI's RegUNet and
LocalNet average theirs (`torch.mean(torch.stack(levels, dim=0), dim=0)`). Every exporter writes an Unsqueeze at
axis 0 per tensor, a Concat along axis 0 and a ReduceSum or ReduceMean over it: the new axis lies before the batch,
which no layer can hold, but the sum is the tensors' element-wise sum, one `add`, and the mean that sum divided by
their number. The recogniser takes the Unsqueezes and the Concat out of the node-by-node reading and leaves a Stack
of their inputs as the Concat's value; the reduction's handler, wrapped, merges them.
"""

from __future__ import annotations

from dataclasses import dataclass

from groupcost.formats.onnx.importer import Handler, Importer
from groupcost.formats.onnx.values import attributes, as_act
from groupcost.formats.onnx.weights import stored_values
from groupcost.ops import LAYER_TYPES

STACK_REDUCTIONS = frozenset({"ReduceSum", "ReduceMean"})


@dataclass(frozen=True)
class Stack:
    """Tensors stacked ahead of the batch, by name, read only by the sum over that axis."""

    tensors: tuple[str, ...]


def _axes(imp: Importer, node) -> tuple[int, ...] | None:
    """A ReduceSum's or Unsqueeze's axes (an attribute or, from opset 13, a constant input)."""
    axes = attributes(node).get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = stored_values(imp, node.input[1], imp.env.get(node.input[1]))
    return None if axes is None else tuple(int(a) for a in axes)


def summed_stack(imp: Importer, reduce, reductions: frozenset[str] = frozenset({"ReduceSum"}), least: int = 2) -> tuple[int, int, list[int]] | None:
    """(the axis, the Concat, its Unsqueezes in order) where `reduce` is a ReduceSum (or another of `reductions`) over
    the axis of a Concat, read by it alone, of `least` or more tensors each unsqueezed at that axis and read there alone
    (`torch.stack(xs, axis).sum(axis)`); else None."""
    if reduce.op_type not in reductions or attributes(reduce).get("keepdims", 1):
        return None
    k_cat = imp.producers.get(reduce.input[0])
    if k_cat is None or imp.order[k_cat].op_type != "Concat" or len(imp.order[k_cat].input) < least:
        return None
    concat = imp.order[k_cat]
    axis = attributes(concat).get("axis")
    if imp.only_reader(concat.output[0]) is None or _axes(imp, reduce) != (axis,):
        return None
    unsqueezes = [imp.producers.get(stacked) for stacked in concat.input]
    if any(k is None or imp.order[k].op_type != "Unsqueeze" or imp.only_reader(stacked) is None or _axes(imp, imp.order[k]) != (axis,)
           for k, stacked in zip(unsqueezes, concat.input)):
        return None
    return axis, k_cat, unsqueezes


def _stacked(imp: Importer, reduce) -> tuple[list[str], list[int]] | None:
    """(the stacked tensors, the Unsqueeze and Concat nodes) where `reduce` sums or averages a stack over axis 0 (of one
    tensor too: RegUNet's default of one level), else None."""
    found = summed_stack(imp, reduce, STACK_REDUCTIONS, least=1) or _unsqueezed_alone(imp, reduce)
    if found is None or found[0] != 0:
        return None
    _, k_cat, unsqueezes = found
    tensors = [imp.order[k].input[0] for k in unsqueezes]
    if any(source in imp.initializers or source not in imp.producers or imp.order[imp.producers[source]].op_type == "Constant" for source in tensors):
        return None  # constants stacked (a shape, an index): their own handlers read them
    return tensors, [k for k in (k_cat, *unsqueezes) if k is not None]


def _unsqueezed_alone(imp: Importer, reduce) -> tuple[int, None, list[int]] | None:
    """(0, no Concat, the Unsqueeze) where `reduce` sums or averages over axis 0, without keeping it, one tensor
    unsqueezed there and read by it alone: torch.export's stack of one tensor."""
    k = imp.producers.get(reduce.input[0]) if reduce.op_type in STACK_REDUCTIONS and reduce.input else None
    if k is None or attributes(reduce).get("keepdims", 1) or imp.order[k].op_type != "Unsqueeze" or imp.only_reader(reduce.input[0]) is None:
        return None
    return (0, None, [k]) if _axes(imp, imp.order[k]) == (0,) == _axes(imp, reduce) else None


def recognise_stacked_sums(imp: Importer) -> None:
    for node in imp.order:
        found = _stacked(imp, node)
        if found is not None:
            imp.consumed.update(found[1])
            imp.env[node.input[0]] = Stack(tuple(found[0]))


def stacked_sum(handler: Handler) -> Handler:
    """ReduceSum's or ReduceMean's handler, reading a sum over a stack ahead of the batch as one `add` of the stacked
    tensors, a mean as that `add` (`{module}_sum`) divided by their number; one tensor stacked as itself."""

    def read(imp: Importer, i: int, node, inputs: list):
        if not inputs or not isinstance(inputs[0], Stack):
            return handler(imp, i, node, inputs)
        stacked = [as_act(imp.env.get(t), "a tensor stacked ahead of the batch") for t in inputs[0].tensors]
        if len(stacked) == 1:
            return stacked[0]  # its sum and its mean are the tensor itself
        if node.op_type == "ReduceSum":
            return imp.merge(i, node, "add", stacked)
        total = imp.merge(i, node, "add", stacked, f"{imp.paths[i]}_sum" if imp.paths[i] else None)
        return imp.layer(i, node, "elementwise", LAYER_TYPES["elementwise"](op="div", value=float(len(stacked))), total)

    return read
