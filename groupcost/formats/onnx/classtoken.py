"""ViT's class token as its exporters write it: a learned (1, 1, C) parameter expanded over the batch
(`cls_token.expand(N, -1, -1)`), then concatenated before the tokens N × L × C along L: one `class_token`
layer of C parameters per token (DeiT puts a distillation token after the class token, both before the
tokens; YOLOS puts its detection tokens after the tokens, in the same Concat: its `after`). groupcost's own
export writes the same on N × C × L, along the last axis.
"""

from __future__ import annotations

from groupcost.formats.onnx.importer import Handler, Importer
from groupcost.formats.onnx.values import BATCH, Act, ChannelsLast, Const, Unsupported, Weight
from groupcost.ops import LAYER_TYPES


def expanded_weight(read: Handler) -> Handler:
    """The Expand handler `read`, and a learned (1, …) tensor expanded over the batch alone: the tensor itself, one per
    sample (what reads it, a class token's Concat, takes the batch as every layer does)."""

    def handle(imp: Importer, i: int, node, inputs: list):
        weight, target = inputs[0], inputs[1] if len(inputs) > 1 else None
        if isinstance(weight, Weight) and isinstance(target, Const) and target.values is not None and _over_batch(imp, weight.dims, target.values):
            return weight
        return read(imp, i, node, inputs)

    return handle


def _over_batch(imp: Importer, dims: tuple[int, ...], wanted: tuple) -> bool:
    """Whether expanding `dims` to `wanted` grows only its first axis, of size 1, to the batch (−1 or 1 keep an axis). A
    first size left unknown (TorchScript's Where over a symbolic batch) is the batch: ONNX's readers of the expanded
    tensor (a Concat with tokens, a broadcasting Add) need it to equal the activation's batch."""
    if len(wanted) != len(dims) or not dims or dims[0] != 1 or wanted[0] not in (BATCH, imp.batch, 1, None):
        return False
    return all(w in (-1, 1, d) for w, d in zip(wanted[1:], dims[1:]))


def class_tokens(read: Handler) -> Handler:
    """The Concat handler `read`, and learned tokens joined before the tokens of an activation along its token axis:
    a `class_token` step, named after the first token's parameter (`cls_token`)."""

    def handle(imp: Importer, i: int, node, inputs: list):
        present = [v for v in inputs if v is not None]
        learned = [v for v in present if isinstance(v, Weight)]
        acts = [v for v in present if isinstance(v, (Act, ChannelsLast))]
        if not learned or len(acts) != 1 or len(learned) + 1 != len(present):
            return read(imp, i, node, inputs)
        x = acts[0]
        view = isinstance(x, ChannelsLast)
        act = x.x if view else x
        if len(act.shape) != 2 or act.channels is not None:
            raise Unsupported(f"a learned tensor joined to an activation of N×{'×'.join(map(str, act.shape))} (tokens C × L are read)")
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0) % 3
        channels = 2 if view else 1  # N × L × C viewed channels last, or N × C × L
        if axis != 3 - channels or present[0] is x:
            raise Unsupported("learned tokens joined after the tokens alone, or along another axis than theirs (a class token comes first)")
        place = present.index(x)
        counts = [0, 0]  # before the tokens, after them (YOLOS's detection tokens)
        for k, w in enumerate(present):
            if w is x:
                continue
            if len(w.dims) != 3 or w.dims[0] != 1 or w.dims[channels] != act.shape[0]:
                raise Unsupported(f"a learned tensor of {list(w.dims)} joined to tokens of {act.shape[0]} channels")
            counts[k > place] += w.dims[axis]
        layer = LAYER_TYPES["class_token"](tokens=counts[0], after=counts[1])
        y = imp.layer(i, node, "class_token", layer, act, _step_name(learned[0].name))
        return ChannelsLast(y) if view else y

    return handle


def _step_name(parameter: str) -> str:
    """The step's name: the parameter's (`cls_token`), less `.token`, the name groupcost's own export gives it."""
    from groupcost.formats.onnx.names import clean

    return clean(parameter.removesuffix(".token"))
