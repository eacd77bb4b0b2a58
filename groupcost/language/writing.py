"""A raised spec written as YAML text, in the notation a person would write (flow mappings for
layers, defaults left out)."""

from __future__ import annotations

import math
import re
from typing import Any

from groupcost.language.raised import CallE, LayerE, MergeE, ParallelE, RepeatE, ResidualE, SeqE, Spec

_PLAIN = re.compile(r"^/?[A-Za-z_][A-Za-z0-9_.\-]*$")  # `/`: a name from the top level
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("-.inf" if value < 0 else ".inf")  # YAML's infinities
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _flow(mapping: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in mapping.items()) + "}"


def _entry_lines(entry, indent: int, position: int) -> list[str]:
    pad = " " * indent
    if isinstance(entry, LayerE):
        shown = {k: v for k, v in entry.args.items() if k not in entry.defaults or v != entry.defaults[k]}
        args = {**({"name": entry.name} if entry.name is not None and entry.name != str(position) else {}), **shown}
        if entry.source is not None:
            args["from"] = entry.source
        if entry.share is not None:
            args["share"] = entry.share
        return [f"{pad}- {entry.type}: {_flow(args)}" if args else f"{pad}- {entry.type}"]
    if isinstance(entry, MergeE):
        return [f"{pad}- {entry.kind}: {_flow({'name': entry.name, 'from': entry.sources})}"]
    if isinstance(entry, CallE):
        args = {**({"name": entry.name} if entry.name is not None and entry.name != str(position) else {}), **entry.args}
        return [f"{pad}- {entry.block}: {_flow(args)}" if args else f"{pad}- {entry.block}"]
    if isinstance(entry, SeqE):
        return [f"{pad}- seq:", f"{pad}    name: {_scalar(entry.name)}", f"{pad}    layers:", *_list_lines(entry.body, indent + 6)]
    if isinstance(entry, RepeatE):
        if len(entry.body) == 1 and isinstance(entry.body[0], CallE):
            inner = _entry_lines(entry.body[0], 0, -1)[0][2:]
            return [f"{pad}- repeat: {{n: {_scalar(entry.n)}, layers: [{inner}]}}"]
        return [f"{pad}- repeat:", f"{pad}    n: {_scalar(entry.n)}", f"{pad}    layers:", *_list_lines(entry.body, indent + 6)]
    if isinstance(entry, ResidualE):
        lines = [f"{pad}- residual:", f"{pad}    body:", *_list_lines(entry.body, indent + 6)]
        if entry.shortcut is not None:
            lines += [f"{pad}    shortcut:", *_branch_lines(entry.shortcut, indent + 6, bullet=False)]
        return lines
    if isinstance(entry, ParallelE):
        lines = [f"{pad}- parallel:"]
        if entry.merge != "concat":
            lines.append(f"{pad}    merge: {entry.merge}")
        if entry.split is not None:
            lines.append(f"{pad}    split: {_scalar(entry.split)}")
        lines.append(f"{pad}    branches:")
        for branch in entry.branches:
            lines += _branch_lines(branch, indent + 6, bullet=True)
        return lines
    raise TypeError(entry)


def _branch_lines(branch: tuple[str | None, list], indent: int, bullet: bool) -> list[str]:
    name, body = branch
    pad = " " * indent
    head = f"{pad}- " if bullet else pad
    inner = " " * (indent + 2) if bullet else pad
    if not body:
        return [f"{head}{{{'name: ' + _scalar(name) + ', ' if name is not None else ''}layers: []}}"]
    first = f"{head}name: {_scalar(name)}" if name is not None else None
    lines = [first] if first else []
    lines.append(f"{inner if first else head}layers:")
    lines += _list_lines(body, indent + (4 if bullet else 2))
    return lines


def _list_lines(entries: list, indent: int) -> list[str]:
    if not entries:
        return [" " * indent + "[]"]
    # An unnamed entry takes its position as its name, except alone in a list (it takes the list's);
    # structures count positions their own way, so beside them every name is written.
    plain = len(entries) > 1 and all(isinstance(e, (LayerE, CallE, MergeE)) for e in entries)
    lines = []
    for position, entry in enumerate(entries):
        lines += _entry_lines(entry, indent, position if plain else -1)
    return lines


def to_yaml(spec: Spec) -> str:
    lines = [f"name: {_scalar(spec.name)}"]
    if spec.description:
        lines.append(f"description: {_scalar(spec.description)}")
    lines.append(f"input: {_scalar(list(spec.input))}")
    if spec.batch != 1:
        lines.append(f"batch: {spec.batch}")
    if spec.dtype != "float32":
        lines.append(f"dtype: {spec.dtype}")
    if spec.defaults:
        lines.append("defaults:")
        lines += [f"  {kind}: {_flow(args)}" for kind, args in spec.defaults.items()]
    if spec.blocks:
        lines.append("blocks:")
        for block in spec.blocks:
            lines.append(f"  {block.name}:")
            if block.args:
                lines.append("    args: {" + ", ".join(f"{a}: " for a in block.args) + "}")
            lines.append("    layers:")
            lines += _list_lines(block.body, 6)
    lines.append("layers:")
    lines += _list_lines(spec.body, 2)
    if spec.outputs:
        lines.append(f"outputs: {_scalar(spec.outputs)}")
    return "\n".join(lines) + "\n"
