"""Layer names: what a `name:` may be (dotted words, none reserved nor an attribute every torch module has)."""

from __future__ import annotations

from groupcost.errors import Location, SpecError

RESERVED_NAMES = ("input", "in")


TORCH_MODULE_ATTRIBUTES = frozenset({
    "T_destination", "_apply", "_backward_hooks", "_backward_pre_hooks", "_buffers", "_call_impl",
    "_compiled_call_impl", "_forward_hooks", "_forward_hooks_always_called", "_forward_hooks_with_kwargs",
    "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_get_backward_hooks", "_get_backward_pre_hooks",
    "_get_name", "_is_full_backward_hook", "_load_from_state_dict", "_load_state_dict_post_hooks",
    "_load_state_dict_pre_hooks", "_maybe_warn_non_full_backward_hook", "_modules", "_named_members",
    "_non_persistent_buffers_set", "_parameters", "_register_load_state_dict_pre_hook",
    "_register_state_dict_hook", "_replicate_for_data_parallel", "_save_to_state_dict", "_slow_forward",
    "_state_dict_hooks", "_state_dict_pre_hooks", "_version", "_wrapped_call_impl", "add_module", "apply",
    "bfloat16", "buffers", "call_super_init", "children", "compile", "cpu", "cuda", "double", "dump_patches",
    "eval", "extra_repr", "float", "forward", "get_buffer", "get_extra_state", "get_parameter",
    "get_submodule", "half", "ipu", "load_state_dict", "modules", "mtia", "named_buffers", "named_children",
    "named_modules", "named_parameters", "parameters", "register_backward_hook", "register_buffer",
    "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook", "register_module", "register_parameter",
    "register_state_dict_post_hook", "register_state_dict_pre_hook", "requires_grad_", "set_extra_state",
    "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train", "training", "type", "xpu",
    "zero_grad"
})  # dir(torch.nn.Module()): no submodule can take these names (tests/language keep it whole)


def check_name(value: object, loc: Location) -> str:
    """A layer name: words joined by dots (`convs.0`: module `0` in namespace `convs`), without spaces;
    no word `input` or `in`, nor an attribute of every torch module."""
    if not isinstance(value, str) or not value or any(c.isspace() for c in value) or "" in value.split("."):
        raise SpecError(f"invalid layer name {value!r}", "a name is words without spaces, joined by single dots (convs.0)", loc)
    if value in RESERVED_NAMES:
        raise SpecError(f"'{value}' cannot name a layer", "`input` is the network's input and `in` a block's input in from:", loc)
    for word in value.split("."):
        if word in TORCH_MODULE_ATTRIBUTES or word.startswith("__") and word.endswith("__"):
            raise SpecError(f"'{value}' cannot name a layer: every PyTorch module has an attribute '{word}', so no submodule can take that name",
                            f"rename it, e.g. '{word.strip('_')}_' or '{word.strip('_')}1'", loc)
    return value
