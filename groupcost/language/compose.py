"""Specs built from other specs: `extends:` (a parent spec, some keys overridden) and `use:` (blocks
from other files). Works on located YAML nodes, so every error still points into the right file.
"""

from __future__ import annotations

from pathlib import Path

from groupcost.errors import SpecError
from groupcost.language.yamlsource import Node, parse_yaml, read_text
from groupcost.language.zoo import shown_path, zoo_dir

MERGED_KEYS = ("vars", "blocks", "defaults")
"""Mappings that a child spec extends key by key; every other key it gives replaces the parent's."""


Used = tuple[Node, Node | None]
"""A used file's root, and what `use:` takes from it (`[aspp]`, `{blocks: [...], vars: {...}}`; None: every block)."""


def compose(root: Node, path: Path, seen: tuple[Path, ...] = ()) -> tuple[Node, tuple[Used, ...]]:
    """`root` with its `extends:` applied, and the files it (and its parents) `use:`, with what each takes."""
    if not root.is_map:
        return root, ()
    seen = (*seen, path.resolve())
    used: list[Used] = []
    if "extends" in root.value:
        parent, parent_used = compose(*_load(root.value["extends"], path, seen, "extend"), seen)
        used += parent_used
        root = _merge(parent, root)
    if "use" in root.value:
        for item, selection in _uses(root.value["use"]):
            used_root, used_path = _load(item, path, seen, "use")
            composed, nested = compose(used_root, used_path, seen)
            used += [*nested, (composed, selection)]
    return root, tuple(used)


def _uses(node: Node) -> list[Used]:
    """`use: a.yaml`, `use: [a.yaml, b.yaml]`, `use: {a.yaml: [aspp]}`, or a list mixing both forms: each file
    named (as a node), and what is taken from it."""
    items = node.value if node.is_list else [node]
    files: list[Used] = []
    for item in items:
        if item.is_map:
            files += [(Node(key, item.key_locs[key]), value) for key, value in item.value.items()]
        else:
            files.append((item, None))
    return files


def _load(node: Node, here: Path, seen: tuple[Path, ...], verb: str) -> tuple[Node, Path]:
    """The YAML root of the spec that `node` names: a path relative to `here`, or a zoo model."""
    if not isinstance(node.value, str) or not node.value:
        raise SpecError(f"{verb}: expected a spec path or a zoo name, got {node.value!r}", None, node.loc)
    relative = here.parent / node.value
    zoo = zoo_dir() / f"{node.value}.yaml"
    target = relative if relative.is_file() else zoo if zoo.is_file() else None
    if target is None:
        raise SpecError(f"cannot {verb} '{node.value}': no such file next to this spec, nor a zoo model", "a path relative to this spec, or a name `groupcost zoo` lists", node.loc)
    if target.resolve() in seen:
        raise SpecError(f"'{node.value}' {verb}s itself through a cycle of specs", " → ".join(p.name for p in (*seen, target.resolve())), node.loc)
    try:
        return parse_yaml(read_text(target, shown_path(target)), shown_path(target)), target
    except SpecError as exc:
        exc.context.append(f"read for {verb}: at {node.loc}")
        raise


def _merge(parent: Node, child: Node) -> Node:
    if not parent.is_map:
        raise SpecError("the extended spec is not a mapping", None, parent.loc)
    values, locs = dict(parent.value), dict(parent.key_locs)
    values.pop("use", None)  # the parent's used files are already gathered
    for key, value in child.value.items():
        if key == "extends":
            continue
        if key in MERGED_KEYS and key in values and values[key].is_map and value.is_map:
            merged = {**values[key].value, **value.value}
            value = Node(merged, value.loc, {**values[key].key_locs, **value.key_locs})
        values[key] = value
        locs[key] = child.key_locs[key]
    return Node(values, child.loc, locs)
