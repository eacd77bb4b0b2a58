"""What `from:` reaches: namespaces (`Scope`), and names, positions and `-1` resolved to tensors.

Names are looked up from the innermost namespace outwards (`/NAME`: at the top level only, where an
inner namespace has a name of its own that hides it); `in` is the enclosing block's input;
`-1`, `-2`, ... count back over the outputs of the list being built (its input first).
"""

from __future__ import annotations

from collections.abc import Mapping
from difflib import get_close_matches
from typing import Any

from groupcost.errors import Location, SpecError
from groupcost.graph.builder import GraphBuilder, Tensor
from groupcost.language.values import evaluate_node, is_name_part, text_of
from groupcost.language.yamlsource import Node as YamlNode

BLOCK_INPUT = "in"
TOP = "/"
"""The prefix of a name looked up at the top level only (`from: /bn1.act` inside a block with its own `bn1.act`)."""


class Scope:
    """One namespace: hands out unique, stable names (claimed in the graph) and knows its input (`in`)."""

    def __init__(self, prefix: str, graph: GraphBuilder, group_input: Tensor, block: tuple[str, Tensor] | None = None):
        self.prefix = prefix
        self.index = 0
        self.graph = graph
        self.input = group_input  # the input of this namespace (a block, seq, repetition or branch)
        self.block = block  # the enclosing block's name and input: what `in` and `c_in` stand for

    def claim(self, explicit: str | None, loc: Location, numbered: bool = True, generated: bool = False) -> str:
        segment = explicit if explicit is not None else str(self.index)
        if numbered:
            self.index += 1
        name = self.prefix + segment
        if not generated and name in self.graph.names:
            raise SpecError(f"two entries are named '{name}'", f"the first is at {self.graph.names[name]}; names at one level must differ", loc)
        return self.graph.claim(name, loc)

    def child(self, name: str, group_input: Tensor) -> Scope:
        return Scope(name + ".", self.graph, group_input, self.block)

    def in_block(self, template: str, block_input: Tensor) -> Scope:
        """The same namespace, seen from inside a call of block `template` on `block_input`."""
        scope = Scope(self.prefix, self.graph, block_input, (template, block_input))
        scope.index = self.index
        return scope

    def prefixes(self, name: str = "") -> list[str]:
        """This namespace's prefix and every enclosing one, innermost first: `a.b.`, `a.`, ``; only ``
        for a name from the top (`/NAME`, whose `/` the caller drops)."""
        if name.startswith(TOP):
            return [""]
        parts = self.prefix.split(".")[:-1]
        return [".".join(parts[:k]) + "." for k in range(len(parts), 0, -1)] + [""]


class Wiring:
    """The tensors `from:` can reach by name (`tensors`) and the outputs of each list being built
    (`histories`, innermost last), for the builder to fill in as it goes."""

    tensors: dict[str, Tensor]
    histories: list[list[Tensor]]
    layer_names: set[str]
    namespaces: set[str]

    def module_tree(self, name: str, loc: Location) -> None:
        """Layer names must form a tree, as PyTorch's module paths do: `a.b` cannot sit inside a layer `a`."""
        parts = name.split(".")
        prefixes = [".".join(parts[:k]) for k in range(1, len(parts))]
        clash = next((p for p in prefixes if p in self.layer_names), None)
        if clash is not None or name in self.namespaces:
            inner, outer = (name, clash) if clash is not None else (next(n for n in self.layer_names if n.startswith(name + ".")), name)
            raise SpecError(f"'{inner}' would sit inside '{outer}', which is a layer", "PyTorch's module paths form a tree: rename one of them", loc)
        self.layer_names.add(name)
        self.namespaces.update(prefixes)

    def resolve(self, node: YamlNode, scope: Scope, env: Mapping[str, Any]) -> Tensor:
        """The tensor a `from:` name stands for: innermost namespace first, then outwards."""
        if isinstance(node.value, int) and not isinstance(node.value, bool):
            node = YamlNode(str(node.value), node.loc)  # an unnamed entry's position
        if not isinstance(node.value, str) or not node.value:
            raise SpecError(f"from: expected the name of an earlier layer, got {node.value!r}", "e.g. from: layer3 or from: [a, b]", node.loc)
        name = text_of(node, env)
        if name == BLOCK_INPUT:
            return self.block_input(scope, node.loc)
        tensor = self.lookup(name, scope)
        if tensor is not None:
            return tensor
        elsewhere = [n for n in self.tensors if n.endswith("." + name)]
        if elsewhere:  # defined, but in a namespace this entry does not look into (another repetition's, a block's)
            where = f"inside '{scope.prefix[:-1]}' and around it" if scope.prefix else "at the top level"
            found = ", ".join(f"'{n}'" for n in elsewhere[:3]) + (f" and {len(elsewhere) - 3} more" if len(elsewhere) > 3 else "")
            raise SpecError(f"'{name}' is not an earlier output {where}: there is {found}, in another namespace",
                            f"write the full name, e.g. from: {elsewhere[-1]}", node.loc)
        close = [c for c in get_close_matches(name, [n.rsplit(".", 1)[-1] for n in self.tensors] + list(self.tensors), n=3) if c != name]
        hint = f"did you mean '{close[0]}'?" if close else "name an earlier layer or block, `input` or `in`"
        raise SpecError(f"'{name}' is not an earlier output", f"{hint}; a later name would make a cycle", node.loc)

    def lookup(self, name: str, scope: Scope) -> Tensor | None:
        for prefix in scope.prefixes(name):
            tensor = self.tensors.get(prefix + name.removeprefix(TOP))
            if tensor is not None:
                return tensor
        return None

    @staticmethod
    def block_input(scope: Scope, loc: Location) -> Tensor:
        """`in`: the enclosing block's input, as `c_in` is its width; refused where it could mean another tensor."""
        if scope.block is None:
            raise SpecError("'in' is the input of a block, and this entry is in no block", "name the tensor in from:; `input` is the network's input", loc)
        template, tensor = scope.block
        if scope.input != tensor:
            raise SpecError(f"'in' is the input of block '{template}' ('{tensor.name}'), not of '{scope.prefix[:-1]}', which reads '{scope.input.name}'",
                            "name the tensor you mean in from:", loc)
        return tensor

    def sources(self, node: YamlNode, scope: Scope, env: Mapping[str, Any]) -> list[Tensor]:
        """What `from:` reads: names, positions, `-1` (the entry before), or an expression or variable giving them."""
        items = node.value if node.is_list else [node]
        return [self.reference(ref, item.loc, scope, env) for item in items for ref in self.references(item, scope, env)]

    def references(self, node: YamlNode, scope: Scope, env: Mapping[str, Any]) -> list[str | int]:
        """One `from:` item as names and relative positions: a name (`{...}` computed), an int, a variable, an expression."""
        value = node.value
        if isinstance(value, int) and not isinstance(value, bool):
            return [value]
        if not isinstance(value, str) or not value:
            raise SpecError(f"from: expected the name of an earlier layer, got {value!r}", "e.g. from: layer3 or from: [a, b]", node.loc)
        if "{" in value:
            return [text_of(node, env)]
        if all(map(is_name_part, value.removeprefix(TOP).split("."))) and (value == BLOCK_INPUT or value not in env or self.lookup(value, scope) is not None):
            return [value]  # an earlier output's name wins over a variable of the same name
        value = evaluate_node(node, env)
        if node.value in env and not isinstance(value, (str, list)):  # a count or size by mistake, never a position
            raise SpecError(f"from: '{node.value}' is a variable holding {value!r}, and no earlier output has that name",
                            "a variable in from: gives names or a list of them; write a position as from: 3 or from: -1", node.loc)
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in items):
            raise SpecError(f"from: '{node.value}' gives {value!r}", "from: takes names, positions (-1: the entry before) or a list of them", node.loc)
        return items

    def reference(self, ref: str | int, loc: Location, scope: Scope, env: Mapping[str, Any]) -> Tensor:
        if isinstance(ref, str):
            return self.resolve(YamlNode(ref, loc), scope, env)
        if ref >= 0:
            return self.resolve(YamlNode(str(ref), loc), scope, env)
        history = self.histories[-1]
        if -ref > len(history):
            earlier = len(history) - 1
            raise SpecError(f"from: {ref} reaches before this list, which has {earlier} earlier {'entry' if earlier == 1 else 'entries'} and its input",
                            "-1 is the entry before, -2 the one before it; the list's input is the last one reachable", loc)
        return history[ref]
