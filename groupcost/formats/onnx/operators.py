"""Every ONNX operator groupcost reads: each operator's own handler (groupcost.formats.onnx.handlers) with the
readings of later modules layered on it, the recognisers of multi-node patterns run before any handler, and the
checks over the whole graph once every node is read. A new reading is registered here, and only here."""

from __future__ import annotations

from groupcost.formats.onnx.adaptive import recognise_adaptive_pools
from groupcost.formats.onnx.arranged import gather_in_order
from groupcost.formats.onnx.classtoken import class_tokens, expanded_weight
from groupcost.formats.onnx.decomposed import (recognise_gelus, recognise_group_norms, recognise_response_norms, recognise_tanh_gelus,
                                               recognise_written_layer_norms)
from groupcost.formats.onnx.detection import recognise_box_decodings
from groupcost.formats.onnx.einsum import EINSUMS
from groupcost.formats.onnx.empty import empty_left_out
from groupcost.formats.onnx.fusion import recognise_weighted_fusions
from groupcost.formats.onnx.handlers import BASE
from groupcost.formats.onnx.importer import Handler, Operators
from groupcost.formats.onnx.lastaxis import concat_last_axis, split_last_axis
from groupcost.formats.onnx.moved import gather_moved, moving_transpose, regrouped_tokens, slice_moved, split_moved
from groupcost.formats.onnx.patches import PATCHES, gather_blocks
from groupcost.formats.onnx.patterns import recognise_local_response_norms, recognise_multihead_attention
from groupcost.formats.onnx.positions import recognise_projected_encodings
from groupcost.formats.onnx.optimised import recomputed
from groupcost.formats.onnx.resized import resized_tables
from groupcost.formats.onnx.scatter import SCATTERS, moved_back
from groupcost.formats.onnx.stacked import recognise_stacked_sums, stacked_sum
from groupcost.formats.onnx.stored import joining_anchors
from groupcost.formats.onnx.tables import tables_and_weights
from groupcost.formats.onnx.tiles import tiled_size_one
from groupcost.formats.onnx.tokenslices import layernorm_tokens, slice_positions
from groupcost.formats.onnx.unfolded import overlapping_windows
from groupcost.formats.onnx.unread import drop_unread_views
from groupcost.formats.onnx.weight_slices import check_weight_slices
from groupcost.formats.onnx.windows import read_merged

HANDLERS: dict[str, Handler] = {
    **BASE,
    "ReduceSum": stacked_sum(BASE["ReduceSum"]),
    "ReduceMean": stacked_sum(BASE["ReduceMean"]),
    "LayerNormalization": layernorm_tokens(BASE["LayerNormalization"]),
    # q, k, v stacked ahead of the batch (`permute(2, 0, ...)` then unbind), read where the stacked axis is taken apart
    "Transpose": moved_back(moving_transpose(BASE["Transpose"])),
    "Split": split_moved(split_last_axis(BASE["Split"])),
    "Concat": empty_left_out(joining_anchors(class_tokens(concat_last_axis(BASE["Concat"])))),
    "Expand": expanded_weight(BASE["Expand"]),
    "Gather": overlapping_windows(gather_blocks(gather_moved(BASE["Gather"]))),
    **PATCHES,
    **EINSUMS,
    **SCATTERS,
    "Reshape": regrouped_tokens(BASE["Reshape"]),
    "Slice": slice_moved(slice_positions(BASE["Slice"])),
}
"""Every ONNX operator groupcost reads, in the default domain; anything else is unsupported."""

OPERATORS = Operators(HANDLERS, frozenset({"Slice", "Shape"}), (recognise_local_response_norms, recognise_multihead_attention, recognise_gelus,
                                                                   recognise_tanh_gelus, recognise_group_norms, recognise_response_norms,
                                                                   recognise_written_layer_norms, recognise_box_decodings, recognise_projected_encodings,
                                                                   recognise_adaptive_pools, recognise_weighted_fusions,
                                                                   recognise_stacked_sums),
                      resized_tables(tables_and_weights), recomputed(gather_in_order(tiled_size_one(read_merged))), finishers=(check_weight_slices, drop_unread_views))
"""What the importer dispatches to; a Shape or a further Slice reads a cropped window as it is, not as a layer."""
