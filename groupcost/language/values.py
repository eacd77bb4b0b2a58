"""Values in a spec: variables, block arguments, evaluated nodes, computed names, and the shape names
(`c_in`, `h_now`, ...) an entry's expressions see. Every error is located at its node."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from groupcost.errors import SpecError, UsageError
from groupcost.language.document import SpecDocument
from groupcost.language.expr import Number, evaluate, interpolate
from groupcost.language.yamlsource import Node as YamlNode
from groupcost.ops import Shape


def resolve_variables(doc: SpecDocument, overrides: Mapping[str, Number]) -> dict[str, Any]:
    for var in overrides:
        if var not in doc.variables:
            defined = ", ".join(doc.variables) or "none"
            raise UsageError(f"spec '{doc.name}' has no variable '{var}'", f"its variables: {defined}")
    return variables_of(doc.variables, overrides)


def variables_of(variables: Mapping[str, YamlNode], overrides: Mapping[str, Number]) -> dict[str, Any]:
    env: dict[str, Any] = {}
    for var, node in variables.items():
        env[var] = overrides[var] if var in overrides else argument_value(node, env)
        if not is_value(env[var]):
            raise SpecError(f"variable '{var}' must be a number, a string or a list, got {env[var]!r}", None, node.loc)
    return env


def is_value(value: Any) -> bool:
    if isinstance(value, list):
        return all(is_value(v) for v in value)
    return isinstance(value, (int, float, str)) and not isinstance(value, bool)


def argument_value(node: YamlNode, env: Mapping[str, Any]) -> Any:
    """A variable's or block argument's value: an expression, a list, or a bare word taken as a string."""
    if isinstance(node.value, str) and is_word(node.value) and node.value not in env:
        return node.value  # `act: hswish`, `skip: body.layer3` pass the word itself
    if isinstance(node.value, list):
        return [argument_value(item, env) for item in node.value]
    value = evaluate_node(node, env)
    return int(value) if isinstance(value, bool) else value


def is_word(text: str) -> bool:
    """A name, or a dotted layer name (`body.layer3`, `inner_blocks.3`, `tower.2_1` for a module's second call as
    TorchScript numbers it): never an expression."""
    head, *rest = text.split(".")
    return head.isidentifier() and all(map(is_name_part, rest))


def is_name_part(part: str) -> bool:
    """One dot-separated part of a layer name: a word, an index (`3`), a numbered call (`3_1`), or an index joined
    to a step under it (`22_m`: the import's name for module `m` of a module `22` that is a layer itself)."""
    return part.isidentifier() or (part[:1].isdigit() and part.isascii() and part.replace("_", "").isalnum())


def evaluate_node(node: YamlNode, env: Mapping[str, Any], keywords: tuple[str, ...] = ()) -> Any:
    value = node.value
    if isinstance(value, str):
        if value in keywords:
            return value
        try:
            return evaluate(value, env)
        except SpecError as exc:
            raise exc.located(node.loc) from None
    if isinstance(value, list):
        return [evaluate_node(item, env, keywords) for item in value]
    if isinstance(value, dict):
        raise SpecError("expected a value, got a mapping", None, node.loc)
    return value


def text_of(node: YamlNode, env: Mapping[str, Any]) -> str:
    """A name written in the spec, with `{expr}` parts computed."""
    if not isinstance(node.value, str) or "{" not in node.value:
        return str(node.value)
    try:
        return interpolate(node.value, env)
    except SpecError as exc:
        raise exc.located(node.loc) from None


def with_shape(env: Mapping[str, Number], x: Shape) -> dict[str, Number]:
    """The variables an entry sees: the enclosing ones plus its input's sizes: c_in always; l_in (C×L);
    h_in, w_in (C×H×W; 1 for a flat input); t_in, h_in, w_in (C×T×H×W)."""
    names = {1: ("c_in",), 2: ("c_in", "l_in"), 3: ("c_in", "h_in", "w_in"), 4: ("c_in", "t_in", "h_in", "w_in")}.get(len(x), ("c_in",))
    sizes = dict(zip(names, x))
    if len(x) == 1:
        sizes.update(h_in=1, w_in=1)
    return {**env, **sizes}


def now_sizes(x: Shape) -> dict[str, Number]:
    """The shape of the tensor an entry reads, as c_now, h_now, w_now (the block's input stays c_in)."""
    return {key[:-3] + "_now": value for key, value in with_shape({}, x).items()}
